//! Routes and handlers: the embedded page, search, ratings, and the catalogue
//! and upload images. Blocking work (decoding, inference, SQLite, file reads)
//! runs in `tokio::task::spawn_blocking`, never on the async worker threads.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Multipart, Path as UrlPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::catalogue::encode_url_path;
use crate::error::ApiError;
use crate::ratings::{NewRating, STARS};
use crate::state::AppState;
use crate::uploads::{is_sha256_hex, to_hex};

const INDEX_HTML: &str = include_str!("../assets/index.html");
const STYLE_CSS: &str = include_str!("../assets/style.css");
const APP_JS: &str = include_str!("../assets/app.js");

/// Room for the multipart boundaries and headers around the photo, on top
/// of the photo size limit.
const MULTIPART_OVERHEAD_BYTES: usize = 64 * 1024;

/// Name of the multipart field that carries the photo.
pub const PHOTO_FIELD: &str = "photo";

type Shared = Arc<AppState>;

/// Builds the application's routes over `state`.
pub fn router(state: Shared) -> Router {
    let body_limit = state.max_upload_bytes + MULTIPART_OVERHEAD_BYTES;
    Router::new()
        .route("/", get(|| async { Html(INDEX_HTML) }))
        .route("/assets/style.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE_CSS) }))
        .route("/assets/app.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], APP_JS) }))
        .route("/api/search", post(search_upload))
        .route("/api/search/{sha256}", get(search_stored))
        .route("/api/ratings", post(add_rating))
        .route("/api/ratings/summary", get(ratings_summary))
        .route("/ratings.csv", get(ratings_csv))
        .route("/catalogue/{*path}", get(catalogue_image))
        .route("/uploads/{sha256}", get(upload_image))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// A server running on a tokio task.
pub struct RunningServer {
    pub addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Stops accepting connections, waits for open requests to finish, and
    /// drops the state (closing the ratings database).
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(());
        self.task.await.map_err(std::io::Error::other)?
    }
}

/// Serves `state` on `listener` in a new task until [`RunningServer::stop`].
pub fn start(state: Shared, listener: TcpListener) -> std::io::Result<RunningServer> {
    let addr = listener.local_addr()?;
    let (shutdown, stopped) = oneshot::channel::<()>();
    let app = router(state);
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    Ok(RunningServer { addr, shutdown, task })
}

/// Logs each request's method, path, status and time at debug level.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();

    let response = next.run(request).await;

    log::debug!("{method} {path} -> {} in {:.1} ms", response.status().as_u16(), started.elapsed().as_secs_f64() * 1e3);
    response
}

/// Runs blocking `work` on the blocking thread pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|error| ApiError::internal("request worker failed", &error))?
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct SearchResponse {
    /// Lowercase hex SHA-256 of the uploaded photo; ratings refer to it.
    pub query_sha256: String,
    /// URL of the stored query photo.
    pub query_url: String,
    pub results: Vec<SearchResult>,
    /// Latest stars given to the whole result set of this photo.
    pub set_stars: Option<u8>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct SearchResult {
    /// 1 for the nearest image.
    pub rank: usize,
    /// Path relative to the catalogue folder, `/`-separated.
    pub path: String,
    /// Euclidean distance between unit embeddings, 0 to 2.
    pub distance: f32,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The product's article type, such as "Tshirts".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Latest stars given to this result for this photo.
    pub stars: Option<u8>,
}

/// `POST /api/search`: multipart field `photo`.
async fn search_upload(
    State(state): State<Shared>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<SearchResponse>, ApiError> {
    let multipart = multipart.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    let photo = read_photo(multipart, state.max_upload_bytes).await?;

    let response = blocking(move || {
        let sha256 = to_hex(&fashion_core::pipeline::sha256(&photo));
        let response = run_search(&state, &sha256, &photo)?;

        // Stored only once the photo decoded, so a rejected upload writes nothing.
        let deleted = state
            .uploads
            .store(&sha256, &photo)
            .map_err(|error| ApiError::internal("cannot store the upload", &error))?;
        log::debug!("upload {sha256}: {} bytes kept, {deleted} old uploads deleted", photo.len());
        Ok(response)
    })
    .await?;
    Ok(Json(response))
}

/// `GET /api/search/{sha256}`: searches again with a stored upload, so that
/// a reloaded page shows the same results and their ratings.
async fn search_stored(
    State(state): State<Shared>,
    UrlPath(sha256): UrlPath<String>,
) -> Result<Json<SearchResponse>, ApiError> {
    let response = blocking(move || {
        let path = state.uploads.find(&sha256).ok_or_else(|| missing_upload(&sha256))?;
        let photo =
            std::fs::read(&path).map_err(|error| ApiError::internal("cannot read the stored upload", &error))?;
        run_search(&state, &sha256, &photo)
    })
    .await?;
    Ok(Json(response))
}

fn missing_upload(sha256: &str) -> ApiError {
    ApiError::not_found(format!(
        "no stored photo with SHA-256 {sha256}; uploads are deleted after a while, so upload the photo again"
    ))
}

/// Reads the `photo` field, rejecting it with 413 once it passes `max_bytes`.
async fn read_photo(mut multipart: Multipart, max_bytes: usize) -> Result<Vec<u8>, ApiError> {
    let multipart_error = |error: axum::extract::multipart::MultipartError| {
        ApiError::new(error.status(), format!("invalid upload: {}", error.body_text()))
    };

    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() != Some(PHOTO_FIELD) {
            log::debug!("ignoring multipart field {:?}", field.name());
            continue;
        }
        let mut photo = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            if photo.len() + chunk.len() > max_bytes {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("photo is larger than the limit of {max_bytes} bytes"),
                ));
            }
            photo.extend_from_slice(&chunk);
        }
        return Ok(photo);
    }
    Err(ApiError::bad_request(format!("missing multipart field `{PHOTO_FIELD}` with the photo")))
}

/// Searches with `photo` and attaches labels and the stored ratings.
fn run_search(state: &AppState, sha256: &str, photo: &[u8]) -> Result<SearchResponse, ApiError> {
    let hits = state.engine.search(photo, state.k)?;
    let ratings =
        state.ratings.latest_for_query(sha256).map_err(|error| ApiError::internal("cannot read ratings", &error))?;

    let results = hits
        .iter()
        .filter_map(|hit| Some((hit, state.catalogue.url_path(hit.index)?)))
        .enumerate()
        .map(|(position, (hit, path))| {
            let label = state.catalogue.label(path);
            SearchResult {
                rank: position + 1,
                path: path.to_owned(),
                distance: hit.distance,
                url: format!("/catalogue/{}", encode_url_path(path)),
                name: label.map(|label| label.name.clone()),
                category: label.map(|label| label.category.clone()),
                stars: ratings.stars_of(path),
            }
        })
        .collect();

    Ok(SearchResponse {
        query_sha256: sha256.to_owned(),
        query_url: format!("/uploads/{sha256}"),
        results,
        set_stars: ratings.set_stars,
    })
}

/// Body of `POST /api/ratings`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RatingRequest {
    pub query_sha256: String,
    /// The rated result, or `null` (or absent) to rate the whole result set.
    #[serde(default)]
    pub path: Option<String>,
    pub stars: i64,
}

/// `POST /api/ratings`: stores a rating and returns 201 with its id.
async fn add_rating(
    State(state): State<Shared>,
    request: Result<Json<RatingRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = request
        .map_err(|rejection| ApiError::new(rejection.status(), format!("invalid rating: {}", rejection.body_text())))?;

    let stars = u8::try_from(request.stars)
        .ok()
        .filter(|stars| STARS.contains(stars))
        .ok_or_else(|| ApiError::bad_request(format!("invalid stars {}: expected 1 to 5", request.stars)))?;
    if !is_sha256_hex(&request.query_sha256) {
        return Err(ApiError::bad_request(format!(
            "invalid query_sha256 {:?}: expected 64 lowercase hex digits",
            request.query_sha256
        )));
    }
    if let Some(path) = &request.path {
        if !state.catalogue.contains(path) {
            return Err(ApiError::bad_request(format!("invalid path {path:?}: not an image of the catalogue")));
        }
    }

    let rating = NewRating { query_sha256: request.query_sha256, result_path: request.path, stars };
    let id = blocking(move || {
        if state.uploads.find(&rating.query_sha256).is_none() {
            return Err(missing_upload(&rating.query_sha256));
        }
        let id =
            state.ratings.insert(&rating).map_err(|error| ApiError::internal("cannot store the rating", &error))?;
        log::debug!(
            "rating {id}: {} stars for {:?} of query {}",
            rating.stars,
            rating.result_path,
            rating.query_sha256
        );
        Ok(id)
    })
    .await?;

    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response())
}

/// `GET /api/ratings/summary`: `{"items": [{path, mean_stars, count}], "count": N}`.
async fn ratings_summary(State(state): State<Shared>) -> Result<Response, ApiError> {
    let (items, count) = blocking(move || {
        let read_error = |error: crate::ratings::RatingsError| ApiError::internal("cannot read ratings", &error);
        Ok((state.ratings.summary().map_err(read_error)?, state.ratings.count().map_err(read_error)?))
    })
    .await?;
    Ok(Json(serde_json::json!({ "items": items, "count": count })).into_response())
}

/// `GET /ratings.csv`: every rating, oldest first; an empty `result_path` is a whole-set rating.
async fn ratings_csv(State(state): State<Shared>) -> Result<Response, ApiError> {
    let csv = blocking(move || {
        let ratings = state.ratings.all().map_err(|error| ApiError::internal("cannot read ratings", &error))?;
        let mut writer = csv::Writer::from_writer(Vec::new());
        for rating in &ratings {
            writer.serialize(rating).map_err(|error| ApiError::internal("cannot write CSV", &error))?;
        }
        if ratings.is_empty() {
            writer
                .write_record(["id", "query_sha256", "result_path", "stars", "rated_at"])
                .map_err(|error| ApiError::internal("cannot write CSV", &error))?;
        }
        writer.into_inner().map_err(|error| ApiError::internal("cannot write CSV", error.error()))
    })
    .await?;

    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
        (header::CONTENT_DISPOSITION, "attachment; filename=\"ratings.csv\""),
    ];
    Ok((headers, csv).into_response())
}

/// `GET /catalogue/{path}`: a catalogue image, only if `path` is a record of the index.
async fn catalogue_image(
    State(state): State<Shared>,
    path: Result<UrlPath<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let UrlPath(path) =
        path.map_err(|rejection| ApiError::bad_request(format!("invalid catalogue path: {}", rejection.body_text())))?;
    blocking(move || {
        let file = state.catalogue.resolve(&path)?;
        let bytes = std::fs::read(&file).map_err(|error| ApiError::internal("cannot read catalogue image", &error))?;
        Ok(image_response(&file, bytes, "public, max-age=3600"))
    })
    .await
}

/// `GET /uploads/{sha256}`: a stored query photo.
async fn upload_image(State(state): State<Shared>, UrlPath(sha256): UrlPath<String>) -> Result<Response, ApiError> {
    blocking(move || {
        let file = state.uploads.find(&sha256).ok_or_else(|| missing_upload(&sha256))?;
        let bytes =
            std::fs::read(&file).map_err(|error| ApiError::internal("cannot read the stored upload", &error))?;
        Ok(image_response(&file, bytes, "private, max-age=3600"))
    })
    .await
}

/// Returns image bytes, typed by their content, else by the file extension.
fn image_response(file: &Path, bytes: Vec<u8>, cache_control: &'static str) -> Response {
    let format = image::guess_format(&bytes).ok().or_else(|| image::ImageFormat::from_path(file).ok());
    let content_type = format.map_or("application/octet-stream", |format| format.to_mime_type());
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache_control)),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    (headers, bytes).into_response()
}
