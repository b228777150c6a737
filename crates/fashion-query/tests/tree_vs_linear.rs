//! The KD-tree search over the PCA projection returns exactly what a linear
//! scan returns, on real embeddings.

mod common;

use common::Workspace;
use fashion_core::index::{Index, BASIS_SECTION, COORDINATES_SECTION, PROJECTED_DIMS};
use fashion_store::PayloadCheck;

/// More than [`PROJECTED_DIMS`] photos, so the index stores a projection and
/// searches with the tree.
const PHOTOS: usize = 60;
const _: () = assert!(PHOTOS > PROJECTED_DIMS);

#[test]
fn tree_search_equals_linear_scan() {
    let workspace = Workspace::new();
    workspace.add_photos(0, PHOTOS);
    workspace.build_index();

    let index = Index::open(&workspace.index(), PayloadCheck::Verify).unwrap();
    let store = index.store();
    assert_eq!(index.len(), PHOTOS);
    assert!(store.section(BASIS_SECTION).is_some(), "the index has no projection basis");
    assert!(store.section(COORDINATES_SECTION).is_some(), "the index has no projected coordinates");

    // Every stored vector, and the normalised midpoint of each neighbouring
    // pair in stored order, which lies between catalogue images.
    let mut queries: Vec<Vec<f32>> = (0..index.len()).map(|row| store.vector(row).to_vec()).collect();
    for row in 0..index.len() - 1 {
        let mut midpoint: Vec<f32> = store.vector(row).iter().zip(store.vector(row + 1)).map(|(a, b)| a + b).collect();
        fashion_core::l2_normalize(&mut midpoint);
        queries.push(midpoint);
    }

    for (i, query) in queries.iter().enumerate() {
        for k in [1, 5, 50] {
            let tree = index.search(query, k).unwrap();
            let linear = index.search_linear(query, k).unwrap();

            assert_eq!(tree.len(), k, "query {i}, k {k}");
            assert_eq!(tree, linear, "query {i}, k {k}");
        }
    }
}
