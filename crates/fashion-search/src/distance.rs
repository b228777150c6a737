//! Euclidean distance in `f32`: the one implementation that both the linear
//! scan and the tree re-rank call, so both rank by bit-identical values.
//!
//! Rust never reassociates or contracts floating-point operations on its own,
//! so the result depends only on the inputs and on the fixed summation order
//! below, not on where the function is inlined.

/// Number of independent partial sums. Sixteen `f32` lanes fill two AVX
/// registers or four SSE registers, which lets LLVM vectorise the loop.
const LANES: usize = 16;

/// Returns the squared Euclidean distance between `a` and `b`.
///
/// Component `i` goes into partial sum `i % 16`, and the 16 partial sums are
/// then added pairwise in a fixed order.
///
/// # Panics
///
/// Panics if the slices differ in length.
#[inline]
pub fn squared_euclidean(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "vectors of different lengths");

    let mut partial = [0.0f32; LANES];
    let a_chunks = a.chunks_exact(LANES);
    let b_chunks = b.chunks_exact(LANES);
    let a_tail = a_chunks.remainder();
    let b_tail = b_chunks.remainder();

    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            let difference = x[lane] - y[lane];
            partial[lane] += difference * difference;
        }
    }
    for (lane, (x, y)) in a_tail.iter().zip(b_tail).enumerate() {
        let difference = x - y;
        partial[lane] += difference * difference;
    }

    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for lane in 0..width {
            partial[lane] += partial[lane + width];
        }
    }
    partial[0]
}

/// Returns the Euclidean distance between `a` and `b`: the square root of
/// [`squared_euclidean`].
///
/// # Panics
///
/// Panics if the slices differ in length.
#[inline]
pub fn euclidean_distance(a: &[f32], b: &[f32]) -> f32 {
    squared_euclidean(a, b).sqrt()
}

/// Returns a bound on the relative rounding error of [`euclidean_distance`]
/// for `dim`-dimensional vectors, as a multiple of the exact distance.
///
/// Each lane adds at most `dim / 16 + 1` terms in sequence and the pairwise
/// reduction adds 4 more levels. Each term carries up to 3 roundings (the
/// difference, counted twice once squared, and the product), and the square
/// root one more. The classic bound for summing non-negative terms,
/// `(terms + levels) * u` with `u = f32::EPSILON / 2`, then bounds the
/// squared distance by `(dim / 16 + 8) * u`, which halves under the square root.
/// The value returned is `(dim / 16 + 16) * f32::EPSILON`, about four times that.
pub(crate) fn distance_error_bound(dim: usize) -> f64 {
    (dim / LANES + 16) as f64 * f64::from(f32::EPSILON)
}
