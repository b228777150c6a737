//! Loading backbone weights from safetensors files and PyTorch checkpoints,
//! with shape checks and BatchNorm folding.
//!
//! Weights are loaded as plain tensors, never as trainable variables: a
//! tracked variable keeps every intermediate activation alive for the
//! backward pass, which at batch 32 exhausts tens of gigabytes.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use sha2::{Digest, Sha256};

use crate::error::EmbedError;
use crate::ops::{fold_batch_norm, Activation, BatchNormParams, ConvBn, DepthwiseConv2d, PaddingMode};

/// The container formats a weights file can come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsFormat {
    Safetensors,
    /// A zip-based PyTorch checkpoint (`torch.save` since PyTorch 1.6).
    PyTorchZip,
    /// A pre-zip PyTorch pickle, which candle cannot read.
    PyTorchLegacy,
}

impl WeightsFormat {
    /// Detects the format from the first bytes of the file.
    pub fn sniff(path: &Path) -> Result<Self, EmbedError> {
        let mut head = [0u8; 16];
        let mut file = File::open(path).map_err(|source| weights_io(path, source))?;
        let n = read_up_to(&mut file, &mut head).map_err(|source| weights_io(path, source))?;
        let head = &head[..n];

        if head.starts_with(b"PK\x03\x04") {
            return Ok(WeightsFormat::PyTorchZip);
        }
        // The legacy format opens with a protocol-2 pickle of a long integer,
        // the magic number 0x1950a86a20f9469cfc6c.
        if head.starts_with(b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19") {
            return Ok(WeightsFormat::PyTorchLegacy);
        }
        // safetensors: a little-endian u64 header length, then a JSON object.
        if n >= 9 && head[8] == b'{' {
            return Ok(WeightsFormat::Safetensors);
        }
        Err(EmbedError::UnknownWeightsFormat { path: path.to_owned() })
    }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn weights_io(path: &Path, source: io::Error) -> EmbedError {
    EmbedError::WeightsIo { path: path.to_owned(), source }
}

/// Computes the SHA-256 of a file as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, EmbedError> {
    let mut file = File::open(path).map_err(|source| weights_io(path, source))?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher).map_err(|source| weights_io(path, source))?;
    Ok(hex(&hasher.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A named set of f32 tensors read from one weights file.
pub struct Weights {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl Weights {
    /// Reads every tensor of a safetensors file or zip PyTorch checkpoint
    /// onto `device` as f32.
    pub fn load(path: &Path, device: &Device) -> Result<Self, EmbedError> {
        let format = WeightsFormat::sniff(path)?;
        log::debug!("{}: weights format {format:?}", path.display());

        let read_error = |source| EmbedError::WeightsRead { path: path.to_owned(), source };
        let raw: Vec<(String, Tensor)> = match format {
            WeightsFormat::Safetensors => {
                candle_core::safetensors::load(path, device).map_err(read_error)?.into_iter().collect()
            }
            WeightsFormat::PyTorchZip => candle_core::pickle::read_all(path).map_err(read_error)?,
            WeightsFormat::PyTorchLegacy => {
                return Err(EmbedError::LegacyPickle { path: path.to_owned() });
            }
        };

        let mut tensors = HashMap::with_capacity(raw.len());
        for (name, tensor) in raw {
            let tensor =
                tensor.to_dtype(candle_core::DType::F32).and_then(|t| t.to_device(device)).map_err(read_error)?;
            tensors.insert(name, tensor);
        }
        Ok(Self { path: path.to_owned(), tensors })
    }

    /// Wraps tensors built in memory, for tests and generated weights.
    pub fn from_tensors(path: PathBuf, tensors: HashMap<String, Tensor>) -> Self {
        Self { path, tensors }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the tensor `name`, checking that it has `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<&Tensor, EmbedError> {
        let tensor = self
            .tensors
            .get(name)
            .ok_or_else(|| EmbedError::MissingTensor { path: self.path.clone(), name: name.to_owned() })?;
        if tensor.dims() != shape {
            return Err(EmbedError::TensorShape {
                path: self.path.clone(),
                name: name.to_owned(),
                expected: shape.to_vec(),
                actual: tensor.dims().to_vec(),
            });
        }
        Ok(tensor)
    }

    /// Returns the shape of tensor `name`, for layers whose size the weights decide.
    pub fn dims(&self, name: &str) -> Result<&[usize], EmbedError> {
        self.tensors
            .get(name)
            .map(|t| t.dims())
            .ok_or_else(|| EmbedError::MissingTensor { path: self.path.clone(), name: name.to_owned() })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    fn vec1(&self, name: &str, len: usize) -> Result<Vec<f32>, EmbedError> {
        let tensor = self.get(name, &[len])?;
        tensor.to_vec1::<f32>().map_err(|source| EmbedError::WeightsRead { path: self.path.clone(), source })
    }

    /// Reads the weight `{conv}.weight` of shape `(out, in, k, k)` and folds the
    /// BatchNorm layer `{bn}.*` into it, returning the folded weight values
    /// (row-major) and bias.
    fn folded(&self, conv: &str, bn: &str, shape: [usize; 4], eps: f64) -> Result<(Vec<f32>, Vec<f32>), EmbedError> {
        let read_error = |source| EmbedError::WeightsRead { path: self.path.clone(), source };
        let out_channels = shape[0];

        let weight = self.get(&format!("{conv}.weight"), &shape)?;
        let weight_values = weight.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(read_error)?;
        let gamma = self.vec1(&format!("{bn}.weight"), out_channels)?;
        let beta = self.vec1(&format!("{bn}.bias"), out_channels)?;
        let running_mean = self.vec1(&format!("{bn}.running_mean"), out_channels)?;
        let running_var = self.vec1(&format!("{bn}.running_var"), out_channels)?;

        let bn =
            BatchNormParams { gamma: &gamma, beta: &beta, running_mean: &running_mean, running_var: &running_var, eps };
        Ok(fold_batch_norm(&weight_values, None, out_channels, &bn))
    }

    /// Builds the dense convolution `{conv}` with BatchNorm `{bn}` folded in.
    // The arguments are the layer's hyperparameters, spelled out at each call
    // site as the reference model's definition lists them.
    #[allow(clippy::too_many_arguments)]
    pub fn conv_bn(
        &self,
        conv: &str,
        bn: &str,
        shape: [usize; 4],
        stride: usize,
        padding: PaddingMode,
        activation: Activation,
        eps: f64,
    ) -> Result<ConvBn, EmbedError> {
        let (weight, bias) = self.folded(conv, bn, shape, eps)?;
        ConvBn::new(&weight, shape, bias, stride, padding, activation)
            .map_err(|source| EmbedError::WeightsRead { path: self.path.clone(), source })
    }

    /// Builds the depthwise convolution `{conv}` over `channels` channels with
    /// BatchNorm `{bn}` folded in.
    #[allow(clippy::too_many_arguments)]
    pub fn depthwise_bn(
        &self,
        conv: &str,
        bn: &str,
        channels: usize,
        kernel: usize,
        stride: usize,
        activation: Activation,
        eps: f64,
    ) -> Result<DepthwiseConv2d, EmbedError> {
        let (weight, bias) = self.folded(conv, bn, [channels, 1, kernel, kernel], eps)?;
        DepthwiseConv2d::new(&weight, channels, kernel, bias, stride, PaddingMode::TfSame, activation)
            .map_err(|source| EmbedError::WeightsRead { path: self.path.clone(), source })
    }
}
