//! `Store::verify`: the value checks that opening does not do.

mod common;

use std::path::Path;

use common::{spec, write_sample, DIM};
use fashion_store::{write_store, Issue, PayloadCheck, Section, Store, NORM_TOLERANCE};

#[test]
fn clean_store_passes() {
    let dir = tempfile::tempdir().unwrap();
    let sample = write_sample(dir.path(), "store.fidx");
    let store = Store::open(&sample.path, PayloadCheck::Skip).unwrap();

    let report = store.verify();

    assert!(report.is_ok(), "{:?}", report.issues);
    assert_eq!(report.count, common::SAMPLE_COUNT);
    assert_eq!(report.dim, DIM);
    assert_eq!(report.section_count, 2);
}

/// Writes `vectors` and one section, and returns the issues that verify finds.
fn issues_of(dir: &Path, vectors: &[f32], section: &[f32]) -> Vec<Issue> {
    let path = dir.join("store.fidx");
    let records = common::records(vectors.len() / DIM);
    let sections = [Section { name: "pca.basis", rows: 1, cols: section.len(), data: section }];
    write_store(&path, &spec(), &records, vectors, &sections).unwrap();

    Store::open(&path, PayloadCheck::Verify).unwrap().verify().issues
}

#[test]
fn bad_values_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut vectors = common::unit_vectors(6, DIM, 21);
    vectors[DIM + 3] = f32::NAN;
    vectors[3 * DIM] = f32::INFINITY;
    vectors[4 * DIM..5 * DIM].iter_mut().for_each(|value| *value *= 2.0);
    let section = [0.5, f32::NEG_INFINITY, 0.25];

    let issues = issues_of(dir.path(), &vectors, &section);

    assert_eq!(issues.len(), 4, "{issues:?}");
    assert_eq!(issues[0], Issue::NonFiniteVector { index: 1 });
    assert_eq!(issues[1], Issue::NonFiniteVector { index: 3 });
    assert!(
        matches!(issues[2], Issue::NormOutOfTolerance { index: 4, norm } if (norm - 2.0).abs() < 1e-5),
        "{:?}",
        issues[2]
    );
    assert_eq!(issues[3], Issue::NonFiniteSection { name: "pca.basis".to_owned(), index: 1 });
    assert_eq!(issues[0].to_string(), "vector 1 contains NaN or an infinity");
    assert_eq!(issues[3].to_string(), "section \"pca.basis\" contains NaN or an infinity at position 1");
}

#[test]
fn norm_tolerance_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let mut vectors = common::unit_vectors(2, DIM, 22);
    // Vector 0 is off by half the tolerance, vector 1 by twice the tolerance.
    vectors[..DIM].iter_mut().for_each(|value| *value *= 1.0 + NORM_TOLERANCE / 2.0);
    vectors[DIM..].iter_mut().for_each(|value| *value *= 1.0 - 2.0 * NORM_TOLERANCE);

    let issues = issues_of(dir.path(), &vectors, &[0.0]);

    assert_eq!(issues.len(), 1, "{issues:?}");
    assert!(matches!(issues[0], Issue::NormOutOfTolerance { index: 1, .. }), "{:?}", issues[0]);
}
