//! The crate's error type: every way a vector buffer, a query, a basis or a
//! set of stored coordinates can be rejected.

use kiddo::kd_tree::ConstructionError;

/// Errors returned by the scan, the projection and the tree index.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The vector dimension is zero.
    #[error("invalid vector dimension 0: vectors need at least one component")]
    ZeroDimension,

    /// The vector buffer does not hold a whole number of rows.
    #[error("invalid vector buffer: {len} floats is not a multiple of the dimension {dim}")]
    RaggedVectors {
        /// Number of floats in the buffer.
        len: usize,
        /// Expected row length.
        dim: usize,
    },

    /// The query length differs from the dimension of the stored vectors.
    #[error("query has {actual} components but the stored vectors have {expected}")]
    QueryDimensionMismatch {
        /// Dimension of the stored vectors.
        expected: usize,
        /// Length of the query.
        actual: usize,
    },

    /// The query contains NaN or an infinity.
    #[error("query component {position} is {value}; queries must be finite")]
    NonFiniteQuery {
        /// Index of the first non-finite component.
        position: usize,
        /// Its value.
        value: f32,
    },

    /// A stored vector contains NaN or an infinity.
    #[error("vector {row} has component {position} = {value}; vectors must be finite")]
    NonFiniteVector {
        /// Row of the vector.
        row: usize,
        /// Index of the first non-finite component.
        position: usize,
        /// Its value.
        value: f32,
    },

    /// The distance limit is NaN or negative.
    #[error("invalid max_distance {0}: it must be a number >= 0")]
    InvalidMaxDistance(f32),

    /// The projection has more output dimensions than its input has.
    #[error("cannot project {dim}-dimensional vectors onto {projected} principal directions")]
    ProjectionTooWide {
        /// Input dimension.
        dim: usize,
        /// Requested output dimension.
        projected: usize,
    },

    /// A basis buffer has the wrong number of floats.
    #[error(
        "invalid basis: {len} floats, expected {projected} rows of {dim} = {}",
        projected * dim
    )]
    BasisShape {
        /// Number of floats in the buffer.
        len: usize,
        /// Number of rows expected.
        projected: usize,
        /// Row length expected.
        dim: usize,
    },

    /// A basis buffer contains NaN or an infinity.
    #[error("invalid basis: entry {position} is {value}")]
    NonFiniteBasis {
        /// Index of the first non-finite entry.
        position: usize,
        /// Its value.
        value: f32,
    },

    /// The rows of a basis are not orthonormal, so projected distances could
    /// exceed true ones and pruning would drop true neighbours.
    #[error(
        "invalid basis: rows are not orthonormal (Frobenius norm of B*B^T - I is {deviation:e}, \
         the limit is {tolerance:e})"
    )]
    BasisNotOrthonormal {
        /// Frobenius norm of `B * B^T - I`.
        deviation: f64,
        /// Largest accepted value.
        tolerance: f64,
    },

    /// A coordinate buffer has the wrong number of floats.
    #[error(
        "invalid projected coordinates: {len} floats, expected {count} rows of {projected} = {}",
        count * projected
    )]
    CoordinatesShape {
        /// Number of floats in the buffer.
        len: usize,
        /// Number of vectors in the index.
        count: usize,
        /// Projected dimension.
        projected: usize,
    },

    /// A projected coordinate is NaN or an infinity, which happens when the
    /// vector it came from is not finite.
    #[error("projected coordinates of vector {row} are not finite; check that vector for NaN or infinity")]
    NonFiniteCoordinates {
        /// Row of the offending vector.
        row: usize,
    },

    /// Caller-supplied coordinates disagree with projecting the vectors with
    /// the supplied basis.
    #[error(
        "projected coordinates of vector {row} differ from its projection by {difference:e} \
         (limit {tolerance:e}); the coordinates were computed with another basis or for other vectors"
    )]
    CoordinatesMismatch {
        /// Row of the first disagreeing vector.
        row: usize,
        /// Euclidean norm of the difference.
        difference: f64,
        /// Largest accepted difference for that row.
        tolerance: f64,
    },

    /// The KD-tree stores `u32` item indices.
    #[error("cannot index {count} vectors: the KD-tree stores at most {} items", u32::MAX)]
    TooManyVectors {
        /// Number of vectors supplied.
        count: usize,
    },

    /// kiddo rejected the projected points.
    #[error("failed to build the KD-tree over {count} projected vectors")]
    TreeConstruction {
        /// Number of projected vectors.
        count: usize,
        /// The error kiddo returned.
        #[source]
        source: ConstructionError,
    },
}
