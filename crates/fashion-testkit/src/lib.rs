//! Helpers shared by the integration tests of the command-line crates: the
//! repository's real photos, fixtures and weights, a temporary workspace
//! with a catalogue folder, a strict index build, and a runner that captures
//! a binary's exit status and output.
//!
//! The photos come from `dataset/images/` and the bad files from
//! `fixtures/images/` (its README lists what each one is). The weights are
//! the files in `models/cache/` that `python3 models/fetch.py MODEL`
//! creates; tests pass them explicitly so that no test depends on the
//! environment's model folder.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use fashion_core::build::{build_index, BuildObserver, BuildOptions, BuildSummary, FileProblem};
use fashion_core::{Architecture, DecodeOptions, ResizeMode};
use tempfile::TempDir;

/// The environment variables that change a binary's defaults or its
/// logging; test commands run without them.
const DEFAULT_CHANGING_VARIABLES: [&str; 3] = ["FASHION_INDEX", "FASHION_MODELS_DIR", "RUST_LOG"];

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
    pub stdout_bytes: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn from_output(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stdout_bytes: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
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

    /// Creates a command for the binary `program` with `args` that runs in
    /// the workspace, without the environment variables that change its
    /// defaults or its logging.
    pub fn binary_command<I, S>(&self, program: &str, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(program);
        command.args(args).current_dir(&self.root);
        for variable in DEFAULT_CHANGING_VARIABLES {
            command.env_remove(variable);
        }
        command
    }

    /// Embeds the catalogue into [`Workspace::index`] with the Lite0 weights,
    /// and fails the test when the catalogue is empty.
    pub fn build_index(&self) {
        let summary = build_strict(&self.catalogue(), &self.index(), 16);
        assert!(summary.indexed > 0, "the test catalogue is empty");
    }
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

/// Embeds `catalogue` into `index` with the Lite0 weights and squash
/// resizing, through the library behind `fashion-index build`, and fails
/// the test when any photo is skipped: test catalogues hold only good
/// photos, though they may hold other files such as `labels.csv`.
pub fn build_strict(catalogue: &Path, index: &Path, batch_size: usize) -> BuildSummary {
    let options = BuildOptions {
        catalogue: catalogue.to_owned(),
        index: index.to_owned(),
        architecture: Architecture::EfficientNetLite0,
        weights: Some(weights("efficientnet-lite0")),
        resize: ResizeMode::Squash,
        batch_size,
        follow_links: false,
        decode: DecodeOptions::default(),
        rebuild: false,
    };
    let observer = StrictObserver { skipped: Mutex::new(Vec::new()) };

    let summary = build_index(&options, &observer).unwrap_or_else(|e| panic!("building the test index: {e}"));

    let skipped = observer.skipped.into_inner().unwrap();
    assert!(skipped.is_empty(), "the test catalogue has photos that cannot be indexed: {skipped:#?}");
    summary
}

/// Collects the skipped photos of a build, so that [`build_strict`] can
/// fail with the whole list.
struct StrictObserver {
    skipped: Mutex<Vec<String>>,
}

impl BuildObserver for StrictObserver {
    fn start(&self, _files_to_embed: usize) {}

    fn advance(&self, _files: usize) {}

    fn skipped(&self, problem: &FileProblem) {
        let line = format!("{}: {problem}", problem.path().display());
        self.skipped.lock().unwrap().push(line);
    }

    fn note(&self, _message: &str) {}
}
