//! The error type of decoding, its kinds, and the formats it names as unsupported.
//!
//! Display messages never contain the path, because the command-line tools print
//! `fashion-index: PATH: MESSAGE`. The path stays in the error for programmatic
//! access through [`DecodeError::path`]. The underlying decoder or I/O error is the
//! [`std::error::Error::source`], so print the chain (for example with anyhow's
//! `{:#}`) to see it.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use image::ImageFormat;

/// Error from decoding one image file.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The file has zero bytes.
    #[error("cannot decode: file is empty")]
    Empty { path: PathBuf },

    /// The decoder rejected the data: truncated, invalid, or inconsistent with its header.
    #[error("cannot decode: file is truncated or corrupt")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },

    /// The content is not in a format that the `image` crate decodes, or uses a
    /// feature of a known format that it does not support.
    #[error("cannot decode: {format}")]
    Unsupported {
        path: PathBuf,
        format: UnsupportedFormat,
        /// The decoder's error, when the decoder got far enough to produce one.
        #[source]
        source: Option<image::ImageError>,
    },

    /// The header declares more pixels than [`DecodeOptions::max_pixels`](crate::DecodeOptions::max_pixels).
    #[error(
        "cannot decode: image is {width}x{height} pixels, over the limit of {max_pixels} pixels; \
         raise it with --max-pixels"
    )]
    TooLarge { path: PathBuf, width: u32, height: u32, max_pixels: u64 },

    /// The file is longer than [`DecodeOptions::max_file_bytes`](crate::DecodeOptions::max_file_bytes).
    #[error("cannot decode: file is {bytes} bytes, over the limit of {max_file_bytes} bytes")]
    FileTooLarge {
        path: PathBuf,
        /// The file size, or the number of bytes read before the limit was hit.
        bytes: u64,
        max_file_bytes: u64,
    },

    /// The decoder asked for more memory than its allocation limit, which is
    /// derived from [`DecodeOptions::max_pixels`](crate::DecodeOptions::max_pixels).
    #[error(
        "cannot decode: decoder needs more than its memory limit of {max_alloc_bytes} bytes; \
         the limit grows with --max-pixels"
    )]
    MemoryLimit {
        path: PathBuf,
        max_alloc_bytes: u64,
        #[source]
        source: image::ImageError,
    },

    /// The file could not be read: missing, a directory, no permission.
    #[error("cannot read file")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A decoder panicked. The panic was caught, so only this file fails.
    #[error("cannot decode: decoder panicked: {message}")]
    Panic { path: PathBuf, message: String },
}

/// Category of a [`DecodeError`], for matching and for counting failures by cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeErrorKind {
    Empty,
    Corrupt,
    Unsupported,
    /// Over a limit: pixel count, file size or decoder memory.
    TooLarge,
    Io,
    Panic,
}

impl DecodeError {
    /// Returns the category of this error.
    pub fn kind(&self) -> DecodeErrorKind {
        match self {
            Self::Empty { .. } => DecodeErrorKind::Empty,
            Self::Corrupt { .. } => DecodeErrorKind::Corrupt,
            Self::Unsupported { .. } => DecodeErrorKind::Unsupported,
            Self::TooLarge { .. } | Self::FileTooLarge { .. } | Self::MemoryLimit { .. } => DecodeErrorKind::TooLarge,
            Self::Io { .. } => DecodeErrorKind::Io,
            Self::Panic { .. } => DecodeErrorKind::Panic,
        }
    }

    /// Returns the path of the file that failed, as given to the decode function.
    pub fn path(&self) -> &Path {
        match self {
            Self::Empty { path }
            | Self::Corrupt { path, .. }
            | Self::Unsupported { path, .. }
            | Self::TooLarge { path, .. }
            | Self::FileTooLarge { path, .. }
            | Self::MemoryLimit { path, .. }
            | Self::Io { path, .. }
            | Self::Panic { path, .. } => path,
        }
    }
}

/// Format of a file that cannot be decoded, as far as its first bytes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnsupportedFormat {
    /// HEIC or another HEIF brand (ISO BMFF `ftyp` box).
    Heif,
    /// AVIF (ISO BMFF `ftyp` box with brand `avif` or `avis`).
    Avif,
    /// Another ISO BMFF file, usually MP4 or QuickTime video.
    IsoMedia,
    /// JPEG XL, as a bare codestream or in its container.
    JpegXl,
    /// JPEG 2000, as a JP2 container or a bare codestream.
    Jpeg2000,
    /// SVG or another XML document.
    Svg,
    Pdf,
    /// Adobe Photoshop document.
    Psd,
    /// Text that is not SVG.
    Text,
    /// A format that the `image` crate recognizes, in a variant it does not
    /// decode, such as an unusual compression or colour type. The source error
    /// names the feature.
    Variant(ImageFormat),
    /// No known signature in the first bytes.
    Unknown,
}

impl fmt::Display for UnsupportedFormat {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = match self {
            Self::Heif => "HEIC/HEIF images are not supported; convert them to JPEG or PNG",
            Self::Avif => "AVIF images are not supported; convert them to JPEG or PNG",
            Self::IsoMedia => "file is an ISO media container (MP4, MOV), not an image",
            Self::JpegXl => "JPEG XL images are not supported; convert them to JPEG or PNG",
            Self::Jpeg2000 => "JPEG 2000 images are not supported; convert them to JPEG or PNG",
            Self::Svg => "SVG and other XML files are not supported; export them as PNG",
            Self::Pdf => "PDF documents are not supported",
            Self::Psd => "Photoshop PSD files are not supported; export them as JPEG or PNG",
            Self::Text => "file is text, not an image",
            Self::Variant(format) => {
                return write!(formatter, "unsupported variant of the {} format", format_name(*format));
            }
            Self::Unknown => "unknown format: the first bytes match no supported image signature",
        };
        formatter.write_str(message)
    }
}

/// Returns the usual name of a format, such as `JPEG` or `WebP`.
fn format_name(format: ImageFormat) -> String {
    let name = match format {
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Png => "PNG",
        ImageFormat::Gif => "GIF",
        ImageFormat::WebP => "WebP",
        ImageFormat::Tiff => "TIFF",
        ImageFormat::Bmp => "BMP",
        ImageFormat::Ico => "ICO",
        ImageFormat::Avif => "AVIF",
        ImageFormat::OpenExr => "OpenEXR",
        other => return format!("{other:?}"),
    };
    name.to_owned()
}
