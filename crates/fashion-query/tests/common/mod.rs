//! Helpers for the `fashion-query` integration tests: the shared workspace
//! of `fashion-testkit`, whose catalogue is indexed through the library
//! behind `fashion-index build`, with runners for this binary.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::ops::Deref;
use std::process::{Command, Stdio};

#[allow(unused_imports)]
pub use fashion_testkit::{fixture, photos, weights, Run};

/// A temporary folder with a `catalogue/` subfolder, removed on drop.
/// Commands run in it, so `fashion-query` prints catalogue paths relative to
/// it, such as `catalogue/10001.jpg`.
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

    /// Copies the photos `first..first + count` of `dataset/images/` into
    /// the catalogue and returns their paths relative to the workspace.
    pub fn add_photos(&self, first: usize, count: usize) -> Vec<String> {
        self.0.add_photos(first, count).into_iter().map(|name| format!("catalogue/{name}")).collect()
    }

    /// Creates a `fashion-query` command with only `args` that runs in the
    /// workspace, without the environment variables that change its defaults
    /// or its logging.
    pub fn bare_command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.0.binary_command(env!("CARGO_BIN_EXE_fashion-query"), args)
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
