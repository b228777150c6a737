//! Atomic replacement: a write that fails at any step leaves the previous
//! store byte-identical and no temporary file behind.

mod common;

use std::fs;
use std::path::Path;

use common::{bits, dir_entries, spec, write_sample, DIM};
use fashion_store::{write_store, PayloadCheck, Store, StoreError, StoreWriter};

/// Writes a store from batches that an embedder produces, stopping at the
/// first batch that fails, as the indexer does.
fn write_from_batches(
    path: &Path,
    records: &[fashion_store::Record],
    batches: impl IntoIterator<Item = Result<Vec<f32>, String>>,
) -> Result<(), String> {
    let mut writer = StoreWriter::create(path, &spec(), records).map_err(|err| err.to_string())?;
    for batch in batches {
        writer.write_vectors(&batch?).map_err(|err| err.to_string())?;
    }
    writer.finish(&[]).map_err(|err| err.to_string())
}

#[test]
fn failed_batch_keeps_old_store() {
    let dir = tempfile::tempdir().unwrap();
    let old = write_sample(dir.path(), "store.fidx");
    let old_bytes = fs::read(&old.path).unwrap();
    let records = common::records(30);
    let vectors = common::unit_vectors(30, DIM, 11);
    let batches = vec![
        Ok(vectors[..10 * DIM].to_vec()),
        Ok(vectors[10 * DIM..20 * DIM].to_vec()),
        Err("image shirts/00021.jpg failed to decode".to_owned()),
        Ok(vectors[20 * DIM..].to_vec()),
    ];

    let result = write_from_batches(&old.path, &records, batches);

    assert_eq!(result, Err("image shirts/00021.jpg failed to decode".to_owned()));
    assert_eq!(fs::read(&old.path).unwrap(), old_bytes);
    assert_eq!(dir_entries(dir.path()), ["store.fidx"]);
}

#[test]
fn missing_vectors_keep_old_store() {
    let dir = tempfile::tempdir().unwrap();
    let old = write_sample(dir.path(), "store.fidx");
    let old_bytes = fs::read(&old.path).unwrap();
    let records = common::records(30);
    let vectors = common::unit_vectors(30, DIM, 11);

    let result = write_from_batches(&old.path, &records, [Ok(vectors[..29 * DIM].to_vec())]);

    assert_eq!(result, Err(format!("cannot write {}: only 29 of 30 vectors were written", old.path.display())));
    assert_eq!(fs::read(&old.path).unwrap(), old_bytes);
    assert_eq!(dir_entries(dir.path()), ["store.fidx"]);
}

#[test]
fn failed_rename_removes_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    // A non-empty directory at the target path makes the final rename fail.
    let target = dir.path().join("store.fidx");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("keep"), b"contents").unwrap();
    let records = common::records(4);
    let vectors = common::unit_vectors(4, DIM, 12);

    let err = write_store(&target, &spec(), &records, &vectors, &[]).unwrap_err();

    assert_eq!(err.to_string(), format!("failed to rename the temporary file to {}", target.display()));
    assert!(matches!(err, StoreError::Io { .. }));
    assert_eq!(dir_entries(dir.path()), ["store.fidx"]);
    assert_eq!(fs::read(target.join("keep")).unwrap(), b"contents");
}

#[test]
fn missing_directory_fails_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("no-such-dir").join("store.fidx");

    let err = write_store(&target, &spec(), &[], &[], &[]).unwrap_err();

    assert_eq!(err.to_string(), format!("failed to create a temporary file for {}", target.display()));
    assert!(err.is_not_found());
    assert!(dir_entries(dir.path()).is_empty());
}

#[test]
fn replacement_keeps_open_store_readable() {
    let dir = tempfile::tempdir().unwrap();
    let old = write_sample(dir.path(), "store.fidx");
    let old_store = Store::open(&old.path, PayloadCheck::Verify).unwrap();
    let records = common::records(5);
    let vectors = common::unit_vectors(5, DIM, 13);

    write_store(&old.path, &spec(), &records, &vectors, &[]).unwrap();
    let new_store = Store::open(&old.path, PayloadCheck::Verify).unwrap();

    assert_eq!(bits(old_store.vectors()), bits(&old.vectors));
    assert!(old_store.verify().is_ok());
    assert_eq!(bits(new_store.vectors()), bits(&vectors));
    assert_eq!(dir_entries(dir.path()), ["store.fidx"]);
}

#[cfg(unix)]
#[test]
fn store_gets_default_file_mode() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let sample = write_sample(dir.path(), "store.fidx");
    let reference = dir.path().join("reference");
    fs::File::create(&reference).unwrap();

    let mode = fs::metadata(&sample.path).unwrap().permissions().mode() & 0o777;

    // `File::create` applies the same umask to 0o666.
    assert_eq!(mode, fs::metadata(&reference).unwrap().permissions().mode() & 0o777);
}
