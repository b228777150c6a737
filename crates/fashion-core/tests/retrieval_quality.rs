//! End-to-end retrieval quality on real catalogue photos: index the 1,112
//! labelled photos of `dataset/` with the trained EfficientNet-Lite0 and
//! require leave-one-out precision@5 by `articleType` above a floor, and
//! clearly above what raw pixels achieve.
//!
//! Measured with this pipeline (squash resize, which is the identity for
//! these 224x224 photos): precision@5 0.772. The floor leaves room for
//! numeric differences between CPUs, not for a broken pipeline.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use fashion_core::build::{build_index, BuildObserver, BuildOptions, FileProblem};
use fashion_core::eval::{evaluate, read_labels};
use fashion_core::index::Index;
use fashion_core::{Architecture, DecodeOptions, ResizeMode};
use fashion_search::linear_top_k;
use fashion_store::PayloadCheck;

const PRECISION_AT_5_FLOOR: f64 = 0.74;

/// Required lead of the CNN over raw pixels, in precision@5.
const MARGIN_OVER_PIXELS: f64 = 0.15;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Silent;

impl BuildObserver for Silent {
    fn start(&self, _: usize) {}
    fn advance(&self, _: usize) {}
    fn skipped(&self, problem: &FileProblem) {
        panic!("{}: {problem}", problem.path().display());
    }
    fn note(&self, _: &str) {}
}

/// Leave-one-out precision@5 of 16x16 RGB thumbnails compared by Euclidean
/// distance, skipping byte-identical copies of the query.
fn raw_pixel_precision(index: &Index, labels: &HashMap<PathBuf, String>) -> f64 {
    const SIDE: u32 = 16;
    let records = index.store().records();
    let root = &index.store().header().catalogue_root;
    let dim = (SIDE * SIDE * 3) as usize;

    let mut vectors = Vec::with_capacity(records.len() * dim);
    for record in records {
        let image = image::open(root.join(&record.path)).unwrap().to_rgb8();
        let thumb = image::imageops::resize(&image, SIDE, SIDE, image::imageops::FilterType::Triangle);
        let mut v: Vec<f32> = thumb.as_raw().iter().map(|&b| b as f32).collect();
        fashion_core::l2_normalize(&mut v);
        vectors.extend_from_slice(&v);
    }

    let mut total = 0.0;
    for (i, record) in records.iter().enumerate() {
        let query = &vectors[i * dim..(i + 1) * dim];
        let neighbours = linear_top_k(&vectors, dim, query, 5 + 8).unwrap();
        let hits = neighbours
            .iter()
            .filter(|n| records[n.index].sha256 != record.sha256)
            .take(5)
            .filter(|n| labels.get(&records[n.index].path) == labels.get(&record.path))
            .count();
        total += hits as f64 / 5.0;
    }
    total / records.len() as f64
}

#[test]
fn lite0_beats_floor_and_raw_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let options = BuildOptions {
        catalogue: workspace().join("dataset"),
        index: dir.path().join("demo.fidx"),
        architecture: Architecture::EfficientNetLite0,
        weights: Some(workspace().join("models/cache/efficientnet-lite0.safetensors")),
        resize: ResizeMode::Squash,
        batch_size: 16,
        follow_links: false,
        decode: DecodeOptions::default(),
        rebuild: false,
    };
    let summary = build_index(&options, &Silent).unwrap();
    assert_eq!(summary.indexed, 1112);

    let index = Index::open(&options.index, PayloadCheck::Verify).unwrap();
    let labels = read_labels(&workspace().join("dataset/labels.csv"), "articleType").unwrap();
    let evaluation = evaluate(&index, &labels, &[5], 1).unwrap();
    assert_eq!(evaluation.queries, 1112);
    let model_precision = evaluation.precision[0].1;

    let pixel_precision = raw_pixel_precision(&index, &labels);
    eprintln!("precision@5: model {model_precision:.4}, raw pixels {pixel_precision:.4}");
    assert!(model_precision >= PRECISION_AT_5_FLOOR, "precision@5 {model_precision:.4} below {PRECISION_AT_5_FLOOR}");
    assert!(
        model_precision >= pixel_precision + MARGIN_OVER_PIXELS,
        "precision@5 {model_precision:.4} is not clearly above raw pixels ({pixel_precision:.4})"
    );
}
