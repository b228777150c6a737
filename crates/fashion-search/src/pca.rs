//! Principal directions of a vector sample by randomised subspace iteration,
//! in `f64`: the numerical core behind [`Projection::fit`](crate::Projection::fit).
//!
//! Matrices are row-major `Vec<f64>`. A basis is stored as rows, one
//! direction per row, so that every product below runs over contiguous memory.

use rand::seq::index;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::SearchError;

/// Relative residual norm below which Gram-Schmidt treats a row as lying in
/// the span of the rows before it. Such a row is replaced by a random one.
const DEPENDENT_RESIDUAL: f64 = 1e-6;

/// Jacobi sweeps stop once the off-diagonal Frobenius norm falls below this
/// fraction of the whole matrix's.
const JACOBI_TOLERANCE: f64 = 1e-14;

/// Jacobi sweeps allowed. Cyclic Jacobi converges quadratically, so this
/// limit only guards against a matrix that never meets the tolerance.
const JACOBI_MAX_SWEEPS: usize = 64;

/// Settings of the subspace iteration, already validated by the caller.
pub(crate) struct SubspaceIteration {
    pub(crate) directions: usize,
    pub(crate) sample_size: usize,
    pub(crate) power_iterations: usize,
    pub(crate) oversampling: usize,
}

/// Returns `directions` orthonormal rows of length `dim` spanning
/// (approximately) the top principal directions of the centred rows of
/// `vectors`.
///
/// Up to `sample_size` rows are drawn at random without replacement. When the
/// sample has fewer independent directions than requested, the remaining rows
/// are random directions orthogonal to the rest, so the result is always an
/// orthonormal basis.
///
/// # Errors
///
/// Returns an error if a sampled row is not finite.
pub(crate) fn principal_directions(
    vectors: &[f32],
    dim: usize,
    settings: &SubspaceIteration,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<f64>, SearchError> {
    let sample = centred_sample(vectors, dim, settings.sample_size, rng)?;
    let width = (settings.directions + settings.oversampling).min(dim);

    let mut subspace = random_rows(width, dim, rng);
    orthonormalise_rows(&mut subspace, dim, rng);

    for _ in 0..settings.power_iterations {
        let scores = multiply_by_transpose(&sample, &subspace, dim);
        subspace = multiply_transposed(&sample, &scores, width, dim);
        orthonormalise_rows(&mut subspace, dim, rng);
    }

    let mut basis = rayleigh_ritz(&sample, &subspace, width, dim, settings.directions);
    orthonormalise_rows(&mut basis, dim, rng);
    Ok(basis)
}

/// Returns up to `sample_size` random rows of `vectors`, each minus the
/// sample mean, as `f32`.
fn centred_sample(
    vectors: &[f32],
    dim: usize,
    sample_size: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<f32>, SearchError> {
    let rows = vectors.len() / dim;
    let mut chosen: Vec<usize> =
        if rows > sample_size { index::sample(rng, rows, sample_size).into_vec() } else { (0..rows).collect() };
    chosen.sort_unstable();

    for &row in &chosen {
        let values = &vectors[row * dim..(row + 1) * dim];
        if let Some(position) = values.iter().position(|value| !value.is_finite()) {
            return Err(SearchError::NonFiniteVector { row, position, value: values[position] });
        }
    }

    let mut mean = vec![0.0f64; dim];
    for &row in &chosen {
        let values = &vectors[row * dim..(row + 1) * dim];
        for (sum, &value) in mean.iter_mut().zip(values) {
            *sum += f64::from(value);
        }
    }
    let count = chosen.len().max(1) as f64;
    mean.iter_mut().for_each(|sum| *sum /= count);

    let mut sample = Vec::with_capacity(chosen.len() * dim);
    for &row in &chosen {
        let values = &vectors[row * dim..(row + 1) * dim];
        sample.extend(values.iter().zip(&mean).map(|(&value, &centre)| (f64::from(value) - centre) as f32));
    }

    log::debug!("principal directions: sampled {} of {rows} vectors of dimension {dim}", chosen.len());
    Ok(sample)
}

/// Returns `sample * basis^T`: one row of `basis.len() / dim` scores per sample row.
fn multiply_by_transpose(sample: &[f32], basis: &[f64], dim: usize) -> Vec<f64> {
    let width = basis.len() / dim;
    let mut scores = vec![0.0f64; sample.len() / dim * width];

    scores.par_chunks_mut(width).zip(sample.par_chunks_exact(dim)).for_each(|(row_scores, row)| {
        for (score, direction) in row_scores.iter_mut().zip(basis.chunks_exact(dim)) {
            *score = dot(row, direction);
        }
    });
    scores
}

/// Returns `scores^T * sample` as `width` rows of length `dim`: row `j` is the
/// sum of the sample rows weighted by their score `j`.
fn multiply_transposed(sample: &[f32], scores: &[f64], width: usize, dim: usize) -> Vec<f64> {
    sample
        .par_chunks_exact(dim)
        .zip(scores.par_chunks_exact(width))
        .fold(
            || vec![0.0f64; width * dim],
            |mut product, (row, row_scores)| {
                for (target, &weight) in product.chunks_exact_mut(dim).zip(row_scores) {
                    for (sum, &value) in target.iter_mut().zip(row) {
                        *sum += weight * f64::from(value);
                    }
                }
                product
            },
        )
        .reduce(
            || vec![0.0f64; width * dim],
            |mut left, right| {
                left.iter_mut().zip(&right).for_each(|(sum, value)| *sum += value);
                left
            },
        )
}

/// Rotates the orthonormal rows of `subspace` onto the eigenvectors of the
/// sample covariance restricted to their span, and returns the `directions`
/// rows with the largest eigenvalues, largest first.
fn rayleigh_ritz(sample: &[f32], subspace: &[f64], width: usize, dim: usize, directions: usize) -> Vec<f64> {
    let scores = multiply_by_transpose(sample, subspace, dim);

    let mut gram = vec![0.0f64; width * width];
    for row_scores in scores.chunks_exact(width) {
        for i in 0..width {
            for j in 0..width {
                gram[i * width + j] += row_scores[i] * row_scores[j];
            }
        }
    }

    let (eigenvalues, eigenvectors) = symmetric_eigen(gram, width);
    let mut order: Vec<usize> = (0..width).collect();
    order.sort_by(|&a, &b| eigenvalues[b].total_cmp(&eigenvalues[a]));

    let total_variance: f64 = sample.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    let kept_variance: f64 = order[..directions].iter().map(|&j| eigenvalues[j]).sum();
    log::debug!(
        "principal directions: the top {directions} keep {:.1}% of the sample variance",
        100.0 * kept_variance / total_variance.max(f64::MIN_POSITIVE)
    );

    let mut basis = vec![0.0f64; directions * dim];
    for (target, &column) in basis.chunks_exact_mut(dim).zip(&order[..directions]) {
        for (j, source) in subspace.chunks_exact(dim).enumerate() {
            let weight = eigenvectors[j * width + column];
            for (sum, &value) in target.iter_mut().zip(source) {
                *sum += weight * value;
            }
        }
    }
    basis
}

/// Returns `count` rows of `dim` standard normal values.
fn random_rows(count: usize, dim: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..count * dim).map(|_| rng.sample::<f64, _>(StandardNormal)).collect()
}

/// Makes the rows of `rows` orthonormal by modified Gram-Schmidt, run twice
/// per row ("twice is enough") for orthogonality to `f64` precision.
///
/// A row that is zero or lies in the span of the rows before it is replaced
/// by a random row, so the result is orthonormal whatever the input. This
/// needs at most `dim` rows.
pub(crate) fn orthonormalise_rows(rows: &mut [f64], dim: usize, rng: &mut ChaCha8Rng) {
    let count = rows.len() / dim;
    debug_assert!(count <= dim, "{count} orthonormal rows cannot fit in dimension {dim}");

    for j in 0..count {
        let (done, rest) = rows.split_at_mut(j * dim);
        let row = &mut rest[..dim];

        // A random row has a residual of about sqrt((dim - j) / dim) of its
        // norm, far above DEPENDENT_RESIDUAL, so this loop ends after at most
        // one replacement in practice.
        loop {
            let original_norm = norm(row);

            for _ in 0..2 {
                for previous in done.chunks_exact(dim) {
                    let projection = dot(row, previous);
                    for (value, &direction) in row.iter_mut().zip(previous) {
                        *value -= projection * direction;
                    }
                }
            }

            let residual_norm = norm(row);
            if residual_norm > DEPENDENT_RESIDUAL * original_norm && residual_norm > 0.0 {
                row.iter_mut().for_each(|value| *value /= residual_norm);
                break;
            }

            log::debug!("Gram-Schmidt: row {j} is dependent on earlier rows, replacing it with a random row");
            for value in row.iter_mut() {
                *value = rng.sample(StandardNormal);
            }
        }
    }
}

/// Returns the eigenvalues and eigenvectors of the symmetric `n x n` matrix
/// `matrix` by the cyclic Jacobi method. Eigenvector `j` is column `j` of the
/// returned row-major matrix.
pub(crate) fn symmetric_eigen(mut matrix: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut vectors = vec![0.0f64; n * n];
    for i in 0..n {
        vectors[i * n + i] = 1.0;
    }

    let total_norm = norm(&matrix);
    for _ in 0..JACOBI_MAX_SWEEPS {
        let off_diagonal: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| matrix[i * n + j] * matrix[i * n + j])
            .sum();
        if off_diagonal.sqrt() <= JACOBI_TOLERANCE * total_norm {
            break;
        }

        for p in 0..n {
            for q in p + 1..n {
                let apq = matrix[p * n + q];
                if apq == 0.0 {
                    continue;
                }

                // The rotation angle phi zeroes entry (p, q): with
                // theta = cot(2 phi), t = tan(phi) is the smaller root of
                // t^2 + 2 theta t - 1 = 0.
                let theta = (matrix[q * n + q] - matrix[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;

                for k in 0..n {
                    let akp = matrix[k * n + p];
                    let akq = matrix[k * n + q];
                    matrix[k * n + p] = c * akp - s * akq;
                    matrix[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = matrix[p * n + k];
                    let aqk = matrix[q * n + k];
                    matrix[p * n + k] = c * apk - s * aqk;
                    matrix[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let vkp = vectors[k * n + p];
                    let vkq = vectors[k * n + q];
                    vectors[k * n + p] = c * vkp - s * vkq;
                    vectors[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }

    let eigenvalues = (0..n).map(|i| matrix[i * n + i]).collect();
    (eigenvalues, vectors)
}

/// Returns the dot product of `a` and `b`, accumulated in `f64` over eight
/// partial sums so that the loop vectorises.
#[inline]
pub(crate) fn dot<A, B>(a: &[A], b: &[B]) -> f64
where
    A: Copy + Into<f64>,
    B: Copy + Into<f64>,
{
    const LANES: usize = 8;

    debug_assert_eq!(a.len(), b.len());
    let mut partial = [0.0f64; LANES];
    let a_chunks = a.chunks_exact(LANES);
    let b_chunks = b.chunks_exact(LANES);
    let a_tail = a_chunks.remainder();
    let b_tail = b_chunks.remainder();

    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            partial[lane] += x[lane].into() * y[lane].into();
        }
    }
    for (lane, (&x, &y)) in a_tail.iter().zip(b_tail).enumerate() {
        partial[lane] += x.into() * y.into();
    }

    partial.iter().sum()
}

fn norm(values: &[f64]) -> f64 {
    dot(values, values).sqrt()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn jacobi_reconstructs_symmetric_matrix() {
        let n = 6;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let random = random_rows(n, n, &mut rng);
        let mut matrix = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                matrix[i * n + j] = random[i * n + j] + random[j * n + i];
            }
        }

        let (values, vectors) = symmetric_eigen(matrix.clone(), n);

        for i in 0..n {
            for j in 0..n {
                let rebuilt: f64 = (0..n).map(|e| vectors[i * n + e] * values[e] * vectors[j * n + e]).sum();
                assert!(
                    (rebuilt - matrix[i * n + j]).abs() < 1e-10,
                    "entry ({i}, {j}): V diag(values) V^T gives {rebuilt}, expected {}",
                    matrix[i * n + j]
                );
            }
        }
    }

    #[test]
    fn gram_schmidt_replaces_dependent_rows() {
        let dim = 5;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut rows = vec![
            1.0, 2.0, 0.0, 0.0, 0.0, //
            2.0, 4.0, 0.0, 0.0, 0.0, // parallel to the first row
            0.0, 0.0, 0.0, 0.0, 0.0, // zero
        ];

        orthonormalise_rows(&mut rows, dim, &mut rng);

        for i in 0..3 {
            for j in 0..3 {
                let expected = if i == j { 1.0 } else { 0.0 };
                let product = dot(&rows[i * dim..(i + 1) * dim], &rows[j * dim..(j + 1) * dim]);
                assert!((product - expected).abs() < 1e-12, "row {i} . row {j} = {product}, expected {expected}");
            }
        }
    }
}
