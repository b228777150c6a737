//! Decodes every photo of a real catalogue; ignored by default because the
//! catalogues are not part of the repository.
//!
//! Run with the folder that contains `images/`:
//!
//! ```text
//! FASHION_CATALOGUE=/path/to/fashion-product-images \
//!     cargo test --release -p fashion-image -- --ignored catalogue_224_decodes --nocapture
//! FASHION_CATALOGUE_SMALL=/path/to/fashion-product-images-small \
//!     cargo test --release -p fashion-image -- --ignored catalogue_small_decodes --nocapture
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use fashion_image::{decode_file, into_square, DecodeOptions, ResizeMode};

/// Returns the `images/` folder under the directory named by `variable`.
fn images_folder(variable: &str) -> PathBuf {
    let Some(root) = std::env::var_os(variable) else {
        panic!("set {variable} to the catalogue folder that contains images/ to run this test");
    };
    let folder = PathBuf::from(root).join("images");
    assert!(folder.is_dir(), "{variable}: {} is not a folder", folder.display());
    folder
}

struct Summary {
    decoded: usize,
    failures: Vec<String>,
    sizes: BTreeMap<(u32, u32), usize>,
}

/// Decodes and squashes every file in `folder`, printing throughput.
fn decode_all(folder: &PathBuf) -> Summary {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(folder).unwrap().map(|entry| entry.unwrap().path()).collect();
    paths.sort();

    let options = DecodeOptions::default();
    let mut summary = Summary { decoded: 0, failures: Vec::new(), sizes: BTreeMap::new() };
    let start = Instant::now();

    for path in &paths {
        match decode_file(path, &options) {
            Ok(image) => {
                *summary.sizes.entry(image.dimensions()).or_default() += 1;
                let square = into_square(image, 224, ResizeMode::Squash);
                assert_eq!(square.dimensions(), (224, 224));
                summary.decoded += 1;
            }
            Err(error) => summary.failures.push(format!("{}: {error} ({:?})", path.display(), error.kind())),
        }
    }

    let elapsed = start.elapsed();
    println!(
        "{}: {} files, {} decoded, {} failed in {:.2?} ({:.0} images/s, one thread, decode + squash to 224)",
        folder.display(),
        paths.len(),
        summary.decoded,
        summary.failures.len(),
        elapsed,
        paths.len() as f64 / elapsed.as_secs_f64()
    );
    let common_sizes: Vec<_> = summary.sizes.iter().filter(|(_, &n)| n >= 10).collect();
    println!("sizes seen at least 10 times: {common_sizes:?}");
    summary
}

#[test]
#[ignore = "needs FASHION_CATALOGUE"]
fn catalogue_224_decodes() {
    let summary = decode_all(&images_folder("FASHION_CATALOGUE"));

    assert!(summary.failures.is_empty(), "failures:\n{}", summary.failures.join("\n"));
    assert_eq!(summary.sizes.keys().collect::<Vec<_>>(), [&(224, 224)]);
}

#[test]
#[ignore = "needs FASHION_CATALOGUE_SMALL"]
fn catalogue_small_decodes() {
    let summary = decode_all(&images_folder("FASHION_CATALOGUE_SMALL"));

    assert!(summary.failures.is_empty(), "failures:\n{}", summary.failures.join("\n"));
    let typical = summary.sizes.get(&(60, 80)).copied().unwrap_or(0);
    assert!(typical * 10 >= summary.decoded * 9, "only {typical} of {} images are 60x80", summary.decoded);
}

#[test]
#[ignore = "needs FASHION_CATALOGUE"]
fn catalogue_jpeg_decode_close_to_pillow() {
    // fixtures/images/resize_input_224.png is Pillow's (libjpeg-turbo) decode of
    // this photo. The IDCT and chroma upsampling of the two decoders differ
    // slightly, so this bounds the difference instead of requiring equality.
    let jpeg = images_folder("FASHION_CATALOGUE").join("17714.jpg");
    let reference = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images/resize_input_224.png");

    let ours = decode_file(&jpeg, &DecodeOptions::default()).unwrap();
    let pillow = decode_file(&reference, &DecodeOptions::default()).unwrap();

    assert_eq!(ours.dimensions(), pillow.dimensions());
    let deltas: Vec<u8> = ours.as_raw().iter().zip(pillow.as_raw()).map(|(&a, &b)| a.abs_diff(b)).collect();
    let max = deltas.iter().copied().max().unwrap_or(0);
    let mean = deltas.iter().map(|&d| f64::from(d)).sum::<f64>() / deltas.len() as f64;
    println!("17714.jpg: this crate vs Pillow decode: max {max}, mean {mean:.4}");

    assert!(mean < 1.0, "mean difference {mean:.4} to Pillow");
}
