//! Helpers for the `fashion-index` integration tests: a temporary workspace
//! with a catalogue of real photos, and a runner for the binary.
//!
//! The photos come from `dataset/images/` and the bad files from
//! `fixtures/images/` (its README lists what each one is). The tests pass
//! `--weights models/cache/efficientnet-lite0.safetensors` explicitly, which
//! `python3 models/fetch.py efficientnet-lite0` creates.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// Returns the repository root, two levels above this crate.
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root exists")
}

/// Returns the weights file of `model`, and panics with the command that
/// fetches it when it is missing.
pub fn weights(model: &str) -> PathBuf {
    let path = repository_root().join("models/cache").join(format!("{model}.safetensors"));
    assert!(
        path.is_file(),
        "{}: weights file not found; run `python3 models/fetch.py {model}` in the repository root first",
        path.display()
    );
    path
}

/// Lists the catalogue photos in `dataset/images/`, sorted by name.
pub fn photos() -> Vec<PathBuf> {
    let folder = repository_root().join("dataset/images");
    let mut photos: Vec<PathBuf> = fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|entry| entry.expect("a readable folder entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "jpg"))
        .collect();
    photos.sort();
    photos
}

/// Returns the path of a file in `fixtures/images/`.
pub fn fixture(name: &str) -> PathBuf {
    let path = repository_root().join("fixtures/images").join(name);
    assert!(path.is_file(), "{}: fixture not found", path.display());
    path
}

/// The exit status, stdout and stderr of one run.
#[derive(Debug)]
pub struct Run {
    /// `None` when a signal ended the process.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }

    /// Parses stdout as one JSON value.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {self:?}"))
    }
}

/// A temporary folder with a `catalogue/` subfolder, removed on drop.
pub struct Workspace {
    _temp: TempDir,
    /// The canonical path of the temporary folder, as the index records it.
    pub root: PathBuf,
}

impl Workspace {
    pub fn new() -> Self {
        let temp = tempfile::tempdir().expect("a temporary folder");
        let root = temp.path().canonicalize().expect("the temporary folder exists");
        fs::create_dir(root.join("catalogue")).expect("create the catalogue folder");
        Self { _temp: temp, root }
    }

    pub fn catalogue(&self) -> PathBuf {
        self.root.join("catalogue")
    }

    /// Returns the path of the test index, outside the catalogue.
    pub fn index(&self) -> PathBuf {
        self.root.join("index.fidx")
    }

    /// Copies the photos `first..first + count` of `dataset/images/` into
    /// the catalogue and returns their file names.
    pub fn add_photos(&self, first: usize, count: usize) -> Vec<String> {
        let photos = photos();
        assert!(photos.len() >= first + count, "dataset/images has only {} photos", photos.len());

        photos[first..first + count]
            .iter()
            .map(|photo| {
                let name = photo.file_name().unwrap().to_str().unwrap().to_owned();
                fs::copy(photo, self.catalogue().join(&name)).expect("copy a photo");
                name
            })
            .collect()
    }

    /// Copies a file of `fixtures/images/` into the catalogue under `name`.
    pub fn add_fixture(&self, fixture_name: &str, name: &str) {
        fs::copy(fixture(fixture_name), self.catalogue().join(name)).expect("copy a fixture");
    }

    /// Creates a `fashion-index` command that runs in the workspace, without
    /// the environment variables that change its defaults or its logging.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fashion-index"));
        command
            .args(args)
            .current_dir(&self.root)
            .env_remove("FASHION_INDEX")
            .env_remove("FASHION_MODELS_DIR")
            .env_remove("RUST_LOG");
        command
    }

    /// Runs `fashion-index` with `args` and waits for it.
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Run::from_output(self.command(args).output().expect("run fashion-index"))
    }

    /// Returns the arguments of `build` of the catalogue into `index` with the Lite0 weights.
    pub fn build_args(&self, index: &Path, extra: &[&str]) -> Vec<PathBuf> {
        let mut args: Vec<PathBuf> = vec![
            "build".into(),
            self.catalogue(),
            "--index".into(),
            index.to_owned(),
            "--weights".into(),
            weights("efficientnet-lite0"),
        ];
        args.extend(extra.iter().map(PathBuf::from));
        args
    }

    /// Builds the catalogue into `index` with the Lite0 weights.
    pub fn build(&self, index: &Path, extra: &[&str]) -> Run {
        self.run(self.build_args(index, extra))
    }

    /// Builds with `--json` and returns the summary after checking the exit status.
    pub fn build_json(&self, index: &Path, expected_code: i32) -> serde_json::Value {
        let run = self.build(index, &["--json"]);
        assert_eq!(run.code, Some(expected_code), "{run:?}");
        run.json()
    }
}

/// Reads the record paths of a store, in stored order.
pub fn record_paths(index: &Path) -> Vec<PathBuf> {
    let store = fashion_store::Store::open(index, fashion_store::PayloadCheck::Verify)
        .unwrap_or_else(|e| panic!("{}: {e}", index.display()));
    store.records().iter().map(|record| record.path.clone()).collect()
}

/// Selects the counters of a build summary, for one `assert_eq!`.
pub fn counts(summary: &serde_json::Value) -> [(&'static str, u64); 6] {
    ["indexed", "embedded", "reused", "removed", "skipped", "resumed"].map(|key| {
        let value = summary[key].as_u64().unwrap_or_else(|| panic!("summary has no count `{key}`: {summary}"));
        (key, value)
    })
}
