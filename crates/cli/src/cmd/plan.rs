//! `privsplit plan`: write a cluster plan (Slurm job array + merge job, Kubernetes Indexed Job) for a
//! partition-point sweep or a collateral alpha grid; `privsplit plan merge DIR` checks and joins the shards.

use std::path::PathBuf;

use privsplit_experiments::collateral::{CollateralConfig, CollateralOverrides};
use privsplit_experiments::plan::{
    merge_plan, write_plan, CollateralGrid, GridData, PlanGrid, PlanOptions, SweepGrid,
};

use super::collateral::SizeArgs;

/// Arguments of `privsplit plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to plan, or `merge`.
    #[command(subcommand)]
    pub command: PlanCommand,
}

/// Subcommands of `privsplit plan`.
#[derive(Debug, clap::Subcommand)]
pub enum PlanCommand {
    /// A partition-point sweep, one shard per partition point (`privsplit sweep --points K`).
    Sweep {
        /// Plan folder, name, binary and per-task resources.
        #[command(flatten)]
        common: PlanOptions,
        /// Preset, partition points (one shard each), sizes, weights and data folder.
        #[command(flatten)]
        grid: SweepGrid,
    },
    /// A collateral-learning alpha grid, one shard per alpha and seed (`privsplit collateral --alpha A
    /// --seed S`).
    Collateral {
        /// Plan folder, name, binary and per-task resources.
        #[command(flatten)]
        common: PlanOptions,
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
        training: CollateralOverrides,
    },
    /// Check that every shard of the plan in DIR finished with the plan's config and weights, and join
    /// them into DIR/merged-<time>/.
    Merge {
        /// The plan folder (holding plan.json).
        dir: PathBuf,
    },
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
        PlanCommand::Sweep { common, grid } => common.spec(PlanGrid::Sweep(grid))?,
        PlanCommand::Collateral {
            common,
            alpha,
            seeds,
            synthetic,
            sizes: SizeArgs { train, test },
            training,
        } => {
            let grid = CollateralGrid {
                config: CollateralConfig::default().with_overrides(&training),
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
