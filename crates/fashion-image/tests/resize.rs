//! Checks the resize modes on synthetic images: sizes, padding, aspect ratio,
//! antialiasing and the identity path.

use fashion_image::{into_square, resize_square, ResizeMode, RgbImage};
use image::Rgb;

const RED: Rgb<u8> = Rgb([255, 0, 0]);
const WHITE: Rgb<u8> = Rgb([255, 255, 255]);

fn solid(width: u32, height: u32, colour: Rgb<u8>) -> RgbImage {
    RgbImage::from_pixel(width, height, colour)
}

/// Returns the bounding box (left, top, width, height) of pixels that are not white.
fn content_box(image: &RgbImage) -> (u32, u32, u32, u32) {
    let mut left = u32::MAX;
    let mut top = u32::MAX;
    let mut right = 0;
    let mut bottom = 0;
    for (x, y, pixel) in image.enumerate_pixels() {
        if *pixel != WHITE {
            left = left.min(x);
            top = top.min(y);
            right = right.max(x);
            bottom = bottom.max(y);
        }
    }
    assert!(left <= right, "the image is all white");
    (left, top, right - left + 1, bottom - top + 1)
}

#[test]
fn default_mode_is_squash() {
    assert_eq!(ResizeMode::default(), ResizeMode::Squash);
}

#[test]
fn squash_fills_the_square() {
    let image = resize_square(&solid(60, 80, RED), 224, ResizeMode::Squash);

    assert_eq!(image.dimensions(), (224, 224));
    assert!(image.pixels().all(|pixel| *pixel == RED), "a solid image stays solid");
}

#[test]
fn squash_stretches_quadrants_with_the_image() {
    // Left half red, right half blue, in a wide image: after squashing, the
    // boundary is still at the middle of the square.
    let image = RgbImage::from_fn(80, 20, |x, _| if x < 40 { RED } else { Rgb([0, 0, 255]) });

    let square = resize_square(&image, 100, ResizeMode::Squash);

    assert_eq!(*square.get_pixel(10, 50), RED);
    assert_eq!(*square.get_pixel(90, 50), Rgb([0, 0, 255]));
    assert_eq!(*square.get_pixel(10, 0), RED, "top row is image, not padding");
}

#[test]
fn pad_white_centres_portrait_image() {
    let image = resize_square(&solid(60, 80, RED), 224, ResizeMode::PadWhite);

    assert_eq!(image.dimensions(), (224, 224));
    // 60x80 scales to 168x224, centred with 28 white columns on each side.
    assert_eq!(content_box(&image), (28, 0, 168, 224));
    assert_eq!(*image.get_pixel(0, 112), WHITE);
    assert_eq!(*image.get_pixel(27, 112), WHITE);
    assert_eq!(*image.get_pixel(28, 112), RED);
    assert_eq!(*image.get_pixel(195, 112), RED);
    assert_eq!(*image.get_pixel(196, 112), WHITE);
}

#[test]
fn pad_white_keeps_aspect_ratio_of_wide_image() {
    let image = resize_square(&solid(80, 20, RED), 100, ResizeMode::PadWhite);

    // 80x20 scales to 100x25, centred with (100 - 25) / 2 = 37 white rows above.
    assert_eq!(content_box(&image), (0, 37, 100, 25));
}

#[test]
fn pad_white_keeps_thin_line_visible() {
    let image = resize_square(&solid(1000, 2, RED), 50, ResizeMode::PadWhite);

    let (_, _, width, height) = content_box(&image);
    assert_eq!((width, height), (50, 1));
}

#[test]
fn downscale_is_antialiased() {
    // A one-pixel checkerboard averages to mid grey when every source pixel
    // contributes. Point sampling would give pure black or white.
    let board = RgbImage::from_fn(200, 200, |x, y| if (x + y) % 2 == 0 { Rgb([0, 0, 0]) } else { WHITE });

    let small = resize_square(&board, 20, ResizeMode::Squash);

    for pixel in small.pixels() {
        let value = pixel.0[0];
        assert!((120..=135).contains(&value), "pixel {value} is not mid grey");
    }
}

#[test]
fn identity_path_returns_same_pixels() {
    let image = RgbImage::from_fn(224, 224, |x, y| Rgb([x as u8, y as u8, (x ^ y) as u8]));

    for mode in [ResizeMode::Squash, ResizeMode::PadWhite] {
        let copy = resize_square(&image, 224, mode);
        assert!(copy == image, "{mode:?} changed a 224x224 image");
    }
}

#[test]
fn into_square_identity_does_not_copy() {
    let image = RgbImage::from_fn(224, 224, |x, y| Rgb([x as u8, y as u8, 7]));
    let buffer_address = image.as_raw().as_ptr();

    let same = into_square(image, 224, ResizeMode::PadWhite);

    assert_eq!(same.as_raw().as_ptr(), buffer_address);
}

#[test]
fn into_square_resizes_like_resize_square() {
    let image = RgbImage::from_fn(60, 80, |x, y| Rgb([(x * 4) as u8, (y * 3) as u8, 100]));

    for mode in [ResizeMode::Squash, ResizeMode::PadWhite] {
        let borrowed = resize_square(&image, 224, mode);
        let owned = into_square(image.clone(), 224, mode);
        assert!(borrowed == owned, "{mode:?}");
    }
}

#[test]
#[should_panic(expected = "target size")]
fn zero_size_panics() {
    resize_square(&solid(4, 4, RED), 0, ResizeMode::Squash);
}
