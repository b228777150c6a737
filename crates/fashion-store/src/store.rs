//! An opened store: a read-only memory map of the file, with the header and
//! records decoded and the vectors and sections handed out as `&[f32]` slices
//! that point into the map.

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use memmap2::Mmap;

use crate::error::{io_error, StoreError};
use crate::header::StoreHeader;
use crate::parse::{self, PayloadCheck, SectionEntry};
use crate::record::{path_to_bytes, Record};
use crate::writer::Section;

/// A store opened for reading.
///
/// The vectors are not copied: [`vectors`](Self::vectors) and
/// [`section`](Self::section) return slices of the memory map, so opening
/// costs little memory and time whatever the size of the catalogue.
///
/// The map stays valid as long as no program changes the file in place. The
/// writer in this crate never does: it writes a new file and renames it over
/// the old one, and a map of the old file keeps the old contents. Truncating
/// or rewriting a mapped store by other means can crash the process with
/// SIGBUS or change the slices that it holds.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    map: Mmap,
    header: StoreHeader,
    records: Vec<Record>,
    vectors: Range<usize>,
    sections: Vec<SectionEntry>,
    payload: Range<usize>,
    payload_checksum: u32,
}

impl Store {
    /// Opens and validates the store at `path`.
    ///
    /// Always checks the magic number, the format version, the header
    /// checksum, the file length, the structure, the record order and the
    /// blob sizes. `check` selects whether the payload checksum is computed too.
    pub fn open(path: impl AsRef<Path>, check: PayloadCheck) -> Result<Store, StoreError> {
        let path = path.as_ref();
        let started = Instant::now();

        if cfg!(target_endian = "big") {
            return Err(StoreError::BigEndianHost { path: path.to_path_buf() });
        }

        let file = File::open(path).map_err(io_error("open", path))?;
        let len = file.metadata().map_err(io_error("read the metadata of", path))?.len();
        if len == 0 {
            return Err(StoreError::Empty { path: path.to_path_buf() });
        }

        // SAFETY: the map is read-only and lives as long as the `Store`. It
        // becomes invalid only if another program truncates or rewrites the
        // file in place, which the type documentation warns about.
        let map = unsafe { Mmap::map(&file) }.map_err(io_error("memory-map", path))?;
        let parsed = parse::parse(path, &map, check)?;

        let store = Store {
            path: path.to_path_buf(),
            header: parsed.header,
            records: parsed.records,
            vectors: parsed.vectors,
            sections: parsed.sections,
            payload: parsed.payload,
            payload_checksum: parsed.payload_checksum,
            map,
        };

        // Blob data starts at a multiple of 64 bytes in the file, and a map
        // starts on a page boundary, so these casts succeed and the accessors
        // can use the panicking `cast_slice`.
        let blob_ranges = std::iter::once(&store.vectors).chain(store.sections.iter().map(|section| &section.data));
        for range in blob_ranges {
            if let Err(err) = bytemuck::try_cast_slice::<u8, f32>(&store.map[range.clone()]) {
                return Err(StoreError::Inconsistent {
                    path: store.path,
                    detail: format!("the blob at bytes {range:?} cannot be read as f32 values in place: {err}"),
                });
            }
        }

        log::debug!(
            "opened {} in {:?}: {} vectors of dimension {}, {} sections, payload checksum {}",
            path.display(),
            started.elapsed(),
            store.header.count,
            store.header.dim,
            store.sections.len(),
            if check == PayloadCheck::Verify { "verified" } else { "skipped" }
        );
        Ok(store)
    }

    /// Returns the path that the store was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn header(&self) -> &StoreHeader {
        &self.header
    }

    /// Returns the number of f32 values per vector.
    pub fn dim(&self) -> usize {
        self.header.dim
    }

    /// Returns the number of records, which is also the number of vectors.
    pub fn len(&self) -> usize {
        self.header.count
    }

    pub fn is_empty(&self) -> bool {
        self.header.count == 0
    }

    /// Returns the records, sorted by the bytes of their paths.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Returns all vectors as one row-major `len() x dim()` slice of the map.
    pub fn vectors(&self) -> &[f32] {
        bytemuck::cast_slice(&self.map[self.vectors.clone()])
    }

    /// Returns the vector of record `index`.
    ///
    /// # Panics
    ///
    /// Panics if `index >= self.len()`.
    pub fn vector(&self, index: usize) -> &[f32] {
        let dim = self.header.dim;
        &self.vectors()[index * dim..(index + 1) * dim]
    }

    /// Returns the index of the record with the given relative path.
    pub fn find(&self, path: &Path) -> Option<usize> {
        let key = path_to_bytes(path)?;
        self.records
            .binary_search_by(|record| {
                path_to_bytes(&record.path).expect("the paths of opened records have bytes").cmp(key)
            })
            .ok()
    }

    /// Returns the section called `name`, with its data as a slice of the map.
    pub fn section(&self, name: &str) -> Option<Section<'_>> {
        self.sections.iter().find(|section| section.name == name).map(|section| self.borrow_section(section))
    }

    /// Returns all sections in the order they were written.
    pub fn sections(&self) -> impl ExactSizeIterator<Item = Section<'_>> + '_ {
        self.sections.iter().map(|section| self.borrow_section(section))
    }

    /// Checks that the store was built with the model that `expected`
    /// identifies. Fingerprints are compared byte for byte.
    pub fn check_fingerprint(&self, expected: &str) -> Result<(), StoreError> {
        if self.header.fingerprint == expected {
            return Ok(());
        }

        Err(StoreError::FingerprintMismatch {
            path: self.path.clone(),
            expected: expected.to_owned(),
            found: self.header.fingerprint.clone(),
        })
    }

    /// Returns the bytes that the payload checksum covers, and the stored checksum.
    pub(crate) fn payload(&self) -> (&[u8], u32) {
        (&self.map[self.payload.clone()], self.payload_checksum)
    }

    fn borrow_section<'a>(&'a self, section: &'a SectionEntry) -> Section<'a> {
        Section {
            name: &section.name,
            rows: section.rows,
            cols: section.cols,
            data: bytemuck::cast_slice(&self.map[section.data.clone()]),
        }
    }
}
