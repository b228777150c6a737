//! Measures embedding time per image at a given batch size.
//!
//! `cargo run --release -p fashion-core --example bench_embed -- MODEL WEIGHTS BATCH ROUNDS [IMAGE]`
//!
//! Prints one JSON line: model, batch size, rounds, and the median and
//! minimum milliseconds per image over the timed rounds (after one warm-up
//! round). Without IMAGE, a deterministic gradient image is used.

use std::path::Path;
use std::time::Instant;

use fashion_core::{Architecture, Embedder};
use image::imageops::FilterType;
use image::RgbImage;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, weights, batch, rounds, rest @ ..] = args.as_slice() else {
        return Err("usage: bench_embed MODEL WEIGHTS BATCH ROUNDS [IMAGE]".into());
    };
    let architecture: Architecture = model.parse()?;
    let batch: usize = batch.parse()?;
    let rounds: usize = rounds.parse()?;
    let embedder = Embedder::load(architecture, Path::new(weights), "squash")?;
    let size = embedder.input_size();

    let image = match rest.first() {
        Some(path) => image::imageops::resize(&image::open(path)?.to_rgb8(), size, size, FilterType::Triangle),
        None => RgbImage::from_fn(size, size, |x, y| image::Rgb([x as u8, y as u8, (x ^ y) as u8])),
    };
    let images: Vec<&RgbImage> = vec![&image; batch];

    embedder.embed(&images)?;
    let mut per_image_ms = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        embedder.embed(&images)?;
        per_image_ms.push(start.elapsed().as_secs_f64() * 1e3 / batch as f64);
    }
    per_image_ms.sort_by(f64::total_cmp);

    println!(
        "{{\"model\":\"{model}\",\"batch\":{batch},\"rounds\":{rounds},\"median_ms_per_image\":{:.2},\"min_ms_per_image\":{:.2}}}",
        per_image_ms[rounds / 2],
        per_image_ms[0]
    );
    Ok(())
}
