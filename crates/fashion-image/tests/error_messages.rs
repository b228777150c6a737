//! Checks the exact Display text of each error, as the command-line tools print
//! it after `PATH: `.

mod common;

use std::fs;
use std::path::PathBuf;

use common::fixture;
use fashion_image::{decode_bytes, decode_file, DecodeError, DecodeErrorKind, DecodeOptions, UnsupportedFormat};
use image::error::{ImageFormatHint, LimitError, LimitErrorKind};
use image::{ImageError, ImageFormat};

fn message_for(name: &str) -> String {
    decode_file(fixture(name), &DecodeOptions::default()).expect_err("the fixture must fail to decode").to_string()
}

#[test]
fn empty_message() {
    assert_eq!(message_for("empty.jpg"), "cannot decode: file is empty");
}

#[test]
fn corrupt_message() {
    assert_eq!(message_for("jpeg_truncated.jpg"), "cannot decode: file is truncated or corrupt");
}

#[test]
fn unsupported_messages() {
    let cases = [
        ("header.heic", "cannot decode: HEIC/HEIF images are not supported; convert them to JPEG or PNG"),
        ("header.avif", "cannot decode: AVIF images are not supported; convert them to JPEG or PNG"),
        ("vector.svg", "cannot decode: SVG and other XML files are not supported; export them as PNG"),
        ("notes.txt", "cannot decode: file is text, not an image"),
        ("random_bytes.jpg", "cannot decode: unknown format: the first bytes match no supported image signature"),
    ];

    for (name, expected) in cases {
        assert_eq!(message_for(name), expected, "{name}");
    }
}

#[test]
fn unsupported_variant_message() {
    // Change the TIFF Compression tag (259, SHORT, count 1) from LZW (5) to
    // JPEG 2000 (34712), which the TIFF decoder does not implement.
    let mut bytes = fs::read(fixture("tiff_rgb_lzw.tif")).unwrap();
    let lzw_entry = [0x03, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00];
    let at = bytes
        .windows(lzw_entry.len())
        .position(|window| window == lzw_entry)
        .expect("the fixture has a little-endian LZW Compression entry");
    bytes[at + 8..at + 10].copy_from_slice(&34712u16.to_le_bytes());

    let error = decode_bytes(&bytes, "jpeg2000.tif", &DecodeOptions::default()).unwrap_err();

    assert_eq!(error.kind(), DecodeErrorKind::Unsupported, "{error:?}");
    assert_eq!(error.to_string(), "cannot decode: unsupported variant of the TIFF format");
    assert!(std::error::Error::source(&error).is_some(), "keeps the decoder error");
}

#[test]
fn too_large_message_names_limit_and_option() {
    assert_eq!(
        message_for("png_bomb_20000x20000.png"),
        "cannot decode: image is 20000x20000 pixels, over the limit of 100000000 pixels; \
         raise it with --max-pixels"
    );
}

#[test]
fn file_too_large_message() {
    let path = fixture("jpeg_baseline.jpg");
    let size = fs::metadata(&path).unwrap().len();
    let options = DecodeOptions { max_file_bytes: Some(100), ..DecodeOptions::default() };

    let error = decode_file(&path, &options).unwrap_err();

    assert_eq!(error.to_string(), format!("cannot decode: file is {size} bytes, over the limit of 100 bytes"));
}

#[test]
fn memory_limit_message() {
    let error = DecodeError::MemoryLimit {
        path: PathBuf::from("huge.tif"),
        max_alloc_bytes: 1_667_108_864,
        source: ImageError::Limits(LimitError::from_kind(LimitErrorKind::InsufficientMemory)),
    };

    assert_eq!(error.kind(), DecodeErrorKind::TooLarge);
    assert_eq!(
        error.to_string(),
        "cannot decode: decoder needs more than its memory limit of 1667108864 bytes; \
         the limit grows with --max-pixels"
    );
}

#[test]
fn io_message_keeps_source() {
    let error = decode_file(fixture("missing.jpg"), &DecodeOptions::default()).unwrap_err();

    assert_eq!(error.to_string(), "cannot read file");
    let source = std::error::Error::source(&error).expect("the io::Error is the source");
    assert!(source.downcast_ref::<std::io::Error>().is_some());
}

#[test]
fn panic_message_format() {
    let error = DecodeError::Panic { path: PathBuf::from("bad.gif"), message: "index out of bounds".to_owned() };

    assert_eq!(error.to_string(), "cannot decode: decoder panicked: index out of bounds");
}

#[test]
fn messages_never_contain_the_path() {
    let names = ["empty.jpg", "jpeg_truncated.jpg", "header.heic", "png_bomb_20000x20000.png", "missing.jpg"];

    for name in names {
        let error = decode_file(fixture(name), &DecodeOptions::default()).unwrap_err();
        assert!(!error.to_string().contains(name), "{name}: {error}");
        assert_eq!(error.path(), fixture(name), "{name}");
    }
}

#[test]
fn other_unsupported_formats_display() {
    let cases = [
        (UnsupportedFormat::IsoMedia, "file is an ISO media container (MP4, MOV), not an image"),
        (UnsupportedFormat::JpegXl, "JPEG XL images are not supported; convert them to JPEG or PNG"),
        (UnsupportedFormat::Jpeg2000, "JPEG 2000 images are not supported; convert them to JPEG or PNG"),
        (UnsupportedFormat::Pdf, "PDF documents are not supported"),
        (UnsupportedFormat::Psd, "Photoshop PSD files are not supported; export them as JPEG or PNG"),
        (UnsupportedFormat::Variant(ImageFormat::WebP), "unsupported variant of the WebP format"),
    ];

    for (format, expected) in cases {
        let error = DecodeError::Unsupported {
            path: PathBuf::from("x"),
            format,
            source: Some(ImageError::Unsupported(ImageFormatHint::Unknown.into())),
        };
        assert_eq!(error.to_string(), format!("cannot decode: {expected}"));
    }
}

#[test]
fn signatures_of_other_formats() {
    let cases: [(&[u8], UnsupportedFormat); 5] = [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", UnsupportedFormat::Pdf),
        (b"8BPS\x00\x01\x00\x00\x00\x00\x00\x00", UnsupportedFormat::Psd),
        (&[0xFF, 0x0A, 0x00, 0x10, 0x20], UnsupportedFormat::JpegXl),
        (b"\x00\x00\x00\x0cjP  \x0d\x0a\x87\x0a\x00\x00", UnsupportedFormat::Jpeg2000),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", UnsupportedFormat::IsoMedia),
    ];

    for (bytes, expected) in cases {
        match decode_bytes(bytes, "sample", &DecodeOptions::default()) {
            Err(DecodeError::Unsupported { format, .. }) => assert_eq!(format, expected),
            other => panic!("{expected:?}: got {other:?}"),
        }
    }
}
