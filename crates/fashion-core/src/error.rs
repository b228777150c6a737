//! The error type of model loading and inference.

use std::path::PathBuf;

use thiserror::Error;

/// Failure to load a model or to embed a batch.
#[derive(Debug, Error)]
pub enum EmbedError {
    #[error("{}: weights file not found; {hint}", path.display())]
    WeightsNotFound { path: PathBuf, hint: String },

    #[error("{}: cannot read weights file", path.display())]
    WeightsIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: cannot load weights", path.display())]
    WeightsRead {
        path: PathBuf,
        #[source]
        source: candle_core::Error,
    },

    #[error("{}: unknown weights format (expected safetensors or a PyTorch checkpoint)", path.display())]
    UnknownWeightsFormat { path: PathBuf },

    #[error(
        "{}: legacy (pre-zip) PyTorch checkpoint, which cannot be read directly; \
         convert it to safetensors with `python3 models/fetch.py`",
        path.display()
    )]
    LegacyPickle { path: PathBuf },

    #[error("{}: tensor `{name}` is missing; is this the right architecture?", path.display())]
    MissingTensor { path: PathBuf, name: String },

    #[error("{}: tensor `{name}` has shape {actual:?}, expected {expected:?}", path.display())]
    TensorShape { path: PathBuf, name: String, expected: Vec<usize>, actual: Vec<usize> },

    #[error("unknown model `{name}`; expected one of: {expected}")]
    UnknownModel { name: String, expected: String },

    #[error("image {index} of the batch is {width}x{height}, expected {size}x{size}")]
    InputSize { index: usize, width: u32, height: u32, size: u32 },

    #[error("inference failed")]
    Inference(#[source] candle_core::Error),

    #[error("failed to download {url}: {message}")]
    Download { url: String, message: String },
}

/// Formats an error and its sources as `outer: inner: ...`, the way the
/// command-line tools print a failed file. A cause whose message already
/// ends the text is left out, because some errors repeat their source's
/// message in their own.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
