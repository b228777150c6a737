//! The resume journal of a build: an append-only file next to the store to
//! which the indexer appends one entry per finished batch, so that a killed
//! build can resume without embedding those images again.
//!
//! Layout, with every integer little-endian:
//!
//! ```text
//! magic "FASHJRNL" (8 bytes) | version u32 | header frame | entry frame ...
//! frame = payload length u32 | CRC-32 of the payload u32 | payload
//! ```
//!
//! The header payload is a MessagePack map with the fingerprint, catalogue
//! root and dimension of the build. An entry payload is a MessagePack array
//! `[records, vectors]`, where the vectors are one bin of little-endian f32.
//!
//! [`Journal::create`] writes the header atomically, like a store, and each
//! [`Journal::append`] syncs its frame before it returns. A crash can
//! therefore leave only a torn last frame, which [`Journal::open`] detects by
//! its length or checksum, drops, and cuts off the file.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{io_error, StoreError};
use crate::format::{f32_from_le_bytes, f32_le_bytes};
use crate::header::StoreSpec;
use crate::record::{path_from_bytes, path_to_bytes, Record, RecordBuf, RecordRef};
use crate::writer::{create_temp_file, parent_dir, sync_dir};

/// The bytes that identify a journal.
pub const JOURNAL_MAGIC: [u8; 8] = *b"FASHJRNL";

/// The journal format version that this build writes and reads.
pub const JOURNAL_VERSION: u32 = 1;

/// Size of the magic number and the version.
const PREFIX_LEN: u64 = 12;

/// Size of a frame's length and checksum fields.
const FRAME_HEADER_LEN: u64 = 8;

/// An open journal, positioned to append after its last complete entry.
///
/// NOTE: the journal takes no file lock, so two builds of the same store
/// running at once would interleave their entries.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    dim: usize,
    /// Offset of the end of the last complete frame, where the next one goes.
    end: u64,
}

/// One batch read back from a journal.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    pub records: Vec<Record>,
    /// One row of `dim` values per record, in record order.
    pub vectors: Vec<f32>,
}

/// The entries that [`Journal::open`] read back, and the size of the dropped tail.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovery {
    /// The complete entries, in the order they were appended.
    pub entries: Vec<JournalEntry>,
    /// Bytes of the torn tail that were dropped and cut off the file.
    pub dropped_bytes: u64,
}

#[derive(Serialize, Deserialize)]
struct JournalHeader {
    fingerprint: String,
    #[serde(with = "serde_bytes")]
    catalogue_root: Vec<u8>,
    dim: u64,
}

#[derive(Serialize)]
struct EntryRef<'a> {
    records: Vec<RecordRef<'a>>,
    #[serde(with = "serde_bytes")]
    vectors: &'a [u8],
}

#[derive(Deserialize)]
struct EntryBuf {
    records: Vec<RecordBuf>,
    #[serde(with = "serde_bytes")]
    vectors: Vec<u8>,
}

/// The outcome of reading one frame.
enum Frame {
    Complete(Vec<u8>),
    /// No bytes remain: the previous frame was the last one.
    End,
    /// The remaining bytes are not a complete frame with a matching checksum.
    Torn(String),
}

impl Journal {
    /// Returns the journal path for a store: the store path with `.partial` appended.
    pub fn path_for(store_path: &Path) -> PathBuf {
        let mut path = store_path.as_os_str().to_owned();
        path.push(".partial");
        PathBuf::from(path)
    }

    /// Creates an empty journal for the build that `spec` identifies,
    /// replacing any file at `path`.
    pub fn create(path: impl AsRef<Path>, spec: &StoreSpec<'_>) -> Result<Journal, StoreError> {
        let path = path.as_ref();

        let header =
            encode_header(spec).map_err(|detail| StoreError::InvalidInput { path: path.to_path_buf(), detail })?;
        let mut bytes = Vec::with_capacity(PREFIX_LEN as usize + FRAME_HEADER_LEN as usize + header.len());
        bytes.extend_from_slice(&JOURNAL_MAGIC);
        bytes.extend_from_slice(&JOURNAL_VERSION.to_le_bytes());
        push_frame(&mut bytes, &header);

        let mut temp = create_temp_file(path)?;
        temp.write_all(&bytes)
            .and_then(|()| temp.as_file().sync_all())
            .map_err(io_error("write the temporary file for", path))?;
        let file = temp.persist(path).map_err(|err| io_error("rename the temporary file to", path)(err.error))?;
        let dir = parent_dir(path);
        sync_dir(dir).map_err(io_error("sync the directory", dir))?;

        log::debug!("created the journal {}", path.display());
        Ok(Journal { path: path.to_path_buf(), file, dim: spec.dim, end: bytes.len() as u64 })
    }

    /// Opens an existing journal, checks that it belongs to the build that
    /// `spec` identifies, and reads its complete entries.
    ///
    /// A torn tail is dropped and cut off the file, so that the next append
    /// follows the last complete entry. A damaged entry in the middle of the
    /// file looks like a torn tail, so it is dropped with all entries after it.
    pub fn open(path: impl AsRef<Path>, spec: &StoreSpec<'_>) -> Result<(Journal, Recovery), StoreError> {
        let path = path.as_ref();
        let read_error = io_error("read", path);

        let file = File::options().read(true).write(true).open(path).map_err(io_error("open", path))?;
        let len = file.metadata().map_err(io_error("read the metadata of", path))?.len();
        let mut reader = BufReader::with_capacity(1 << 20, &file);

        read_prefix(path, &mut reader, len)?;
        let header = match read_frame(&mut reader, len - PREFIX_LEN).map_err(&read_error)? {
            Frame::Complete(payload) => payload,
            Frame::End | Frame::Torn(_) => {
                return Err(unreadable(path, "the header is missing or damaged".to_owned(), None))
            }
        };
        check_header(path, &header, spec)?;

        let mut end = PREFIX_LEN + FRAME_HEADER_LEN + header.len() as u64;
        let mut entries = Vec::new();
        loop {
            let payload = match read_frame(&mut reader, len - end).map_err(&read_error)? {
                Frame::Complete(payload) => payload,
                Frame::End => break,
                Frame::Torn(reason) => {
                    log::debug!(
                        "{}: dropping {} bytes after entry {}: {reason}",
                        path.display(),
                        len - end,
                        entries.len()
                    );
                    break;
                }
            };

            entries.push(decode_entry(path, &payload, spec.dim, entries.len())?);
            end += FRAME_HEADER_LEN + payload.len() as u64;
        }
        drop(reader);

        let dropped_bytes = len - end;
        if dropped_bytes > 0 {
            file.set_len(end).and_then(|()| file.sync_all()).map_err(io_error("cut the torn tail off", path))?;
        }

        log::debug!("opened the journal {}: {} entries, {dropped_bytes} bytes dropped", path.display(), entries.len());
        let journal = Journal { path: path.to_path_buf(), file, dim: spec.dim, end };
        Ok((journal, Recovery { entries, dropped_bytes }))
    }

    /// Opens the journal at `path` like [`open`](Self::open), or creates an
    /// empty one if no file exists there.
    pub fn open_or_create(path: impl AsRef<Path>, spec: &StoreSpec<'_>) -> Result<(Journal, Recovery), StoreError> {
        let path = path.as_ref();
        match Journal::open(path, spec) {
            Err(err) if err.is_not_found() => Ok((Journal::create(path, spec)?, Recovery::default())),
            result => result,
        }
    }

    /// Returns the path of the journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one batch and syncs it to disk before returning.
    ///
    /// `vectors` contains one row of `dim` values per record. If writing
    /// fails, the partial frame is cut off again so that later appends stay
    /// readable.
    pub fn append(&mut self, records: &[Record], vectors: &[f32]) -> Result<(), StoreError> {
        let frame = self
            .encode_frame(records, vectors)
            .map_err(|detail| StoreError::InvalidInput { path: self.path.clone(), detail })?;

        if let Err(err) = self.write_at_end(&frame) {
            if let Err(cut_err) = self.file.set_len(self.end) {
                log::warn!("{}: failed to cut off a partial entry after a write error: {cut_err}", self.path.display());
            }
            return Err(io_error("append to", &self.path)(err));
        }

        self.end += frame.len() as u64;
        Ok(())
    }

    /// Deletes the journal, which the indexer does once the store it
    /// describes is written.
    pub fn remove(self) -> Result<(), StoreError> {
        let Journal { path, file, .. } = self;
        drop(file);

        fs::remove_file(&path).map_err(io_error("remove", &path))?;
        let dir = parent_dir(&path);
        sync_dir(dir).map_err(io_error("sync the directory", dir))?;
        log::debug!("removed the journal {}", path.display());
        Ok(())
    }

    fn encode_frame(&self, records: &[Record], vectors: &[f32]) -> Result<Vec<u8>, String> {
        if Some(vectors.len()) != records.len().checked_mul(self.dim) {
            return Err(format!(
                "{} values are not one vector of dimension {} for each of the {} records",
                vectors.len(),
                self.dim,
                records.len()
            ));
        }

        let encoded_records = records
            .iter()
            .map(|record| {
                RecordRef::new(record).ok_or_else(|| format!("the path {} is not valid Unicode", record.path.display()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let vector_bytes = f32_le_bytes(vectors);
        let entry = EntryRef { records: encoded_records, vectors: &vector_bytes };
        let payload = rmp_serde::to_vec(&entry).expect("records and bytes always encode");

        if u32::try_from(payload.len()).is_err() {
            return Err(format!(
                "the entry of {} bytes exceeds the 4 GiB frame limit; append smaller batches",
                payload.len()
            ));
        }
        let mut frame = Vec::with_capacity(FRAME_HEADER_LEN as usize + payload.len());
        push_frame(&mut frame, &payload);
        Ok(frame)
    }

    fn write_at_end(&mut self, frame: &[u8]) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(self.end))?;
        self.file.write_all(frame)?;
        self.file.sync_data()
    }
}

fn encode_header(spec: &StoreSpec<'_>) -> Result<Vec<u8>, String> {
    let catalogue_root = path_to_bytes(spec.catalogue_root)
        .ok_or_else(|| format!("the catalogue root {} is not valid Unicode", spec.catalogue_root.display()))?;
    if spec.dim == 0 {
        return Err("the dimension is 0".to_owned());
    }

    let header = JournalHeader {
        fingerprint: spec.fingerprint.to_owned(),
        catalogue_root: catalogue_root.to_vec(),
        dim: spec.dim as u64,
    };
    Ok(rmp_serde::to_vec_named(&header).expect("strings, integers and bytes always encode"))
}

/// Appends a frame holding `payload` to `out`.
fn push_frame(out: &mut Vec<u8>, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("callers check the frame size");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Reads the next frame, given the number of bytes left in the file.
fn read_frame(reader: &mut impl Read, remaining: u64) -> io::Result<Frame> {
    if remaining == 0 {
        return Ok(Frame::End);
    }
    if remaining < FRAME_HEADER_LEN {
        return Ok(Frame::Torn(format!("{remaining} bytes are too few for a frame header")));
    }

    let mut frame_header = [0u8; FRAME_HEADER_LEN as usize];
    reader.read_exact(&mut frame_header)?;
    let len = u32::from_le_bytes(frame_header[..4].try_into().expect("4 bytes"));
    let checksum = u32::from_le_bytes(frame_header[4..].try_into().expect("4 bytes"));

    if u64::from(len) > remaining - FRAME_HEADER_LEN {
        return Ok(Frame::Torn(format!("the frame has {len} bytes, but only {} remain", remaining - FRAME_HEADER_LEN)));
    }

    let mut payload = vec![0; len as usize];
    reader.read_exact(&mut payload)?;
    if crc32fast::hash(&payload) != checksum {
        return Ok(Frame::Torn("the frame's checksum does not match".to_owned()));
    }
    Ok(Frame::Complete(payload))
}

/// Checks the magic number and the version.
fn read_prefix(path: &Path, reader: &mut impl Read, len: u64) -> Result<(), StoreError> {
    let mut prefix = [0u8; PREFIX_LEN as usize];
    let available = len.min(PREFIX_LEN) as usize;
    reader.read_exact(&mut prefix[..available]).map_err(io_error("read", path))?;

    let magic_len = available.min(JOURNAL_MAGIC.len());
    if prefix[..magic_len] != JOURNAL_MAGIC[..magic_len] || available == 0 {
        return Err(StoreError::NotAJournal { path: path.to_path_buf() });
    }
    if available < PREFIX_LEN as usize {
        return Err(unreadable(path, format!("the file ends after {len} bytes, inside the header"), None));
    }

    let version = u32::from_le_bytes(prefix[8..].try_into().expect("4 bytes"));
    if version != JOURNAL_VERSION {
        return Err(unreadable(
            path,
            format!("it was written by journal format version {version}, this build reads version {JOURNAL_VERSION}"),
            None,
        ));
    }
    Ok(())
}

/// Checks that the journal's header matches the build that `spec` identifies.
fn check_header(path: &Path, payload: &[u8], spec: &StoreSpec<'_>) -> Result<(), StoreError> {
    let header: JournalHeader = rmp_serde::from_slice(payload)
        .map_err(|err| unreadable(path, "the header does not decode".to_owned(), Some(err)))?;
    let mismatch = |field, expected: String, found: String| StoreError::JournalMismatch {
        path: path.to_path_buf(),
        field,
        expected,
        found,
    };

    if header.fingerprint != spec.fingerprint {
        return Err(mismatch("model fingerprint", spec.fingerprint.to_owned(), header.fingerprint));
    }

    let expected_root = path_to_bytes(spec.catalogue_root);
    if expected_root != Some(header.catalogue_root.as_slice()) {
        let found = match path_from_bytes(header.catalogue_root) {
            Ok(root) => root.display().to_string(),
            Err(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        };
        return Err(mismatch("catalogue root", spec.catalogue_root.display().to_string(), found));
    }

    if header.dim != spec.dim as u64 {
        return Err(mismatch("dimension", spec.dim.to_string(), header.dim.to_string()));
    }
    Ok(())
}

/// Decodes entry number `index` and checks that it has a vector per record.
fn decode_entry(path: &Path, payload: &[u8], dim: usize, index: usize) -> Result<JournalEntry, StoreError> {
    let entry: EntryBuf = rmp_serde::from_slice(payload)
        .map_err(|err| unreadable(path, format!("entry {index} does not decode"), Some(err)))?;

    let expected = entry.records.len() as u128 * dim as u128 * 4;
    if entry.vectors.len() as u128 != expected {
        return Err(unreadable(
            path,
            format!(
                "entry {index} has {} bytes of vectors, but {} records of dimension {dim} need {expected}",
                entry.vectors.len(),
                entry.records.len()
            ),
            None,
        ));
    }

    let records =
        entry.records.into_iter().map(RecordBuf::into_record).collect::<Result<Vec<_>, _>>().map_err(|bytes| {
            unreadable(
                path,
                format!(
                    "entry {index} has the path {:?}, which is not a path on this platform",
                    String::from_utf8_lossy(&bytes)
                ),
                None,
            )
        })?;

    Ok(JournalEntry { records, vectors: f32_from_le_bytes(&entry.vectors) })
}

fn unreadable(path: &Path, detail: String, source: Option<rmp_serde::decode::Error>) -> StoreError {
    StoreError::JournalUnreadable { path: path.to_path_buf(), detail, source }
}
