//! Helpers for the `fashion-index` integration tests: the shared workspace
//! of `fashion-testkit` with a runner for this binary and readers of its
//! results.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;

#[allow(unused_imports)]
pub use fashion_testkit::{photos, weights, Run};

/// A temporary folder with a `catalogue/` subfolder, removed on drop, in
/// which `fashion-index` runs.
pub struct Workspace(fashion_testkit::Workspace);

impl Deref for Workspace {
    type Target = fashion_testkit::Workspace;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Workspace {
    pub fn new() -> Self {
        Self(fashion_testkit::Workspace::new())
    }

    /// Creates a `fashion-index` command that runs in the workspace, without
    /// the environment variables that change its defaults or its logging.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.0.binary_command(env!("CARGO_BIN_EXE_fashion-index"), args)
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
