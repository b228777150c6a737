//! Convolution building blocks shared by the backbones: BatchNorm-folded
//! convolutions, TensorFlow "same" padding, 1x1 convolutions as matrix
//! products, and a direct depthwise convolution kernel.
//!
//! candle's grouped convolution runs one convolution per group, which makes a
//! depthwise layer (one group per channel) hundreds of times slower than the
//! arithmetic needs, so [`DepthwiseConv2d`] is a custom CPU op.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

/// The activation that follows a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    None,
    Relu,
    Relu6,
}

impl Activation {
    fn apply(self, x: Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::None => Ok(x),
            Activation::Relu => x.relu(),
            Activation::Relu6 => x.clamp(0f32, 6f32),
        }
    }

    fn apply_scalar(self, x: f32) -> f32 {
        match self {
            Activation::None => x,
            Activation::Relu => x.max(0.0),
            Activation::Relu6 => x.clamp(0.0, 6.0),
        }
    }
}

/// Zero padding on each side of the two spatial dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Padding {
    pub top: usize,
    pub bottom: usize,
    pub left: usize,
    pub right: usize,
}

/// How a convolution pads its input.
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
                Padding {
                    top: pad_h / 2,
                    bottom: pad_h - pad_h / 2,
                    left: pad_w / 2,
                    right: pad_w - pad_w / 2,
                }
            }
        }
    }
}

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
#[derive(Debug, Clone)]
pub struct ConvBn {
    /// `(out, in, k, k)`; for 1x1 convolutions also kept as `(out, in)`.
    weight: Tensor,
    weight_2d: Option<Tensor>,
    /// `(1, out, 1, 1)`.
    bias: Tensor,
    kernel: usize,
    stride: usize,
    padding: PaddingMode,
    activation: Activation,
}

impl ConvBn {
    pub fn new(
        weight: Tensor,
        bias: Tensor,
        stride: usize,
        padding: PaddingMode,
        activation: Activation,
    ) -> candle_core::Result<Self> {
        let (out_channels, in_channels, kh, kw) = weight.dims4()?;
        if kh != kw {
            candle_core::bail!("only square kernels are supported, got {kh}x{kw}");
        }
        let weight_2d = if kh == 1 && stride == 1 {
            Some(weight.reshape((out_channels, in_channels))?)
        } else {
            None
        };
        let bias = bias.reshape((1, out_channels, 1, 1))?;
        Ok(Self { weight, weight_2d, bias, kernel: kh, stride, padding, activation })
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, channels, height, width) = x.dims4()?;

        let y = if let Some(w) = &self.weight_2d {
            // A 1x1 stride-1 convolution over NCHW is `W (out x in) @ X (in x HW)`
            // for each image, which needs no im2col copy at all.
            let out_channels = w.dim(0)?;
            let x = x.reshape((batch, channels, height * width))?;
            let y = w.broadcast_left(batch)?.matmul(&x)?;
            y.reshape((batch, out_channels, height, width))?
        } else {
            let pad = self.padding.resolve(height, width, self.kernel, self.stride);
            let padded = pad_spatial(x, pad)?;
            padded.conv2d(&self.weight, 0, self.stride, 1, 1)?
        };

        self.activation.apply(y.broadcast_add(&self.bias)?)
    }
}

/// Pads the two spatial dimensions of an NCHW tensor with zeros.
pub fn pad_spatial(x: &Tensor, pad: Padding) -> candle_core::Result<Tensor> {
    let mut x = x.clone();
    if pad.top + pad.bottom > 0 {
        x = x.pad_with_zeros(2, pad.top, pad.bottom)?;
    }
    if pad.left + pad.right > 0 {
        x = x.pad_with_zeros(3, pad.left, pad.right)?;
    }
    Ok(x)
}

/// A depthwise convolution (one `k x k` filter per channel) with folded
/// BatchNorm bias and a fused activation, computed directly on the CPU.
#[derive(Debug, Clone)]
pub struct DepthwiseConv2d {
    /// `channels * kernel * kernel` filter taps.
    weight: Vec<f32>,
    bias: Vec<f32>,
    kernel: usize,
    stride: usize,
    padding: PaddingMode,
    activation: Activation,
    /// The same weights as a `(channels, 1, k, k)` tensor, for devices other
    /// than the CPU, which fall back to candle's grouped convolution.
    weight_tensor: Tensor,
}

impl DepthwiseConv2d {
    pub fn new(
        weight: Tensor,
        bias: Vec<f32>,
        stride: usize,
        padding: PaddingMode,
        activation: Activation,
    ) -> candle_core::Result<Self> {
        let (channels, one, kh, kw) = weight.dims4()?;
        if one != 1 || kh != kw {
            candle_core::bail!("depthwise weight must be (C, 1, k, k), got {:?}", weight.dims());
        }
        if bias.len() != channels {
            candle_core::bail!("depthwise bias has {} values for {channels} channels", bias.len());
        }
        Ok(Self {
            weight: weight.flatten_all()?.to_vec1::<f32>()?,
            bias,
            kernel: kh,
            stride,
            padding,
            activation,
            weight_tensor: weight,
        })
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if x.device().is_cpu() {
            return x.apply_op1_no_bwd(self);
        }

        let (_, channels, height, width) = x.dims4()?;
        let pad = self.padding.resolve(height, width, self.kernel, self.stride);
        let y = pad_spatial(x, pad)?.conv2d(&self.weight_tensor, 0, self.stride, 1, channels)?;
        let bias = Tensor::from_slice(&self.bias, (1, channels, 1, 1), x.device())?;
        self.activation.apply(y.broadcast_add(&bias)?)
    }

    /// Convolves one channel plane into `out`, which holds `out_h * out_w` values.
    fn convolve_plane(&self, channel: usize, plane: &[f32], dims: PlaneDims, out: &mut [f32]) {
        let k = self.kernel;
        let s = self.stride;
        let taps = &self.weight[channel * k * k..(channel + 1) * k * k];
        out.fill(self.bias[channel]);

        for oy in 0..dims.out_h {
            let out_row = &mut out[oy * dims.out_w..(oy + 1) * dims.out_w];
            for ky in 0..k {
                let iy = (oy * s + ky) as isize - dims.pad.top as isize;
                if iy < 0 || iy >= dims.in_h as isize {
                    continue;
                }
                let in_row = &plane[iy as usize * dims.in_w..(iy as usize + 1) * dims.in_w];

                for kx in 0..k {
                    let tap = taps[ky * k + kx];
                    // Output columns whose input column `ox * s + kx - left`
                    // lies inside the row; the rest read zero padding.
                    if dims.in_w + dims.pad.left <= kx {
                        continue;
                    }
                    let first = dims.pad.left.saturating_sub(kx).div_ceil(s);
                    let last = ((dims.in_w + dims.pad.left - kx - 1) / s + 1).min(dims.out_w);
                    if first >= last {
                        continue;
                    }
                    let outputs = &mut out_row[first..last];
                    let inputs = &in_row[first * s + kx - dims.pad.left..];
                    if s == 1 {
                        for (o, i) in outputs.iter_mut().zip(inputs) {
                            *o += tap * i;
                        }
                    } else {
                        for (o, i) in outputs.iter_mut().zip(inputs.iter().step_by(s)) {
                            *o += tap * i;
                        }
                    }
                }
            }
        }

        for v in out.iter_mut() {
            *v = self.activation.apply_scalar(*v);
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct PlaneDims {
    in_h: usize,
    in_w: usize,
    out_h: usize,
    out_w: usize,
    pad: Padding,
}

impl CustomOp1 for DepthwiseConv2d {
    fn name(&self) -> &'static str {
        "depthwise-conv2d"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (batch, channels, in_h, in_w) = layout.shape().dims4()?;
        let input = match storage {
            CpuStorage::F32(data) => data,
            other => candle_core::bail!("depthwise-conv2d expects f32, got {:?}", other.dtype()),
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("depthwise-conv2d expects a contiguous input");
        };
        let input = &input[start..end];

        let pad = self.padding.resolve(in_h, in_w, self.kernel, self.stride);
        let out_h = (in_h + pad.top + pad.bottom - self.kernel) / self.stride + 1;
        let out_w = (in_w + pad.left + pad.right - self.kernel) / self.stride + 1;
        let dims = PlaneDims { in_h, in_w, out_h, out_w, pad };

        let mut output = vec![0f32; batch * channels * out_h * out_w];
        output
            .par_chunks_mut(out_h * out_w)
            .zip(input.par_chunks(in_h * in_w))
            .enumerate()
            .for_each(|(plane_index, (out, plane))| {
                self.convolve_plane(plane_index % channels, plane, dims, out);
            });

        Ok((CpuStorage::F32(output), Shape::from((batch, channels, out_h, out_w))))
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

/// Checks that a tensor is f32, the only dtype the backbones run in.
pub fn expect_f32(x: &Tensor) -> candle_core::Result<()> {
    if x.dtype() != DType::F32 {
        candle_core::bail!("expected an f32 tensor, got {:?}", x.dtype());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Depthwise convolution through candle's grouped conv2d, the reference
    /// for the direct kernel.
    fn grouped_reference(op: &DepthwiseConv2d, x: &Tensor) -> Tensor {
        let (_, channels, h, w) = x.dims4().unwrap();
        let pad = op.padding.resolve(h, w, op.kernel, op.stride);
        let y = pad_spatial(x, pad)
            .unwrap()
            .conv2d(&op.weight_tensor, 0, op.stride, 1, channels)
            .unwrap();
        let bias = Tensor::from_slice(&op.bias, (1, channels, 1, 1), &Device::Cpu).unwrap();
        op.activation.apply(y.broadcast_add(&bias).unwrap()).unwrap()
    }

    #[test]
    fn depthwise_matches_grouped_conv() {
        let device = Device::Cpu;
        for (kernel, stride, size) in [(3, 1, 9), (3, 2, 10), (5, 1, 7), (5, 2, 11), (3, 2, 1)] {
            let channels = 4;
            let x = Tensor::randn(0f32, 1.0, (2, channels, size, size + 1), &device).unwrap();
            let w = Tensor::randn(0f32, 1.0, (channels, 1, kernel, kernel), &device).unwrap();
            let bias = vec![0.5, -0.25, 0.0, 1.0];
            let op = DepthwiseConv2d::new(w, bias, stride, PaddingMode::TfSame, Activation::Relu6).unwrap();

            let direct = x.apply_op1_no_bwd(&op).unwrap();
            let reference = grouped_reference(&op, &x);
            assert_eq!(direct.dims(), reference.dims(), "k={kernel} s={stride} size={size}");
            let diff = (direct - reference).unwrap().abs().unwrap().max_all().unwrap();
            let diff = diff.to_scalar::<f32>().unwrap();
            assert!(diff < 1e-5, "k={kernel} s={stride} size={size}: max diff {diff}");
        }
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
}
