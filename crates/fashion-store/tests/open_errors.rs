//! The errors of `Store::open` on damaged or foreign files, with their exact
//! messages.

mod common;

use std::error::Error as _;
use std::fs;
use std::path::Path;

use common::{header_end, write_sample};
use fashion_store::{ChecksumRegion, Issue, PayloadCheck, Store, StoreError};

/// Opens `path` with both payload checks, expects the same error from both,
/// and returns its message with the path replaced by `PATH`.
fn open_error(path: &Path) -> String {
    let verified = Store::open(path, PayloadCheck::Verify).unwrap_err().to_string();
    let skipped = Store::open(path, PayloadCheck::Skip).unwrap_err().to_string();

    assert_eq!(verified, skipped);
    verified.replace(&path.display().to_string(), "PATH")
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.fidx");
    fs::write(&path, b"").unwrap();

    assert_eq!(
        open_error(&path),
        "PATH: the file is empty, so it is not a fashion index; build one with `fashion-index build`"
    );
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.fidx");

    let err = Store::open(&path, PayloadCheck::Verify).unwrap_err();

    assert!(err.is_not_found());
    assert_eq!(err.to_string(), format!("failed to open {}", path.display()));
    assert!(err.source().is_some());
}

#[test]
fn not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8]); 4] = [
        ("jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
        ("text", b"path,label\nshirts/1.jpg,shirt\n"),
        ("one byte", b"x"),
        // A MessagePack array of the right length with another magic number.
        ("other magic", b"\x9a\xc4\x08OTHERMAG\xce\x00\x00\x00\x01"),
    ];

    for (name, bytes) in cases {
        let path = dir.path().join(format!("{name}.fidx"));
        fs::write(&path, bytes).unwrap();

        assert_eq!(
            open_error(&path),
            "PATH: not a fashion index (bad magic number); build one with `fashion-index build`",
            "{name}"
        );
    }
}

#[test]
fn truncated_store() {
    let dir = tempfile::tempdir().unwrap();
    let sample = write_sample(dir.path(), "store.fidx");
    let bytes = fs::read(&sample.path).unwrap();
    let file_len = bytes.len();
    let header_end = header_end(&bytes);

    // (cut length, minimum store length in the expected message)
    let cuts = [
        (1, 40),
        (10, 40),
        (11, 40),
        (15, 40),
        (16, 40),
        (39, 40),
        (40, header_end),
        (header_end - 1, header_end),
        (header_end, file_len),
        (header_end + 100, file_len),
        (file_len / 2, file_len),
        (file_len - 1, file_len),
    ];

    for (cut, expected) in cuts {
        let path = dir.path().join(format!("cut-{cut}.fidx"));
        fs::write(&path, &bytes[..cut]).unwrap();

        assert_eq!(
            open_error(&path),
            format!(
                "PATH: truncated: the file has {cut} bytes, but the store needs at least {expected}; \
                 rebuild it with `fashion-index build`"
            ),
            "cut at {cut}"
        );
    }
}

#[test]
fn flipped_payload_byte() {
    let dir = tempfile::tempdir().unwrap();
    let sample = write_sample(dir.path(), "store.fidx");
    let bytes = fs::read(&sample.path).unwrap();
    let header_end = header_end(&bytes);

    // A byte in the records, in the vector data and the last byte of the file.
    for offset in [header_end + 3, vector_file_offset(&bytes) + 5, bytes.len() - 1] {
        let path = dir.path().join(format!("flipped-{offset}.fidx"));
        let mut damaged = bytes.clone();
        damaged[offset] ^= 0x10;
        fs::write(&path, &damaged).unwrap();

        let err = Store::open(&path, PayloadCheck::Verify).unwrap_err();

        assert_eq!(
            err.to_string(),
            format!(
                "{}: checksum mismatch: the file is corrupt; rebuild it with `fashion-index build`",
                path.display()
            ),
            "offset {offset}"
        );
        assert!(
            matches!(err, StoreError::ChecksumMismatch { region: ChecksumRegion::Payload, stored, computed, .. } if stored != computed),
            "offset {offset}: {err:?}"
        );
    }
}

#[test]
fn flipped_vector_byte_found_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let sample = write_sample(dir.path(), "store.fidx");
    let mut bytes = fs::read(&sample.path).unwrap();
    let store = Store::open(&sample.path, PayloadCheck::Skip).unwrap();
    let map_start = store.vectors().as_ptr() as usize - vector_file_offset(&bytes);
    let offset = store.vector(3).as_ptr() as usize - map_start;
    drop(store);
    // Flipping the lowest mantissa bit keeps the norm within tolerance, so
    // only the checksum can notice.
    bytes[offset] ^= 0x01;
    fs::write(&sample.path, &bytes).unwrap();

    let store = Store::open(&sample.path, PayloadCheck::Skip).unwrap();
    let report = store.verify();

    assert_ne!(store.vector(3), &sample.vectors[3 * common::DIM..4 * common::DIM]);
    assert_eq!(report.issues.len(), 1, "{:?}", report.issues);
    assert!(matches!(report.issues[0], Issue::PayloadChecksumMismatch { stored, computed } if stored != computed));
}

/// Finds the file offset of the vector data: the first offset after the
/// records that is a multiple of 64 and starts the known first vector.
fn vector_file_offset(bytes: &[u8]) -> usize {
    let first = common::unit_vectors(common::SAMPLE_COUNT, common::DIM, 1)[0].to_le_bytes();
    (header_end(bytes).next_multiple_of(64)..bytes.len())
        .step_by(64)
        .find(|&offset| bytes[offset..offset + 4] == first)
        .expect("the first vector is in the file")
}

#[test]
fn flipped_header_byte() {
    let dir = tempfile::tempdir().unwrap();
    let sample = write_sample(dir.path(), "store.fidx");
    let bytes = fs::read(&sample.path).unwrap();
    let header_end = header_end(&bytes);

    // The file length field, the payload checksum field and bytes of the header map.
    for offset in [30, 37, 45, header_end - 1] {
        let path = dir.path().join(format!("flipped-{offset}.fidx"));
        let mut damaged = bytes.clone();
        damaged[offset] ^= 0x01;
        fs::write(&path, &damaged).unwrap();

        assert_eq!(
            open_error(&path),
            "PATH: checksum mismatch: the file is corrupt; rebuild it with `fashion-index build`",
            "offset {offset}"
        );
        assert!(matches!(
            Store::open(&path, PayloadCheck::Skip),
            Err(StoreError::ChecksumMismatch { region: ChecksumRegion::Header, .. })
        ));
    }
}

#[test]
fn other_format_version() {
    let dir = tempfile::tempdir().unwrap();
    let sample = write_sample(dir.path(), "store.fidx");
    let mut bytes = fs::read(&sample.path).unwrap();
    assert_eq!(bytes[11], 0xce, "version marker");
    bytes[12..16].copy_from_slice(&7u32.to_be_bytes());
    fs::write(&sample.path, &bytes).unwrap();

    assert_eq!(
        open_error(&sample.path),
        "PATH: written by format version 7, this build reads version 1; rebuild the index with `fashion-index build`"
    );
}

#[test]
fn trailing_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let sample = write_sample(dir.path(), "store.fidx");
    let mut bytes = fs::read(&sample.path).unwrap();
    let len = bytes.len();
    bytes.extend_from_slice(b"garbage");
    fs::write(&sample.path, &bytes).unwrap();

    assert_eq!(
        open_error(&sample.path),
        format!(
            "PATH: inconsistent store: the file has {} bytes, but its header records {len}; \
             rebuild it with `fashion-index build`",
            len + 7
        )
    );
}

#[test]
fn damaged_records_without_payload_check() {
    let dir = tempfile::tempdir().unwrap();
    let sample = write_sample(dir.path(), "store.fidx");
    let mut bytes = fs::read(&sample.path).unwrap();
    let header_end = header_end(&bytes);
    // The records start with an array marker. Replace it with a string marker.
    assert_eq!(bytes[header_end], 0xdc, "array 16 marker");
    bytes[header_end] = 0xa1;
    fs::write(&sample.path, &bytes).unwrap();

    let err = Store::open(&sample.path, PayloadCheck::Skip).unwrap_err();

    assert_eq!(
        err.to_string(),
        format!("{}: invalid record list; rebuild it with `fashion-index build`", sample.path.display())
    );
    assert!(err.source().is_some(), "the decoding error is kept as the source");
}

#[test]
fn wrong_blob_length_without_payload_check() {
    let dir = tempfile::tempdir().unwrap();
    let sample = write_sample(dir.path(), "store.fidx");
    let mut bytes = fs::read(&sample.path).unwrap();
    let data_offset = vector_file_offset(&bytes);
    // The vector data is a bin 16 (50 x 8 x 4 = 1600 bytes): marker, then a
    // 2-byte length right before the data.
    assert_eq!(bytes[data_offset - 3], 0xc5, "bin 16 marker");
    assert_eq!(u16::from_be_bytes([bytes[data_offset - 2], bytes[data_offset - 1]]), 1600);
    bytes[data_offset - 2..data_offset].copy_from_slice(&1596u16.to_be_bytes());
    fs::write(&sample.path, &bytes).unwrap();

    let err = Store::open(&sample.path, PayloadCheck::Skip).unwrap_err();

    assert_eq!(
        err.to_string(),
        format!(
            "{}: inconsistent store: the vector blob has 1596 bytes, but 50 vectors of dimension 8 need 1600; \
             rebuild it with `fashion-index build`",
            sample.path.display()
        )
    );
}
