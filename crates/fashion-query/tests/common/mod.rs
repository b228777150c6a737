//! Helpers for the `fashion-query` integration tests: a temporary catalogue
//! of real photos indexed with `fashion_core::build::build_index` (the
//! library behind `fashion-index build`), and a runner for the binary.
//!
//! The photos come from `dataset/images/` and the bad files from
//! `fixtures/images/`. The tests pass `--weights
//! models/cache/efficientnet-lite0.safetensors` explicitly, which
//! `python3 models/fetch.py efficientnet-lite0` creates.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use fashion_core::build::{build_index, BuildObserver, BuildOptions, FileProblem};
use fashion_core::{Architecture, DecodeOptions, ResizeMode};
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
}

/// Fails the test on any skipped file, because every test catalogue holds
/// only good photos.
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

/// A temporary folder with a `catalogue/` subfolder, removed on drop.
/// Commands run in it, so `fashion-query` prints catalogue paths relative to
/// it, such as `catalogue/10001.jpg`.
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
    /// the catalogue and returns their paths relative to the workspace.
    pub fn add_photos(&self, first: usize, count: usize) -> Vec<String> {
        let photos = photos();
        assert!(photos.len() >= first + count, "dataset/images has only {} photos", photos.len());

        photos[first..first + count]
            .iter()
            .map(|photo| {
                let name = photo.file_name().unwrap().to_str().unwrap();
                fs::copy(photo, self.catalogue().join(name)).expect("copy a photo");
                format!("catalogue/{name}")
            })
            .collect()
    }

    /// Embeds the catalogue into [`Workspace::index`] with the Lite0 weights.
    pub fn build_index(&self) {
        let options = BuildOptions {
            catalogue: self.catalogue(),
            index: self.index(),
            architecture: Architecture::EfficientNetLite0,
            weights: Some(weights("efficientnet-lite0")),
            resize: ResizeMode::Squash,
            batch_size: 16,
            follow_links: false,
            decode: DecodeOptions::default(),
            rebuild: false,
        };
        let observer = StrictObserver { skipped: Mutex::new(Vec::new()) };

        let summary = build_index(&options, &observer).unwrap_or_else(|e| panic!("building the test index: {e}"));

        let skipped = observer.skipped.into_inner().unwrap();
        assert!(skipped.is_empty(), "the test catalogue has files that cannot be indexed: {skipped:#?}");
        assert!(summary.indexed > 0, "the test catalogue is empty");
    }

    /// Creates a `fashion-query` command with only `args` that runs in the
    /// workspace, without the environment variables that change its defaults
    /// or its logging.
    pub fn bare_command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fashion-query"));
        command
            .args(args)
            .current_dir(&self.root)
            .env_remove("FASHION_INDEX")
            .env_remove("FASHION_MODELS_DIR")
            .env_remove("RUST_LOG");
        command
    }

    /// Creates a command like [`Workspace::bare_command`], with `--index` and the Lite0
    /// `--weights` before `args`.
    pub fn query_command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = self.bare_command(["--index".as_ref(), self.index().as_os_str()]);
        command.arg("--weights").arg(weights("efficientnet-lite0")).args(args);
        command
    }

    /// Runs `fashion-query` with `args` and waits for it.
    pub fn query<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Run::from_output(self.query_command(args).output().expect("run fashion-query"))
    }

    /// Runs `fashion-query` with `args` and `stdin` as its standard input.
    pub fn query_with_stdin<I, S>(&self, args: I, stdin: &[u8]) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        use std::io::Write;
        use std::process::Stdio;

        let mut child = self
            .query_command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run fashion-query");
        child.stdin.take().unwrap().write_all(stdin).expect("write the query list");
        Run::from_output(child.wait_with_output().expect("wait for fashion-query"))
    }
}

/// Splits a `DISTANCE<TAB>PATH` line, checking that the distance has six decimals.
pub fn parse_result_line(line: &str) -> (f32, &str) {
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(fields.len(), 2, "expected DISTANCE<TAB>PATH: {line:?}");
    let decimals = fields[0].split_once('.').map_or(0, |(_, fraction)| fraction.len());
    assert_eq!(decimals, 6, "expected six decimals: {line:?}");
    let distance = fields[0].parse().unwrap_or_else(|e| panic!("{line:?}: {e}"));
    (distance, fields[1])
}
