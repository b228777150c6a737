//! The tree index must return exactly what the linear scan returns: same
//! indices in the same order, bit-identical distances.

mod common;

use common::{clustered, lattice, rows, unit_gaussian, Clusters};
use fashion_search::{linear_top_k, FitOptions, Neighbour, SearchError, TreeIndex};

const KS: [usize; 3] = [1, 5, 50];

/// Asserts that the tree returns the scan's result for each query and each
/// k in `ks`, and returns the mean number of full distances the tree computed.
fn assert_matches_scan<const P: usize>(
    index: &TreeIndex<&[f32], P>,
    queries: &[f32],
    ks: &[usize],
    label: &str,
) -> f64 {
    let dim = index.dim();
    let mut distances = 0usize;
    let mut searches = 0usize;

    for (q, query) in queries.chunks_exact(dim).enumerate() {
        for &k in ks {
            let expected = linear_top_k(index.vectors(), dim, query, k).unwrap();
            let (actual, stats) = index.search_with_stats(query, k, None).unwrap();

            assert_eq!(actual, expected, "{label}: query {q}, k = {k}: tree and scan disagree");
            assert_eq!(actual.len(), k.min(index.len()), "{label}: query {q}, k = {k}");
            distances += stats.distances;
            searches += 1;
        }
    }
    distances as f64 / searches.max(1) as f64
}

/// Queries that are fresh random vectors, followed by stored vectors with a
/// little noise added.
fn mixed_queries(vectors: &[f32], dim: usize, fresh: usize, seed: u64) -> Vec<f32> {
    let mut queries = unit_gaussian(fresh, dim, seed);
    let noise = unit_gaussian(fresh, dim, seed + 1);
    let count = vectors.len() / dim;
    for i in 0..fresh {
        let row = (i * 7919) % count;
        queries.extend(
            vectors[row * dim..(row + 1) * dim].iter().zip(&noise[i * dim..(i + 1) * dim]).map(|(v, n)| v + 0.05 * n),
        );
    }
    queries
}

fn has_tie(neighbours: &[Neighbour]) -> bool {
    neighbours.windows(2).any(|pair| pair[0].distance == pair[1].distance)
}

#[test]
fn gaussian_64d_matches_scan() {
    let dim = 64;
    let vectors = unit_gaussian(3000, dim, 1);
    let index = TreeIndex::<_, 16>::fit(&vectors[..], dim, &FitOptions::default()).unwrap();
    let queries = mixed_queries(&vectors, dim, 10, 2);

    assert_matches_scan(&index, &queries, &KS, "gaussian 64-d");
}

#[test]
fn gaussian_1280d_matches_scan() {
    let dim = 1280;
    let vectors = unit_gaussian(3000, dim, 3);
    let index = TreeIndex::<_, 32>::fit(&vectors[..], dim, &FitOptions::default()).unwrap();
    let queries = mixed_queries(&vectors, dim, 8, 4);

    assert_matches_scan(&index, &queries, &KS, "gaussian 1280-d");
}

#[test]
fn clustered_2048d_matches_scan_and_prunes() {
    let dim = 2048;
    let count = 4000;
    // The last 8 vectors come from the same clusters but stay out of the
    // index, like photos of new products.
    let mut vectors = clustered(count + 8, dim, Clusters::default(), 5);
    let held_out = vectors.split_off(count * dim);
    let index = TreeIndex::<_, 32>::fit(&vectors[..], dim, &FitOptions::default()).unwrap();

    let held_out_mean = assert_matches_scan(&index, &held_out, &KS, "clustered 2048-d held out");
    let queries = mixed_queries(&vectors, dim, 8, 6);
    assert_matches_scan(&index, &queries, &KS, "clustered 2048-d mixed");

    // Without pruning the tree would compute all `count` distances.
    assert!(
        held_out_mean < count as f64 / 10.0,
        "mean full distances per search {held_out_mean:.0} of {count}: pruning is not working"
    );
}

#[test]
fn clustered_64d_matches_scan() {
    let dim = 64;
    let shape = Clusters { clusters: 50, rank: 16, ..Clusters::default() };
    let vectors = clustered(5000, dim, shape, 7);
    let index = TreeIndex::<_, 16>::fit(&vectors[..], dim, &FitOptions::default()).unwrap();
    let queries = mixed_queries(&vectors, dim, 10, 8);

    assert_matches_scan(&index, &queries, &KS, "clustered 64-d");
}

#[test]
fn ties_and_duplicates_match_scan() {
    let dim = 64;
    let mut vectors = lattice(1500, dim, 9);
    // Five copies each of rows 0..100, appended at the end.
    for _ in 0..5 {
        let copies = rows(&vectors, dim, &(0..100).collect::<Vec<_>>());
        vectors.extend(copies);
    }
    let index = TreeIndex::<_, 16>::fit(&vectors[..], dim, &FitOptions::default()).unwrap();

    let mut queries = rows(&vectors, dim, &[0, 3, 57, 99, 700, 1499]);
    queries.extend(lattice(10, dim, 10));
    assert_matches_scan(&index, &queries, &KS, "lattice with duplicates");

    let probe = linear_top_k(&vectors, dim, &queries[..dim], 50).unwrap();
    assert!(has_tie(&probe), "the lattice data should produce tied distances");
}

#[test]
fn many_identical_vectors_match_scan() {
    // 200 copies of one vector, far more than the 32 points a kiddo leaf
    // stores, mixed with distinct ones.
    let dim = 128;
    let distinct = unit_gaussian(1000, dim, 27);
    let mut vectors = Vec::new();
    for row in 0..1000 {
        vectors.extend_from_slice(&distinct[row * dim..(row + 1) * dim]);
        if row % 5 == 0 {
            vectors.extend_from_slice(&distinct[..dim]);
        }
    }
    let index = TreeIndex::<_, 16>::fit(&vectors[..], dim, &FitOptions::default()).unwrap();

    let mut queries = distinct[..dim].to_vec();
    queries.extend(mixed_queries(&vectors, dim, 4, 28));
    assert_matches_scan(&index, &queries, &[1, 5, 50, 250], "many identical vectors");

    let result = index.search(&distinct[..dim], 250).unwrap();
    let zeros = result.iter().filter(|n| n.distance == 0.0).count();
    assert_eq!(zeros, 201, "the vector and its 200 copies are all at distance 0");
}

#[test]
fn duplicates_of_query_come_first_by_index() {
    let dim = 64;
    let mut vectors = unit_gaussian(500, dim, 11);
    let copies = rows(&vectors, dim, &[42, 42, 42]);
    vectors.extend(copies);
    let index = TreeIndex::<_, 16>::fit(&vectors[..], dim, &FitOptions::default()).unwrap();

    let query = &vectors[42 * dim..43 * dim];
    let result = index.search(query, 5).unwrap();

    let indices: Vec<usize> = result.iter().map(|n| n.index).collect();
    assert_eq!(&indices[..4], &[42, 500, 501, 502]);
    assert!(result[..4].iter().all(|n| n.distance == 0.0), "{result:?}");
    assert!(result[4].distance > 0.0, "{result:?}");
}

#[test]
fn stored_vector_query_ranks_itself_first() {
    let dim = 1280;
    let vectors = unit_gaussian(1000, dim, 12);
    let index = TreeIndex::<_, 32>::fit(&vectors[..], dim, &FitOptions::default()).unwrap();

    for row in [0, 1, 517, 999] {
        let query = &vectors[row * dim..(row + 1) * dim];
        let result = index.search(query, 3).unwrap();

        assert_eq!(result[0].index, row);
        assert_eq!(result[0].distance, 0.0);
        assert!(result[1].distance > 0.5, "row {row}: {result:?}");
    }
}

#[test]
fn k_above_count_returns_everything() {
    let dim = 64;
    let vectors = unit_gaussian(100, dim, 13);
    let index = TreeIndex::<_, 16>::fit(&vectors[..], dim, &FitOptions::default()).unwrap();
    let query = unit_gaussian(1, dim, 14);

    let result = index.search(&query, 500).unwrap();

    assert_eq!(result, linear_top_k(&vectors, dim, &query, 500).unwrap());
    let mut indices: Vec<usize> = result.iter().map(|n| n.index).collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..100).collect::<Vec<_>>());
}

#[test]
fn k_zero_returns_nothing() {
    let dim = 64;
    let vectors = unit_gaussian(100, dim, 15);
    let index = TreeIndex::<_, 16>::fit(&vectors[..], dim, &FitOptions::default()).unwrap();

    assert!(index.search(&vectors[..dim], 0).unwrap().is_empty());
    assert!(linear_top_k(&vectors, dim, &vectors[..dim], 0).unwrap().is_empty());
}

#[test]
fn empty_index_returns_nothing() {
    let dim = 64;
    let vectors: Vec<f32> = Vec::new();
    let index = TreeIndex::<_, 16>::fit(&vectors[..], dim, &FitOptions::default()).unwrap();
    let query = unit_gaussian(1, dim, 16);

    assert!(index.is_empty());
    assert!(index.search(&query, 5).unwrap().is_empty());
    assert!(linear_top_k(&vectors, dim, &query, 5).unwrap().is_empty());
}

#[test]
fn single_vector_index_returns_it() {
    let dim = 64;
    let vectors = unit_gaussian(1, dim, 17);
    let index = TreeIndex::<_, 16>::fit(&vectors[..], dim, &FitOptions::default()).unwrap();
    let query = unit_gaussian(1, dim, 18);

    let result = index.search(&query, 3).unwrap();

    assert_eq!(result, linear_top_k(&vectors, dim, &query, 3).unwrap());
    assert_eq!(result.len(), 1);
}

#[test]
fn search_within_matches_filtered_scan() {
    let dim = 256;
    let vectors = clustered(3000, dim, Clusters::default(), 19);
    let index = TreeIndex::<_, 24>::fit(&vectors[..], dim, &FitOptions::default()).unwrap();
    let queries = mixed_queries(&vectors, dim, 6, 20);

    for (q, query) in queries.chunks_exact(dim).enumerate() {
        let all = linear_top_k(&vectors, dim, query, vectors.len()).unwrap();
        let limits = [0.0, all[0].distance, all[10].distance, all[200].distance, 10.0];

        for max_distance in limits {
            for k in KS {
                let expected: Vec<Neighbour> =
                    all.iter().copied().filter(|n| n.distance <= max_distance).take(k).collect();
                let actual = index.search_within(query, k, max_distance).unwrap();

                assert_eq!(actual, expected, "query {q}, k = {k}, max_distance = {max_distance}");
            }
        }
    }
}

#[test]
fn restored_index_matches_original() {
    let dim = 512;
    let vectors = clustered(2000, dim, Clusters::default(), 21);
    let original = TreeIndex::<_, 32>::fit(&vectors[..], dim, &FitOptions::default()).unwrap();

    let basis = original.projection().basis().to_vec();
    let coordinates = original.coordinates().to_vec();
    let projection = fashion_search::Projection::<32>::from_basis(basis, dim).unwrap();
    let restored = TreeIndex::from_coordinates(&vectors[..], projection, &coordinates).unwrap();

    assert_eq!(restored.coordinates(), original.coordinates());
    let queries = mixed_queries(&vectors, dim, 5, 22);
    for query in queries.chunks_exact(dim) {
        assert_eq!(restored.search(query, 10).unwrap(), original.search(query, 10).unwrap());
    }
}

#[test]
fn coordinates_from_other_basis_are_rejected() {
    let dim = 128;
    let vectors = clustered(1000, dim, Clusters::default(), 23);
    let index = TreeIndex::<_, 16>::fit(&vectors[..], dim, &FitOptions::default()).unwrap();
    let other_options = FitOptions { seed: 99, sample_size: 100, ..FitOptions::default() };
    let other = TreeIndex::<_, 16>::fit(&vectors[..], dim, &other_options).unwrap();

    let error = TreeIndex::from_coordinates(&vectors[..], index.projection().clone(), other.coordinates()).unwrap_err();

    assert!(matches!(error, SearchError::CoordinatesMismatch { row: 0, .. }), "{error}");
}

#[test]
fn coordinates_of_wrong_length_are_rejected() {
    let dim = 128;
    let vectors = unit_gaussian(100, dim, 24);
    let index = TreeIndex::<_, 16>::fit(&vectors[..], dim, &FitOptions::default()).unwrap();
    let short = &index.coordinates()[..16 * 99];

    let error = TreeIndex::from_coordinates(&vectors[..], index.projection().clone(), short).unwrap_err();

    assert!(matches!(error, SearchError::CoordinatesShape { len: 1584, count: 100, projected: 16 }), "{error}");
}

#[test]
fn invalid_queries_are_rejected() {
    let dim = 64;
    let vectors = unit_gaussian(100, dim, 25);
    let index = TreeIndex::<_, 16>::fit(&vectors[..], dim, &FitOptions::default()).unwrap();

    let short = index.search(&vectors[..dim - 1], 1).unwrap_err();
    assert!(matches!(short, SearchError::QueryDimensionMismatch { expected: 64, actual: 63 }), "{short}");

    let mut nan_query = vectors[..dim].to_vec();
    nan_query[7] = f32::NAN;
    let nan = index.search(&nan_query, 1).unwrap_err();
    assert!(matches!(nan, SearchError::NonFiniteQuery { position: 7, .. }), "{nan}");
    let nan_scan = linear_top_k(&vectors, dim, &nan_query, 1).unwrap_err();
    assert!(matches!(nan_scan, SearchError::NonFiniteQuery { position: 7, .. }), "{nan_scan}");

    let negative = index.search_within(&vectors[..dim], 1, -1.0).unwrap_err();
    assert!(matches!(negative, SearchError::InvalidMaxDistance(_)), "{negative}");
}

#[test]
fn invalid_vectors_are_rejected() {
    let dim = 64;
    let vectors = unit_gaussian(100, dim, 26);
    let options = FitOptions::default();

    let ragged = TreeIndex::<_, 16>::fit(&vectors[..vectors.len() - 1], dim, &options).unwrap_err();
    assert!(matches!(ragged, SearchError::RaggedVectors { len: 6399, dim: 64 }), "{ragged}");

    let mut with_nan = vectors.clone();
    with_nan[30 * dim + 5] = f32::NAN;
    let fit_error = TreeIndex::<_, 16>::fit(&with_nan[..], dim, &options).unwrap_err();
    assert!(matches!(fit_error, SearchError::NonFiniteVector { row: 30, position: 5, .. }), "{fit_error}");

    let projection = fashion_search::Projection::<16>::fit(&vectors, dim, &options).unwrap();
    let build_error = TreeIndex::build(&with_nan[..], projection).unwrap_err();
    assert!(matches!(build_error, SearchError::NonFiniteCoordinates { row: 30 }), "{build_error}");
}
