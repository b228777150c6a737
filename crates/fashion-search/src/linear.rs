//! The exact linear scan: the reference result that the tree index must
//! reproduce, and the baseline it has to beat.

use rayon::prelude::*;

use crate::distance::euclidean_distance;
use crate::neighbour::TopK;
use crate::shape::{check_query, row_count};
use crate::{Neighbour, SearchError};

/// Rows scanned by one rayon task. At 2048 dimensions this is 4 MiB of
/// vectors, large enough that splitting and merging cost little.
const ROWS_PER_TASK: usize = 512;

/// Returns the `k` vectors nearest to `query` by Euclidean distance, found by
/// computing the distance to every row.
///
/// `vectors` contains the rows one after another (row-major, `dim` floats each).
/// The result is sorted by ascending distance, then ascending index, and has
/// `min(k, rows)` entries. Row blocks are scanned in parallel on the current
/// rayon pool, and the result does not depend on the number of threads.
///
/// # Errors
///
/// Returns an error if `dim` is zero, if `vectors.len()` is not a multiple of
/// `dim`, or if `query` does not have `dim` finite components.
pub fn linear_top_k(vectors: &[f32], dim: usize, query: &[f32], k: usize) -> Result<Vec<Neighbour>, SearchError> {
    let rows = row_count(vectors, dim)?;
    check_query(query, dim)?;

    if k == 0 || rows == 0 {
        return Ok(Vec::new());
    }

    let k = k.min(rows);
    let block_len = ROWS_PER_TASK * dim;
    let top = vectors
        .par_chunks(block_len)
        .enumerate()
        .map(|(block, block_vectors)| {
            let first_row = block * ROWS_PER_TASK;
            let mut top = TopK::new(k);
            for (offset, row) in block_vectors.chunks_exact(dim).enumerate() {
                top.offer(first_row + offset, euclidean_distance(row, query));
            }
            top
        })
        .reduce(|| TopK::new(k), TopK::merge);

    Ok(top.into_sorted_vec())
}
