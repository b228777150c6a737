//! Conversion of any decoded pixel layout to 8-bit RGB, with transparency
//! composited over white.
//!
//! Catalogue photos are shot on white, so a transparent background becomes white
//! and not the black that dropping the alpha channel would leave. Samples wider
//! than 8 bits are rounded to the nearest 8-bit value (`v * 255 / 65535`), not
//! truncated.

use image::{DynamicImage, GrayAlphaImage, ImageBuffer, Rgb, RgbImage, Rgba, RgbaImage};

type Rgba16Image = ImageBuffer<Rgba<u16>, Vec<u16>>;
use log::debug;

/// Converts a decoded image to RGB8, compositing transparency over white.
///
/// An `Rgb8` image is returned without copying.
pub(crate) fn into_rgb8_over_white(image: DynamicImage) -> RgbImage {
    match image {
        DynamicImage::ImageRgb8(rgb) => rgb,

        DynamicImage::ImageRgba8(rgba) => {
            debug!("compositing RGBA8 over white");
            composite_rgba8(&rgba)
        }

        DynamicImage::ImageLumaA8(luma_alpha) => {
            debug!("compositing grey+alpha 8-bit over white");
            composite_luma_alpha8(&luma_alpha)
        }

        // Wider samples with alpha (16-bit, 32-bit float): composite at 16 bits
        // so that the rounding to 8 bits happens once.
        other if other.color().has_alpha() => {
            debug!("compositing {:?} over white at 16 bits", other.color());
            composite_rgba16(&other.into_rgba16())
        }

        // Opaque layouts: image's conversion rounds 16-bit samples and clamps
        // floats to [0, 1].
        // NOTE: 32-bit float images (OpenEXR, Radiance HDR) are clamped, not tone-mapped.
        other => {
            debug!("converting {:?} to RGB8", other.color());
            other.into_rgb8()
        }
    }
}

/// Composites one 8-bit sample over white: `(c * a + 255 * (255 - a)) / 255`, rounded.
fn over_white_8(sample: u8, alpha: u8) -> u8 {
    let (sample, alpha) = (u32::from(sample), u32::from(alpha));
    let value = (sample * alpha + 255 * (255 - alpha) + 127) / 255;
    value as u8
}

/// Composites one 16-bit sample over white and scales the result to 8 bits.
fn over_white_16_to_8(sample: u16, alpha: u16) -> u8 {
    const MAX: u64 = u16::MAX as u64;
    let (sample, alpha) = (u64::from(sample), u64::from(alpha));

    // value16 = (c * a + MAX * (MAX - a)) / MAX, and value8 = value16 * 255 / MAX,
    // computed as one fraction so that it is rounded once.
    let numerator = (sample * alpha + MAX * (MAX - alpha)) * 255;
    let denominator = MAX * MAX;
    ((numerator + denominator / 2) / denominator) as u8
}

fn composite_rgba8(image: &RgbaImage) -> RgbImage {
    let (width, height) = image.dimensions();
    let mut output = Vec::with_capacity(width as usize * height as usize * 3);

    for pixel in image.as_raw().chunks_exact(4) {
        let alpha = pixel[3];
        output.extend(pixel[..3].iter().map(|&c| over_white_8(c, alpha)));
    }

    RgbImage::from_raw(width, height, output).expect("three samples were written per pixel")
}

fn composite_luma_alpha8(image: &GrayAlphaImage) -> RgbImage {
    let (width, height) = image.dimensions();

    RgbImage::from_fn(width, height, |x, y| {
        let [luma, alpha] = image.get_pixel(x, y).0;
        let value = over_white_8(luma, alpha);
        Rgb([value, value, value])
    })
}

fn composite_rgba16(image: &Rgba16Image) -> RgbImage {
    let (width, height) = image.dimensions();
    let mut output = Vec::with_capacity(width as usize * height as usize * 3);

    for pixel in image.as_raw().chunks_exact(4) {
        let alpha = pixel[3];
        output.extend(pixel[..3].iter().map(|&c| over_white_16_to_8(c, alpha)));
    }

    RgbImage::from_raw(width, height, output).expect("three samples were written per pixel")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_white_8_endpoints_and_midpoint() {
        assert_eq!(over_white_8(200, 255), 200);
        assert_eq!(over_white_8(0, 0), 255);
        // 255 * 127 / 255 = 127 for a black sample at alpha 128.
        assert_eq!(over_white_8(0, 128), 127);
    }

    #[test]
    fn over_white_16_rounds_once() {
        assert_eq!(over_white_16_to_8(u16::MAX, u16::MAX), 255);
        assert_eq!(over_white_16_to_8(0, 0), 255);
        // Opaque 255 is 0.99 in 8-bit units: rounds to 1, where `>> 8` gives 0.
        assert_eq!(over_white_16_to_8(255, u16::MAX), 1);
        // Opaque 4000 is 15.56 in 8-bit units.
        assert_eq!(over_white_16_to_8(4000, u16::MAX), 16);
    }
}
