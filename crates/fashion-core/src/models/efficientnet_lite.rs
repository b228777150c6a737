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
//!
//! The network runs on the CPU through `crate::models::batch`. The stem and
//! the early blocks run image by image, each block in bands of rows (see
//! `MbConvBlock::forward_bands`). The blocks whose weights outnumber one
//! image's activations run on a group of images at once.

use candle_core::Tensor;

use crate::error::EmbedError;
use crate::models::batch::{run_batch, sized, ImageNetwork, Workspace, WorkspacePool};
use crate::ops::{
    chw_to_hwc, global_avg_pool, hwc_to_chw, Activation, ConvBn, DepthwiseConv2d, FeatureShape, OutputMode,
    PaddingMode, Parallelism,
};
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

    /// Runs the block on the NHWC feature maps in `x` and leaves its output
    /// there. The other buffers are work space.
    fn forward(
        &self,
        x: &mut Vec<f32>,
        shape: FeatureShape,
        buffers: &mut BlockBuffers<'_>,
        parallelism: Parallelism,
    ) -> FeatureShape {
        let hidden_shape = match &self.expand_conv {
            Some(conv) => conv.output_shape(shape),
            None => shape,
        };
        let filtered_shape = self.depthwise_conv.output_shape(hidden_shape);
        let out_shape = self.project_conv.output_shape(filtered_shape);
        let band_rows = self.band_rows(hidden_shape, filtered_shape, parallelism);
        log::trace!("block {shape:?} -> {out_shape:?}: bands of {band_rows} rows");

        if band_rows >= filtered_shape.rows() {
            self.forward_layers(x, shape, buffers, parallelism);
        } else {
            self.forward_bands(x, shape, band_rows, buffers);
        }

        if !self.residual {
            std::mem::swap(x, buffers.output);
        }
        out_shape
    }

    /// Runs each layer over all rows of all images, leaving the output in
    /// `x` for a residual block and in `buffers.output` otherwise.
    fn forward_layers(
        &self,
        x: &mut [f32],
        shape: FeatureShape,
        buffers: &mut BlockBuffers<'_>,
        parallelism: Parallelism,
    ) {
        let hidden: &[f32] = match &self.expand_conv {
            Some(conv) => {
                let hidden_shape = conv.output_shape(shape);
                let out = sized(buffers.expanded, hidden_shape.elements());
                conv.forward(&x[..shape.elements()], shape, out, OutputMode::Overwrite, buffers.scratch, parallelism);
                out
            }
            None => &x[..shape.elements()],
        };
        let hidden_shape = shape.with_channels(self.depthwise_conv.channels());

        let filtered_shape = self.depthwise_conv.output_shape(hidden_shape);
        let filtered = sized(buffers.filtered, filtered_shape.elements());
        self.depthwise_conv.forward(hidden, hidden_shape, filtered, parallelism);

        let out_shape = self.project_conv.output_shape(filtered_shape);
        let (out, mode) = if self.residual {
            // The projection adds onto the block input in place.
            (&mut x[..out_shape.elements()], OutputMode::Accumulate)
        } else {
            (sized(buffers.output, out_shape.elements()), OutputMode::Overwrite)
        };
        self.project_conv.forward(filtered, filtered_shape, out, mode, buffers.scratch, parallelism);
    }

    /// Runs one image through the block in bands of `band_rows` output rows:
    /// expansion of the input rows that the band's depthwise windows need,
    /// depthwise, then projection.
    ///
    /// The expanded rows live in a ring just large enough for one band's
    /// windows, and the depthwise output in a buffer of one band. So these
    /// activations, six times the size of the block input, stay in the L2
    /// cache from the layer that writes them to the one that reads them, and
    /// the same cache lines serve band after band. Nothing is computed twice,
    /// because each band expands only the rows that earlier bands have not.
    fn forward_bands(&self, x: &mut [f32], shape: FeatureShape, band_rows: usize, buffers: &mut BlockBuffers<'_>) {
        let parallelism = Parallelism::Sequential;
        let hidden_shape = shape.with_channels(self.depthwise_conv.channels());
        let filtered_shape = self.depthwise_conv.output_shape(hidden_shape);
        let out_shape = self.project_conv.output_shape(filtered_shape);
        let (kernel, stride, pad_top) = self.depthwise_conv.window_rows(hidden_shape);
        let hidden_row = hidden_shape.width * hidden_shape.channels;
        let filtered_row = filtered_shape.width * filtered_shape.channels;
        let out_row = out_shape.width * out_shape.channels;

        // A band of r output rows reads at most (r - 1) * stride + kernel
        // input rows, so a ring of that many rows never overwrites a row
        // that the current band still reads.
        let ring_rows = (band_rows - 1) * stride + kernel;
        let ring = sized(buffers.expanded, ring_rows * hidden_row);
        let filtered = sized(buffers.filtered, band_rows * filtered_row);
        let output = sized(buffers.output, out_shape.elements());
        let mut expanded_rows = 0;

        for first in (0..filtered_shape.height).step_by(band_rows) {
            let end = (first + band_rows).min(filtered_shape.height);

            // Expand the input rows that this band's windows reach and no
            // earlier band has expanded, in at most two runs of ring slots.
            let needed = ((end - 1) * stride + kernel).saturating_sub(pad_top).min(hidden_shape.height);
            if let Some(conv) = &self.expand_conv {
                while expanded_rows < needed {
                    let slot = expanded_rows % ring_rows;
                    let count = (needed - expanded_rows).min(ring_rows - slot);
                    let rows = &mut ring[slot * hidden_row..(slot + count) * hidden_row];
                    let input = &x[..shape.elements()];
                    conv.forward_rows(
                        input,
                        shape,
                        expanded_rows,
                        rows,
                        OutputMode::Overwrite,
                        buffers.scratch,
                        parallelism,
                    );
                    expanded_rows += count;
                }
            }

            let band = &mut filtered[..(end - first) * filtered_row];
            match &self.expand_conv {
                Some(_) => self.depthwise_conv.forward_rows_from_ring(ring, hidden_shape, first, band, parallelism),
                None => {
                    self.depthwise_conv.forward_rows(&x[..shape.elements()], hidden_shape, first, band, parallelism)
                }
            }

            // The residual projection adds onto the block input in place:
            // later bands expand only rows from `needed` on, below this band.
            let band_shape = FeatureShape::image(end - first, filtered_shape.width, filtered_shape.channels);
            let (out, mode) = if self.residual {
                (&mut x[first * out_row..end * out_row], OutputMode::Accumulate)
            } else {
                (&mut output[first * out_row..end * out_row], OutputMode::Overwrite)
            };
            self.project_conv.forward_rows(band, band_shape, 0, out, mode, buffers.scratch, parallelism);
        }
    }

    /// Output rows per band: as many as keep a band's expanded and filtered
    /// rows within [`BAND_BYTES`], but at least [`MIN_BAND_PIXELS`] pixels.
    /// Groups of images, and a single image spread over threads, run whole
    /// layers instead, which gives each layer more rows to split.
    fn band_rows(&self, hidden_shape: FeatureShape, filtered_shape: FeatureShape, parallelism: Parallelism) -> usize {
        // Without an expansion the depthwise reads the block input itself,
        // which an in-place residual projection would overwrite too early.
        let in_place_input = self.expand_conv.is_none() && self.residual;
        if hidden_shape.images > 1 || parallelism == Parallelism::Rayon || in_place_input {
            return filtered_shape.rows();
        }

        let (kernel, stride, _) = self.depthwise_conv.window_rows(hidden_shape);
        let hidden_row = hidden_shape.width * hidden_shape.channels * std::mem::size_of::<f32>();
        let filtered_row = filtered_shape.width * filtered_shape.channels * std::mem::size_of::<f32>();
        // A band of r output rows reads about r * stride + kernel - stride
        // expanded rows.
        let fixed = kernel.saturating_sub(stride) * hidden_row;
        let fitting = BAND_BYTES.saturating_sub(fixed) / (stride * hidden_row + filtered_row);
        let minimum = MIN_BAND_PIXELS.div_ceil(filtered_shape.width);
        fitting.max(minimum).clamp(1, filtered_shape.height)
    }

    /// Returns the number of weights, which decides whether the block runs
    /// image by image or on a group of images.
    fn weight_elements(&self) -> usize {
        let expand = self.expand_conv.as_ref().map_or(0, ConvBn::weight_elements);
        expand + self.depthwise_conv.weight_elements() + self.project_conv.weight_elements()
    }
}

/// The work buffers of [`MbConvBlock::forward`].
struct BlockBuffers<'a> {
    expanded: &'a mut Vec<f32>,
    filtered: &'a mut Vec<f32>,
    output: &'a mut Vec<f32>,
    scratch: &'a mut Vec<f32>,
}

/// The target size of one band's expanded and filtered rows. It is half of
/// a 512 KB L2 cache (AMD Zen 2 to 4; recent Intel cores have 1-2 MB), which
/// leaves room for the weights and the block input.
const BAND_BYTES: usize = 256 * 1024;

/// The minimum number of pixels per band, so that each gemm call has
/// enough rows to amortise packing its weight matrix.
const MIN_BAND_PIXELS: usize = 128;

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
    workspaces: WorkspacePool,
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

        Ok(Self { variant, conv_stem, blocks, conv_head, classifier, workspaces: WorkspacePool::default() })
    }

    pub fn variant(&self) -> LiteVariant {
        self.variant
    }

    /// Runs the network on a normalised `(N, 3, H, W)` batch and returns the
    /// `(N, 1280, H/32, W/32)` feature map after the head convolution.
    pub fn features(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        run_batch(self, x)
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

impl EfficientNetLite {
    /// Returns the index of the first block that runs on a whole group of
    /// images, and the shape of one image's feature map there.
    ///
    /// That is the first block whose weights outnumber one image's expanded
    /// activations. As a rule of thumb, from there on reading the weights
    /// once per group saves more memory traffic than keeping one image's
    /// activations in cache. The index is the block count when no block
    /// qualifies.
    fn group_split(&self, image_shape: FeatureShape) -> (usize, FeatureShape) {
        let mut shape = self.conv_stem.output_shape(image_shape);
        for (index, block) in self.blocks.iter().enumerate() {
            let hidden = match &block.expand_conv {
                Some(conv) => conv.output_shape(shape),
                None => shape,
            };
            if block.weight_elements() > hidden.image_elements() {
                return (index, shape);
            }
            shape = block.project_conv.output_shape(block.depthwise_conv.output_shape(hidden));
        }
        (self.blocks.len(), shape)
    }
}

impl ImageNetwork for EfficientNetLite {
    const NAME: &'static str = "efficientnet-lite";

    fn output_shape(&self, height: usize, width: usize) -> FeatureShape {
        let mut shape = self.conv_stem.output_shape(FeatureShape::image(height, width, 3));
        for block in &self.blocks {
            shape = block.depthwise_conv.output_shape(shape);
        }
        FeatureShape { channels: HEAD_CHANNELS, ..shape }
    }

    fn run_images(
        &self,
        input: &[f32],
        shape: FeatureShape,
        output: &mut [f32],
        workspace: &mut Workspace,
        parallelism: Parallelism,
    ) {
        let Workspace { buffers: [x, expanded, filtered, block_output], group, scratch } = workspace;
        let mut buffers = BlockBuffers { expanded, filtered, output: block_output, scratch };
        let image_shape = shape.with_images(1);
        let (split, split_shape) = self.group_split(image_shape);
        let split_len = split_shape.image_elements();
        sized(group, shape.images * split_len);

        // The stem and the early blocks, one image at a time, each image's
        // result collected into `group`.
        for (index, image) in input.chunks_exact(image_shape.elements()).enumerate() {
            let hwc = sized(buffers.expanded, image_shape.elements());
            chw_to_hwc(image, image_shape, hwc);
            let stem_shape = self.conv_stem.output_shape(image_shape);
            let stem_out = sized(x, stem_shape.elements());
            self.conv_stem.forward(hwc, image_shape, stem_out, OutputMode::Overwrite, buffers.scratch, parallelism);

            let mut block_shape = stem_shape;
            for block in &self.blocks[..split] {
                block_shape = block.forward(x, block_shape, &mut buffers, parallelism);
            }
            group[index * split_len..(index + 1) * split_len].copy_from_slice(&x[..split_len]);
        }

        // The late blocks and the head on the whole group.
        std::mem::swap(x, group);
        let mut group_shape = split_shape.with_images(shape.images);
        for block in &self.blocks[split..] {
            group_shape = block.forward(x, group_shape, &mut buffers, parallelism);
        }
        let head_shape = self.conv_head.output_shape(group_shape);
        let head_out = sized(buffers.expanded, head_shape.elements());
        let input = &x[..group_shape.elements()];
        self.conv_head.forward(input, group_shape, head_out, OutputMode::Overwrite, buffers.scratch, parallelism);
        hwc_to_chw(head_out, head_shape, output);
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

    /// Random weights with the tensor names and shapes of `variant`.
    fn random_weights(variant: LiteVariant) -> Weights {
        let mut tensors = HashMap::new();
        let mut add = |name: String, shape: &[usize]| {
            tensors.insert(name.clone(), random_weight(&name, shape));
        };
        let mut add_conv_bn = |conv: String, bn: String, shape: [usize; 4]| {
            add(format!("{conv}.weight"), &shape);
            for field in ["weight", "bias", "running_mean", "running_var"] {
                add(format!("{bn}.{field}"), &[shape[0]]);
            }
        };

        add_conv_bn("_conv_stem".into(), "_bn0".into(), [STEM_CHANNELS, 3, 3, 3]);
        let shapes = block_shapes(variant);
        for (i, shape) in shapes.iter().enumerate() {
            let prefix = format!("_blocks.{i}");
            let hidden = shape.input * shape.expand;
            if shape.expand != 1 {
                add_conv_bn(format!("{prefix}._expand_conv"), format!("{prefix}._bn0"), [hidden, shape.input, 1, 1]);
            }
            let kernel = shape.kernel;
            add_conv_bn(format!("{prefix}._depthwise_conv"), format!("{prefix}._bn1"), [hidden, 1, kernel, kernel]);
            add_conv_bn(format!("{prefix}._project_conv"), format!("{prefix}._bn2"), [shape.output, hidden, 1, 1]);
        }
        let last = shapes.last().unwrap().output;
        add_conv_bn("_conv_head".into(), "_bn1".into(), [HEAD_CHANNELS, last, 1, 1]);
        Weights::from_tensors(PathBuf::from("<random efficientnet-lite>"), tensors)
    }

    #[test]
    fn grouped_images_match_single_images() {
        let network = EfficientNetLite::load(&random_weights(LiteVariant::Lite0), LiteVariant::Lite0).unwrap();

        // Bands split the early blocks at this size, and the last stages run
        // on the group.
        let image = FeatureShape::image(160, 128, 3);
        let (split, _) = network.group_split(image);
        assert!(split > 0, "every block runs on the group");
        assert!(split < network.blocks.len(), "no block runs on the group");
        let block = &network.blocks[1];
        let hidden =
            block.expand_conv.as_ref().unwrap().output_shape(network.conv_stem.output_shape(image).with_channels(16));
        let filtered = block.depthwise_conv.output_shape(hidden);
        assert!(
            block.band_rows(hidden, filtered, Parallelism::Sequential) < filtered.height,
            "block 1 runs in one band"
        );
        assert_group_matches_single_images(&network, 160, 128, 3);
    }

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
