//! Image embedding for visual similarity search.
//!
//! An [`Embedder`] runs an ImageNet CNN (EfficientNet-Lite0/1/2 or ResNet-50)
//! in candle up to its last convolutional feature map, max-pools it globally
//! and L2-normalises the result. Images go in already decoded and resized to
//! the model's square input; see [`Architecture::input_size`].

pub mod embedder;
pub mod error;
pub mod models;
pub mod ops;
pub mod weights;

pub use embedder::{
    check_vector, l2_normalize, resolve_weights, Architecture, Backbone, Embedder, Fingerprint, InvalidVector,
    Normalization,
};
pub use error::EmbedError;
