//! The PCA projection onto `P` orthonormal principal directions, which gives
//! the tree index low-dimensional points whose distances never exceed the
//! true ones.
//!
//! For an orthonormal basis `B` (`P x dim`), `||B x - B y|| <= ||x - y||` for
//! any `x` and `y`, so a projected distance is a lower bound on the full one.
//! The projection does not subtract the mean: a constant offset cancels in
//! every difference, so it would change no distance.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::pca::{dot, principal_directions, SubspaceIteration};
use crate::shape::row_count;
use crate::{SearchError, DEFAULT_PROJECTED_DIM};

/// Largest accepted Frobenius norm of `B * B^T - I` for a basis passed to
/// [`Projection::from_basis`]. Rounding a basis that is orthonormal in
/// `f64` to `f32` leaves at most about `1.2e-7 * sqrt(P)`, so this only
/// rejects a basis that is not orthonormal at all.
pub const ORTHONORMALITY_TOLERANCE: f64 = 1e-4;

/// Settings for [`Projection::fit`].
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Number of vectors drawn at random to estimate the principal
    /// directions. Default 4096. Fit time grows linearly with it.
    pub sample_size: usize,
    /// Rounds of subspace iteration. Default 4. More rounds separate
    /// directions with close variances better.
    pub power_iterations: usize,
    /// Extra directions iterated beyond `P` and dropped at the end, which
    /// speeds up convergence. Default 8.
    pub oversampling: usize,
    /// Seed of the random sample and the random start, so a fit is reproducible.
    pub seed: u64,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self { sample_size: 4096, power_iterations: 4, oversampling: 8, seed: 0x5eed_f00d }
    }
}

/// A linear map from `dim`-dimensional vectors to `P` coordinates along
/// orthonormal directions.
///
/// With any orthonormal basis, projected distances are lower bounds on full
/// distances, which is what makes tree search exact. How close the bounds
/// are, and so how well the tree prunes, depends on how much of the
/// vectors' variance the directions capture, which is why [`Projection::fit`]
/// picks the principal ones.
#[derive(Debug, Clone)]
pub struct Projection<const P: usize = DEFAULT_PROJECTED_DIM> {
    dim: usize,
    /// `P` rows of `dim` floats, row-major.
    basis: Vec<f32>,
    /// Upper bound on the spectral norm of `basis`, slightly above 1 because
    /// the rows are orthonormal only up to `f32` rounding.
    norm_bound: f64,
}

impl<const P: usize> Projection<P> {
    /// Estimates the top `P` principal directions of the rows of `vectors`
    /// (row-major, `dim` floats per row) by randomised subspace iteration on a
    /// random sample, and returns the projection onto them.
    ///
    /// The rows are centred on the sample mean for the estimate. The result is
    /// orthonormal even for fewer than `P` rows, duplicate rows or no rows: any
    /// directions the data does not determine are random.
    ///
    /// # Errors
    ///
    /// Returns an error if `dim` is zero, if `vectors.len()` is not a multiple
    /// of `dim`, if `P > dim`, or if a sampled vector is not finite.
    pub fn fit(vectors: &[f32], dim: usize, options: &FitOptions) -> Result<Self, SearchError> {
        const { assert!(P > 0, "a projection needs at least one direction") };

        let rows = row_count(vectors, dim)?;
        if P > dim {
            return Err(SearchError::ProjectionTooWide { dim, projected: P });
        }

        let settings = SubspaceIteration {
            directions: P,
            sample_size: options.sample_size.max(1),
            power_iterations: options.power_iterations,
            oversampling: options.oversampling,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let basis = principal_directions(vectors, dim, &settings, &mut rng)?;

        let basis: Vec<f32> = basis.iter().map(|&value| value as f32).collect();
        let norm_bound = norm_bound(orthonormality_deviation(&basis, dim));
        log::debug!(
            "fitted a projection of {rows} vectors from {dim} to {P} dimensions \
             (basis norm bound 1 + {:e})",
            norm_bound - 1.0
        );

        Ok(Self { dim, basis, norm_bound })
    }

    /// Wraps a basis of `P` rows of `dim` floats (row-major), for example one
    /// saved from [`Projection::basis`].
    ///
    /// # Errors
    ///
    /// Returns an error if `dim` is zero, if `P > dim`, if `basis` does not
    /// hold `P * dim` finite floats, or if its rows are not orthonormal within
    /// [`ORTHONORMALITY_TOLERANCE`].
    pub fn from_basis(basis: Vec<f32>, dim: usize) -> Result<Self, SearchError> {
        const { assert!(P > 0, "a projection needs at least one direction") };

        if dim == 0 {
            return Err(SearchError::ZeroDimension);
        }
        if P > dim {
            return Err(SearchError::ProjectionTooWide { dim, projected: P });
        }
        if basis.len() != P * dim {
            return Err(SearchError::BasisShape { len: basis.len(), projected: P, dim });
        }
        if let Some(position) = basis.iter().position(|value| !value.is_finite()) {
            return Err(SearchError::NonFiniteBasis { position, value: basis[position] });
        }

        let deviation = orthonormality_deviation(&basis, dim);
        if deviation > ORTHONORMALITY_TOLERANCE {
            return Err(SearchError::BasisNotOrthonormal { deviation, tolerance: ORTHONORMALITY_TOLERANCE });
        }

        Ok(Self { dim, basis, norm_bound: norm_bound(deviation) })
    }

    /// Returns the input dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Returns the basis: `P` orthonormal rows of [`dim`](Self::dim) floats,
    /// row-major, in order of decreasing variance for a fitted projection.
    pub fn basis(&self) -> &[f32] {
        &self.basis
    }

    /// Returns the basis, consuming the projection.
    pub fn into_basis(self) -> Vec<f32> {
        self.basis
    }

    /// Projects one vector: coordinate `t` is the dot product with basis row
    /// `t`, accumulated in `f64` and rounded once to `f32`.
    ///
    /// # Panics
    ///
    /// Panics if `vector.len()` differs from [`dim`](Self::dim).
    pub fn project(&self, vector: &[f32]) -> [f32; P] {
        assert_eq!(
            vector.len(),
            self.dim,
            "cannot project a vector of length {} with a basis of dimension {}",
            vector.len(),
            self.dim
        );

        let mut coordinates = [0.0f32; P];
        for (coordinate, direction) in coordinates.iter_mut().zip(self.basis.chunks_exact(self.dim)) {
            *coordinate = dot(direction, vector) as f32;
        }
        coordinates
    }

    /// Projects every row of `vectors` (row-major, [`dim`](Self::dim) floats
    /// per row), in parallel.
    ///
    /// # Errors
    ///
    /// Returns an error if `vectors.len()` is not a multiple of the dimension.
    pub fn project_all(&self, vectors: &[f32]) -> Result<Vec<[f32; P]>, SearchError> {
        row_count(vectors, self.dim)?;

        Ok(vectors.par_chunks_exact(self.dim).map(|row| self.project(row)).collect())
    }

    /// Returns an upper bound on `||B v|| / ||v||` over all `v`.
    pub(crate) fn norm_bound(&self) -> f64 {
        self.norm_bound
    }
}

/// Returns the Frobenius norm of `B * B^T - I` for the rows of `basis`.
fn orthonormality_deviation(basis: &[f32], dim: usize) -> f64 {
    let rows: Vec<&[f32]> = basis.chunks_exact(dim).collect();

    let mut sum_of_squares = 0.0f64;
    for (i, a) in rows.iter().enumerate() {
        for (j, b) in rows.iter().enumerate() {
            let identity = if i == j { 1.0 } else { 0.0 };
            let error = dot(a, b) - identity;
            sum_of_squares += error * error;
        }
    }
    sum_of_squares.sqrt()
}

/// Bounds the spectral norm of `B` from the deviation `||B B^T - I||_F`:
/// `||B||^2 = max eig(B B^T) <= 1 + ||B B^T - I||_2 <= 1 + ||B B^T - I||_F`.
fn norm_bound(deviation: f64) -> f64 {
    (1.0 + deviation).sqrt()
}
