//! EfficientNet-Lite (Tan and Le, 2019; the "lite" variants of the
//! TensorFlow model zoo), as laid out by the `efficientnet_lite_pytorch`
//! checkpoints.
//!
//! Lite differs from EfficientNet-B*: no squeeze-and-excitation, ReLU6 in
//! place of swish, and the stem (32 channels), head (1280 channels) and the
//! first and last block groups are never scaled. Convolutions use TensorFlow
//! "same" padding and BatchNorm eps is 1e-3. The builder functions below take
//! the checkpoint's tensor prefixes (`_conv_stem`, `_blocks.N._expand_conv`,
//! ...), so each layer reads the weights of the same name.

use candle_core::Tensor;

use crate::error::EmbedError;
use crate::ops::{global_avg_pool, Activation, ConvBn, DepthwiseConv2d, PaddingMode};
use crate::weights::Weights;

const BN_EPS: f64 = 1e-3;
const STEM_CHANNELS: usize = 32;
const HEAD_CHANNELS: usize = 1280;

/// The three Lite variants with trained weights available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteVariant {
    Lite0,
    Lite1,
    Lite2,
}

impl LiteVariant {
    /// Width multiplier, depth multiplier and input resolution.
    fn scaling(self) -> (f64, f64, u32) {
        match self {
            LiteVariant::Lite0 => (1.0, 1.0, 224),
            LiteVariant::Lite1 => (1.0, 1.1, 240),
            LiteVariant::Lite2 => (1.1, 1.2, 260),
        }
    }

    pub fn input_size(self) -> u32 {
        self.scaling().2
    }
}

/// One stage of the base (Lite0) network: repeats, kernel, stride, expansion
/// ratio, input and output channels.
struct StageArgs {
    repeats: usize,
    kernel: usize,
    stride: usize,
    expand: usize,
    input: usize,
    output: usize,
}

const BASE_STAGES: [StageArgs; 7] = [
    StageArgs { repeats: 1, kernel: 3, stride: 1, expand: 1, input: 32, output: 16 },
    StageArgs { repeats: 2, kernel: 3, stride: 2, expand: 6, input: 16, output: 24 },
    StageArgs { repeats: 2, kernel: 5, stride: 2, expand: 6, input: 24, output: 40 },
    StageArgs { repeats: 3, kernel: 3, stride: 2, expand: 6, input: 40, output: 80 },
    StageArgs { repeats: 3, kernel: 5, stride: 1, expand: 6, input: 80, output: 112 },
    StageArgs { repeats: 4, kernel: 5, stride: 2, expand: 6, input: 112, output: 192 },
    StageArgs { repeats: 1, kernel: 3, stride: 1, expand: 6, input: 192, output: 320 },
];

/// Scales a channel count by the width multiplier and rounds it to a
/// multiple of 8, never more than 10% below the exact product (the rule of
/// the TensorFlow reference implementation).
fn round_filters(filters: usize, width: f64) -> usize {
    const DIVISOR: usize = 8;
    let scaled = filters as f64 * width;
    let mut rounded = ((scaled + DIVISOR as f64 / 2.0) as usize / DIVISOR * DIVISOR).max(DIVISOR);
    if (rounded as f64) < 0.9 * scaled {
        rounded += DIVISOR;
    }
    rounded
}

fn round_repeats(repeats: usize, depth: f64) -> usize {
    (depth * repeats as f64).ceil() as usize
}

/// The concrete shape of one mobile inverted bottleneck block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BlockShape {
    input: usize,
    output: usize,
    expand: usize,
    kernel: usize,
    stride: usize,
}

fn block_shapes(variant: LiteVariant) -> Vec<BlockShape> {
    let (width, depth, _) = variant.scaling();
    let last = BASE_STAGES.len() - 1;
    let mut blocks = Vec::new();

    for (i, stage) in BASE_STAGES.iter().enumerate() {
        let mut input = round_filters(stage.input, width);
        let output = round_filters(stage.output, width);
        let repeats = if i == 0 || i == last {
            if i == 0 {
                input = STEM_CHANNELS;
            }
            stage.repeats
        } else {
            round_repeats(stage.repeats, depth)
        };

        for r in 0..repeats {
            blocks.push(BlockShape {
                input: if r == 0 { input } else { output },
                output,
                expand: stage.expand,
                kernel: stage.kernel,
                stride: if r == 0 { stage.stride } else { 1 },
            });
        }
    }
    blocks
}

/// A mobile inverted bottleneck: optional 1x1 expansion, depthwise
/// convolution, 1x1 linear projection, and a residual add when the shape
/// allows it.
struct MbConvBlock {
    expand_conv: Option<ConvBn>,
    depthwise_conv: DepthwiseConv2d,
    project_conv: ConvBn,
    residual: bool,
}

impl MbConvBlock {
    fn load(weights: &Weights, prefix: &str, shape: BlockShape) -> Result<Self, EmbedError> {
        let hidden = shape.input * shape.expand;
        let expand_conv = if shape.expand != 1 {
            Some(weights.conv_bn(
                &format!("{prefix}._expand_conv"),
                &format!("{prefix}._bn0"),
                [hidden, shape.input, 1, 1],
                1,
                PaddingMode::TfSame,
                Activation::Relu6,
                BN_EPS,
            )?)
        } else {
            None
        };
        let depthwise_conv = weights.depthwise_bn(
            &format!("{prefix}._depthwise_conv"),
            &format!("{prefix}._bn1"),
            hidden,
            shape.kernel,
            shape.stride,
            Activation::Relu6,
            BN_EPS,
        )?;
        let project_conv = weights.conv_bn(
            &format!("{prefix}._project_conv"),
            &format!("{prefix}._bn2"),
            [shape.output, hidden, 1, 1],
            1,
            PaddingMode::TfSame,
            Activation::None,
            BN_EPS,
        )?;
        Ok(Self {
            expand_conv,
            depthwise_conv,
            project_conv,
            residual: shape.stride == 1 && shape.input == shape.output,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut y = match &self.expand_conv {
            Some(conv) => conv.forward(x)?,
            None => x.clone(),
        };
        y = self.depthwise_conv.forward(&y)?;
        y = self.project_conv.forward(&y)?;
        if self.residual {
            y = (y + x)?;
        }
        Ok(y)
    }
}

/// The classifier head, kept only to check the trained weights against
/// known ImageNet classes.
struct Classifier {
    weight: Tensor,
    bias: Tensor,
}

/// An EfficientNet-Lite network up to the head convolution.
pub struct EfficientNetLite {
    variant: LiteVariant,
    conv_stem: ConvBn,
    blocks: Vec<MbConvBlock>,
    conv_head: ConvBn,
    classifier: Option<Classifier>,
}

impl EfficientNetLite {
    pub fn load(weights: &Weights, variant: LiteVariant) -> Result<Self, EmbedError> {
        let shapes = block_shapes(variant);
        log::debug!("{variant:?}: {} blocks", shapes.len());

        let conv_stem = weights.conv_bn(
            "_conv_stem",
            "_bn0",
            [STEM_CHANNELS, 3, 3, 3],
            2,
            PaddingMode::TfSame,
            Activation::Relu6,
            BN_EPS,
        )?;
        let blocks = shapes
            .iter()
            .enumerate()
            .map(|(i, &shape)| MbConvBlock::load(weights, &format!("_blocks.{i}"), shape))
            .collect::<Result<Vec<_>, _>>()?;
        let last = shapes.last().expect("every variant has blocks").output;
        let conv_head = weights.conv_bn(
            "_conv_head",
            "_bn1",
            [HEAD_CHANNELS, last, 1, 1],
            1,
            PaddingMode::TfSame,
            Activation::Relu6,
            BN_EPS,
        )?;

        // Checkpoints with one block too many belong to another variant; the
        // block count is the only place the depth multiplier shows.
        let extra = format!("_blocks.{}._project_conv.weight", shapes.len());
        if weights.contains(&extra) {
            return Err(EmbedError::MissingTensor {
                path: weights.path().to_owned(),
                name: format!("(none: the checkpoint has more blocks than {variant:?}, starting with {extra})"),
            });
        }

        let classifier = if weights.contains("_fc.weight") {
            let classes = weights.dims("_fc.weight")?[0];
            Some(Classifier {
                weight: weights.get("_fc.weight", &[classes, HEAD_CHANNELS])?.clone(),
                bias: weights.get("_fc.bias", &[classes])?.clone(),
            })
        } else {
            None
        };

        Ok(Self { variant, conv_stem, blocks, conv_head, classifier })
    }

    pub fn variant(&self) -> LiteVariant {
        self.variant
    }

    /// Runs the network on a normalised `(N, 3, H, W)` batch and returns the
    /// `(N, 1280, H/32, W/32)` feature map after the head convolution.
    pub fn features(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = self.conv_stem.forward(x)?;
        for block in &self.blocks {
            x = block.forward(&x)?;
        }
        self.conv_head.forward(&x)
    }

    /// Computes ImageNet logits `(N, classes)` with the trained classifier
    /// (global average pooling, then the linear layer), or `None` for
    /// checkpoints without one.
    pub fn classify(&self, x: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let Some(classifier) = &self.classifier else {
            return Ok(None);
        };
        let pooled = global_avg_pool(&self.features(x)?)?;
        let logits = pooled.matmul(&classifier.weight.t()?)?.broadcast_add(&classifier.bias)?;
        Ok(Some(logits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_counts_match_published_variants() {
        // Lite0 has 16 blocks; the depth multipliers 1.1 and 1.2 add blocks
        // only to the five middle stages.
        assert_eq!(block_shapes(LiteVariant::Lite0).len(), 16);
        assert_eq!(block_shapes(LiteVariant::Lite1).len(), 1 + 3 + 3 + 4 + 4 + 5 + 1);
        assert_eq!(block_shapes(LiteVariant::Lite2).len(), 1 + 3 + 3 + 4 + 4 + 5 + 1);
    }

    #[test]
    fn lite2_widths_are_rounded_to_multiples_of_eight() {
        let blocks = block_shapes(LiteVariant::Lite2);
        assert_eq!(blocks[0].input, 32);
        assert_eq!(blocks[0].output, 16);
        assert_eq!(blocks.last().unwrap().output, 352);
        assert_eq!(round_filters(24, 1.1), 24);
        assert_eq!(round_filters(40, 1.1), 48);
        assert_eq!(round_filters(112, 1.1), 120);
    }
}
