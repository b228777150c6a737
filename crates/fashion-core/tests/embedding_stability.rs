//! Embeddings depend on the picture, not on how it is stored or batched.

use std::path::{Path, PathBuf};

use fashion_core::pipeline::prepare_file;
use fashion_core::{Architecture, DecodeOptions, Embedder, ResizeMode};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn lite0() -> Embedder {
    let weights = workspace().join("models/cache/efficientnet-lite0.safetensors");
    Embedder::load(Architecture::EfficientNetLite0, &weights, "squash")
        .unwrap_or_else(|e| panic!("{e} (run `python3 models/fetch.py efficientnet-lite0` first)"))
}

fn embed_file(embedder: &Embedder, path: &Path) -> Vec<f32> {
    let prepared = prepare_file(path, &DecodeOptions::default(), embedder.input_size(), ResizeMode::Squash).unwrap();
    embedder.embed(&[&prepared.image]).unwrap().remove(0)
}

fn max_abs_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The JPEG decoder's inverse DCT does not commute exactly with a lossless
/// 90-degree rotation: decoded pixels of the pair differ by up to 3 levels,
/// which moves single components of the embedding by about 2.5e-3.
// NOTE: so the bound is 5e-3, not 1e-3; the second check shows that the
// orientation is applied at all.
const ROTATION_TOLERANCE: f32 = 5e-3;

#[test]
fn exif_rotated_jpeg_embeds_like_upright() {
    let embedder = lite0();
    let photos = workspace().join("fixtures/photos");
    let upright = embed_file(&embedder, &photos.join("shirt-upright.jpg"));
    let rotated = embed_file(&embedder, &photos.join("shirt-exif6.jpg"));

    let difference = max_abs_difference(&upright, &rotated);
    assert!(difference <= ROTATION_TOLERANCE, "max abs difference {difference}");

    // The stored pixels without the EXIF rotation give a clearly different vector.
    let raw = image::open(photos.join("shirt-exif6.jpg")).unwrap().to_rgb8();
    let sideways = embedder.embed(&[&raw]).unwrap().remove(0);
    let sideways_difference = max_abs_difference(&upright, &sideways);
    assert!(sideways_difference > 10.0 * ROTATION_TOLERANCE, "sideways differs by only {sideways_difference}");
}

#[test]
fn vector_independent_of_batch_size() {
    let embedder = lite0();
    let photos = workspace().join("fixtures/photos");
    let names = ["cat.jpg", "coffee.jpg", "rocket.jpg", "shirt.jpg", "shoe.jpg"];
    let images: Vec<_> = names
        .iter()
        .map(|name| {
            prepare_file(&photos.join(name), &DecodeOptions::default(), embedder.input_size(), ResizeMode::Squash)
                .unwrap()
                .image
        })
        .collect();

    // The shirt alone, decoded again, and inside batches of 2, 5 and 16.
    let alone = embed_file(&embedder, &photos.join("shirt.jpg"));
    let again = embed_file(&embedder, &photos.join("shirt.jpg"));
    assert_eq!(alone, again, "same file, same vector");

    let shirt = &images[3];
    for batch_size in [2usize, 5, 16] {
        let mut batch: Vec<_> = images.iter().cycle().take(batch_size).collect();
        let position = batch_size / 2;
        batch[position] = shirt;
        let vectors = embedder.embed(&batch).unwrap();
        let difference = max_abs_difference(&vectors[position], &alone);
        assert!(difference <= 1e-6, "batch of {batch_size}: max abs difference {difference}");
    }
}
