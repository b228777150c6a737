//! CPU kernels of the backbones: BatchNorm-folded dense and depthwise
//! convolutions, max pooling, TensorFlow "same" padding and layout changes.
//!
//! The kernels work on NHWC (channels-last) feature maps in plain `f32`
//! slices that the caller owns and reuses from image to image (see
//! `crate::models::batch`). Each kernel can compute any range of output
//! rows, so a caller can run several layers band by band. Channels-last makes a
//! 1x1 convolution one matrix product `(pixels x in) * (in x out)` with no
//! copy, and lets the depthwise kernel vectorise over channels, which NCHW
//! cannot do at the 7x7 and 14x14 resolutions of the last stages. Dense
//! convolutions call the `gemm` crate (the version candle uses) on blocks
//! of output rows and add the bias and activation to each block while it
//! is still in cache. The depthwise kernel has an AVX2 and FMA version,
//! chosen at run time, and a portable one.

use std::ops::Range;

use candle_core::Tensor;
use rayon::prelude::*;

/// The activation that follows a convolution.
///
/// Both activations keep NaN as NaN, so a non-finite input shows up in the
/// embedding instead of being clipped away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    None,
    Relu,
    Relu6,
}

impl Activation {
    #[inline(always)]
    fn apply(self, x: f32) -> f32 {
        match self {
            Activation::None => x,
            Activation::Relu => relu(x),
            Activation::Relu6 => relu6(x),
        }
    }

    /// Adds `bias` to each row of `rows` (pixels of `bias.len()` channels)
    /// and applies the activation in place.
    fn add_bias_and_apply(self, rows: &mut [f32], bias: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { add_bias_and_apply_avx2(self, rows, bias) };
            return;
        }
        add_bias_and_apply_generic(self, rows, bias);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn add_bias_and_apply_avx2(activation: Activation, rows: &mut [f32], bias: &[f32]) {
    add_bias_and_apply_generic(activation, rows, bias);
}

/// Adds the bias and applies the activation: the body of
/// [`Activation::add_bias_and_apply`], inlined into each instruction-set
/// variant so that the compiler vectorises it for that set.
#[inline(always)]
fn add_bias_and_apply_generic(activation: Activation, rows: &mut [f32], bias: &[f32]) {
    for row in rows.chunks_exact_mut(bias.len()) {
        match activation {
            Activation::None => {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v += b;
                }
            }
            Activation::Relu => {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v = relu(*v + b);
                }
            }
            Activation::Relu6 => {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v = relu6(*v + b);
                }
            }
        }
    }
}

/// ReLU that keeps NaN (`f32::max` would turn it into 0).
#[inline(always)]
fn relu(x: f32) -> f32 {
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

/// ReLU6; `f32::clamp` keeps NaN.
#[inline(always)]
fn relu6(x: f32) -> f32 {
    x.clamp(0.0, 6.0)
}

/// Zero padding on each side of the two spatial dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Padding {
    pub top: usize,
    pub bottom: usize,
    pub left: usize,
    pub right: usize,
}

/// Padding rule of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaddingMode {
    /// The same number of zeros on every side (PyTorch's `padding=p`).
    Symmetric(usize),
    /// TensorFlow's "same": the output has `ceil(input / stride)` pixels and
    /// any odd total goes after (bottom, right), so stride-2 layers pad
    /// asymmetrically.
    TfSame,
}

impl PaddingMode {
    /// Computes the padding for an input of `height x width`.
    pub fn resolve(self, height: usize, width: usize, kernel: usize, stride: usize) -> Padding {
        match self {
            PaddingMode::Symmetric(p) => Padding { top: p, bottom: p, left: p, right: p },
            PaddingMode::TfSame => {
                let total = |size: usize| {
                    let out = size.div_ceil(stride);
                    ((out - 1) * stride + kernel).saturating_sub(size)
                };
                let (pad_h, pad_w) = (total(height), total(width));
                Padding { top: pad_h / 2, bottom: pad_h - pad_h / 2, left: pad_w / 2, right: pad_w - pad_w / 2 }
            }
        }
    }
}

/// The shape of the feature maps of `images` images stored NHWC: each
/// image is `height * width` pixels of `channels` adjacent values, and the
/// images follow one another.
///
/// Kernels see the images as `images * height` rows of pixels: a 1x1
/// convolution treats them all as one matrix, while windows never reach
/// across from one image into the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureShape {
    pub images: usize,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl FeatureShape {
    /// Returns the shape of one image.
    pub fn image(height: usize, width: usize, channels: usize) -> Self {
        Self { images: 1, height, width, channels }
    }

    /// Returns this shape with `images` in place of the image count.
    pub fn with_images(self, images: usize) -> Self {
        Self { images, ..self }
    }

    /// Returns this shape with `channels` in place of the channel count.
    pub fn with_channels(self, channels: usize) -> Self {
        Self { channels, ..self }
    }

    /// Returns the number of pixels over all images.
    pub fn pixels(self) -> usize {
        self.images * self.height * self.width
    }

    /// Returns the number of pixel rows over all images.
    pub fn rows(self) -> usize {
        self.images * self.height
    }

    /// Returns the number of `f32` values of one image.
    pub fn image_elements(self) -> usize {
        self.height * self.width * self.channels
    }

    /// Returns the number of `f32` values over all images.
    pub fn elements(self) -> usize {
        self.images * self.image_elements()
    }
}

/// Returns the block size that splits `total` items into equal blocks of
/// at most about `target`, so that no block is a small remainder.
fn balanced_block(total: usize, target: usize) -> usize {
    let blocks = total.div_ceil(target.max(1)).max(1);
    total.div_ceil(blocks).max(1)
}

/// Returns the output side of a `kernel`-wide window sliding with `stride`
/// over `size` values padded with `before` and `after` zeros.
///
/// # Panics
///
/// Panics if the padded input is narrower than the kernel.
fn window_output_size(size: usize, before: usize, after: usize, kernel: usize, stride: usize) -> usize {
    let padded = size + before + after;
    assert!(padded >= kernel, "padded input of {padded} is smaller than the {kernel}-wide kernel");
    (padded - kernel) / stride + 1
}

/// Returns the output shape of a `kernel x kernel` window with `stride` and
/// `pad`.
fn window_output_shape(
    input: FeatureShape,
    pad: Padding,
    kernel: usize,
    stride: usize,
    channels: usize,
) -> FeatureShape {
    FeatureShape {
        images: input.images,
        height: window_output_size(input.height, pad.top, pad.bottom, kernel, stride),
        width: window_output_size(input.width, pad.left, pad.right, kernel, stride),
        channels,
    }
}

/// Returns the kernel offsets of a window whose input index, `output *
/// stride + offset - pad_before`, falls inside `0..size`. Offsets outside
/// the range read padding.
fn valid_taps(output: usize, stride: usize, pad_before: usize, kernel: usize, size: usize) -> Range<usize> {
    let origin = (output * stride) as isize - pad_before as isize;
    let start = (-origin).clamp(0, kernel as isize) as usize;
    let end = (size as isize - origin).clamp(0, kernel as isize) as usize;
    start..end.max(start)
}

/// Whether a kernel may spread its work over the rayon pool.
///
/// Batches with at least one image per thread run images in parallel and
/// each kernel `Sequential`; a single image runs its kernels with `Rayon`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parallelism {
    Sequential,
    Rayon,
}

/// The use a convolution makes of the values already in its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// Replaces them; the output may hold stale values from earlier images.
    Overwrite,
    /// Adds the convolution to them before the activation, which computes a
    /// residual connection `act(shortcut + conv(x) + bias)` in place.
    Accumulate,
}

/// The target size, in `f32` values, of the output block and input rows of
/// one `gemm` call. Output rows are handled in blocks so that the block,
/// and the input rows it reads, are still in the L2 cache when the bias and
/// activation are applied.
const BLOCK_ELEMENTS: usize = 64 * 1024;

/// Minimum output pixels per `gemm` call. Each call packs the weight matrix
/// again, which for the wide layers of the last stages (9.4 MB for the 3x3
/// convolutions of ResNet-50's layer4) costs more than a block of output
/// that misses L2.
const MIN_BLOCK_PIXELS: usize = 256;

/// Folds inference-mode BatchNorm into the preceding convolution.
///
/// `weight` is `(out, in, kh, kw)`; the result is the scaled weight and a
/// per-output-channel bias, so that `conv(x, w') + b'` equals
/// `bn(conv(x, w) + conv_bias)`.
pub fn fold_batch_norm(
    weight: &[f32],
    conv_bias: Option<&[f32]>,
    out_channels: usize,
    bn: &BatchNormParams<'_>,
) -> (Vec<f32>, Vec<f32>) {
    let per_channel = weight.len() / out_channels;
    let mut folded = weight.to_vec();
    let mut bias = vec![0f32; out_channels];

    for c in 0..out_channels {
        // Computed in f64 so that folding adds no rounding of its own beyond
        // the final cast.
        let scale = bn.gamma[c] as f64 / (bn.running_var[c] as f64 + bn.eps).sqrt();
        for w in &mut folded[c * per_channel..(c + 1) * per_channel] {
            *w = (*w as f64 * scale) as f32;
        }
        let b = conv_bias.map_or(0.0, |b| b[c] as f64);
        bias[c] = ((b - bn.running_mean[c] as f64) * scale + bn.beta[c] as f64) as f32;
    }
    (folded, bias)
}

/// The four inference-mode BatchNorm tensors of one layer, and its epsilon.
pub struct BatchNormParams<'a> {
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
    pub running_mean: &'a [f32],
    pub running_var: &'a [f32],
    pub eps: f64,
}

/// A dense convolution with BatchNorm folded into its weight and bias,
/// followed by an activation.
///
/// A 1x1 stride-1 convolution multiplies the input pixels directly. Any
/// other shape first gathers each output pixel's receptive field into a row
/// (im2col), one block of rows at a time.
#[derive(Debug, Clone)]
pub struct ConvBn {
    /// `(kernel * kernel * in_channels, out_channels)`, row-major, rows in
    /// (ky, kx, input channel) order to match the im2col rows.
    weight: Vec<f32>,
    bias: Vec<f32>,
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    padding: PaddingMode,
    activation: Activation,
}

impl ConvBn {
    /// Builds the layer from a folded PyTorch-layout `(out, in, k, k)`
    /// weight and its per-output-channel bias.
    pub fn new(
        weight: &[f32],
        shape: [usize; 4],
        bias: Vec<f32>,
        stride: usize,
        padding: PaddingMode,
        activation: Activation,
    ) -> candle_core::Result<Self> {
        let [out_channels, in_channels, kh, kw] = shape;
        if kh != kw {
            candle_core::bail!("only square kernels are supported, got {kh}x{kw}");
        }
        if weight.len() != shape.iter().product::<usize>() {
            candle_core::bail!("convolution weight has {} values, expected shape {shape:?}", weight.len());
        }
        if bias.len() != out_channels {
            candle_core::bail!("convolution bias has {} values for {out_channels} channels", bias.len());
        }
        if stride == 0 {
            candle_core::bail!("convolution stride must be at least 1");
        }

        let kernel = kh;
        let row_len = kernel * kernel * in_channels;
        let mut reordered = vec![0f32; row_len * out_channels];
        for o in 0..out_channels {
            for c in 0..in_channels {
                for tap in 0..kernel * kernel {
                    let row = tap * in_channels + c;
                    reordered[row * out_channels + o] = weight[(o * in_channels + c) * kernel * kernel + tap];
                }
            }
        }
        Ok(Self { weight: reordered, bias, in_channels, out_channels, kernel, stride, padding, activation })
    }

    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Returns the number of weights, bias excluded.
    pub fn weight_elements(&self) -> usize {
        self.weight.len()
    }

    pub fn output_shape(&self, input: FeatureShape) -> FeatureShape {
        let pad = self.padding.resolve(input.height, input.width, self.kernel, self.stride);
        window_output_shape(input, pad, self.kernel, self.stride, self.out_channels)
    }

    /// Convolves NHWC images into `output`, which must hold exactly
    /// `output_shape(shape).elements()` values. `scratch` holds the im2col
    /// rows of one block and grows as needed.
    ///
    /// # Panics
    ///
    /// Panics if `input` or `output` has the wrong length for `shape`.
    pub fn forward(
        &self,
        input: &[f32],
        shape: FeatureShape,
        output: &mut [f32],
        mode: OutputMode,
        scratch: &mut Vec<f32>,
        parallelism: Parallelism,
    ) {
        let out_shape = self.output_shape(shape);
        assert_eq!(output.len(), out_shape.elements(), "output length for {out_shape:?}");
        self.forward_rows(input, shape, 0, output, mode, scratch, parallelism);
    }

    /// Computes output rows `first_row..` (counted over all images, see
    /// [`FeatureShape`]) into `output`, a whole number of output rows.
    /// `input` contains all the images, of which only the rows under those
    /// outputs are read.
    ///
    /// # Panics
    ///
    /// Panics if `input` has the wrong length for `shape`, or `output` is not
    /// a whole number of rows or runs past the last row.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_rows(
        &self,
        input: &[f32],
        shape: FeatureShape,
        first_row: usize,
        output: &mut [f32],
        mode: OutputMode,
        scratch: &mut Vec<f32>,
        parallelism: Parallelism,
    ) {
        assert_eq!(shape.channels, self.in_channels, "input channels");
        assert_eq!(input.len(), shape.elements(), "input length for {shape:?}");
        let out_shape = self.output_shape(shape);
        let row_len = out_shape.width * self.out_channels;
        assert_eq!(output.len() % row_len, 0, "output is not a whole number of rows");
        assert!(first_row * row_len + output.len() <= out_shape.elements(), "output rows past the end");

        let pad = self.padding.resolve(shape.height, shape.width, self.kernel, self.stride);
        let first_pixel = first_row * out_shape.width;
        let pixels = output.len() / self.out_channels;
        log::trace!("conv {shape:?} -> {out_shape:?}: pixels {first_pixel}.. ({pixels})");
        let threads = rayon::current_num_threads();
        let pixel_cost = self.lhs_row_len(pad) + self.out_channels;
        let target = (BLOCK_ELEMENTS / pixel_cost).max(MIN_BLOCK_PIXELS);

        let job = ConvJob { layer: self, input, shape, out_shape, pad, mode };
        let parallel = parallelism == Parallelism::Rayon && threads > 1;
        if parallel && pixels >= 2 * threads * MIN_BLOCK_PIXELS {
            // At least two blocks per thread so that work stealing can
            // balance blocks of unequal cost.
            let block_pixels = balanced_block(pixels, target.min(pixels.div_ceil(2 * threads)));
            output.par_chunks_mut(block_pixels * self.out_channels).enumerate().for_each_init(
                Vec::new,
                |scratch, (block, out_block)| {
                    job.run_block(first_pixel + block * block_pixels, out_block, scratch, gemm::Parallelism::None)
                },
            );
        } else if parallel {
            // Too few pixels to split into blocks; gemm splits the output
            // columns between threads instead.
            job.run_block(first_pixel, output, scratch, gemm::Parallelism::Rayon(threads));
        } else {
            let block_pixels = balanced_block(pixels, target);
            for (block, out_block) in output.chunks_mut(block_pixels * self.out_channels).enumerate() {
                job.run_block(first_pixel + block * block_pixels, out_block, scratch, gemm::Parallelism::None);
            }
        }
    }

    /// Returns whether the input pixels are the matrix rows as they are,
    /// with no im2col copy.
    fn is_pointwise(&self, pad: Padding) -> bool {
        self.kernel == 1 && self.stride == 1 && pad == Padding { top: 0, bottom: 0, left: 0, right: 0 }
    }

    fn lhs_row_len(&self, pad: Padding) -> usize {
        if self.is_pointwise(pad) {
            self.in_channels
        } else {
            self.kernel * self.kernel * self.in_channels
        }
    }
}

/// One call of [`ConvBn::forward`], shared by the blocks it splits into.
struct ConvJob<'a> {
    layer: &'a ConvBn,
    input: &'a [f32],
    shape: FeatureShape,
    out_shape: FeatureShape,
    pad: Padding,
    mode: OutputMode,
}

impl ConvJob<'_> {
    /// Computes output pixels `first_pixel..` into `out_block`: im2col if
    /// needed, one `gemm` call, then bias and activation.
    fn run_block(
        &self,
        first_pixel: usize,
        out_block: &mut [f32],
        scratch: &mut Vec<f32>,
        parallelism: gemm::Parallelism,
    ) {
        let layer = self.layer;
        let rows = out_block.len() / layer.out_channels;
        let row_len = layer.lhs_row_len(self.pad);

        let lhs: &[f32] = if layer.is_pointwise(self.pad) {
            &self.input[first_pixel * row_len..(first_pixel + rows) * row_len]
        } else {
            if scratch.len() < rows * row_len {
                scratch.resize(rows * row_len, 0.0);
            }
            let patches = &mut scratch[..rows * row_len];
            self.im2col(first_pixel, patches);
            patches
        };

        let accumulate = self.mode == OutputMode::Accumulate;
        matmul(out_block, lhs, &layer.weight, rows, layer.out_channels, row_len, accumulate, parallelism);
        layer.activation.add_bias_and_apply(out_block, &layer.bias);
    }

    /// Writes the receptive field of output pixels `first_pixel..` into
    /// `patches`, one row of `kernel * kernel * in_channels` values per
    /// pixel, zeros where the window reads padding.
    fn im2col(&self, first_pixel: usize, patches: &mut [f32]) {
        let layer = self.layer;
        let (k, s, c) = (layer.kernel, layer.stride, layer.in_channels);
        let row_len = k * k * c;

        let out_pixels = self.out_shape.height * self.out_shape.width;
        for (offset, patch) in patches.chunks_exact_mut(row_len).enumerate() {
            let pixel = first_pixel + offset;
            let (image, pixel) = (pixel / out_pixels, pixel % out_pixels);
            let input = &self.input[image * self.shape.image_elements()..][..self.shape.image_elements()];
            let (oy, ox) = (pixel / self.out_shape.width, pixel % self.out_shape.width);
            let rows = valid_taps(oy, s, self.pad.top, k, self.shape.height);
            let cols = valid_taps(ox, s, self.pad.left, k, self.shape.width);

            for (ky, patch_row) in patch.chunks_exact_mut(k * c).enumerate() {
                if !rows.contains(&ky) || cols.is_empty() {
                    patch_row.fill(0.0);
                    continue;
                }
                // The taps kx in `cols` are adjacent pixels of one input row,
                // so they are one contiguous run in HWC.
                let iy = oy * s + ky - self.pad.top;
                let ix = ox * s + cols.start - self.pad.left;
                let run = &input[(iy * self.shape.width + ix) * c..][..cols.len() * c];
                patch_row[..cols.start * c].fill(0.0);
                patch_row[cols.start * c..cols.end * c].copy_from_slice(run);
                patch_row[cols.end * c..].fill(0.0);
            }
        }
    }
}

/// Computes `output (rows x n) = [output +] lhs (rows x k) * rhs (k x n)`,
/// all three row-major and dense.
#[allow(clippy::too_many_arguments)]
fn matmul(
    output: &mut [f32],
    lhs: &[f32],
    rhs: &[f32],
    rows: usize,
    n: usize,
    k: usize,
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    assert_eq!(output.len(), rows * n, "matmul output length");
    assert_eq!(lhs.len(), rows * k, "matmul lhs length");
    assert_eq!(rhs.len(), k * n, "matmul rhs length");

    // SAFETY: the asserts above keep every element that gemm reads or writes
    // inside the three slices, and `output` is a unique borrow, so it aliases
    // neither input. gemm computes dst = alpha * dst + beta * lhs * rhs and
    // does not read dst when `read_dst` is false.
    unsafe {
        gemm::gemm(
            rows,
            n,
            k,
            output.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            1,
            n as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// A depthwise convolution (one `k x k` filter per channel) with folded
/// BatchNorm bias and a fused activation.
#[derive(Debug, Clone)]
pub struct DepthwiseConv2d {
    /// `(kernel, kernel, channels)`: the taps of all channels at one kernel
    /// position are adjacent, like the channels of an HWC pixel.
    weight: Vec<f32>,
    bias: Vec<f32>,
    channels: usize,
    kernel: usize,
    stride: usize,
    padding: PaddingMode,
    activation: Activation,
}

impl DepthwiseConv2d {
    /// Builds the layer from a folded PyTorch-layout `(channels, 1, k, k)`
    /// weight and its per-channel bias.
    pub fn new(
        weight: &[f32],
        channels: usize,
        kernel: usize,
        bias: Vec<f32>,
        stride: usize,
        padding: PaddingMode,
        activation: Activation,
    ) -> candle_core::Result<Self> {
        if weight.len() != channels * kernel * kernel {
            candle_core::bail!(
                "depthwise weight has {} values, expected ({channels}, 1, {kernel}, {kernel})",
                weight.len()
            );
        }
        if bias.len() != channels {
            candle_core::bail!("depthwise bias has {} values for {channels} channels", bias.len());
        }
        if kernel == 0 || kernel > MAX_DEPTHWISE_KERNEL {
            candle_core::bail!("depthwise kernel {kernel}x{kernel} is not supported (1 to {MAX_DEPTHWISE_KERNEL})");
        }
        if stride == 0 {
            candle_core::bail!("depthwise stride must be at least 1");
        }

        let taps = kernel * kernel;
        let mut reordered = vec![0f32; weight.len()];
        for c in 0..channels {
            for tap in 0..taps {
                reordered[tap * channels + c] = weight[c * taps + tap];
            }
        }
        Ok(Self { weight: reordered, bias, channels, kernel, stride, padding, activation })
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Returns the number of weights, bias excluded.
    pub fn weight_elements(&self) -> usize {
        self.weight.len()
    }

    /// Returns the kernel size, stride and top padding along the rows for an
    /// input of `shape`. Output row `y` reads input rows `y * stride - top`
    /// to `y * stride - top + kernel - 1`, clipped to the image.
    pub fn window_rows(&self, shape: FeatureShape) -> (usize, usize, usize) {
        let pad = self.padding.resolve(shape.height, shape.width, self.kernel, self.stride);
        (self.kernel, self.stride, pad.top)
    }

    pub fn output_shape(&self, input: FeatureShape) -> FeatureShape {
        let pad = self.padding.resolve(input.height, input.width, self.kernel, self.stride);
        window_output_shape(input, pad, self.kernel, self.stride, self.channels)
    }

    /// Convolves NHWC images into `output`, which must hold exactly
    /// `output_shape(shape).elements()` values.
    ///
    /// # Panics
    ///
    /// Panics if `input` or `output` has the wrong length for `shape`.
    pub fn forward(&self, input: &[f32], shape: FeatureShape, output: &mut [f32], parallelism: Parallelism) {
        let out_shape = self.output_shape(shape);
        assert_eq!(output.len(), out_shape.elements(), "output length for {out_shape:?}");
        self.forward_rows(input, shape, 0, output, parallelism);
    }

    /// Computes output rows `first_row..` (counted over all images, see
    /// [`FeatureShape`]) into `output`, a whole number of output rows.
    /// `input` contains all the images, of which only the rows under those
    /// outputs are read.
    ///
    /// # Panics
    ///
    /// Panics if `input` has the wrong length for `shape`, or `output` is not
    /// a whole number of rows or runs past the last row.
    pub fn forward_rows(
        &self,
        input: &[f32],
        shape: FeatureShape,
        first_row: usize,
        output: &mut [f32],
        parallelism: Parallelism,
    ) {
        assert_eq!(input.len(), shape.elements(), "input length for {shape:?}");
        self.run(InputRows::Images(input), shape, first_row, output, parallelism);
    }

    /// Like [`Self::forward_rows`] for one image whose input rows sit in
    /// `ring`, a ring of whole rows: row `r` of the image is in slot
    /// `r % (ring.len() / row length)`. The caller keeps every row that the
    /// requested output rows read in the ring.
    ///
    /// # Panics
    ///
    /// Panics if `shape` has more than one image, the ring is not a whole
    /// number of rows, or `output` is not a whole number of rows or runs
    /// past the last row.
    pub fn forward_rows_from_ring(
        &self,
        ring: &[f32],
        shape: FeatureShape,
        first_row: usize,
        output: &mut [f32],
        parallelism: Parallelism,
    ) {
        assert_eq!(shape.images, 1, "a ring holds rows of one image");
        let row_len = shape.width * shape.channels;
        assert!(!ring.is_empty(), "empty ring");
        assert_eq!(ring.len() % row_len, 0, "ring is not a whole number of rows");
        let slots = ring.len() / row_len;
        self.run(InputRows::Ring { data: ring, slots }, shape, first_row, output, parallelism);
    }

    fn run(
        &self,
        input: InputRows<'_>,
        shape: FeatureShape,
        first_row: usize,
        output: &mut [f32],
        parallelism: Parallelism,
    ) {
        assert_eq!(shape.channels, self.channels, "input channels");
        let out_shape = self.output_shape(shape);
        let row_len = out_shape.width * self.channels;
        assert_eq!(output.len() % row_len, 0, "output is not a whole number of rows");
        assert!(first_row * row_len + output.len() <= out_shape.elements(), "output rows past the end");

        let pad = self.padding.resolve(shape.height, shape.width, self.kernel, self.stride);
        let job = DepthwiseJob { layer: self, input, shape, out_shape, pad };
        match parallelism {
            Parallelism::Rayon => {
                output
                    .par_chunks_mut(row_len)
                    .enumerate()
                    .for_each(|(offset, row)| job.run_row(first_row + offset, row));
            }
            Parallelism::Sequential => {
                for (offset, row) in output.chunks_exact_mut(row_len).enumerate() {
                    job.run_row(first_row + offset, row);
                }
            }
        }
    }
}

/// The largest depthwise kernel, which bounds the input rows one output row
/// reads. The backbones use 3x3 and 5x5.
const MAX_DEPTHWISE_KERNEL: usize = 7;

/// The source of a depthwise convolution's input rows.
#[derive(Clone, Copy)]
enum InputRows<'a> {
    /// Whole NHWC images, one after another.
    Images(&'a [f32]),
    /// The rows of one image in a ring of `slots` rows: row `r` is at slot
    /// `r % slots`.
    Ring { data: &'a [f32], slots: usize },
}

/// One call of [`DepthwiseConv2d::forward`], shared by the rows it splits into.
struct DepthwiseJob<'a> {
    layer: &'a DepthwiseConv2d,
    input: InputRows<'a>,
    shape: FeatureShape,
    out_shape: FeatureShape,
    pad: Padding,
}

impl DepthwiseJob<'_> {
    /// Computes output row `row_index` (counted over all images) into
    /// `row`, with AVX2 and FMA where the CPU has them.
    fn run_row(&self, row_index: usize, row: &mut [f32]) {
        let layer = self.layer;
        let (image, oy) = (row_index / self.out_shape.height, row_index % self.out_shape.height);
        let taps_y = valid_taps(oy, layer.stride, self.pad.top, layer.kernel, self.shape.height);

        // The input rows under the window, looked up once per output row.
        let row_len = self.shape.width * self.shape.channels;
        let mut input_rows = [&[] as &[f32]; MAX_DEPTHWISE_KERNEL];
        for (slot, ky) in input_rows.iter_mut().zip(taps_y.clone()) {
            let iy = oy * layer.stride + ky - self.pad.top;
            *slot = match self.input {
                InputRows::Images(data) => &data[(image * self.shape.height + iy) * row_len..][..row_len],
                InputRows::Ring { data, slots } => &data[(iy % slots) * row_len..][..row_len],
            };
        }
        let window = Rows { rows: &input_rows[..taps_y.len()], first_tap: taps_y.start };

        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            unsafe { avx2::depthwise_row(self, &window, row) };
            return;
        }
        self.run_row_portable(&window, row, 0);
    }

    /// Computes channels `first_channel..` of one output row in plain Rust,
    /// which the compiler vectorises for the baseline target.
    fn run_row_portable(&self, window: &Rows<'_>, row: &mut [f32], first_channel: usize) {
        let channels = self.layer.channels;
        let mut channel = first_channel;
        while channel + PORTABLE_LANES <= channels {
            self.run_channel_block::<PORTABLE_LANES>(window, row, channel);
            channel += PORTABLE_LANES;
        }
        while channel < channels {
            self.run_channel_block::<1>(window, row, channel);
            channel += 1;
        }
    }

    /// Computes channels `channel..channel + LANES` of one output row,
    /// accumulating each pixel over the valid taps of its window.
    fn run_channel_block<const LANES: usize>(&self, window: &Rows<'_>, out_row: &mut [f32], channel: usize) {
        let layer = self.layer;
        let (channels, kernel, stride) = (layer.channels, layer.kernel, layer.stride);
        let bias: [f32; LANES] = layer.bias[channel..channel + LANES].try_into().expect("LANES values");

        for ox in 0..self.out_shape.width {
            let taps_x = valid_taps(ox, stride, self.pad.left, kernel, self.shape.width);
            let mut acc = bias;

            for (offset, input_row) in window.rows.iter().enumerate() {
                let ky = window.first_tap + offset;
                for kx in taps_x.clone() {
                    let ix = ox * stride + kx - self.pad.left;
                    let x = &input_row[ix * channels + channel..][..LANES];
                    let w = &layer.weight[(ky * kernel + kx) * channels + channel..][..LANES];
                    for lane in 0..LANES {
                        acc[lane] += x[lane] * w[lane];
                    }
                }
            }

            let out = &mut out_row[ox * channels + channel..][..LANES];
            for lane in 0..LANES {
                out[lane] = layer.activation.apply(acc[lane]);
            }
        }
    }
}

/// The input rows that one output row of a depthwise convolution reads:
/// `rows[i]` is the row under kernel row `first_tap + i`.
struct Rows<'a> {
    rows: &'a [&'a [f32]],
    first_tap: usize,
}

/// Channels per block of the portable depthwise kernel.
const PORTABLE_LANES: usize = 8;

/// Max pooling over one HWC image. Padding never wins the maximum, as with
/// PyTorch's implicit `-inf` padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2d {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl MaxPool2d {
    pub fn output_shape(&self, input: FeatureShape) -> FeatureShape {
        window_output_shape(input, self.pad(), self.kernel, self.stride, input.channels)
    }

    fn pad(&self) -> Padding {
        let p = self.padding;
        Padding { top: p, bottom: p, left: p, right: p }
    }

    /// Pools NHWC images into `output`, which must hold exactly
    /// `output_shape(shape).elements()` values.
    ///
    /// # Panics
    ///
    /// Panics if `input` or `output` has the wrong length for `shape`, or if
    /// the padding is so wide that a window covers no input pixel.
    pub fn forward(&self, input: &[f32], shape: FeatureShape, output: &mut [f32]) {
        assert_eq!(input.len(), shape.elements(), "input length for {shape:?}");
        let out_shape = self.output_shape(shape);
        assert_eq!(output.len(), out_shape.elements(), "output length for {out_shape:?}");

        let c = shape.channels;
        let out_pixels = out_shape.height * out_shape.width;
        for (pixel, out) in output.chunks_exact_mut(c).enumerate() {
            let (image, pixel) = (pixel / out_pixels, pixel % out_pixels);
            let input = &input[image * shape.image_elements()..][..shape.image_elements()];
            let (oy, ox) = (pixel / out_shape.width, pixel % out_shape.width);
            let rows = valid_taps(oy, self.stride, self.padding, self.kernel, shape.height);
            let cols = valid_taps(ox, self.stride, self.padding, self.kernel, shape.width);
            assert!(!rows.is_empty(), "max pool window at ({oy}, {ox}) lies in the padding");
            assert!(!cols.is_empty(), "max pool window at ({oy}, {ox}) lies in the padding");

            let at = |ky: usize, kx: usize| {
                let iy = oy * self.stride + ky - self.padding;
                let ix = ox * self.stride + kx - self.padding;
                &input[(iy * shape.width + ix) * c..][..c]
            };
            out.copy_from_slice(at(rows.start, cols.start));
            for ky in rows.clone() {
                for kx in cols.clone() {
                    for (o, &v) in out.iter_mut().zip(at(ky, kx)) {
                        if v > *o {
                            *o = v;
                        }
                    }
                }
            }
        }
    }
}

/// Copies NCHW images (one plane per channel) into NHWC order.
pub fn chw_to_hwc(input: &[f32], shape: FeatureShape, output: &mut [f32]) {
    assert_eq!(input.len(), shape.elements(), "input length for {shape:?}");
    assert_eq!(output.len(), shape.elements(), "output length for {shape:?}");
    let image_len = shape.image_elements();
    for (input, output) in input.chunks_exact(image_len).zip(output.chunks_exact_mut(image_len)) {
        let pixels = shape.height * shape.width;
        for (c, plane) in input.chunks_exact(pixels).enumerate() {
            for (p, &v) in plane.iter().enumerate() {
                output[p * shape.channels + c] = v;
            }
        }
    }
}

/// Copies NHWC images into NCHW order.
pub fn hwc_to_chw(input: &[f32], shape: FeatureShape, output: &mut [f32]) {
    assert_eq!(input.len(), shape.elements(), "input length for {shape:?}");
    assert_eq!(output.len(), shape.elements(), "output length for {shape:?}");
    let image_len = shape.image_elements();
    for (input, output) in input.chunks_exact(image_len).zip(output.chunks_exact_mut(image_len)) {
        let pixels = shape.height * shape.width;
        for (p, pixel) in input.chunks_exact(shape.channels).enumerate() {
            for (c, &v) in pixel.iter().enumerate() {
                output[c * pixels + p] = v;
            }
        }
    }
}

/// Global max pooling over the spatial dimensions: `(N, C, H, W)` to `(N, C)`.
pub fn global_max_pool(x: &Tensor) -> candle_core::Result<Tensor> {
    x.flatten_from(2)?.max(2)
}

/// Global average pooling over the spatial dimensions: `(N, C, H, W)` to `(N, C)`.
pub fn global_avg_pool(x: &Tensor) -> candle_core::Result<Tensor> {
    x.flatten_from(2)?.mean(2)
}

/// Kernels written with AVX2 and FMA intrinsics, for the loops where the
/// compiler's own vectorisation of the portable code falls short (it splits
/// a 32-lane accumulator array into mixed 8-, 4- and 2-lane pieces).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::{valid_taps, Activation, DepthwiseJob, Rows};

    /// `f32` lanes per AVX register.
    const WIDTH: usize = 8;

    /// Computes one output row of a depthwise convolution into `row` from
    /// the input rows in `window`: channels in blocks of 32 and then 8, any
    /// remainder in the portable kernel. Each block's taps and its part of
    /// the input rows stay in the L1 cache, and the whole input rows stay in
    /// L2 for the next block.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn depthwise_row(job: &DepthwiseJob<'_>, window: &Rows<'_>, row: &mut [f32]) {
        let channels = job.layer.channels;
        let mut channel = 0;
        while channel + 4 * WIDTH <= channels {
            depthwise_channel_block::<4>(job, window, row, channel);
            channel += 4 * WIDTH;
        }
        while channel + WIDTH <= channels {
            depthwise_channel_block::<1>(job, window, row, channel);
            channel += WIDTH;
        }
        if channel < channels {
            job.run_row_portable(window, row, channel);
        }
    }

    /// Computes channels `channel..channel + 8 * V` of one output row, with
    /// one accumulator register per 8 channels.
    #[target_feature(enable = "avx2,fma")]
    fn depthwise_channel_block<const V: usize>(
        job: &DepthwiseJob<'_>,
        window: &Rows<'_>,
        out_row: &mut [f32],
        channel: usize,
    ) {
        let layer = job.layer;
        let (channels, kernel, stride) = (layer.channels, layer.kernel, layer.stride);
        let width = job.shape.width;
        assert!(channel + V * WIDTH <= channels, "channel block out of range");
        assert!(window.rows.iter().all(|row| row.len() == width * channels), "input row length");
        assert!(window.first_tap + window.rows.len() <= kernel, "input rows past the kernel");
        assert_eq!(layer.weight.len(), kernel * kernel * channels, "weight length");
        assert_eq!(out_row.len(), job.out_shape.width * channels, "output row length");

        let bias = &layer.bias[channel..channel + V * WIDTH];
        // SAFETY: `bias` has V * WIDTH values, so each load reads inside it.
        let bias: [__m256; V] = std::array::from_fn(|v| unsafe { _mm256_loadu_ps(bias.as_ptr().add(v * WIDTH)) });

        // Two neighbouring pixels whose windows have the same valid taps
        // share each load of the weights.
        let out_width = job.out_shape.width;
        let mut ox = 0;
        while ox < out_width {
            let taps_x = valid_taps(ox, stride, job.pad.left, kernel, width);
            if ox + 1 < out_width && valid_taps(ox + 1, stride, job.pad.left, kernel, width) == taps_x {
                depthwise_pixels::<V, 2>(job, window, out_row, channel, ox, taps_x, bias);
                ox += 2;
            } else {
                depthwise_pixels::<V, 1>(job, window, out_row, channel, ox, taps_x, bias);
                ox += 1;
            }
        }
    }

    /// Computes channels `channel..channel + 8 * V` of the `P` output pixels
    /// from `ox` on, whose windows all have the valid taps `taps_x`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn depthwise_pixels<const V: usize, const P: usize>(
        job: &DepthwiseJob<'_>,
        window: &Rows<'_>,
        out_row: &mut [f32],
        channel: usize,
        ox: usize,
        taps_x: Range<usize>,
        bias: [__m256; V],
    ) {
        let layer = job.layer;
        let (channels, kernel, stride) = (layer.channels, layer.kernel, layer.stride);
        let mut acc = [bias; P];

        for (offset, input_row) in window.rows.iter().enumerate() {
            // `valid_taps` keeps ix < width for each of the P pixels (the
            // caller checked that they share `taps_x`), and the asserts in
            // `depthwise_channel_block` keep each input row at width *
            // channels values, ky < kernel and channel + V * WIDTH <=
            // channels, so every load reads inside `input_row` and `weight`.
            let ky = window.first_tap + offset;
            let taps = layer.weight[ky * kernel * channels + channel..].as_ptr();
            let pixels = input_row[channel..].as_ptr();
            for kx in taps_x.clone() {
                let ix = ox * stride + kx - job.pad.left;
                // SAFETY: see above.
                let weights: [__m256; V] =
                    std::array::from_fn(|v| unsafe { _mm256_loadu_ps(taps.add(kx * channels + v * WIDTH)) });
                for (p, acc) in acc.iter_mut().enumerate() {
                    for (v, acc) in acc.iter_mut().enumerate() {
                        // SAFETY: see above.
                        let x = unsafe { _mm256_loadu_ps(pixels.add((ix + p * stride) * channels + v * WIDTH)) };
                        *acc = _mm256_fmadd_ps(x, weights[v], *acc);
                    }
                }
            }
        }

        let zero = _mm256_setzero_ps();
        let six = _mm256_set1_ps(6.0);
        for (p, acc) in acc.into_iter().enumerate() {
            let out = &mut out_row[(ox + p) * channels + channel..][..V * WIDTH];
            for (v, acc) in acc.into_iter().enumerate() {
                // max(0, x) and min(6, x) return x when x is NaN, so NaN
                // stays NaN as in the portable kernel.
                let value = match layer.activation {
                    Activation::None => acc,
                    Activation::Relu => _mm256_max_ps(zero, acc),
                    Activation::Relu6 => _mm256_min_ps(six, _mm256_max_ps(zero, acc)),
                };
                // SAFETY: `out` has V * WIDTH values.
                unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(v * WIDTH), value) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    /// Deterministic values in [-1, 1) from a seed, so failures reproduce.
    fn values(seed: u64, count: usize) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
        (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn nchw_tensor(data: &[f32], batch: usize, shape: FeatureShape) -> Tensor {
        Tensor::from_slice(data, (batch, shape.channels, shape.height, shape.width), &Device::Cpu).unwrap()
    }

    /// Pads the two spatial dimensions of an NCHW tensor with zeros.
    fn pad_nchw(x: &Tensor, pad: Padding) -> Tensor {
        x.pad_with_zeros(2, pad.top, pad.bottom).unwrap().pad_with_zeros(3, pad.left, pad.right).unwrap()
    }

    fn activate(x: Tensor, activation: Activation) -> Tensor {
        match activation {
            Activation::None => x,
            Activation::Relu => x.relu().unwrap(),
            Activation::Relu6 => x.clamp(0f32, 6f32).unwrap(),
        }
    }

    /// Runs `shape` through candle's conv2d (NCHW), the reference for the
    /// kernels here, and returns the result in HWC order.
    #[allow(clippy::too_many_arguments)]
    fn candle_conv(
        input_hwc: &[f32],
        shape: FeatureShape,
        weight: &[f32],
        weight_shape: [usize; 4],
        bias: &[f32],
        stride: usize,
        pad: Padding,
        groups: usize,
        activation: Activation,
    ) -> Vec<f32> {
        let mut chw = vec![0f32; input_hwc.len()];
        hwc_to_chw(input_hwc, shape, &mut chw);
        let x = pad_nchw(&nchw_tensor(&chw, 1, shape), pad);
        let w = Tensor::from_slice(weight, weight_shape.to_vec(), &Device::Cpu).unwrap();
        let b = Tensor::from_slice(bias, (1, weight_shape[0], 1, 1), &Device::Cpu).unwrap();
        let y = activate(x.conv2d(&w, 0, stride, 1, groups).unwrap().broadcast_add(&b).unwrap(), activation);

        let (_, c, h, w) = y.dims4().unwrap();
        let out_shape = FeatureShape::image(h, w, c);
        let y = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let mut hwc = vec![0f32; y.len()];
        chw_to_hwc(&y, out_shape, &mut hwc);
        hwc
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len(), "lengths differ");
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn dense_conv_matches_candle() {
        // (kernel, stride, padding, in, out, height, width): the stems of
        // both backbones, a ResNet 3x3, the 1x1 stride-2 shortcut, and a
        // pointwise layer with more rows than one gemm block.
        let cases = [
            (3, 2, PaddingMode::TfSame, 3, 32, 17, 16),
            (7, 2, PaddingMode::Symmetric(3), 3, 16, 15, 18),
            (3, 1, PaddingMode::Symmetric(1), 8, 12, 9, 7),
            (3, 2, PaddingMode::Symmetric(1), 8, 12, 9, 10),
            (1, 2, PaddingMode::Symmetric(0), 16, 24, 9, 9),
            (1, 1, PaddingMode::TfSame, 40, 48, 60, 50),
        ];
        for (seed, (kernel, stride, padding, cin, cout, height, width)) in cases.into_iter().enumerate() {
            let seed = seed as u64;
            let shape = FeatureShape::image(height, width, cin);
            let input = values(seed, shape.elements());
            let weight = values(seed + 100, cout * cin * kernel * kernel);
            let bias = values(seed + 200, cout);
            let wshape = [cout, cin, kernel, kernel];
            let layer = ConvBn::new(&weight, wshape, bias.clone(), stride, padding, Activation::Relu6).unwrap();
            let pad = padding.resolve(height, width, kernel, stride);
            let expected = candle_conv(&input, shape, &weight, wshape, &bias, stride, pad, 1, Activation::Relu6);

            for parallelism in [Parallelism::Sequential, Parallelism::Rayon] {
                let mut output = vec![f32::NAN; layer.output_shape(shape).elements()];
                let mut scratch = vec![f32::NAN; 7];
                layer.forward(&input, shape, &mut output, OutputMode::Overwrite, &mut scratch, parallelism);
                let diff = max_abs_diff(&output, &expected);
                assert!(diff < 1e-4, "k={kernel} s={stride} {padding:?} {parallelism:?}: max diff {diff}");
            }
        }
    }

    #[test]
    fn dense_conv_accumulates_residual() {
        let shape = FeatureShape::image(5, 6, 8);
        let input = values(1, shape.elements());
        let weight = values(2, 8 * 8);
        let bias = values(3, 8);
        let shortcut = values(4, shape.elements());
        let layer = ConvBn::new(&weight, [8, 8, 1, 1], bias.clone(), 1, PaddingMode::TfSame, Activation::Relu).unwrap();

        let mut output = shortcut.clone();
        layer.forward(&input, shape, &mut output, OutputMode::Accumulate, &mut Vec::new(), Parallelism::Sequential);

        let conv = candle_conv(
            &input,
            shape,
            &weight,
            [8, 8, 1, 1],
            &bias,
            1,
            PaddingMode::TfSame.resolve(5, 6, 1, 1),
            1,
            Activation::None,
        );
        let expected: Vec<f32> = conv.iter().zip(&shortcut).map(|(c, s)| relu(c + s)).collect();
        let diff = max_abs_diff(&output, &expected);
        assert!(diff < 1e-5, "max diff {diff}");
    }

    #[test]
    fn depthwise_matches_grouped_conv() {
        // Channel counts that exercise the 32-lane, 8-lane and single-lane
        // blocks, and an input of one pixel.
        for (kernel, stride, size, channels) in
            [(3, 1, 9, 4), (3, 2, 10, 45), (5, 1, 7, 72), (5, 2, 11, 40), (3, 2, 1, 33)]
        {
            let shape = FeatureShape::image(size, size + 1, channels);
            let input = values(kernel as u64, shape.elements());
            let weight = values(7, channels * kernel * kernel);
            let bias = values(8, channels);
            let layer = DepthwiseConv2d::new(
                &weight,
                channels,
                kernel,
                bias.clone(),
                stride,
                PaddingMode::TfSame,
                Activation::Relu6,
            )
            .unwrap();
            let pad = PaddingMode::TfSame.resolve(shape.height, shape.width, kernel, stride);
            let wshape = [channels, 1, kernel, kernel];
            let expected = candle_conv(&input, shape, &weight, wshape, &bias, stride, pad, channels, Activation::Relu6);

            for parallelism in [Parallelism::Sequential, Parallelism::Rayon] {
                let mut output = vec![f32::NAN; layer.output_shape(shape).elements()];
                layer.forward(&input, shape, &mut output, parallelism);
                let diff = max_abs_diff(&output, &expected);
                assert!(diff < 1e-5, "k={kernel} s={stride} size={size} c={channels} {parallelism:?}: max diff {diff}");
            }

            // The portable kernel, which `forward` skips on CPUs with AVX2.
            let out_shape = layer.output_shape(shape);
            let job = DepthwiseJob { layer: &layer, input: InputRows::Images(&input), shape, out_shape, pad };
            let mut output = vec![f32::NAN; out_shape.elements()];
            let row_len = shape.width * channels;
            for (oy, row) in output.chunks_exact_mut(out_shape.width * channels).enumerate() {
                let taps = valid_taps(oy, stride, pad.top, kernel, shape.height);
                let rows: Vec<&[f32]> =
                    taps.clone().map(|ky| &input[(oy * stride + ky - pad.top) * row_len..][..row_len]).collect();
                job.run_row_portable(&Rows { rows: &rows, first_tap: taps.start }, row, 0);
            }
            let diff = max_abs_diff(&output, &expected);
            assert!(diff < 1e-5, "portable k={kernel} s={stride} size={size} c={channels}: max diff {diff}");
        }
    }

    /// Runs `run` on two images together and on each alone, and checks
    /// that the results agree.
    fn assert_images_independent(shape: FeatureShape, out_len: usize, run: impl Fn(&[f32], FeatureShape, &mut [f32])) {
        let two = shape.with_images(2);
        let input = values(11, two.elements());
        let mut together = vec![f32::NAN; 2 * out_len];
        run(&input, two, &mut together);

        for (image, expected) in input.chunks_exact(shape.elements()).zip(together.chunks_exact(out_len)) {
            let mut alone = vec![f32::NAN; out_len];
            run(image, shape, &mut alone);
            assert_eq!(alone, expected, "{shape:?}");
        }
    }

    #[test]
    fn kernels_keep_images_apart() {
        let shape = FeatureShape::image(9, 8, 16);
        for (kernel, stride, padding) in
            [(3, 2, PaddingMode::TfSame), (1, 2, PaddingMode::Symmetric(0)), (3, 1, PaddingMode::Symmetric(1))]
        {
            let weight = values(12, 8 * 16 * kernel * kernel);
            let conv = ConvBn::new(&weight, [8, 16, kernel, kernel], values(13, 8), stride, padding, Activation::Relu)
                .unwrap();
            let out_len = conv.output_shape(shape).elements();
            assert_images_independent(shape, out_len, |input, shape, output| {
                conv.forward(input, shape, output, OutputMode::Overwrite, &mut Vec::new(), Parallelism::Sequential)
            });
        }

        let depthwise = DepthwiseConv2d::new(
            &values(14, 16 * 25),
            16,
            5,
            values(15, 16),
            2,
            PaddingMode::TfSame,
            Activation::Relu6,
        )
        .unwrap();
        let out_len = depthwise.output_shape(shape).elements();
        assert_images_independent(shape, out_len, |input, shape, output| {
            depthwise.forward(input, shape, output, Parallelism::Sequential)
        });

        let pool = MaxPool2d { kernel: 3, stride: 2, padding: 1 };
        assert_images_independent(shape, pool.output_shape(shape).elements(), |input, shape, output| {
            pool.forward(input, shape, output)
        });
    }

    #[test]
    fn depthwise_reads_rows_from_ring() {
        let shape = FeatureShape::image(11, 6, 40);
        let input = values(16, shape.elements());
        let layer =
            DepthwiseConv2d::new(&values(17, 40 * 9), 40, 3, values(18, 40), 2, PaddingMode::TfSame, Activation::Relu6)
                .unwrap();
        let out_shape = layer.output_shape(shape);
        let mut expected = vec![0f32; out_shape.elements()];
        layer.forward(&input, shape, &mut expected, Parallelism::Sequential);

        // A ring of `kernel` rows contains the window of one output row.
        let (kernel, stride, top) = layer.window_rows(shape);
        assert_eq!((kernel, stride, top), (3, 2, 1));
        let (row_len, out_row_len) = (shape.width * shape.channels, out_shape.width * out_shape.channels);
        let mut ring = vec![f32::NAN; kernel * row_len];
        for (oy, expected_row) in expected.chunks_exact(out_row_len).enumerate() {
            for iy in (oy * stride).saturating_sub(top)..(oy * stride + kernel - top).min(shape.height) {
                ring[(iy % kernel) * row_len..][..row_len].copy_from_slice(&input[iy * row_len..][..row_len]);
            }
            let mut row = vec![f32::NAN; out_row_len];
            layer.forward_rows_from_ring(&ring, shape, oy, &mut row, Parallelism::Sequential);
            assert_eq!(row, expected_row, "output row {oy}");
        }
    }

    #[test]
    fn max_pool_ignores_padding() {
        // All inputs negative: a zero from the padding would win everywhere
        // on the border.
        let shape = FeatureShape::image(7, 6, 3);
        let input: Vec<f32> = values(5, shape.elements()).iter().map(|v| v - 2.0).collect();
        let pool = MaxPool2d { kernel: 3, stride: 2, padding: 1 };
        let out_shape = pool.output_shape(shape);
        assert_eq!(out_shape, FeatureShape::image(4, 3, 3));

        let mut output = vec![f32::NAN; out_shape.elements()];
        pool.forward(&input, shape, &mut output);

        let mut chw = vec![0f32; input.len()];
        hwc_to_chw(&input, shape, &mut chw);
        let x = nchw_tensor(&chw, 1, shape);
        let lowest = Tensor::full(f32::MIN, (1, 3, 9, 8), &Device::Cpu).unwrap();
        let padded = lowest.slice_assign(&[0..1, 0..3, 1..8, 1..7], &x).unwrap();
        let pooled = padded.max_pool2d_with_stride(3, 2).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let mut expected = vec![0f32; pooled.len()];
        chw_to_hwc(&pooled, out_shape, &mut expected);
        assert_eq!(output, expected);
    }

    #[test]
    fn layout_round_trip() {
        let shape = FeatureShape::image(3, 4, 5);
        let chw = values(9, shape.elements());
        let mut hwc = vec![0f32; chw.len()];
        chw_to_hwc(&chw, shape, &mut hwc);
        // Pixel (1, 2) of channel 3.
        assert_eq!(hwc[(4 + 2) * 5 + 3], chw[3 * 12 + 4 + 2]);

        let mut back = vec![0f32; chw.len()];
        hwc_to_chw(&hwc, shape, &mut back);
        assert_eq!(back, chw);
    }

    #[test]
    fn activations_keep_nan() {
        let mut rows = vec![f32::NAN, -1.0, 7.0, 3.0];
        Activation::Relu6.add_bias_and_apply(&mut rows, &[0.0, 0.0]);
        assert!(rows[0].is_nan());
        assert_eq!(&rows[1..], &[0.0, 6.0, 3.0]);

        let mut rows = vec![f32::NAN, -1.0];
        Activation::Relu.add_bias_and_apply(&mut rows, &[0.5, 0.5]);
        assert!(rows[0].is_nan());
        assert_eq!(rows[1], 0.0);
    }

    #[test]
    fn tf_same_padding_is_asymmetric_at_stride_two() {
        let pad = PaddingMode::TfSame.resolve(224, 224, 3, 2);
        assert_eq!(pad, Padding { top: 0, bottom: 1, left: 0, right: 1 });

        let pad = PaddingMode::TfSame.resolve(112, 112, 5, 1);
        assert_eq!(pad, Padding { top: 2, bottom: 2, left: 2, right: 2 });

        let pad = PaddingMode::TfSame.resolve(15, 15, 5, 2);
        assert_eq!(pad, Padding { top: 2, bottom: 2, left: 2, right: 2 });
    }

    #[test]
    fn valid_taps_clip_at_borders() {
        // 3-wide kernel, stride 2, one pixel of padding before, input of 5.
        assert_eq!(valid_taps(0, 2, 1, 3, 5), 1..3);
        assert_eq!(valid_taps(1, 2, 1, 3, 5), 0..3);
        assert_eq!(valid_taps(2, 2, 1, 3, 5), 0..2);
        // A window entirely in the padding has no taps.
        assert!(valid_taps(0, 1, 4, 3, 5).is_empty());
    }

    #[test]
    fn folded_batch_norm_matches_unfolded() {
        let weight = [1.0f32, -2.0, 0.5, 3.0];
        let gamma = [2.0f32, 0.5];
        let beta = [0.1f32, -0.2];
        let mean = [0.3f32, -0.4];
        let var = [4.0f32, 0.25];
        let bn = BatchNormParams { gamma: &gamma, beta: &beta, running_mean: &mean, running_var: &var, eps: 0.0 };
        let (w, b) = fold_batch_norm(&weight, None, 2, &bn);

        // Channel 0 applied to input (1, 1): conv = -1, bn = 2 * (-1 - 0.3) / 2 + 0.1.
        let conv0 = weight[0] + weight[1];
        let folded0 = w[0] + w[1] + b[0];
        assert!((folded0 - (2.0 * (conv0 - 0.3) / 2.0 + 0.1)).abs() < 1e-6);

        let conv1 = weight[2] + weight[3];
        let folded1 = w[2] + w[3] + b[1];
        assert!((folded1 - (0.5 * (conv1 + 0.4) / 0.5 - 0.2)).abs() < 1e-6);
    }

    #[test]
    fn global_pools_reduce_spatial_dims() {
        let x = Tensor::arange(0f32, 24.0, &Device::Cpu).unwrap().reshape((1, 2, 3, 4)).unwrap();
        let max = global_max_pool(&x).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(max, vec![vec![11.0, 23.0]]);
        let mean = global_avg_pool(&x).unwrap().to_dtype(DType::F32).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(mean, vec![vec![5.5, 17.5]]);
    }
}
