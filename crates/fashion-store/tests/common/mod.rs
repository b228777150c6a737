//! Fixtures shared by the integration tests: records, deterministic unit
//! vectors and a small store with sections.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use fashion_store::{write_store, Record, Section, StoreSpec};

pub const FINGERPRINT: &str = r#"{"model":"test-net","dim":8,"preprocess":"resize-224"}"#;
pub const DIM: usize = 8;

pub fn spec() -> StoreSpec<'static> {
    StoreSpec { fingerprint: FINGERPRINT, catalogue_root: Path::new("catalogue/images"), dim: DIM }
}

/// Returns a path from raw bytes, which on Unix need not be UTF-8.
#[cfg(unix)]
pub fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;

    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

/// Returns `count` records sorted by path bytes. On Unix one path is Latin-1
/// "café/veste.jpg", which is not valid UTF-8.
pub fn records(count: usize) -> Vec<Record> {
    let mut paths: Vec<PathBuf> = (0..count).map(|i| PathBuf::from(format!("shirts/{i:05}.jpg"))).collect();
    #[cfg(unix)]
    if count > 0 {
        paths[0] = path_from_bytes(b"caf\xe9/veste.jpg");
    }
    paths.sort_by(|a, b| a.as_os_str().as_encoded_bytes().cmp(b.as_os_str().as_encoded_bytes()));

    paths
        .into_iter()
        .enumerate()
        .map(|(i, path)| Record {
            path,
            size: 10_000 + i as u64,
            mtime_ns: 1_700_000_000_000_000_000 + i as i64 * 1_000_003,
            sha256: [i as u8; 32],
        })
        .collect()
}

/// Returns `count` deterministic vectors of L2 norm 1, row-major.
pub fn unit_vectors(count: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut values: Vec<f32> = (0..count * dim)
        .map(|_| {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let bits = state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
            bits as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();

    for row in values.chunks_exact_mut(dim) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        row.iter_mut().for_each(|v| *v /= norm);
    }
    values
}

/// The contents of the store that `write_sample` writes.
pub struct Sample {
    pub path: PathBuf,
    pub records: Vec<Record>,
    pub vectors: Vec<f32>,
    pub basis: Vec<f32>,
    pub projected: Vec<f32>,
}

pub const SAMPLE_COUNT: usize = 50;
pub const SAMPLE_COMPONENTS: usize = 3;

/// Writes a store of 50 records with two sections, "pca.basis" (3 x 8) and
/// "pca.projected" (50 x 3), to `dir/name`.
pub fn write_sample(dir: &Path, name: &str) -> Sample {
    let path = dir.join(name);
    let records = records(SAMPLE_COUNT);
    let vectors = unit_vectors(SAMPLE_COUNT, DIM, 1);
    let basis = unit_vectors(SAMPLE_COMPONENTS, DIM, 2);
    let projected = unit_vectors(SAMPLE_COUNT, SAMPLE_COMPONENTS, 3);

    let sections = [
        Section { name: "pca.basis", rows: SAMPLE_COMPONENTS, cols: DIM, data: &basis },
        Section { name: "pca.projected", rows: SAMPLE_COUNT, cols: SAMPLE_COMPONENTS, data: &projected },
    ];
    write_store(&path, &spec(), &records, &vectors, &sections).unwrap();

    Sample { path, records, vectors, basis, projected }
}

/// Returns the names of the entries of `dir`, sorted.
pub fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// Returns the bit patterns of `values`, for bit-exact comparisons that also
/// hold for NaN.
pub fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// Reads the header length field (element 3 of the top-level array) of a store.
pub fn header_end(bytes: &[u8]) -> usize {
    assert_eq!(bytes[21], 0xce, "header length marker");
    40 + u32::from_be_bytes(bytes[22..26].try_into().unwrap()) as usize
}
