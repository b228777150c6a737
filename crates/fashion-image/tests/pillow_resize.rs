//! Compares `resize_square` with Pillow's `Image.resize(..., BILINEAR)` on real
//! catalogue photos (fixtures made by `fixtures/make_fixtures.py`).
//!
//! Both inputs are PNGs that Pillow decoded from the catalogue JPEGs, so the
//! comparison measures the resampling alone and not the JPEG decoders.

mod common;

use common::fixture;
use fashion_image::{decode_file, resize_square, DecodeOptions, ResizeMode, RgbImage};

/// Maximum per-channel difference to Pillow. Both implement the same
/// fixed-point convolution, so only rounding may differ.
const MAX_DIFFERENCE: u8 = 1;

fn load(name: &str) -> RgbImage {
    decode_file(fixture(name), &DecodeOptions::default()).unwrap_or_else(|error| panic!("{name}: {error}"))
}

/// Returns the maximum and mean absolute per-channel difference.
fn difference(ours: &RgbImage, pillow: &RgbImage) -> (u8, f64) {
    assert_eq!(ours.dimensions(), pillow.dimensions());

    let mut max = 0;
    let mut sum = 0u64;
    for (&a, &b) in ours.as_raw().iter().zip(pillow.as_raw()) {
        let delta = a.abs_diff(b);
        max = max.max(delta);
        sum += u64::from(delta);
    }
    (max, sum as f64 / ours.as_raw().len() as f64)
}

fn compare(input: &str, reference: &str, size: u32, mode: ResizeMode) {
    let ours = resize_square(&load(input), size, mode);
    let pillow = load(reference);

    let (max, mean) = difference(&ours, &pillow);
    println!("{input} -> {size} ({mode:?}) vs {reference}: max {max}, mean {mean:.4}");

    assert!(max <= MAX_DIFFERENCE, "{reference}: max difference {max} (mean {mean:.4}) exceeds {MAX_DIFFERENCE}");
}

#[test]
fn upscale_224_to_260_matches_pillow() {
    compare("resize_input_224.png", "resize_pillow_224_to_260.png", 260, ResizeMode::Squash);
}

#[test]
fn downscale_224_to_96_matches_pillow() {
    compare("resize_input_224.png", "resize_pillow_224_to_96.png", 96, ResizeMode::Squash);
}

#[test]
fn squash_60x80_to_224_matches_pillow() {
    compare("resize_input_60x80.png", "resize_pillow_60x80_to_224.png", 224, ResizeMode::Squash);
}

#[test]
fn pad_60x80_to_224_matches_pillow() {
    compare("resize_input_60x80.png", "resize_pillow_60x80_pad_224.png", 224, ResizeMode::PadWhite);
}
