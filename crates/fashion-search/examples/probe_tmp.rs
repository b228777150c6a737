#[path = "../tests/common/mod.rs"]
mod common;
use std::time::Instant;
use std::num::NonZero;
use common::{clustered, Clusters};
use fashion_search::{FitOptions, TreeIndex, euclidean_distance};
use kiddo::{ImmutableKdTree, SquaredEuclidean};

fn run<const P: usize>(vectors: &[f32], queries: &[f32], dim: usize) {
    let index = TreeIndex::<_, P>::fit(vectors, dim, &FitOptions::default()).unwrap();
    let coords: Vec<[f32; P]> = index.coordinates().chunks_exact(P).map(|c| c.try_into().unwrap()).collect();
    let tree: ImmutableKdTree<f32, P> = ImmutableKdTree::new_from_slice(&coords).unwrap();
    let nq = queries.len() / dim;
    let t = Instant::now();
    let projected: Vec<[f32; P]> = queries.chunks_exact(dim).map(|q| index.projection().project(q)).collect();
    let tp = t.elapsed() / nq as u32;
    for n in [16usize, 80, 256, 1024] {
        let t = Instant::now();
        let mut s = 0usize;
        for p in &projected { s += tree.query(p).nearest_n::<SquaredEuclidean<f32>>(NonZero::new(n).unwrap()).execute().len(); }
        let tk = t.elapsed() / nq as u32;
        // brute force projected
        let t = Instant::now();
        for p in &projected { let mut d: Vec<f32> = coords.iter().map(|c| euclidean_distance(c, p)).collect(); d.select_nth_unstable_by(n, |a,b| a.total_cmp(b)); s += d.len(); }
        let tb = t.elapsed() / nq as u32;
        println!("P={P} project {tp:.1?} kiddo nearest_n({n}) {tk:.1?} brute projected {tb:.1?} {s}");
    }
    for k in [1usize, 5, 50] {
        let t = Instant::now();
        let mut total = 0usize;
        for (q, p) in queries.chunks_exact(dim).zip(&projected) {
            let first = tree.query(p).nearest_n::<SquaredEuclidean<f32>>(NonZero::new(k).unwrap()).execute();
            let mut d: Vec<f32> = first.iter().map(|c| euclidean_distance(&vectors[c.item as usize * dim..][..dim], q)).collect();
            d.sort_by(|a, b| a.total_cmp(b));
            let r = d[k - 1] * 1.0001;
            let within = tree.query(p).within::<SquaredEuclidean<f32>>(r * r).execute();
            total += within.len();
        }
        println!("P={P} k={k}: nearest_n(k) + within(d_k): {:.1?}, {} in radius", t.elapsed() / nq as u32, total / nq);
    }
    let t = Instant::now();
    let mut s = 0.0;
    for q in queries.chunks_exact(dim) { for r in 0..100 { s += euclidean_distance(&vectors[r*7919 % (vectors.len()/dim) * dim..][..dim], q); } }
    println!("100 full distances {:.1?} {s}", t.elapsed() / nq as u32);
    let t = Instant::now();
    for q in queries.chunks_exact(dim) { let _ = index.search(q, 5).unwrap(); }
    println!("search k=5 {:.1?}", t.elapsed() / nq as u32);
}
fn main() {
    let dim = 2048; let count = 43772;
    let mut v = clustered(count + 50, dim, Clusters::default(), 42);
    let q = v.split_off(count * dim);
    run::<16>(&v, &q, dim);
    run::<32>(&v, &q, dim);
}
