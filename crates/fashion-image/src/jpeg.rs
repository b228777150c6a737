//! Detection of truncated JPEG files.
//!
//! The JPEG decoder of the `image` crate 0.25 (zune-jpeg in lenient mode) fills
//! in the missing part of a truncated scan and reports success. A cut-off upload
//! would then be embedded as a damaged picture, so decoding first checks that
//! the marker structure reaches the end-of-image (EOI) marker.

/// Start of image.
const SOI: u8 = 0xD8;
/// End of image.
const EOI: u8 = 0xD9;
/// Start of scan: a segment followed by entropy-coded data.
const SOS: u8 = 0xDA;

/// Returns whether the marker segments and scans of a JPEG file reach its EOI marker.
///
/// Walks the segments by their length fields and the entropy-coded data of
/// each scan by its byte stuffing (ITU T.81, annex B), so EOI markers inside an
/// embedded EXIF thumbnail do not count. Data after the first EOI, such as the
/// video that some phones append, is ignored. Bytes that do not start with the
/// SOI marker are not checked and count as complete.
pub(crate) fn reaches_end_of_image(bytes: &[u8]) -> bool {
    if !bytes.starts_with(&[0xFF, SOI]) {
        return true;
    }

    let mut position = 2;
    let mut in_scan = false;

    while position < bytes.len() {
        if in_scan {
            // Entropy-coded data ends at the first 0xFF that is neither a
            // stuffed zero byte, a restart marker, nor fill.
            let Some(offset) = bytes[position..].iter().position(|&b| b == 0xFF) else {
                return false;
            };
            position += offset;
            let Some(&next) = bytes.get(position + 1) else {
                return false;
            };
            match next {
                0x00 | 0xD0..=0xD7 => {
                    position += 2;
                    continue;
                }
                0xFF => {
                    position += 1;
                    continue;
                }
                _ => in_scan = false,
            }
        }

        // Decoders skip stray bytes between segments, so this walk does too.
        if bytes[position] != 0xFF {
            position += 1;
            continue;
        }
        while bytes.get(position) == Some(&0xFF) {
            position += 1;
        }
        let Some(&marker) = bytes.get(position) else {
            return false;
        };
        position += 1;

        match marker {
            EOI => return true,
            // Markers without a length field.
            SOI | 0x01 | 0xD0..=0xD7 => {}
            _ => {
                let Some(length) = bytes.get(position..position + 2) else {
                    return false;
                };
                let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
                if length < 2 {
                    return false;
                }
                position += length;
                in_scan = marker == SOS;
            }
        }
    }

    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SOI, a 4-byte APP0 segment, SOS with 2 bytes of header, scan data, EOI.
    fn minimal_jpeg(scan: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0xFF, SOI, 0xFF, 0xE0, 0x00, 0x04, 0xAA, 0xBB];
        bytes.extend_from_slice(&[0xFF, SOS, 0x00, 0x04, 0x01, 0x02]);
        bytes.extend_from_slice(scan);
        bytes.extend_from_slice(&[0xFF, EOI]);
        bytes
    }

    #[test]
    fn complete_stream_reaches_eoi() {
        let bytes = minimal_jpeg(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56]);
        assert!(reaches_end_of_image(&bytes));
    }

    #[test]
    fn every_cut_misses_eoi() {
        let bytes = minimal_jpeg(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56]);
        for length in 2..bytes.len() {
            assert!(!reaches_end_of_image(&bytes[..length]), "length {length}");
        }
    }

    #[test]
    fn eoi_inside_a_segment_does_not_count() {
        // An APP1 segment whose payload contains FF D9, as an EXIF thumbnail
        // does, and no scan after it.
        let bytes = [0xFF, SOI, 0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD8, 0xFF, EOI];
        assert!(!reaches_end_of_image(&bytes));
    }

    #[test]
    fn trailing_data_after_eoi_is_ignored() {
        let mut bytes = minimal_jpeg(&[0x12]);
        bytes.extend_from_slice(b"appended video");
        assert!(reaches_end_of_image(&bytes));
    }
}
