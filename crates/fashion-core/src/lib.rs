//! Visual similarity search over a catalogue of product photos.
//!
//! An [`Embedder`] runs an ImageNet CNN (EfficientNet-Lite0/1/2 or ResNet-50)
//! in candle up to its last convolutional feature map, max-pools it globally
//! and L2-normalises the result. [`build::build_index`] embeds a catalogue
//! folder into a store, and [`index::Index`] searches it exactly.
//!
//! Image decoding lives in `fashion-image`, the on-disk format in
//! `fashion-store`, and the nearest-neighbour search in `fashion-search`;
//! this crate ties them to the model.

pub mod build;
pub mod catalogue;
pub mod download;
pub mod embedder;
pub mod error;
pub mod eval;
pub mod index;
pub mod models;
pub mod ops;
pub mod pipeline;
pub mod weights;

pub use embedder::{
    check_vector, l2_normalize, resolve_weights, Architecture, Backbone, Embedder, Fingerprint, InvalidVector,
    Normalization,
};
pub use error::EmbedError;
pub use fashion_image::{DecodeError, DecodeOptions, ResizeMode};
