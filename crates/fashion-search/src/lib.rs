//! Exact k-nearest-neighbour search over image embeddings.
//!
//! The catalogue is a row-major `f32` buffer of `count x dim` vectors
//! (typically L2-normalised, `dim` 1280 or 2048, tens of thousands of rows),
//! usually memory-mapped by the caller. A query returns the `k` rows nearest
//! by Euclidean distance, sorted by ascending distance and then ascending row
//! index, so equal distances come back in a deterministic order.
//!
//! Two searches return identical results:
//!
//! - [`linear_top_k`] computes every distance. It is the reference result.
//! - [`TreeIndex`] projects the vectors onto `P` principal directions
//!   ([`Projection`]), puts the projected points in a kiddo KD-tree, and
//!   computes full distances only for the candidates the tree returns, in
//!   order of projected distance. The basis is orthonormal, so a projected
//!   distance never exceeds the full one, and the search stops once the
//!   projected distance of the next candidate, minus a margin for rounding,
//!   exceeds the k-th full distance found. See `bound.rs` for the margin.
//!
//! Both call [`euclidean_distance`], so the distances they return are
//! bit-identical.
//!
//! # Saving and restoring an index
//!
//! A caller persists [`Projection::basis`] and [`TreeIndex::coordinates`]
//! next to the vectors, and restores with [`Projection::from_basis`] and
//! [`TreeIndex::from_coordinates`], which rebuilds the KD-tree from the saved
//! coordinates instead of projecting every vector again.
//!
//! # Choosing `P`
//!
//! kiddo fixes the projected dimension at compile time, and
//! [`DEFAULT_PROJECTED_DIM`] is 32. A smaller `P` makes each KD-tree query
//! cheaper but the lower bounds looser, so more full distances are computed.
//! On 43,772 synthetic clustered 2048-dimensional vectors (the defaults of
//! `examples/bench.rs`), the median search with k = 5 took 0.37 ms at
//! `P` = 16 and 0.71 ms at 32, against 48 ms for the linear scan. On noisier
//! data of higher rank, `P` = 16 computed four times as many full distances
//! as 32 and took 17.6 ms against 4.6 ms. `BENCHMARKS.md` has the full
//! numbers and the machine.
//!
//! # Tests
//!
//! `cargo test --release -p fashion-search` checks the tree against the
//! linear scan on seeded synthetic data. None of the tests need a catalogue on
//! disk. `cargo run --release -p fashion-search --example bench` times both
//! on 43,772 synthetic clustered 2048-dimensional vectors.

mod bound;
mod distance;
mod error;
mod linear;
mod neighbour;
mod pca;
mod projection;
mod shape;
mod tree;

pub use distance::{euclidean_distance, squared_euclidean};
pub use error::SearchError;
pub use linear::linear_top_k;
pub use neighbour::Neighbour;
pub use projection::{FitOptions, Projection, ORTHONORMALITY_TOLERANCE};
pub use tree::{SearchStats, TreeIndex};

/// Projected dimension of [`TreeIndex`] and [`Projection`] when the type
/// does not name one. See "Choosing `P`" above for the measurements behind it.
pub const DEFAULT_PROJECTED_DIM: usize = 32;
