//! Robust decoding and resizing of catalogue photos for the embedding pipeline.
//!
//! The indexer runs over folders that users did not curate, so one bad file
//! must cost one error and never the whole run. [`decode_file`] and [`decode_bytes`]:
//!
//! - detect the format from the content, never from the extension;
//! - decode JPEG (baseline, progressive, CMYK, YCCK), PNG (8 and 16 bit, all
//!   colour types), WebP, GIF (first frame), BMP and TIFF. Other formats of the
//!   `image` crate work too if they have a signature. TGA has none, so it is
//!   not detected;
//! - reject JPEG files that end before their end-of-image marker, which the
//!   `image` crate would decode with the missing part filled in;
//! - apply the EXIF orientation, and ignore EXIF they cannot parse;
//! - composite transparency over white and return 8-bit RGB;
//! - reject images over [`DecodeOptions::max_pixels`] from the header, before
//!   allocating pixels, and cap decoder allocations;
//! - turn decoder panics into [`DecodeError::Panic`].
//!
//! [`resize_square`] and [`into_square`] then produce the model's square input
//! with Pillow's antialiased bilinear filter.
//!
//! ```no_run
//! use fashion_image::{decode_file, into_square, DecodeOptions, ResizeMode};
//!
//! let image = decode_file("photo.jpg", &DecodeOptions::default())?;
//! let input = into_square(image, 224, ResizeMode::default());
//! assert_eq!(input.dimensions(), (224, 224));
//! # Ok::<(), fashion_image::DecodeError>(())
//! ```
//!
//! # Tests
//!
//! `cargo test --release -p fashion-image` runs against the small files in
//! `fixtures/images/` (see the README there). The ignored tests in
//! `tests/catalogue.rs` need a real catalogue: two decode every photo and report
//! failures and throughput, and one compares a JPEG decode with Pillow's:
//!
//! ```text
//! FASHION_CATALOGUE=/path/to/fashion-product-images \
//! FASHION_CATALOGUE_SMALL=/path/to/fashion-product-images-small \
//!     cargo test --release -p fashion-image --test catalogue -- --ignored --nocapture
//! ```
//!
//! `FASHION_CATALOGUE` names the 224x224 catalogue and `FASHION_CATALOGUE_SMALL`
//! the 60x80 one, each the folder that contains `images/`. A test whose variable
//! is not set fails with a message that names the variable.

mod decode;
mod error;
mod jpeg;
mod pixels;
mod resize;
mod sniff;

pub use decode::{decode_bytes, decode_file, DecodeOptions, DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_PIXELS};
pub use error::{DecodeError, DecodeErrorKind, UnsupportedFormat};
pub use resize::{into_square, resize_square, ResizeMode};

pub use image::RgbImage;
