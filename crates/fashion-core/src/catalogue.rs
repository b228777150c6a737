//! Walking a catalogue folder: which files are candidate images, in a
//! stable order, with the size and modification time that incremental
//! builds compare.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use walkdir::WalkDir;

/// One regular file found under the catalogue root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueFile {
    /// Path relative to the catalogue root; never valid UTF-8 by assumption.
    pub relative: PathBuf,
    /// The root joined with `relative`, for opening the file.
    pub path: PathBuf,
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
}

/// A file or folder the walk could not read; the walk goes on without it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct WalkError {
    pub path: PathBuf,
    pub message: String,
    #[source]
    pub source: Option<walkdir::Error>,
}

/// Options that decide which files the walk includes.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// Follow symbolic links to files and folders. Loops are detected and
    /// reported as errors either way.
    pub follow_links: bool,
    /// Files to leave out, such as the index itself when it lies inside the
    /// catalogue. Compared after canonicalisation.
    pub exclude: Vec<PathBuf>,
}

/// Lists every regular file under `root`, sorted by relative path, skipping
/// hidden entries (names starting with `.`, which includes macOS `._*`
/// resource forks), documents such as `labels.csv` (by extension), and,
/// unless `follow_links` is set, symbolic links.
pub fn walk(root: &Path, options: &WalkOptions) -> (Vec<CatalogueFile>, Vec<WalkError>) {
    let exclude: Vec<PathBuf> = options.exclude.iter().filter_map(|p| p.canonicalize().ok()).collect();
    let mut files = Vec::new();
    let mut errors = Vec::new();

    let walker = WalkDir::new(root)
        .follow_links(options.follow_links)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| entry.depth() == 0 || !is_hidden(entry.file_name()));

    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                let path = error.path().map_or_else(|| root.to_owned(), Path::to_owned);
                let message = if error.loop_ancestor().is_some() {
                    "symbolic link loop; skipped".to_owned()
                } else {
                    format!("cannot read: {}", error.io_error().map_or_else(|| error.to_string(), |e| e.to_string()))
                };
                errors.push(WalkError { path, message, source: Some(error) });
                continue;
            }
        };

        if entry.path_is_symlink() && !options.follow_links {
            log::debug!("{}: symbolic link skipped (use --follow-links)", entry.path().display());
            continue;
        }
        if !entry.file_type().is_file() {
            continue;
        }
        if is_document(entry.path()) {
            log::debug!("{}: skipped as a document by its extension", entry.path().display());
            continue;
        }
        if !exclude.is_empty() && entry.path().canonicalize().is_ok_and(|p| exclude.contains(&p)) {
            log::debug!("{}: excluded", entry.path().display());
            continue;
        }

        let metadata = match entry.metadata() {
            Ok(metadata) => metadata,
            Err(error) => {
                let message = format!("cannot read metadata: {error}");
                errors.push(WalkError { path: entry.path().to_owned(), message, source: Some(error) });
                continue;
            }
        };
        let relative = entry.path().strip_prefix(root).expect("walkdir yields paths under its root").to_owned();
        files.push(CatalogueFile {
            relative,
            path: entry.path().to_owned(),
            size: metadata.len(),
            mtime_ns: mtime_ns(&metadata),
        });
    }

    // walkdir sorts each folder's entries, but byte order of whole relative
    // paths is what the store requires.
    files.sort_by(|a, b| a.relative.as_os_str().as_encoded_bytes().cmp(b.relative.as_os_str().as_encoded_bytes()));
    (files, errors)
}

/// Extensions of files that sit beside catalogue photos but are never
/// images, such as `labels.csv` and `README.md`. Every other file is
/// decoded, whatever its extension, because the format is read from the
/// content.
const DOCUMENT_EXTENSIONS: &[&str] =
    &["csv", "tsv", "md", "txt", "json", "jsonl", "html", "htm", "yaml", "yml", "toml", "py", "sh"];

fn is_document(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| DOCUMENT_EXTENSIONS.iter().any(|d| e.eq_ignore_ascii_case(d)))
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// Modification time in nanoseconds since the Unix epoch, 0 when the
/// platform does not report one.
pub fn mtime_ns(metadata: &std::fs::Metadata) -> i64 {
    match metadata.modified().map(|t| t.duration_since(UNIX_EPOCH)) {
        Ok(Ok(after)) => after.as_nanos().min(i64::MAX as u128) as i64,
        Ok(Err(before)) => -(before.duration().as_nanos().min(i64::MAX as u128) as i64),
        Err(_) => 0,
    }
}
