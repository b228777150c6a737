//! Building and updating an index from a catalogue folder.
//!
//! The build walks the folder and reuses the vector of every file whose size
//! and modification time (or, failing that, content hash) match the previous
//! index or the resume journal. It embeds the rest in batches, and a decoding
//! thread prepares the next batch in parallel while the model runs on the
//! current one. Each completed batch is appended to the journal, so a build
//! that is killed resumes where it stopped. The new index replaces the old
//! one atomically, and only then is the journal removed.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fashion_image::{DecodeError, DecodeOptions, ResizeMode};
use fashion_search::{FitOptions, Projection};
use fashion_store::{Journal, PayloadCheck, Record, Section, Store, StoreError, StoreSpec};
use rayon::prelude::*;

use crate::catalogue::{walk, CatalogueFile, WalkError, WalkOptions};
use crate::embedder::{check_vector, resolve_weights, Architecture, Embedder, InvalidVector};
use crate::error::EmbedError;
use crate::index::{BASIS_SECTION, COORDINATES_SECTION, PROJECTED_DIMS};
use crate::pipeline::{prepare_file, resize_mode_name, PreparedImage};

/// Settings of one build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub catalogue: PathBuf,
    pub index: PathBuf,
    pub architecture: Architecture,
    /// Weights file; `None` looks it up with [`resolve_weights`].
    pub weights: Option<PathBuf>,
    pub resize: ResizeMode,
    pub batch_size: usize,
    pub follow_links: bool,
    pub decode: DecodeOptions,
    /// Replace an index built with another model instead of failing.
    pub rebuild: bool,
}

/// Receives progress and per-file problems while a build runs.
pub trait BuildObserver: Sync {
    /// Called once the number of files to embed is known.
    fn start(&self, files_to_embed: usize);
    /// Called after each batch with the number of files it finished.
    fn advance(&self, files: usize);
    /// Called for each file that is left out of the index.
    fn skipped(&self, problem: &FileProblem);
    /// Called for notes worth telling the user, such as a resumed build.
    fn note(&self, message: &str);
}

/// Why one file is not in the index.
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("{message}")]
    Walk { path: PathBuf, message: String },
    #[error("{source}")]
    Vector {
        path: PathBuf,
        #[source]
        source: InvalidVector,
    },
}

impl FileProblem {
    /// Returns the path of the file: the catalogue root joined with its relative path.
    pub fn path(&self) -> &Path {
        match self {
            FileProblem::Decode(error) => error.path(),
            FileProblem::Walk { path, .. } | FileProblem::Vector { path, .. } => path,
        }
    }
}

impl From<WalkError> for FileProblem {
    fn from(error: WalkError) -> Self {
        FileProblem::Walk { path: error.path, message: error.message }
    }
}

/// Counts of what one build did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BuildSummary {
    /// Images in the new index.
    pub indexed: usize,
    /// Images embedded by this run.
    pub embedded: usize,
    /// Images whose vector came from the previous index or the journal.
    pub reused: usize,
    /// Images of the previous index that no longer exist.
    pub removed: usize,
    /// Files left out because of an error.
    pub skipped: usize,
    /// Images recovered from the journal of an interrupted build.
    pub resumed: usize,
    #[serde(skip)]
    pub elapsed: Duration,
}

/// Failure of a whole build. Nothing was written to the index path.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{}: catalogue folder not found or not a folder", path.display())]
    Catalogue {
        path: PathBuf,
        #[source]
        source: Option<std::io::Error>,
    },
    #[error(transparent)]
    Model(#[from] EmbedError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{}: the index was built with {found}, but this build uses {expected}; \
         pass --rebuild to replace it, or choose another --index",
        path.display()
    )]
    OtherModel { path: PathBuf, found: String, expected: String },
    #[error("cannot compute the search projection")]
    Projection(#[source] fashion_search::SearchError),
}

/// A vector known before this run, from the previous index or the journal.
struct Known {
    record: Record,
    vector: Vec<f32>,
}

/// Builds or updates the index described by `options`.
pub fn build_index(options: &BuildOptions, observer: &dyn BuildObserver) -> Result<BuildSummary, BuildError> {
    let started = Instant::now();
    let root = options
        .catalogue
        .canonicalize()
        .map_err(|source| BuildError::Catalogue { path: options.catalogue.clone(), source: Some(source) })?;
    if !root.is_dir() {
        return Err(BuildError::Catalogue { path: options.catalogue.clone(), source: None });
    }

    let weights = resolve_weights(options.architecture, options.weights.as_deref())?;
    let embedder = Embedder::load(options.architecture, &weights, resize_mode_name(options.resize))?;
    let fingerprint = embedder.fingerprint().to_json();
    let spec = StoreSpec { fingerprint: &fingerprint, catalogue_root: &root, dim: embedder.dim() };
    log::debug!("fingerprint {fingerprint}");

    let mut known = previous_index(options, &spec)?;
    let previous_paths: Vec<PathBuf> = known.keys().cloned().collect();
    let journal_path = Journal::path_for(&options.index);
    if options.rebuild && journal_path.exists() {
        log::debug!("{}: removed by --rebuild", journal_path.display());
        std::fs::remove_file(&journal_path).map_err(|source| StoreError::Io {
            operation: "remove",
            path: journal_path.clone(),
            source,
        })?;
    }
    let (mut journal, recovery) = Journal::open_or_create(&journal_path, &spec)?;
    let mut resumed = 0;
    for entry in recovery.entries {
        for (record, vector) in entry.records.into_iter().zip(entry.vectors.chunks_exact(spec.dim)) {
            resumed += 1;
            known.insert(record.path.clone(), Known { record, vector: vector.to_vec() });
        }
    }
    if resumed > 0 {
        observer.note(&format!("resuming an interrupted build: {resumed} images already embedded"));
    }

    let walk_options =
        WalkOptions { follow_links: options.follow_links, exclude: vec![options.index.clone(), journal_path.clone()] };
    let (files, walk_errors) = walk(&root, &walk_options);
    let mut skipped = walk_errors.len();
    for error in walk_errors {
        observer.skipped(&error.into());
    }

    // Files whose size and mtime match a known record keep its vector. The
    // rest are read, and keep it only if their content hash still matches.
    let mut entries: Vec<(Record, Option<Vec<f32>>)> = Vec::with_capacity(files.len());
    let mut to_embed: Vec<(usize, &CatalogueFile)> = Vec::new();
    let mut reused = 0;
    for file in &files {
        let unchanged =
            known.get(&file.relative).filter(|k| k.record.size == file.size && k.record.mtime_ns == file.mtime_ns);
        match unchanged {
            Some(k) => {
                reused += 1;
                entries.push((k.record.clone(), Some(k.vector.clone())));
            }
            None => {
                to_embed.push((entries.len(), file));
                let record =
                    Record { path: file.relative.clone(), size: file.size, mtime_ns: file.mtime_ns, sha256: [0; 32] };
                entries.push((record, None));
            }
        }
    }
    let present: HashSet<&Path> = files.iter().map(|f| f.relative.as_path()).collect();
    let removed = previous_paths.iter().filter(|path| !present.contains(path.as_path())).count();

    observer.start(to_embed.len());
    let mut embedded = 0;
    let batches = to_embed.chunks(options.batch_size.max(1));
    let (sender, receiver) = mpsc::sync_channel::<Vec<(usize, Result<PreparedImage, DecodeError>)>>(1);
    let size = embedder.input_size();

    std::thread::scope(|scope| -> Result<(), BuildError> {
        // The decoding thread stays one batch ahead of the model.
        scope.spawn(move || {
            for batch in batches {
                let prepared: Vec<_> = batch
                    .par_iter()
                    .map(|&(slot, file)| (slot, prepare_file(&file.path, &options.decode, size, options.resize)))
                    .collect();
                if sender.send(prepared).is_err() {
                    break;
                }
            }
        });

        for prepared in receiver {
            let batch_len = prepared.len();
            let mut images = Vec::with_capacity(batch_len);
            for (slot, outcome) in prepared {
                match outcome {
                    Ok(image) => {
                        let entry = &mut entries[slot];
                        entry.0.sha256 = image.sha256;
                        // A file touched without a content change keeps its vector.
                        if let Some(k) = known.get(&entry.0.path).filter(|k| k.record.sha256 == image.sha256) {
                            log::debug!("{}: modification time changed, content did not", entry.0.path.display());
                            entry.1 = Some(k.vector.clone());
                            reused += 1;
                        } else {
                            images.push((slot, image));
                        }
                    }
                    Err(error) => {
                        skipped += 1;
                        observer.skipped(&FileProblem::Decode(error));
                    }
                }
            }

            let pixels: Vec<_> = images.iter().map(|(_, image)| &image.image).collect();
            let vectors = embedder.embed(&pixels)?;
            let mut batch_records = Vec::with_capacity(images.len());
            let mut batch_vectors = Vec::with_capacity(images.len() * spec.dim);
            for ((slot, _), vector) in images.iter().zip(vectors) {
                let entry = &mut entries[*slot];
                if let Err(source) = check_vector(&vector) {
                    skipped += 1;
                    observer.skipped(&FileProblem::Vector { path: root.join(&entry.0.path), source });
                    continue;
                }
                batch_records.push(entry.0.clone());
                batch_vectors.extend_from_slice(&vector);
                entry.1 = Some(vector);
                embedded += 1;
            }
            if !batch_records.is_empty() {
                journal.append(&batch_records, &batch_vectors)?;
            }
            observer.advance(batch_len);
        }
        Ok(())
    })?;

    let (records, vectors): (Vec<Record>, Vec<Vec<f32>>) =
        entries.into_iter().filter_map(|(record, vector)| vector.map(|v| (record, v))).unzip();
    let vectors: Vec<f32> = vectors.concat();
    write_index(&options.index, &spec, &records, &vectors)?;
    journal.remove()?;

    Ok(BuildSummary { indexed: records.len(), embedded, reused, removed, skipped, resumed, elapsed: started.elapsed() })
}

/// Reads the vectors of the index being replaced, keyed by relative path.
fn previous_index(options: &BuildOptions, spec: &StoreSpec<'_>) -> Result<HashMap<PathBuf, Known>, BuildError> {
    let path = &options.index;
    let store = match Store::open(path, PayloadCheck::Verify) {
        Ok(store) => store,
        Err(error) if error.is_not_found() => return Ok(HashMap::new()),
        Err(error) if options.rebuild => {
            log::debug!("previous index ignored because of --rebuild: {error}");
            return Ok(HashMap::new());
        }
        Err(error) => return Err(error.into()),
    };

    let header = store.header();
    if header.fingerprint != spec.fingerprint || header.dim != spec.dim {
        if options.rebuild {
            return Ok(HashMap::new());
        }
        let (found, expected) = describe_difference(&header.fingerprint, header.dim, spec);
        return Err(BuildError::OtherModel { path: path.clone(), found, expected });
    }
    if header.catalogue_root != spec.catalogue_root {
        log::debug!(
            "previous index is of catalogue {}, not {}: embedding everything",
            header.catalogue_root.display(),
            spec.catalogue_root.display()
        );
        return Ok(HashMap::new());
    }

    let known = store
        .records()
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let known = Known { record: record.clone(), vector: store.vector(i).to_vec() };
            (record.path.clone(), known)
        })
        .collect();
    Ok(known)
}

/// Describes the previous index's settings and this build's, naming the
/// weights digest only when model and resize mode agree, and the whole
/// fingerprint when even that does not tell them apart.
fn describe_difference(found_json: &str, found_dim: usize, spec: &StoreSpec<'_>) -> (String, String) {
    let (Ok(found), Ok(expected)) =
        (crate::Fingerprint::from_json(found_json), crate::Fingerprint::from_json(spec.fingerprint))
    else {
        return (format!("fingerprint {found_json}"), format!("fingerprint {}", spec.fingerprint));
    };

    let short = |f: &crate::Fingerprint| format!("model {}, resize {}", f.architecture, f.resize);
    if short(&found) != short(&expected) {
        return (short(&found), short(&expected));
    }

    let with_weights = |f: &crate::Fingerprint| format!("{}, weights sha256 {}", short(f), f.weights_sha256);
    if found.weights_sha256 != expected.weights_sha256 {
        return (with_weights(&found), with_weights(&expected));
    }

    log::debug!("fingerprints differ beyond model, resize and weights (dimension {found_dim} vs {})", spec.dim);
    (format!("fingerprint {found_json}"), format!("fingerprint {}", spec.fingerprint))
}

/// Fits the search projection and writes the store atomically.
fn write_index(path: &Path, spec: &StoreSpec<'_>, records: &[Record], vectors: &[f32]) -> Result<(), BuildError> {
    if records.len() < PROJECTED_DIMS {
        log::debug!("{} vectors: too few for a projection, search will scan linearly", records.len());
        fashion_store::write_store(path, spec, records, vectors, &[])?;
        return Ok(());
    }

    let started = Instant::now();
    let projection: Projection<PROJECTED_DIMS> =
        Projection::fit(vectors, spec.dim, &FitOptions::default()).map_err(BuildError::Projection)?;
    let coordinates: Vec<f32> =
        projection.project_all(vectors).map_err(BuildError::Projection)?.into_iter().flatten().collect();
    log::debug!("fitted and applied the projection in {:.1?}", started.elapsed());

    let sections = [
        Section { name: BASIS_SECTION, rows: PROJECTED_DIMS, cols: spec.dim, data: projection.basis() },
        Section { name: COORDINATES_SECTION, rows: records.len(), cols: PROJECTED_DIMS, data: &coordinates },
    ];
    fashion_store::write_store(path, spec, records, vectors, &sections)?;
    Ok(())
}
