//! The trusted partition of an ONNX model: the graph from its input up to one cut node, compiled for a
//! fixed input shape and run on the CPU, with its cost (FLOPs, parameters) from the runtime's own
//! operator cost model.

use std::collections::HashSet;

use burn::tensor::{Device, Tensor, TensorData};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::Cost;

use crate::error::chain;
use crate::graph::{CutNode, OnnxModel};
use crate::{Error, Result};

/// The graph up to one cut node (or the whole graph), compiled for input `[batch, channels, height,
/// width]`.
pub struct Cut {
    /// The cut node (`None`: the whole model up to its declared output).
    pub node: Option<CutNode>,
    /// The input shape it runs at `[batch, channels, height, width]`: the batch axis is fixed at
    /// compilation; [`Cut::run`] feeds images in chunks of `batch` (the last one padded with zeros).
    pub input: [usize; 4],
    /// Output shape of one image without the batch axis.
    pub output: Vec<usize>,
    /// Floating-point operations per image (a multiply-add counts as 2; tract's cost model of the
    /// decluttered graph: convolutions and matrix products; element-wise work is not counted).
    pub flops: u64,
    /// Constant floating-point elements of the decluttered graph (weights, with batch normalisation
    /// folded into them by the runtime; single-element constants such as a ReLU's 0 are not counted).
    pub params: usize,
    plan: std::sync::Arc<TypedRunnableModel>,
    path: std::path::PathBuf,
}

impl std::fmt::Debug for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cut")
            .field("node", &self.node.as_ref().map(|n| &n.name))
            .field("input", &self.input)
            .field("output", &self.output)
            .field("flops", &self.flops)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl OnnxModel {
    /// Compiles the graph from the input up to `node` (the whole graph when `None`) for input
    /// `[channels, height, width]` and batch `batch`. When the graph does not accept `batch` (a reshape to
    /// a constant batch of 1, say), it is compiled for batch 1 instead ([`Cut::input`] tells).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `batch` is 0, `input` does not have the declared number of channels or
    /// `node` is not a node of this model; [`Error::UnsupportedOps`] when an operator on the way to `node`
    /// is not implemented by the runtime; [`Error::Runtime`] when the graph does not accept this input
    /// shape (e.g. a pooling window larger than the feature map) or cannot be optimised.
    pub fn compile(&self, node: Option<&CutNode>, input: [usize; 3], batch: usize) -> Result<Cut> {
        if batch == 0 {
            return Err(Error::Invalid {
                what: "batch size of the ONNX runtime".into(),
                expected: ">= 1".into(),
                got: "0".into(),
            });
        }
        self.check_channels(input)?;
        match self.compile_at(node, input, batch) {
            Err(Error::Runtime { .. }) if batch > 1 => self.compile_at(node, input, 1),
            r => r,
        }
    }

    fn compile_at(&self, node: Option<&CutNode>, input: [usize; 3], batch: usize) -> Result<Cut> {
        let shape = [batch, input[0], input[1], input[2]];
        let what = node.map_or("the whole model".to_string(), |n| {
            format!("the model up to cut node {}", n.name)
        });
        let runtime = |step: &str| {
            let step = format!("{step} of {what}");
            move |e: TractError| Error::Runtime {
                path: self.path.clone(),
                step,
                input: shape,
                detail: chain(&e),
            }
        };
        let mut g = self.graph.clone();
        if let Some(n) = node {
            let id = self.node_id(&n.name).ok_or_else(|| Error::Invalid {
                what: format!("cut node of ONNX model {}", self.path.display()),
                expected: "a node of the graph".into(),
                got: n.name.clone(),
            })?;
            g = g
                .with_output_outlets(&[OutletId::new(id, 0)])
                .map_err(runtime("selecting the output"))?;
        }
        let g = g.into_compact().map_err(runtime("pruning"))?;
        self.check_ops(&g)?;
        let mut g = g;
        g.set_input_fact(0, f32::fact(shape).into())
            .map_err(runtime("setting the input shape"))?;
        let typed = g
            .into_typed()
            .and_then(TypedModel::into_decluttered)
            .map_err(runtime("shape analysis"))?;
        let out_fact = typed
            .output_fact(0)
            .map_err(runtime("shape analysis"))?
            .clone();
        let output = out_fact
            .shape
            .as_concrete()
            .map(|d| d[1.min(d.len())..].to_vec())
            .ok_or_else(|| Error::Runtime {
                path: self.path.clone(),
                step: format!("shape analysis of {what}"),
                input: shape,
                detail: format!("output shape {:?} is not concrete", out_fact.shape),
            })?;
        let (flops, params) = cost(&typed).map_err(runtime("cost analysis"))?;
        let plan = typed
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(runtime("optimisation"))?;
        Ok(Cut {
            node: node.cloned(),
            input: shape,
            output,
            flops: flops / batch as u64,
            params,
            plan,
            path: self.path.clone(),
        })
    }

    /// [`Error::UnsupportedOps`] when `g` holds operators the runtime does not implement.
    fn check_ops(&self, g: &InferenceModel) -> Result<()> {
        let bad: Vec<&tract_onnx::tract_hir::infer::InferenceNode> = g
            .nodes()
            .iter()
            .filter(|n| n.op.name().starts_with("Unimplemented("))
            .collect();
        if bad.is_empty() {
            return Ok(());
        }
        let mut ops: Vec<String> = bad.iter().map(|n| self.op_type(&n.name)).collect();
        ops.sort();
        ops.dedup();
        Err(Error::UnsupportedOps {
            path: self.path.clone(),
            ops: ops.join(", "),
            nodes: bad
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

/// FLOPs (2 x multiply-adds, whole batch) and constant float elements of a typed model.
fn cost(m: &TypedModel) -> TractResult<(u64, usize)> {
    let mut fma = 0u64;
    let mut params = 0usize;
    let mut seen = HashSet::new();
    for id in m.eval_order()? {
        let node = m.node(id);
        if let Some(k) = node.op_as::<tract_onnx::tract_core::ops::konst::Const>() {
            // Single-element constants are operator arguments (a ReLU's 0), not weights.
            if k.val().datum_type().is_float() && k.val().len() > 1 && seen.insert(id) {
                params += k.val().len();
            }
            continue;
        }
        let inputs = m.node_input_facts(id)?;
        for (c, n) in node.op.cost(&inputs)? {
            if let Cost::FMA(_) = c {
                fma += n.to_i64().map_or(0, |v| v.max(0) as u64);
            }
        }
    }
    Ok((2 * fma, params))
}

impl Cut {
    /// Runs the compiled graph on `images` `[n, channels, height, width]` (the cut's input shape; any
    /// scaling the model expects already applied) and returns the feature maps at the cut node as
    /// `[n, channels, height, width]`; a flat output `[n, features]` is returned as `[n, features, 1, 1]`
    /// and a rank-3 output `[n, channels, length]` as `[n, channels, length, 1]`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `images` do not have the cut's input shape (batch excepted) or the output
    /// has rank 1 or above 4; [`Error::Runtime`] when the runtime fails.
    pub fn run(&self, images: &Tensor<4>) -> Result<Tensor<4>> {
        let d = images.dims();
        if d[1..] != self.input[1..] {
            return Err(Error::Invalid {
                what: "images given to the ONNX model".into(),
                expected: format!(
                    "[n, {}, {}, {}] (the compiled input shape)",
                    self.input[1], self.input[2], self.input[3]
                ),
                got: format!("{d:?}"),
            });
        }
        let out4 = match self.output.as_slice() {
            [c, h, w] => [*c, *h, *w],
            [c, l] => [*c, *l, 1],
            [f] => [*f, 1, 1],
            other => {
                return Err(Error::Invalid {
                    what: "output of the ONNX cut".into(),
                    expected: "a feature map of rank 2 to 4 [batch, ...]".into(),
                    got: format!("per-image shape {other:?}"),
                })
            }
        };
        let (n, b) = (d[0], self.input[0]);
        let per_in: usize = self.input[1..].iter().product();
        let per_out: usize = out4.iter().product();
        let pixels: Vec<f32> = images
            .clone()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| Error::Invalid {
                what: "images given to the ONNX model".into(),
                expected: "f32 pixels".into(),
                got: format!("{e:?}"),
            })?;
        let mut out = Vec::with_capacity(n * per_out);
        let mut start = 0;
        while start < n {
            let len = b.min(n - start);
            let mut chunk = vec![0.0f32; b * per_in];
            chunk[..len * per_in].copy_from_slice(&pixels[start * per_in..(start + len) * per_in]);
            let y = self.run_chunk(&chunk)?;
            out.extend_from_slice(&y[..len * per_out]);
            start += len;
        }
        let dev: Device = images.device();
        Ok(Tensor::from_data(
            TensorData::new(out, [n, out4[0], out4[1], out4[2]]),
            &dev,
        ))
    }

    /// One batch through the plan: `[batch * per-image input]` -> `[batch * per-image output]`.
    fn run_chunk(&self, chunk: &[f32]) -> Result<Vec<f32>> {
        let runtime = |e: TractError| Error::Runtime {
            path: self.path.clone(),
            step: format!(
                "running up to {}",
                self.node.as_ref().map_or("the output", |n| n.name.as_str())
            ),
            input: self.input,
            detail: chain(&e),
        };
        let x = tract_onnx::prelude::Tensor::from_shape(&self.input, chunk).map_err(runtime)?;
        let out = self.plan.run(tvec!(x.into_tvalue())).map_err(runtime)?;
        let y = out.first().ok_or_else(|| Error::Runtime {
            path: self.path.clone(),
            step: "running".into(),
            input: self.input,
            detail: "no output".into(),
        })?;
        let y = y.cast_to::<f32>().map_err(runtime)?;
        let view = y.to_plain_array_view::<f32>().map_err(runtime)?;
        Ok(view.iter().copied().collect())
    }
}
