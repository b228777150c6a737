//! The on-disk embedding store of a catalogue: one record and one f32 vector
//! per image, plus named f32 sections such as a PCA basis.
//!
//! `fashion-index` writes a store with [`write_store`] or [`StoreWriter`],
//! and `fashion-query` opens it with [`Store::open`]. Opening memory-maps the
//! file and hands out `&[f32]` slices that point into the map, so a store of
//! 43,772 vectors of dimension 2048 (358 MB) opens without copying them.
//!
//! # File format
//!
//! A store is a single MessagePack value, so generic MessagePack tools can
//! decode it. [`format`] documents the layout. In short: a
//! fixed-size prelude (magic number, format version, checksums, lengths), a
//! header map, the records, the vectors as one bin of little-endian f32, and
//! the sections. Every f32 blob starts at a file offset that is a multiple
//! of 64, which a padding bin before it arranges.
//!
//! Two CRC-32 checksums protect the file. The header checksum covers the
//! prelude and the header, and opening always checks it. The payload checksum
//! covers everything after the header, and [`PayloadCheck`] selects whether
//! opening computes it. [`Store::verify`] always computes it.
//!
//! Computing the payload checksum of a 361 MB store adds about 45 to 60 ms to
//! opening it from a warm page cache (see [`PayloadCheck`] for the numbers).
//! In a one-off comparison on a 358 MB buffer, `crc32fast` 1.5 took 55 to
//! 75 ms and XXH3-64 from `xxhash-rust` 0.8 took 47 to 69 ms. Memory bandwidth
//! limits both (release build, 2 shared cores of an AMD EPYC host).
//! The store uses CRC-32 because `crc32fast` is already in the workspace's
//! dependency tree.
//!
//! # Atomic writes
//!
//! The writer builds the store in a temporary file in the target's directory,
//! syncs it, renames it over the target and syncs the directory. An error or
//! a crash at any point leaves the previous store intact, and a reader that
//! mapped the previous store keeps reading it.
//!
//! # Resuming a build
//!
//! A [`Journal`] is an append-only file next to the store, to which the
//! indexer appends each finished batch. After a crash, [`Journal::open`]
//! returns the complete batches and drops a torn last one.
//!
//! # Records
//!
//! Record paths are relative to the catalogue root and stored as bytes. On
//! Unix these are the raw bytes of the file name, so names that are not UTF-8
//! survive. A store's records are sorted by these bytes without duplicates,
//! so [`Store::find`] is a binary search. The writer rejects unsorted records.
//!
//! # Platforms
//!
//! Stores contain little-endian f32 values, and the reader returns them in
//! place. On a big-endian host, [`Store::open`] returns
//! [`StoreError::BigEndianHost`]. The writer and the journal convert the
//! values there, but no test runs that conversion.
//!
//! # Tests
//!
//! `cargo test --release -p fashion-store` runs every test that needs no
//! large data. The ignored test `large_store_timing` in `tests/large_store.rs`
//! writes a synthetic store of 43,772 x 2048 vectors (358 MB) to a temporary
//! directory and prints the time of opening with and without the payload
//! checksum and of [`Store::verify`]. Run it with
//! `cargo test --release -p fashion-store --test large_store -- --ignored --nocapture`.
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//! use fashion_store::{write_store, PayloadCheck, Record, Store, StoreSpec};
//!
//! # fn main() -> Result<(), fashion_store::StoreError> {
//! let dir = tempfile::tempdir().unwrap();
//! let store_path = dir.path().join("catalogue.fidx");
//! let spec = StoreSpec {
//!     fingerprint: r#"{"model":"example"}"#,
//!     catalogue_root: Path::new("dataset"),
//!     dim: 2,
//! };
//! let records = vec![
//!     Record { path: "a.jpg".into(), size: 10, mtime_ns: 0, sha256: [0; 32] },
//!     Record { path: "b.jpg".into(), size: 20, mtime_ns: 0, sha256: [1; 32] },
//! ];
//! write_store(&store_path, &spec, &records, &[1.0, 0.0, 0.0, 1.0], &[])?;
//!
//! let store = Store::open(&store_path, PayloadCheck::Verify)?;
//! store.check_fingerprint(spec.fingerprint)?;
//! assert_eq!(store.find(Path::new("b.jpg")), Some(1));
//! assert_eq!(store.vector(1), &[0.0, 1.0]);
//! # Ok(())
//! # }
//! ```

mod error;
pub mod format;
mod header;
mod journal;
mod parse;
mod record;
mod store;
mod verify;
mod writer;

pub use error::{ChecksumRegion, StoreError};
pub use format::{BLOB_ALIGNMENT, FORMAT_VERSION, MAGIC};
pub use header::{StoreHeader, StoreSpec};
pub use journal::{Journal, JournalEntry, Recovery, JOURNAL_MAGIC, JOURNAL_VERSION};
pub use parse::PayloadCheck;
pub use record::Record;
pub use store::Store;
pub use verify::{Issue, VerifyReport, NORM_TOLERANCE};
pub use writer::{write_store, Section, StoreWriter};
