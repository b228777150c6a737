//! Writing a store and reading it back: contents, zero-copy slices,
//! alignment, lookup, and the writer's input checks.

mod common;

use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{bits, dir_entries, spec, write_sample, DIM, FINGERPRINT, SAMPLE_COMPONENTS, SAMPLE_COUNT};
use fashion_store::{
    write_store, PayloadCheck, Record, Section, Store, StoreError, StoreSpec, StoreWriter, BLOB_ALIGNMENT,
    FORMAT_VERSION,
};
use serde::de::IgnoredAny;
use serde::Deserialize;

#[test]
fn round_trip_preserves_contents() {
    let dir = tempfile::tempdir().unwrap();
    let sample = write_sample(dir.path(), "store.fidx");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;

    let store = Store::open(&sample.path, PayloadCheck::Verify).unwrap();

    let header = store.header();
    assert_eq!(header.format_version, FORMAT_VERSION);
    assert_eq!(header.fingerprint, FINGERPRINT);
    assert_eq!(header.dim, DIM);
    assert_eq!(header.count, SAMPLE_COUNT);
    assert_eq!(header.catalogue_root, Path::new("catalogue/images"));
    assert!((now - header.created_unix_s).abs() <= 5, "created {} vs now {now}", header.created_unix_s);
    assert_eq!(header.file_len, fs::metadata(&sample.path).unwrap().len());
    assert_eq!(store.len(), SAMPLE_COUNT);
    assert_eq!(store.dim(), DIM);

    assert_eq!(store.records(), sample.records.as_slice());
    assert_eq!(bits(store.vectors()), bits(&sample.vectors));
    assert_eq!(bits(store.vector(7)), bits(&sample.vectors[7 * DIM..8 * DIM]));

    let sections: Vec<Section<'_>> = store.sections().collect();
    assert_eq!(sections.len(), 2);
    assert_eq!((sections[0].name, sections[0].rows, sections[0].cols), ("pca.basis", SAMPLE_COMPONENTS, DIM));
    assert_eq!(bits(sections[0].data), bits(&sample.basis));
    assert_eq!(
        (sections[1].name, sections[1].rows, sections[1].cols),
        ("pca.projected", SAMPLE_COUNT, SAMPLE_COMPONENTS)
    );
    assert_eq!(bits(sections[1].data), bits(&sample.projected));
    assert_eq!(store.section("pca.projected"), Some(sections[1]));
    assert_eq!(store.section("missing"), None);
}

#[cfg(unix)]
#[test]
fn round_trip_keeps_non_utf8_paths() {
    let dir = tempfile::tempdir().unwrap();
    let sample = write_sample(dir.path(), "store.fidx");
    let latin1 = common::path_from_bytes(b"caf\xe9/veste.jpg");
    let root = common::path_from_bytes(b"/srv/cat\xe1logo");
    let spec = StoreSpec { catalogue_root: &root, ..spec() };
    let path = dir.path().join("latin1.fidx");
    write_store(&path, &spec, &sample.records, &sample.vectors, &[]).unwrap();

    let store = Store::open(&path, PayloadCheck::Verify).unwrap();

    assert!(latin1.to_str().is_none());
    assert_eq!(store.header().catalogue_root, root);
    let index = store.find(&latin1).expect("the Latin-1 path is found");
    assert_eq!(store.records()[index].path, latin1);
}

#[test]
fn find_returns_record_index() {
    let dir = tempfile::tempdir().unwrap();
    let sample = write_sample(dir.path(), "store.fidx");

    let store = Store::open(&sample.path, PayloadCheck::Skip).unwrap();

    for (index, record) in sample.records.iter().enumerate() {
        assert_eq!(store.find(&record.path), Some(index), "{:?}", record.path);
    }
    assert_eq!(store.find(Path::new("shirts/99999.jpg")), None);
    assert_eq!(store.find(Path::new("")), None);
}

/// Returns the address range of the mapping of `path` in this process,
/// read from /proc/self/maps.
#[cfg(target_os = "linux")]
fn mapped_range(path: &Path) -> std::ops::Range<usize> {
    let maps = fs::read_to_string("/proc/self/maps").unwrap();
    let path = fs::canonicalize(path).unwrap();
    let line = maps
        .lines()
        .find(|line| line.ends_with(&*path.to_string_lossy()))
        .unwrap_or_else(|| panic!("{} is not mapped:\n{maps}", path.display()));
    let range = line.split_whitespace().next().unwrap();
    let (start, end) = range.split_once('-').unwrap();
    usize::from_str_radix(start, 16).unwrap()..usize::from_str_radix(end, 16).unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn slices_point_into_mapped_file() {
    let dir = tempfile::tempdir().unwrap();
    let sample = write_sample(dir.path(), "store.fidx");
    let file_len = fs::metadata(&sample.path).unwrap().len() as usize;

    let store = Store::open(&sample.path, PayloadCheck::Verify).unwrap();
    let map = mapped_range(&sample.path);

    let slices = [
        ("vectors", store.vectors()),
        ("pca.basis", store.section("pca.basis").unwrap().data),
        ("pca.projected", store.section("pca.projected").unwrap().data),
    ];
    for (name, slice) in slices {
        let start = slice.as_ptr() as usize;
        let end = start + std::mem::size_of_val(slice);
        assert!(map.start <= start && end <= map.start + file_len, "{name}: {start:#x}..{end:#x} outside {map:x?}");

        let file_offset = start - map.start;
        assert_eq!(file_offset % BLOB_ALIGNMENT, 0, "{name} starts at file offset {file_offset}");
    }
}

#[test]
fn slices_are_aligned() {
    let dir = tempfile::tempdir().unwrap();

    // Different record counts and section sizes shift every blob's offset.
    for count in [0, 1, 2, 3, 17, 64] {
        let path = dir.path().join(format!("store-{count}.fidx"));
        let records = common::records(count);
        let vectors = common::unit_vectors(count, DIM, 5);
        let small = [1.5f32; 3];
        let sections = [
            Section { name: "odd", rows: 1, cols: 3, data: &small },
            Section { name: "empty", rows: 0, cols: 4, data: &[] },
        ];
        write_store(&path, &spec(), &records, &vectors, &sections).unwrap();

        let store = Store::open(&path, PayloadCheck::Verify).unwrap();

        assert_eq!(store.vectors().as_ptr() as usize % BLOB_ALIGNMENT, 0, "count {count}");
        assert_eq!(bits(store.vectors()), bits(&vectors), "count {count}");
        for section in store.sections() {
            assert_eq!(section.data.as_ptr() as usize % BLOB_ALIGNMENT, 0, "count {count}, {}", section.name);
        }
        assert_eq!(store.section("odd").unwrap().data, &small);
        assert!(store.section("empty").unwrap().data.is_empty());
    }
}

#[test]
fn store_is_one_messagepack_value() {
    let dir = tempfile::tempdir().unwrap();
    let sample = write_sample(dir.path(), "store.fidx");
    let bytes = fs::read(&sample.path).unwrap();
    let mut rest = bytes.as_slice();

    let elements = Vec::<IgnoredAny>::deserialize(&mut rmp_serde::Deserializer::new(&mut rest)).unwrap();

    assert_eq!(elements.len(), 10);
    assert!(rest.is_empty(), "{} bytes follow the top-level array", rest.len());
}

#[test]
fn empty_store_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.fidx");
    write_store(&path, &spec(), &[], &[], &[]).unwrap();

    let store = Store::open(&path, PayloadCheck::Verify).unwrap();

    assert!(store.is_empty());
    assert!(store.records().is_empty());
    assert!(store.vectors().is_empty());
    assert_eq!(store.sections().len(), 0);
    assert!(store.verify().is_ok());
}

#[test]
fn writer_accepts_vectors_in_slices() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.fidx");
    let records = common::records(10);
    let vectors = common::unit_vectors(10, DIM, 9);

    let mut writer = StoreWriter::create(&path, &spec(), &records).unwrap();
    writer.write_vectors(&vectors[..3 * DIM]).unwrap();
    writer.write_vectors(&[]).unwrap();
    writer.write_vectors(&vectors[3 * DIM..]).unwrap();
    writer.finish(&[]).unwrap();

    let store = Store::open(&path, PayloadCheck::Verify).unwrap();
    assert_eq!(bits(store.vectors()), bits(&vectors));
    assert_eq!(dir_entries(dir.path()), ["store.fidx"]);
}

#[test]
fn fingerprint_check() {
    let dir = tempfile::tempdir().unwrap();
    let sample = write_sample(dir.path(), "store.fidx");
    let store = Store::open(&sample.path, PayloadCheck::Skip).unwrap();

    let err = store.check_fingerprint(r#"{"model":"other-net"}"#).unwrap_err();

    assert!(store.check_fingerprint(FINGERPRINT).is_ok());
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the index was built with model {FINGERPRINT}, but this run uses model {{\"model\":\"other-net\"}}; \
             rebuild the index with `fashion-index build`",
            sample.path.display()
        )
    );
    assert!(matches!(err, StoreError::FingerprintMismatch { .. }));
}

/// Runs `write_store` on input that it must reject and returns the message,
/// after checking that nothing was left in `dir`.
fn rejected_write(dir: &Path, records: &[Record], vectors: &[f32], sections: &[Section<'_>]) -> String {
    let path = dir.join("store.fidx");

    let err = write_store(&path, &spec(), records, vectors, sections).unwrap_err();

    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
    assert!(dir_entries(dir).is_empty(), "{:?}", dir_entries(dir));
    err.to_string().replace(&path.display().to_string(), "PATH")
}

#[test]
fn writer_rejects_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let records = common::records(3);
    let vectors = common::unit_vectors(3, DIM, 4);
    let unsorted = vec![records[1].clone(), records[0].clone(), records[2].clone()];
    let duplicate = vec![records[1].clone(), records[1].clone(), records[2].clone()];
    let mut absolute = records.clone();
    absolute[2].path = "/abs/olute.jpg".into();
    let values = [0.0f32; 5];

    assert_eq!(
        rejected_write(dir.path(), &unsorted, &vectors, &[]),
        format!(
            "cannot write PATH: record 1 has the path {:?}, which does not sort after the path {:?} of record 0, \
             but records must be sorted by the bytes of their paths without duplicates",
            records[0].path, records[1].path
        )
    );
    assert_eq!(
        rejected_write(dir.path(), &duplicate, &vectors, &[]),
        format!(
            "cannot write PATH: record 1 has the path {:?}, which does not sort after the path {:?} of record 0, \
             but records must be sorted by the bytes of their paths without duplicates",
            records[1].path, records[1].path
        )
    );
    assert_eq!(
        rejected_write(dir.path(), &absolute, &vectors, &[]),
        "cannot write PATH: record 2 has the path \"/abs/olute.jpg\", but paths must be relative to the catalogue root"
    );
    assert_eq!(
        rejected_write(dir.path(), &records, &vectors[..2 * DIM], &[]),
        "cannot write PATH: only 2 of 3 vectors were written"
    );
    assert_eq!(
        rejected_write(dir.path(), &records, &[vectors.as_slice(), &vectors[..DIM]].concat(), &[]),
        "cannot write PATH: 4 vectors are more than the 3 records"
    );
    assert_eq!(
        rejected_write(dir.path(), &records, &vectors[1..], &[]),
        "cannot write PATH: 23 values do not form whole vectors of dimension 8"
    );
    assert_eq!(
        rejected_write(dir.path(), &records, &vectors, &[Section { name: "pca", rows: 2, cols: 3, data: &values }]),
        "cannot write PATH: section \"pca\" has 5 values, but its shape 2 x 3 needs 6"
    );
    assert_eq!(
        rejected_write(
            dir.path(),
            &records,
            &vectors,
            &[
                Section { name: "pca", rows: 1, cols: 5, data: &values },
                Section { name: "pca", rows: 5, cols: 1, data: &values },
            ]
        ),
        "cannot write PATH: two sections are named \"pca\""
    );

    let zero_dim = StoreSpec { dim: 0, ..spec() };
    let err = write_store(dir.path().join("store.fidx"), &zero_dim, &[], &[], &[]).unwrap_err();
    assert!(err.to_string().ends_with("the dimension 0 is not between 1 and 2^32 - 1"), "{err}");
}
