//! A real I/O error in the middle of writing a store, caused by a file size
//! limit (`RLIMIT_FSIZE`).
//!
//! The limit applies to the whole process, so this test lives alone in its
//! own test binary.

#![cfg(target_os = "linux")]

mod common;

use std::error::Error as _;
use std::fs;

use common::{dir_entries, spec, write_sample};
use fashion_store::StoreWriter;

const FILE_SIZE_LIMIT: u64 = 256 * 1024;

/// Limits the size of files that this process writes, and makes a write past
/// the limit fail with EFBIG instead of killing the process with SIGXFSZ.
fn limit_file_size(bytes: u64) {
    let limit = libc::rlimit { rlim_cur: bytes, rlim_max: libc::RLIM_INFINITY };

    // SAFETY: both calls only change process attributes and take valid arguments.
    unsafe {
        assert_ne!(libc::signal(libc::SIGXFSZ, libc::SIG_IGN), libc::SIG_ERR);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

#[test]
fn disk_error_keeps_old_store() {
    let dir = tempfile::tempdir().unwrap();
    let old = write_sample(dir.path(), "store.fidx");
    let old_bytes = fs::read(&old.path).unwrap();
    let spec = fashion_store::StoreSpec { dim: 2048, ..spec() };
    // 300 vectors of 8 KiB are larger than the limit and than the writer's
    // 1 MiB buffer, so the limit is hit inside `write_vectors`.
    let records = common::records(300);
    let vectors = common::unit_vectors(300, 2048, 41);
    limit_file_size(FILE_SIZE_LIMIT);

    let mut writer = StoreWriter::create(&old.path, &spec, &records).unwrap();
    let err = writer.write_vectors(&vectors).unwrap_err();
    let retry = writer.write_vectors(&vectors[..2048]).unwrap_err();
    drop(writer);
    limit_file_size(libc::RLIM_INFINITY);

    assert_eq!(err.to_string(), format!("failed to write the temporary file for {}", old.path.display()));
    let source = err.source().and_then(|source| source.downcast_ref::<std::io::Error>());
    assert_eq!(source.map(|source| source.kind()), Some(std::io::ErrorKind::FileTooLarge));
    assert_eq!(
        retry.to_string(),
        format!(
            "cannot write {}: an earlier write to the temporary file failed; \
             drop the writer and write the store again",
            old.path.display()
        )
    );
    assert_eq!(fs::read(&old.path).unwrap(), old_bytes);
    assert_eq!(dir_entries(dir.path()), ["store.fidx"]);
}
