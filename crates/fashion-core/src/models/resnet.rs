//! ResNet-50 (He et al., 2016) in the torchvision layout, cut after the last
//! convolutional stage.
//!
//! The tensor names are torchvision's (`conv1`, `bn1`, `layer{1..4}.{i}.conv{1,2,3}`,
//! `.bn{1,2,3}`, `layer{n}.0.downsample.{0,1}`), which timm's `resnet50.tv_in1k`
//! also uses. The stride of a downsampling block sits on its 3x3 convolution
//! (torchvision's "ResNet v1.5"), and BatchNorm eps is 1e-5. There is no
//! average pool and no classifier: the network returns the `(N, 2048, 7, 7)`
//! feature map at 224 px.
//!
//! The network runs on the CPU through `crate::models::batch`: the stem,
//! layer1 and layer2 image by image, and layer3 and layer4, whose weights
//! outnumber one image's activations at 224 px, on a group of images at
//! once.

use candle_core::Tensor;

use crate::error::EmbedError;
use crate::models::batch::{run_batch, sized, ImageNetwork, Workspace, WorkspacePool};
use crate::ops::{
    chw_to_hwc, hwc_to_chw, Activation, ConvBn, FeatureShape, MaxPool2d, OutputMode, PaddingMode, Parallelism,
};
use crate::weights::Weights;

const BN_EPS: f64 = 1e-5;
const EXPANSION: usize = 4;

/// Blocks per stage of ResNet-50.
const STAGE_BLOCKS: [usize; 4] = [3, 4, 6, 3];

/// The max pool after `conv1`.
const STEM_POOL: MaxPool2d = MaxPool2d { kernel: 3, stride: 2, padding: 1 };

/// A bottleneck block: 1x1 reduce, 3x3 (carrying the stride), 1x1 expand,
/// plus the shortcut, then ReLU.
struct Bottleneck {
    conv1: ConvBn,
    conv2: ConvBn,
    conv3: ConvBn,
    downsample: Option<ConvBn>,
}

impl Bottleneck {
    fn load(weights: &Weights, prefix: &str, input: usize, width: usize, stride: usize) -> Result<Self, EmbedError> {
        let output = width * EXPANSION;
        let conv = |index: usize, shape: [usize; 4], stride: usize, pad: usize, act: Activation| {
            weights.conv_bn(
                &format!("{prefix}.conv{index}"),
                &format!("{prefix}.bn{index}"),
                shape,
                stride,
                PaddingMode::Symmetric(pad),
                act,
                BN_EPS,
            )
        };
        let conv1 = conv(1, [width, input, 1, 1], 1, 0, Activation::Relu)?;
        let conv2 = conv(2, [width, width, 3, 3], stride, 1, Activation::Relu)?;
        // conv3 adds onto the shortcut in place, so its activation is the
        // ReLU that follows the residual add.
        let conv3 = conv(3, [output, width, 1, 1], 1, 0, Activation::Relu)?;

        let downsample = if stride != 1 || input != output {
            Some(weights.conv_bn(
                &format!("{prefix}.downsample.0"),
                &format!("{prefix}.downsample.1"),
                [output, input, 1, 1],
                stride,
                PaddingMode::Symmetric(0),
                Activation::None,
                BN_EPS,
            )?)
        } else {
            None
        };
        Ok(Self { conv1, conv2, conv3, downsample })
    }

    /// Runs the block on the NHWC feature maps in `x` and leaves its output
    /// there. The other buffers are work space.
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        x: &mut Vec<f32>,
        shape: FeatureShape,
        reduced: &mut Vec<f32>,
        filtered: &mut Vec<f32>,
        shortcut: &mut Vec<f32>,
        scratch: &mut Vec<f32>,
        parallelism: Parallelism,
    ) -> FeatureShape {
        let input = &x[..shape.elements()];
        let reduced_shape = self.conv1.output_shape(shape);
        let reduced_out = sized(reduced, reduced_shape.elements());
        self.conv1.forward(input, shape, reduced_out, OutputMode::Overwrite, scratch, parallelism);

        let filtered_shape = self.conv2.output_shape(reduced_shape);
        let filtered_out = sized(filtered, filtered_shape.elements());
        self.conv2.forward(reduced_out, reduced_shape, filtered_out, OutputMode::Overwrite, scratch, parallelism);

        let out_shape = self.conv3.output_shape(filtered_shape);
        match &self.downsample {
            Some(downsample) => {
                let out = sized(shortcut, out_shape.elements());
                downsample.forward(input, shape, out, OutputMode::Overwrite, scratch, parallelism);
                self.conv3.forward(filtered_out, filtered_shape, out, OutputMode::Accumulate, scratch, parallelism);
                std::mem::swap(x, shortcut);
            }
            None => {
                let out = &mut x[..out_shape.elements()];
                self.conv3.forward(filtered_out, filtered_shape, out, OutputMode::Accumulate, scratch, parallelism);
            }
        }
        out_shape
    }

    /// Returns the number of weights, which decides whether the block runs
    /// image by image or on a group of images.
    fn weight_elements(&self) -> usize {
        let downsample = self.downsample.as_ref().map_or(0, ConvBn::weight_elements);
        self.conv1.weight_elements() + self.conv2.weight_elements() + self.conv3.weight_elements() + downsample
    }

    fn output_shape(&self, input: FeatureShape) -> FeatureShape {
        self.conv3.output_shape(self.conv2.output_shape(self.conv1.output_shape(input)))
    }
}

/// ResNet-50 without its average pool and classifier.
pub struct ResNet50 {
    conv1: ConvBn,
    stages: Vec<Vec<Bottleneck>>,
    workspaces: WorkspacePool,
}

impl ResNet50 {
    pub fn load(weights: &Weights) -> Result<Self, EmbedError> {
        let conv1 =
            weights.conv_bn("conv1", "bn1", [64, 3, 7, 7], 2, PaddingMode::Symmetric(3), Activation::Relu, BN_EPS)?;

        let mut stages = Vec::with_capacity(STAGE_BLOCKS.len());
        let mut input = 64;
        for (stage, &blocks) in STAGE_BLOCKS.iter().enumerate() {
            let width = 64 << stage;
            let mut layer = Vec::with_capacity(blocks);
            for block in 0..blocks {
                let stride = if stage > 0 && block == 0 { 2 } else { 1 };
                let prefix = format!("layer{}.{block}", stage + 1);
                layer.push(Bottleneck::load(weights, &prefix, input, width, stride)?);
                input = width * EXPANSION;
            }
            stages.push(layer);
        }
        Ok(Self { conv1, stages, workspaces: WorkspacePool::default() })
    }

    /// Runs the network on a normalised `(N, 3, H, W)` batch and returns the
    /// `(N, 2048, H/32, W/32)` output of the last stage.
    pub fn features(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        run_batch(self, x)
    }
}

impl ResNet50 {
    /// Returns the index (over all stages) of the first block that runs on a
    /// whole group of images, and the shape of one image's feature map
    /// there.
    ///
    /// That is the first block whose weights outnumber one image's
    /// activations at its output (layer3 and layer4 at 224 px). As a rule
    /// of thumb, from there on reading the weights once per group saves more
    /// memory traffic than keeping one image's activations in cache. The
    /// index is the block count when no block qualifies.
    fn group_split(&self, image_shape: FeatureShape) -> (usize, FeatureShape) {
        let mut shape = STEM_POOL.output_shape(self.conv1.output_shape(image_shape));
        for (index, block) in self.stages.iter().flatten().enumerate() {
            let out_shape = block.output_shape(shape);
            if block.weight_elements() > out_shape.image_elements() {
                return (index, shape);
            }
            shape = out_shape;
        }
        (self.stages.iter().map(Vec::len).sum(), shape)
    }
}

impl ImageNetwork for ResNet50 {
    const NAME: &'static str = "resnet50";

    fn output_shape(&self, height: usize, width: usize) -> FeatureShape {
        let mut shape = STEM_POOL.output_shape(self.conv1.output_shape(FeatureShape::image(height, width, 3)));
        for block in self.stages.iter().flatten() {
            shape = block.output_shape(shape);
        }
        shape
    }

    fn run_images(
        &self,
        input: &[f32],
        shape: FeatureShape,
        output: &mut [f32],
        workspace: &mut Workspace,
        parallelism: Parallelism,
    ) {
        let Workspace { buffers: [x, reduced, filtered, shortcut], group, scratch } = workspace;
        let image_shape = shape.with_images(1);
        let (split, split_shape) = self.group_split(image_shape);
        let split_len = split_shape.image_elements();
        sized(group, shape.images * split_len);

        // The stem and the early blocks, one image at a time, each image's
        // result collected into `group`.
        for (index, image) in input.chunks_exact(image_shape.elements()).enumerate() {
            let hwc = sized(reduced, image_shape.elements());
            chw_to_hwc(image, image_shape, hwc);
            let stem_shape = self.conv1.output_shape(image_shape);
            let stem_out = sized(filtered, stem_shape.elements());
            self.conv1.forward(hwc, image_shape, stem_out, OutputMode::Overwrite, scratch, parallelism);

            let mut block_shape = STEM_POOL.output_shape(stem_shape);
            STEM_POOL.forward(stem_out, stem_shape, sized(x, block_shape.elements()));
            for block in self.stages.iter().flatten().take(split) {
                block_shape = block.forward(x, block_shape, reduced, filtered, shortcut, scratch, parallelism);
            }
            group[index * split_len..(index + 1) * split_len].copy_from_slice(&x[..split_len]);
        }

        // The late blocks on the whole group.
        std::mem::swap(x, group);
        let mut group_shape = split_shape.with_images(shape.images);
        for block in self.stages.iter().flatten().skip(split) {
            group_shape = block.forward(x, group_shape, reduced, filtered, shortcut, scratch, parallelism);
        }
        hwc_to_chw(&x[..group_shape.elements()], group_shape, output);
    }

    fn workspaces(&self) -> &WorkspacePool {
        &self.workspaces
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use super::*;
    use crate::models::batch::testing::{assert_group_matches_single_images, random_weight};

    /// Random weights with torchvision's ResNet-50 tensor names and shapes.
    fn random_weights() -> Weights {
        let mut tensors = HashMap::new();
        let mut add_conv_bn = |conv: String, bn: String, shape: [usize; 4]| {
            tensors.insert(format!("{conv}.weight"), random_weight(&format!("{conv}.weight"), &shape));
            for field in ["weight", "bias", "running_mean", "running_var"] {
                let name = format!("{bn}.{field}");
                tensors.insert(name.clone(), random_weight(&name, &[shape[0]]));
            }
        };

        add_conv_bn("conv1".into(), "bn1".into(), [64, 3, 7, 7]);
        let mut input = 64;
        for (stage, &blocks) in STAGE_BLOCKS.iter().enumerate() {
            let width = 64 << stage;
            for block in 0..blocks {
                let prefix = format!("layer{}.{block}", stage + 1);
                add_conv_bn(format!("{prefix}.conv1"), format!("{prefix}.bn1"), [width, input, 1, 1]);
                add_conv_bn(format!("{prefix}.conv2"), format!("{prefix}.bn2"), [width, width, 3, 3]);
                add_conv_bn(format!("{prefix}.conv3"), format!("{prefix}.bn3"), [width * EXPANSION, width, 1, 1]);
                if block == 0 {
                    let shortcut = [width * EXPANSION, input, 1, 1];
                    add_conv_bn(format!("{prefix}.downsample.0"), format!("{prefix}.downsample.1"), shortcut);
                }
                input = width * EXPANSION;
            }
        }
        Weights::from_tensors(PathBuf::from("<random resnet50>"), tensors)
    }

    #[test]
    fn grouped_images_match_single_images() {
        let network = ResNet50::load(&random_weights()).unwrap();

        // At 224 px, layer3 and layer4 run on the group; on the smaller
        // test images layer2 joins them.
        let (split, _) = network.group_split(FeatureShape::image(224, 224, 3));
        assert_eq!(split, 3 + 4, "group split at 224 px");
        let (split, _) = network.group_split(FeatureShape::image(96, 128, 3));
        assert_eq!(split, 3, "group split at 96x128");
        assert_group_matches_single_images(&network, 96, 128, 3);
    }
}
