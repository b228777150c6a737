//! The byte layout of a store file: format constants, the fixed-size prelude,
//! the MessagePack framing around aligned blobs, and a cursor that parses it.
//!
//! A store is one MessagePack array of 10 elements:
//!
//! | element | encoding | content |
//! |---|---|---|
//! | 0 | bin 8, 8 bytes | magic number `FASHIDX\0` |
//! | 1 | uint 32 | format version |
//! | 2 | uint 32 | header checksum: CRC-32 of the bytes from element 3 to the end of element 6 |
//! | 3 | uint 32 | header length: encoded size of element 6 in bytes |
//! | 4 | uint 64 | file length in bytes |
//! | 5 | uint 32 | payload checksum: CRC-32 of the bytes from element 7 to the end of the file |
//! | 6 | map | header: fingerprint, dim, count, created_unix_s, catalogue_root |
//! | 7 | array | records, each `[path: bin, size: uint, mtime_ns: int, sha256: bin 32]` |
//! | 8 | blob | vectors: count x dim little-endian f32 |
//! | 9 | array | sections, each `[name: str, rows: uint, cols: uint, blob]` |
//!
//! Elements 0 to 5 always use the marker shown, so they have fixed sizes and
//! fixed offsets (the `*_OFFSET` constants). The writer can patch the
//! checksums and lengths in place, and the reader can check the magic number and
//! version before it decodes anything else.
//!
//! A blob is a 2-element array `[padding: bin 8, data: bin]`. The padding bin
//! contains 0 to 63 zero bytes, chosen so that the data starts at a file offset
//! that is a multiple of [`BLOB_ALIGNMENT`]. Because a memory map starts on a
//! page boundary, the mapped data is then aligned for `f32`, and the reader can
//! hand out `&[f32]` slices into the map.

use std::borrow::Cow;
use std::io::{self, Write};
use std::ops::Range;

/// The bytes that identify a store, stored as element 0.
pub const MAGIC: [u8; 8] = *b"FASHIDX\0";

/// The format version that this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The alignment in bytes of the start of every f32 blob in the file.
pub const BLOB_ALIGNMENT: usize = 64;

/// Number of elements of the top-level array.
const TOP_LEVEL_LEN: u8 = 10;

const MARKER_FIXARRAY: u8 = 0x90;
const MARKER_BIN8: u8 = 0xc4;
const MARKER_UINT32: u8 = 0xce;
const MARKER_UINT64: u8 = 0xcf;

/// The first bytes of every store: the top-level array marker and element 0.
pub(crate) const PREFIX: [u8; 11] = {
    let mut prefix = [0; 11];
    prefix[0] = MARKER_FIXARRAY | TOP_LEVEL_LEN;
    prefix[1] = MARKER_BIN8;
    prefix[2] = MAGIC.len() as u8;
    let mut i = 0;
    while i < MAGIC.len() {
        prefix[3 + i] = MAGIC[i];
        i += 1;
    }
    prefix
};

pub(crate) const VERSION_OFFSET: usize = 11;
pub(crate) const HEADER_CHECKSUM_OFFSET: usize = 16;
pub(crate) const HEADER_LEN_OFFSET: usize = 21;
pub(crate) const FILE_LEN_OFFSET: usize = 26;
pub(crate) const PAYLOAD_CHECKSUM_OFFSET: usize = 35;

/// Offset of the header map, which is also the size of the prelude.
pub(crate) const HEADER_OFFSET: usize = 40;

/// The fixed-size elements 1 to 5 of the top-level array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Prelude {
    pub version: u32,
    pub header_checksum: u32,
    pub header_len: u32,
    pub file_len: u64,
    pub payload_checksum: u32,
}

impl Prelude {
    /// Encodes the prefix and the five fields with fixed-width markers.
    pub fn encode(&self) -> [u8; HEADER_OFFSET] {
        let mut bytes = [0; HEADER_OFFSET];
        bytes[..PREFIX.len()].copy_from_slice(&PREFIX);

        put_u32(&mut bytes, VERSION_OFFSET, self.version);
        put_u32(&mut bytes, HEADER_CHECKSUM_OFFSET, self.header_checksum);
        put_u32(&mut bytes, HEADER_LEN_OFFSET, self.header_len);
        bytes[FILE_LEN_OFFSET] = MARKER_UINT64;
        bytes[FILE_LEN_OFFSET + 1..FILE_LEN_OFFSET + 9].copy_from_slice(&self.file_len.to_be_bytes());
        put_u32(&mut bytes, PAYLOAD_CHECKSUM_OFFSET, self.payload_checksum);

        bytes
    }

    /// Decodes the five fields, assuming that the caller has checked the prefix.
    ///
    /// Returns a description of the first field whose marker is not the
    /// fixed-width one that the writer uses.
    pub fn decode(bytes: &[u8; HEADER_OFFSET]) -> Result<Prelude, String> {
        Ok(Prelude {
            version: get_u32(bytes, VERSION_OFFSET, "format version")?,
            header_checksum: get_u32(bytes, HEADER_CHECKSUM_OFFSET, "header checksum")?,
            header_len: get_u32(bytes, HEADER_LEN_OFFSET, "header length")?,
            file_len: get_u64(bytes, FILE_LEN_OFFSET, "file length")?,
            payload_checksum: get_u32(bytes, PAYLOAD_CHECKSUM_OFFSET, "payload checksum")?,
        })
    }
}

/// Reads the format version from a file's first bytes, or `None` if the
/// version field is not a fixed-width uint 32.
pub(crate) fn decode_version(bytes: &[u8; VERSION_OFFSET + 5]) -> Option<u32> {
    get_u32(bytes, VERSION_OFFSET, "format version").ok()
}

/// Computes the CRC-32 that element 2 stores: it covers the prelude from the
/// header length to the end, followed by the encoded header map.
pub(crate) fn header_checksum(prelude: &[u8; HEADER_OFFSET], header: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&prelude[HEADER_LEN_OFFSET..]);
    hasher.update(header);
    hasher.finalize()
}

fn put_u32(bytes: &mut [u8], offset: usize, value: u32) {
    bytes[offset] = MARKER_UINT32;
    bytes[offset + 1..offset + 5].copy_from_slice(&value.to_be_bytes());
}

fn get_u32(bytes: &[u8], offset: usize, field: &str) -> Result<u32, String> {
    check_marker(bytes, offset, MARKER_UINT32, field)?;
    let value: [u8; 4] = bytes[offset + 1..offset + 5].try_into().expect("4 bytes");
    Ok(u32::from_be_bytes(value))
}

fn get_u64(bytes: &[u8], offset: usize, field: &str) -> Result<u64, String> {
    check_marker(bytes, offset, MARKER_UINT64, field)?;
    let value: [u8; 8] = bytes[offset + 1..offset + 9].try_into().expect("8 bytes");
    Ok(u64::from_be_bytes(value))
}

fn check_marker(bytes: &[u8], offset: usize, expected: u8, field: &str) -> Result<(), String> {
    if bytes[offset] == expected {
        Ok(())
    } else {
        Err(format!(
            "the {field} at byte {offset} has MessagePack marker {:#04x}, expected {expected:#04x}",
            bytes[offset]
        ))
    }
}

/// Computes how many padding bytes a blob written at `offset` needs so that
/// its `data_len` bytes of data start at a multiple of [`BLOB_ALIGNMENT`].
pub(crate) fn blob_padding_len(offset: u64, data_len: u32) -> usize {
    // The blob starts with a fixarray marker (1 byte) and the padding bin's
    // marker and length (2 bytes), then the padding, then the data bin's
    // marker and length.
    let framing = 1 + 2 + bin_header_len(data_len) as u64;
    let misalignment = (offset + framing) % BLOB_ALIGNMENT as u64;
    ((BLOB_ALIGNMENT as u64 - misalignment) % BLOB_ALIGNMENT as u64) as usize
}

/// Size of the marker and length that MessagePack puts before `len` bytes of bin data.
fn bin_header_len(len: u32) -> usize {
    match len {
        0..=0xff => 2,
        0x100..=0xffff => 3,
        _ => 5,
    }
}

/// Writes the framing of a blob at `offset`: the 2-element array marker, the
/// padding bin, and the data bin's marker and length. The caller writes the
/// `data_len` data bytes next.
pub(crate) fn write_blob_framing(out: &mut impl Write, offset: u64, data_len: u32) -> io::Result<()> {
    let padding_len = blob_padding_len(offset, data_len);
    log::debug!("blob of {data_len} bytes at offset {offset}: {padding_len} bytes of padding");

    rmp::encode::write_array_len(out, 2)?;
    rmp::encode::write_bin_len(out, padding_len as u32)?;
    out.write_all(&[0; BLOB_ALIGNMENT][..padding_len])?;
    rmp::encode::write_bin_len(out, data_len)?;
    Ok(())
}

/// Returns `values` as little-endian bytes, borrowed on little-endian hosts.
pub(crate) fn f32_le_bytes(values: &[f32]) -> Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        Cow::Borrowed(bytemuck::cast_slice(values))
    } else {
        Cow::Owned(values.iter().flat_map(|value| value.to_le_bytes()).collect())
    }
}

/// Decodes little-endian f32 values. A trailing partial value is ignored.
pub(crate) fn f32_from_le_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|value| f32::from_le_bytes(value.try_into().expect("chunks of 4 bytes"))).collect()
}

/// A position in a store's bytes, advanced by the MessagePack values read.
///
/// Errors are descriptions for [`crate::StoreError::Inconsistent`] that name
/// the value and its byte offset.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8], offset: usize) -> Self {
        Cursor { bytes, offset }
    }

    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Returns the bytes from the current offset to the end.
    pub fn remaining(&self) -> &'a [u8] {
        &self.bytes[self.offset..]
    }

    /// Moves the offset forward past `len` bytes that the caller has consumed.
    pub fn advance(&mut self, len: usize) {
        self.offset += len;
    }

    pub fn read_array_len(&mut self, what: &str) -> Result<usize, String> {
        let start = self.offset;
        let mut reader = self.remaining();
        let len = rmp::decode::read_array_len(&mut reader)
            .map_err(|err| format!("cannot read the {what} array at byte {start}: {err}"))?;
        self.sync(reader);
        Ok(len as usize)
    }

    pub fn read_u64(&mut self, what: &str) -> Result<u64, String> {
        let start = self.offset;
        let mut reader = self.remaining();
        let value = rmp::decode::read_int(&mut reader)
            .map_err(|err| format!("cannot read the {what} at byte {start}: {err}"))?;
        self.sync(reader);
        Ok(value)
    }

    pub fn read_str(&mut self, what: &str) -> Result<&'a str, String> {
        let start = self.offset;
        let (value, rest) = rmp::decode::read_str_from_slice(self.remaining())
            .map_err(|err| format!("cannot read the {what} at byte {start}: {err}"))?;
        self.sync(rest);
        Ok(value)
    }

    /// Reads a bin and returns the byte range of its data.
    pub fn read_bin(&mut self, what: &str) -> Result<Range<usize>, String> {
        let start = self.offset;
        let mut reader = self.remaining();
        let len = rmp::decode::read_bin_len(&mut reader)
            .map_err(|err| format!("cannot read the {what} at byte {start}: {err}"))?;
        self.sync(reader);

        let data = self.offset..self.offset + len as usize;
        if data.end > self.bytes.len() {
            return Err(format!(
                "the {what} at byte {start} has {len} bytes of data, but the file ends at byte {}",
                self.bytes.len()
            ));
        }
        self.offset = data.end;
        Ok(data)
    }

    /// Reads a blob (see the module documentation) and returns the byte range
    /// of its data, which must start at a multiple of [`BLOB_ALIGNMENT`].
    pub fn read_blob(&mut self, what: &str) -> Result<Range<usize>, String> {
        let start = self.offset;
        let len = self.read_array_len(what)?;
        if len != 2 {
            return Err(format!("the {what} at byte {start} is an array of {len} elements, expected [padding, data]"));
        }

        self.read_bin(what)?;
        let data = self.read_bin(what)?;
        if data.start % BLOB_ALIGNMENT != 0 {
            return Err(format!(
                "the data of the {what} starts at byte {}, which is not a multiple of {BLOB_ALIGNMENT}",
                data.start
            ));
        }
        Ok(data)
    }

    /// Sets the offset to where `rest`, a tail of the remaining bytes, starts.
    fn sync(&mut self, rest: &[u8]) {
        self.offset = self.bytes.len() - rest.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prelude_round_trip() {
        let prelude = Prelude {
            version: FORMAT_VERSION,
            header_checksum: 0xdead_beef,
            header_len: 123,
            file_len: 0x0102_0304_0506_0708,
            payload_checksum: 7,
        };

        let bytes = prelude.encode();

        assert_eq!(&bytes[..PREFIX.len()], &PREFIX);
        assert_eq!(Prelude::decode(&bytes), Ok(prelude));
    }

    #[test]
    fn prelude_is_valid_messagepack() {
        let bytes =
            Prelude { version: 1, header_checksum: 2, header_len: 3, file_len: 4, payload_checksum: 5 }.encode();
        let mut reader = &bytes[1..];

        let magic: serde_bytes::ByteBuf = rmp_serde::decode::from_read(&mut reader).unwrap();
        let fields: Vec<u64> = (0..5).map(|_| rmp_serde::decode::from_read(&mut reader).unwrap()).collect();

        assert_eq!(magic.as_slice(), &MAGIC);
        assert_eq!(fields, [1, 2, 3, 4, 5]);
        assert!(reader.is_empty());
    }

    #[test]
    fn blob_data_is_aligned_at_every_offset() {
        for data_len in [0, 4, 255, 256, 65_535, 65_536, 1 << 20] {
            for offset in 0..2 * BLOB_ALIGNMENT as u64 {
                let mut bytes = vec![0xff; offset as usize];
                write_blob_framing(&mut bytes, offset, data_len).unwrap();

                assert_eq!(bytes.len() % BLOB_ALIGNMENT, 0, "offset {offset}, data length {data_len}");

                bytes.resize(bytes.len() + data_len as usize, 0);
                let mut cursor = Cursor::new(&bytes, offset as usize);
                let data = cursor.read_blob("blob").unwrap();
                assert_eq!(data.len(), data_len as usize);
                assert_eq!(cursor.offset(), bytes.len());
            }
        }
    }
}
