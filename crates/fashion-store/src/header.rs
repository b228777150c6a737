//! The store header: what identifies a build (model fingerprint, catalogue
//! root, dimension) and the fields that an opened store reports.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The identity of a build's vectors. A store and its resume journal record
/// it, so that vectors from different models or catalogues never mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreSpec<'a> {
    /// Opaque text, JSON by convention, that identifies the model and its
    /// preprocessing. The store compares it byte for byte and never parses it.
    pub fingerprint: &'a str,
    /// The catalogue folder as the caller gave it. Record paths are relative to it.
    pub catalogue_root: &'a Path,
    /// Number of f32 values per vector.
    pub dim: usize,
}

/// The header fields of an opened store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreHeader {
    /// The format version that wrote the file, which is always
    /// [`crate::FORMAT_VERSION`] for a store that opened.
    pub format_version: u32,
    /// The model fingerprint given to the writer.
    pub fingerprint: String,
    /// Number of f32 values per vector.
    pub dim: usize,
    /// Number of records and vectors.
    pub count: usize,
    /// Creation time in seconds since the Unix epoch.
    pub created_unix_s: i64,
    /// The catalogue folder as the writer's caller gave it.
    pub catalogue_root: PathBuf,
    /// Size of the file in bytes.
    pub file_len: u64,
}

/// The header map as it is encoded in element 6 of the file, with named fields.
///
/// Decoding ignores unknown fields, so a later writer of the same format
/// version may add fields.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct HeaderFields {
    pub fingerprint: String,
    pub dim: u32,
    pub count: u64,
    pub created_unix_s: i64,
    #[serde(with = "serde_bytes")]
    pub catalogue_root: Vec<u8>,
}
