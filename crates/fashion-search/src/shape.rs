//! Checks on the shapes and values of caller-supplied buffers, shared by the
//! linear scan, the projection and the tree index.

use crate::SearchError;

/// Returns the number of `dim`-dimensional rows in `vectors`.
pub(crate) fn row_count(vectors: &[f32], dim: usize) -> Result<usize, SearchError> {
    if dim == 0 {
        return Err(SearchError::ZeroDimension);
    }

    if !vectors.len().is_multiple_of(dim) {
        return Err(SearchError::RaggedVectors { len: vectors.len(), dim });
    }

    Ok(vectors.len() / dim)
}

/// Checks that `query` has `dim` finite components.
pub(crate) fn check_query(query: &[f32], dim: usize) -> Result<(), SearchError> {
    if query.len() != dim {
        return Err(SearchError::QueryDimensionMismatch { expected: dim, actual: query.len() });
    }

    match query.iter().position(|value| !value.is_finite()) {
        Some(position) => Err(SearchError::NonFiniteQuery { position, value: query[position] }),
        None => Ok(()),
    }
}

/// Checks that a distance limit is a number and not negative.
pub(crate) fn check_max_distance(max_distance: f32) -> Result<(), SearchError> {
    if max_distance.is_nan() || max_distance < 0.0 {
        return Err(SearchError::InvalidMaxDistance(max_distance));
    }
    Ok(())
}
