//! The search engine: the index and the model it was built with, loaded once
//! and shared by all requests. Its methods block (decoding, inference, tree
//! search), so handlers call them inside `tokio::task::spawn_blocking`.

use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use fashion_core::index::{Index, IndexError};
use fashion_core::pipeline::{parse_resize_mode, prepare_bytes};
use fashion_core::weights::sha256_file;
use fashion_core::{resolve_weights, Architecture, DecodeError, DecodeOptions, Embedder, ResizeMode};
use fashion_store::PayloadCheck;

use crate::error::{error_chain, ApiError, StartError};

/// The index and its model.
pub struct SearchEngine {
    index: Index,
    embedder: Embedder,
    resize: ResizeMode,
    decode: DecodeOptions,
    weights: PathBuf,
}

/// One search result: the record's position in the index and its Euclidean distance to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub index: usize,
    pub distance: f32,
}

impl SearchEngine {
    /// Opens the index at `index_path` and loads the model named in its
    /// fingerprint, after checking that the weights file is the very one the
    /// index was built with (same SHA-256).
    pub fn load(index_path: &Path, weights: Option<&Path>, decode: DecodeOptions) -> Result<Self, StartError> {
        let index = Index::open(index_path, PayloadCheck::Skip).map_err(|source| match source {
            IndexError::NotFound { path } => StartError::IndexNotFound { path },
            source => StartError::Index { path: index_path.to_owned(), source },
        })?;
        let fingerprint = index.fingerprint().clone();

        let model_error = |path: &Path, source| StartError::Model {
            path: path.to_owned(),
            architecture: fingerprint.architecture.clone(),
            source: Box::new(source),
        };
        let architecture: Architecture =
            fingerprint.architecture.parse().map_err(|source| model_error(index_path, source))?;
        let weights = resolve_weights(architecture, weights).map_err(|source| model_error(index_path, source))?;

        let actual = sha256_file(&weights).map_err(|source| model_error(&weights, source))?;
        if actual != fingerprint.weights_sha256 {
            return Err(StartError::WeightsMismatch { path: weights, actual, expected: fingerprint.weights_sha256 });
        }
        let embedder = Embedder::load(architecture, &weights, &fingerprint.resize)
            .map_err(|source| model_error(&weights, source))?;
        let resize =
            parse_resize_mode(&fingerprint.resize).ok_or_else(|| StartError::ResizeMode(fingerprint.resize.clone()))?;

        Ok(Self { index, embedder, resize, decode, weights })
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    pub fn architecture(&self) -> Architecture {
        self.embedder.architecture()
    }

    pub fn weights(&self) -> &Path {
        &self.weights
    }

    /// Decodes `bytes` with the indexer's decoder limits, embeds the image
    /// and returns the `k` nearest catalogue images, nearest first.
    ///
    /// Decoding failures become 4xx errors that tell the user what is wrong
    /// with the upload; model and search failures become 500.
    pub fn search(&self, bytes: &[u8], k: usize) -> Result<Vec<Hit>, ApiError> {
        let name = Path::new("upload");
        let prepared = prepare_bytes(bytes, name, &self.decode, self.embedder.input_size(), self.resize)
            .map_err(decode_rejection)?;

        let vector = self
            .embedder
            .embed(&[&prepared.image])
            .map_err(|error| ApiError::internal("embedding failed", &error))?
            .pop()
            .expect("one vector per image");

        let neighbours = self.index.search(&vector, k).map_err(|error| ApiError::internal("search failed", &error))?;
        Ok(neighbours.into_iter().map(|n| Hit { index: n.index, distance: n.distance }).collect())
    }
}

/// Maps a decoding failure of an upload to a client error.
fn decode_rejection(error: DecodeError) -> ApiError {
    let status = match &error {
        DecodeError::Empty { .. } | DecodeError::Corrupt { .. } => StatusCode::BAD_REQUEST,
        DecodeError::Unsupported { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        DecodeError::TooLarge { .. } | DecodeError::FileTooLarge { .. } | DecodeError::MemoryLimit { .. } => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        _ => return ApiError::internal("cannot decode the upload", &error),
    };
    // The decoder's messages start with "cannot decode: "; name the upload instead.
    let reason = error_chain(&error);
    let reason = reason.strip_prefix("cannot decode: ").unwrap_or(&reason);
    ApiError::new(status, format!("cannot decode the uploaded photo: {reason}"))
}
