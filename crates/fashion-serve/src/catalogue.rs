//! The catalogue as served to the page: which relative paths may be served
//! (exactly the index's records), their product labels from the catalogue's
//! `labels.csv`, and the resolution of a requested path to a file that is
//! guaranteed to lie inside the catalogue folder.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use axum::http::StatusCode;
use fashion_core::index::Index;
use serde::Deserialize;

use crate::error::{ApiError, StartError};

/// Name of the optional label file in the catalogue folder.
pub const LABELS_FILE: &str = "labels.csv";

/// Product name and type of one catalogue image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// `productDisplayName` column.
    pub name: String,
    /// `articleType` column, such as "Tshirts" or "Skirts".
    pub category: String,
}

/// One row of `labels.csv`; other columns are ignored.
#[derive(Deserialize)]
struct LabelRow {
    file: String,
    #[serde(rename = "articleType")]
    article_type: String,
    #[serde(rename = "productDisplayName")]
    product_display_name: String,
}

/// The servable catalogue files of an index.
pub struct Catalogue {
    /// Canonical catalogue folder; every served file must lie below it.
    root: PathBuf,
    /// URL form of each record path (`/`-separated, UTF-8) to its record index.
    records: HashMap<String, usize>,
    /// URL form of each record path, by record index; `None` for paths that are not UTF-8.
    url_paths: Vec<Option<String>>,
    labels: HashMap<String, Label>,
}

impl Catalogue {
    /// Maps the records of `index` and reads `labels.csv` when the catalogue has one.
    pub fn load(index: &Index) -> Result<Self, StartError> {
        let stored_root = &index.store().header().catalogue_root;
        let root = stored_root
            .canonicalize()
            .map_err(|source| StartError::CatalogueRoot { path: stored_root.clone(), source })?;

        let url_paths: Vec<Option<String>> =
            index.store().records().iter().map(|record| url_path(&record.path)).collect();
        let records =
            url_paths.iter().enumerate().filter_map(|(position, path)| Some((path.clone()?, position))).collect();
        let skipped = url_paths.iter().filter(|path| path.is_none()).count();
        if skipped > 0 {
            log::warn!("{skipped} catalogue paths are not UTF-8 and cannot be shown on the page");
        }

        let labels = read_labels(&root.join(LABELS_FILE))?;
        Ok(Self { root, records, url_paths, labels })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Returns the URL form of record `index`'s path, `None` when it is not UTF-8.
    pub fn url_path(&self, index: usize) -> Option<&str> {
        self.url_paths.get(index)?.as_deref()
    }

    /// Tells whether `path` is the URL form of one of the index's records.
    pub fn contains(&self, path: &str) -> bool {
        self.records.contains_key(path)
    }

    pub fn label(&self, path: &str) -> Option<&Label> {
        self.labels.get(path)
    }

    pub fn label_count(&self) -> usize {
        self.labels.len()
    }

    /// Resolves a requested relative path to the file to serve.
    ///
    /// Errors: 400 for an empty or absolute path or one with `.` or `..`
    /// components. 404 for a path that is not a record of the index. 403 for a
    /// record whose canonical path lies outside the catalogue folder, such as a
    /// symbolic link pointing elsewhere.
    pub fn resolve(&self, requested: &str) -> Result<PathBuf, ApiError> {
        check_relative(requested)?;

        if !self.records.contains_key(requested) {
            return Err(ApiError::not_found(format!("{requested}: not an image of the catalogue")));
        }

        let full = self.root.join(requested);
        let canonical = full
            .canonicalize()
            .map_err(|error| ApiError::not_found(format!("{requested}: catalogue image is missing: {error}")))?;
        if !canonical.starts_with(&self.root) {
            log::debug!("{}: resolves to {}, outside the catalogue", full.display(), canonical.display());
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("{requested}: links outside the catalogue folder"),
            ));
        }
        Ok(canonical)
    }
}

/// Rejects paths that are empty, absolute, or contain `.`, `..` or backslashes.
fn check_relative(requested: &str) -> Result<(), ApiError> {
    let invalid = |why: &str| Err(ApiError::bad_request(format!("invalid catalogue path {requested:?}: {why}")));

    if requested.is_empty() {
        return invalid("empty");
    }
    if requested.starts_with('/') || Path::new(requested).is_absolute() {
        return invalid("absolute paths are not allowed");
    }
    if requested.contains('\\') || requested.contains('\0') {
        return invalid("backslashes and NUL bytes are not allowed");
    }
    if requested.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return invalid("empty, `.` and `..` components are not allowed");
    }
    Ok(())
}

/// Converts a stored relative path to its URL form, `/`-separated.
fn url_path(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// Reads `labels.csv`, keyed by its `file` column. A missing file yields no labels.
fn read_labels(path: &Path) -> Result<HashMap<String, Label>, StartError> {
    let labels_error = |source| StartError::Labels { path: path.to_owned(), source };

    let mut reader = match csv::Reader::from_path(path) {
        Ok(reader) => reader,
        Err(error) if matches!(error.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound) => {
            log::debug!("{}: no labels, results show paths only", path.display());
            return Ok(HashMap::new());
        }
        Err(error) => return Err(labels_error(error)),
    };

    let mut labels = HashMap::new();
    for row in reader.deserialize::<LabelRow>() {
        let row = row.map_err(labels_error)?;
        labels.insert(row.file, Label { name: row.product_display_name, category: row.article_type });
    }
    log::debug!("{}: {} labels", path.display(), labels.len());
    Ok(labels)
}

/// Percent-encodes a `/`-separated relative path for use in a URL, keeping
/// the separators and the RFC 3986 unreserved characters.
pub fn encode_url_path(path: &str) -> String {
    let mut encoded = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_relative_rejects_escapes() {
        for path in ["", "/etc/passwd", "../x.jpg", "a/../../x.jpg", "a/./b.jpg", "a//b.jpg", "a\\..\\b.jpg", "a/.."] {
            let error = check_relative(path).expect_err(path);
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{path}");
        }
        assert!(check_relative("images/1.jpg").is_ok());
        assert!(check_relative("a..b/c.jpg").is_ok(), "dots inside a name are fine");
    }

    #[test]
    fn encode_url_path_keeps_separators() {
        assert_eq!(encode_url_path("images/10001.jpg"), "images/10001.jpg");
        assert_eq!(encode_url_path("my shirts/ä#1.jpg"), "my%20shirts/%C3%A4%231.jpg");
    }

    #[test]
    fn labels_read_quoted_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LABELS_FILE);
        std::fs::write(
            &path,
            "file,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName\n\
             images/1.jpg,Men,Apparel,Topwear,Tshirts,Blue,Summer,2011,Casual,\"Shirt, blue\"\n",
        )
        .unwrap();

        let labels = read_labels(&path).unwrap();
        assert_eq!(labels["images/1.jpg"], Label { name: "Shirt, blue".into(), category: "Tshirts".into() });
        assert!(read_labels(&dir.path().join("missing.csv")).unwrap().is_empty());
    }
}
