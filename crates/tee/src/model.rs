//! Which model the services run, and the adapter from `privsplit_models` partitions to
//! [`PartitionExec`].
//!
//! A service loads only its own side: the trusted service layers `[0, k)`, the untrusted service
//! `[k, n)` (`privsplit_models::weights::load_partition`, safetensors), so the untrusted host never
//! holds the trusted partition's weights.

use std::path::PathBuf;
use std::sync::Arc;

#[cfg(feature = "staged")]
pub use burn::tensor::Device;
#[cfg(feature = "staged")]
use burn::tensor::{Tensor, TensorData};
#[cfg(feature = "staged")]
use privsplit_models::stage::Partition;
#[cfg(feature = "staged")]
use privsplit_models::tabular::{csv_rows, saved_tabular_arch, TabularTask};
#[cfg(feature = "staged")]
use privsplit_models::weights::{load_partition, Side};
#[cfg(feature = "staged")]
use privsplit_models::zoo::ArchConfig;

use crate::error::{Error, Result};
use crate::exec::{PartitionExec, ToyMlp, ToyPartition};
#[cfg(feature = "staged")]
use crate::{exec::check_shape, wire::TensorMsg};

/// A model to serve.
#[derive(Debug, Clone)]
pub enum ModelSpec {
    /// The deterministic toy MLP ([`ToyMlp`]) with widths `dims` and weight seed `seed`
    /// (spec `toy:16,32,24,10` with an optional `@SEED`).
    Toy {
        /// Layer widths.
        dims: Vec<usize>,
        /// Weight seed.
        seed: u64,
    },
    /// A staged model from the zoo (spec `small-cnn`, `tabular-mlp`, `vgg16`, `resnet50`,
    /// `efficientnet-b0`, `efficientnet-lite0`; weights in privsplit's safetensors naming, a full model or
    /// this side's file, or a PyTorch / torchvision state dict of the full model).
    #[cfg(feature = "staged")]
    Staged {
        /// Architecture.
        arch: ArchConfig,
        /// Weight file (a full-model file or the file of this side).
        weights: PathBuf,
    },
}

impl ModelSpec {
    /// Parses `toy:W0,W1,...[@SEED]`, `tabular-mlp[:type|:label]` (the TON_IoT intrusion-detection MLP of
    /// `privsplit tabular train`, 10-class `type` by default, rows `[batch, features, 1, 1]`; its
    /// preprocessing next to the weights, `<weights>.preprocess.json`, gives the feature count), or a zoo
    /// image model `NAME[@SIZE][%WIDTH][:WEIGHTS]`: `small-cnn` (`[batch, 1, 28, 28]`), `vgg16`,
    /// `resnet50`, `efficientnet-b0`, `efficientnet-lite0` (ImageNet, 1000 classes, `[batch, 3, SIZE,
    /// SIZE]`, SIZE default 224, ImageNet-normalised pixels: see [`image_requests`]); WIDTH is the channel
    /// width in percent of the published design (default 100; `small-cnn%25` is the quarter-width CNN of
    /// the `tiny` sweep and defend presets). The weights come from the spec or `weights` (`--weights`),
    /// not both.
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown spec, a bad size or width, missing or doubly given weights, or a
    /// missing / malformed preprocessing file.
    pub fn parse(spec: &str, weights: Option<PathBuf>) -> Result<Self> {
        if let Some(rest) = spec.strip_prefix("toy:") {
            let (dims, seed) = match rest.split_once('@') {
                Some((d, s)) => (d, s),
                None => (rest, "7"),
            };
            let dims = dims
                .split(',')
                .map(|d| d.trim().parse::<usize>())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| Error::Config {
                    what: "model",
                    reason: format!("{spec:?}: widths must be integers ({e})"),
                })?;
            let seed = seed.parse().map_err(|e| Error::Config {
                what: "model",
                reason: format!("{spec:?}: seed must be an integer ({e})"),
            })?;
            ToyMlp::new(&dims, seed)?;
            return Ok(Self::Toy { dims, seed });
        }
        #[cfg(not(feature = "staged"))]
        {
            let _ = weights;
            Err(Error::Config {
                what: "model",
                reason: format!(
                    "{spec:?}: zoo models need the `staged` feature; expected toy:W0,W1,...[@SEED]"
                ),
            })
        }
        #[cfg(feature = "staged")]
        {
            if let Some(task) = spec.strip_prefix("tabular-mlp") {
                let weights = weights.ok_or_else(|| Error::Config {
                    what: "model weights",
                    reason: format!("{spec} needs --weights FILE (safetensors)"),
                })?;
                let arch = match task {
                    "" | ":type" => tabular_arch(&weights, TabularTask::Type)?,
                    ":label" => tabular_arch(&weights, TabularTask::Binary)?,
                    _ => {
                        return Err(Error::Config {
                            what: "model",
                            reason: format!("{spec:?}: expected tabular-mlp[:type|:label]"),
                        })
                    }
                };
                return Ok(Self::Staged { arch, weights });
            }
            let (arch, weights) = zoo_spec(spec, weights)?;
            Ok(Self::Staged { arch, weights })
        }
    }

    /// Number of stages `n` (partition points are `0..=n`).
    ///
    /// # Errors
    /// As `privsplit_models::zoo::build` for staged models.
    pub fn num_stages(&self) -> Result<usize> {
        match self {
            Self::Toy { dims, .. } => Ok(dims.len() - 1),
            #[cfg(feature = "staged")]
            Self::Staged { arch, .. } => {
                Ok(privsplit_models::zoo::build(arch, &Device::flex())?.num_stages())
            }
        }
    }

    /// Loads layers `[0, k)` (`trusted`) or `[k, n)` (untrusted) only.
    ///
    /// # Errors
    /// [`Error::Config`] for `k` outside `0..=n` (or an empty side), model-crate errors for weights.
    pub fn load_side(&self, k: usize, trusted: bool) -> Result<Arc<dyn PartitionExec>> {
        #[cfg(feature = "staged")]
        return self.load_side_on(k, trusted, &Device::flex());
        #[cfg(not(feature = "staged"))]
        self.load_side_on(k, trusted)
    }

    /// As [`ModelSpec::load_side`], with a zoo model's side on `device` (`--device` of `serve untrusted`:
    /// the untrusted partition on a GPU; the trusted side stays on the CPU, as in a TEE). The toy MLP
    /// always runs on the CPU.
    ///
    /// # Errors
    /// As [`ModelSpec::load_side`].
    pub fn load_side_on(
        &self,
        k: usize,
        trusted: bool,
        #[cfg(feature = "staged")] device: &Device,
    ) -> Result<Arc<dyn PartitionExec>> {
        let n = self.num_stages()?;
        let (from, to) = if trusted { (0, k) } else { (k, n) };
        if k > n || from == to {
            return Err(Error::Config {
                what: "partition point",
                reason: format!(
                    "k = {k} leaves the {} side empty or is outside 0..={n}",
                    if trusted { "trusted" } else { "untrusted" }
                ),
            });
        }
        match self {
            Self::Toy { dims, seed } => {
                let m = Arc::new(ToyMlp::new(dims, *seed)?);
                Ok(Arc::new(ToyPartition::new(m, from, to)?))
            }
            #[cfg(feature = "staged")]
            Self::Staged { arch, weights } => {
                let dev = device.clone();
                let side = if trusted {
                    Side::Trusted
                } else {
                    Side::Untrusted
                };
                let part = load_staged_side(arch, k, side, weights, &dev)?;
                Ok(Arc::new(StagedExec::new(part, dev)))
            }
        }
    }
}

impl ModelSpec {
    /// The checker of the untrusted side `[k, n)` for the trusted service ([`crate::verify`]): loads that
    /// side's weights (the model owner's file; verification protects integrity, not the untrusted
    /// partition's weights).
    ///
    /// # Errors
    /// [`Error::Config`] for the toy model (no trace) or an invalid `cfg` / `k`, model-crate errors.
    pub fn load_verifier(
        &self,
        k: usize,
        cfg: crate::verify::VerifyConfig,
    ) -> Result<Arc<dyn crate::verify::ResultVerifier>> {
        match self {
            Self::Toy { .. } => Err(Error::Config {
                what: "verified results",
                reason: "the toy MLP has no trace; use a zoo model".into(),
            }),
            #[cfg(feature = "staged")]
            Self::Staged { arch, weights } => {
                let n = self.num_stages()?;
                if k >= n {
                    return Err(Error::Config {
                        what: "partition point",
                        reason: format!("k = {k} leaves no untrusted side to verify (n = {n})"),
                    });
                }
                let dev = Device::flex();
                let part = load_staged_side(arch, k, Side::Untrusted, weights, &dev)?;
                Ok(Arc::new(crate::verify::StagedVerifier::new(
                    part, dev, cfg,
                )?))
            }
        }
    }
}

/// `NAME[@SIZE][%WIDTH][:WEIGHTS]` of a zoo image model (see [`ModelSpec::parse`]).
#[cfg(feature = "staged")]
fn zoo_spec(spec: &str, weights: Option<PathBuf>) -> Result<(ArchConfig, PathBuf)> {
    let bad = |reason: String| Error::Config {
        what: "model",
        reason,
    };
    let (head, in_spec) = match spec.split_once(':') {
        Some((h, w)) => (h, Some(PathBuf::from(w))),
        None => (spec, None),
    };
    let (head, width) = match head.split_once('%') {
        Some((h, w)) => {
            let pct = w
                .parse::<f64>()
                .ok()
                .filter(|p| p.is_finite() && *p > 0.0 && *p <= 400.0);
            let pct = pct.ok_or_else(|| {
                bad(format!(
                    "{spec:?}: the width after % must be a percentage in (0, 400], e.g. %25 for the \
                     quarter-width models of the tiny presets; got {w:?}"
                ))
            })?;
            (h, pct / 100.0)
        }
        None => (head, 1.0),
    };
    let (name, size) = match head.split_once('@') {
        Some((n, s)) => (
            n,
            s.parse::<usize>().map_err(|e| {
                bad(format!(
                    "{spec:?}: the size after @ must be an integer ({e})"
                ))
            })?,
        ),
        None => (head, 224),
    };
    let classes = privsplit_models::imagenet::NUM_CLASSES;
    let arch = match name {
        "small-cnn" | "fashion-mnist-cnn" => ArchConfig::small_cnn(),
        "vgg16" => ArchConfig::vgg16(size, classes),
        "resnet50" => ArchConfig::resnet50(size, classes),
        "efficientnet-b0" => ArchConfig::efficientnet_b0(size, classes),
        "efficientnet-lite0" => ArchConfig::efficientnet_lite0(size, classes),
        _ => {
            return Err(bad(format!(
            "{spec:?}: expected small-cnn, vgg16, resnet50, efficientnet-b0 or efficientnet-lite0 \
                 ([@SIZE][%WIDTH][:WEIGHTS]), tabular-mlp[:type|:label] or toy:W0,W1,...[@SEED]"
        )))
        }
    };
    let arch = arch.with_width(width);
    let weights = match (in_spec, weights) {
        (Some(_), Some(_)) => {
            return Err(Error::Config {
                what: "model weights",
                reason: format!("{spec:?} names weights and --weights gives others: give one"),
            })
        }
        (Some(w), None) | (None, Some(w)) => w,
        (None, None) => {
            return Err(Error::Config {
                what: "model weights",
                reason: format!("{spec} needs weights: {name}:FILE or --weights FILE"),
            })
        }
    };
    Ok((arch, weights))
}

/// One side of a staged model: a privsplit safetensors file (full model or this side's file) is read
/// for that side only; a PyTorch / torchvision state dict holds the whole model, so it is imported whole
/// (`privsplit_models::import::load_pytorch`) and split (give each host only its side's file, written with
/// `privsplit_models::weights::save_partition`, when the untrusted host must not hold the trusted weights).
#[cfg(feature = "staged")]
fn load_staged_side(
    arch: &ArchConfig,
    k: usize,
    side: Side,
    weights: &std::path::Path,
    dev: &Device,
) -> Result<Partition> {
    if privsplit_models::import::is_privsplit_file(weights)? {
        return Ok(load_partition(arch, k, side, weights, dev)?);
    }
    let (trusted, untrusted) =
        privsplit_models::import::load_pytorch(arch, weights, dev)?.split(k)?;
    Ok(match side {
        Side::Trusted => trusted,
        Side::Untrusted => untrusted,
    })
}

/// The requests of `privsplit infer --image`: each PNG/JPEG file through torchvision's ImageNet
/// evaluation preprocessing at `size` px (`privsplit_data::rgb::EvalTransform::imagenet`: shorter side to
/// `round(size * 256 / 224)`, centre crop) and the ImageNet mean/std normalisation
/// (`privsplit_models::imagenet::normalise`), done by the client before the trusted partition: one
/// request `[1, 3, size, size]` per file.
///
/// # Errors
/// [`Error::Config`] naming the file when it cannot be read or decoded, or `size` is 0.
#[cfg(feature = "staged")]
pub fn image_requests(files: &[PathBuf], size: usize) -> Result<Vec<TensorMsg>> {
    use privsplit_models::imagenet::{MEAN, STD};
    let t = privsplit_data::rgb::EvalTransform::imagenet(size);
    files
        .iter()
        .map(|f| {
            let bad = |e: privsplit_data::Error| Error::Config {
                what: "image",
                reason: format!("{}: {e}", f.display()),
            };
            let mut px = t
                .apply(&privsplit_data::rgb::load_photo(f).map_err(bad)?)
                .map_err(bad)?;
            let plane = size * size;
            for (c, chunk) in px.chunks_mut(plane).enumerate() {
                for v in chunk {
                    *v = (*v - MEAN[c]) / STD[c];
                }
            }
            TensorMsg::new(vec![1, 3, size, size], px)
        })
        .collect()
}

/// The tabular MLP saved at `weights`, its input width read from the preprocessing next to it.
#[cfg(feature = "staged")]
fn tabular_arch(weights: &std::path::Path, task: TabularTask) -> Result<ArchConfig> {
    saved_tabular_arch(weights, task).map_err(|e| Error::Config {
        what: "tabular model preprocessing",
        reason: e.to_string(),
    })
}

/// The requests of `privsplit infer --csv`: every row of the TON_IoT CSV file `csv`, preprocessed with
/// the model's stored preprocessing `preprocess`, one request `[1, features, 1, 1]` per row.
///
/// # Errors
/// [`Error::Config`] naming the file: an unreadable or malformed CSV (line, column and value) or
/// preprocessing file.
#[cfg(feature = "staged")]
pub fn tabular_requests(
    csv: &std::path::Path,
    preprocess: &std::path::Path,
) -> Result<Vec<TensorMsg>> {
    let rows = csv_rows(csv, preprocess).map_err(|e| Error::Config {
        what: "tabular rows",
        reason: e.to_string(),
    })?;
    (0..rows.rows)
        .map(|i| TensorMsg::new(vec![1, rows.cols, 1, 1], rows.row(i).to_vec()))
        .collect()
}

/// A `privsplit_models` [`Partition`] as a [`PartitionExec`] (inputs `[batch, c, h, w]`).
#[cfg(feature = "staged")]
#[derive(Debug)]
pub struct StagedExec {
    part: Partition,
    device: Device,
}

#[cfg(feature = "staged")]
impl StagedExec {
    /// Serves `part` on `device`.
    pub fn new(part: Partition, device: Device) -> Self {
        Self { part, device }
    }
}

#[cfg(feature = "staged")]
impl PartitionExec for StagedExec {
    fn input_shape(&self) -> Vec<usize> {
        let [c, h, w] = self.part.input_shape();
        vec![0, c, h, w]
    }

    fn run(&self, input: TensorMsg) -> Result<TensorMsg> {
        check_shape("partition input", &self.input_shape(), &input.shape)?;
        let shape = [
            input.shape[0],
            input.shape[1],
            input.shape[2],
            input.shape[3],
        ];
        let x = Tensor::<4>::from_data(TensorData::new(input.data, shape), &self.device);
        let y = self.part.forward(x)?;
        let dims = y.dims().to_vec();
        let data = y
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| Error::Exec(format!("reading the output tensor: {e:?}")))?;
        TensorMsg::new(dims, data)
    }

    fn run_traced(&self, input: TensorMsg) -> Result<Vec<TensorMsg>> {
        crate::verify::trace_partition(&self.part, &self.device, &input)
    }

    fn describe(&self) -> String {
        let (from, to) = self.part.range();
        format!(
            "{:?} stages [{from}, {to}) on {}",
            self.part.arch().kind,
            privsplit_models::device::device_name(&self.device)
        )
    }
}
