//! `fashion-index build` on real photos: bad files, incremental updates,
//! which files the walk takes, and failures that must leave the previous
//! index untouched.

mod common;

use std::fs;
use std::time::{Duration, SystemTime};

use common::{counts, record_paths, Workspace};
use fashion_store::{PayloadCheck, Store};

#[test]
fn mixed_good_and_bad_files() {
    let workspace = Workspace::new();
    workspace.add_photos(0, 8);
    workspace.add_fixture("empty.jpg", "empty.jpg");
    workspace.add_fixture("jpeg_truncated.jpg", "jpeg_truncated.jpg");
    workspace.add_fixture("notes.txt", "notes.jpg");
    workspace.add_fixture("png_bomb_20000x20000.png", "png_bomb_20000x20000.png");
    let index = workspace.index();

    let run = workspace.build(&index, &[]);

    assert_eq!(run.code, Some(1), "{run:?}");
    let catalogue = workspace.catalogue();
    let expected_skips = [
        format!("fashion-index: {}/empty.jpg: cannot decode: file is empty", catalogue.display()),
        format!(
            "fashion-index: {}/jpeg_truncated.jpg: cannot decode: file is truncated or corrupt: \
             Format error decoding Jpeg: JPEG data ends before the end-of-image marker",
            catalogue.display()
        ),
        format!("fashion-index: {}/notes.jpg: cannot decode: file is text, not an image", catalogue.display()),
        format!(
            "fashion-index: {}/png_bomb_20000x20000.png: cannot decode: image is 20000x20000 pixels, \
             over the limit of 100000000 pixels; raise it with --max-pixels",
            catalogue.display()
        ),
    ];
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 5, "{run:?}");
    assert_eq!(lines[..4], expected_skips, "{run:?}");

    // The summary line ends with the elapsed time, which varies.
    let summary = lines[4];
    assert!(
        summary.starts_with("fashion-index: indexed 8 images (8 embedded, 0 unchanged, 0 removed, 4 skipped) in "),
        "{summary}"
    );
    assert!(summary.ends_with(&format!(" s into {}", index.display())), "{summary}");

    let info = workspace.run(["info".as_ref(), index.as_os_str(), "--json".as_ref()]);
    assert_eq!(info.code, Some(0), "{info:?}");
    assert_eq!(info.json()["count"], 8, "{info:?}");

    let verify = workspace.run(["verify".as_ref(), index.as_os_str()]);
    assert_eq!(verify.code, Some(0), "{verify:?}");
    assert_eq!(verify.stdout, format!("{}: ok, 8 images, checksum and consistency verified\n", index.display()));
}

#[test]
fn clean_build_exits_zero() {
    let workspace = Workspace::new();
    let names = workspace.add_photos(0, 3);
    let index = workspace.index();

    let run = workspace.build(&index, &["--quiet"]);

    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stderr, "", "--quiet prints nothing when no file is skipped");
    assert_eq!(run.stdout, "");
    let expected: Vec<std::path::PathBuf> = names.iter().map(Into::into).collect();
    assert_eq!(record_paths(&index), expected);
}

#[test]
fn incremental_build_embeds_only_changes() {
    let workspace = Workspace::new();
    let names = workspace.add_photos(0, 6);
    let index = workspace.index();

    let first = workspace.build_json(&index, 0);
    assert_eq!(
        counts(&first),
        [("indexed", 6), ("embedded", 6), ("reused", 0), ("removed", 0), ("skipped", 0), ("resumed", 0)]
    );

    // One new file: only it is embedded.
    workspace.add_photos(6, 1);
    let added = workspace.build_json(&index, 0);
    assert_eq!(
        counts(&added),
        [("indexed", 7), ("embedded", 1), ("reused", 6), ("removed", 0), ("skipped", 0), ("resumed", 0)]
    );

    // One deleted file: the count drops by one and nothing is embedded.
    fs::remove_file(workspace.catalogue().join(&names[0])).unwrap();
    let deleted = workspace.build_json(&index, 0);
    assert_eq!(
        counts(&deleted),
        [("indexed", 6), ("embedded", 0), ("reused", 6), ("removed", 1), ("skipped", 0), ("resumed", 0)]
    );
    assert!(!record_paths(&index).contains(&names[0].clone().into()));

    // A new modification time with the same content: the content hash
    // matches, so the vector is kept and the record takes the new time.
    let touched = workspace.catalogue().join(&names[1]);
    let vector_before = stored_vector(&index, &names[1]);
    let new_mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    fs::File::options().write(true).open(&touched).unwrap().set_modified(new_mtime).unwrap();
    let after_touch = workspace.build_json(&index, 0);
    assert_eq!(
        counts(&after_touch),
        [("indexed", 6), ("embedded", 0), ("reused", 6), ("removed", 0), ("skipped", 0), ("resumed", 0)]
    );
    assert_eq!(stored_vector(&index, &names[1]), vector_before);
    let store = Store::open(&index, PayloadCheck::Verify).unwrap();
    let record = &store.records()[store.find(names[1].as_ref()).unwrap()];
    assert_eq!(record.mtime_ns, 1_000_000_000 * 1_000_000_000);

    // New content under an old name is embedded again.
    let vector_before = stored_vector(&index, &names[2]);
    fs::copy(&common::photos()[20], workspace.catalogue().join(&names[2])).unwrap();
    let replaced = workspace.build_json(&index, 0);
    assert_eq!(
        counts(&replaced),
        [("indexed", 6), ("embedded", 1), ("reused", 5), ("removed", 0), ("skipped", 0), ("resumed", 0)]
    );
    assert_ne!(stored_vector(&index, &names[2]), vector_before);
}

fn stored_vector(index: &std::path::Path, name: &str) -> Vec<f32> {
    let store = Store::open(index, PayloadCheck::Verify).unwrap();
    let row = store.find(name.as_ref()).unwrap_or_else(|| panic!("{name} is not in the index"));
    store.vector(row).to_vec()
}

#[test]
fn hidden_and_document_files_skipped() {
    let workspace = Workspace::new();
    workspace.add_photos(0, 2);
    let catalogue = workspace.catalogue();
    let photo = common::photos()[2].clone();
    fs::copy(&photo, catalogue.join(".hidden.jpg")).unwrap();
    fs::copy(&photo, catalogue.join("._10001.jpg")).unwrap();
    fs::create_dir(catalogue.join(".thumbnails")).unwrap();
    fs::copy(&photo, catalogue.join(".thumbnails/10001.jpg")).unwrap();
    fs::write(catalogue.join("labels.csv"), "id,articleType\n10001,Shirts\n").unwrap();
    fs::write(catalogue.join("README.md"), "# Catalogue\n").unwrap();
    fs::create_dir(catalogue.join("shirts")).unwrap();
    fs::copy(&photo, catalogue.join("shirts/10003.jpg")).unwrap();
    let index = workspace.index();

    let run = workspace.build(&index, &["--quiet"]);

    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stderr, "");
    let expected: Vec<std::path::PathBuf> =
        ["10001.jpg", "10002.jpg", "shirts/10003.jpg"].iter().map(Into::into).collect();
    assert_eq!(record_paths(&index), expected);
}

#[cfg(unix)]
#[test]
fn symlink_loop_reported_and_run_continues() {
    let workspace = Workspace::new();
    workspace.add_photos(0, 2);
    let catalogue = workspace.catalogue();
    fs::create_dir(catalogue.join("sub")).unwrap();
    std::os::unix::fs::symlink("..", catalogue.join("sub/loop")).unwrap();
    std::os::unix::fs::symlink("10001.jpg", catalogue.join("link.jpg")).unwrap();

    // Without --follow-links both links are left out silently.
    let unfollowed_index = workspace.root.join("unfollowed.fidx");
    let unfollowed = workspace.build(&unfollowed_index, &["--quiet"]);
    assert_eq!(unfollowed.code, Some(0), "{unfollowed:?}");
    assert_eq!(unfollowed.stderr, "");
    let photos_only: Vec<std::path::PathBuf> = ["10001.jpg", "10002.jpg"].iter().map(Into::into).collect();
    assert_eq!(record_paths(&unfollowed_index), photos_only);

    // With --follow-links the link to a photo is indexed and the loop is
    // reported as a skipped file.
    let followed_index = workspace.root.join("followed.fidx");
    let followed = workspace.build(&followed_index, &["--quiet", "--follow-links"]);
    assert_eq!(followed.code, Some(1), "{followed:?}");
    assert_eq!(
        followed.stderr,
        format!("fashion-index: {}/sub/loop: symbolic link loop; skipped\n", catalogue.display())
    );
    let with_link: Vec<std::path::PathBuf> = ["10001.jpg", "10002.jpg", "link.jpg"].iter().map(Into::into).collect();
    assert_eq!(record_paths(&followed_index), with_link);
}

/// Linux file systems accept any bytes but `/` and NUL in a name; macOS
/// rejects names that are not UTF-8.
#[cfg(target_os = "linux")]
#[test]
fn non_utf8_file_name_kept_as_bytes() {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};

    let workspace = Workspace::new();
    workspace.add_photos(0, 2);
    let latin1_name = std::ffi::OsStr::from_bytes(b"caf\xe9.jpg");
    fs::copy(&common::photos()[2], workspace.catalogue().join(latin1_name)).unwrap();
    let index = workspace.index();

    let first = workspace.build_json(&index, 0);
    assert_eq!(first["indexed"], 3, "{first}");

    let stored: Vec<Vec<u8>> = record_paths(&index).into_iter().map(|path| path.into_os_string().into_vec()).collect();
    assert_eq!(stored, [b"10001.jpg".to_vec(), b"10002.jpg".to_vec(), b"caf\xe9.jpg".to_vec()]);

    // The second build finds the record under the same bytes and reuses it.
    let second = workspace.build_json(&index, 0);
    assert_eq!(
        counts(&second),
        [("indexed", 3), ("embedded", 0), ("reused", 3), ("removed", 0), ("skipped", 0), ("resumed", 0)]
    );
}

#[test]
fn missing_catalogue_exits_two() {
    let workspace = Workspace::new();
    let missing = workspace.root.join("no-such-folder");
    let weights = common::weights("efficientnet-lite0");

    let run = workspace.run([
        "build".as_ref(),
        missing.as_os_str(),
        "--index".as_ref(),
        workspace.index().as_os_str(),
        "--weights".as_ref(),
        weights.as_os_str(),
    ]);

    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "fashion-index: {}: catalogue folder not found or not a folder: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
    assert!(!workspace.index().exists());
}

#[test]
fn catalogue_file_exits_two() {
    let workspace = Workspace::new();
    let names = workspace.add_photos(0, 1);
    let file = workspace.catalogue().join(&names[0]);
    let weights = common::weights("efficientnet-lite0");

    let run = workspace.run([
        "build".as_ref(),
        file.as_os_str(),
        "--index".as_ref(),
        workspace.index().as_os_str(),
        "--weights".as_ref(),
        weights.as_os_str(),
    ]);

    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.stderr, format!("fashion-index: {}: catalogue folder not found or not a folder\n", file.display()));
}

#[test]
fn zero_batch_size_exits_two() {
    let workspace = Workspace::new();
    workspace.add_photos(0, 1);

    let run = workspace.build(&workspace.index(), &["--batch-size", "0"]);

    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.stderr, "fashion-index: invalid --batch-size 0: expected at least 1\n");
}

/// An index path below a regular file cannot be opened or written, even by root.
#[cfg(unix)]
#[test]
fn index_below_regular_file_exits_two() {
    let workspace = Workspace::new();
    workspace.add_photos(0, 1);
    let not_a_folder = workspace.root.join("not-a-folder");
    fs::write(&not_a_folder, "a regular file").unwrap();
    let index = not_a_folder.join("index.fidx");

    let run = workspace.build(&index, &[]);

    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(
        run.stderr,
        format!("fashion-index: failed to open {}: Not a directory (os error 20)\n", index.display())
    );
    assert_eq!(fs::read_to_string(&not_a_folder).unwrap(), "a regular file");
}

/// A folder without write permission makes the build fail before it embeds
/// anything, and the previous index stays as it was. Root ignores the
/// permission bits, so under root the build runs as user and group 65534
/// (`nobody`), which then needs read access to the workspace.
#[cfg(unix)]
#[test]
fn read_only_folder_keeps_previous_index() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;

    let workspace = Workspace::new();
    workspace.add_photos(0, 2);
    let folder = workspace.root.join("read-only");
    fs::create_dir(&folder).unwrap();
    let index = folder.join("index.fidx");
    let first = workspace.build(&index, &["--quiet"]);
    assert_eq!(first.code, Some(0), "{first:?}");
    let previous = fs::read(&index).unwrap();

    workspace.add_photos(2, 1);
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o555)).unwrap();
    let probe = folder.join("write-probe");
    let privileged = fs::write(&probe, b"").is_ok();
    let mut command = workspace.command(workspace.build_args(&index, &[]));
    if privileged {
        fs::remove_file(&probe).unwrap();
        fs::set_permissions(&workspace.root, fs::Permissions::from_mode(0o755)).unwrap();
        command.uid(65534).gid(65534);
    }

    let output = command.output().expect("run fashion-index");
    let run = common::Run::from_output(output);

    fs::set_permissions(&folder, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(run.code, Some(2), "{run:?}");
    let expected_start = format!(
        "fashion-index: failed to create a temporary file for {}.partial: Permission denied (os error 13)",
        index.display()
    );
    assert!(run.stderr.starts_with(&expected_start), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert_eq!(fs::read(&index).unwrap(), previous, "the previous index changed");
    let entries: Vec<_> = fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries, ["index.fidx"]);
}

#[test]
fn missing_default_weights_name_the_folder() {
    let workspace = Workspace::new();
    workspace.add_photos(0, 1);

    let run = workspace.run(["build", "catalogue", "--index", "index.fidx"]);

    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "fashion-index: models/cache/efficientnet-lite0.safetensors: weights file not found; \
             `python3 models/fetch.py efficientnet-lite0` in the repository root fetches them; or set \
             FASHION_MODELS_DIR to the folder holding efficientnet-lite0.safetensors, or pass --weights PATH \
             (looked in models/cache under the current directory {}, as FASHION_MODELS_DIR is not set)\n",
            workspace.root.display()
        )
    );
    assert!(!workspace.index().exists());
}

#[test]
fn missing_explicit_weights_name_the_option() {
    let workspace = Workspace::new();
    workspace.add_photos(0, 1);

    let run = workspace.run(["build", "catalogue", "--index", "index.fidx", "--weights", "nope.safetensors"]);

    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(
        run.stderr,
        "fashion-index: nope.safetensors: weights file not found; check the path given with --weights; \
         `python3 models/fetch.py efficientnet-lite0` in the repository root fetches them\n"
    );
    assert!(!workspace.index().exists());
}

#[test]
fn empty_catalogue_warns() {
    let workspace = Workspace::new();

    let run = workspace.build(&workspace.index(), &[]);

    assert_eq!(run.code, Some(0), "{run:?}");
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 2, "{run:?}");
    assert_eq!(
        lines[0],
        format!("fashion-index: warning: {}: no images found, so the index is empty", workspace.catalogue().display())
    );
    assert!(lines[1].starts_with("fashion-index: indexed 0 images (0 embedded, "), "{run:?}");
    assert!(workspace.index().is_file());
}
