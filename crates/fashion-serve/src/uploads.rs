//! The upload folder: query photos stored under the hex SHA-256 of their
//! content, never under the client's file name, and the clean-up policy that
//! bounds the folder.
//!
//! Policy, applied after each stored upload: files older than
//! [`UploadPolicy::max_age`] are deleted, then the oldest files beyond
//! [`UploadPolicy::max_files`] are deleted. Age is the file's modification
//! time, which a repeated upload of the same photo refreshes. Only files whose
//! name is 64 lowercase hex digits are ever deleted, so other files in the
//! folder are left alone.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Bounds on the upload folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadPolicy {
    /// Maximum number of stored photos.
    pub max_files: usize,
    /// Photos last uploaded longer ago than this are deleted.
    pub max_age: Duration,
}

impl Default for UploadPolicy {
    fn default() -> Self {
        Self { max_files: 1000, max_age: Duration::from_secs(24 * 60 * 60) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{}: cannot create the upload folder", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: cannot store the upload", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: cannot list the upload folder", path.display())]
    List {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The folder of stored query photos.
#[derive(Debug)]
pub struct UploadDir {
    dir: PathBuf,
    policy: UploadPolicy,
}

impl UploadDir {
    /// Opens `dir`, creating it when missing.
    pub fn create(dir: &Path, policy: UploadPolicy) -> Result<Self, UploadError> {
        fs::create_dir_all(dir).map_err(|source| UploadError::CreateDir { path: dir.to_owned(), source })?;
        Ok(Self { dir: dir.to_owned(), policy })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Returns the path of the photo with digest `sha256_hex` if it is stored.
    /// Any name other than 64 lowercase hex digits returns `None`, so the
    /// argument can come straight from a URL.
    pub fn find(&self, sha256_hex: &str) -> Option<PathBuf> {
        if !is_sha256_hex(sha256_hex) {
            return None;
        }
        let path = self.dir.join(sha256_hex);
        path.is_file().then_some(path)
    }

    /// Stores `bytes` as `<dir>/<sha256_hex>`, then applies the clean-up
    /// policy. A photo already stored is not rewritten, only its modification
    /// time is refreshed. Returns the number of files the clean-up deleted.
    pub fn store(&self, sha256_hex: &str, bytes: &[u8]) -> Result<usize, UploadError> {
        assert!(is_sha256_hex(sha256_hex), "upload names are SHA-256 digests, got {sha256_hex:?}");
        let path = self.dir.join(sha256_hex);
        let write_error = |source| UploadError::Write { path: path.clone(), source };

        if path.is_file() {
            log::debug!("{}: already stored, refreshing its time", path.display());
            let file = fs::File::options().write(true).open(&path).map_err(write_error)?;
            file.set_modified(SystemTime::now()).map_err(write_error)?;
        } else {
            // Write beside the target and rename, so a reader never sees half a file.
            let mut temporary = tempfile::NamedTempFile::new_in(&self.dir).map_err(write_error)?;
            temporary.write_all(bytes).map_err(write_error)?;
            temporary.persist(&path).map_err(|error| write_error(error.error))?;
        }

        self.clean(SystemTime::now())
    }

    /// Applies the clean-up policy as of `now`. Returns the number of deleted files.
    pub fn clean(&self, now: SystemTime) -> Result<usize, UploadError> {
        let list_error = |source| UploadError::List { path: self.dir.clone(), source };

        let mut files = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(list_error)? {
            let entry = entry.map_err(list_error)?;
            let name = entry.file_name();
            if !name.to_str().is_some_and(is_sha256_hex) {
                continue;
            }
            let Ok(metadata) = entry.metadata() else { continue };
            if metadata.is_file() {
                let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                files.push((modified, entry.path()));
            }
        }

        // Newest first: everything past the age limit or past max_files goes.
        files.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
        let mut deleted = 0;
        for (position, (modified, path)) in files.iter().enumerate() {
            let age = now.duration_since(*modified).unwrap_or_default();
            let reason = if age > self.policy.max_age {
                "older than the age limit"
            } else if position >= self.policy.max_files {
                "over the file limit"
            } else {
                continue;
            };

            match fs::remove_file(path) {
                Ok(()) => {
                    log::debug!("{}: upload deleted, {reason}", path.display());
                    deleted += 1;
                }
                Err(error) => log::warn!("{}: cannot delete old upload: {error}", path.display()),
            }
        }
        Ok(deleted)
    }
}

/// Tells whether `text` is 64 lowercase hex digits, the form of every stored name.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

/// Formats a digest as lowercase hex.
pub fn to_hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: u8) -> String {
        to_hex(&[n; 32])
    }

    #[test]
    fn store_keeps_at_most_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = UploadDir::create(dir.path(), UploadPolicy { max_files: 2, ..UploadPolicy::default() }).unwrap();
        for n in 0..3 {
            uploads.store(&name(n), b"photo").unwrap();
            // Distinct modification times so "oldest" is well defined.
            let old = SystemTime::now() - Duration::from_secs(60 * (10 - u64::from(n)));
            fs::File::options().write(true).open(dir.path().join(name(n))).unwrap().set_modified(old).unwrap();
        }
        uploads.clean(SystemTime::now()).unwrap();

        assert!(uploads.find(&name(0)).is_none(), "the oldest upload is deleted");
        assert!(uploads.find(&name(1)).is_some());
        assert!(uploads.find(&name(2)).is_some());
    }

    #[test]
    fn clean_deletes_old_files_only_with_digest_names() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = UploadDir::create(dir.path(), UploadPolicy::default()).unwrap();
        uploads.store(&name(1), b"photo").unwrap();
        fs::write(dir.path().join("notes.txt"), b"keep me").unwrap();

        let tomorrow = SystemTime::now() + Duration::from_secs(25 * 60 * 60);
        let deleted = uploads.clean(tomorrow).unwrap();

        assert_eq!(deleted, 1);
        assert!(uploads.find(&name(1)).is_none());
        assert!(dir.path().join("notes.txt").exists(), "files not named by a digest are never deleted");
    }

    #[test]
    fn find_rejects_non_digest_names() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = UploadDir::create(dir.path(), UploadPolicy::default()).unwrap();
        fs::write(dir.path().join("notes.txt"), b"x").unwrap();

        assert!(uploads.find("notes.txt").is_none());
        assert!(uploads.find("../notes.txt").is_none());
        assert!(uploads.find(&name(7).to_uppercase()).is_none());
    }
}
