//! `fashion-query` on an index of real photos: output formats, options,
//! exit statuses and error messages.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;

use common::{fixture, parse_result_line, photos, weights, Workspace};
use fashion_core::index::Index;
use fashion_store::PayloadCheck;

const CATALOGUE_PHOTOS: usize = 8;

/// Creates a workspace with an index of the first [`CATALOGUE_PHOTOS`] photos.
fn indexed_workspace() -> (Workspace, Vec<String>) {
    let workspace = Workspace::new();
    let members = workspace.add_photos(0, CATALOGUE_PHOTOS);
    workspace.build_index();
    (workspace, members)
}

/// Copies a photo that is not in the catalogue into the workspace root.
fn outside_photo(workspace: &Workspace) -> String {
    let photo = &photos()[40];
    fs::copy(photo, workspace.root.join("outside.jpg")).unwrap();
    "outside.jpg".to_owned()
}

#[test]
fn member_query_ranks_itself_first() {
    let (workspace, members) = indexed_workspace();
    let query = &members[2];

    let run = workspace.query(["-k", "3", query]);

    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stderr, "");
    let results: Vec<(f32, &str)> = run.stdout_lines().into_iter().map(parse_result_line).collect();
    assert_eq!(results.len(), 3, "{run:?}");
    assert_eq!(results[0].1, query);
    assert!(results[0].0 < 1e-4, "the query's own distance is {}", results[0].0);
    assert!(results.windows(2).all(|pair| pair[0].0 <= pair[1].0), "not nearest first: {results:?}");

    // The same neighbours as a search of the stored vector.
    let index = Index::open(&workspace.index(), PayloadCheck::Verify).unwrap();
    let row = index.store().find(Path::new(query.strip_prefix("catalogue/").unwrap())).unwrap();
    let expected = index.search(index.store().vector(row), 3).unwrap();
    for ((distance, path), neighbour) in results.iter().zip(&expected) {
        let expected_path = format!("catalogue/{}", index.store().records()[neighbour.index].path.display());
        assert_eq!(*path, expected_path);
        assert!((distance - neighbour.distance).abs() < 1e-5, "{distance} vs {}", neighbour.distance);
    }
}

#[test]
fn exclude_self_drops_the_query() {
    let (workspace, members) = indexed_workspace();
    let query = &members[2];

    let plain = workspace.query(["-k", "4", query]);
    let excluded = workspace.query(["-k", "3", "--exclude-self", query]);

    assert_eq!(plain.code, Some(0), "{plain:?}");
    assert_eq!(excluded.code, Some(0), "{excluded:?}");
    let plain_lines = plain.stdout_lines();
    assert_eq!(parse_result_line(plain_lines[0]).1, query);
    assert_eq!(excluded.stdout_lines(), plain_lines[1..], "--exclude-self must drop exactly the query");
}

#[test]
fn k_limits_the_results() {
    let (workspace, members) = indexed_workspace();

    for (k, expected_lines) in [("1", 1), ("5", 5), ("20", CATALOGUE_PHOTOS)] {
        let run = workspace.query(["-k", k, &members[0]]);

        assert_eq!(run.code, Some(0), "{run:?}");
        assert_eq!(run.stdout_lines().len(), expected_lines, "-k {k}: {run:?}");
    }

    let zero = workspace.query(["-k", "0", &members[0]]);
    assert_eq!(zero.code, Some(2), "{zero:?}");
    assert_eq!(zero.stderr, "fashion-query: invalid -k 0: expected at least 1\n");
}

#[test]
fn max_distance_zero_without_match_exits_one() {
    let (workspace, _members) = indexed_workspace();
    let query = outside_photo(&workspace);

    let run = workspace.query(["--max-distance", "0", &query]);

    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "");

    // Unit vectors are at most 2 apart, so this bound keeps every result.
    let all = workspace.query(["--max-distance", "2", "-k", "3", &query]);
    assert_eq!(all.code, Some(0), "{all:?}");
    assert_eq!(all.stdout_lines().len(), 3, "{all:?}");
}

#[test]
fn json_lines_have_all_fields() {
    let (workspace, members) = indexed_workspace();
    let queries = [&members[0], &members[5]];

    let run = workspace.query(["--json", "-k", "3", queries[0], queries[1]]);

    assert_eq!(run.code, Some(0), "{run:?}");
    let lines = run.stdout_lines();
    assert_eq!(lines.len(), 6, "{run:?}");
    for (i, line) in lines.iter().enumerate() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        let object = value.as_object().unwrap_or_else(|| panic!("not a JSON object: {line}"));
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["distance", "path", "query", "rank"], "{line}");

        assert_eq!(value["query"], *queries[i / 3], "{line}");
        assert_eq!(value["rank"], i % 3 + 1, "{line}");
        assert!(value["path"].as_str().unwrap().starts_with("catalogue/"), "{line}");
        let distance = value["distance"].as_f64().unwrap();
        assert!((0.0..=2.0).contains(&distance), "{line}");
        if i % 3 == 0 {
            assert_eq!(value["path"], *queries[i / 3], "a member query is its own nearest: {line}");
        }
    }
}

#[test]
fn several_queries_name_their_query() {
    let (workspace, members) = indexed_workspace();

    let run = workspace.query(["-k", "2", &members[1], &members[4]]);

    assert_eq!(run.code, Some(0), "{run:?}");
    let lines = run.stdout_lines();
    assert_eq!(lines.len(), 4, "{run:?}");
    for (i, line) in lines.iter().enumerate() {
        let (query, result) = line.split_once('\t').unwrap_or_else(|| panic!("no query field: {line:?}"));
        assert_eq!(query, [&members[1], &members[4]][i / 2], "{run:?}");
        parse_result_line(result);
    }
}

#[test]
fn stdin_queries_name_their_query() {
    let (workspace, members) = indexed_workspace();
    let stdin = format!("{}\r\n\n{}\n", members[3], members[6]);

    let run = workspace.query_with_stdin(["-k", "1", "-"], stdin.as_bytes());

    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stderr, "");
    let lines = run.stdout_lines();
    assert_eq!(lines.len(), 2, "{run:?}");
    for (line, query) in lines.iter().zip([&members[3], &members[6]]) {
        let (named, result) = line.split_once('\t').unwrap();
        assert_eq!(named, query);
        assert_eq!(parse_result_line(result).1, query);
    }

    // A single query from stdin is named too, so scripts can rely on the form.
    let single = workspace.query_with_stdin(["-k", "1", "-"], format!("{}\n", members[3]).as_bytes());
    assert_eq!(single.code, Some(0), "{single:?}");
    assert!(single.stdout.starts_with(&format!("{}\t", members[3])), "{single:?}");
}

/// Like `fashion-query ... | head -1`: the reader goes away after one line
/// while results are still being written.
#[test]
fn closed_stdout_is_not_an_error() {
    let (workspace, members) = indexed_workspace();
    // About 25 KB of output, several times the writer's buffer, so writes
    // continue after the first line has been read.
    let stdin: String = members.iter().cycle().take(64).map(|member| format!("{member}\n")).collect();

    let mut child = workspace
        .query_command(["-k", "8", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fashion-query");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let mut first_line = String::new();
    {
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut first_line).unwrap();
    }
    let output = child.wait_with_output().unwrap();

    assert!(first_line.starts_with(&format!("{}\t", members[0])), "{first_line:?}");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn missing_index_says_how_to_build() {
    let workspace = Workspace::new();
    workspace.add_photos(0, 1);
    let missing = workspace.root.join("missing.fidx");

    let weights = weights("efficientnet-lite0");
    let args = [
        "--index".as_ref(),
        missing.as_os_str(),
        "--weights".as_ref(),
        weights.as_os_str(),
        "catalogue/10001.jpg".as_ref(),
    ];
    let run = common::Run::from_output(workspace.bare_command(args).output().unwrap());

    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "fashion-query: {0}: index not found; build one with `fashion-index build CATALOGUE --index {0}` \
             (the default index is $FASHION_INDEX, else fashion.fidx)\n",
            missing.display()
        )
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn empty_stdin_is_an_error() {
    let (workspace, _) = indexed_workspace();

    let run = workspace.query_with_stdin(["-"], b"");

    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "fashion-query: no query paths on stdin: expected one image path per line\n");
}

#[test]
fn empty_index_is_an_error() {
    let workspace = Workspace::new();
    let summary = fashion_testkit::build_strict(&workspace.catalogue(), &workspace.index(), 16);
    assert_eq!(summary.indexed, 0);
    let photo = outside_photo(&workspace);

    let run = workspace.query([photo]);

    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "fashion-query: {}: the index is empty; rebuild it from a folder of images with \
             `fashion-index build`\n",
            workspace.index().display()
        )
    );
}

#[test]
fn bad_queries_reported_others_answered() {
    let (workspace, members) = indexed_workspace();
    let empty = fixture("empty.jpg");
    let truncated = fixture("jpeg_truncated.jpg");
    let text = fixture("notes.txt");
    let missing = workspace.root.join("missing.jpg");

    let run = workspace.query([
        "-k".as_ref(),
        "2".as_ref(),
        empty.as_os_str(),
        members[0].as_ref(),
        missing.as_os_str(),
        truncated.as_os_str(),
        text.as_os_str(),
        members[1].as_ref(),
    ]);

    assert_eq!(run.code, Some(2), "{run:?}");
    let expected_stderr = [
        format!("fashion-query: {}: cannot decode: file is empty", empty.display()),
        format!("fashion-query: {}: cannot read file: No such file or directory (os error 2)", missing.display()),
        format!(
            "fashion-query: {}: cannot decode: file is truncated or corrupt: \
             Format error decoding Jpeg: JPEG data ends before the end-of-image marker",
            truncated.display()
        ),
        format!("fashion-query: {}: cannot decode: file is text, not an image", text.display()),
    ];
    assert_eq!(run.stderr.lines().collect::<Vec<_>>(), expected_stderr);

    let lines = run.stdout_lines();
    assert_eq!(lines.len(), 4, "{run:?}");
    for (line, query) in lines.iter().zip([&members[0], &members[0], &members[1], &members[1]]) {
        assert!(line.starts_with(&format!("{query}\t")), "{line:?}");
    }
}

#[test]
fn other_weights_rejected_with_both_sums() {
    let (workspace, members) = indexed_workspace();
    let lite1 = weights("efficientnet-lite1");
    let lite0_sha256 = fashion_core::weights::sha256_file(&weights("efficientnet-lite0")).unwrap();
    let lite1_sha256 = fashion_core::weights::sha256_file(&lite1).unwrap();
    assert_ne!(lite0_sha256, lite1_sha256);

    let index = workspace.index();
    let args = ["--index".as_ref(), index.as_os_str(), "--weights".as_ref(), lite1.as_os_str(), members[0].as_ref()];
    let run = common::Run::from_output(workspace.bare_command(args).output().unwrap());

    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "fashion-query: {}: these weights (sha256 {lite1_sha256}) are not the efficientnet-lite0 weights the \
             index was built with (sha256 {lite0_sha256}); pass the original file with --weights or rebuild the index\n",
            lite1.display()
        )
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn damaged_index_exits_two() {
    let (workspace, members) = indexed_workspace();
    let index = workspace.index();
    let bytes = fs::read(&index).unwrap();

    fs::write(&index, &bytes[..1000]).unwrap();
    let truncated = workspace.query([&members[0]]);
    assert_eq!(truncated.code, Some(2), "{truncated:?}");
    assert_eq!(
        truncated.stderr,
        format!(
            "fashion-query: {}: truncated: the file has 1000 bytes, but the store needs at least {}; \
             rebuild it with `fashion-index build`\n",
            index.display(),
            bytes.len()
        )
    );

    // The format version is a uint 32 (marker 0xce, then 4 big-endian bytes)
    // at offset 11, after the array marker and the 8-byte magic number.
    let mut other_version = bytes.clone();
    assert_eq!(other_version[11], 0xce, "the store layout changed");
    let version = fashion_store::FORMAT_VERSION + 1;
    other_version[12..16].copy_from_slice(&version.to_be_bytes());
    fs::write(&index, &other_version).unwrap();
    let run = workspace.query([&members[0]]);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "fashion-query: {}: written by format version {version}, this build reads version {}; \
             rebuild the index with `fashion-index build`\n",
            index.display(),
            fashion_store::FORMAT_VERSION
        )
    );
}

/// Linux file systems accept any bytes but `/` and NUL in a name; macOS
/// rejects names that are not UTF-8.
#[cfg(target_os = "linux")]
#[test]
fn non_utf8_name_round_trips() {
    use std::os::unix::ffi::OsStrExt;

    let workspace = Workspace::new();
    workspace.add_photos(0, 4);
    let latin1_name = std::ffi::OsStr::from_bytes(b"caf\xe9.jpg");
    fs::copy(&photos()[10], workspace.catalogue().join(latin1_name)).unwrap();
    workspace.build_index();
    let query = std::ffi::OsStr::from_bytes(b"catalogue/caf\xe9.jpg");

    // As an argument: the result path comes back as the same bytes.
    let run = workspace.query(["-k".as_ref(), "1".as_ref(), query]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let (distance, path) = split_bytes_line(&run.stdout_bytes);
    assert!(distance < 1e-4, "{run:?}");
    assert_eq!(path, query.as_bytes());

    // From stdin: the query name is read and printed as the same bytes.
    let run = workspace.query_with_stdin(["-k", "1", "-"], b"catalogue/caf\xe9.jpg\n");
    assert_eq!(run.code, Some(0), "{run:?}");
    let line = run.stdout_bytes.strip_suffix(b"\n").expect("one line");
    let (named, rest) = line.split_at(line.iter().position(|&b| b == b'\t').unwrap());
    assert_eq!(named, query.as_bytes());
    let (distance, path) = split_bytes_line(&rest[1..]);
    assert!(distance < 1e-4, "{run:?}");
    assert_eq!(path, query.as_bytes());
}

/// Splits one `DISTANCE<TAB>PATH` line, with or without its newline, into
/// the distance and the raw path bytes.
#[cfg(target_os = "linux")]
fn split_bytes_line(line: &[u8]) -> (f32, &[u8]) {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let tab = line.iter().position(|&b| b == b'\t').expect("a tab");
    let distance = std::str::from_utf8(&line[..tab]).unwrap().parse().unwrap();
    (distance, &line[tab + 1..])
}
