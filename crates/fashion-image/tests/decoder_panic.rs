//! Checks that a panic inside a decoder becomes an error for that one file.
//!
//! The `image` crate lets a program register decoders for extra formats. This
//! test registers one that panics while decoding pixels and routes a made-up
//! signature to it, so the real decode path of `decode_bytes` runs into a panic.
//! The hooks are process-wide, so this test lives in its own test binary.

use std::sync::Once;

use fashion_image::{decode_bytes, DecodeError, DecodeErrorKind, DecodeOptions};
use image::hooks::{register_decoding_hook, register_format_detection_hook};
use image::{ColorType, ImageDecoder, ImageResult};

const SIGNATURE: &[u8] = b"PANIC-TEST-IMAGE";
const PANIC_MESSAGE: &str = "deliberate panic in the test decoder";

struct PanickingDecoder;

impl ImageDecoder for PanickingDecoder {
    fn dimensions(&self) -> (u32, u32) {
        (4, 4)
    }

    fn color_type(&self) -> ColorType {
        ColorType::Rgb8
    }

    fn read_image(self, _buffer: &mut [u8]) -> ImageResult<()> {
        panic!("{PANIC_MESSAGE}");
    }

    fn read_image_boxed(self: Box<Self>, buffer: &mut [u8]) -> ImageResult<()> {
        (*self).read_image(buffer)
    }
}

fn register_panicking_format() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        register_format_detection_hook("panictest".into(), SIGNATURE, None);
        let registered = register_decoding_hook("panictest".into(), Box::new(|_reader| Ok(Box::new(PanickingDecoder))));
        assert!(registered, "no other hook uses the panictest format");
    });
}

#[test]
fn decoder_panic_becomes_error() {
    register_panicking_format();
    let mut bytes = SIGNATURE.to_vec();
    bytes.extend_from_slice(&[0; 64]);

    let error = decode_bytes(&bytes, "panics.img", &DecodeOptions::default()).unwrap_err();

    assert_eq!(error.kind(), DecodeErrorKind::Panic);
    assert_eq!(error.path(), std::path::Path::new("panics.img"));
    match &error {
        DecodeError::Panic { message, .. } => assert_eq!(message, PANIC_MESSAGE),
        other => panic!("expected Panic, got {other:?}"),
    }
    assert_eq!(error.to_string(), format!("cannot decode: decoder panicked: {PANIC_MESSAGE}"));
}

#[test]
fn decoding_continues_after_a_panic() {
    register_panicking_format();
    let mut bytes = SIGNATURE.to_vec();
    bytes.extend_from_slice(&[0; 64]);

    for _ in 0..3 {
        let error = decode_bytes(&bytes, "panics.img", &DecodeOptions::default()).unwrap_err();
        assert_eq!(error.kind(), DecodeErrorKind::Panic);
    }

    let png =
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images/png_rgb8.png"))
            .unwrap();
    let image = decode_bytes(&png, "png_rgb8.png", &DecodeOptions::default()).unwrap();
    assert_eq!(image.dimensions(), (48, 32));
}
