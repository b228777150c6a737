//! Recognition of formats that the `image` crate cannot decode, from their first
//! bytes, so that the error message names the format.
//!
//! Only called after the `image` crate has rejected a file as unsupported. The
//! signatures come from the format specifications: ISO/IEC 14496-12 (ISO BMFF
//! `ftyp` box, used by HEIF, AVIF and MP4), ISO/IEC 18181-2 (JPEG XL), ISO/IEC
//! 15444-1 (JPEG 2000), and the PDF and PSD file headers.

use crate::error::UnsupportedFormat;

/// Number of leading bytes inspected for the text and SVG checks.
const TEXT_PROBE_BYTES: usize = 1024;

/// Brands of HEIF images (ISO/IEC 23008-12), HEVC-coded or generic.
const HEIF_BRANDS: [&[u8; 4]; 8] = [b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"];
const AVIF_BRANDS: [&[u8; 4]; 2] = [b"avif", b"avis"];

const JPEG_XL_CODESTREAM: &[u8] = &[0xFF, 0x0A];
const JPEG_XL_CONTAINER: &[u8] = b"\x00\x00\x00\x0cJXL \x0d\x0a\x87\x0a";
const JPEG_2000_CODESTREAM: &[u8] = &[0xFF, 0x4F, 0xFF, 0x51];
const JPEG_2000_CONTAINER: &[u8] = b"\x00\x00\x00\x0cjP  \x0d\x0a\x87\x0a";

/// Identifies an undecodable file from its first bytes.
pub(crate) fn identify_unsupported(bytes: &[u8]) -> UnsupportedFormat {
    if let Some(format) = identify_iso_media(bytes) {
        return format;
    }

    if bytes.starts_with(JPEG_XL_CODESTREAM) || bytes.starts_with(JPEG_XL_CONTAINER) {
        return UnsupportedFormat::JpegXl;
    }
    if bytes.starts_with(JPEG_2000_CODESTREAM) || bytes.starts_with(JPEG_2000_CONTAINER) {
        return UnsupportedFormat::Jpeg2000;
    }
    if bytes.starts_with(b"%PDF-") {
        return UnsupportedFormat::Pdf;
    }
    if bytes.starts_with(b"8BPS") {
        return UnsupportedFormat::Psd;
    }

    identify_text(bytes).unwrap_or(UnsupportedFormat::Unknown)
}

/// Reads the major and compatible brands of a leading `ftyp` box.
fn identify_iso_media(bytes: &[u8]) -> Option<UnsupportedFormat> {
    if bytes.len() < 12 || &bytes[4..8] != b"ftyp" {
        return None;
    }

    // Box layout: size (u32), "ftyp", major brand, minor version (u32), then
    // compatible brands up to the end of the box.
    let declared_size = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let box_end = declared_size.clamp(12, bytes.len());
    let major = &bytes[8..12];
    let compatible = bytes.get(16..box_end).unwrap_or_default();
    let brands: Vec<&[u8]> = std::iter::once(major).chain(compatible.chunks_exact(4)).collect();

    let has_brand = |wanted: &[&[u8; 4]]| brands.iter().any(|brand| wanted.iter().any(|w| &w[..] == *brand));
    // AVIF files also list the generic HEIF brand `mif1`, so check AVIF first.
    let format = if has_brand(&AVIF_BRANDS) {
        UnsupportedFormat::Avif
    } else if has_brand(&HEIF_BRANDS) {
        UnsupportedFormat::Heif
    } else {
        UnsupportedFormat::IsoMedia
    };
    Some(format)
}

/// Recognizes UTF-8 text, and SVG or XML among it.
fn identify_text(bytes: &[u8]) -> Option<UnsupportedFormat> {
    let head = &bytes[..bytes.len().min(TEXT_PROBE_BYTES)];
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);

    // The probe may cut a multi-byte character, which is still text.
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(error) if error.error_len().is_none() => std::str::from_utf8(&head[..error.valid_up_to()]).ok()?,
        Err(_) => return None,
    };
    let is_text = text.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c'));
    if !is_text || text.is_empty() {
        return None;
    }

    let start = text.trim_start();
    let looks_like_svg =
        start.starts_with("<?xml") || start.starts_with("<svg") || text.to_ascii_lowercase().contains("<svg");
    if looks_like_svg {
        Some(UnsupportedFormat::Svg)
    } else {
        Some(UnsupportedFormat::Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ftyp_brands_identify_heif_avif_and_video() {
        let ftyp = |major: &[u8; 4], compatible: &[u8]| {
            let size = (16 + compatible.len()) as u32;
            let mut bytes = size.to_be_bytes().to_vec();
            bytes.extend_from_slice(b"ftyp");
            bytes.extend_from_slice(major);
            bytes.extend_from_slice(&[0; 4]);
            bytes.extend_from_slice(compatible);
            bytes
        };

        assert_eq!(identify_unsupported(&ftyp(b"heic", b"mif1heic")), UnsupportedFormat::Heif);
        assert_eq!(identify_unsupported(&ftyp(b"mif1", b"mif1avif")), UnsupportedFormat::Avif);
        assert_eq!(identify_unsupported(&ftyp(b"isom", b"isomiso2mp41")), UnsupportedFormat::IsoMedia);
    }

    #[test]
    fn text_probe_accepts_cut_character() {
        let mut bytes = "a".repeat(TEXT_PROBE_BYTES - 1).into_bytes();
        bytes.extend_from_slice("é".as_bytes());

        assert_eq!(identify_unsupported(&bytes), UnsupportedFormat::Text);
    }

    #[test]
    fn binary_data_is_unknown() {
        assert_eq!(identify_unsupported(&[0, 1, 2, 3, 200, 201]), UnsupportedFormat::Unknown);
    }
}
