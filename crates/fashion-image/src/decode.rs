//! Decoding of one image file to upright RGB8, with limits checked before any
//! pixel is decoded and decoder panics turned into errors.
//!
//! The steps: reject empty and oversized files, and detect the format from the
//! content, never from the extension. Then read the header and reject images
//! over the pixel limit and truncated JPEG files. Finally decode with an
//! allocation limit, composite transparency over white, and apply the EXIF
//! orientation.

use std::any::Any;
use std::fs::File;
use std::io::{Cursor, Read};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use image::error::{DecodingError, ImageFormatHint};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage};
use log::debug;

use crate::error::{DecodeError, UnsupportedFormat};
use crate::jpeg::reaches_end_of_image;
use crate::pixels::into_rgb8_over_white;
use crate::sniff::identify_unsupported;

/// Default for [`DecodeOptions::max_pixels`]: 100 megapixels.
///
/// This is above the resolution of phone photos and of most camera photos, so
/// real catalogue images pass. It still caps one decode at 400 MB of RGBA8 or
/// 800 MB of RGBA16 pixels, which matters when a thread pool decodes one image
/// per core.
pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;

/// Default for [`DecodeOptions::max_file_bytes`]: 512 MiB.
///
/// An uncompressed 100-megapixel RGBA8 image (BMP or TIFF) takes 400 MB, so every
/// file within [`DEFAULT_MAX_PIXELS`] fits. The whole file is read into memory
/// before decoding, so this also bounds that buffer.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// Largest number of bytes per pixel that a decoder of the `image` crate
/// produces (RGBA with 32-bit float samples).
const MAX_BYTES_PER_PIXEL: u64 = 16;

/// Allocation headroom for decoder state beyond the output buffer: tables,
/// row buffers, ICC profiles, EXIF and text chunks.
const DECODER_HEADROOM_BYTES: u64 = 64 * 1024 * 1024;

/// Limits applied to every file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Maximum number of pixels, width x height. Checked from the header before decoding, so a
    /// decompression bomb is rejected without allocating its pixels. The decoder
    /// allocation limit is derived from it (16 bytes per pixel plus 64 MiB).
    /// The command-line option is `--max-pixels`.
    pub max_pixels: u64,
    /// Maximum file size in bytes, or `None` for no limit. Checked before the
    /// file is read into memory.
    pub max_file_bytes: Option<u64>,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self { max_pixels: DEFAULT_MAX_PIXELS, max_file_bytes: Some(DEFAULT_MAX_FILE_BYTES) }
    }
}

impl DecodeOptions {
    /// Returns the allocation limit handed to the decoders, in bytes.
    ///
    /// It covers the output buffer of an image at the pixel limit in the widest
    /// pixel layout (16 bytes per pixel), plus 64 MiB for decoder state.
    pub fn max_alloc_bytes(&self) -> u64 {
        self.max_pixels.saturating_mul(MAX_BYTES_PER_PIXEL).saturating_add(DECODER_HEADROOM_BYTES)
    }

    fn image_limits(&self) -> Limits {
        let mut limits = Limits::default();
        limits.max_image_width = None;
        limits.max_image_height = None;
        limits.max_alloc = Some(self.max_alloc_bytes());
        limits
    }
}

/// Reads and decodes an image file to upright RGB8.
///
/// The format is detected from the content, so the extension does not matter.
/// Transparency is composited over white and the EXIF orientation is applied.
/// A panic inside a decoder is caught and returned as [`DecodeError::Panic`],
/// unless the binary is built with `panic = "abort"`. The process's panic hook
/// still runs first, so by default the panic message also appears on stderr.
pub fn decode_file(path: impl AsRef<Path>, options: &DecodeOptions) -> Result<RgbImage, DecodeError> {
    let path = path.as_ref();
    let bytes = read_file(path, options)?;
    decode_bytes(&bytes, path, options)
}

/// Decodes an image held in memory to upright RGB8, like [`decode_file`].
///
/// `path` only names the source in errors and log messages.
pub fn decode_bytes(bytes: &[u8], path: impl AsRef<Path>, options: &DecodeOptions) -> Result<RgbImage, DecodeError> {
    let path = path.as_ref();

    // The closure only reads `bytes` and builds new values, so no state that a
    // panic could leave half-updated is observed after the catch.
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| decode_unguarded(bytes, path, options)));

    outcome.unwrap_or_else(|payload| {
        let message = panic_message(payload.as_ref());
        debug!("{}: caught decoder panic: {message}", path.display());
        Err(DecodeError::Panic { path: path.to_owned(), message })
    })
}

/// Reads the whole file, stopping once it exceeds `max_file_bytes`.
fn read_file(path: &Path, options: &DecodeOptions) -> Result<Vec<u8>, DecodeError> {
    let io_error = |source| DecodeError::Io { path: path.to_owned(), source };
    let file = File::open(path).map_err(io_error)?;
    let declared_len = file.metadata().map_err(io_error)?.len();

    if let Some(max_file_bytes) = options.max_file_bytes {
        if declared_len > max_file_bytes {
            return Err(DecodeError::FileTooLarge { path: path.to_owned(), bytes: declared_len, max_file_bytes });
        }
    }

    // The size from metadata can be wrong for a growing or special file, so the
    // read itself stops one byte past the limit.
    let read_limit = options.max_file_bytes.map_or(u64::MAX, |max| max + 1);
    let capacity = usize::try_from(declared_len).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity);
    file.take(read_limit).read_to_end(&mut bytes).map_err(io_error)?;

    // decode_bytes rejects a read that went past the limit.
    Ok(bytes)
}

fn decode_unguarded(bytes: &[u8], path: &Path, options: &DecodeOptions) -> Result<RgbImage, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty { path: path.to_owned() });
    }
    if let Some(max_file_bytes) = options.max_file_bytes {
        if bytes.len() as u64 > max_file_bytes {
            return Err(DecodeError::FileTooLarge { path: path.to_owned(), bytes: bytes.len() as u64, max_file_bytes });
        }
    }

    let mut reader =
        ImageReader::new(Cursor::new(bytes)).with_guessed_format().expect("seeking in an in-memory cursor cannot fail");
    let format = reader.format();
    debug!("{}: detected format {format:?}", path.display());
    reader.limits(options.image_limits());

    // Creating the decoder reads only the header.
    let mut decoder = reader.into_decoder().map_err(|error| classify(error, bytes, path, options))?;

    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, path, options)?;

    if format == Some(ImageFormat::Jpeg) && !reaches_end_of_image(bytes) {
        debug!("{}: JPEG stream ends before its EOI marker", path.display());
        let error = DecodingError::new(ImageFormat::Jpeg.into(), "JPEG data ends before the end-of-image marker");
        return Err(DecodeError::Corrupt { path: path.to_owned(), source: ImageError::Decoding(error) });
    }

    // Like ImageReader::decode: the output buffer counts against the
    // allocation limit, and the decoder may use the rest.
    let mut limits = options.image_limits();
    limits
        .reserve(decoder.total_bytes())
        .and_then(|()| decoder.set_limits(limits))
        .map_err(|error| classify(error, bytes, path, options))?;

    let orientation = read_orientation(&mut decoder, path);

    let image = DynamicImage::from_decoder(decoder).map_err(|error| classify(error, bytes, path, options))?;
    debug!("{}: decoded {width}x{height} {:?}", path.display(), image.color());

    let rgb = into_rgb8_over_white(image);
    Ok(apply_orientation(rgb, orientation))
}

fn check_dimensions(width: u32, height: u32, path: &Path, options: &DecodeOptions) -> Result<(), DecodeError> {
    let pixels = u64::from(width) * u64::from(height);

    if pixels > options.max_pixels {
        debug!("{}: rejecting {width}x{height} before decoding, over {} pixels", path.display(), options.max_pixels);
        return Err(DecodeError::TooLarge { path: path.to_owned(), width, height, max_pixels: options.max_pixels });
    }

    if pixels == 0 {
        let error = DecodingError::new(ImageFormatHint::Unknown, format!("header declares {width}x{height} pixels"));
        debug!("{}: header declares {width}x{height}", path.display());
        return Err(DecodeError::Corrupt { path: path.to_owned(), source: ImageError::Decoding(error) });
    }

    Ok(())
}

/// Returns the EXIF orientation, or no rotation when the metadata cannot be read.
fn read_orientation(decoder: &mut impl ImageDecoder, path: &Path) -> Orientation {
    match decoder.orientation() {
        Ok(orientation) => orientation,
        Err(error) => {
            debug!("{}: ignoring unreadable EXIF orientation: {error}", path.display());
            Orientation::NoTransforms
        }
    }
}

/// Rotates and flips the pixels so that the image is upright.
///
/// Runs after the conversion to RGB8, so a rotation moves 3 bytes per pixel.
fn apply_orientation(image: RgbImage, orientation: Orientation) -> RgbImage {
    if orientation == Orientation::NoTransforms {
        return image;
    }

    debug!("applying EXIF orientation {orientation:?}");
    let mut image = DynamicImage::ImageRgb8(image);
    image.apply_orientation(orientation);
    match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.into_rgb8(),
    }
}

/// Maps an error of the `image` crate to the error kinds of this crate.
fn classify(error: ImageError, bytes: &[u8], path: &Path, options: &DecodeOptions) -> DecodeError {
    let path = path.to_owned();

    match error {
        ImageError::Unsupported(ref unsupported) => {
            // A format the `image` crate recognized is named by its hint. The
            // AVIF signature is recognized, but this build has no AVIF decoder.
            // Other files are identified by the signatures in `sniff`, and the
            // crate's "format could not be determined" is dropped, because the
            // sniffed format already names what the file is.
            debug!("{}: unsupported: {error}", path.display());
            let (format, source) = match unsupported.format_hint() {
                ImageFormatHint::Exact(ImageFormat::Avif) => (UnsupportedFormat::Avif, Some(error)),
                ImageFormatHint::Exact(format) => (UnsupportedFormat::Variant(format), Some(error)),
                _ => (identify_unsupported(bytes), None),
            };
            DecodeError::Unsupported { path, format, source }
        }

        ImageError::Limits(_) => {
            DecodeError::MemoryLimit { path, max_alloc_bytes: options.max_alloc_bytes(), source: error }
        }

        ImageError::Decoding(_) | ImageError::IoError(_) | ImageError::Parameter(_) | ImageError::Encoding(_) => {
            DecodeError::Corrupt { path, source: error }
        }
    }
}

/// Extracts the message of a panic payload (`&str` or `String` in practice).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "unknown panic payload".to_owned()
    }
}
