//! Helpers shared by the integration tests: fixture paths and pixel checks.

#![allow(dead_code)]

use std::path::PathBuf;

use fashion_image::RgbImage;

/// Quadrant centres of the 48x32 decoding fixtures: top-left, top-right,
/// bottom-left, bottom-right (see `fixtures/images/README.md`).
pub const CENTRES: [(u32, u32); 4] = [(12, 8), (36, 8), (12, 24), (36, 24)];

/// Maximum per-channel difference accepted for lossy formats.
pub const LOSSY_TOLERANCE: u8 = 8;

pub const RED: [u8; 3] = [255, 0, 0];
pub const GREEN: [u8; 3] = [0, 255, 0];
pub const BLUE: [u8; 3] = [0, 0, 255];
pub const YELLOW: [u8; 3] = [255, 255, 0];
pub const WHITE: [u8; 3] = [255, 255, 255];

/// The upright picture of most decoding fixtures.
pub const BASE_COLOURS: [[u8; 3]; 4] = [RED, GREEN, BLUE, YELLOW];

/// Returns the path of a file in `fixtures/images/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images").join(name)
}

/// Asserts a 48x32 image whose quadrant centres match `expected` within `tolerance`.
pub fn assert_quadrants(name: &str, image: &RgbImage, expected: &[[u8; 3]; 4], tolerance: u8) {
    assert_eq!(image.dimensions(), (48, 32), "{name}: dimensions");

    for (&(x, y), want) in CENTRES.iter().zip(expected) {
        let got = image.get_pixel(x, y).0;
        let worst = got.iter().zip(want).map(|(&g, &w)| g.abs_diff(w)).max().unwrap_or(0);
        assert!(worst <= tolerance, "{name}: pixel ({x}, {y}) is {got:?}, expected {want:?} within {tolerance}");
    }
}
