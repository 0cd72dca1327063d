//! Trace and verification of the zoo's staged models (burn): one walker over the stages of a partition,
//! with a hook at every linear layer that either records its output (untrusted side) or checks a claimed
//! output (trusted side). Supported stage kinds: convolution blocks (with or without batch norm), max
//! pooling, fully connected stages, stems, ResNet bottlenecks, MBConv blocks (grouped convolutions are
//! recomputed) and classifier heads, i.e. every architecture of `privsplit_models::zoo`.

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Tensor, TensorData};
use privsplit_models::stage::{ConvBnAct, Partition, Stage};
use rand_chacha::ChaCha20Rng;

use super::{first_violation, rademacher, ResultVerifier, VerifyConfig};
use crate::error::{Error, Result};
use crate::exec::check_shape;
use crate::wire::TensorMsg;

/// A linear layer as the walker sees it.
enum OpRef<'a> {
    Conv {
        conv: &'a Conv2d,
        bn: Option<&'a BatchNorm>,
    },
    Linear(&'a Linear),
}

trait Hook {
    /// Called at every linear layer with its input; returns the layer's output (before the activation).
    fn affine(&mut self, name: String, op: OpRef<'_>, x: Tensor<4>) -> Result<Tensor<4>>;
}

fn cba(c: &ConvBnAct) -> OpRef<'_> {
    OpRef::Conv {
        conv: &c.conv,
        bn: c.bn.as_ref(),
    }
}

fn flat(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c * h * w, 1, 1])
}

/// Runs stages `[from, to)` of `part`, calling `h` at every linear layer (execution order, the trace order).
fn walk(part: &Partition, x: Tensor<4>, h: &mut dyn Hook) -> Result<Tensor<4>> {
    let (from, to) = part.range();
    let infos = part.stage_infos();
    let mut x = x;
    for (i, slot) in part.stages[from..to].iter().enumerate() {
        let st = slot
            .as_ref()
            .ok_or_else(|| Error::Exec(format!("partition slot {} is empty", from + i)))?;
        let name = infos
            .get(i)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| format!("stage{}", from + i));
        x = walk_stage(st, &name, x, h)?;
    }
    Ok(x)
}

/// The same computation as `Stage::forward`, with the linear layers routed through the hook.
fn walk_stage(st: &Stage, name: &str, x: Tensor<4>, h: &mut dyn Hook) -> Result<Tensor<4>> {
    let n = |op: &str| format!("{name}.{op}");
    Ok(match st {
        Stage::Conv(c) => c.act.apply(h.affine(n("conv"), cba(c), x)?),
        Stage::Pool(p) => p.pool.forward(x),
        Stage::Dense(d) => d
            .act
            .apply(h.affine(n("linear"), OpRef::Linear(&d.linear), flat(x))?),
        Stage::Stem(s) => {
            let y = s.conv.act.apply(h.affine(n("conv"), cba(&s.conv), x)?);
            match &s.pool {
                Some(p) => p.forward(y),
                None => y,
            }
        }
        Stage::Bottleneck(bl) => {
            let y = bl
                .conv1
                .act
                .apply(h.affine(n("conv1"), cba(&bl.conv1), x.clone())?);
            let y = bl.conv2.act.apply(h.affine(n("conv2"), cba(&bl.conv2), y)?);
            let y = bl.conv3.act.apply(h.affine(n("conv3"), cba(&bl.conv3), y)?);
            let shortcut = match &bl.downsample {
                Some(d) => d.act.apply(h.affine(n("downsample"), cba(d), x)?),
                None => x,
            };
            relu(y + shortcut)
        }
        Stage::MbConv(m) => {
            let input = x.clone();
            let x = match &m.expand {
                Some(e) => e.act.apply(h.affine(n("expand"), cba(e), x)?),
                None => x,
            };
            let x = m
                .depthwise
                .act
                .apply(h.affine(n("depthwise"), cba(&m.depthwise), x)?);
            let x = match &m.se {
                Some(se) => {
                    let [b, c, _, _] = x.dims();
                    let s = x.clone().mean_dim(3).mean_dim(2).reshape([b, c, 1, 1]);
                    let r = OpRef::Conv {
                        conv: &se.reduce,
                        bn: None,
                    };
                    let s = se.act.apply(h.affine(n("se.reduce"), r, s)?);
                    let e = OpRef::Conv {
                        conv: &se.expand,
                        bn: None,
                    };
                    x * sigmoid(h.affine(n("se.expand"), e, s)?)
                }
                None => x,
            };
            let x = m
                .project
                .act
                .apply(h.affine(n("project"), cba(&m.project), x)?);
            if m.residual {
                x + input
            } else {
                x
            }
        }
        Stage::Head(hd) => {
            let x = match &hd.conv {
                Some(c) => c.act.apply(h.affine(n("conv"), cba(c), x)?),
                None => x,
            };
            let x = hd.pool.forward(x);
            h.affine(n("fc"), OpRef::Linear(&hd.fc), flat(x))?
        }
    })
}

/// The layer's own forward pass (conv then batch norm, or the fully connected layer), as the untrusted
/// partition computes it.
fn forward_op(op: &OpRef<'_>, x: Tensor<4>) -> Tensor<4> {
    match op {
        OpRef::Conv { conv, bn } => {
            let y = conv.forward(x);
            match bn {
                Some(b) => b.forward(y),
                None => y,
            }
        }
        OpRef::Linear(l) => {
            let [b, f, _, _] = x.dims();
            let y = l.forward(x.reshape([b, f]));
            let o = y.dims()[1];
            y.reshape([b, o, 1, 1])
        }
    }
}

fn to_msg(t: Tensor<4>) -> Result<TensorMsg> {
    let dims = t.dims().to_vec();
    let data = t
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| Error::Exec(format!("reading a tensor: {e:?}")))?;
    TensorMsg::new(dims, data)
}

fn host<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .try_to_vec::<f32>()
        .map_err(|e| Error::Exec(format!("reading a tensor: {e:?}")))
}

fn input_tensor(part: &Partition, t: &TensorMsg, dev: &Device) -> Result<Tensor<4>> {
    let [c, h, w] = part.input_shape();
    check_shape("feature map", &[0, c, h, w], &t.shape)?;
    Ok(Tensor::<4>::from_data(
        TensorData::new(t.data.clone(), [t.shape[0], c, h, w]),
        dev,
    ))
}

struct TraceHook(Vec<TensorMsg>);

impl Hook for TraceHook {
    fn affine(&mut self, _name: String, op: OpRef<'_>, x: Tensor<4>) -> Result<Tensor<4>> {
        let y = forward_op(&op, x);
        self.0.push(to_msg(y.clone())?);
        Ok(y)
    }
}

/// The untrusted side: runs `part` on `input` (`[batch, c, h, w]`) and returns every linear layer's output
/// (before its activation; fully connected outputs as `[batch, features, 1, 1]`) in execution order. The
/// last tensor is the partition's output.
///
/// # Errors
/// [`Error::Shape`] for a wrongly shaped input.
pub fn trace_partition(
    part: &Partition,
    dev: &Device,
    input: &TensorMsg,
) -> Result<Vec<TensorMsg>> {
    let x = input_tensor(part, input, dev)?;
    let mut h = TraceHook(Vec::new());
    walk(part, x, &mut h)?;
    Ok(h.0)
}

/// A linear layer prepared for checking: batch norm folded in, absolute values for the tolerance.
enum Folded {
    Conv {
        /// Folded weight `[out, in/groups, kh, kw]` and bias, same geometry as the original.
        conv: Conv2d,
        /// `[out, in * kh * kw]` (groups = 1 only).
        wflat: Option<Tensor<2>>,
        bias: Tensor<1>,
        /// `|W'|`, `|b'|`: tolerance base when recomputing.
        abs_full: Conv2d,
        /// `sum_c |W'_c|`, `sum_c |b'_c|` as one output channel: tolerance base for Freivalds.
        abs_sum: Option<Conv2d>,
        out: usize,
    },
    Linear {
        w: Tensor<2>,
        b: Tensor<1>,
        abs_w: Tensor<2>,
        abs_b: Tensor<1>,
        abs_row: Tensor<2>,
        abs_bsum: f32,
        out: usize,
    },
}

fn with_weights(conv: &Conv2d, w: Tensor<4>, b: Tensor<1>) -> Conv2d {
    let [_, _, kh, kw] = w.dims();
    Conv2d {
        weight: Param::from_tensor(w),
        bias: Some(Param::from_tensor(b)),
        stride: conv.stride,
        kernel_size: [kh, kw],
        dilation: conv.dilation,
        groups: conv.groups,
        padding: conv.padding.clone(),
    }
}

fn fold(op: &OpRef<'_>, dev: &Device) -> Result<Folded> {
    match op {
        OpRef::Conv { conv, bn } => {
            let w = conv.weight.val();
            let [out, cin, kh, kw] = w.dims();
            let b = conv
                .bias
                .as_ref()
                .map(|b| b.val())
                .unwrap_or_else(|| Tensor::<1>::zeros([out], dev));
            let (w, b) = match bn {
                None => (w, b),
                Some(bn) => {
                    let s = bn.gamma.val() / bn.running_var.value().add_scalar(bn.epsilon).sqrt();
                    let w = w * s.clone().reshape([out, 1, 1, 1]);
                    let b = (b - bn.running_mean.value()) * s + bn.beta.val();
                    (w, b)
                }
            };
            let grouped = conv.groups != 1;
            let abs_full = with_weights(conv, w.clone().abs(), b.clone().abs());
            let abs_sum = (!grouped).then(|| {
                let ws = w.clone().abs().sum_dim(0);
                let bs = b.clone().abs().sum_dim(0);
                with_weights(conv, ws, bs)
            });
            let wflat = (!grouped).then(|| w.clone().reshape([out, cin * kh * kw]));
            Ok(Folded::Conv {
                conv: with_weights(conv, w, b.clone()),
                wflat,
                bias: b,
                abs_full,
                abs_sum,
                out,
            })
        }
        OpRef::Linear(l) => {
            let w = l.weight.val();
            let [_, out] = w.dims();
            let b = l
                .bias
                .as_ref()
                .map(|b| b.val())
                .unwrap_or_else(|| Tensor::<1>::zeros([out], dev));
            let abs_w = w.clone().abs();
            let abs_row = abs_w.clone().sum_dim(1);
            let abs_b = b.clone().abs();
            let abs_bsum = host(abs_b.clone().sum())?.first().copied().unwrap_or(0.0);
            Ok(Folded::Linear {
                w,
                b,
                abs_w,
                abs_b,
                abs_row,
                abs_bsum,
                out,
            })
        }
    }
}

struct BuildHook<'d> {
    dev: &'d Device,
    ops: Vec<(String, Folded)>,
    numel: Vec<usize>,
}

impl Hook for BuildHook<'_> {
    fn affine(&mut self, name: String, op: OpRef<'_>, x: Tensor<4>) -> Result<Tensor<4>> {
        self.ops.push((name, fold(&op, self.dev)?));
        let y = forward_op(&op, x);
        self.numel.push(y.dims()[1..].iter().product());
        Ok(y)
    }
}

/// Checks traces of the untrusted partition `[k, n)` of a zoo model (the trusted side holds its weights).
pub struct StagedVerifier {
    part: Partition,
    dev: Device,
    cfg: VerifyConfig,
    ops: Vec<(String, Folded)>,
    /// Values per image of each trace tensor.
    numel: Vec<usize>,
}

impl std::fmt::Debug for StagedVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedVerifier")
            .field("range", &self.part.range())
            .field("linear_layers", &self.ops.len())
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl StagedVerifier {
    /// Prepares the checks for `part` (the untrusted partition, weights as the untrusted service has them):
    /// folds batch norms and runs one image of zeros through it to learn the trace's shapes.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid `cfg`, model errors.
    pub fn new(part: Partition, dev: Device, cfg: VerifyConfig) -> Result<Self> {
        cfg.validate()?;
        let [c, h, w] = part.input_shape();
        let x = Tensor::<4>::zeros([1, c, h, w], &dev);
        let mut b = BuildHook {
            dev: &dev,
            ops: Vec::new(),
            numel: Vec::new(),
        };
        walk(&part, x, &mut b)?;
        let (ops, numel) = (b.ops, b.numel);
        Ok(Self {
            part,
            dev,
            cfg,
            ops,
            numel,
        })
    }

    /// Names of the checked linear layers, in trace order.
    pub fn layer_names(&self) -> Vec<String> {
        self.ops.iter().map(|(n, _)| n.clone()).collect()
    }
}

struct VerifyHook<'a> {
    v: &'a StagedVerifier,
    trace: &'a [TensorMsg],
    next: usize,
    rng: &'a mut ChaCha20Rng,
}

fn bad(layer: &str, reason: String) -> Error {
    Error::Verification {
        layer: layer.to_string(),
        reason,
    }
}

impl VerifyHook<'_> {
    fn claimed(&self, layer: &str, shape: [usize; 4]) -> Result<Tensor<4>> {
        let t = self
            .trace
            .get(self.next)
            .ok_or_else(|| bad(layer, "trace ends before this layer".into()))?;
        if t.shape != shape {
            return Err(bad(
                layer,
                format!("claimed output has shape {:?}, expected {shape:?}", t.shape),
            ));
        }
        Ok(Tensor::<4>::from_data(
            TensorData::new(t.data.clone(), shape),
            &self.v.dev,
        ))
    }

    fn check(
        layer: &str,
        lhs: &[f32],
        rhs: &[f32],
        tol: &[f32],
        per: usize,
        mode: &str,
    ) -> Result<()> {
        match first_violation(lhs, rhs, tol, per) {
            None => Ok(()),
            Some((i, d, t)) => Err(bad(
                layer,
                format!(
                    "{mode} mismatch at entry {i}: |claimed - expected| = {d:e} exceeds the tolerance {t:e}"
                ),
            )),
        }
    }
}

impl Hook for VerifyHook<'_> {
    fn affine(&mut self, name: String, _op: OpRef<'_>, x: Tensor<4>) -> Result<Tensor<4>> {
        let cfg = self.v.cfg;
        let (_, folded) = self
            .v
            .ops
            .get(self.next)
            .ok_or_else(|| bad(&name, "more linear layers than prepared".into()))?;
        let reps = cfg.soundness_bits as usize;
        let dev = &self.v.dev;
        let tol_of = |t: Vec<f32>| -> Vec<f32> {
            t.into_iter()
                .map(|v| cfg.rel_tolerance * v + cfg.abs_tolerance)
                .collect()
        };
        let [bsz, _, _, _] = x.dims();
        let y = match folded {
            Folded::Conv {
                conv,
                wflat: Some(wflat),
                bias,
                abs_sum: Some(abs_sum),
                out,
                ..
            } if reps < *out => {
                let out = *out;
                let [_, cin, kh, kw] = conv.weight.val().dims();
                let r = Tensor::<2>::from_data(
                    TensorData::new(rademacher(self.rng, reps, out), [reps, out]),
                    dev,
                );
                let k = r.clone().matmul(wflat.clone()).reshape([reps, cin, kh, kw]);
                let br = r
                    .clone()
                    .matmul(bias.clone().reshape([out, 1]))
                    .reshape([reps]);
                let rhs = with_weights(conv, k, br).forward(x.clone());
                let [_, _, ho, wo] = rhs.dims();
                let y = self.claimed(&name, [bsz, out, ho, wo])?;
                let p = bsz * ho * wo;
                let lhs = y
                    .clone()
                    .permute([0, 2, 3, 1])
                    .reshape([p, out])
                    .matmul(r.transpose());
                let rhs = rhs.permute([0, 2, 3, 1]).reshape([p, reps]);
                let tol = tol_of(host(abs_sum.forward(x.abs()).permute([0, 2, 3, 1]))?);
                Self::check(&name, &host(lhs)?, &host(rhs)?, &tol, reps, "Freivalds")?;
                y
            }
            Folded::Conv {
                conv,
                abs_full,
                out,
                ..
            } => {
                let want = conv.forward(x.clone());
                let [_, _, ho, wo] = want.dims();
                let y = self.claimed(&name, [bsz, *out, ho, wo])?;
                let tol = tol_of(host(abs_full.forward(x.abs()))?);
                Self::check(
                    &name,
                    &host(y.clone())?,
                    &host(want)?,
                    &tol,
                    1,
                    "recomputation",
                )?;
                y
            }
            Folded::Linear {
                w,
                b,
                abs_w,
                abs_b,
                abs_row,
                abs_bsum,
                out,
            } => {
                let out = *out;
                let [_, f, _, _] = x.dims();
                if w.dims()[0] != f {
                    return Err(bad(
                        &name,
                        format!("input has {f} features, layer expects {}", w.dims()[0]),
                    ));
                }
                let x2 = x.reshape([bsz, f]);
                let y = self.claimed(&name, [bsz, out, 1, 1])?;
                let y2 = y.clone().reshape([bsz, out]);
                if reps < out {
                    let r = Tensor::<2>::from_data(
                        TensorData::new(rademacher(self.rng, reps, out), [reps, out]),
                        dev,
                    );
                    let rt = r.clone().transpose();
                    let br = r.matmul(b.clone().reshape([out, 1])).reshape([1, reps]);
                    let rhs = x2.clone().matmul(w.clone().matmul(rt.clone())) + br;
                    let lhs = y2.matmul(rt);
                    let tol: Vec<f32> = host(x2.abs().matmul(abs_row.clone()))?
                        .into_iter()
                        .map(|v| cfg.rel_tolerance * (v + abs_bsum) + cfg.abs_tolerance)
                        .collect();
                    Self::check(&name, &host(lhs)?, &host(rhs)?, &tol, reps, "Freivalds")?;
                } else {
                    let want = x2.clone().matmul(w.clone()) + b.clone().reshape([1, out]);
                    let tol = tol_of(host(
                        x2.abs().matmul(abs_w.clone()) + abs_b.clone().reshape([1, out]),
                    )?);
                    Self::check(&name, &host(y2)?, &host(want)?, &tol, 1, "recomputation")?;
                }
                y
            }
        };
        self.next += 1;
        Ok(y)
    }
}

impl ResultVerifier for StagedVerifier {
    fn verify(
        &self,
        features: &TensorMsg,
        trace: &[TensorMsg],
        rng: &mut ChaCha20Rng,
    ) -> Result<TensorMsg> {
        if trace.len() != self.ops.len() {
            return Err(bad(
                "trace",
                format!(
                    "{} tensors, expected one per linear layer ({})",
                    trace.len(),
                    self.ops.len()
                ),
            ));
        }
        let x = input_tensor(&self.part, features, &self.dev)?;
        let mut h = VerifyHook {
            v: self,
            trace,
            next: 0,
            rng,
        };
        to_msg(walk(&self.part, x, &mut h)?)
    }

    fn trace_len(&self) -> usize {
        self.ops.len()
    }

    fn trace_bytes(&self, max_batch: usize) -> usize {
        4 + self
            .numel
            .iter()
            .map(|n| 1 + 4 * 4 + 4 * n.saturating_mul(max_batch))
            .sum::<usize>()
    }
}
