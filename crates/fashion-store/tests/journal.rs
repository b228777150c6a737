//! The resume journal: appending, reading back, dropping a torn tail, and
//! rejecting a journal of another build.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use common::{bits, spec, write_sample, DIM};
use fashion_store::{Journal, JournalEntry, Record, StoreError, StoreSpec};

/// Returns three batches of 4, 1 and 5 records with their vectors.
fn batches() -> Vec<JournalEntry> {
    let records = common::records(10);
    let vectors = common::unit_vectors(10, DIM, 31);
    let bounds = [(0, 4), (4, 5), (5, 10)];

    bounds
        .iter()
        .map(|&(start, end)| JournalEntry {
            records: records[start..end].to_vec(),
            vectors: vectors[start * DIM..end * DIM].to_vec(),
        })
        .collect()
}

/// Creates a journal, appends `entries`, and returns its path and the file
/// length after each append.
fn write_journal(dir: &Path, entries: &[JournalEntry]) -> (PathBuf, Vec<u64>) {
    let path = Journal::path_for(&dir.join("store.fidx"));
    let mut journal = Journal::create(&path, &spec()).unwrap();
    let mut lengths = Vec::new();

    for entry in entries {
        journal.append(&entry.records, &entry.vectors).unwrap();
        lengths.push(fs::metadata(&path).unwrap().len());
    }
    (path, lengths)
}

fn assert_entries_eq(actual: &[JournalEntry], expected: &[JournalEntry]) {
    assert_eq!(actual.len(), expected.len());
    for (index, (actual, expected)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(actual.records, expected.records, "entry {index}");
        assert_eq!(bits(&actual.vectors), bits(&expected.vectors), "entry {index}");
    }
}

#[test]
fn path_for_appends_partial() {
    assert_eq!(Journal::path_for(Path::new("out/store.fidx")), Path::new("out/store.fidx.partial"));
}

#[test]
fn append_then_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let entries = batches();
    let (path, _) = write_journal(dir.path(), &entries);

    let (_journal, recovery) = Journal::open(&path, &spec()).unwrap();

    assert_entries_eq(&recovery.entries, &entries);
    assert_eq!(recovery.dropped_bytes, 0);
}

#[test]
fn empty_journal_reopens_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_journal(dir.path(), &[]);

    let (_journal, recovery) = Journal::open(&path, &spec()).unwrap();

    assert!(recovery.entries.is_empty());
    assert_eq!(recovery.dropped_bytes, 0);
}

#[test]
fn torn_tail_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let entries = batches();
    let (path, lengths) = write_journal(dir.path(), &entries);
    let bytes = fs::read(&path).unwrap();
    let complete = lengths[1] as usize;
    let last_len = bytes.len() - complete;

    // Cuts inside the last entry's length field, checksum field and payload.
    for cut in [complete + 1, complete + 4, complete + 7, complete + 8, complete + last_len / 2, bytes.len() - 1] {
        fs::write(&path, &bytes[..cut]).unwrap();

        let (_journal, recovery) = Journal::open(&path, &spec()).unwrap();

        assert_entries_eq(&recovery.entries, &entries[..2]);
        assert_eq!(recovery.dropped_bytes, (cut - complete) as u64, "cut at {cut}");
        assert_eq!(fs::metadata(&path).unwrap().len(), complete as u64, "cut at {cut}");
    }
}

#[test]
fn damaged_last_entry_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let entries = batches();
    let (path, lengths) = write_journal(dir.path(), &entries);
    let mut bytes = fs::read(&path).unwrap();
    // A kill during a write can leave a full-length frame whose last page
    // never reached the disk.
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&path, &bytes).unwrap();

    let (_journal, recovery) = Journal::open(&path, &spec()).unwrap();

    assert_entries_eq(&recovery.entries, &entries[..2]);
    assert_eq!(recovery.dropped_bytes, lengths[2] - lengths[1]);
}

#[test]
fn append_after_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let entries = batches();
    let (path, _) = write_journal(dir.path(), &entries[..2]);
    OpenOptions::new().append(true).open(&path).unwrap().write_all(b"\x40\x00\x00\x00torn").unwrap();

    let (mut journal, recovery) = Journal::open(&path, &spec()).unwrap();
    journal.append(&entries[2].records, &entries[2].vectors).unwrap();
    drop(journal);
    let (_journal, reopened) = Journal::open(&path, &spec()).unwrap();

    assert_eq!(recovery.entries.len(), 2);
    assert_eq!(recovery.dropped_bytes, 8);
    assert_entries_eq(&reopened.entries, &entries);
    assert_eq!(reopened.dropped_bytes, 0);
}

/// Opens the journal at `path` for `spec` and returns the error message with
/// the path replaced by `PATH`.
fn open_error(path: &Path, spec: &StoreSpec<'_>) -> String {
    let err = Journal::open(path, spec).unwrap_err();
    err.to_string().replace(&path.display().to_string(), "PATH")
}

#[test]
fn other_build_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_journal(dir.path(), &batches());
    let before = fs::read(&path).unwrap();

    assert_eq!(
        open_error(&path, &StoreSpec { fingerprint: "{\"model\":\"other\"}", ..spec() }),
        format!(
            "PATH: the resume journal belongs to another build (model fingerprint is {}, but this build uses \
             {{\"model\":\"other\"}}); delete it to restart the build from scratch",
            common::FINGERPRINT
        )
    );
    assert_eq!(
        open_error(&path, &StoreSpec { catalogue_root: Path::new("elsewhere"), ..spec() }),
        "PATH: the resume journal belongs to another build (catalogue root is catalogue/images, but this build \
         uses elsewhere); delete it to restart the build from scratch"
    );
    assert_eq!(
        open_error(&path, &StoreSpec { dim: 2048, ..spec() }),
        "PATH: the resume journal belongs to another build (dimension is 8, but this build uses 2048); \
         delete it to restart the build from scratch"
    );
    assert_eq!(fs::read(&path).unwrap(), before, "a rejected journal is not modified");
}

#[test]
fn foreign_files_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let store = write_sample(dir.path(), "store.fidx");
    let empty = dir.path().join("empty.partial");
    fs::write(&empty, b"").unwrap();
    let short = dir.path().join("short.partial");
    fs::write(&short, b"FASHJRNL\x01").unwrap();
    let future = dir.path().join("future.partial");
    fs::write(&future, b"FASHJRNL\x02\x00\x00\x00").unwrap();

    let not_a_journal =
        "PATH: not a fashion index resume journal (bad magic number); delete it to restart the build from scratch";
    assert_eq!(open_error(&store.path, &spec()), not_a_journal);
    assert_eq!(open_error(&empty, &spec()), not_a_journal);
    assert_eq!(
        open_error(&short, &spec()),
        "PATH: cannot resume from this journal: the file ends after 9 bytes, inside the header; \
         delete it to restart the build from scratch"
    );
    assert_eq!(
        open_error(&future, &spec()),
        "PATH: cannot resume from this journal: it was written by journal format version 2, this build reads \
         version 1; delete it to restart the build from scratch"
    );
}

#[test]
fn open_or_create_then_remove() {
    let dir = tempfile::tempdir().unwrap();
    let path = Journal::path_for(&dir.path().join("store.fidx"));
    let entries = batches();

    let (mut journal, recovery) = Journal::open_or_create(&path, &spec()).unwrap();
    journal.append(&entries[0].records, &entries[0].vectors).unwrap();
    drop(journal);
    let (journal, reopened) = Journal::open_or_create(&path, &spec()).unwrap();
    journal.remove().unwrap();

    assert!(recovery.entries.is_empty());
    assert_entries_eq(&reopened.entries, &entries[..1]);
    assert!(common::dir_entries(dir.path()).is_empty());
}

#[test]
fn append_rejects_wrong_vector_count() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_journal(dir.path(), &[]);
    let (mut journal, _) = Journal::open(&path, &spec()).unwrap();
    let records: Vec<Record> = common::records(2);

    let err = journal.append(&records, &[0.0; DIM]).unwrap_err();

    assert!(matches!(err, StoreError::InvalidInput { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "cannot write {}: 8 values are not one vector of dimension 8 for each of the 2 records",
            path.display()
        )
    );
    drop(journal);
    let (_journal, recovery) = Journal::open(&path, &spec()).unwrap();
    assert!(recovery.entries.is_empty());
}
