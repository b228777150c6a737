//! From image file to model input: read once, hash, decode, resize.

use std::path::Path;

use fashion_image::{into_square, DecodeError, DecodeOptions, ResizeMode};
use image::RgbImage;
use sha2::{Digest, Sha256};

/// A decoded image ready for the embedder, with the digest of its file.
#[derive(Debug, Clone)]
pub struct PreparedImage {
    /// `size x size` RGB pixels.
    pub image: RgbImage,
    pub sha256: [u8; 32],
}

/// Returns the name of a resize mode as stored in fingerprints and given on the
/// command line.
pub fn resize_mode_name(mode: ResizeMode) -> &'static str {
    match mode {
        ResizeMode::Squash => "squash",
        ResizeMode::PadWhite => "pad",
    }
}

/// Parses a resize mode name (`squash` or `pad`).
pub fn parse_resize_mode(name: &str) -> Option<ResizeMode> {
    match name {
        "squash" => Some(ResizeMode::Squash),
        "pad" => Some(ResizeMode::PadWhite),
        _ => None,
    }
}

/// Computes the SHA-256 of a byte string.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Reads `path`, hashes its bytes, decodes it and resizes it to `size`.
pub fn prepare_file(
    path: &Path,
    options: &DecodeOptions,
    size: u32,
    mode: ResizeMode,
) -> Result<PreparedImage, DecodeError> {
    let bytes = std::fs::read(path).map_err(|source| DecodeError::Io { path: path.to_owned(), source })?;
    prepare_bytes(&bytes, path, options, size, mode)
}

/// Like [`prepare_file`] for bytes already in memory; `path` names them in errors.
pub fn prepare_bytes(
    bytes: &[u8],
    path: &Path,
    options: &DecodeOptions,
    size: u32,
    mode: ResizeMode,
) -> Result<PreparedImage, DecodeError> {
    let sha256 = sha256(bytes);
    let image = fashion_image::decode_bytes(bytes, path, options)?;
    let image = into_square(image, size, mode);
    Ok(PreparedImage { image, sha256 })
}
