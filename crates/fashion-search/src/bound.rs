//! The test that ends a tree search early: a lower bound on the computed full
//! distance of a vector, derived from its projected distance with every
//! rounding step accounted for.
//!
//! Notation: `q` is the query, `x` a stored vector, `d = ||q - x||` the exact
//! distance, `B` the `f32` basis with spectral norm at most `beta`, and
//! `c_v` the stored projected coordinates of `v`. Coordinates are accurate to
//! `||c_v - B v|| <= tau * ||v||`, with `tau` = [`COORDINATE_TOLERANCE`].
//! Then
//!
//! ```text
//! ||c_q - c_x|| <= ||B (q - x)|| + tau ||q|| + tau ||x||
//!               <= beta d + tau ||q|| + tau (||q|| + d)
//!                = (beta + tau) d + 2 tau ||q||
//! ```
//!
//! so `d >= (||c_q - c_x|| - 2 tau ||q||) / (beta + tau)`. The tree returns a
//! rounded `f32` value of `||c_q - c_x||^2`, and the full distance is rounded
//! too, so both sides get a relative error margin.

use crate::distance::distance_error_bound;

/// Maximum error of stored projected coordinates, relative to the norm of
/// the vector they belong to.
///
/// [`Projection::project`](crate::Projection::project) rounds an `f64` dot
/// product to `f32` once, an error of about `6e-8 * ||v||`, so coordinates it
/// computes meet this limit 16 times over. Caller-supplied coordinates are
/// checked against half of it on sampled rows.
pub(crate) const COORDINATE_TOLERANCE: f64 = 1e-6;

/// Lower bounds on the full distances to one query.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PruningBound {
    /// `1 - e` for the relative error `e` of a tree distance.
    projected_scale: f64,
    /// `2 tau ||q||`.
    offset: f64,
    /// `beta + tau`.
    norm: f64,
    /// `1 - e` for the relative error `e` of a computed full distance.
    exact_scale: f64,
}

impl PruningBound {
    /// Prepares the bound for `query`, for a `dim`-dimensional index projected
    /// onto `projected` directions with a basis of spectral norm at most
    /// `basis_norm_bound`.
    pub(crate) fn new(query: &[f32], dim: usize, projected: usize, basis_norm_bound: f64) -> Self {
        let query_norm = query.iter().map(|&value| f64::from(value) * f64::from(value)).sum::<f64>().sqrt();

        // kiddo sums `projected` squares in f32, a relative error of about
        // (projected + 2) * u on the square and half that on the root, with
        // u = f32::EPSILON / 2. The margin is at least eight times that, to
        // also cover the differently ordered sums kiddo uses to prune cells.
        // NOTE: the cover for kiddo's cell pruning is an estimate, because its
        // rounding was not analysed.
        let projected_error = (2 * projected + 32) as f64 * f64::from(f32::EPSILON);

        Self {
            projected_scale: 1.0 - projected_error,
            offset: 2.0 * COORDINATE_TOLERANCE * query_norm,
            norm: basis_norm_bound + COORDINATE_TOLERANCE,
            exact_scale: 1.0 - distance_error_bound(dim),
        }
    }

    /// Returns a lower bound on the computed full distance of a vector whose
    /// squared projected distance, as the tree computed it, is
    /// `projected_squared`.
    #[inline]
    pub(crate) fn min_distance(&self, projected_squared: f32) -> f64 {
        let projected = f64::from(projected_squared).sqrt() * self.projected_scale;
        let exact = ((projected - self.offset) / self.norm).max(0.0);
        exact * self.exact_scale
    }

    /// Returns a squared projected radius such that every vector outside it
    /// has [`min_distance`](Self::min_distance) above `threshold`, so only
    /// vectors inside can have a full distance of `threshold` or less.
    pub(crate) fn projected_radius_squared(&self, threshold: f32) -> f32 {
        if threshold.is_infinite() {
            return f32::INFINITY;
        }

        let projected = (f64::from(threshold) / self.exact_scale * self.norm + self.offset) / self.projected_scale;

        // The factor covers the rounding of the f64 arithmetic above, and the
        // conversion to f32 rounds up.
        let squared = projected * projected * (1.0 + 1e-9);
        let radius = squared as f32;
        if f64::from(radius) < squared {
            radius.next_up()
        } else {
            radius
        }
    }
}
