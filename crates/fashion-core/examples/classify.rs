//! Prints the top-5 ImageNet classes and the embedding size for each image,
//! a quick check that a weights file loads and computes something sensible.
//!
//! `cargo run --release -p fashion-core --example classify -- efficientnet-lite0 models/cache/efficientnet-lite0.safetensors photo.jpg ...`
//!
//! Images are resized to the model input by squashing, with image's
//! triangle filter.

use std::path::Path;
use std::time::Instant;

use fashion_core::{Architecture, Embedder};
use image::imageops::FilterType;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, weights, images @ ..] = args.as_slice() else {
        return Err("usage: classify MODEL WEIGHTS IMAGE...".into());
    };
    let architecture: Architecture = model.parse()?;
    let embedder = Embedder::load(architecture, Path::new(weights), "squash")?;
    let size = embedder.input_size();

    for path in images {
        let image = image::open(path)?.to_rgb8();
        let image = image::imageops::resize(&image, size, size, FilterType::Triangle);

        let start = Instant::now();
        let vectors = embedder.embed(&[&image])?;
        let elapsed = start.elapsed();
        let logits = embedder.classify(&[&image])?;

        let mut line = format!("{path}: dim {} in {:.1} ms", vectors[0].len(), elapsed.as_secs_f64() * 1e3);
        if let Some(logits) = logits {
            let mut ranked: Vec<(usize, f32)> = logits[0].iter().copied().enumerate().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            let top: Vec<String> = ranked[..5].iter().map(|(class, logit)| format!("{class} ({logit:.2})")).collect();
            line.push_str(&format!(", top-5 classes {}", top.join(" ")));
        }
        println!("{line}");
    }
    Ok(())
}
