//! The fitted basis must be orthonormal, so projected distances never exceed
//! full ones, and must find the directions the data varies in.

mod common;

use common::{clustered, unit_gaussian, Clusters};
use fashion_search::{euclidean_distance, FitOptions, Projection, SearchError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

fn assert_orthonormal(basis: &[f32], dim: usize) {
    let rows: Vec<&[f32]> = basis.chunks_exact(dim).collect();
    for (i, a) in rows.iter().enumerate() {
        for (j, b) in rows.iter().enumerate() {
            let product: f64 = a.iter().zip(*b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
            let expected = if i == j { 1.0 } else { 0.0 };
            assert!((product - expected).abs() < 1e-6, "row {i} . row {j} = {product}, expected {expected}");
        }
    }
}

/// Returns `count` vectors of dimension `dim` that all lie in a random
/// `rank`-dimensional subspace through a common offset.
fn low_rank(count: usize, dim: usize, rank: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let span: Vec<f32> = (0..rank * dim).map(|_| rng.sample(StandardNormal)).collect();
    let offset: Vec<f32> = (0..dim).map(|_| rng.sample(StandardNormal)).collect();

    let mut vectors = Vec::with_capacity(count * dim);
    for _ in 0..count {
        let weights: Vec<f32> = (0..rank).map(|_| rng.sample(StandardNormal)).collect();
        for i in 0..dim {
            let value: f32 = (0..rank).map(|t| weights[t] * span[t * dim + i]).sum();
            vectors.push(offset[i] + value);
        }
    }
    vectors
}

fn projected_distance<const P: usize>(projection: &Projection<P>, a: &[f32], b: &[f32]) -> f32 {
    euclidean_distance(&projection.project(a), &projection.project(b))
}

#[test]
fn fitted_basis_is_orthonormal() {
    let dim = 2048;
    let vectors = clustered(2000, dim, Clusters::default(), 1);

    let projection = Projection::<32>::fit(&vectors, dim, &FitOptions::default()).unwrap();

    assert_eq!(projection.basis().len(), 32 * dim);
    assert_orthonormal(projection.basis(), dim);
}

#[test]
fn projected_distances_never_exceed_full_ones() {
    let dim = 1280;
    let vectors = clustered(1000, dim, Clusters::default(), 2);
    let projection = Projection::<24>::fit(&vectors, dim, &FitOptions::default()).unwrap();

    let rows: Vec<&[f32]> = vectors.chunks_exact(dim).collect();
    for i in (0..rows.len()).step_by(37) {
        for j in (0..rows.len()).step_by(53) {
            let full = euclidean_distance(rows[i], rows[j]);
            let projected = projected_distance(&projection, rows[i], rows[j]);
            assert!(projected <= full * (1.0 + 1e-5) + 1e-6, "rows {i} and {j}: projected {projected} > full {full}");
        }
    }
}

#[test]
fn fit_recovers_low_rank_subspace() {
    let dim = 128;
    let vectors = low_rank(500, dim, 8, 3);
    let projection = Projection::<16>::fit(&vectors, dim, &FitOptions::default()).unwrap();

    // Every difference lies in the 8-dimensional span, so a basis containing
    // it keeps the full length; a random 16-dimensional basis would keep
    // about sqrt(16 / 128) = 35%.
    let rows: Vec<&[f32]> = vectors.chunks_exact(dim).collect();
    for i in 0..20 {
        let (a, b) = (rows[i], rows[i + 100]);
        let ratio = projected_distance(&projection, a, b) / euclidean_distance(a, b);
        assert!(ratio > 0.999, "pair {i}: projection keeps {ratio} of the distance");
    }
}

#[test]
fn fit_orders_directions_by_variance() {
    let dim = 64;
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    // Axis t has standard deviation 0.7^t, so the principal directions are
    // the coordinate axes in order, with variances far enough apart (a ratio
    // of 2) that sampling noise cannot swap them.
    let vectors: Vec<f32> =
        (0..4000 * dim).map(|i| rng.sample::<f32, _>(StandardNormal) * 0.7f32.powi((i % dim) as i32)).collect();

    let projection = Projection::<4>::fit(&vectors, dim, &FitOptions::default()).unwrap();

    for (t, row) in projection.basis().chunks_exact(dim).enumerate() {
        assert!(row[t].abs() > 0.9, "direction {t} is not axis {t}: {:?}", &row[..8]);
    }
}

#[test]
fn fit_with_fewer_vectors_than_directions_is_orthonormal() {
    let dim = 64;
    for count in [0, 1, 3] {
        let vectors = unit_gaussian(count, dim, 5);

        let projection = Projection::<16>::fit(&vectors, dim, &FitOptions::default()).unwrap();

        assert_orthonormal(projection.basis(), dim);
    }
}

#[test]
fn fit_is_reproducible_for_a_seed() {
    let dim = 256;
    let vectors = clustered(3000, dim, Clusters::default(), 6);
    let options = FitOptions { sample_size: 1000, ..FitOptions::default() };

    let first = Projection::<16>::fit(&vectors, dim, &options).unwrap();
    let second = Projection::<16>::fit(&vectors, dim, &options).unwrap();

    assert_eq!(first.basis(), second.basis());
}

#[test]
fn from_basis_round_trips() {
    let dim = 256;
    let vectors = unit_gaussian(300, dim, 7);
    let fitted = Projection::<16>::fit(&vectors, dim, &FitOptions::default()).unwrap();

    let restored = Projection::<16>::from_basis(fitted.basis().to_vec(), dim).unwrap();

    assert_eq!(restored.dim(), dim);
    assert_eq!(restored.project(&vectors[..dim]), fitted.project(&vectors[..dim]));
}

#[test]
fn from_basis_rejects_invalid_bases() {
    let dim = 64;
    let vectors = unit_gaussian(300, dim, 8);
    let basis = Projection::<8>::fit(&vectors, dim, &FitOptions::default()).unwrap().into_basis();

    let scaled: Vec<f32> = basis.iter().map(|v| v * 1.01).collect();
    let error = Projection::<8>::from_basis(scaled, dim).unwrap_err();
    assert!(matches!(error, SearchError::BasisNotOrthonormal { .. }), "{error}");

    let error = Projection::<8>::from_basis(basis[..8 * dim - 1].to_vec(), dim).unwrap_err();
    assert!(matches!(error, SearchError::BasisShape { len: 511, projected: 8, dim: 64 }), "{error}");

    let mut with_nan = basis.clone();
    with_nan[100] = f32::NAN;
    let error = Projection::<8>::from_basis(with_nan, dim).unwrap_err();
    assert!(matches!(error, SearchError::NonFiniteBasis { position: 100, .. }), "{error}");

    let error = Projection::<8>::from_basis(Vec::new(), 0).unwrap_err();
    assert!(matches!(error, SearchError::ZeroDimension), "{error}");
}

#[test]
fn projection_wider_than_input_is_rejected() {
    let vectors = unit_gaussian(10, 8, 9);

    let error = Projection::<16>::fit(&vectors, 8, &FitOptions::default()).unwrap_err();

    assert!(matches!(error, SearchError::ProjectionTooWide { dim: 8, projected: 16 }), "{error}");
}
