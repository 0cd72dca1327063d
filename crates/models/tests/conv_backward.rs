//! The conv2d forward pass and gradients of the CPU backend (burn-flex with privsplit's im2col + gemm
//! patch, `vendor/burn-flex/PATCHES.md`) equal an independent direct-loop computation in f64, on shapes that
//! cover stride 1-2, padding 0-2 (also asymmetric), kernels 1x1/3x3/4x4/5x5, dilation, groups, batch 1/3
//! and channels 1/3/20, and do not depend on the number of threads.
#![allow(clippy::unwrap_used)] // tests: a panic with the value is the failure report

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};

/// One convolution to check: `x [batch, c_in, h, w]`, `weight [c_out, c_in / groups, k_h, k_w]`.
#[derive(Clone, Debug)]
struct Case {
    batch: usize,
    c_in: usize,
    c_out: usize,
    hw: [usize; 2],
    k: [usize; 2],
    stride: [usize; 2],
    /// `(begin, end)` per spatial dimension.
    pad: [(usize, usize); 2],
    dilation: [usize; 2],
    groups: usize,
}

impl Case {
    fn options(&self) -> ConvOptions<2> {
        ConvOptions::new_with_padding(self.stride, self.pad, self.dilation, self.groups)
    }

    fn out_hw(&self) -> [usize; 2] {
        let o = |i: usize| {
            let span = self.dilation[i] * (self.k[i] - 1) + 1;
            (self.hw[i] + self.pad[i].0 + self.pad[i].1 - span) / self.stride[i] + 1
        };
        [o(0), o(1)]
    }
}

/// Deterministic values in [-1, 1) (a 64-bit LCG), so the test needs no random source.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Calls `tap(y_index, x_index, w_index)` for every output element `y[b, o, oy, ox]` and every kernel tap
/// that reads an input inside the unpadded region: `x[b, ci, iy, ix]` with `iy = oy·s_h + ky·d_h - p_h` (the
/// same for columns) and `w[o, ci - g·cpg, ky, kx]`, `g = o / (c_out / groups)`. The index map of conv2d,
/// shared by the forward and the gradient references below.
fn for_each_tap(c: &Case, mut tap: impl FnMut(usize, usize, usize)) {
    let [h, wd] = c.hw;
    let [oh, ow] = c.out_hw();
    let [kh, kw] = c.k;
    let cpg = c.c_in / c.groups;
    let opg = c.c_out / c.groups;
    for b in 0..c.batch {
        for o in 0..c.c_out {
            let g = o / opg;
            for oy in 0..oh {
                for ox in 0..ow {
                    let yi = ((b * c.c_out + o) * oh + oy) * ow + ox;
                    for cl in 0..cpg {
                        let ci = g * cpg + cl;
                        for ky in 0..kh {
                            let iy = (oy * c.stride[0] + ky * c.dilation[0]) as isize
                                - c.pad[0].0 as isize;
                            if iy < 0 || iy >= h as isize {
                                continue;
                            }
                            for kx in 0..kw {
                                let ix = (ox * c.stride[1] + kx * c.dilation[1]) as isize
                                    - c.pad[1].0 as isize;
                                if ix < 0 || ix >= wd as isize {
                                    continue;
                                }
                                let xi = ((b * c.c_in + ci) * h + iy as usize) * wd + ix as usize;
                                let wi = ((o * cpg + cl) * kh + ky) * kw + kx;
                                tap(yi, xi, wi);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Output channel of the flat output index `yi` (`[batch, c_out, oh, ow]`).
fn out_channel(c: &Case, yi: usize) -> usize {
    let [oh, ow] = c.out_hw();
    (yi / (oh * ow)) % c.c_out
}

/// `(dx, dw, db)` of `L = Σ conv2d(x, w, b) · r` by direct loops in f64 over [`for_each_tap`]:
/// `dx[x_index] += r[y_index] · w[w_index]`, `dw[w_index] += r[y_index] · x[x_index]`, `db[o] += r[y_index]`.
fn reference(c: &Case, x: &[f32], w: &[f32], r: &[f32]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut dx = vec![0.0f64; x.len()];
    let mut dw = vec![0.0f64; w.len()];
    let mut db = vec![0.0f64; c.c_out];
    for (yi, rv) in r.iter().enumerate() {
        db[out_channel(c, yi)] += f64::from(*rv);
    }
    for_each_tap(c, |yi, xi, wi| {
        let rv = f64::from(r[yi]);
        dx[xi] += rv * f64::from(w[wi]);
        dw[wi] += rv * f64::from(x[xi]);
    });
    (dx, dw, db)
}

/// `y = conv2d(x, w, b)` by direct loops in f64 over [`for_each_tap`].
fn reference_forward(c: &Case, x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f64> {
    let [oh, ow] = c.out_hw();
    let mut y: Vec<f64> = (0..c.batch * c.c_out * oh * ow)
        .map(|yi| f64::from(bias[out_channel(c, yi)]))
        .collect();
    for_each_tap(c, |yi, xi, wi| y[yi] += f64::from(w[wi]) * f64::from(x[xi]));
    y
}

/// `(y, dx, dw, db)` from burn's autodiff on the CPU backend.
fn autodiff_grads(c: &Case, x: &[f32], w: &[f32], bias: &[f32], r: &[f32]) -> [Vec<f32>; 4] {
    let dev = Device::flex().autodiff();
    let [h, wd] = c.hw;
    let [oh, ow] = c.out_hw();
    let xt = Tensor::<4>::from_data(TensorData::new(x.to_vec(), [c.batch, c.c_in, h, wd]), &dev)
        .require_grad();
    let wt = Tensor::<4>::from_data(
        TensorData::new(w.to_vec(), [c.c_out, c.c_in / c.groups, c.k[0], c.k[1]]),
        &dev,
    )
    .require_grad();
    let bt = Tensor::<1>::from_data(TensorData::new(bias.to_vec(), [c.c_out]), &dev).require_grad();
    let rt = Tensor::<4>::from_data(
        TensorData::new(r.to_vec(), [c.batch, c.c_out, oh, ow]),
        &dev,
    );
    let y = conv2d(xt.clone(), wt.clone(), Some(bt.clone()), c.options());
    assert_eq!(y.dims(), [c.batch, c.c_out, oh, ow], "{c:?}");
    let y_values = y.clone().into_data().try_to_vec::<f32>().unwrap();
    let grads = (y * rt).sum().backward();
    let v = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
    [
        y_values,
        v(xt.grad(&grads).unwrap()),
        v(wt.grad(&grads).unwrap()),
        bt.grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(),
    ]
}

/// Every element within `1e-4 · max |expected|` (plus 1e-6 for all-zero gradients).
fn assert_close(what: &str, c: &Case, got: &[f32], expected: &[f64]) {
    assert_eq!(got.len(), expected.len(), "{what} length, {c:?}");
    let scale = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let tol = 1e-4 * scale + 1e-6;
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(
            (f64::from(*g) - e).abs() <= tol,
            "{what}[{i}]: got {g}, expected {e} (tolerance {tol}), {c:?}"
        );
    }
}

fn inputs(c: &Case, seed: u64) -> [Vec<f32>; 4] {
    let [h, wd] = c.hw;
    let [oh, ow] = c.out_hw();
    [
        values(c.batch * c.c_in * h * wd, seed),
        values(c.c_out * (c.c_in / c.groups) * c.k[0] * c.k[1], seed + 1),
        values(c.c_out, seed + 2),
        values(c.batch * c.c_out * oh * ow, seed + 3),
    ]
}

fn check(c: &Case, seed: u64) {
    let [x, w, b, r] = inputs(c, seed);
    let [y, dx, dw, db] = autodiff_grads(c, &x, &w, &b, &r);
    let (ex, ew, eb) = reference(c, &x, &w, &r);
    assert_close("y", c, &y, &reference_forward(c, &x, &w, &b));
    assert_close("dx", c, &dx, &ex);
    assert_close("dw", c, &dw, &ew);
    assert_close("db", c, &db, &eb);
}

fn case(
    batch: usize,
    c_in: usize,
    c_out: usize,
    hw: usize,
    k: usize,
    stride: usize,
    pad: usize,
) -> Case {
    Case {
        batch,
        c_in,
        c_out,
        hw: [hw, hw],
        k: [k, k],
        stride: [stride, stride],
        pad: [(pad, pad); 2],
        dilation: [1, 1],
        groups: 1,
    }
}

#[test]
fn conv2d_gradients_match_direct_loops_on_a_grid_of_shapes() {
    let mut seed = 1;
    for &batch in &[1, 3] {
        for &(c_in, c_out) in &[(1, 4), (3, 5), (20, 7)] {
            for &k in &[1, 3, 5] {
                for &stride in &[1, 2] {
                    for &pad in &[0, 1, 2] {
                        check(&case(batch, c_in, c_out, 9, k, stride, pad), seed);
                        seed += 4;
                    }
                }
            }
        }
    }
}

#[test]
fn conv2d_gradients_match_on_the_models_shapes() {
    // The collateral adversary CNN (conv 5x5 1->20 on 28x28, 20->50 on 12x12) and the c-GAN
    // discriminator (4x4 stride 2 padding 1; 3x3 padding 1; 1x1), at small batch.
    check(&case(2, 1, 20, 28, 5, 1, 0), 100);
    check(&case(2, 20, 50, 12, 5, 1, 0), 104);
    check(&case(3, 9, 16, 28, 4, 2, 1), 108);
    check(&case(3, 32, 1, 7, 3, 1, 1), 112);
    check(&case(3, 16, 8, 7, 1, 1, 0), 116);
}

#[test]
fn conv2d_gradients_match_with_dilation_groups_and_asymmetric_padding() {
    let base = case(3, 6, 4, 10, 3, 1, 1);
    let cases = [
        Case {
            dilation: [2, 2],
            ..base.clone()
        },
        Case {
            dilation: [2, 1],
            stride: [2, 1],
            ..base.clone()
        },
        Case {
            groups: 2,
            ..base.clone()
        },
        Case {
            groups: 2,
            c_out: 6,
            stride: [2, 2],
            pad: [(2, 2); 2],
            ..base.clone()
        },
        Case {
            pad: [(0, 2), (1, 0)],
            ..base.clone()
        },
        Case {
            hw: [11, 8],
            k: [3, 2],
            pad: [(2, 1), (0, 1)],
            stride: [2, 1],
            ..base.clone()
        },
        Case {
            batch: 1,
            c_in: 1,
            c_out: 1,
            hw: [3, 3],
            k: [5, 5],
            pad: [(2, 2); 2],
            ..base
        },
    ];
    for (i, c) in cases.iter().enumerate() {
        check(c, 200 + 4 * i as u64);
    }
}

#[test]
fn conv2d_forward_and_gradients_are_bitwise_the_same_on_one_and_three_threads() {
    // Batch 40 spans several chunks and weight partial sums.
    let c = case(40, 20, 50, 12, 5, 1, 0);
    let [x, w, b, r] = inputs(&c, 300);
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| autodiff_grads(&c, &x, &w, &b, &r))
    };
    let one = on(1);
    let three = on(3);
    for (a, b) in one.iter().zip(&three) {
        let a: Vec<u32> = a.iter().map(|v| v.to_bits()).collect();
        let b: Vec<u32> = b.iter().map(|v| v.to_bits()).collect();
        assert_eq!(a, b);
    }
}

#[test]
fn conv2d_forward_of_an_image_does_not_depend_on_its_batch() {
    // Split inference runs the same image in batches of different sizes; its output must be
    // bitwise the same (one gemm per image in the patched forward).
    let dev = Device::flex();
    for c in [
        case(40, 20, 50, 12, 5, 1, 0),
        case(9, 1, 20, 28, 5, 1, 0),
        case(5, 17, 32, 28, 4, 2, 1),
    ] {
        let [x, w, b, _] = inputs(&c, 400);
        let [h, wd] = c.hw;
        let [oh, ow] = c.out_hw();
        let wt =
            Tensor::<4>::from_data(TensorData::new(w, [c.c_out, c.c_in, c.k[0], c.k[1]]), &dev);
        let bt = Tensor::<1>::from_data(TensorData::new(b, [c.c_out]), &dev);
        let run = |xs: &[f32], n: usize| {
            let xt = Tensor::<4>::from_data(TensorData::new(xs.to_vec(), [n, c.c_in, h, wd]), &dev);
            let y = conv2d(xt, wt.clone(), Some(bt.clone()), c.options());
            y.into_data().try_to_vec::<f32>().unwrap()
        };
        let all = run(&x, c.batch);
        let image = c.c_in * h * wd;
        let out = c.c_out * oh * ow;
        for i in [0, c.batch / 2, c.batch - 1] {
            let one = run(&x[i * image..(i + 1) * image], 1);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&one),
                bits(&all[i * out..(i + 1) * out]),
                "image {i}, {c:?}"
            );
        }
    }
}
