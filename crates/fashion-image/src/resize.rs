//! Resizing of decoded images to the model's square input.
//!
//! The filter is the antialiased bilinear (triangle) convolution of Pillow's
//! `Image.resize(..., BILINEAR)`: when downscaling by a factor s, the filter
//! support grows to s source pixels, so every source pixel contributes. It is
//! computed by `fast_image_resize`, whose convolution follows Pillow's
//! fixed-point implementation.

use fast_image_resize::images::{CroppedImageMut, Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;
use log::debug;

/// Sample value of the padding added by [`ResizeMode::PadWhite`].
const WHITE: u8 = 255;

/// Method of fitting an image into the square model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ResizeMode {
    /// Stretch to size x size, ignoring the aspect ratio. The default: on
    /// 43,772 60x80 catalogue thumbnails it gave leave-one-out precision@5
    /// 0.777 against 0.773 for `PadWhite` (docs/quality.md).
    #[default]
    Squash,
    /// Scale the longer side to `size`, keeping the aspect ratio, and centre the
    /// result on a white size x size square.
    PadWhite,
}

/// Resizes `image` to `size` x `size` with Pillow's antialiased bilinear filter.
///
/// An image that is already `size` x `size` is returned as a copy, without
/// resampling. Use [`into_square`] to avoid that copy when you own the image.
///
/// # Panics
///
/// Panics if `size` is 0 or the image has no pixels.
pub fn resize_square(image: &RgbImage, size: u32, mode: ResizeMode) -> RgbImage {
    if image.dimensions() == (size, size) {
        debug!("image is already {size}x{size}: copying without resampling");
        return image.clone();
    }
    resample_square(image, size, mode)
}

/// Like [`resize_square`], but takes ownership, so an image that is already
/// `size` x `size` is returned as is, without a copy.
///
/// # Panics
///
/// Panics if `size` is 0 or the image has no pixels.
pub fn into_square(image: RgbImage, size: u32, mode: ResizeMode) -> RgbImage {
    if image.dimensions() == (size, size) {
        debug!("image is already {size}x{size}: returning it unchanged");
        return image;
    }
    resample_square(&image, size, mode)
}

fn resample_square(image: &RgbImage, size: u32, mode: ResizeMode) -> RgbImage {
    let (width, height) = image.dimensions();
    assert!(size > 0, "the target size must be at least 1 pixel");
    assert!(width > 0 && height > 0, "cannot resize an image with no pixels ({width}x{height})");

    let source = ImageRef::new(width, height, image.as_raw(), PixelType::U8x3)
        .expect("an RgbImage buffer contains width * height * 3 bytes");

    let side = size as usize;
    let mut output = vec![WHITE; side * side * 3];
    let mut target = Image::from_slice_u8(size, size, &mut output, PixelType::U8x3)
        .expect("the output buffer contains size * size * 3 bytes");

    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    let mut resizer = Resizer::new();

    match mode {
        ResizeMode::Squash => {
            debug!("squashing {width}x{height} to {size}x{size}");
            resizer.resize(&source, &mut target, &options).expect("source and target are both U8x3");
        }

        ResizeMode::PadWhite => {
            let (fit_width, fit_height) = fit_inside(width, height, size);
            let left = (size - fit_width) / 2;
            let top = (size - fit_height) / 2;
            debug!(
                "scaling {width}x{height} to {fit_width}x{fit_height} at ({left}, {top}) \
                 on a white {size}x{size} square"
            );

            // Resample straight into the centred window of the white square.
            let mut window = CroppedImageMut::new(&mut target, left, top, fit_width, fit_height)
                .expect("the window lies inside the square");
            resizer.resize(&source, &mut window, &options).expect("source and target are both U8x3");
        }
    }

    drop(target);
    RgbImage::from_raw(size, size, output).expect("the output buffer contains size * size * 3 bytes")
}

/// Returns the size that scales the longer side to `size` and keeps the
/// aspect ratio, rounding the shorter side to the nearest pixel (at least 1).
fn fit_inside(width: u32, height: u32, size: u32) -> (u32, u32) {
    let scale_side = |short: u32, long: u32| -> u32 {
        let (short, long, size) = (u64::from(short), u64::from(long), u64::from(size));
        let rounded = (2 * short * size + long) / (2 * long);
        rounded.clamp(1, size) as u32
    };

    if width >= height {
        (size, scale_side(height, width))
    } else {
        (scale_side(width, height), size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_inside_keeps_aspect_ratio() {
        assert_eq!(fit_inside(60, 80, 224), (168, 224));
        assert_eq!(fit_inside(80, 60, 224), (224, 168));
        assert_eq!(fit_inside(100, 100, 224), (224, 224));
    }

    #[test]
    fn fit_inside_keeps_one_pixel_of_thin_images() {
        assert_eq!(fit_inside(10_000, 1, 224), (224, 1));
    }
}
