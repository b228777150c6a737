//! A build killed with SIGKILL resumes from its journal and ends with the
//! same index as a build that was never interrupted.

#![cfg(unix)]

mod common;

use std::fs;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Workspace;
use fashion_store::{PayloadCheck, Store};

const PHOTOS: usize = 12;
const BATCH_SIZE: &str = "2";
/// Bytes of one journal entry's vectors alone: 2 images x 1280 x 4 bytes.
/// The journal header appears at once (it is written atomically), so a
/// journal at least this long contains one complete batch.
const ONE_BATCH_BYTES: u64 = 2 * 1280 * 4;

#[test]
fn killed_build_resumes_to_same_index() {
    let workspace = Workspace::new();
    workspace.add_photos(0, PHOTOS);
    let index = workspace.index();
    let journal = workspace.root.join("index.fidx.partial");

    // One thread keeps the build slow enough to kill it between batches.
    let args = workspace.build_args(&index, &["--batch-size", BATCH_SIZE, "--threads", "1", "--quiet"]);
    let mut child = workspace.command(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    loop {
        if fs::metadata(&journal).is_ok_and(|m| m.len() >= ONE_BATCH_BYTES) {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the build ended ({status}) before the test saw a journal entry");
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no journal entry after 120 s");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();

    assert_eq!(status.code(), None, "the build finished before the kill: {status}");
    assert!(!index.exists(), "a killed build must not leave an index");
    assert!(journal.exists(), "a killed build must leave its journal");

    let resumed = workspace.build(&index, &["--batch-size", BATCH_SIZE, "--json"]);
    assert_eq!(resumed.code, Some(0), "{resumed:?}");
    let summary = resumed.json();
    let recovered = summary["resumed"].as_u64().unwrap();
    assert!(recovered >= 2, "no complete batch was recovered: {summary}");
    assert!(recovered < PHOTOS as u64, "the killed build had embedded everything: {summary}");
    assert_eq!(summary["embedded"].as_u64().unwrap(), PHOTOS as u64 - recovered, "{summary}");
    assert_eq!(summary["indexed"], PHOTOS, "{summary}");
    assert_eq!(
        resumed.stderr,
        format!("fashion-index: resuming an interrupted build: {recovered} images already embedded\n")
    );
    assert!(!journal.exists(), "a finished build removes its journal");

    let reference_index = workspace.root.join("reference.fidx");
    let reference = workspace.build(&reference_index, &["--batch-size", BATCH_SIZE, "--quiet"]);
    assert_eq!(reference.code, Some(0), "{reference:?}");

    let resumed_store = Store::open(&index, PayloadCheck::Verify).unwrap();
    let reference_store = Store::open(&reference_index, PayloadCheck::Verify).unwrap();
    assert_eq!(resumed_store.records(), reference_store.records());
    assert_eq!(resumed_store.dim(), reference_store.dim());
    for row in 0..reference_store.len() {
        let max_difference = resumed_store
            .vector(row)
            .iter()
            .zip(reference_store.vector(row))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            max_difference <= 1e-6,
            "{}: vectors differ by up to {max_difference}",
            reference_store.records()[row].path.display()
        );
    }
}
