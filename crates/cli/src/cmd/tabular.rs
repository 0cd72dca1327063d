//! `privsplit tabular train|sweep`: the TON_IoT intrusion-detection workload (tabular MLP, partition sweep
//! with row-reconstruction attacks).

use std::path::PathBuf;

use privsplit_experiments::tabular::{
    sweep_job, train_job, TabularPreset, TabularSource, TabularSweepJob, TabularSweepOverrides,
    TabularTrainConfig, TabularTrainJob,
};
use privsplit_models::tabular::TabularTask;

/// Arguments of `privsplit tabular`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: TabularCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TabularCommand {
    /// Train the intrusion-detection MLP; writes model.safetensors, its preprocessing
    /// (model.safetensors.preprocess.json, for serving and `infer --csv`), train.json and train.md.
    Train(TrainArgs),
    /// Partition-point sweep of the MLP with the inverse network, c-GAN and white-box rMLE on the rows;
    /// recommends a partition point.
    Sweep(SweepArgs),
}

/// The rows: a TON_IoT file or SYNTHETIC rows.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
struct DataArgs {
    /// TON_IoT CSV file (train_test_network.csv or Network_dataset_N.csv, plain or .gz).
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Generate this many SYNTHETIC rows in the TON_IoT layout instead (seed: --seed).
    #[arg(long)]
    synthetic_rows: Option<usize>,
}

#[derive(Debug, clap::Args)]
struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The column to predict.
    #[arg(long, value_enum, default_value = "type")]
    target: TabularTask,
    /// Training epochs.
    #[arg(long, default_value_t = 8)]
    epochs: usize,
    /// Seed of the generator, the split, the initialisation and the shuffling.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Model folder (created if missing).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    device: super::DeviceArgs,
}

#[derive(Debug, clap::Args)]
struct SweepArgs {
    #[command(flatten)]
    data: DataArgs,
    /// A model folder of `privsplit tabular train` to attack (the same rows and seed); without it the
    /// sweep trains one.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Preset: `standard` (docs/RESULTS.md §3, minutes) or `tiny` (seconds; smoke test).
    #[arg(long, value_enum, default_value = "standard")]
    preset: TabularPreset,
    /// Target, epochs, partition points, attacks, margin and seed.
    #[command(flatten)]
    overrides: TabularSweepOverrides,
    /// Folder under which the run folder is created.
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    /// Run-folder name prefix.
    #[arg(long, default_value = "tabular-sweep")]
    name: String,
    #[command(flatten)]
    device: super::DeviceArgs,
}

fn source(d: &DataArgs, seed: u64) -> TabularSource {
    TabularSource::new(d.csv.clone(), d.synthetic_rows, seed)
}

/// Runs `privsplit tabular`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        TabularCommand::Train(a) => {
            let job = TabularTrainJob {
                source: source(&a.data, a.seed),
                config: TabularTrainConfig {
                    epochs: a.epochs,
                    seed: a.seed,
                    device: a.device.apply()?.unwrap_or_default(),
                    ..TabularTrainConfig::standard(a.target)
                },
                out: a.out,
            };
            let done = train_job(&job, &mut |s| eprintln!("{s}"))?;
            println!("{}", done.summary());
            Ok(())
        }
        TabularCommand::Sweep(a) => {
            let mut config = a.preset.config();
            let device = a.device.apply()?;
            let seed = a.overrides.seed;
            TabularSweepOverrides {
                device,
                ..a.overrides
            }
            .apply(&mut config);
            let job = TabularSweepJob {
                config,
                source: source(&a.data, seed),
                model: a.model,
                out: a.out,
                name: a.name,
            };
            let done = sweep_job(&job, &mut |s| eprintln!("{s}"))?;
            println!("{}", done.summary);
            println!("run folder: {}", done.folder.display());
            Ok(())
        }
    }
}
