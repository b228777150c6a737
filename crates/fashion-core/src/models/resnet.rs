//! ResNet-50 (He et al., 2016) in the torchvision layout, cut after the last
//! convolutional stage.
//!
//! The tensor names are torchvision's (`conv1`, `bn1`, `layer{1..4}.{i}.conv{1,2,3}`,
//! `.bn{1,2,3}`, `layer{n}.0.downsample.{0,1}`), which timm's `resnet50.tv_in1k`
//! also uses. The stride of a downsampling block sits on its 3x3 convolution
//! (torchvision's "ResNet v1.5"), and BatchNorm eps is 1e-5. There is no
//! average pool and no classifier: the network returns the `(N, 2048, 7, 7)`
//! feature map at 224 px.

use candle_core::Tensor;

use crate::error::EmbedError;
use crate::ops::{pad_spatial, Activation, ConvBn, Padding, PaddingMode};
use crate::weights::Weights;

const BN_EPS: f64 = 1e-5;
const EXPANSION: usize = 4;

/// Blocks per stage of ResNet-50.
const STAGE_BLOCKS: [usize; 4] = [3, 4, 6, 3];

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
        // The ReLU comes after the residual add, so conv3 has none of its own.
        let conv3 = conv(3, [output, width, 1, 1], 1, 0, Activation::None)?;

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

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = self.conv1.forward(x)?;
        let y = self.conv2.forward(&y)?;
        let y = self.conv3.forward(&y)?;
        let shortcut = match &self.downsample {
            Some(conv) => conv.forward(x)?,
            None => x.clone(),
        };
        (y + shortcut)?.relu()
    }
}

/// ResNet-50 without its average pool and classifier.
pub struct ResNet50 {
    conv1: ConvBn,
    stages: Vec<Vec<Bottleneck>>,
}

impl ResNet50 {
    pub fn load(weights: &Weights) -> Result<Self, EmbedError> {
        let conv1 = weights.conv_bn(
            "conv1",
            "bn1",
            [64, 3, 7, 7],
            2,
            PaddingMode::Symmetric(3),
            Activation::Relu,
            BN_EPS,
        )?;

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
        Ok(Self { conv1, stages })
    }

    /// Runs the network on a normalised `(N, 3, H, W)` batch and returns the
    /// `(N, 2048, H/32, W/32)` output of the last stage.
    pub fn features(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = self.conv1.forward(x)?;

        // Max pool 3x3, stride 2, padding 1. Its input comes out of a ReLU, so
        // it is non-negative and zero padding acts like PyTorch's -inf padding.
        let pad = Padding { top: 1, bottom: 1, left: 1, right: 1 };
        let mut x = pad_spatial(&x, pad)?.max_pool2d_with_stride(3, 2)?;

        for stage in &self.stages {
            for block in stage {
                x = block.forward(&x)?;
            }
        }
        Ok(x)
    }
}
