//! What a plan is made of: the grid to cut into shards, the per-task resources, and the manifest
//! (`plan.json`) that records every shard with its parameters, output folder and log file, plus the
//! SHA-256 of the configuration and of the model weights the shards must share.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use privsplit_models::device::DeviceChoice;

use crate::collateral::CollateralConfig;
use crate::sweep::{SweepConfig, SweepPreset};
use crate::{Error, Result};

/// File name of the manifest inside the plan folder.
pub const MANIFEST_FILE: &str = "plan.json";

/// Version of the manifest format.
pub const MANIFEST_VERSION: u32 = 1;

/// A partition-point sweep cut into one shard per partition point (the flags of `privsplit plan sweep`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct SweepGrid {
    /// Sweep preset (`privsplit sweep --preset`).
    #[cfg_attr(feature = "clap", arg(long, value_enum, default_value = "fashion"))]
    pub preset: SweepPreset,
    /// Partition points, comma-separated: one shard each.
    #[cfg_attr(feature = "clap", arg(long, value_delimiter = ',', required = true))]
    pub points: Vec<usize>,
    /// Input size of the lite0 preset (pixels).
    #[cfg_attr(feature = "clap", arg(long))]
    pub input_size: Option<usize>,
    /// Evaluation images.
    #[cfg_attr(feature = "clap", arg(long))]
    pub eval_images: Option<usize>,
    /// Epochs of classifier training.
    #[cfg_attr(feature = "clap", arg(long))]
    pub train_epochs: Option<usize>,
    /// rMLE optimisation steps.
    #[cfg_attr(feature = "clap", arg(long))]
    pub rmle_steps: Option<usize>,
    /// Model weights (safetensors) every shard attacks (made absolute, so that every node reads the same
    /// file, and hashed into plan.json).
    #[cfg_attr(feature = "clap", arg(long))]
    pub weights: Option<PathBuf>,
    /// Fashion-MNIST folder as the nodes see it, when not the default.
    #[cfg_attr(feature = "clap", arg(long))]
    pub data_dir: Option<PathBuf>,
}

impl SweepGrid {
    /// The sweep configuration every shard runs, apart from its partition point (`points = None`).
    pub fn config(&self) -> SweepConfig {
        let mut c = self.preset.config(self.input_size);
        c.points = None;
        c.eval_images = self.eval_images.unwrap_or(c.eval_images);
        c.classifier.epochs = self.train_epochs.unwrap_or(c.classifier.epochs);
        c.rmle.steps = self.rmle_steps.unwrap_or(c.rmle.steps);
        c
    }
}

/// Where the images of a collateral grid come from (generated on every node from the shard's seed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GridData {
    /// The tiny synthetic seven-segment set (`--synthetic`).
    Synthetic {
        /// Training images.
        train: usize,
        /// Test images.
        test: usize,
    },
    /// The default font-character set (`--fonts-default`).
    Fonts {
        /// Training images.
        train: usize,
        /// Test images.
        test: usize,
    },
}

/// A collateral-learning alpha grid (Ryffel et al. 2019, §5) cut into one shard per alpha and seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CollateralGrid {
    /// The settings every shard shares (its `alphas` and `seed` are replaced per shard). Only the settings
    /// `privsplit collateral` takes on its command line may differ from the default.
    pub config: CollateralConfig,
    /// Defence strengths, one shard per alpha and seed.
    pub alphas: Vec<f32>,
    /// Seeds, one shard per alpha and seed.
    pub seeds: Vec<u64>,
    /// The data.
    pub data: GridData,
}

impl CollateralGrid {
    /// The configuration with the per-shard settings cleared (`alphas = []`, `seed = 0`): what the
    /// manifest's config hash covers.
    pub fn shared_config(&self) -> CollateralConfig {
        shared_collateral(&self.config)
    }
}

/// `cfg` with the per-shard settings cleared (`alphas = []`, `seed = 0`).
pub(crate) fn shared_collateral(cfg: &CollateralConfig) -> CollateralConfig {
    CollateralConfig {
        alphas: Vec::new(),
        seed: 0,
        ..cfg.clone()
    }
}

/// What a plan runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // one grid per plan, built once; the collateral config is the larger
pub enum PlanGrid {
    /// A partition-point sweep (`privsplit sweep`).
    Sweep(SweepGrid),
    /// A collateral-learning alpha grid (`privsplit collateral`).
    Collateral(CollateralGrid),
}

/// Resources of one task of the array (flags of `privsplit plan sweep|collateral`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct Resources {
    /// CPU cores per task (`--cpus-per-task`; also the thread count of the task).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 2))]
    pub cpus: usize,
    /// Memory per task (MiB, `--mem`).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 4096))]
    pub mem_mb: usize,
    /// Wall-time limit per task (minutes, `--time`).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 60))]
    pub time_min: usize,
    /// Where every shard trains: `--device` of each shard's command (`flex`, `cpu`, `cuda`, `wgpu`; none:
    /// the binary's default, `flex`, or `cuda` with `--gpu`). `cuda` and `wgpu` also request one GPU per
    /// task. Checked to be compiled into this binary when the plan runs this binary (no `--bin`).
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    #[serde(default)]
    pub device: Option<DeviceChoice>,
    /// One GPU per task (`--gres=gpu:1`, `nvidia.com/gpu: 1`); the shards run with `--device cuda` unless
    /// `--device` says otherwise, and `gpu_args` are appended to every shard's command.
    #[cfg_attr(feature = "clap", arg(long))]
    pub gpu: bool,
    /// Further arguments of a shard's command on a GPU task, one string split at spaces (e.g.
    /// `--threads 1`); the device itself is `--device`.
    #[cfg_attr(
        feature = "clap",
        arg(long, value_delimiter = ' ', allow_hyphen_values = true)
    )]
    pub gpu_args: Vec<String>,
    /// Slurm partition (`--partition`), if any.
    #[cfg_attr(feature = "clap", arg(long))]
    pub partition: Option<String>,
}

impl Default for Resources {
    fn default() -> Self {
        Self {
            cpus: 2,
            mem_mb: 4096,
            time_min: 60,
            device: None,
            gpu: false,
            gpu_args: Vec::new(),
            partition: None,
        }
    }
}

impl Resources {
    /// The device every shard runs on: `device`, else `cuda` with `gpu`, else none (the binary's default).
    pub fn shard_device(&self) -> Option<DeviceChoice> {
        self.device.or(self.gpu.then_some(DeviceChoice::Cuda))
    }

    /// Whether each task gets a GPU: `gpu`, or a GPU device (`cuda`, `wgpu`).
    pub fn needs_gpu(&self) -> bool {
        self.gpu
            || matches!(
                self.shard_device(),
                Some(DeviceChoice::Cuda | DeviceChoice::Wgpu)
            )
    }

    /// What every shard's command ends with: `--device <device>` ([`Resources::shard_device`]) and, on a
    /// GPU task, `gpu_args`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `gpu_args` sets `--device` (the device is `--device` of the plan).
    pub fn shard_args(&self) -> Result<Vec<String>> {
        if self.gpu_args.iter().any(|a| a == "--device") {
            return Err(Error::invalid(
                "--gpu-args",
                "arguments other than --device (give the device with the plan's --device)",
                self.gpu_args.join(" "),
            ));
        }
        let mut a = Vec::new();
        if let Some(d) = self.shard_device() {
            a.extend(["--device".to_string(), d.name().to_string()]);
        }
        if self.needs_gpu() {
            a.extend(self.gpu_args.iter().cloned());
        }
        Ok(a)
    }
}

/// Everything needed to write a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanSpec {
    /// Plan name (job names; letters, digits and `-`).
    pub name: String,
    /// The plan folder, on storage every node sees: scripts, manifest, `shards/`, `logs/`.
    pub dir: PathBuf,
    /// The `privsplit` binary as the nodes see it.
    pub bin: String,
    /// What to run.
    pub grid: PlanGrid,
    /// Per-task resources.
    pub resources: Resources,
}

impl PlanSpec {
    /// A plan of `grid` in the folder `dir` (created, then made absolute) run by `bin`, or by the running
    /// executable when `bin` is `None`.
    ///
    /// The weights of a sweep grid are made absolute, so that every node reads the same file.
    ///
    /// # Errors
    /// [`Error::Io`] when `dir` cannot be created or resolved; [`Error::Invalid`] when `bin` is `None` and the
    /// running executable's path is unknown, or when the grid's weights cannot be read; [`Error::Model`]
    /// naming the cargo feature when `bin` is `None` and the shards' device is not compiled into this
    /// binary.
    pub fn new(
        name: &str,
        dir: &Path,
        bin: Option<String>,
        mut grid: PlanGrid,
        resources: Resources,
    ) -> Result<Self> {
        if let PlanGrid::Sweep(SweepGrid {
            weights: Some(w), ..
        }) = &mut grid
        {
            *w = w.canonicalize().map_err(|e| {
                Error::invalid(
                    "--weights",
                    "a readable weights file",
                    format!("{}: {e}", w.display()),
                )
            })?;
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        let bin = match bin {
            Some(b) => b,
            None => {
                if let Some(d) = resources.shard_device() {
                    d.check_compiled_in()?;
                }
                std::env::current_exe()
                    .map_err(|e| {
                        Error::invalid(
                            "plan binary",
                            "the privsplit binary as the nodes see it (--bin)",
                            format!("none given and this executable's path is unknown: {e}"),
                        )
                    })?
                    .display()
                    .to_string()
            }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        Ok(Self {
            name: name.to_string(),
            dir: dir.canonicalize().map_err(io(dir))?,
            bin,
            grid,
            resources,
        })
    }
}

/// The parameters of one shard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardParams {
    /// Partition point (sweeps).
    pub point: Option<usize>,
    /// Defence strength (collateral grids).
    pub alpha: Option<f32>,
    /// Seed (collateral grids).
    pub seed: Option<u64>,
}

/// One task of the array.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardSpec {
    /// Array index (`SLURM_ARRAY_TASK_ID`, `JOB_COMPLETION_INDEX`).
    pub index: usize,
    /// What the shard computes.
    pub params: ShardParams,
    /// The command line after the binary.
    pub args: Vec<String>,
    /// Output folder, relative to the plan folder.
    pub output: PathBuf,
    /// Log file (stdout and stderr), relative to the plan folder.
    pub log: PathBuf,
}

/// The manifest `plan.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanManifest {
    /// Format version ([`MANIFEST_VERSION`]).
    pub version: u32,
    /// Plan name.
    pub name: String,
    /// The plan folder (absolute).
    pub dir: PathBuf,
    /// The binary.
    pub bin: String,
    /// What runs.
    pub grid: PlanGrid,
    /// SHA-256 (hex) of the shared configuration as JSON ([`config_sha256`]).
    pub config_sha256: String,
    /// The model weights every shard reads, if any.
    pub weights: Option<PathBuf>,
    /// SHA-256 (hex) of the weights file.
    pub weights_sha256: Option<String>,
    /// Per-task resources.
    pub resources: Resources,
    /// Every shard, index `i` at position `i`.
    pub shards: Vec<ShardSpec>,
}

impl PlanManifest {
    /// Reads `dir/plan.json`.
    ///
    /// # Errors
    /// [`Error::Report`] when it cannot be read or parsed.
    pub fn read(dir: &Path) -> Result<Self> {
        Ok(privsplit_report::read_json(&dir.join(MANIFEST_FILE))?)
    }

    /// Absolute log path of shard `s`.
    pub fn log_path(&self, s: &ShardSpec) -> PathBuf {
        self.dir.join(&s.log)
    }
}

/// SHA-256 (lower-case hex) of `value` serialised as JSON (field order fixed by the type, so equal values
/// hash equally on every machine).
///
/// # Errors
/// [`Error::Invalid`] when the value cannot be serialised.
pub fn config_sha256(value: &impl Serialize) -> Result<String> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| Error::invalid("configuration", "a JSON-serialisable value", e.to_string()))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// SHA-256 (lower-case hex) of the file at `path`, read in 1 MiB blocks.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read.
pub fn file_sha256(path: &Path) -> Result<String> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}
