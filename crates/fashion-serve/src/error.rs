//! Error types: [`StartError`] for loading the server's state at start-up,
//! and [`ApiError`], the JSON `{"error": MESSAGE}` response of a failed request.

use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::ratings::RatingsError;
use crate::uploads::UploadError;

/// Failure to load the index, the model, the labels, the ratings database or
/// the upload folder before serving.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}: index not found; build one with `fashion-index build CATALOGUE --index {0}`", path.display())]
    IndexNotFound { path: PathBuf },

    #[error("{}: cannot open the index", path.display())]
    Index {
        path: PathBuf,
        #[source]
        source: fashion_core::index::IndexError,
    },

    #[error("{}: cannot load the model `{architecture}` that the index was built with", path.display())]
    Model {
        path: PathBuf,
        architecture: String,
        /// Boxed, because the embedding error is far larger than the other variants.
        #[source]
        source: Box<fashion_core::EmbedError>,
    },

    #[error(
        "{}: these weights (sha256 {actual}) are not the ones the index was built with (sha256 {expected}); \
         pass the original file with --weights or rebuild the index",
        path.display()
    )]
    WeightsMismatch { path: PathBuf, actual: String, expected: String },

    #[error("the index names unknown resize mode `{0}`; rebuild it with this version of `fashion-index`")]
    ResizeMode(String),

    #[error("{}: cannot read the catalogue labels", path.display())]
    Labels {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },

    #[error("{}: cannot resolve the catalogue folder named by the index", path.display())]
    CatalogueRoot {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    Ratings(#[from] RatingsError),

    #[error(transparent)]
    Uploads(#[from] UploadError),
}

/// A failed request: the HTTP status, a message for the user, and for server
/// errors the cause, which goes to the log only.
///
/// The response body is `{"error": MESSAGE}`. Every `ApiError` turned into a
/// response is logged: client errors (4xx) at warn level, server errors at
/// error level with their cause.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Error chain of a server error; kept out of the response because it
    /// may name server paths.
    pub cause: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), cause: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// Builds a 500 error: the user reads `context`, the log gets the error chain too.
    pub fn internal(context: &str, error: &(dyn std::error::Error + 'static)) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("{context}; the server log has the details"),
            cause: Some(format!("{context}: {}", error_chain(error))),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            log::error!("{} {cause}", self.status.as_u16());
        } else if self.status.is_server_error() {
            log::error!("{} {}", self.status.as_u16(), self.message);
        } else {
            log::warn!("{} {}", self.status.as_u16(), self.message);
        }
        let body = Json(serde_json::json!({ "error": self.message }));
        (self.status, body).into_response()
    }
}

/// Formats an error and its sources as `outer: inner: ...`.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
