//! Loading an ONNX model and finding its candidate cut nodes.
//!
//! A **cut node** is a node whose output is the whole state of the network at that point: in a
//! topological order of the nodes that depend on the input, no other tensor computed before it is still
//! needed after it. Cutting there splits the graph into a trusted partition (input up to and including the
//! node) and an untrusted partition (the rest) that receives exactly one feature map, as in TEE layer
//! partitioning (Rajasekar et al. 2024, §3). A node inside a residual block is not a cut node (the skip
//! connection would also cross the cut), nor is a constant (weights, shapes) or a node that does not depend
//! on the input.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{DimLike, Factoid};

use crate::error::chain;
use crate::{Error, Result};

/// One candidate cut node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CutNode {
    /// The node's name in the graph (the ONNX node name, or its first output's name when unnamed).
    pub name: String,
    /// The name of the tensor it outputs (the exposed feature map).
    pub output: String,
    /// The ONNX operator (`Conv`, `Relu`, `MaxPool`, ...).
    pub op: String,
    /// The feature-map shape of one image without the batch axis (`[channels, height, width]` for a
    /// convolutional map, `[features]` for a flat one), `None` when the runtime cannot infer it at the
    /// requested input size (the graph does not accept that size there).
    pub shape: Option<Vec<usize>>,
}

/// An ONNX model loaded for black-box attacks (read-only; every cut is compiled from it).
#[derive(Clone, Debug)]
pub struct OnnxModel {
    pub(crate) path: PathBuf,
    pub(crate) graph: InferenceModel,
    /// Declared input shape `[batch, channels, height, width]` (`None` for symbolic or unknown axes).
    declared: Vec<Option<usize>>,
    input_name: String,
    /// ONNX operator type of every node, by the node's name in `graph`.
    op_types: HashMap<String, String>,
    /// See [`OnnxModel::synthetic_weights`].
    synthetic_weights: bool,
}

impl OnnxModel {
    /// Reads and parses the ONNX model at `path` (protobuf `ModelProto`, weights inline or in external
    /// files next to it). The model must have one image input of rank 4 `[batch, channels, height, width]`.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`Error::Decode`] when it is not a decodable ONNX model
    /// (truncated, not protobuf) or a node cannot be built from its attributes; [`Error::Invalid`] when the
    /// graph does not have exactly one input or the input is not of rank 4.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let decode = |e: TractError| Error::Decode {
            path: path.to_path_buf(),
            detail: chain(&e),
        };
        let onnx = tract_onnx::onnx();
        let proto = onnx
            .proto_model_for_read(&mut bytes.as_slice())
            .map_err(decode)?;
        let graph = onnx.model_for_proto_model(&proto).map_err(decode)?;
        let mut op_types = HashMap::new();
        if let Some(g) = &proto.graph {
            for n in &g.node {
                // tract's naming of a node: its ONNX name, else its first output's name.
                let name = if n.name.is_empty() {
                    n.output.first().cloned().unwrap_or_default()
                } else {
                    n.name.clone()
                };
                op_types.insert(name, n.op_type.clone());
            }
        }
        let synthetic_weights = proto.graph.as_ref().is_some_and(constant_weights);
        let inputs = graph.input_outlets().map_err(decode)?.to_vec();
        let [input] = inputs.as_slice() else {
            return Err(Error::Invalid {
                what: format!("inputs of ONNX model {}", path.display()),
                expected: "exactly one (image) input".into(),
                got: format!("{} inputs", inputs.len()),
            });
        };
        let fact = graph.outlet_fact(*input).map_err(decode)?;
        let declared: Vec<Option<usize>> = match fact.shape.concretize() {
            Some(dims) => dims.iter().map(|d| d.to_usize().ok()).collect(),
            None if fact.shape.is_open() => vec![None; 4],
            None => fact
                .shape
                .dims()
                .map(|d| d.concretize().and_then(|d| d.to_usize().ok()))
                .collect(),
        };
        if declared.len() != 4 {
            return Err(Error::Invalid {
                what: format!("input of ONNX model {}", path.display()),
                expected: "an image input of rank 4 [batch, channels, height, width]".into(),
                got: format!("rank {}", declared.len()),
            });
        }
        let input_name = graph.node(input.node).name.clone();
        Ok(Self {
            path: path.to_path_buf(),
            graph,
            declared,
            input_name,
            op_types,
            synthetic_weights,
        })
    }

    /// Whether the model's weights are synthetic: every weight operand (input 1) of a `Conv`,
    /// `ConvTranspose`, `Gemm` or `MatMul` node that is a parameter (an initialiser or a `ConstantOfShape`
    /// output) is a constant fill (a `ConstantOfShape` output, or a float initialiser whose elements are all
    /// equal), and there is at least one. True of the `onnx` wheel's `light_*.onnx` test graphs (weights
    /// `ConstantOfShape`-filled to keep the files small); a trained model's weights are never uniform.
    pub fn synthetic_weights(&self) -> bool {
        self.synthetic_weights
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The name of the image input.
    pub fn input_name(&self) -> &str {
        &self.input_name
    }

    /// The declared input shape `[batch, channels, height, width]`; `None` for a symbolic or unknown axis.
    pub fn declared_input(&self) -> [Option<usize>; 4] {
        [
            self.declared[0],
            self.declared[1],
            self.declared[2],
            self.declared[3],
        ]
    }

    /// The input shape `[channels, height, width]` to run at: the declared one with `size` (height and
    /// width, pixels) overriding the declared spatial size when given.
    ///
    /// # Errors
    /// [`Error::Invalid`] when an axis is neither declared nor given (a symbolic channel axis, or symbolic
    /// height/width without `size`), or `size` is 0.
    pub fn input_shape(&self, size: Option<usize>) -> Result<[usize; 3]> {
        let what = || format!("input size of ONNX model {}", self.path.display());
        if size == Some(0) {
            return Err(Error::Invalid {
                what: what(),
                expected: "a height and width >= 1 pixel".into(),
                got: "0".into(),
            });
        }
        let c = self.declared[1].ok_or_else(|| Error::Invalid {
            what: what(),
            expected: "a declared number of input channels".into(),
            got: "a symbolic channel axis".into(),
        })?;
        let spatial = |d: Option<usize>| {
            size.or(d).ok_or_else(|| Error::Invalid {
                what: what(),
                expected: "an input size (the graph declares a symbolic height or width)".into(),
                got: "none".into(),
            })
        };
        Ok([c, spatial(self.declared[2])?, spatial(self.declared[3])?])
    }

    /// The candidate cut nodes in evaluation order (see the module docs), with their feature-map shapes
    /// at input `[channels, height, width]` (batch 1).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `input` has a different number of channels than the declared input;
    /// [`Error::Runtime`] when the graph's evaluation order cannot be computed (a cycle).
    pub fn candidates(&self, input: [usize; 3]) -> Result<Vec<CutNode>> {
        self.check_channels(input)?;
        let shape = [1, input[0], input[1], input[2]];
        let runtime = |e: TractError| Error::Runtime {
            path: self.path.clone(),
            step: "ordering the graph".into(),
            input: shape,
            detail: chain(&e),
        };
        let mut g = self.graph.clone();
        g.set_input_fact(0, f32::fact(shape).into())
            .map_err(runtime)?;
        // Obstinate: shapes upstream of a node that rejects this input size are still inferred; the
        // rejection itself is reported when that node is run (`Cut::compile`).
        let _ = g.analyse(true);
        let order = g.eval_order().map_err(runtime)?;
        let input_node = g.input_outlets().map_err(runtime)?[0].node;
        // Nodes that depend on the input, in evaluation order.
        let mut dependent: HashSet<usize> = HashSet::from([input_node]);
        let mut live_order = Vec::new();
        for &id in &order {
            let node = g.node(id);
            if id == input_node || node.inputs.iter().any(|i| dependent.contains(&i.node)) {
                dependent.insert(id);
                live_order.push(id);
            }
        }
        let position: std::collections::HashMap<usize, usize> = live_order
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, i))
            .collect();
        // last_use[i]: the latest position that reads an output of the node at position i.
        let mut last_use: Vec<usize> = (0..live_order.len()).collect();
        for (pos, &id) in live_order.iter().enumerate() {
            for i in &g.node(id).inputs {
                if let Some(&p) = position.get(&i.node) {
                    last_use[p] = last_use[p].max(pos);
                }
            }
        }
        let outputs: HashSet<usize> = g
            .output_outlets()
            .map_err(runtime)?
            .iter()
            .map(|o| o.node)
            .collect();
        let mut cuts = Vec::new();
        // Latest read of any output of the nodes strictly before the current position.
        let mut reach_before = 0;
        for (pos, &id) in live_order.iter().enumerate() {
            let node = g.node(id);
            // Every earlier tensor is dead once this node has run: it is the only crossing edge.
            let single = pos > 0 && reach_before <= pos;
            reach_before = reach_before.max(last_use[pos]);
            if !single || node.outputs.len() != 1 || outputs.contains(&id) {
                continue;
            }
            let outlet = OutletId::new(id, 0);
            let fact = &node.outputs[0].fact;
            let shape = fact
                .shape
                .concretize()
                .and_then(|d| {
                    d.iter()
                        .map(|d| d.to_usize().ok())
                        .collect::<Option<Vec<_>>>()
                })
                .map(|d| d[1.min(d.len())..].to_vec());
            cuts.push(CutNode {
                name: node.name.clone(),
                output: g.outlet_label(outlet).unwrap_or(&node.name).to_string(),
                op: self.op_type(&node.name),
                shape,
            });
        }
        Ok(cuts)
    }

    /// The cut node named `name` (a node name or the name of its output tensor).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming up to ten candidates when `name` is not a candidate cut node (unknown, or a
    /// node whose output is not the whole state, e.g. inside a residual block); as [`Self::candidates`].
    pub fn cut_node(&self, name: &str, input: [usize; 3]) -> Result<CutNode> {
        let cands = self.candidates(input)?;
        if let Some(c) = cands.iter().find(|c| c.name == name || c.output == name) {
            return Ok(c.clone());
        }
        let exists = self.node_id(name).is_some();
        let listed: Vec<&str> = cands.iter().take(10).map(|c| c.name.as_str()).collect();
        Err(Error::Invalid {
            what: format!("cut node of ONNX model {}", self.path.display()),
            expected: format!(
                "one of the {} candidate cut nodes (`privsplit sweep --onnx FILE` lists them), e.g. {}",
                cands.len(),
                listed.join(", ")
            ),
            got: if exists {
                format!("{name:?}, a node whose output is not the whole state of the network there (another tensor crosses the cut), or the model output")
            } else {
                format!("{name:?}, which is not a node or tensor of the graph")
            },
        })
    }

    /// Checks `input` against the declared input channels.
    pub(crate) fn check_channels(&self, input: [usize; 3]) -> Result<()> {
        match self.declared[1] {
            Some(c) if c != input[0] => Err(Error::Invalid {
                what: format!("input of ONNX model {}", self.path.display()),
                expected: format!("{c} channels (declared input {})", self.declared_text()),
                got: format!("{} channels ({input:?})", input[0]),
            }),
            _ => Ok(()),
        }
    }

    /// The ONNX operator type of the node named `name` (`?` when it is not an ONNX node).
    pub(crate) fn op_type(&self, name: &str) -> String {
        self.op_types
            .get(name)
            .cloned()
            .unwrap_or_else(|| "?".into())
    }

    /// The node named `name` (a node name or the name of its first output tensor).
    pub(crate) fn node_id(&self, name: &str) -> Option<usize> {
        let g = &self.graph;
        g.nodes().iter().position(|n| n.name == name).or_else(|| {
            (0..g.nodes().len()).find(|&id| g.outlet_label(OutletId::new(id, 0)) == Some(name))
        })
    }

    fn declared_text(&self) -> String {
        let d: Vec<String> = self
            .declared
            .iter()
            .map(|d| d.map_or("?".into(), |d| d.to_string()))
            .collect();
        format!("[{}]", d.join(", "))
    }
}

/// [`OnnxModel::synthetic_weights`] of `graph`.
fn constant_weights(graph: &tract_onnx::pb::GraphProto) -> bool {
    let fills: HashSet<&str> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "ConstantOfShape")
        .flat_map(|n| n.output.iter().map(String::as_str))
        .collect();
    let inits: HashMap<&str, &tract_onnx::pb::TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let mut weights = graph
        .node
        .iter()
        .filter(|n| {
            matches!(
                n.op_type.as_str(),
                "Conv" | "ConvTranspose" | "Gemm" | "MatMul"
            )
        })
        .filter_map(|n| n.input.get(1).map(String::as_str))
        .filter(|w| fills.contains(w) || inits.contains_key(w))
        .peekable();
    weights.peek().is_some()
        && weights.all(|w| fills.contains(w) || inits.get(w).is_some_and(|t| uniform(t)))
}

/// Whether the float tensor `t` (ONNX `FLOAT`, inline data) has all elements equal.
fn uniform(t: &tract_onnx::pb::TensorProto) -> bool {
    const FLOAT: i32 = 1;
    if t.data_type != FLOAT {
        return false;
    }
    if !t.float_data.is_empty() {
        return t
            .float_data
            .windows(2)
            .all(|w| w[0].to_bits() == w[1].to_bits());
    }
    let raw = t.raw_data.as_slice();
    raw.len() >= 4 && raw.len().is_multiple_of(4) && raw.chunks_exact(4).all(|c| c == &raw[..4])
}
