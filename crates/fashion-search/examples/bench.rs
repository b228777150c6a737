//! Times tree search against the linear scan on synthetic clustered
//! embeddings, checks that every result is identical, and times the steps of
//! building and restoring an index.
//!
//! ```text
//! cargo run --release -p fashion-search --example bench -- --help
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use clap::Parser;
use common::{clustered, Clusters};
use fashion_search::{linear_top_k, FitOptions, Projection, TreeIndex};

#[derive(Debug, Parser)]
struct Args {
    /// Number of indexed vectors.
    #[arg(long, default_value_t = 43_772)]
    count: usize,
    /// Vector dimension.
    #[arg(long, default_value_t = 2048)]
    dim: usize,
    /// Number of queries, drawn from the same distribution as the vectors
    /// but not indexed.
    #[arg(long, default_value_t = 100)]
    queries: usize,
    /// Number of neighbours per query.
    #[arg(short, default_value_t = 5)]
    k: usize,
    /// Number of cluster centres.
    #[arg(long, default_value_t = Clusters::default().clusters)]
    clusters: usize,
    /// Rank of the latent space.
    #[arg(long, default_value_t = Clusters::default().rank)]
    rank: usize,
    /// Within-cluster spread relative to the spread of the centres.
    #[arg(long, default_value_t = Clusters::default().spread)]
    spread: f32,
    /// Isotropic noise relative to the latent part.
    #[arg(long, default_value_t = Clusters::default().noise)]
    noise: f32,
    /// Times each search this many times and keeps the fastest, which
    /// filters out interference from other processes.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Projected dimensions to measure: any of 16, 24, 32.
    #[arg(long, value_delimiter = ',', default_value = "16,24,32")]
    projected: Vec<usize>,
}

fn main() {
    env_logger::init();
    let args = Args::parse();
    let dim = args.dim;
    let shape = Clusters { clusters: args.clusters, rank: args.rank, spread: args.spread, noise: args.noise };

    let started = Instant::now();
    let mut vectors = clustered(args.count + args.queries, dim, shape, 42);
    let queries = vectors.split_off(args.count * dim);
    println!(
        "data: {} x {dim} clustered vectors ({shape:?}), {} queries, k = {}, {} rayon threads; generated in {:.1?}",
        args.count,
        args.queries,
        args.k,
        rayon::current_num_threads(),
        started.elapsed()
    );

    let (scan_results, scan_parallel) = time_scan(&vectors, dim, &queries, &args);
    println!("linear scan, all threads: {}", summarise(scan_parallel));
    let single = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let (_, scan_single) = single.install(|| time_scan(&vectors, dim, &queries, &args));
    println!("linear scan, one thread:  {}", summarise(scan_single));

    for &projected in &args.projected {
        match projected {
            16 => bench_tree::<16>(&args, &vectors, &queries, &scan_results),
            24 => bench_tree::<24>(&args, &vectors, &queries, &scan_results),
            32 => bench_tree::<32>(&args, &vectors, &queries, &scan_results),
            other => eprintln!("skipping P = {other}: only 16, 24 and 32 are compiled in"),
        }
    }
}

/// Runs `search` `repeats` times and returns its result and the fastest time.
fn fastest<T>(repeats: usize, mut search: impl FnMut() -> T) -> (T, Duration) {
    let mut best = Duration::MAX;
    let mut result = None;
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        result = Some(search());
        best = best.min(started.elapsed());
    }
    (result.expect("at least one repeat"), best)
}

fn time_scan(
    vectors: &[f32],
    dim: usize,
    queries: &[f32],
    args: &Args,
) -> (Vec<Vec<fashion_search::Neighbour>>, Vec<Duration>) {
    queries
        .chunks_exact(dim)
        .map(|query| fastest(args.repeats, || linear_top_k(vectors, dim, query, args.k).unwrap()))
        .unzip()
}

fn bench_tree<const P: usize>(
    args: &Args,
    vectors: &[f32],
    queries: &[f32],
    expected: &[Vec<fashion_search::Neighbour>],
) {
    let dim = args.dim;

    let started = Instant::now();
    let projection = Projection::<P>::fit(vectors, dim, &FitOptions::default()).unwrap();
    let fit_time = started.elapsed();

    let started = Instant::now();
    let index = TreeIndex::build(vectors, projection).unwrap();
    let build_time = started.elapsed();

    let basis = index.projection().basis().to_vec();
    let coordinates = index.coordinates().to_vec();
    let started = Instant::now();
    let projection = Projection::<P>::from_basis(basis, dim).unwrap();
    let restored = TreeIndex::from_coordinates(vectors, projection, &coordinates).unwrap();
    let restore_time = started.elapsed();
    drop(index);

    let mut times = Vec::with_capacity(expected.len());
    let mut distances = 0usize;
    let mut second_rounds = 0usize;
    for (query, expected) in queries.chunks_exact(dim).zip(expected) {
        let ((result, stats), time) =
            fastest(args.repeats, || restored.search_with_stats(query, args.k, None).unwrap());
        times.push(time);

        assert_eq!(&result, expected, "tree and scan disagree");
        distances += stats.distances;
        second_rounds += usize::from(stats.tree_queries > 1);
    }

    let count = times.len();
    println!("P = {P} (all {count} results identical to the scan):");
    println!("  fit the projection:              {fit_time:.1?}");
    println!("  project every vector + build:    {build_time:.1?}");
    println!("  restore from basis + coordinates: {restore_time:.1?}");
    println!("  search: {}", summarise(times));
    println!(
        "  {:.0} full distances per query ({:.2}% of the index), second tree query in {second_rounds} of {count} queries",
        distances as f64 / count as f64,
        100.0 * distances as f64 / (count * restored.len()) as f64,
    );
}

/// Formats the mean, median and 95th percentile of per-query times.
fn summarise(mut times: Vec<Duration>) -> String {
    if times.is_empty() {
        return "no queries".to_string();
    }

    times.sort_unstable();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    let median = times[times.len() / 2];
    let p95 = times[(times.len() * 95 / 100).min(times.len() - 1)];
    format!("mean {mean:.2?}, median {median:.2?}, p95 {p95:.2?} per query")
}
