//! `privsplit run [CONFIG]`: the main job (`privsplit_experiments::run`).

use std::path::PathBuf;

use privsplit_experiments::run::{run as run_experiment, RunConfig, RunFlags};

/// Arguments of `privsplit run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Experiment config (TOML). Without it, the embedded default experiment runs.
    pub config: Option<PathBuf>,
    /// Override a config value, e.g. `--set collateral.alphas=[0,1.5,3]` or `--set fonts.train=2000`
    /// (repeatable; the value is TOML).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Parent folder of the run folder (overrides `out_dir`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Name of the run (overrides `name`).
    #[arg(long)]
    pub name: Option<String>,
    /// Print the effective config and exit.
    #[arg(long)]
    pub print_config: bool,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// Device of every training step (sets `collateral.device` and `sweep.device`) and CPU threads.
    #[command(flatten)]
    pub device: super::DeviceArgs,
}

/// Runs `privsplit run`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let flags = RunFlags {
        out: args.out,
        name: args.name,
        device: args.device.apply()?,
    };
    let cfg = RunConfig::load(args.config.as_deref(), &args.set, &flags)?;
    let effective = cfg.to_toml()?;
    if args.print_config {
        print!("{effective}");
        return Ok(());
    }
    let summary = run_experiment(&cfg, &effective, args.quiet)?;
    println!("{}", summary.headline);
    println!(
        "run folder: {} ({:.1} s)",
        summary.folder.display(),
        summary.seconds
    );
    Ok(())
}
