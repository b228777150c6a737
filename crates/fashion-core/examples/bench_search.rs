//! Times exact top-k search on a real index: the KD-tree path against the
//! linear scan, on the same queries, checking that both return the same
//! neighbours.
//!
//! `cargo run --release -p fashion-core --example bench_search -- INDEX [QUERIES] [K]`
//!
//! The queries are QUERIES stored vectors spread evenly over the index
//! (default 200), k defaults to 5. Prints one JSON line with the median
//! milliseconds per query of each path and the time to open the index,
//! which includes rebuilding the KD-tree from the stored projection.

use std::path::Path;
use std::time::Instant;

use fashion_core::index::Index;
use fashion_store::PayloadCheck;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        return Err("usage: bench_search INDEX [QUERIES] [K]".into());
    };
    let queries: usize = args.get(1).map_or(Ok(200), |s| s.parse())?;
    let k: usize = args.get(2).map_or(Ok(5), |s| s.parse())?;

    let started = Instant::now();
    let index = Index::open(Path::new(path), PayloadCheck::Skip)?;
    let open_ms = started.elapsed().as_secs_f64() * 1e3;

    let step = (index.len() / queries.max(1)).max(1);
    let mut tree_ms = Vec::new();
    let mut linear_ms = Vec::new();
    for i in (0..index.len()).step_by(step).take(queries) {
        let query = index.store().vector(i).to_vec();

        let started = Instant::now();
        let tree = index.search(&query, k)?;
        tree_ms.push(started.elapsed().as_secs_f64() * 1e3);

        let started = Instant::now();
        let linear = index.search_linear(&query, k)?;
        linear_ms.push(started.elapsed().as_secs_f64() * 1e3);

        assert_eq!(tree, linear, "query {i}: tree and linear scan disagree");
    }

    println!(
        "{{\"index\":\"{path}\",\"count\":{},\"dim\":{},\"queries\":{},\"k\":{k},\"open_ms\":{open_ms:.1},\
         \"tree_median_ms\":{:.3},\"linear_median_ms\":{:.3}}}",
        index.len(),
        index.store().dim(),
        tree_ms.len(),
        median(tree_ms),
        median(linear_ms)
    );
    Ok(())
}
