//! An opened index: the store, its KD-tree over the PCA projection, and the
//! mapping from stored relative paths to paths a user can open.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fashion_search::{linear_top_k, Neighbour, Projection, SearchError, TreeIndex};
use fashion_store::{PayloadCheck, Store, StoreError};

use crate::embedder::Fingerprint;

/// Dimensions of the PCA projection that the KD-tree indexes.
pub const PROJECTED_DIMS: usize = 32;

/// Store section holding the projection basis, `PROJECTED_DIMS x dim`.
pub const BASIS_SECTION: &str = "pca.basis";

/// Store section holding each vector's projected coordinates, `count x PROJECTED_DIMS`.
pub const COORDINATES_SECTION: &str = "pca.coordinates";

/// The default index file, relative to the current directory.
pub const DEFAULT_INDEX_PATH: &str = "fashion.fidx";

/// Environment variable that overrides [`DEFAULT_INDEX_PATH`].
pub const INDEX_ENV: &str = "FASHION_INDEX";

/// Returns the index path: `explicit` if given, else `$FASHION_INDEX`, else
/// `fashion.fidx` in the current directory.
pub fn index_path(explicit: Option<&Path>) -> PathBuf {
    match explicit {
        Some(path) => path.to_owned(),
        None => std::env::var_os(INDEX_ENV).map_or_else(|| PathBuf::from(DEFAULT_INDEX_PATH), PathBuf::from),
    }
}

/// Store vectors shared with the tree without copying them.
#[derive(Clone)]
struct StoreVectors(Arc<Store>);

impl AsRef<[f32]> for StoreVectors {
    fn as_ref(&self) -> &[f32] {
        self.0.vectors()
    }
}

/// Describes a missing index file and the command that creates it.
pub fn missing_index_message(path: &Path) -> String {
    format!(
        "{0}: index not found; build one with `fashion-index build CATALOGUE --index {0}` \
         (the default index is ${INDEX_ENV}, else {DEFAULT_INDEX_PATH})",
        path.display()
    )
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{}", missing_index_message(path))]
    NotFound { path: PathBuf },

    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("{}: the index has no model fingerprint that this build can read; rebuild it with `fashion-index build`", path.display())]
    Fingerprint {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("{}: cannot build the search tree; rebuild the index with `fashion-index build`", path.display())]
    Tree {
        path: PathBuf,
        #[source]
        source: SearchError,
    },

    #[error("search failed")]
    Search(#[source] SearchError),
}

/// A store opened for search.
pub struct Index {
    store: Arc<Store>,
    fingerprint: Fingerprint,
    /// `None` when the store has no projection (fewer vectors than
    /// [`PROJECTED_DIMS`]), in which case search scans linearly.
    tree: Option<TreeIndex<StoreVectors, PROJECTED_DIMS>>,
}

impl Index {
    /// Opens the store at `path` and rebuilds the KD-tree from its stored
    /// projection. `check` decides whether the payload checksum is computed.
    pub fn open(path: &Path, check: PayloadCheck) -> Result<Self, IndexError> {
        let store = match Store::open(path, check) {
            Ok(store) => Arc::new(store),
            Err(error) if error.is_not_found() => return Err(IndexError::NotFound { path: path.to_owned() }),
            Err(error) => return Err(error.into()),
        };
        let fingerprint = Fingerprint::from_json(&store.header().fingerprint)
            .map_err(|source| IndexError::Fingerprint { path: path.to_owned(), source })?;

        let tree_error = |source| IndexError::Tree { path: path.to_owned(), source };
        let tree = match (store.section(BASIS_SECTION), store.section(COORDINATES_SECTION)) {
            (Some(basis), Some(coordinates)) => {
                let projection = Projection::from_basis(basis.data.to_vec(), store.dim()).map_err(tree_error)?;
                let vectors = StoreVectors(Arc::clone(&store));
                Some(TreeIndex::from_coordinates(vectors, projection, coordinates.data).map_err(tree_error)?)
            }
            _ => {
                log::debug!("{}: no stored projection, search scans linearly", path.display());
                None
            }
        };
        Ok(Self { store, fingerprint, tree })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    pub fn len(&self) -> usize {
        self.store.len()
    }

    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    /// Finds the `k` stored vectors nearest to `query`, nearest first, ties
    /// by stored order. Exact: the KD-tree only prunes what provably cannot
    /// be in the result.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Neighbour>, IndexError> {
        match &self.tree {
            Some(tree) => tree.search(query, k),
            None => linear_top_k(self.store.vectors(), self.store.dim(), query, k),
        }
        .map_err(IndexError::Search)
    }

    /// Finds the `k` nearest vectors by a linear scan, the oracle for [`Index::search`].
    pub fn search_linear(&self, query: &[f32], k: usize) -> Result<Vec<Neighbour>, IndexError> {
        linear_top_k(self.store.vectors(), self.store.dim(), query, k).map_err(IndexError::Search)
    }

    /// Returns the path of stored image `index` as a user can open it from the
    /// current directory: relative when the catalogue lies below it,
    /// absolute otherwise.
    pub fn display_path(&self, index: usize) -> PathBuf {
        let root = &self.store.header().catalogue_root;
        let full = root.join(&self.store.records()[index].path);
        match std::env::current_dir() {
            Ok(cwd) => full.strip_prefix(&cwd).map_or_else(|_| full.clone(), Path::to_owned),
            Err(_) => full,
        }
    }
}
