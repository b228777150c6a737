//! The server's configuration and the state shared by all requests: search
//! engine, catalogue, ratings database and upload folder, loaded once.

use std::path::{Path, PathBuf};

use fashion_core::DecodeOptions;

use crate::catalogue::Catalogue;
use crate::engine::SearchEngine;
use crate::error::StartError;
use crate::ratings::RatingsDb;
use crate::uploads::{UploadDir, UploadPolicy};

/// Default for [`ServeConfig::max_upload_bytes`]: 20 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 20 * 1024 * 1024;

/// Default number of results per search.
pub const DEFAULT_K: usize = 5;

/// Server configuration: the index, where state is kept, and request limits.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub index: PathBuf,
    /// Weights file; `None` looks it up like `fashion-query` does.
    pub weights: Option<PathBuf>,
    /// Results per search.
    pub k: usize,
    /// SQLite ratings database, created when missing.
    pub ratings: PathBuf,
    /// Folder of stored query photos, created when missing.
    pub upload_dir: PathBuf,
    /// Largest accepted photo, in bytes.
    pub max_upload_bytes: usize,
    pub upload_policy: UploadPolicy,
    /// Largest accepted photo, in pixels (width x height); the indexer's limit by default.
    pub max_pixels: u64,
}

impl ServeConfig {
    /// Returns the defaults for `index`: ratings in `INDEX.ratings.sqlite` and
    /// uploads in `INDEX.uploads/`, both next to the index.
    pub fn new(index: &Path) -> Self {
        Self {
            index: index.to_owned(),
            weights: None,
            k: DEFAULT_K,
            ratings: with_suffix(index, ".ratings.sqlite"),
            upload_dir: with_suffix(index, ".uploads"),
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            upload_policy: UploadPolicy::default(),
            max_pixels: DecodeOptions::default().max_pixels,
        }
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// State shared by all requests.
pub struct AppState {
    pub engine: SearchEngine,
    pub catalogue: Catalogue,
    pub ratings: RatingsDb,
    pub uploads: UploadDir,
    pub k: usize,
    pub max_upload_bytes: usize,
}

impl AppState {
    /// Loads the index, model, labels, ratings database and upload folder.
    /// Blocks for as long as the model takes to load.
    pub fn load(config: &ServeConfig) -> Result<Self, StartError> {
        let decode =
            DecodeOptions { max_pixels: config.max_pixels, max_file_bytes: Some(config.max_upload_bytes as u64) };
        let engine = SearchEngine::load(&config.index, config.weights.as_deref(), decode)?;
        let catalogue = Catalogue::load(engine.index())?;
        let ratings = RatingsDb::open(&config.ratings)?;
        let uploads = UploadDir::create(&config.upload_dir, config.upload_policy)?;

        Ok(Self { engine, catalogue, ratings, uploads, k: config.k, max_upload_bytes: config.max_upload_bytes })
    }
}
