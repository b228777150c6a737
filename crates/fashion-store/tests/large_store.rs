//! Timing of a catalogue-sized store: 43,772 vectors of dimension 2048
//! (358 MB), written to a temporary directory.
//!
//! Ignored by default because it writes 358 MB and takes seconds. Run it with
//! `cargo test --release -p fashion-store --test large_store -- --ignored --nocapture`.
//! The file was just written, so the timings are for a warm page cache.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::bits;
use fashion_store::{write_store, PayloadCheck, Record, Store, StoreSpec};

const COUNT: usize = 43_772;
const DIM: usize = 2048;
const RUNS: usize = 5;

/// Runs `f` `RUNS` times and returns the fastest and the median duration.
fn time<T>(mut f: impl FnMut() -> T) -> (Duration, Duration) {
    let mut durations: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(f());
            started.elapsed()
        })
        .collect();
    durations.sort();
    (durations[0], durations[RUNS / 2])
}

#[test]
#[ignore = "writes a 358 MB store; run with --ignored --nocapture to print timings"]
fn large_store_timing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.fidx");
    let records: Vec<Record> = (0..COUNT)
        .map(|i| Record {
            path: format!("images/{i:06}.jpg").into(),
            size: 30_000 + i as u64,
            mtime_ns: 1_700_000_000_000_000_000 + i as i64,
            sha256: [(i % 251) as u8; 32],
        })
        .collect();
    let vectors = common::unit_vectors(COUNT, DIM, 7);
    let spec = StoreSpec {
        fingerprint: r#"{"model":"synthetic","dim":2048}"#,
        catalogue_root: Path::new("dataset"),
        dim: DIM,
    };

    let started = Instant::now();
    write_store(&path, &spec, &records, &vectors, &[]).unwrap();
    let write_time = started.elapsed();

    let (skip_min, skip_median) = time(|| Store::open(&path, PayloadCheck::Skip).unwrap());
    let (verify_min, verify_median) = time(|| Store::open(&path, PayloadCheck::Verify).unwrap());
    let store = Store::open(&path, PayloadCheck::Skip).unwrap();
    let (full_min, full_median) = time(|| store.verify());
    // One value per 4 KiB page: the cost of faulting in the whole map.
    let (touch_min, touch_median) = time(|| {
        let fresh = Store::open(&path, PayloadCheck::Skip).unwrap();
        fresh.vectors().iter().step_by(1024).sum::<f32>()
    });

    println!("store of {COUNT} x {DIM} f32, {} bytes", store.header().file_len);
    println!("write_store (incl. fsync):       {write_time:?}");
    println!("open, payload checksum skipped:  min {skip_min:?}, median {skip_median:?}");
    println!("open, payload checksum verified: min {verify_min:?}, median {verify_median:?}");
    println!("verify():                        min {full_min:?}, median {full_median:?}");
    println!("open skipped + touch every page: min {touch_min:?}, median {touch_median:?}");

    assert_eq!(store.len(), COUNT);
    assert_eq!(store.records(), records.as_slice());
    assert_eq!(bits(store.vector(12_345)), bits(&vectors[12_345 * DIM..12_346 * DIM]));
    assert!(store.verify().is_ok());
}
