//! The error type of every store and journal operation.
//!
//! Each variant carries the path of the file involved, and each message states
//! what is wrong and how to fix it. Variants that wrap a lower-level
//! error keep it as the `#[source]`, so error reporters print the cause chain.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Errors raised while reading, writing or verifying a store or a journal.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A system call on the file failed.
    #[error("failed to {operation} {}", .path.display())]
    Io {
        /// The operation that failed, phrased to follow "failed to", such as "open".
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The file has no bytes at all.
    #[error("{}: the file is empty, so it is not a fashion index; build one with `fashion-index build`", .path.display())]
    Empty { path: PathBuf },

    /// The file does not start with the store's magic number.
    #[error("{}: not a fashion index (bad magic number); build one with `fashion-index build`", .path.display())]
    NotAStore { path: PathBuf },

    /// The file does not start with the journal's magic number.
    #[error("{}: not a fashion index resume journal (bad magic number); delete it to restart the build from scratch", .path.display())]
    NotAJournal { path: PathBuf },

    /// The journal's header or one of its complete entries cannot be read.
    /// A torn last entry is not an error: [`crate::Journal::open`] drops it.
    #[error("{}: cannot resume from this journal: {detail}; delete it to restart the build from scratch", .path.display())]
    JournalUnreadable {
        path: PathBuf,
        detail: String,
        #[source]
        source: Option<rmp_serde::decode::Error>,
    },

    /// The file was written in a format version that this build cannot read.
    #[error("{}: written by format version {found}, this build reads version {supported}; rebuild the index with `fashion-index build`", .path.display())]
    UnsupportedVersion { path: PathBuf, found: u32, supported: u32 },

    /// The file ends before the data that its own fields describe.
    #[error("{}: truncated: the file has {len} bytes, but the store needs at least {expected}; rebuild it with `fashion-index build`", .path.display())]
    Truncated { path: PathBuf, len: u64, expected: u64 },

    /// A stored CRC-32 does not match the bytes that it covers.
    #[error("{}: checksum mismatch: the file is corrupt; rebuild it with `fashion-index build`", .path.display())]
    ChecksumMismatch { path: PathBuf, region: ChecksumRegion, stored: u32, computed: u32 },

    /// The structure decodes, but its parts disagree, for example a vector
    /// blob whose length is not count x dimension x 4 bytes.
    #[error("{}: inconsistent store: {detail}; rebuild it with `fashion-index build`", .path.display())]
    Inconsistent { path: PathBuf, detail: String },

    /// A MessagePack value inside the file does not decode as the expected type.
    #[error("{}: invalid {part}; rebuild it with `fashion-index build`", .path.display())]
    Decode {
        path: PathBuf,
        /// The part of the file that failed to decode, such as "header".
        part: &'static str,
        #[source]
        source: rmp_serde::decode::Error,
    },

    /// The store was built with another model than the caller expects.
    #[error("{}: the index was built with model {found}, but this run uses model {expected}; rebuild the index with `fashion-index build`", .path.display())]
    FingerprintMismatch { path: PathBuf, expected: String, found: String },

    /// The journal on disk belongs to a build with another model, catalogue or
    /// dimension.
    #[error("{}: the resume journal belongs to another build ({field} is {found}, but this build uses {expected}); delete it to restart the build from scratch", .path.display())]
    JournalMismatch {
        path: PathBuf,
        /// The header field that differs: "model fingerprint", "catalogue root" or "dimension".
        field: &'static str,
        expected: String,
        found: String,
    },

    /// The caller passed data that cannot be written, such as unsorted records
    /// or a vector slice of the wrong length.
    #[error("cannot write {}: {detail}", .path.display())]
    InvalidInput { path: PathBuf, detail: String },

    /// Stores contain little-endian floats that are handed out without a copy,
    /// which a big-endian host cannot read.
    #[error("{}: this host is big-endian, but stores contain little-endian f32 values that are read in place without conversion", .path.display())]
    BigEndianHost { path: PathBuf },
}

impl StoreError {
    /// Returns whether the error is an I/O error for a file that does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// The part of a file that a CRC-32 covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumRegion {
    /// The fixed-size fields after the header checksum and the header map.
    Header,
    /// Everything after the header: records, vectors and sections.
    Payload,
}

impl fmt::Display for ChecksumRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChecksumRegion::Header => f.write_str("header"),
            ChecksumRegion::Payload => f.write_str("payload"),
        }
    }
}

/// Returns a closure that wraps an [`io::Error`] into [`StoreError::Io`].
pub(crate) fn io_error<'a>(
    operation: &'static str,
    path: &'a std::path::Path,
) -> impl Fn(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io { operation, path: path.to_path_buf(), source }
}
