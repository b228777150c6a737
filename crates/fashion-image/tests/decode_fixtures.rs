//! Decodes every fixture in `fixtures/images/` and checks its exact outcome.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::*;
use fashion_image::{decode_bytes, decode_file, DecodeError, DecodeErrorKind, DecodeOptions, UnsupportedFormat};

/// Decodable fixtures: file name, expected quadrant centres, tolerance.
const DECODED: &[(&str, [[u8; 3]; 4], u8)] = &[
    ("jpeg_baseline.jpg", BASE_COLOURS, LOSSY_TOLERANCE),
    ("jpeg_progressive.jpg", BASE_COLOURS, LOSSY_TOLERANCE),
    ("jpeg_subsampled_420.jpg", BASE_COLOURS, LOSSY_TOLERANCE),
    ("jpeg_grey.jpg", [[0, 0, 0], [85, 85, 85], [170, 170, 170], [255, 255, 255]], LOSSY_TOLERANCE),
    ("jpeg_cmyk.jpg", BASE_COLOURS, LOSSY_TOLERANCE),
    ("jpeg_ycck.jpg", BASE_COLOURS, LOSSY_TOLERANCE),
    ("exif_bad_offset.jpg", BASE_COLOURS, LOSSY_TOLERANCE),
    ("exif_truncated_ifd.jpg", BASE_COLOURS, LOSSY_TOLERANCE),
    ("exif_invalid_orientation.jpg", BASE_COLOURS, LOSSY_TOLERANCE),
    ("jpeg_no_extension", BASE_COLOURS, LOSSY_TOLERANCE),
    ("jpeg_uppercase.JPEG", BASE_COLOURS, LOSSY_TOLERANCE),
    ("png_rgb8.png", BASE_COLOURS, 0),
    ("png_grey8.png", [[0, 0, 0], [85, 85, 85], [170, 170, 170], [255, 255, 255]], 0),
    // Grey 100 at alpha 128 over white: (100 * 128 + 255 * 127) / 255 = 177.
    ("png_grey_alpha8.png", [[0, 0, 0], WHITE, [177, 177, 177], [255, 255, 255]], 0),
    ("png_palette.png", [RED, WHITE, BLUE, YELLOW], 0),
    ("png_rgba8.png", [RED, WHITE, [127, 127, 255], [191, 191, 191]], 0),
    // 16-bit samples 0, 255, 4000, 65535 round to 0, 1, 16, 255 (`>> 8` gives 0, 0, 15, 255).
    ("png_grey16.png", [[0, 0, 0], [1, 1, 1], [16, 16, 16], [255, 255, 255]], 0),
    ("png_rgb16.png", [[255, 0, 1], [0, 255, 128], [16, 78, 255], [255, 255, 0]], 0),
    ("png_rgba16.png", [RED, WHITE, [127, 127, 255], [191, 191, 191]], 0),
    ("png_named.jpg", BASE_COLOURS, 0),
    ("webp_lossless.webp", BASE_COLOURS, 0),
    ("webp_lossy.webp", BASE_COLOURS, LOSSY_TOLERANCE),
    // Frame 2 is all blue, so a red top-left proves that frame 1 was decoded.
    ("gif_animated.gif", BASE_COLOURS, 0),
    ("bmp_rgb24.bmp", BASE_COLOURS, 0),
    ("tiff_rgb_lzw.tif", BASE_COLOURS, 0),
];

fn decode_fixture(name: &str) -> Result<fashion_image::RgbImage, DecodeError> {
    decode_file(fixture(name), &DecodeOptions::default())
}

fn expect_error(name: &str) -> DecodeError {
    match decode_fixture(name) {
        Ok(image) => panic!("{name}: decoded to {:?}, expected an error", image.dimensions()),
        Err(error) => error,
    }
}

#[test]
fn decodable_fixtures_match_expected_pixels() {
    for (name, expected, tolerance) in DECODED {
        let image = decode_fixture(name).unwrap_or_else(|error| panic!("{name}: {error:?}"));
        assert_quadrants(name, &image, expected, *tolerance);
    }
}

#[test]
fn every_exif_orientation_decodes_upright() {
    for orientation in 1..=8 {
        let name = format!("exif_orientation_{orientation}.jpg");
        let image = decode_fixture(&name).unwrap_or_else(|error| panic!("{name}: {error:?}"));
        assert_quadrants(&name, &image, &BASE_COLOURS, LOSSY_TOLERANCE);
    }
}

#[test]
fn rotated_exif_fixtures_are_stored_portrait() {
    // Guards the orientation test: orientations 5 to 8 must really need a
    // rotation, so a decoder that ignores EXIF fails the test above.
    for orientation in 5..=8 {
        let bytes = fs::read(fixture(&format!("exif_orientation_{orientation}.jpg"))).unwrap();
        let stored = image::load_from_memory(&bytes).unwrap();
        assert_eq!((stored.width(), stored.height()), (32, 48), "orientation {orientation}");
    }
}

#[test]
fn decode_is_deterministic() {
    let names =
        DECODED.iter().map(|(name, _, _)| name.to_string()).chain((1..=8).map(|n| format!("exif_orientation_{n}.jpg")));

    for name in names {
        let first = decode_fixture(&name).unwrap();
        let second = decode_fixture(&name).unwrap();
        assert_eq!(first.as_raw(), second.as_raw(), "{name}");
    }
}

#[test]
fn decode_bytes_matches_decode_file() {
    let path = fixture("jpeg_baseline.jpg");
    let bytes = fs::read(&path).unwrap();

    let from_bytes = decode_bytes(&bytes, &path, &DecodeOptions::default()).unwrap();
    let from_file = decode_file(&path, &DecodeOptions::default()).unwrap();

    assert_eq!(from_bytes.as_raw(), from_file.as_raw());
}

#[test]
fn truncated_jpeg_is_corrupt() {
    let error = expect_error("jpeg_truncated.jpg");

    assert_eq!(error.kind(), DecodeErrorKind::Corrupt, "{error:?}");
    assert!(std::error::Error::source(&error).is_some(), "keeps the decoder error");
}

#[test]
fn empty_file_is_empty() {
    let error = expect_error("empty.jpg");

    assert_eq!(error.kind(), DecodeErrorKind::Empty);
    assert_eq!(error.path(), fixture("empty.jpg"));
}

#[test]
fn unsupported_files_name_their_format() {
    let cases = [
        ("random_bytes.jpg", UnsupportedFormat::Unknown),
        ("notes.txt", UnsupportedFormat::Text),
        ("vector.svg", UnsupportedFormat::Svg),
        ("header.heic", UnsupportedFormat::Heif),
        ("header.avif", UnsupportedFormat::Avif),
    ];

    for (name, expected) in cases {
        let error = expect_error(name);
        assert_eq!(error.kind(), DecodeErrorKind::Unsupported, "{name}");
        match error {
            DecodeError::Unsupported { format, .. } => assert_eq!(format, expected, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn bomb_is_rejected_from_header_quickly() {
    let start = Instant::now();
    let error = expect_error("png_bomb_20000x20000.png");
    let elapsed = start.elapsed();

    match error {
        DecodeError::TooLarge { width, height, max_pixels, .. } => {
            assert_eq!((width, height), (20_000, 20_000));
            assert_eq!(max_pixels, fashion_image::DEFAULT_MAX_PIXELS);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(
        elapsed < Duration::from_millis(100),
        "took {elapsed:?}; the header check should reject it in milliseconds"
    );
}

#[test]
fn bomb_within_raised_limit_fails_as_corrupt() {
    // With the pixel limit raised, the decoder starts and finds the single row
    // of data: the file fails as corrupt, without allocating 1.2 GB up front.
    let options = DecodeOptions { max_pixels: 400_000_000, ..DecodeOptions::default() };
    let start = Instant::now();
    let error = decode_file(fixture("png_bomb_20000x20000.png"), &options).unwrap_err();

    assert_eq!(error.kind(), DecodeErrorKind::Corrupt, "{error:?}");
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
}

#[test]
fn pixel_limit_is_inclusive() {
    let at_limit = DecodeOptions { max_pixels: 48 * 32, ..DecodeOptions::default() };
    let below = DecodeOptions { max_pixels: 48 * 32 - 1, ..DecodeOptions::default() };

    assert!(decode_file(fixture("png_rgb8.png"), &at_limit).is_ok());
    let error = decode_file(fixture("png_rgb8.png"), &below).unwrap_err();
    match error {
        DecodeError::TooLarge { width, height, .. } => assert_eq!((width, height), (48, 32)),
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn file_size_limit_applies_before_reading() {
    let path = fixture("jpeg_baseline.jpg");
    let size = fs::metadata(&path).unwrap().len();
    let options = DecodeOptions { max_file_bytes: Some(size - 1), ..DecodeOptions::default() };

    let error = decode_file(&path, &options).unwrap_err();
    match error {
        DecodeError::FileTooLarge { bytes, max_file_bytes, .. } => {
            assert_eq!((bytes, max_file_bytes), (size, size - 1))
        }
        other => panic!("expected FileTooLarge, got {other:?}"),
    }

    let bytes = fs::read(&path).unwrap();
    let error = decode_bytes(&bytes, &path, &options).unwrap_err();
    assert_eq!(error.kind(), DecodeErrorKind::TooLarge);
}

#[test]
fn missing_file_is_io_error_with_path() {
    let path = fixture("does_not_exist.jpg");
    let error = decode_file(&path, &DecodeOptions::default()).unwrap_err();

    assert_eq!(error.kind(), DecodeErrorKind::Io);
    assert_eq!(error.path(), path);
    match &error {
        DecodeError::Io { source, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound)
        }
        other => panic!("expected Io, got {other:?}"),
    }
}

#[test]
fn directory_is_io_error() {
    let directory = tempfile::tempdir().unwrap();
    let error = decode_file(directory.path(), &DecodeOptions::default()).unwrap_err();

    assert_eq!(error.kind(), DecodeErrorKind::Io, "{error:?}");
}

#[cfg(unix)]
#[test]
fn unreadable_file_is_io_error() {
    use std::os::unix::fs::PermissionsExt;

    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("locked.jpg");
    fs::copy(fixture("jpeg_baseline.jpg"), &path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();

    // Root ignores file permissions, so the check only means something when
    // the open really fails.
    if fs::File::open(&path).is_ok() {
        eprintln!("skipping: this user can read files with mode 000");
        return;
    }
    let error = decode_file(&path, &DecodeOptions::default()).unwrap_err();
    assert_eq!(error.kind(), DecodeErrorKind::Io, "{error:?}");
}

#[test]
fn truncated_files_never_decode_to_other_pixels() {
    // Every cut of every decodable fixture must fail (without a panic) or, where
    // only trailing bytes such as the PNG IEND chunk are gone, decode to
    // exactly the pixels of the whole file. A decoder that fills missing data
    // with grey fails this.
    for (name, _, _) in DECODED {
        let bytes = fs::read(fixture(name)).unwrap();
        let whole = decode_bytes(&bytes, name, &DecodeOptions::default()).unwrap();

        for length in 0..bytes.len() {
            match decode_bytes(&bytes[..length], name, &DecodeOptions::default()) {
                Ok(image) => assert!(
                    image == whole,
                    "{name} cut to {length} of {} bytes decoded to different pixels",
                    bytes.len()
                ),
                Err(error) => assert_ne!(error.kind(), DecodeErrorKind::Panic, "{name} cut to {length}: {error}"),
            }
        }
    }
}
