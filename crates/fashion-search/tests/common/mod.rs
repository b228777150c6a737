//! Seeded synthetic embeddings for the tests and the benchmark.

#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

/// Returns `count` L2-normalised vectors with independent standard normal
/// components: no structure for a projection to find.
pub fn unit_gaussian(count: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut vectors: Vec<f32> = (0..count * dim).map(|_| rng.sample(StandardNormal)).collect();
    vectors.chunks_exact_mut(dim).for_each(normalise);
    vectors
}

/// Shape of [`clustered`] data.
#[derive(Debug, Clone, Copy)]
pub struct Clusters {
    /// Number of cluster centres.
    pub clusters: usize,
    /// Rank of the latent space that centres and within-cluster spread live in.
    pub rank: usize,
    /// Within-cluster spread in the latent space, relative to the spread of the centres.
    pub spread: f32,
    /// Norm of the isotropic full-rank noise added to each vector, before
    /// normalisation, relative to the latent part.
    pub noise: f32,
}

impl Default for Clusters {
    fn default() -> Self {
        Self { clusters: 300, rank: 64, spread: 0.35, noise: 0.25 }
    }
}

/// Returns `count` L2-normalised vectors clustered like image embeddings: a
/// random linear map of a low-rank latent space whose scales decay as
/// `1 / sqrt(1 + t)`, cluster centres and within-cluster offsets drawn in that
/// space, plus a little isotropic noise in the full space.
pub fn clustered(count: usize, dim: usize, shape: Clusters, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rank = shape.rank;
    let scales: Vec<f32> = (0..rank).map(|t| 1.0 / (1.0 + t as f32).sqrt()).collect();
    let latent_norm: f32 = scales.iter().map(|s| s * s).sum::<f32>().sqrt();

    let map: Vec<f32> = (0..dim * rank).map(|_| rng.sample::<f32, _>(StandardNormal) / (dim as f32).sqrt()).collect();
    let centres: Vec<f32> =
        (0..shape.clusters * rank).map(|i| rng.sample::<f32, _>(StandardNormal) * scales[i % rank]).collect();
    let seeds: Vec<u64> = (0..count).map(|_| rng.random()).collect();

    let mut vectors = vec![0.0f32; count * dim];
    vectors.par_chunks_exact_mut(dim).zip(seeds).for_each(|(vector, seed)| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let cluster = rng.random_range(0..shape.clusters);
        let latent: Vec<f32> = (0..rank)
            .map(|t| {
                let offset: f32 = rng.sample(StandardNormal);
                centres[cluster * rank + t] + shape.spread * offset * scales[t]
            })
            .collect();

        for (i, value) in vector.iter_mut().enumerate() {
            let row = &map[i * rank..(i + 1) * rank];
            let mapped: f32 = row.iter().zip(&latent).map(|(m, z)| m * z).sum();
            let noise: f32 = rng.sample(StandardNormal);
            *value = mapped + shape.noise * latent_norm * noise / (dim as f32).sqrt();
        }
        normalise(vector);
    });
    vectors
}

/// Returns `count` vectors whose components are multiples of 1/4 between
/// -1/4 and 1/4, mostly zero. All their squared distances are multiples of
/// 1/16 and computed exactly in `f32`, so many distances tie.
pub fn lattice(count: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count * dim)
        .map(|_| match rng.random_range(0..8) {
            0 => -0.25,
            1 => 0.25,
            _ => 0.0,
        })
        .collect()
}

/// Returns the rows `rows` of `vectors`.
pub fn rows(vectors: &[f32], dim: usize, rows: &[usize]) -> Vec<f32> {
    rows.iter().flat_map(|&row| vectors[row * dim..(row + 1) * dim].iter().copied()).collect()
}

fn normalise(vector: &mut [f32]) {
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    vector.iter_mut().for_each(|v| *v /= norm);
}
