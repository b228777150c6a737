//! Running a backbone over a batch as one candle custom op.
//!
//! A backbone implements [`ImageNetwork`]: it runs a group of CHW images
//! through the kernels of [`crate::ops`] using the buffers of a
//! [`Workspace`]. [`run_batch`] wraps that in a candle [`CustomOp1`] so
//! that the backbone still takes and returns NCHW tensors. Compared with
//! one candle op per layer, this allocates nothing per layer (a fresh
//! multi-megabyte buffer per layer costs page faults and zeroing), keeps
//! activations in cache between layers, and needs no synchronisation
//! between threads inside a batch.
//!
//! Threads: with at least as many images as rayon threads, groups of images
//! run in parallel, each group on one thread. With fewer images, the groups
//! run one after the other and each kernel splits its work over the pool.
//!
//! Groups: the networks run their early layers image by image, where the
//! activations are large and the weights small, and their last stages on
//! the whole group at once, where the weights (up to 9 MB per layer in
//! ResNet-50) are larger than one image's activations and are then read
//! once per group instead of once per image.

use std::sync::{Mutex, PoisonError};

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::ops::{FeatureShape, Parallelism};

/// A backbone that runs a group of images at a time.
pub(crate) trait ImageNetwork: Sync {
    /// The name of the candle op, for error messages.
    const NAME: &'static str;

    /// Returns the shape of one image's feature map for a `height x width`
    /// RGB input.
    fn output_shape(&self, height: usize, width: usize) -> FeatureShape;

    /// Runs `shape.images` normalised CHW images of `3 x height x width`
    /// values each, one after another in `input`, and writes their CHW
    /// feature maps one after another into `output`.
    fn run_images(
        &self,
        input: &[f32],
        shape: FeatureShape,
        output: &mut [f32],
        workspace: &mut Workspace,
        parallelism: Parallelism,
    );

    /// Returns the workspaces kept between batches.
    fn workspaces(&self) -> &WorkspacePool;
}

/// The maximum number of images in one group. Larger groups read the
/// weights of the last stages less often, but their activations leave the
/// L2 cache.
const MAX_GROUP_IMAGES: usize = 8;

/// Buffers that one thread reuses for the activations of image after
/// image. They grow to the largest layer on first use. Their contents are
/// stale values of earlier layers, so every kernel overwrites its output.
#[derive(Debug, Default)]
pub(crate) struct Workspace {
    pub buffers: [Vec<f32>; 4],
    /// The activations of the whole group, collected image by image before
    /// the stages that run on the group.
    pub group: Vec<f32>,
    /// im2col rows of one block of a dense convolution.
    pub scratch: Vec<f32>,
}

/// Returns the first `len` values of `buffer`, growing it if it is shorter.
pub(crate) fn sized(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    &mut buffer[..len]
}

/// Workspaces returned by finished batches, so the next batch starts with
/// buffers that are already allocated and paged in.
///
/// The pool keeps as many workspaces as batches have used at once: one per
/// rayon thread when batches come one at a time.
#[derive(Debug, Default)]
pub(crate) struct WorkspacePool(Mutex<Vec<Workspace>>);

impl WorkspacePool {
    fn take(&self) -> PooledWorkspace<'_> {
        // A panic while the lock was held cannot leave a workspace half
        // updated in a way that matters: its buffers are overwritten anyway.
        let workspace = self.0.lock().unwrap_or_else(PoisonError::into_inner).pop().unwrap_or_default();
        PooledWorkspace { pool: self, workspace }
    }
}

/// A workspace taken from a pool, put back when dropped.
struct PooledWorkspace<'a> {
    pool: &'a WorkspacePool,
    workspace: Workspace,
}

impl Drop for PooledWorkspace<'_> {
    fn drop(&mut self) {
        let workspace = std::mem::take(&mut self.workspace);
        self.pool.0.lock().unwrap_or_else(PoisonError::into_inner).push(workspace);
    }
}

/// Runs `network` on a normalised `(N, 3, H, W)` f32 batch and returns the
/// `(N, C, h, w)` feature map.
pub(crate) fn run_batch<N: ImageNetwork>(network: &N, input: &Tensor) -> candle_core::Result<Tensor> {
    input.apply_op1_no_bwd(&BatchOp(network))
}

struct BatchOp<'a, N>(&'a N);

impl<N: ImageNetwork> CustomOp1 for BatchOp<'_, N> {
    fn name(&self) -> &'static str {
        N::NAME
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let network = self.0;
        let (batch, channels, height, width) = layout.shape().dims4()?;
        if channels != 3 {
            candle_core::bail!("{}: expected an RGB batch (N, 3, H, W), got {:?}", N::NAME, layout.shape());
        }
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("{}: expected an f32 batch, got {:?}", N::NAME, storage.dtype());
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("{}: expected a contiguous batch", N::NAME);
        };
        let input = &data[start..end];

        let out_shape = network.output_shape(height, width);
        let image_len = 3 * height * width;
        let out_len = out_shape.image_elements();
        let mut output = vec![0f32; batch * out_len];
        let threads = rayon::current_num_threads();
        let pool = network.workspaces();

        if batch >= threads && threads > 1 {
            // Two groups or more per thread, so that work stealing can even
            // out threads that other processes slow down.
            let group = batch.div_ceil(2 * threads).clamp(1, MAX_GROUP_IMAGES);
            log::trace!("{}: {batch} images in groups of {group} on {threads} threads", N::NAME);
            output.par_chunks_mut(group * out_len).zip(input.par_chunks(group * image_len)).for_each_init(
                || pool.take(),
                |workspace, (out, images)| {
                    let shape = FeatureShape { images: images.len() / image_len, height, width, channels: 3 };
                    network.run_images(images, shape, out, &mut workspace.workspace, Parallelism::Sequential)
                },
            );
        } else if batch > 0 {
            // Handing work to a pool of one thread would only add a thread
            // switch to every kernel call.
            let parallelism = if threads > 1 { Parallelism::Rayon } else { Parallelism::Sequential };
            let group = batch.min(MAX_GROUP_IMAGES);
            log::trace!("{}: {batch} images in groups of {group}, each layer on {threads} threads", N::NAME);
            let mut workspace = pool.take();
            for (out, images) in output.chunks_mut(group * out_len).zip(input.chunks(group * image_len)) {
                let shape = FeatureShape { images: images.len() / image_len, height, width, channels: 3 };
                network.run_images(images, shape, out, &mut workspace.workspace, parallelism);
            }
        }

        let shape = Shape::from((batch, out_shape.channels, out_shape.height, out_shape.width));
        Ok((CpuStorage::F32(output), shape))
    }
}

/// Helpers for the tests of the backbones.
#[cfg(test)]
pub(crate) mod testing {
    use candle_core::{Device, Tensor};

    use super::{ImageNetwork, Workspace};
    use crate::ops::{FeatureShape, Parallelism};

    /// Deterministic values in [0, 1) derived from `name` (FNV-1a seed,
    /// splitmix64 steps), so that a failure reproduces.
    pub fn uniform(name: &str, count: usize) -> Vec<f32> {
        let mut state =
            name.bytes().fold(0xcbf29ce484222325u64, |hash, byte| (hash ^ byte as u64).wrapping_mul(0x100000001b3));
        (0..count)
            .map(|_| {
                state = state.wrapping_add(0x9E3779B97F4A7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
                ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect()
    }

    /// Returns a random tensor for a weights file. Convolution weights are
    /// uniform in +-sqrt(6 / fan_in), so that activations keep their scale
    /// through the network, and BatchNorm scales and variances lie in
    /// [0.5, 1.5).
    pub fn random_weight(name: &str, shape: &[usize]) -> Tensor {
        let count = shape.iter().product();
        let u = uniform(name, count);
        let values: Vec<f32> = if shape.len() == 4 {
            let bound = (6.0 / (shape[1] * shape[2] * shape[3]) as f32).sqrt();
            u.iter().map(|u| (2.0 * u - 1.0) * bound).collect()
        } else if name.ends_with(".weight") || name.ends_with(".running_var") {
            u.iter().map(|u| 0.5 + u).collect()
        } else {
            u.iter().map(|u| 0.2 * (u - 0.5)).collect()
        };
        Tensor::from_vec(values, shape.to_vec(), &Device::Cpu).unwrap()
    }

    /// Runs `images` random images through `network` together (in bands
    /// and groups, the way batches run) and one at a time (each with one
    /// thread, and spread over the pool), and checks that all three give
    /// the same feature maps. The buffers are reused between runs, so
    /// stale values in them would show up as differences too.
    pub fn assert_group_matches_single_images<N: ImageNetwork>(
        network: &N,
        height: usize,
        width: usize,
        images: usize,
    ) {
        let shape = FeatureShape { images, height, width, channels: 3 };
        let input: Vec<f32> = uniform("images", shape.elements()).iter().map(|u| 2.0 * u - 1.0).collect();
        let out_len = network.output_shape(height, width).image_elements();

        let mut together = vec![f32::NAN; images * out_len];
        let mut workspace = Workspace::default();
        network.run_images(&input, shape, &mut together, &mut workspace, Parallelism::Sequential);
        let scale = together.iter().fold(0f32, |max, v| max.max(v.abs()));
        assert!(scale.is_finite(), "feature maps are not finite");
        assert!(scale > 0.0, "feature maps are all zero");

        let mut again = vec![f32::NAN; images * out_len];
        network.run_images(&input, shape, &mut again, &mut workspace, Parallelism::Sequential);
        assert_eq!(again, together, "second run with the same workspace differs");

        for parallelism in [Parallelism::Sequential, Parallelism::Rayon] {
            let mut workspace = Workspace::default();
            for (index, image) in input.chunks_exact(shape.image_elements()).enumerate() {
                let mut alone = vec![f32::NAN; out_len];
                network.run_images(image, shape.with_images(1), &mut alone, &mut workspace, parallelism);
                let expected = &together[index * out_len..(index + 1) * out_len];
                let diff = alone.iter().zip(expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(
                    diff <= 1e-5 * scale,
                    "image {index} alone ({parallelism:?}): max diff {diff} at scale {scale}"
                );
            }
        }
    }
}
