//! Writing a store atomically: the file is built as a temporary file in the
//! target's directory, synced, and renamed over the target only when complete.
//!
//! Any error, and dropping a [`StoreWriter`] before [`StoreWriter::finish`],
//! removes the temporary file and leaves a previous store at the target path
//! untouched. After `finish` returns `Ok`, the new store and the directory
//! entry that names it have both been synced to disk.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tempfile::NamedTempFile;

use crate::error::{io_error, StoreError};
use crate::format::{self, Prelude, FORMAT_VERSION, HEADER_OFFSET};
use crate::header::{HeaderFields, StoreSpec};
use crate::record::{self, path_to_bytes, Record, RecordRef};

/// A named matrix of f32 values stored next to the vectors, such as a PCA
/// basis. The store keeps its shape but does not interpret it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Section<'a> {
    /// Name that identifies the section in the store, unique within it.
    pub name: &'a str,
    pub rows: usize,
    pub cols: usize,
    /// The values in row-major order, `rows * cols` of them.
    pub data: &'a [f32],
}

/// Writes a complete store in one call.
///
/// `records` must be sorted by the bytes of their paths without duplicates,
/// and `vectors` contains one row of `spec.dim` values per record, in the same
/// order. See [`StoreWriter`] for the guarantees on failure.
pub fn write_store(
    path: impl AsRef<Path>,
    spec: &StoreSpec<'_>,
    records: &[Record],
    vectors: &[f32],
    sections: &[Section<'_>],
) -> Result<(), StoreError> {
    let mut writer = StoreWriter::create(path, spec, records)?;
    writer.write_vectors(vectors)?;
    writer.finish(sections)
}

/// Writes a store whose vectors arrive in several slices.
///
/// [`create`](Self::create) writes the header and the records,
/// [`write_vectors`](Self::write_vectors) appends rows in record order, and
/// [`finish`](Self::finish) adds the sections and renames the file into place.
/// Dropping the writer before `finish` returns removes the temporary file.
pub struct StoreWriter {
    path: PathBuf,
    out: ChecksumWriter<BufWriter<NamedTempFile>>,
    header: Vec<u8>,
    dim: usize,
    count: usize,
    rows_written: usize,
    /// Whether a write to the temporary file failed, which may have left a
    /// partial row in it.
    failed: bool,
}

impl StoreWriter {
    /// Creates the temporary file next to `path` and writes the header and
    /// the records to it.
    ///
    /// `records` must be sorted by the bytes of their paths without duplicates,
    /// so that readers can look paths up by binary search.
    pub fn create(path: impl AsRef<Path>, spec: &StoreSpec<'_>, records: &[Record]) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let invalid = |detail: String| StoreError::InvalidInput { path: path.to_path_buf(), detail };

        let vector_bytes = check_spec(spec, records.len()).map_err(invalid)?;
        record::check_records(records).map_err(invalid)?;
        let encoded_records: Vec<RecordRef<'_>> =
            records.iter().map(|record| RecordRef::new(record).expect("check_records accepted every path")).collect();

        let header = encode_header(spec, records.len()).map_err(invalid)?;

        let temp = create_temp_file(path)?;
        log::debug!("writing {} to the temporary file {}", path.display(), temp.path().display());
        let mut out = ChecksumWriter::new(BufWriter::with_capacity(1 << 20, temp));

        write_start(&mut out, &header, &encoded_records, vector_bytes)
            .map_err(io_error("write the temporary file for", path))?;

        Ok(StoreWriter {
            path: path.to_path_buf(),
            out,
            header,
            dim: spec.dim,
            count: records.len(),
            rows_written: 0,
            failed: false,
        })
    }

    /// Appends whole vectors, `dim` values each, in record order.
    ///
    /// An `InvalidInput` error writes nothing and leaves the writer usable.
    /// After an I/O error, every later call fails too, so drop the writer.
    pub fn write_vectors(&mut self, rows: &[f32]) -> Result<(), StoreError> {
        self.check_not_failed()?;
        if !rows.len().is_multiple_of(self.dim) {
            return Err(self.invalid(format!(
                "{} values do not form whole vectors of dimension {}",
                rows.len(),
                self.dim
            )));
        }

        let row_count = rows.len() / self.dim;
        if self.rows_written + row_count > self.count {
            return Err(self.invalid(format!(
                "{} vectors are more than the {} records",
                self.rows_written + row_count,
                self.count
            )));
        }

        if let Err(err) = write_f32_le(&mut self.out, rows) {
            self.failed = true;
            return Err(io_error("write the temporary file for", &self.path)(err));
        }
        self.rows_written += row_count;
        Ok(())
    }

    /// Writes the sections, then syncs the temporary file and renames it over
    /// the target path.
    ///
    /// Fails without touching the target unless every record got its vector.
    pub fn finish(mut self, sections: &[Section<'_>]) -> Result<(), StoreError> {
        self.check_not_failed()?;
        if self.rows_written != self.count {
            return Err(self.invalid(format!("only {} of {} vectors were written", self.rows_written, self.count)));
        }
        let section_bytes = check_sections(sections).map_err(|detail| self.invalid(detail))?;

        let write_error = io_error("write the temporary file for", &self.path);
        write_sections(&mut self.out, sections, &section_bytes).map_err(&write_error)?;

        let payload_checksum = self.out.hasher.clone().finalize();
        let file_len = self.out.position;
        let mut temp = self.out.inner.into_inner().map_err(|err| write_error(err.into_error()))?;

        let mut prelude = Prelude {
            version: FORMAT_VERSION,
            header_checksum: 0,
            header_len: self.header.len() as u32,
            file_len,
            payload_checksum,
        };
        prelude.header_checksum = format::header_checksum(&prelude.encode(), &self.header);

        let file = temp.as_file_mut();
        file.seek(SeekFrom::Start(0)).and_then(|_| file.write_all(&prelude.encode())).map_err(&write_error)?;
        file.sync_all().map_err(io_error("sync the temporary file for", &self.path))?;

        temp.persist(&self.path).map_err(|err| io_error("rename the temporary file to", &self.path)(err.error))?;
        let dir = parent_dir(&self.path);
        sync_dir(dir).map_err(io_error("sync the directory", dir))?;

        log::debug!(
            "wrote {}: {} vectors of dimension {}, {} sections, {file_len} bytes, payload CRC-32 {payload_checksum:#010x}",
            self.path.display(),
            self.count,
            self.dim,
            sections.len()
        );
        Ok(())
    }

    fn check_not_failed(&self) -> Result<(), StoreError> {
        if self.failed {
            return Err(self.invalid(
                "an earlier write to the temporary file failed; drop the writer and write the store again".to_owned(),
            ));
        }
        Ok(())
    }

    fn invalid(&self, detail: String) -> StoreError {
        StoreError::InvalidInput { path: self.path.clone(), detail }
    }
}

/// Writes the prelude, the header, the records and the framing of the vector
/// blob, and starts the payload checksum after the header.
fn write_start<W: Write>(
    out: &mut ChecksumWriter<W>,
    header: &[u8],
    records: &[RecordRef<'_>],
    vector_bytes: u32,
) -> io::Result<()> {
    // The prelude is written as zeros and patched by `finish` once the
    // checksums and the file length are known.
    out.write_all(&[0; HEADER_OFFSET])?;
    out.write_all(header)?;

    out.start_checksum();
    rmp_serde::encode::write(out, records).map_err(io::Error::other)?;

    let position = out.position;
    format::write_blob_framing(out, position, vector_bytes)
}

/// Checks the spec and returns the size in bytes of the vector blob.
fn check_spec(spec: &StoreSpec<'_>, count: usize) -> Result<u32, String> {
    if spec.dim == 0 || u32::try_from(spec.dim).is_err() {
        return Err(format!("the dimension {} is not between 1 and 2^32 - 1", spec.dim));
    }

    let vector_bytes = count
        .checked_mul(spec.dim)
        .and_then(|values| values.checked_mul(4))
        .and_then(|bytes| u32::try_from(bytes).ok());
    vector_bytes
        .ok_or_else(|| format!("{count} vectors of dimension {} exceed the 4 GiB limit of a MessagePack bin", spec.dim))
}

fn encode_header(spec: &StoreSpec<'_>, count: usize) -> Result<Vec<u8>, String> {
    let catalogue_root = path_to_bytes(spec.catalogue_root)
        .ok_or_else(|| format!("the catalogue root {} is not valid Unicode", spec.catalogue_root.display()))?;

    let created_unix_s = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(elapsed) => elapsed.as_secs() as i64,
        Err(before_epoch) => -(before_epoch.duration().as_secs() as i64),
    };

    let fields = HeaderFields {
        fingerprint: spec.fingerprint.to_owned(),
        dim: spec.dim as u32,
        count: count as u64,
        created_unix_s,
        catalogue_root: catalogue_root.to_vec(),
    };
    let header = rmp_serde::to_vec_named(&fields).expect("strings, integers and bytes always encode");

    if u32::try_from(header.len()).is_err() {
        return Err(format!("the header of {} bytes exceeds 4 GiB", header.len()));
    }
    Ok(header)
}

/// Checks the sections and returns the size in bytes of each one's data.
fn check_sections(sections: &[Section<'_>]) -> Result<Vec<u32>, String> {
    let mut names = HashSet::new();
    let mut sizes = Vec::with_capacity(sections.len());

    for section in sections {
        if section.name.is_empty() {
            return Err("a section has an empty name".to_owned());
        }
        if !names.insert(section.name) {
            return Err(format!("two sections are named {:?}", section.name));
        }

        let expected = section.rows.checked_mul(section.cols);
        if expected != Some(section.data.len()) {
            return Err(format!(
                "section {:?} has {} values, but its shape {} x {} needs {}",
                section.name,
                section.data.len(),
                section.rows,
                section.cols,
                section.rows as u128 * section.cols as u128
            ));
        }

        let size = u32::try_from(section.data.len() as u64 * 4)
            .map_err(|_| format!("section {:?} exceeds the 4 GiB limit of a MessagePack bin", section.name))?;
        sizes.push(size);
    }

    Ok(sizes)
}

/// Writes element 9: an array of `[name, rows, cols, blob]`.
fn write_sections<W: Write>(out: &mut ChecksumWriter<W>, sections: &[Section<'_>], sizes: &[u32]) -> io::Result<()> {
    rmp::encode::write_array_len(out, sections.len() as u32)?;

    for (section, &size) in sections.iter().zip(sizes) {
        rmp::encode::write_array_len(out, 4)?;
        rmp::encode::write_str(out, section.name)?;
        rmp::encode::write_uint(out, section.rows as u64)?;
        rmp::encode::write_uint(out, section.cols as u64)?;
        let position = out.position;
        format::write_blob_framing(out, position, size)?;
        write_f32_le(out, section.data)?;
    }

    Ok(())
}

/// Writes `values` as little-endian bytes, without a copy on little-endian hosts.
fn write_f32_le(out: &mut impl Write, values: &[f32]) -> io::Result<()> {
    if cfg!(target_endian = "little") {
        return out.write_all(bytemuck::cast_slice(values));
    }

    for chunk in values.chunks(16 * 1024) {
        out.write_all(&format::f32_le_bytes(chunk))?;
    }
    Ok(())
}

/// Creates `.<file name>.<random>.tmp` in the directory of `path`, so that the
/// final rename stays within one file system.
pub(crate) fn create_temp_file(path: &Path) -> Result<NamedTempFile, StoreError> {
    let Some(file_name) = path.file_name() else {
        return Err(StoreError::InvalidInput {
            path: path.to_path_buf(),
            detail: "the path does not end in a file name".to_owned(),
        });
    };

    let mut prefix = OsString::from(".");
    prefix.push(file_name);
    prefix.push(".");

    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");

    // Temporary files are private by default. The store gets the same mode
    // as a file created with `File::create`, 0o666 minus the umask.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }

    builder.tempfile_in(parent_dir(path)).map_err(io_error("create a temporary file for", path))
}

/// Returns the directory that contains `path`, `.` for a bare file name.
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Syncs a directory, which makes a rename or a removal in it durable.
#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Does nothing: Windows cannot open a directory as a file to sync it.
// NOTE: a rename on Windows may therefore not be durable when `finish` returns.
#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// A writer that counts the bytes written and computes their CRC-32 from the
/// last call to `start_checksum`.
struct ChecksumWriter<W> {
    inner: W,
    /// Number of bytes written, which is the file offset of the next byte.
    position: u64,
    hasher: crc32fast::Hasher,
}

impl<W: Write> ChecksumWriter<W> {
    fn new(inner: W) -> Self {
        ChecksumWriter { inner, position: 0, hasher: crc32fast::Hasher::new() }
    }

    fn start_checksum(&mut self) {
        self.hasher = crc32fast::Hasher::new();
    }
}

impl<W: Write> Write for ChecksumWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.position += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
