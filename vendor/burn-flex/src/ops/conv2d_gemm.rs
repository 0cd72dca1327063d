//! 2D convolution as im2col + gemm on NCHW data: the forward pass of the general case and the
//! backward passes (gradients for the input, the weight and the bias).
//!
//! Not in burn-flex 0.22.1 (patch carried by privsplit, see `PATCHES.md`): without the backward
//! overrides burn-backend's generic defaults run, which compute the input gradient as a
//! `conv_transpose2d` and the weight gradient as a `conv2d` with batch and channels swapped,
//! each with several layout copies; and the 0.22.1 forward converts the input to NHWC, builds
//! im2col tiles in fresh zeroed buffers and scatters the gemm result with a channel stride.
//!
//! Forward, per image `b` and group `g`: `y_b,g = w_g · col_b,g + bias` (one gemm
//! `[c_out/g, (c_in/g) * kh * kw] x [(c_in/g) * kh * kw, oh * ow]` written straight into `y`;
//! one gemm per image, so an image's output does not depend on the batch it is in).
//!
//! For `y = conv2d(x, w)` with `x: [batch, c_in, h, w]`, `w: [c_out, c_in / groups, kh, kw]`,
//! `y: [batch, c_out, oh, ow]`, write `col = im2col(x)`: `[c_in * kh * kw, batch * oh * ow]`
//! (rows `(ci, ky, kx)`, columns `(b, oy, ox)`, zero where the kernel tap falls in the padding)
//! and `dy_t`: `[c_out, batch * oh * ow]` (the output gradient with batch and channels swapped).
//! Then, per group `g` (rows and columns restricted to the group's channels):
//!
//! - weight gradient: `dw_g = dy_t_g · col_gᵀ` (one gemm, `[c_out/g, (c_in/g) * kh * kw]`),
//! - input gradient: `dx = col2im(w_gᵀ · dy_t_g)` (one gemm, then a scatter-add of each kernel
//!   tap back onto the input position it was read from),
//! - bias gradient: `db[o] = Σ_{b, oy, ox} dy[b, o, oy, ox]`.
//!
//! The batch is processed in chunks so that the im2col buffer stays near the L2 cache
//! (`COL_BUDGET` elements). Chunks run in parallel with rayon. Results are deterministic and do
//! not depend on the number of threads: the input gradient of each batch element is written by
//! exactly one chunk, and the weight gradient is accumulated in `WEIGHT_PARTS` partial sums over
//! fixed batch ranges that are added in a fixed order at the end.
//!
//! Any stride, dilation, groups and (also asymmetric) padding is supported: the padding at the
//! end only changes the output size, which is read from the output gradient's shape.
//! f32 and f64 are computed natively; f16 and bf16 through f32.

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::DType;
use burn_backend::ops::ConvOptions;
use burn_std::{Bytes, Shape, bf16, f16};

use super::module::{cast_from_f32, cast_to_f32};
use crate::{FlexTensor, Layout};

/// Target size of one chunk's im2col buffer, in elements (1 MiB of f32).
const COL_BUDGET: usize = 256 * 1024;

/// Number of fixed batch ranges whose weight-gradient partial sums are added at the end. Fixed
/// (not the thread count) so the summation order, hence the result, is the same on any machine.
const WEIGHT_PARTS: usize = 8;

/// Element types computed natively.
pub(crate) trait Real:
    bytemuck::Pod + burn_backend::Element + Copy + Send + Sync + 'static
{
    const ZERO: Self;
    const ONE: Self;
    fn add(self, other: Self) -> Self;
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        self + other
    }
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        self + other
    }
}

impl Real for f16 {
    const ZERO: Self = f16::ZERO;
    const ONE: Self = f16::ONE;
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        self + other
    }
}

/// Scratch buffers larger than this (elements) are not kept between calls.
const SCRATCH_KEEP: usize = 4 * COL_BUDGET;

#[cfg(feature = "std")]
std::thread_local! {
    static SCRATCH: core::cell::RefCell<(Vec<u8>, Vec<u8>)> =
        const { core::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Runs `f` on two scratch buffers of `a` and `b` elements whose contents are unspecified (stale
/// values from an earlier call): `f` must write every element before reading it. The buffers are
/// kept per thread between calls (up to `SCRATCH_KEEP` elements), so the steady state of a
/// training loop neither zeroes nor page-faults them.
fn with_scratch<T: Real, R>(a: usize, b: usize, f: impl FnOnce(&mut [T], &mut [T]) -> R) -> R {
    let fresh = |f: &mut dyn FnMut(&mut [T], &mut [T]) -> R| {
        let mut x = vec![T::ZERO; a];
        let mut y = vec![T::ZERO; b];
        f(&mut x, &mut y)
    };
    let mut f = Some(f);
    let mut call = |x: &mut [T], y: &mut [T]| match f.take() {
        Some(f) => f(x, y),
        None => unreachable!("scratch closure called twice"),
    };
    #[cfg(feature = "std")]
    {
        let size = core::mem::size_of::<T>();
        let align = core::mem::align_of::<T>();
        if a.max(b) <= SCRATCH_KEEP {
            let kept = SCRATCH.try_with(|cell| {
                let Ok(mut bufs) = cell.try_borrow_mut() else {
                    return None;
                };
                let (xa, xb) = &mut *bufs;
                // Byte buffers with `align` bytes of slack, so a `T`-aligned window always fits.
                for (buf, n) in [(&mut *xa, a), (&mut *xb, b)] {
                    if buf.len() < n * size + align {
                        buf.resize(n * size + align, 0);
                    }
                }
                let wa = aligned_window::<T>(xa, a);
                let wb = aligned_window::<T>(xb, b);
                Some(call(wa, wb))
            });
            if let Ok(Some(r)) = kept {
                return r;
            }
        }
    }
    fresh(&mut call)
}

/// The first `n` elements of `T` at the first `T`-aligned offset of `buf`.
#[cfg(feature = "std")]
fn aligned_window<T: Real>(buf: &mut [u8], n: usize) -> &mut [T] {
    let offset = buf.as_ptr().align_offset(core::mem::align_of::<T>());
    let bytes = &mut buf[offset..offset + n * core::mem::size_of::<T>()];
    bytemuck::cast_slice_mut(bytes)
}

/// Shapes and options of one 2D convolution.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    batch: usize,
    c_in: usize,
    in_h: usize,
    in_w: usize,
    c_out: usize,
    /// Input channels per group (`weight.shape[1]`).
    cpg: usize,
    kh: usize,
    kw: usize,
    out_h: usize,
    out_w: usize,
    stride: [usize; 2],
    pad: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
}

impl Geometry {
    fn new(x: &[usize], weight: &[usize], dy: &[usize], options: &ConvOptions<2>) -> Self {
        assert_eq!(x.len(), 4, "conv2d backward: x must be [batch, c_in, h, w]");
        assert_eq!(
            weight.len(),
            4,
            "conv2d backward: weight must be [c_out, c_in/groups, kh, kw]"
        );
        assert_eq!(
            dy.len(),
            4,
            "conv2d backward: output_grad must be [batch, c_out, oh, ow]"
        );
        let g = Self {
            batch: x[0],
            c_in: x[1],
            in_h: x[2],
            in_w: x[3],
            c_out: weight[0],
            cpg: weight[1],
            kh: weight[2],
            kw: weight[3],
            out_h: dy[2],
            out_w: dy[3],
            stride: options.stride,
            pad: options.padding_begin(),
            dilation: options.dilation,
            groups: options.groups,
        };
        assert!(g.groups >= 1, "conv2d backward: groups must be >= 1");
        assert_eq!(
            dy[0], g.batch,
            "conv2d backward: batch of output_grad != batch of x"
        );
        assert_eq!(
            dy[1], g.c_out,
            "conv2d backward: channels of output_grad != c_out"
        );
        assert_eq!(
            g.cpg * g.groups,
            g.c_in,
            "conv2d backward: c_in != groups * weight.shape[1]"
        );
        assert_eq!(
            g.c_out % g.groups,
            0,
            "conv2d backward: c_out not divisible by groups"
        );
        g
    }

    /// Output positions per image, `oh * ow`.
    fn spatial_out(&self) -> usize {
        self.out_h * self.out_w
    }

    /// im2col rows of one group, `(c_in / groups) * kh * kw`.
    fn rows_per_group(&self) -> usize {
        self.cpg * self.kh * self.kw
    }

    /// Output channels per group.
    fn out_per_group(&self) -> usize {
        self.c_out / self.groups
    }

    /// Batch elements per chunk, so that a chunk's im2col buffer is about `COL_BUDGET` elements.
    fn chunk(&self) -> usize {
        let per_image = self.c_in * self.kh * self.kw * self.spatial_out();
        (COL_BUDGET / per_image.max(1)).clamp(1, self.batch.max(1))
    }
}

/// Output indices `o in [lo, hi)` whose input index `o * stride + offset - pad` lies in
/// `[0, in_len)`, for a kernel tap at `offset = k * dilation`.
fn valid_range(
    offset: usize,
    stride: usize,
    pad: usize,
    in_len: usize,
    out_len: usize,
) -> (usize, usize) {
    let lo = if pad > offset {
        (pad - offset).div_ceil(stride)
    } else {
        0
    };
    let hi = if pad + in_len > offset {
        (pad + in_len - offset).div_ceil(stride).min(out_len)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// `col[(ci, ky, kx), (bl, oy, ox)] = x[b0 + bl, ci, oy*sh + ky*dh - ph, ox*sw + kx*dw - pw]`
/// (zero in the padding) for `bl in 0..nb`; `col` is `[c_in * kh * kw, nb * oh * ow]`.
fn im2col<T: Real>(col: &mut [T], x: &[T], g: &Geometry, b0: usize, nb: usize) {
    let p = g.spatial_out();
    let ncols = nb * p;
    let plane = g.in_h * g.in_w;
    let [sh, sw] = g.stride;
    let [ph, pw] = g.pad;
    let [dh, dw] = g.dilation;
    for ci in 0..g.c_in {
        for ky in 0..g.kh {
            let (oy_lo, oy_hi) = valid_range(ky * dh, sh, ph, g.in_h, g.out_h);
            for kx in 0..g.kw {
                let (ox_lo, ox_hi) = valid_range(kx * dw, sw, pw, g.in_w, g.out_w);
                let r = (ci * g.kh + ky) * g.kw + kx;
                let row = &mut col[r * ncols..(r + 1) * ncols];
                for bl in 0..nb {
                    let x_plane = &x[((b0 + bl) * g.c_in + ci) * plane..][..plane];
                    let img = &mut row[bl * p..(bl + 1) * p];
                    img[..oy_lo * g.out_w].fill(T::ZERO);
                    img[oy_hi * g.out_w..].fill(T::ZERO);
                    for oy in oy_lo..oy_hi {
                        let iy = oy * sh + ky * dh - ph;
                        let x_row = &x_plane[iy * g.in_w..(iy + 1) * g.in_w];
                        let dst = &mut img[oy * g.out_w..(oy + 1) * g.out_w];
                        dst[..ox_lo].fill(T::ZERO);
                        dst[ox_hi..].fill(T::ZERO);
                        if ox_lo == ox_hi {
                            continue;
                        }
                        let ix0 = ox_lo * sw + kx * dw - pw;
                        if sw == 1 {
                            dst[ox_lo..ox_hi].copy_from_slice(&x_row[ix0..ix0 + (ox_hi - ox_lo)]);
                        } else {
                            for (j, d) in dst[ox_lo..ox_hi].iter_mut().enumerate() {
                                *d = x_row[ix0 + j * sw];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Adjoint of [`im2col`]: `dx[bl, ci, iy, ix] += dcol[(ci, ky, kx), (bl, oy, ox)]` over all taps
/// that read `(iy, ix)`; `dx` is `[nb, c_in, h, w]` and must be zeroed by the caller.
fn col2im<T: Real>(dx: &mut [T], dcol: &[T], g: &Geometry, nb: usize) {
    let p = g.spatial_out();
    let ncols = nb * p;
    let plane = g.in_h * g.in_w;
    let [sh, sw] = g.stride;
    let [ph, pw] = g.pad;
    let [dh, dw] = g.dilation;
    for ci in 0..g.c_in {
        for ky in 0..g.kh {
            let (oy_lo, oy_hi) = valid_range(ky * dh, sh, ph, g.in_h, g.out_h);
            for kx in 0..g.kw {
                let (ox_lo, ox_hi) = valid_range(kx * dw, sw, pw, g.in_w, g.out_w);
                if ox_lo == ox_hi {
                    continue;
                }
                let r = (ci * g.kh + ky) * g.kw + kx;
                let row = &dcol[r * ncols..(r + 1) * ncols];
                let ix0 = ox_lo * sw + kx * dw - pw;
                let n = ox_hi - ox_lo;
                for bl in 0..nb {
                    let dx_plane = &mut dx[(bl * g.c_in + ci) * plane..][..plane];
                    for oy in oy_lo..oy_hi {
                        let iy = oy * sh + ky * dh - ph;
                        let src = &row[bl * p + oy * g.out_w + ox_lo..][..n];
                        let dx_row = &mut dx_plane[iy * g.in_w..(iy + 1) * g.in_w];
                        if sw == 1 {
                            for (d, s) in dx_row[ix0..ix0 + n].iter_mut().zip(src) {
                                *d = d.add(*s);
                            }
                        } else {
                            for (j, s) in src.iter().enumerate() {
                                let d = &mut dx_row[ix0 + j * sw];
                                *d = d.add(*s);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `dy_t[o, (bl, q)] = dy[b0 + bl, o, q]`: `[c_out, nb * oh * ow]`.
fn pack_dy<T: Real>(dy_t: &mut [T], dy: &[T], g: &Geometry, b0: usize, nb: usize) {
    let p = g.spatial_out();
    let ncols = nb * p;
    for o in 0..g.c_out {
        for bl in 0..nb {
            let src = &dy[((b0 + bl) * g.c_out + o) * p..][..p];
            dy_t[o * ncols + bl * p..][..p].copy_from_slice(src);
        }
    }
}

/// `dst[m, n] (+)= Σ_k lhs[m, k] · rhs[k, n]` with explicit row and column strides (elements).
#[allow(clippy::too_many_arguments)]
fn gemm_strided<T: Real>(
    [m, n, k]: [usize; 3],
    dst: &mut [T],
    [dst_rs, dst_cs]: [usize; 2],
    accumulate: bool,
    lhs: &[T],
    [lhs_rs, lhs_cs]: [usize; 2],
    rhs: &[T],
    [rhs_rs, rhs_cs]: [usize; 2],
    parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst[i * dst_rs + j * dst_cs] = T::ZERO;
                }
            }
        }
        return;
    }
    // Bounds of every element the gemm touches.
    assert!((m - 1) * dst_rs + (n - 1) * dst_cs < dst.len());
    assert!((m - 1) * lhs_rs + (k - 1) * lhs_cs < lhs.len());
    assert!((k - 1) * rhs_rs + (n - 1) * rhs_cs < rhs.len());
    #[cfg(feature = "rayon")]
    let parallelism = if parallel && m * n * k >= 192 * 192 * 192 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    #[cfg(not(feature = "rayon"))]
    let parallelism = {
        let _ = parallel;
        gemm::Parallelism::None
    };
    // SAFETY: the assertions above keep every index the gemm reads or writes inside the three
    // slices; `dst` is borrowed mutably, so it aliases neither `lhs` nor `rhs`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Runs `f` over `0..n`, in parallel with rayon when enabled, and returns the results in order.
fn map_ordered<R: Send, F: Fn(usize) -> R + Send + Sync>(n: usize, f: F) -> Vec<R> {
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        (0..n).into_par_iter().map(f).collect()
    }
    #[cfg(not(feature = "rayon"))]
    {
        (0..n).map(f).collect()
    }
}

/// `conv2d` forward: `[batch, c_out, oh, ow]`, one gemm per image and group, with the bias
/// (when given) written first and accumulated onto.
fn forward_impl<T: Real>(x: &[T], weight: &[T], bias: Option<&[T]>, g: &Geometry) -> Vec<T> {
    let p = g.spatial_out();
    let out_image = g.c_out * p;
    let chunk = g.chunk();
    let rows = g.rows_per_group();
    let opg = g.out_per_group();
    let one_task = g.batch <= chunk;
    let mut y = vec![T::ZERO; g.batch * out_image];
    if out_image == 0 {
        return y;
    }
    for_each_chunk_mut(&mut y, chunk * out_image, |c, y_chunk| {
        let b0 = c * chunk;
        let nb = y_chunk.len() / out_image;
        let ncols = nb * p;
        with_scratch(g.c_in * g.kh * g.kw * ncols, 0, |col, _| {
            im2col(col, x, g, b0, nb);
            for (bl, y_img) in y_chunk.chunks_exact_mut(out_image).enumerate() {
                if let Some(bias) = bias {
                    for (row, &b) in y_img.chunks_exact_mut(p).zip(bias) {
                        row.fill(b);
                    }
                }
                for grp in 0..g.groups {
                    // y_b,g [opg, p] (+)= w_g [opg, rows] · col_b,g [rows, p]
                    gemm_strided(
                        [opg, p, rows],
                        &mut y_img[grp * opg * p..(grp + 1) * opg * p],
                        [p, 1],
                        bias.is_some(),
                        &weight[grp * opg * rows..(grp + 1) * opg * rows],
                        [rows, 1],
                        &col[grp * rows * ncols + bl * p..(grp + 1) * rows * ncols],
                        [ncols, 1],
                        one_task,
                    );
                }
            }
        });
    });
    y
}

/// `conv2d` forward through [`forward_impl`] for a 2D convolution in burn-flex's 3D form
/// (`x: [batch, c_in, 1, h, w]`, `weight: [c_out, c_in / groups, 1, kh, kw]`, depth stride 1,
/// no depth padding or dilation); `None` for a true 3D convolution. Returns
/// `[batch, c_out, 1, oh, ow]`.
pub(crate) fn try_conv3d_as_2d<T: Real>(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    options: &ConvOptions<3>,
    dtype: DType,
) -> Option<FlexTensor> {
    let xs = x.layout().shape();
    let ws = weight.layout().shape();
    if xs.len() != 5
        || ws.len() != 5
        || xs[2] != 1
        || ws[2] != 1
        || options.stride[0] != 1
        || options.padding_begin()[0] != 0
        || options.dilation[0] != 1
    {
        return None;
    }
    let options_2d = ConvOptions::new_with_padding(
        [options.stride[1], options.stride[2]],
        [options.padding[1], options.padding[2]],
        [options.dilation[1], options.dilation[2]],
        options.groups,
    );
    let out_size = |i: usize, len: usize, k: usize| {
        let (pb, pe) = options_2d.padding[i];
        let span = options_2d.dilation[i] * (k - 1) + 1;
        (len + pb + pe)
            .checked_sub(span)
            .map(|v| v / options_2d.stride[i] + 1)
    };
    let (oh, ow) = (out_size(0, xs[3], ws[3])?, out_size(1, xs[4], ws[4])?);
    let x = x.to_contiguous();
    let weight = weight.to_contiguous();
    let bias = bias.map(|b| b.to_contiguous());
    let (batch, c_out) = (xs[0], ws[0]);
    let g = Geometry::new(
        &[xs[0], xs[1], xs[3], xs[4]],
        &[ws[0], ws[1], ws[3], ws[4]],
        &[batch, c_out, oh, ow],
        &options_2d,
    );
    let y = forward_impl::<T>(
        x.storage(),
        weight.storage(),
        bias.as_ref().map(|b| b.storage::<T>()),
        &g,
    );
    Some(tensor_from(y, vec![batch, c_out, 1, oh, ow], dtype))
}

/// Runs `f(chunk_index, chunk)` over consecutive `len`-element chunks of `data`, in parallel with
/// rayon when enabled.
fn for_each_chunk_mut<T: Send, F: Fn(usize, &mut [T]) + Send + Sync>(
    data: &mut [T],
    len: usize,
    f: F,
) {
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        data.par_chunks_mut(len)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    }
    #[cfg(not(feature = "rayon"))]
    {
        data.chunks_mut(len).enumerate().for_each(|(i, c)| f(i, c));
    }
}

/// Gradient of `conv2d` for `x`: `[batch, c_in, h, w]`.
fn x_backward_impl<T: Real>(weight: &[T], dy: &[T], g: &Geometry) -> Vec<T> {
    let p = g.spatial_out();
    let image = g.c_in * g.in_h * g.in_w;
    let chunk = g.chunk();
    let rows = g.rows_per_group();
    let opg = g.out_per_group();
    let one_task = g.batch <= chunk;
    let mut dx = vec![T::ZERO; g.batch * image];
    if image == 0 {
        return dx;
    }
    for_each_chunk_mut(&mut dx, chunk * image, |c, dx_chunk| {
        let b0 = c * chunk;
        let nb = dx_chunk.len() / image;
        let ncols = nb * p;
        with_scratch(g.c_out * ncols, g.groups * rows * ncols, |dy_t, dcol| {
            pack_dy(dy_t, dy, g, b0, nb);
            for grp in 0..g.groups {
                // dcol_g [rows, ncols] = w_gᵀ [rows, opg] · dy_t_g [opg, ncols]
                gemm_strided(
                    [rows, ncols, opg],
                    &mut dcol[grp * rows * ncols..(grp + 1) * rows * ncols],
                    [ncols, 1],
                    false,
                    &weight[grp * opg * rows..(grp + 1) * opg * rows],
                    [1, rows],
                    &dy_t[grp * opg * ncols..(grp + 1) * opg * ncols],
                    [ncols, 1],
                    one_task,
                );
            }
            col2im(dx_chunk, dcol, g, nb);
        });
    });
    dx
}

/// Gradient of `conv2d` for the weight: `[c_out, c_in / groups, kh, kw]`.
fn weight_backward_impl<T: Real>(x: &[T], dy: &[T], g: &Geometry) -> Vec<T> {
    let p = g.spatial_out();
    let rows = g.rows_per_group();
    let opg = g.out_per_group();
    let chunk = g.chunk();
    let n_parts = WEIGHT_PARTS.min(g.batch).max(1);
    let per_part = g.batch.div_ceil(n_parts);
    let n_parts = g.batch.div_ceil(per_part.max(1)).max(1);
    let one_task = n_parts == 1;
    let partials = map_ordered(n_parts, |part| {
        let start = part * per_part;
        let end = (start + per_part).min(g.batch);
        let mut dw = vec![T::ZERO; g.c_out * rows];
        let max_cols = chunk.min(end - start) * p;
        with_scratch(
            g.c_in * g.kh * g.kw * max_cols,
            g.c_out * max_cols,
            |col_buf, dy_buf| {
                let mut b0 = start;
                while b0 < end {
                    let nb = chunk.min(end - b0);
                    let ncols = nb * p;
                    let col = &mut col_buf[..g.c_in * g.kh * g.kw * ncols];
                    im2col(col, x, g, b0, nb);
                    let dy_t = &mut dy_buf[..g.c_out * ncols];
                    pack_dy(dy_t, dy, g, b0, nb);
                    for grp in 0..g.groups {
                        // dw_g [opg, rows] (+)= dy_t_g [opg, ncols] · col_gᵀ [ncols, rows]
                        gemm_strided(
                            [opg, rows, ncols],
                            &mut dw[grp * opg * rows..(grp + 1) * opg * rows],
                            [rows, 1],
                            b0 != start,
                            &dy_t[grp * opg * ncols..(grp + 1) * opg * ncols],
                            [ncols, 1],
                            &col[grp * rows * ncols..(grp + 1) * rows * ncols],
                            [1, ncols],
                            one_task,
                        );
                    }
                    b0 += nb;
                }
            },
        );
        dw
    });
    let mut parts = partials.into_iter();
    let mut dw = parts
        .next()
        .unwrap_or_else(|| vec![T::ZERO; g.c_out * rows]);
    for part in parts {
        for (d, s) in dw.iter_mut().zip(&part) {
            *d = d.add(*s);
        }
    }
    dw
}

/// Gradient of `conv2d` for the bias: `[c_out]`, summed in a fixed order.
fn bias_backward_impl<T: Real>(dy: &[T], batch: usize, c_out: usize, p: usize) -> Vec<T> {
    map_ordered(c_out, |o| {
        let mut acc = T::ZERO;
        for b in 0..batch {
            let plane = &dy[(b * c_out + o) * p..][..p];
            // Eight independent accumulators: vectorisable and still a fixed order.
            let mut lanes = [T::ZERO; 8];
            let mut it = plane.chunks_exact(8);
            for c in &mut it {
                for (l, v) in lanes.iter_mut().zip(c) {
                    *l = l.add(*v);
                }
            }
            for (l, v) in lanes.iter_mut().zip(it.remainder()) {
                *l = l.add(*v);
            }
            for l in lanes {
                acc = acc.add(l);
            }
        }
        acc
    })
}

fn tensor_from<T: Real>(data: Vec<T>, shape: Vec<usize>, dtype: DType) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(Shape::from(shape)),
        dtype,
    )
}

fn x_backward_typed<T: Real>(
    x: &FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
    dtype: DType,
) -> FlexTensor {
    let x_shape = x.layout().shape().to_vec();
    let weight = weight.to_contiguous();
    let dy = output_grad.to_contiguous();
    let g = Geometry::new(
        &x_shape,
        weight.layout().shape(),
        dy.layout().shape(),
        options,
    );
    let dx = x_backward_impl::<T>(weight.storage(), dy.storage(), &g);
    tensor_from(dx, x_shape, dtype)
}

fn weight_backward_typed<T: Real>(
    x: FlexTensor,
    weight: &FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
    dtype: DType,
) -> FlexTensor {
    let w_shape = weight.layout().shape().to_vec();
    let x = x.to_contiguous();
    let dy = output_grad.to_contiguous();
    let g = Geometry::new(x.layout().shape(), &w_shape, dy.layout().shape(), options);
    let dw = weight_backward_impl::<T>(x.storage(), dy.storage(), &g);
    tensor_from(dw, w_shape, dtype)
}

fn bias_backward_typed<T: Real>(
    bias: &FlexTensor,
    output_grad: FlexTensor,
    dtype: DType,
) -> FlexTensor {
    let dy = output_grad.to_contiguous();
    let s = dy.layout().shape();
    assert_eq!(
        s.len(),
        4,
        "conv2d backward: output_grad must be [batch, c_out, oh, ow]"
    );
    let (batch, c_out, p) = (s[0], s[1], s[2] * s[3]);
    let db = bias_backward_impl::<T>(dy.storage(), batch, c_out, p);
    tensor_from(db, bias.layout().shape().to_vec(), dtype)
}

/// Gradient of [`conv2d`](burn_backend::ops::ModuleOps::conv2d) for its input.
///
/// Shapes: `x: [batch, c_in, h, w]` (only its shape is read), `weight: [c_out, c_in / groups,
/// kh, kw]`, `output_grad: [batch, c_out, oh, ow]`; returns `[batch, c_in, h, w]`.
pub fn conv2d_x_backward(
    x: FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    match x.dtype() {
        DType::F32 => x_backward_typed::<f32>(&x, weight, output_grad, options, DType::F32),
        DType::F64 => x_backward_typed::<f64>(&x, weight, output_grad, options, DType::F64),
        DType::F16 => cast_from_f32(
            x_backward_typed::<f32>(
                &x,
                cast_to_f32(weight, f16::to_f32),
                cast_to_f32(output_grad, f16::to_f32),
                options,
                DType::F32,
            ),
            f16::from_f32,
        ),
        DType::BF16 => cast_from_f32(
            x_backward_typed::<f32>(
                &x,
                cast_to_f32(weight, bf16::to_f32),
                cast_to_f32(output_grad, bf16::to_f32),
                options,
                DType::F32,
            ),
            bf16::from_f32,
        ),
        dtype => panic!("conv2d_x_backward: unsupported dtype {:?}", dtype),
    }
}

/// Gradient of [`conv2d`](burn_backend::ops::ModuleOps::conv2d) for its weight.
///
/// Shapes: `x: [batch, c_in, h, w]`, `weight: [c_out, c_in / groups, kh, kw]` (only its shape
/// is read), `output_grad: [batch, c_out, oh, ow]`; returns `[c_out, c_in / groups, kh, kw]`.
pub fn conv2d_weight_backward(
    x: FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    match x.dtype() {
        DType::F32 => weight_backward_typed::<f32>(x, &weight, output_grad, options, DType::F32),
        DType::F64 => weight_backward_typed::<f64>(x, &weight, output_grad, options, DType::F64),
        DType::F16 => cast_from_f32(
            weight_backward_typed::<f32>(
                cast_to_f32(x, f16::to_f32),
                &weight,
                cast_to_f32(output_grad, f16::to_f32),
                options,
                DType::F32,
            ),
            f16::from_f32,
        ),
        DType::BF16 => cast_from_f32(
            weight_backward_typed::<f32>(
                cast_to_f32(x, bf16::to_f32),
                &weight,
                cast_to_f32(output_grad, bf16::to_f32),
                options,
                DType::F32,
            ),
            bf16::from_f32,
        ),
        dtype => panic!("conv2d_weight_backward: unsupported dtype {:?}", dtype),
    }
}

/// Gradient of [`conv2d`](burn_backend::ops::ModuleOps::conv2d) for its bias.
///
/// Shapes: `bias: [c_out]` (only its shape is read), `output_grad: [batch, c_out, oh, ow]`;
/// returns `[c_out]`.
pub fn conv2d_bias_backward(bias: FlexTensor, output_grad: FlexTensor) -> FlexTensor {
    match output_grad.dtype() {
        DType::F32 => bias_backward_typed::<f32>(&bias, output_grad, DType::F32),
        DType::F64 => bias_backward_typed::<f64>(&bias, output_grad, DType::F64),
        DType::F16 => cast_from_f32(
            bias_backward_typed::<f32>(&bias, cast_to_f32(output_grad, f16::to_f32), DType::F32),
            f16::from_f32,
        ),
        DType::BF16 => cast_from_f32(
            bias_backward_typed::<f32>(&bias, cast_to_f32(output_grad, bf16::to_f32), DType::F32),
            bf16::from_f32,
        ),
        dtype => panic!("conv2d_bias_backward: unsupported dtype {:?}", dtype),
    }
}
