//! 2D convolution as im2col + one matrix product, written with burn tensor ops (so burn still owns the
//! tensors and autodiff, and the matrix product runs in the backend's gemm): an alternative forward for a
//! [`Conv2d`] module with the same parameters, weight file names and results (within float rounding).
//!
//! im2col (Chellapilla, Puri & Simard, "High performance convolutional neural networks for document
//! processing", IWFHR 2006, §2): every output position's receptive field `[channels, kh, kw]` becomes one
//! column of a matrix `cols` `[batch, channels * kh * kw, oh * ow]`, so that the convolution is the
//! batched product `W · cols` with `W` the weight reshaped to `[out_channels, channels * kh * kw]`. The
//! columns come from one `select` (gather) of the flattened pixels, whose gradient is one scatter-add; the
//! rest of the gradient is burn's autodiff of `reshape`, `expand` and `matmul`.

use burn::nn::conv::Conv2d;
use burn::nn::PaddingConfig2d;
use burn::tensor::ops::PadMode;
use burn::tensor::{Int, Tensor, TensorData};

/// `conv.forward(x)` computed as im2col + matrix product (module docs): input `[batch, channels, height,
/// width]`, output `[batch, out_channels, out_height, out_width]` with
/// `out = (in + pad_before + pad_after - kernel) / stride + 1`.
///
/// Covers `groups = 1`, `dilation = 1` and `Valid` or `Explicit` padding (the convolutions of the
/// collateral adversary CNN, the c-GAN and the inverse-network decoder); any other convolution is handed
/// to `conv.forward` unchanged. Same input, same parameters => the same values as `conv.forward` up to
/// float summation order (about 1e-6 relative).
pub fn conv2d_im2col(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let (top, left, bottom, right) = match conv.padding {
        PaddingConfig2d::Valid => (0, 0, 0, 0),
        PaddingConfig2d::Explicit(t, l, b, r) => (t, l, b, r),
        PaddingConfig2d::Same => return conv.forward(x),
    };
    if conv.groups != 1 || conv.dilation != [1, 1] {
        return conv.forward(x);
    }
    let x = if top + left + bottom + right > 0 {
        x.pad((left, right, top, bottom), PadMode::Constant(0.0))
    } else {
        x
    };
    let [batch, channels, height, width] = x.dims();
    let [kh, kw] = conv.kernel_size;
    let [sh, sw] = conv.stride;
    let weight = conv.weight.val();
    let [out_channels, _, _, _] = weight.dims();
    if height < kh || width < kw || sh == 0 || sw == 0 {
        return conv.forward(x);
    }
    let (oh, ow) = ((height - kh) / sh + 1, (width - kw) / sw + 1);
    // cols[(c, i, j), (b, y, x)] = x[b, c, y * sh + i, x * sw + j]: one gather along the flattened
    // [batch, height, width] axis (its gradient is one scatter-add), then one matrix product.
    let plane = height * width;
    let index: Vec<i64> = (0..kh)
        .flat_map(|i| (0..kw).map(move |j| (i, j)))
        .flat_map(|(i, j)| {
            (0..batch).flat_map(move |b| {
                (0..oh).flat_map(move |y| {
                    (0..ow).map(move |xo| (b * plane + (y * sh + i) * width + xo * sw + j) as i64)
                })
            })
        })
        .collect();
    let index = Tensor::<1, Int>::from_data(
        TensorData::new(index, [kh * kw * batch * oh * ow]),
        &x.device(),
    );
    let cols: Tensor<2> = x
        .permute([1, 0, 2, 3])
        .reshape([channels, batch * plane])
        .select(1, index)
        .reshape([channels * kh * kw, batch * oh * ow]);
    let w: Tensor<2> = weight.reshape([out_channels, channels * kh * kw]);
    let mut y = w.matmul(cols); // [out_channels, batch * oh * ow]
    if let Some(b) = &conv.bias {
        y = y + b.val().reshape([out_channels, 1]);
    }
    y.reshape([out_channels, batch, oh, ow])
        .permute([1, 0, 2, 3])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Distribution};

    use super::*;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    fn close(what: &str, a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let scale = b.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * scale,
                "{what}[{i}]: im2col {x} vs burn conv2d {y}"
            );
        }
    }

    /// Forward values and the gradients of the input, weight and bias agree with burn's own conv2d
    /// (an independent implementation: direct/tiled kernels and conv-transpose backward) on small
    /// shapes with stride, padding and both kernel parities.
    #[test]
    fn matches_burn_conv2d_forward_and_gradients() {
        let cases: [([usize; 2], [usize; 2], PaddingConfig2d, bool); 4] = [
            ([5, 5], [1, 1], PaddingConfig2d::Valid, true),
            ([4, 4], [2, 2], PaddingConfig2d::Explicit(1, 1, 1, 1), true),
            ([3, 3], [1, 1], PaddingConfig2d::Explicit(1, 2, 0, 1), false),
            ([1, 1], [1, 1], PaddingConfig2d::Valid, true),
        ];
        let dev = Device::flex().autodiff();
        for (n, (kernel, stride, padding, bias)) in cases.into_iter().enumerate() {
            dev.seed(n as u64);
            let conv = Conv2dConfig::new([3, 4], kernel)
                .with_stride(stride)
                .with_padding(padding.clone())
                .with_bias(bias)
                .init(&dev);
            let x0 = Tensor::<4>::random([2, 3, 9, 8], Distribution::Normal(0.0, 1.0), &dev);
            let run = |im2col: bool| {
                let x = x0.clone().detach().require_grad();
                let y = if im2col {
                    conv2d_im2col(&conv, x.clone())
                } else {
                    conv.forward(x.clone())
                };
                // A non-uniform upstream gradient: sum(y * y) / 2 has gradient y.
                let loss = (y.clone() * y.clone()).sum() / 2.0;
                let g = loss.backward();
                let gx = x.grad(&g).unwrap();
                let gw = conv.weight.val().grad(&g).unwrap();
                let gb = conv
                    .bias
                    .as_ref()
                    .map(|b| values(b.val().grad(&g).unwrap()));
                (y.dims(), values(y), values(gx), values(gw), gb)
            };
            let (d_ref, y_ref, gx_ref, gw_ref, gb_ref) = run(false);
            let (d, y, gx, gw, gb) = run(true);
            let case = format!("case {n} ({padding:?}, stride {stride:?})");
            assert_eq!(d, d_ref, "{case}: output shape");
            close(&format!("{case} output"), &y, &y_ref);
            close(&format!("{case} input gradient"), &gx, &gx_ref);
            close(&format!("{case} weight gradient"), &gw, &gw_ref);
            match (gb, gb_ref) {
                (Some(a), Some(b)) => close(&format!("{case} bias gradient"), &a, &b),
                (None, None) => {}
                _ => panic!("{case}: bias gradient present on one side only"),
            }
        }
    }
}
