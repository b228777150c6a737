//! Parsing and validating the bytes of a store file, in the order that gives
//! the most precise error: magic number, version, length, checksums, then
//! structure.

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;

use crate::error::{ChecksumRegion, StoreError};
use crate::format::{self, Cursor, Prelude, FORMAT_VERSION, HEADER_OFFSET, PREFIX, VERSION_OFFSET};
use crate::header::{HeaderFields, StoreHeader};
use crate::record::{self, path_from_bytes, Record, RecordBuf};

/// Whether opening a store computes the CRC-32 of its payload.
///
/// The header checksum and the structure are always checked. Skipping the
/// payload checksum means that opening reads only the header and the records,
/// and the vector pages are read from disk when a search first touches them.
/// [`crate::Store::verify`] computes the payload checksum either way.
///
/// For a store of 43,772 vectors of dimension 2048 (361 MB) in a warm page
/// cache, opening took 11 to 18 ms with `Skip` and 55 to 75 ms with `Verify`.
/// These are timings of `tests/large_store.rs` in a release build on 2
/// shared cores of an AMD EPYC host. With a cold cache, `Verify` also reads
/// the whole file from disk. Use `Skip` on a query's hot path and `Verify`
/// when building or checking a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadCheck {
    /// Compute the payload checksum and reject a store whose bytes changed.
    Verify,
    /// Trust the payload. A corrupt vector is then returned as it is.
    Skip,
}

/// The validated contents of a store file, as byte ranges into it.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub header: StoreHeader,
    pub records: Vec<Record>,
    pub vectors: Range<usize>,
    pub sections: Vec<SectionEntry>,
    /// The bytes that the payload checksum covers.
    pub payload: Range<usize>,
    pub payload_checksum: u32,
}

/// A section's shape and the byte range of its data.
#[derive(Debug)]
pub(crate) struct SectionEntry {
    pub name: String,
    pub rows: usize,
    pub cols: usize,
    pub data: Range<usize>,
}

/// Parses a whole store file. `bytes` must not be empty.
pub(crate) fn parse(path: &Path, bytes: &[u8], check: PayloadCheck) -> Result<Parsed, StoreError> {
    let inconsistent = |detail: String| StoreError::Inconsistent { path: path.to_path_buf(), detail };

    let prelude = parse_prelude(path, bytes)?;
    let header_end = HEADER_OFFSET + prelude.header_len as usize;
    let fields = decode_header(path, &bytes[HEADER_OFFSET..header_end])?;
    let payload = header_end..bytes.len();

    // Checking the payload before decoding it turns any changed byte into a
    // checksum mismatch, instead of whichever decoding error it happens to cause.
    if check == PayloadCheck::Verify {
        check_payload_checksum(path, &bytes[payload.clone()], prelude.payload_checksum)?;
    } else {
        log::debug!("{}: skipping the payload checksum", path.display());
    }

    let header = convert_header(&prelude, fields).map_err(inconsistent)?;
    let mut cursor = Cursor::new(bytes, header_end);
    let records = decode_records(path, &mut cursor, header.count)?;

    let vectors = cursor.read_blob("vector blob").map_err(inconsistent)?;
    let expected = header.count as u128 * header.dim as u128 * 4;
    if vectors.len() as u128 != expected {
        return Err(inconsistent(format!(
            "the vector blob has {} bytes, but {} vectors of dimension {} need {expected}",
            vectors.len(),
            header.count,
            header.dim
        )));
    }

    let sections = parse_sections(&mut cursor).map_err(inconsistent)?;
    if cursor.offset() != bytes.len() {
        return Err(inconsistent(format!(
            "the store ends at byte {}, but the file continues to byte {}",
            cursor.offset(),
            bytes.len()
        )));
    }

    Ok(Parsed { header, records, vectors, sections, payload, payload_checksum: prelude.payload_checksum })
}

/// Computes the CRC-32 of the payload and compares it with the stored one.
pub(crate) fn check_payload_checksum(path: &Path, payload: &[u8], stored: u32) -> Result<(), StoreError> {
    let computed = crc32fast::hash(payload);
    if computed == stored {
        return Ok(());
    }

    log::debug!("{}: payload CRC-32 is {computed:#010x}, the header records {stored:#010x}", path.display());
    Err(StoreError::ChecksumMismatch { path: path.to_path_buf(), region: ChecksumRegion::Payload, stored, computed })
}

/// Checks the magic number, the version, the header checksum and the file
/// length, and returns the prelude fields.
fn parse_prelude(path: &Path, bytes: &[u8]) -> Result<Prelude, StoreError> {
    let path_buf = || path.to_path_buf();
    let len = bytes.len() as u64;
    let truncated = |expected: usize| StoreError::Truncated { path: path_buf(), len, expected: expected as u64 };

    let prefix_len = bytes.len().min(PREFIX.len());
    if bytes[..prefix_len] != PREFIX[..prefix_len] {
        return Err(StoreError::NotAStore { path: path_buf() });
    }

    let Some(version_bytes) = bytes.get(..VERSION_OFFSET + 5) else {
        return Err(truncated(HEADER_OFFSET));
    };
    let version_bytes = version_bytes.try_into().expect("slice of the version field's length");
    match format::decode_version(version_bytes) {
        Some(FORMAT_VERSION) => {}
        Some(found) => {
            return Err(StoreError::UnsupportedVersion { path: path_buf(), found, supported: FORMAT_VERSION })
        }
        None => return Err(StoreError::NotAStore { path: path_buf() }),
    }

    let Some(prelude_bytes) = bytes.get(..HEADER_OFFSET) else {
        return Err(truncated(HEADER_OFFSET));
    };
    let prelude_bytes: &[u8; HEADER_OFFSET] = prelude_bytes.try_into().expect("slice of the prelude's length");
    let prelude =
        Prelude::decode(prelude_bytes).map_err(|detail| StoreError::Inconsistent { path: path_buf(), detail })?;

    let header_end = HEADER_OFFSET.saturating_add(prelude.header_len as usize);
    let Some(header) = bytes.get(HEADER_OFFSET..header_end) else {
        return Err(truncated(header_end));
    };
    let computed = format::header_checksum(prelude_bytes, header);
    if computed != prelude.header_checksum {
        log::debug!(
            "{}: header CRC-32 is {computed:#010x}, the file records {:#010x}",
            path.display(),
            prelude.header_checksum
        );
        return Err(StoreError::ChecksumMismatch {
            path: path_buf(),
            region: ChecksumRegion::Header,
            stored: prelude.header_checksum,
            computed,
        });
    }

    if len < prelude.file_len {
        return Err(StoreError::Truncated { path: path_buf(), len, expected: prelude.file_len });
    }
    if len > prelude.file_len {
        return Err(StoreError::Inconsistent {
            path: path_buf(),
            detail: format!("the file has {len} bytes, but its header records {}", prelude.file_len),
        });
    }

    Ok(prelude)
}

fn decode_header(path: &Path, bytes: &[u8]) -> Result<HeaderFields, StoreError> {
    let mut rest = bytes;
    let fields = HeaderFields::deserialize(&mut rmp_serde::Deserializer::new(&mut rest))
        .map_err(|source| StoreError::Decode { path: path.to_path_buf(), part: "header", source })?;

    if !rest.is_empty() {
        return Err(StoreError::Inconsistent {
            path: path.to_path_buf(),
            detail: format!("{} bytes follow the header map inside the header", rest.len()),
        });
    }
    Ok(fields)
}

fn convert_header(prelude: &Prelude, fields: HeaderFields) -> Result<StoreHeader, String> {
    if fields.dim == 0 {
        return Err("the dimension is 0".to_owned());
    }

    let count =
        usize::try_from(fields.count).map_err(|_| format!("the count {} does not fit in memory", fields.count))?;
    let catalogue_root = path_from_bytes(fields.catalogue_root).map_err(|bytes| {
        format!("the catalogue root {:?} is not a path on this platform", String::from_utf8_lossy(&bytes))
    })?;

    Ok(StoreHeader {
        format_version: prelude.version,
        fingerprint: fields.fingerprint,
        dim: fields.dim as usize,
        count,
        created_unix_s: fields.created_unix_s,
        catalogue_root,
        file_len: prelude.file_len,
    })
}

/// Decodes element 7 and checks that it has `count` records sorted by path.
fn decode_records(path: &Path, cursor: &mut Cursor<'_>, count: usize) -> Result<Vec<Record>, StoreError> {
    let inconsistent = |detail: String| StoreError::Inconsistent { path: path.to_path_buf(), detail };

    let mut rest = cursor.remaining();
    let available = rest.len();
    let encoded = Vec::<RecordBuf>::deserialize(&mut rmp_serde::Deserializer::new(&mut rest))
        .map_err(|source| StoreError::Decode { path: path.to_path_buf(), part: "record list", source })?;
    cursor.advance(available - rest.len());

    if encoded.len() != count {
        return Err(inconsistent(format!(
            "the header records {count} vectors, but the file has {} records",
            encoded.len()
        )));
    }

    let records = encoded
        .into_iter()
        .enumerate()
        .map(|(index, record)| {
            record.into_record().map_err(|bytes| {
                format!(
                    "record {index} has the path {:?}, which is not a path on this platform",
                    String::from_utf8_lossy(&bytes)
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(inconsistent)?;

    record::check_records(&records).map_err(inconsistent)?;
    Ok(records)
}

/// Parses element 9, the array of `[name, rows, cols, blob]`.
fn parse_sections(cursor: &mut Cursor<'_>) -> Result<Vec<SectionEntry>, String> {
    let count = cursor.read_array_len("section list")?;
    let mut sections: Vec<SectionEntry> = Vec::with_capacity(count.min(64));

    for _ in 0..count {
        let start = cursor.offset();
        let len = cursor.read_array_len("section")?;
        if len != 4 {
            return Err(format!(
                "the section at byte {start} is an array of {len} elements, expected [name, rows, cols, blob]"
            ));
        }

        let name = cursor.read_str("section name")?.to_owned();
        let rows = cursor.read_u64("section row count")?;
        let cols = cursor.read_u64("section column count")?;
        let data = cursor.read_blob("section blob")?;

        let expected = rows as u128 * cols as u128 * 4;
        if data.len() as u128 != expected {
            return Err(format!(
                "section {name:?} has {} bytes, but its shape {rows} x {cols} needs {expected}",
                data.len()
            ));
        }
        if sections.iter().any(|section| section.name == name) {
            return Err(format!("two sections are named {name:?}"));
        }

        let (Ok(rows), Ok(cols)) = (usize::try_from(rows), usize::try_from(cols)) else {
            return Err(format!("section {name:?} has the shape {rows} x {cols}, which does not fit in memory"));
        };
        sections.push(SectionEntry { name, rows, cols, data });
    }

    Ok(sections)
}
