//! Black-box sweeps of any ONNX model (`privsplit sweep --onnx FILE --cut NODE,...`): the graph is run on
//! the CPU by `privsplit-onnx` (tract) up to each chosen cut node, and the c-GAN and inverse-network
//! attacks are trained on the exposed feature maps. White-box rMLE needs gradients through the trusted
//! partition and stays with privsplit's zoo models.
//!
//! Partition points: with cut nodes `c_1, ..., c_m` (in graph order), stage `i` is the segment of the graph
//! after `c_{i-1}` up to `c_i`, and a last stage runs from `c_m` to the model output, so `n = m + 1` and
//! point `k` (1..=m) exposes the output of `c_k`. Costs come from tract's cost model of each prefix
//! (convolution and matrix-product multiply-adds; constant float elements as parameters); the untrusted
//! latency is the whole model's minus the prefix's. When the whole graph does not run at the chosen input
//! size (a reshape to a constant shape, say), the last stage is named `rest (not run at ...)`
//! with no cost, there are no predictions (no accuracy on reconstructions, class-based priors see one
//! class) and the untrusted latency is 0: the report says so in the stage name.

use std::fmt::Write as _;
use std::path::Path;

use burn::tensor::Tensor;
use privsplit_attacks::rmle::InputNorm;
use privsplit_models::stage::{Partition, StageInfo};
use privsplit_onnx::{Cut, CutNode, OnnxModel};

use super::config::{ModelWeights, OnnxSpec};
use super::victim::Victim;
use super::SweepConfig;
use crate::timing::median_ms;
use crate::{Error, Result};

/// The listing of `privsplit sweep --onnx FILE` without `--cut`: the candidate cut nodes of the ONNX model
/// at `path` at input size `size` x `size` px (`None`: the declared size), one line each: node name,
/// operator, feature-map shape `[c, h, w]` (`?` where the graph refuses the size).
///
/// # Errors
/// As [`OnnxModel::load`], [`OnnxModel::input_shape`] and [`OnnxModel::candidates`].
pub fn onnx_listing(path: &Path, size: Option<usize>) -> Result<String> {
    let model = OnnxModel::load(path)?;
    let input = model.input_shape(size)?;
    let cands = model.candidates(input)?;
    let mut out = format!(
        "candidate cut nodes of {} (input {}, {input:?}; --cut NAME,...):\n{:<28} {:<22} feature map [c, h, w]\n",
        path.display(),
        model.input_name(),
        "node",
        "op",
    );
    for c in &cands {
        let shape = c
            .shape
            .as_ref()
            .map_or("? (graph refuses this size)".into(), |s| format!("{s:?}"));
        let _ = writeln!(out, "{:<28} {:<22} {shape}", c.name, c.op);
    }
    Ok(out)
}

/// The victim of the ONNX sweep `cfg` (its `onnx` section, pixels normalised with `cfg.norm`); records in
/// `cfg` the graph's classes (`cfg.arch.classes`, 1 when the whole graph does not run here) and where its
/// weights came from (`cfg.weights`: [`ModelWeights::Onnx`], SYNTHETIC when every weight is a constant
/// fill).
///
/// # Errors
/// [`Error::Invalid`] when `cfg` has no `onnx` section; as [`OnnxVictim::new`].
pub fn onnx_victim(cfg: &mut SweepConfig, progress: &mut dyn FnMut(&str)) -> Result<OnnxVictim> {
    let spec = cfg.onnx.as_ref().ok_or_else(|| {
        Error::invalid(
            "sweep config",
            "an `onnx` section (model file and cut nodes) for an ONNX sweep",
            "none",
        )
    })?;
    let victim = OnnxVictim::new(spec, &cfg.norm, progress)?;
    cfg.weights = Some(ModelWeights::Onnx {
        path: spec.path.display().to_string(),
        synthetic: victim.synthetic_weights,
    });
    cfg.arch.classes = victim.classes();
    Ok(victim)
}

/// An ONNX model cut at chosen nodes: a black-box [`Victim`].
pub struct OnnxVictim {
    norm: InputNorm,
    input: [usize; 3],
    /// Per cut: compiled for the spec's batch (feature maps) and for one image (latency).
    cuts: Vec<(Cut, Cut)>,
    /// The whole model (batched, one image) when it runs at this input size with a flat output.
    full: Option<(Cut, Cut)>,
    infos: Vec<StageInfo>,
    /// [`OnnxModel::synthetic_weights`].
    synthetic_weights: bool,
}

impl OnnxVictim {
    /// Loads `spec.path` and compiles it up to each of `spec.cuts` (sorted into graph order) at
    /// `spec.input_size`; `norm` is applied to the pixels before the graph.
    ///
    /// # Errors
    /// [`Error::Invalid`] when no cut is given or a name is given twice; ONNX errors (a bad file, an unknown
    /// cut node, an unsupported operator before a cut, an input size the graph refuses before a cut).
    pub fn new(spec: &OnnxSpec, norm: &InputNorm, progress: &mut dyn FnMut(&str)) -> Result<Self> {
        if spec.cuts.is_empty() {
            return Err(Error::invalid(
                "cut nodes",
                "at least one (privsplit sweep --onnx FILE lists them)",
                "none",
            ));
        }
        let model = OnnxModel::load(&spec.path)?;
        let input = model.input_shape(Some(spec.input_size))?;
        let order = model.candidates(input)?;
        let mut nodes = Vec::with_capacity(spec.cuts.len());
        for name in &spec.cuts {
            let node = model.cut_node(name, input)?;
            if nodes.iter().any(|n: &CutNode| n.name == node.name) {
                return Err(Error::invalid(
                    "cut nodes",
                    "distinct nodes",
                    format!("{name} given twice"),
                ));
            }
            nodes.push(node);
        }
        nodes.sort_by_key(|n| order.iter().position(|c| c.name == n.name));
        let mut cuts = Vec::with_capacity(nodes.len());
        for node in &nodes {
            progress(&format!(
                "compiling {} up to {} ({}) at {input:?}",
                model.path().display(),
                node.name,
                node.op
            ));
            cuts.push((
                model.compile(Some(node), input, spec.batch)?,
                model.compile(Some(node), input, 1)?,
            ));
        }
        let full = match (
            model.compile(None, input, spec.batch),
            model.compile(None, input, 1),
        ) {
            (Ok(b), Ok(one)) if one.output.len() == 1 => Some((b, one)),
            (Err(e), _) | (_, Err(e)) => {
                progress(&format!(
                    "the whole model does not run at {input:?} (no predictions, no untrusted cost): {e}"
                ));
                None
            }
            (Ok(_), Ok(one)) => {
                progress(&format!(
                    "the model output {:?} is not a vector of class scores: no predictions",
                    one.output
                ));
                None
            }
        };
        let infos = stage_infos(&cuts, full.as_ref().map(|f| &f.1), input)?;
        Ok(Self {
            norm: norm.clone(),
            input,
            cuts,
            full,
            infos,
            synthetic_weights: model.synthetic_weights(),
        })
    }
}

/// `[c, h, w]` of a per-image shape (`[f]` -> `[f, 1, 1]`, `[c, l]` -> `[c, l, 1]`).
fn shape3(s: &[usize]) -> Result<[usize; 3]> {
    match *s {
        [c, h, w] => Ok([c, h, w]),
        [c, l] => Ok([c, l, 1]),
        [f] => Ok([f, 1, 1]),
        _ => Err(Error::invalid(
            "feature map at an ONNX cut node",
            "rank 1 to 3 per image",
            format!("{s:?}"),
        )),
    }
}

/// One stage per segment between consecutive cuts, and the rest of the graph.
fn stage_infos(
    cuts: &[(Cut, Cut)],
    full: Option<&Cut>,
    input: [usize; 3],
) -> Result<Vec<StageInfo>> {
    let mut infos = Vec::with_capacity(cuts.len() + 1);
    let (mut flops, mut params) = (0u64, 0usize);
    let mut last = input;
    for (_, one) in cuts {
        let name = one.node.as_ref().map_or(String::new(), |n| n.name.clone());
        last = shape3(&one.output)?;
        infos.push(StageInfo {
            name,
            output_shape: last,
            params: one.params.saturating_sub(params),
            flops: one.flops.saturating_sub(flops),
        });
        (flops, params) = (one.flops, one.params);
    }
    infos.push(match full {
        Some(f) => StageInfo {
            name: "output".into(),
            output_shape: shape3(&f.output)?,
            params: f.params.saturating_sub(params),
            flops: f.flops.saturating_sub(flops),
        },
        None => StageInfo {
            name: format!("rest (not run at {}x{})", input[1], input[2]),
            output_shape: last,
            params: 0,
            flops: 0,
        },
    });
    Ok(infos)
}

impl Victim for OnnxVictim {
    fn stage_infos(&self) -> Vec<StageInfo> {
        self.infos.clone()
    }

    fn input_shape(&self) -> [usize; 3] {
        self.input
    }

    fn feature_maps(&self, images: &Tensor<4>, k: usize) -> Result<Tensor<4>> {
        let x = self.norm.apply(images.clone());
        match k.checked_sub(1) {
            None => Ok(x),
            Some(i) => match self.cuts.get(i) {
                Some((batched, _)) => Ok(batched.run(&x)?),
                None => Err(Error::invalid(
                    "partition point of the ONNX sweep",
                    format!("0..={}", self.cuts.len()),
                    k.to_string(),
                )),
            },
        }
    }

    /// The untrusted latency is the whole model's minus the trusted prefix's (0 when the whole model does
    /// not run at this size).
    fn latencies(&self, one: &Tensor<4>, k: usize, reps: usize) -> Result<(f64, f64)> {
        let x = self.norm.apply(one.clone());
        let time = |cut: &Cut| median_ms(|| cut.run(&x).map(|_| ()).map_err(Error::from), reps);
        let trusted = match k.checked_sub(1).and_then(|i| self.cuts.get(i)) {
            Some((_, c)) => time(c)?,
            None => 0.0,
        };
        let whole = match &self.full {
            Some((_, c)) => time(c)?,
            None => trusted,
        };
        Ok((trusted, (whole - trusted).max(0.0)))
    }

    fn classes(&self) -> usize {
        self.full
            .as_ref()
            .and_then(|(_, c)| c.output.first().copied())
            .unwrap_or(1)
    }

    fn predict(&self, images: &Tensor<4>) -> Result<Option<Vec<usize>>> {
        let Some((batched, _)) = &self.full else {
            return Ok(None);
        };
        let scores = batched.run(&self.norm.apply(images.clone()))?;
        let [n, classes, ..] = scores.dims();
        let v = scores
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|e| Error::invalid("ONNX model output", "f32 scores", format!("{e:?}")))?;
        Ok(Some(
            (0..n)
                .map(|i| {
                    let row = &v[i * classes..(i + 1) * classes];
                    (0..classes)
                        .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                        .unwrap_or(0)
                })
                .collect(),
        ))
    }

    fn white_box(&self, _k: usize) -> Result<Option<Partition>> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{run_job, ImageSource, SweepJob, SweepSource};
    use super::*;
    use privsplit_attacks::ReconstructionAttack;

    /// A black-box sweep of the `onnx` wheel's light ResNet-50 (constant-filled weights) at 64 px, two cut
    /// nodes, tiny sizes: the weights are detected as synthetic and every output says SYNTHETIC; rMLE is
    /// refused. Needs the wheel and the packaged photographs (fails under CI=1 without them).
    #[test]
    fn light_resnet50_sweep_is_labelled_synthetic_everywhere() {
        let model = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../data-cache/onnx/onnx/backend/test/data/light/light_resnet50.onnx");
        let photos = Path::new(privsplit_data::natural::SKIMAGE_DATA_DIR).join("chelsea.png");
        let sklearn = Path::new(privsplit_data::rgb::SKLEARN_IMAGES_DIR).join("china.jpg");
        if !privsplit_data::installed_or_skip(
            "the onnx wheel (bash scripts/install-deps.sh) and the packaged photographs",
            &[&model, &photos, &sklearn],
        ) {
            return;
        }
        let mut cfg = SweepConfig::onnx(OnnxSpec::new(
            model.clone(),
            vec!["n35".into(), "n3".into()],
            64,
        ));
        cfg.attacker_images = 8;
        cfg.eval_images = 3;
        cfg.rule.distractor_images = 2;
        cfg.rule.label_decoder_steps = 2;
        cfg.rule.bootstrap_resamples = 100;
        cfg.inverse.epochs = 1;
        cfg.cgan.train.epochs = 1;
        cfg.latency_reps = 1;
        cfg.grid_images = 1;
        let out = tempfile::tempdir().expect("out");
        let mut job = SweepJob {
            config: cfg,
            source: SweepSource::Onnx {
                images: ImageSource::packaged(),
            },
            out: out.path().into(),
            name: "light".into(),
            seeds: Vec::new(),
        };
        let o = run_job(&job, &mut |_| {}).expect("sweep");
        assert!(o.summary.starts_with("SYNTHETIC weights"), "{}", o.summary);
        // Cuts sorted into graph order, then the rest of the graph.
        assert_eq!(o.report.stage_names, ["n3", "n35", "output"]);
        assert_eq!(o.report.points.len(), 2);
        assert_eq!(o.report.points[0].feature_shape, [64, 16, 16]);
        assert!(o.report.points.iter().all(|p| p.attacks.len() == 2));
        assert!(o.report.config.standardise_features);
        for f in ["report.md", "report.html", "points.csv"] {
            let text = std::fs::read_to_string(o.folder.join(f)).expect(f);
            assert!(text.contains("SYNTHETIC"), "{f}");
        }
        let json: super::super::SweepReport =
            privsplit_report::read_json(&o.folder.join("report.json")).expect("report.json");
        assert!(
            matches!(
                json.config.weights,
                Some(ModelWeights::Onnx {
                    synthetic: true,
                    ..
                })
            ),
            "{:?}",
            json.config.weights
        );
        job.config.attacks.push(ReconstructionAttack::Rmle);
        let e = run_job(&job, &mut |_| {}).expect_err("rMLE");
        let chain: Vec<String> =
            std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
                .map(ToString::to_string)
                .collect();
        assert!(
            chain.iter().any(|m| m.contains("white-box rMLE")),
            "{chain:?}"
        );
    }
}
