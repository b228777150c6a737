//! Per-image records and their MessagePack encoding, including the conversion
//! of file paths to and from raw bytes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file behind one vector: enough to tell whether the image changed
/// since it was embedded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// Path of the image relative to the catalogue root.
    pub path: PathBuf,
    /// File size in bytes.
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch, negative before 1970.
    pub mtime_ns: i64,
    /// SHA-256 digest of the file content.
    pub sha256: [u8; 32],
}

/// A record as the writer encodes it: `[path, size, mtime_ns, sha256]`.
#[derive(Serialize)]
pub(crate) struct RecordRef<'a> {
    #[serde(with = "serde_bytes")]
    path: &'a [u8],
    size: u64,
    mtime_ns: i64,
    #[serde(with = "serde_bytes")]
    sha256: &'a [u8; 32],
}

impl<'a> RecordRef<'a> {
    /// Borrows `record` for encoding, or returns `None` if its path has no
    /// byte representation on this platform (see [`path_to_bytes`]).
    pub fn new(record: &'a Record) -> Option<Self> {
        Some(RecordRef {
            path: path_to_bytes(&record.path)?,
            size: record.size,
            mtime_ns: record.mtime_ns,
            sha256: &record.sha256,
        })
    }
}

/// A record as the reader decodes it.
#[derive(Deserialize)]
pub(crate) struct RecordBuf {
    #[serde(with = "serde_bytes")]
    path: Vec<u8>,
    size: u64,
    mtime_ns: i64,
    #[serde(with = "serde_bytes")]
    sha256: [u8; 32],
}

impl RecordBuf {
    /// Converts the decoded fields to a [`Record`], or returns the path bytes
    /// back if they are not a path on this platform.
    pub fn into_record(self) -> Result<Record, Vec<u8>> {
        Ok(Record { path: path_from_bytes(self.path)?, size: self.size, mtime_ns: self.mtime_ns, sha256: self.sha256 })
    }
}

/// Returns the bytes that a store keeps for `path`.
///
/// On Unix these are the raw bytes of the OS string, so file names that are
/// not UTF-8 survive a round trip. Elsewhere the path must be valid Unicode
/// and is stored as UTF-8; `None` means it is not.
#[cfg(unix)]
pub(crate) fn path_to_bytes(path: &Path) -> Option<&[u8]> {
    use std::os::unix::ffi::OsStrExt;

    Some(path.as_os_str().as_bytes())
}

/// Returns the bytes that a store keeps for `path`: its UTF-8 text, or `None`
/// if it is not valid Unicode.
// NOTE: only the Unix variant is built and tested. Stores are not portable
// between Unix and Windows because the separator inside the path differs.
#[cfg(not(unix))]
pub(crate) fn path_to_bytes(path: &Path) -> Option<&[u8]> {
    path.to_str().map(str::as_bytes)
}

/// Converts bytes written by [`path_to_bytes`] back to a path, or returns them
/// unchanged if they are not a path on this platform.
#[cfg(unix)]
pub(crate) fn path_from_bytes(bytes: Vec<u8>) -> Result<PathBuf, Vec<u8>> {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    Ok(PathBuf::from(OsString::from_vec(bytes)))
}

/// Converts bytes written by [`path_to_bytes`] back to a path, or returns them
/// unchanged if they are not UTF-8.
#[cfg(not(unix))]
pub(crate) fn path_from_bytes(bytes: Vec<u8>) -> Result<PathBuf, Vec<u8>> {
    String::from_utf8(bytes).map(PathBuf::from).map_err(|err| err.into_bytes())
}

/// Checks that records can be written as a store: relative paths with a byte
/// representation, in strictly ascending byte order (so they are unique).
///
/// Returns a description of the first violation.
pub(crate) fn check_records(records: &[Record]) -> Result<(), String> {
    let mut previous: Option<(&Record, &[u8])> = None;

    for (index, record) in records.iter().enumerate() {
        let Some(bytes) = path_to_bytes(&record.path) else {
            return Err(format!("record {index} has the path {}, which is not valid Unicode", record.path.display()));
        };

        if bytes.is_empty() || record.path.is_absolute() {
            return Err(format!(
                "record {index} has the path {:?}, but paths must be relative to the catalogue root",
                record.path
            ));
        }

        if let Some((previous_record, previous_bytes)) = previous {
            if previous_bytes >= bytes {
                return Err(format!(
                    "record {index} has the path {:?}, which does not sort after the path {:?} of record {}, \
                     but records must be sorted by the bytes of their paths without duplicates",
                    record.path,
                    previous_record.path,
                    index - 1
                ));
            }
        }
        previous = Some((record, bytes));
    }

    Ok(())
}
