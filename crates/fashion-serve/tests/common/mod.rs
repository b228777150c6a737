//! Shared fixture of the integration tests: a 10-photo catalogue copied from
//! the repository's `dataset/`, indexed with efficientnet-lite0, and a
//! running server over it.

#![allow(dead_code)]

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use fashion_serve::ratings::RatingsDb;
use fashion_serve::{AppState, RunningServer, ServeConfig};
pub use fashion_testkit::repository_root;
use fashion_testkit::{build_strict, weights};
use tempfile::TempDir;

/// Number of catalogue photos in the fixture.
pub const PHOTOS: usize = 10;

pub struct Fixture {
    pub dir: TempDir,
    pub catalogue: PathBuf,
    pub config: ServeConfig,
}

impl Fixture {
    /// Copies the first [`PHOTOS`] dataset photos and their labels into a
    /// temporary catalogue and indexes it.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let catalogue = dir.path().join("catalogue");
        let source = repository_root().join("dataset");
        fs::create_dir_all(catalogue.join("images")).unwrap();

        let labels = fs::read_to_string(source.join("labels.csv")).expect("dataset/labels.csv");
        let mut lines = labels.lines();
        let mut kept = vec![lines.next().unwrap().to_owned()];
        for line in lines.take(PHOTOS) {
            let file = line.split(',').next().unwrap();
            fs::copy(source.join(file), catalogue.join(file)).unwrap();
            kept.push(line.to_owned());
        }
        fs::write(catalogue.join("labels.csv"), kept.join("\n") + "\n").unwrap();

        let index = dir.path().join("catalogue.fidx");
        build_strict(&catalogue, &index, PHOTOS);

        let mut config = ServeConfig::new(&index);
        config.weights = Some(weights("efficientnet-lite0"));
        Fixture { dir, catalogue, config }
    }

    /// Returns the catalogue-relative paths of the fixture photos, in label order.
    pub fn photo_paths(&self) -> Vec<String> {
        let labels = fs::read_to_string(self.catalogue.join("labels.csv")).unwrap();
        labels.lines().skip(1).map(|line| line.split(',').next().unwrap().to_owned()).collect()
    }

    pub fn photo_bytes(&self, relative: &str) -> Vec<u8> {
        fs::read(self.catalogue.join(relative)).unwrap()
    }

    /// Returns the number of stored ratings and the sorted names in the upload folder.
    pub fn written_state(&self) -> (u64, Vec<String>) {
        let ratings = RatingsDb::open(&self.config.ratings).unwrap().count().unwrap();
        let mut uploads: Vec<String> = match fs::read_dir(&self.config.upload_dir) {
            Ok(entries) => entries.map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect(),
            Err(_) => Vec::new(),
        };
        uploads.sort();
        (ratings, uploads)
    }
}

/// Starts a server for `config` on 127.0.0.1, on a port chosen by the system.
pub async fn start_server(config: &ServeConfig) -> RunningServer {
    let config = config.clone();
    let state =
        tokio::task::spawn_blocking(move || AppState::load(&config)).await.unwrap().expect("server state loads");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    fashion_serve::start(Arc::new(state), listener).unwrap()
}
