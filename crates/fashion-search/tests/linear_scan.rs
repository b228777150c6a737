//! The linear scan is the reference result, so it is checked here against a
//! plain sort of every distance, and its distance against `f64` arithmetic.

mod common;

use common::{lattice, unit_gaussian};
use fashion_search::{euclidean_distance, linear_top_k, squared_euclidean, Neighbour, SearchError};

/// Returns every row sorted by distance to `query`, then by index.
fn sort_all(vectors: &[f32], dim: usize, query: &[f32]) -> Vec<Neighbour> {
    let mut all: Vec<Neighbour> = vectors
        .chunks_exact(dim)
        .enumerate()
        .map(|(index, row)| Neighbour { index, distance: euclidean_distance(row, query) })
        .collect();
    all.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.index.cmp(&b.index)));
    all
}

#[test]
fn scan_matches_full_sort() {
    // 1537 rows: three parallel blocks of 512 and a partial one.
    let dim = 96;
    let vectors = unit_gaussian(1537, dim, 1);
    let queries = unit_gaussian(5, dim, 2);

    for query in queries.chunks_exact(dim) {
        let sorted = sort_all(&vectors, dim, query);
        for k in [1, 5, 50, 1537, 5000] {
            let expected = &sorted[..k.min(sorted.len())];

            assert_eq!(linear_top_k(&vectors, dim, query, k).unwrap(), expected, "k = {k}");
        }
    }
}

#[test]
fn scan_breaks_ties_by_index() {
    let dim = 32;
    let vectors = lattice(3000, dim, 3);
    let query = vec![0.0f32; dim];

    let result = linear_top_k(&vectors, dim, &query, 200).unwrap();

    assert_eq!(result, sort_all(&vectors, dim, &query)[..200]);
    let tied_pairs = result.windows(2).filter(|pair| pair[0].distance == pair[1].distance).count();
    assert!(tied_pairs > 100, "expected many ties, found {tied_pairs}");
}

#[test]
fn distance_agrees_with_f64() {
    for dim in [1, 15, 16, 17, 33, 1280, 2048] {
        let vectors = unit_gaussian(2, dim, dim as u64);
        let (a, b) = vectors.split_at(dim);
        let reference: f64 = a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum();

        let squared = f64::from(squared_euclidean(a, b));
        let distance = f64::from(euclidean_distance(a, b));

        assert!(
            (squared - reference).abs() <= 1e-6 * reference,
            "dim {dim}: squared {squared}, f64 reference {reference}"
        );
        assert!(
            (distance - reference.sqrt()).abs() <= 1e-6 * reference.sqrt(),
            "dim {dim}: distance {distance}, f64 reference {}",
            reference.sqrt()
        );
    }
}

#[test]
fn scan_rejects_invalid_shapes() {
    let vectors = unit_gaussian(4, 8, 4);

    let error = linear_top_k(&vectors, 0, &[], 1).unwrap_err();
    assert!(matches!(error, SearchError::ZeroDimension), "{error}");

    let error = linear_top_k(&vectors[..31], 8, &vectors[..8], 1).unwrap_err();
    assert!(matches!(error, SearchError::RaggedVectors { len: 31, dim: 8 }), "{error}");

    let error = linear_top_k(&vectors, 8, &vectors[..9], 1).unwrap_err();
    assert!(matches!(error, SearchError::QueryDimensionMismatch { expected: 8, actual: 9 }), "{error}");
}
