//! Damaged and mismatched index files, as `fashion-index info`, `verify` and
//! `build` report them.
//!
//! The byte offsets below follow the fixed-size prelude that the module
//! documentation of `fashion_store::format` lays out. It starts with a
//! fixarray marker and the magic number as a bin 8. Then come uint 32 fields
//! of a marker byte and 4 big-endian bytes each, and one uint 64 (9 bytes)
//! for the file length.

mod common;

use std::fs;
use std::path::Path;

use common::Workspace;
use fashion_store::{PayloadCheck, Store, FORMAT_VERSION};

/// The uint 32 marker byte that precedes each fixed-width prelude field.
const MARKER_UINT32: u8 = 0xce;
/// Element 1, the format version: marker byte, then 4 bytes.
const VERSION_OFFSET: usize = 11;
/// Element 3, the length of the header map in bytes.
const HEADER_LEN_OFFSET: usize = 21;
/// Element 5, the CRC-32 of everything after the header map.
const PAYLOAD_CHECKSUM_OFFSET: usize = 35;
/// End of the prelude, where the header map starts.
const HEADER_OFFSET: usize = 40;

/// Builds an index of three photos and returns the workspace and index path.
fn built_index() -> (Workspace, std::path::PathBuf) {
    let workspace = Workspace::new();
    workspace.add_photos(0, 3);
    let index = workspace.index();
    let run = workspace.build(&index, &["--quiet"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    (workspace, index)
}

fn read_u32_field(bytes: &[u8], offset: usize) -> u32 {
    assert_eq!(bytes[offset], MARKER_UINT32, "the store layout changed: no uint 32 at offset {offset}");
    u32::from_be_bytes(bytes[offset + 1..offset + 5].try_into().unwrap())
}

fn info_and_verify(workspace: &Workspace, index: &Path) -> [common::Run; 2] {
    ["info", "verify"].map(|command| workspace.run([command.as_ref(), index.as_os_str()]))
}

#[test]
fn truncated_store_exits_two() {
    let (workspace, index) = built_index();
    let full_len = fs::metadata(&index).unwrap().len();
    let bytes = fs::read(&index).unwrap();
    fs::write(&index, &bytes[..1000]).unwrap();

    let expected = format!(
        "fashion-index: {}: truncated: the file has 1000 bytes, but the store needs at least {full_len}; \
         rebuild it with `fashion-index build`\n",
        index.display()
    );
    for run in info_and_verify(&workspace, &index) {
        assert_eq!(run.code, Some(2), "{run:?}");
        assert_eq!(run.stderr, expected);
        assert_eq!(run.stdout, "");
    }
}

#[test]
fn flipped_payload_byte_fails_verify() {
    let (workspace, index) = built_index();
    let mut bytes = fs::read(&index).unwrap();

    // Flip the lowest mantissa bit of the first stored vector value: the
    // store still parses and the norm stays within tolerance, so only the
    // payload checksum can notice.
    let first_vector: Vec<u8> = {
        let store = Store::open(&index, PayloadCheck::Verify).unwrap();
        store.vector(0)[..4].iter().flat_map(|value| value.to_le_bytes()).collect()
    };
    let offset = bytes
        .windows(first_vector.len())
        .position(|window| window == first_vector)
        .expect("the first vector's bytes are in the file");
    bytes[offset] ^= 0x01;
    fs::write(&index, &bytes).unwrap();

    let stored = read_u32_field(&bytes, PAYLOAD_CHECKSUM_OFFSET);
    let header_len = read_u32_field(&bytes, HEADER_LEN_OFFSET) as usize;
    let computed = crc32fast::hash(&bytes[HEADER_OFFSET + header_len..]);
    assert_ne!(stored, computed);
    let problem = format!("payload checksum mismatch: stored CRC-32 {stored:#010x}, computed {computed:#010x}");

    let verify = workspace.run(["verify".as_ref(), index.as_os_str()]);
    assert_eq!(verify.code, Some(1), "{verify:?}");
    assert_eq!(verify.stdout, format!("{}: {problem}\n", index.display()));
    assert_eq!(verify.stderr, "");

    let verify_json = workspace.run(["verify".as_ref(), index.as_os_str(), "--json".as_ref()]);
    assert_eq!(verify_json.code, Some(1), "{verify_json:?}");
    let report = verify_json.json();
    assert_eq!(report["ok"], false);
    assert_eq!(report["count"], 3);
    assert_eq!(report["problems"], serde_json::json!([problem]));

    // `info` reads only the header, whose own checksum still matches.
    let info = workspace.run(["info".as_ref(), index.as_os_str(), "--json".as_ref()]);
    assert_eq!(info.code, Some(0), "{info:?}");
    assert_eq!(info.json()["count"], 3);
}

#[test]
fn other_format_version_exits_two() {
    let (workspace, index) = built_index();
    let mut bytes = fs::read(&index).unwrap();
    assert_eq!(read_u32_field(&bytes, VERSION_OFFSET), FORMAT_VERSION);
    let other_version = FORMAT_VERSION + 1;
    bytes[VERSION_OFFSET + 1..VERSION_OFFSET + 5].copy_from_slice(&other_version.to_be_bytes());
    fs::write(&index, &bytes).unwrap();

    let expected = format!(
        "fashion-index: {}: written by format version {other_version}, this build reads version {FORMAT_VERSION}; \
         rebuild the index with `fashion-index build`\n",
        index.display()
    );
    for run in info_and_verify(&workspace, &index) {
        assert_eq!(run.code, Some(2), "{run:?}");
        assert_eq!(run.stderr, expected);
    }

    // A build does not overwrite a file it cannot read without --rebuild.
    let build = workspace.build(&index, &[]);
    assert_eq!(build.code, Some(2), "{build:?}");
    assert_eq!(build.stderr, expected);
    assert_eq!(fs::read(&index).unwrap(), bytes);
}

#[test]
fn other_resize_mode_needs_rebuild() {
    let workspace = Workspace::new();
    workspace.add_photos(0, 3);
    let index = workspace.index();
    let padded = workspace.build(&index, &["--quiet", "--resize", "pad"]);
    assert_eq!(padded.code, Some(0), "{padded:?}");
    let previous = fs::read(&index).unwrap();

    let squashed = workspace.build(&index, &["--resize", "squash"]);

    assert_eq!(squashed.code, Some(2), "{squashed:?}");
    assert_eq!(
        squashed.stderr,
        format!(
            "fashion-index: {}: the index was built with model efficientnet-lite0, resize pad, \
             but this build uses model efficientnet-lite0, resize squash; \
             pass --rebuild to replace it, or choose another --index\n",
            index.display()
        )
    );
    assert_eq!(fs::read(&index).unwrap(), previous, "the failed build changed the index");

    let rebuilt = workspace.build(&index, &["--resize", "squash", "--rebuild", "--json"]);
    assert_eq!(rebuilt.code, Some(0), "{rebuilt:?}");
    assert_eq!(rebuilt.json()["embedded"], 3);
    let info = workspace.run(["info".as_ref(), index.as_os_str(), "--json".as_ref()]);
    assert_eq!(info.json()["resize"], "squash", "{info:?}");
}

/// Weights of the same architecture with other values, here one changed
/// byte, give other vectors, so the build names both SHA-256 digests.
#[test]
fn other_weights_need_rebuild() {
    let (workspace, index) = built_index();
    let original = common::weights("efficientnet-lite0");
    let modified = workspace.root.join("modified-lite0.safetensors");
    let mut weight_bytes = fs::read(&original).unwrap();
    let last_value = weight_bytes.len() - 4;
    weight_bytes[last_value] ^= 0x01;
    fs::write(&modified, &weight_bytes).unwrap();
    let original_sha256 = fashion_core::weights::sha256_file(&original).unwrap();
    let modified_sha256 = fashion_core::weights::sha256_file(&modified).unwrap();
    let previous = fs::read(&index).unwrap();

    let run = workspace.run([
        "build".as_ref(),
        workspace.catalogue().as_os_str(),
        "--index".as_ref(),
        index.as_os_str(),
        "--weights".as_ref(),
        modified.as_os_str(),
    ]);

    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "fashion-index: {}: the index was built with model efficientnet-lite0, resize squash, \
             weights sha256 {original_sha256}, but this build uses model efficientnet-lite0, resize squash, \
             weights sha256 {modified_sha256}; pass --rebuild to replace it, or choose another --index\n",
            index.display()
        )
    );
    assert_eq!(fs::read(&index).unwrap(), previous, "the failed build changed the index");
}

#[test]
fn missing_default_index_says_how_to_build() {
    let workspace = Workspace::new();

    for command in ["info", "verify"] {
        let run = workspace.run([command]);

        assert_eq!(run.code, Some(2), "{run:?}");
        assert_eq!(
            run.stderr,
            "fashion-index: fashion.fidx: no index here; build one with `fashion-index build CATALOGUE` \
             or pass the index path (the default is $FASHION_INDEX, else fashion.fidx)\n"
        );
    }
}
