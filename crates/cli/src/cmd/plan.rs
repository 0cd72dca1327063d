//! `privsplit plan`: write a cluster plan (Slurm job array + merge job, Kubernetes Indexed Job) for a
//! partition-point sweep or a collateral alpha grid; `privsplit plan merge DIR` checks and joins the shards.

use std::path::PathBuf;

use anyhow::Context;
use privsplit_experiments::collateral::CollateralConfig;
use privsplit_experiments::plan::{
    merge_plan, write_plan, CollateralGrid, GridData, PlanGrid, PlanSpec, Resources, SweepGrid,
};
use privsplit_experiments::sweep::SweepPreset;

use super::collateral::{SizeArgs, TrainingArgs};

/// Arguments of `privsplit plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to plan, or `merge`.
    #[command(subcommand)]
    pub command: PlanCommand,
}

/// Where the plan goes and what each task gets.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// Plan folder, on storage every node sees (created; scripts, plan.json, shards/, logs/).
    #[arg(long)]
    pub dir: PathBuf,
    /// Plan name (job names): lower-case letters, digits, '-'.
    #[arg(long, default_value = "privsplit")]
    pub name: String,
    /// The privsplit binary as the nodes see it (default: this binary).
    #[arg(long)]
    pub bin: Option<String>,
    /// CPU cores per task.
    #[arg(long, default_value_t = 2)]
    pub cpus: usize,
    /// Memory per task (MiB).
    #[arg(long, default_value_t = 4096)]
    pub mem_mb: usize,
    /// Wall-time limit per task (minutes).
    #[arg(long, default_value_t = 60)]
    pub time_min: usize,
    /// One GPU per task (`--gres=gpu:1`); passes --gpu-args to every shard.
    #[arg(long)]
    pub gpu: bool,
    /// Arguments selecting the GPU in a shard's command (with --gpu).
    #[arg(long, default_value = "--device cuda", allow_hyphen_values = true)]
    pub gpu_args: String,
    /// Slurm partition.
    #[arg(long)]
    pub partition: Option<String>,
}

/// Subcommands of `privsplit plan`.
#[derive(Debug, clap::Subcommand)]
pub enum PlanCommand {
    /// A partition-point sweep, one shard per partition point (`privsplit sweep --points K`).
    Sweep {
        /// Plan folder, name, binary and per-task resources.
        #[command(flatten)]
        common: Common,
        /// Sweep preset.
        #[arg(long, value_enum, default_value = "fashion")]
        preset: SweepPreset,
        /// Partition points, comma-separated: one shard each.
        #[arg(long, value_delimiter = ',', required = true)]
        points: Vec<usize>,
        /// Evaluation images.
        #[arg(long)]
        eval_images: Option<usize>,
        /// Epochs of classifier training.
        #[arg(long)]
        train_epochs: Option<usize>,
        /// rMLE optimisation steps.
        #[arg(long)]
        rmle_steps: Option<usize>,
        /// Input size of the lite0 preset (pixels).
        #[arg(long)]
        input_size: Option<usize>,
        /// Model weights (safetensors) every shard attacks (hashed into plan.json).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Fashion-MNIST folder as the nodes see it.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// A collateral-learning alpha grid, one shard per alpha and seed (`privsplit collateral --alpha A
    /// --seed S`).
    Collateral {
        /// Plan folder, name, binary and per-task resources.
        #[command(flatten)]
        common: Common,
        /// Defence strengths, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "0,1.5,3")]
        alpha: Vec<f32>,
        /// Seeds, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "0")]
        seeds: Vec<u64>,
        /// The tiny synthetic seven-segment set instead of the default font-character set.
        #[arg(long)]
        synthetic: bool,
        /// Training and test images to generate.
        #[command(flatten)]
        sizes: SizeArgs,
        /// Epochs, attackers, defence adversary, batch size and learning rate.
        #[command(flatten)]
        training: TrainingArgs,
    },
    /// Check that every shard of the plan in DIR finished with the plan's config and weights, and join
    /// them into DIR/merged-<time>/.
    Merge {
        /// The plan folder (holding plan.json).
        dir: PathBuf,
    },
}

impl Common {
    fn spec(&self, grid: PlanGrid) -> anyhow::Result<PlanSpec> {
        let resources = Resources {
            cpus: self.cpus,
            mem_mb: self.mem_mb,
            time_min: self.time_min,
            gpu: self.gpu,
            gpu_args: self.gpu_args.split_whitespace().map(String::from).collect(),
            partition: self.partition.clone(),
        };
        Ok(PlanSpec::new(
            &self.name,
            &self.dir,
            self.bin.clone(),
            grid,
            resources,
        )?)
    }
}

/// Runs `privsplit plan`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let s = match args.command {
        PlanCommand::Merge { dir } => {
            let merged = merge_plan(&dir)?;
            println!("{}", merged.summary);
            println!("run folder: {}", merged.folder.display());
            return Ok(());
        }
        PlanCommand::Sweep {
            common,
            preset,
            points,
            eval_images,
            train_epochs,
            rmle_steps,
            input_size,
            weights,
            data_dir,
        } => {
            let weights = weights
                .map(|w| {
                    w.canonicalize()
                        .with_context(|| format!("cannot read the weights {}", w.display()))
                })
                .transpose()?;
            let grid = SweepGrid {
                preset,
                points,
                input_size,
                eval_images,
                train_epochs,
                rmle_steps,
                weights,
                data_dir,
            };
            common.spec(PlanGrid::Sweep(grid))?
        }
        PlanCommand::Collateral {
            common,
            alpha,
            seeds,
            synthetic,
            sizes: SizeArgs { train, test },
            training,
        } => {
            let grid = CollateralGrid {
                config: CollateralConfig::default().with_overrides(&training.overrides()),
                alphas: alpha,
                seeds,
                data: if synthetic {
                    GridData::Synthetic { train, test }
                } else {
                    GridData::Fonts { train, test }
                },
            };
            common.spec(PlanGrid::Collateral(grid))?
        }
    };
    let m = write_plan(&s)?;
    println!(
        "plan {} written to {}: {} shards; submit with `sh {}/submit.sh` (Slurm) or see docs/DEPLOYMENT.md \
         (Kubernetes)",
        m.name,
        m.dir.display(),
        m.shards.len(),
        m.dir.display()
    );
    Ok(())
}
