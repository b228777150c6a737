//! The embedder: batches of RGB images in, L2-normalised feature vectors out.
//!
//! Every backbone ends in a convolutional feature map; the embedding is its
//! global max pool, L2-normalised. [`Fingerprint`] records everything that
//! decides the vectors, so a store never mixes vectors of two pipelines.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use candle_core::{Device, Tensor};
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::error::EmbedError;
use crate::models::efficientnet_lite::{EfficientNetLite, LiteVariant};
use crate::models::resnet::ResNet50;
use crate::ops::global_max_pool;
use crate::weights::{sha256_file, Weights};

/// The supported backbones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Architecture {
    EfficientNetLite0,
    EfficientNetLite1,
    EfficientNetLite2,
    ResNet50,
}

impl Architecture {
    pub const ALL: [Architecture; 4] = [
        Architecture::EfficientNetLite0,
        Architecture::EfficientNetLite1,
        Architecture::EfficientNetLite2,
        Architecture::ResNet50,
    ];

    /// Returns the name used on the command line and in fingerprints.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::EfficientNetLite0 => "efficientnet-lite0",
            Architecture::EfficientNetLite1 => "efficientnet-lite1",
            Architecture::EfficientNetLite2 => "efficientnet-lite2",
            Architecture::ResNet50 => "resnet50",
        }
    }

    /// Returns the side of the square input image, in pixels.
    pub fn input_size(self) -> u32 {
        match self.lite_variant() {
            Some(variant) => variant.input_size(),
            None => 224,
        }
    }

    /// Returns the number of channels of the final feature map, which is the
    /// embedding dimension.
    pub fn dim(self) -> usize {
        match self {
            Architecture::ResNet50 => 2048,
            _ => 1280,
        }
    }

    pub fn normalization(self) -> Normalization {
        match self {
            Architecture::ResNet50 => Normalization::ImageNet,
            _ => Normalization::TensorFlowLite,
        }
    }

    /// Returns the file name under which the weights are looked up in a models folder.
    pub fn weights_file_name(self) -> String {
        format!("{}.safetensors", self.name())
    }

    fn lite_variant(self) -> Option<LiteVariant> {
        match self {
            Architecture::EfficientNetLite0 => Some(LiteVariant::Lite0),
            Architecture::EfficientNetLite1 => Some(LiteVariant::Lite1),
            Architecture::EfficientNetLite2 => Some(LiteVariant::Lite2),
            Architecture::ResNet50 => None,
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Architecture {
    type Err = EmbedError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Architecture::ALL.into_iter().find(|a| a.name() == name).ok_or_else(|| EmbedError::UnknownModel {
            name: name.to_owned(),
            expected: Architecture::ALL.map(Architecture::name).join(", "),
        })
    }
}

/// Mapping from RGB bytes to network input values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalization {
    /// `(x - 127) / 128` per channel, as the TensorFlow EfficientNet-Lite
    /// models were trained.
    TensorFlowLite,
    /// `x / 255`, then ImageNet mean (0.485, 0.456, 0.406) and standard
    /// deviation (0.229, 0.224, 0.225), as torchvision models were trained.
    ImageNet,
}

impl Normalization {
    fn describe(self) -> &'static str {
        match self {
            Normalization::TensorFlowLite => "rgb (x - 127) / 128",
            Normalization::ImageNet => "rgb x / 255, mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225]",
        }
    }

    /// Per-channel `(scale, offset)` so that `value = byte * scale + offset`.
    fn affine(self) -> [(f32, f32); 3] {
        match self {
            Normalization::TensorFlowLite => [(1.0 / 128.0, -127.0 / 128.0); 3],
            Normalization::ImageNet => {
                const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
                const STD: [f32; 3] = [0.229, 0.224, 0.225];
                std::array::from_fn(|c| (1.0 / (255.0 * STD[c]), -MEAN[c] / STD[c]))
            }
        }
    }
}

/// Converts same-sized RGB images to a normalised `(N, 3, H, W)` f32 tensor.
pub fn images_to_tensor(
    images: &[&RgbImage],
    normalization: Normalization,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let (width, height) = images.first().map_or((0, 0), |img| img.dimensions());
    let plane = (width * height) as usize;
    let affine = normalization.affine();
    let mut data = vec![0f32; images.len() * 3 * plane];

    for (image, out) in images.iter().zip(data.chunks_mut(3 * plane)) {
        let (r, rest) = out.split_at_mut(plane);
        let (g, b) = rest.split_at_mut(plane);
        for (i, pixel) in image.pixels().enumerate() {
            r[i] = pixel[0] as f32 * affine[0].0 + affine[0].1;
            g[i] = pixel[1] as f32 * affine[1].0 + affine[1].1;
            b[i] = pixel[2] as f32 * affine[2].0 + affine[2].1;
        }
    }
    Tensor::from_vec(data, (images.len(), 3, height as usize, width as usize), device)
}

/// A CNN that turns a normalised image batch into a feature map.
pub trait Backbone: Send + Sync {
    /// Returns the `(N, C, h, w)` feature map for a `(N, 3, H, W)` batch.
    fn features(&self, input: &Tensor) -> candle_core::Result<Tensor>;

    /// Returns ImageNet logits when the weights include a classifier.
    fn classify(&self, _input: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(None)
    }
}

impl Backbone for EfficientNetLite {
    fn features(&self, input: &Tensor) -> candle_core::Result<Tensor> {
        EfficientNetLite::features(self, input)
    }

    fn classify(&self, input: &Tensor) -> candle_core::Result<Option<Tensor>> {
        EfficientNetLite::classify(self, input)
    }
}

impl Backbone for ResNet50 {
    fn features(&self, input: &Tensor) -> candle_core::Result<Tensor> {
        ResNet50::features(self, input)
    }
}

/// Everything that determines an embedding, recorded in each store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub architecture: String,
    pub weights_sha256: String,
    pub input_size: u32,
    pub preprocessing: String,
    /// Resize mode that fits images to the square input, set by the pipeline
    /// that resizes them.
    pub resize: String,
    pub pooling: String,
    pub dim: usize,
}

impl Fingerprint {
    /// Returns the canonical JSON text stored in index headers.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a fingerprint always serializes")
    }

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// A loaded backbone with its fingerprint.
pub struct Embedder {
    architecture: Architecture,
    backbone: Box<dyn Backbone>,
    fingerprint: Fingerprint,
    device: Device,
}

impl Embedder {
    /// Loads `architecture` with the weights at `path` onto the CPU.
    /// `resize` names how the caller fits images to the input square; it only
    /// enters the fingerprint.
    pub fn load(architecture: Architecture, path: &Path, resize: &str) -> Result<Self, EmbedError> {
        let device = Device::Cpu;
        let weights = Weights::load(path, &device)?;
        let backbone: Box<dyn Backbone> = match architecture.lite_variant() {
            Some(variant) => Box::new(EfficientNetLite::load(&weights, variant)?),
            None => Box::new(ResNet50::load(&weights)?),
        };
        let weights_sha256 = sha256_file(path)?;
        Ok(Self::from_backbone(architecture, backbone, weights_sha256, resize, device))
    }

    /// Wraps an already built backbone, for weights made in memory.
    pub fn from_backbone(
        architecture: Architecture,
        backbone: Box<dyn Backbone>,
        weights_sha256: String,
        resize: &str,
        device: Device,
    ) -> Self {
        let fingerprint = Fingerprint {
            architecture: architecture.name().to_owned(),
            weights_sha256,
            input_size: architecture.input_size(),
            preprocessing: architecture.normalization().describe().to_owned(),
            resize: resize.to_owned(),
            pooling: "global max, L2-normalised".to_owned(),
            dim: architecture.dim(),
        };
        Self { architecture, backbone, fingerprint, device }
    }

    pub fn architecture(&self) -> Architecture {
        self.architecture
    }

    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    pub fn input_size(&self) -> u32 {
        self.architecture.input_size()
    }

    pub fn dim(&self) -> usize {
        self.architecture.dim()
    }

    fn input_tensor(&self, images: &[&RgbImage]) -> Result<Tensor, EmbedError> {
        let size = self.input_size();
        for (index, image) in images.iter().enumerate() {
            let (width, height) = image.dimensions();
            if width != size || height != size {
                return Err(EmbedError::InputSize { index, width, height, size });
            }
        }
        images_to_tensor(images, self.architecture.normalization(), &self.device).map_err(EmbedError::Inference)
    }

    /// Embeds a batch of `input_size x input_size` images.
    ///
    /// Each vector is L2-normalised. A feature map that is zero everywhere
    /// yields a zero vector and a non-finite one stays non-finite, so callers
    /// must check each vector with [`check_vector`] before storing it.
    pub fn embed(&self, images: &[&RgbImage]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let input = self.input_tensor(images)?;
        let features = self.backbone.features(&input).map_err(EmbedError::Inference)?;
        let pooled = global_max_pool(&features).map_err(EmbedError::Inference)?;
        let mut vectors = pooled.to_vec2::<f32>().map_err(EmbedError::Inference)?;
        for vector in &mut vectors {
            l2_normalize(vector);
        }
        Ok(vectors)
    }

    /// Computes ImageNet logits `(N, classes)` with the classifier that ships
    /// with the weights, or `None` when there is none.
    pub fn classify(&self, images: &[&RgbImage]) -> Result<Option<Vec<Vec<f32>>>, EmbedError> {
        let input = self.input_tensor(images)?;
        let logits = self.backbone.classify(&input).map_err(EmbedError::Inference)?;
        logits.map(|l| l.to_vec2::<f32>()).transpose().map_err(EmbedError::Inference)
    }
}

/// Scales `vector` to unit Euclidean length; a zero vector stays zero.
pub fn l2_normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
    if norm > 0.0 {
        for v in vector.iter_mut() {
            *v = (*v as f64 / norm) as f32;
        }
    }
}

/// Reason an embedding cannot be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidVector {
    #[error("embedding contains NaN or infinity")]
    NonFinite,
    #[error("embedding is all zeros (the image produced no activations)")]
    ZeroNorm,
}

/// Checks that an embedding is finite and has unit length.
pub fn check_vector(vector: &[f32]) -> Result<(), InvalidVector> {
    if vector.iter().any(|v| !v.is_finite()) {
        return Err(InvalidVector::NonFinite);
    }
    let norm = vector.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
    if norm < 0.5 {
        return Err(InvalidVector::ZeroNorm);
    }
    Ok(())
}

/// Environment variable naming the folder searched for weights when no path is given.
pub const MODELS_DIR_ENV: &str = "FASHION_MODELS_DIR";

/// Finds the weights for `architecture`: `explicit` if given, otherwise
/// `<dir>/<name>.safetensors` where `dir` is `$FASHION_MODELS_DIR` or else
/// `models/cache` under the current directory.
pub fn resolve_weights(architecture: Architecture, explicit: Option<&Path>) -> Result<PathBuf, EmbedError> {
    let name = architecture.weights_file_name();
    let models_dir = std::env::var_os(MODELS_DIR_ENV);
    let path = match (explicit, &models_dir) {
        (Some(path), _) => path.to_owned(),
        (None, Some(dir)) => PathBuf::from(dir).join(&name),
        (None, None) => PathBuf::from("models/cache").join(&name),
    };
    log::debug!("weights for {architecture}: {}", path.display());

    if path.is_file() {
        return Ok(path);
    }

    let fetch = match architecture {
        Architecture::ResNet50 => {
            "`fashion-index fetch-model resnet50` downloads torchvision ImageNet weights".to_owned()
        }
        _ => format!("`python3 models/fetch.py {architecture}` in the repository root fetches them"),
    };
    // The default folder is relative, so the message names the current directory.
    let place = match (explicit, models_dir) {
        (Some(_), _) => None,
        (None, Some(_)) => Some(format!("${MODELS_DIR_ENV}")),
        (None, None) => {
            let current_dir = std::env::current_dir().map_or_else(|_| ".".into(), |dir| dir.display().to_string());
            Some(format!("models/cache under the current directory {current_dir}, as {MODELS_DIR_ENV} is not set"))
        }
    };
    let hint = match place {
        None => format!("check the path given with --weights; {fetch}"),
        Some(place) => format!(
            "{fetch}; or set {MODELS_DIR_ENV} to the folder holding {name}, or pass --weights PATH (looked in {place})"
        ),
    };
    Err(EmbedError::WeightsNotFound { path, hint })
}
