//! `privsplit bench ...`: the benchmarks whose results go into docs/BENCHMARKS.md
//! (`privsplit_experiments::bench`, `privsplit_tee::bench`).

use std::path::PathBuf;

use anyhow::Context;
use privsplit_experiments::bench::sweep::BenchSweepConfig;
use privsplit_experiments::bench::train::BenchTrainConfig;
use privsplit_tee::bench::{run_bench, BenchConfig};
use privsplit_tee::model::ModelSpec;

/// Arguments of `privsplit bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// One training step of the adversary CNN, the pool1 c-GAN and the quadratic network, against PyTorch
    /// (same thread count) when installed.
    Train(TrainArgs),
    /// Partition sweep of the Fashion-MNIST CNN and c-GAN / CNN training steps, against PyTorch.
    Sweep(SweepArgs),
    /// Split-inference serving on loopback: TEE-only, partitioned and untrusted-only.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
struct TrainArgs {
    /// Images per step.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Size k of the private output (the adversary's input).
    #[arg(long, default_value_t = 4)]
    k: usize,
    /// Sensitive classes (the adversary's outputs).
    #[arg(long, default_value_t = 2)]
    classes: usize,
    /// Timed steps (the median is reported).
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// The PyTorch script.
    #[arg(long, default_value = "bench/pytorch_train_step.py")]
    script: PathBuf,
    /// Skip PyTorch even when it is installed.
    #[arg(long)]
    no_pytorch: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    device: super::DeviceArgs,
}

#[derive(Debug, clap::Args)]
struct SweepArgs {
    /// Timed steps per measurement.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Also run the full Fashion-MNIST sweep (all points, all attacks) and report its time split.
    #[arg(long)]
    full: bool,
    /// Fashion-MNIST folder (for `--full`).
    #[arg(long, default_value = privsplit_data::fashion_mnist::DEBIAN_DIR)]
    data_dir: PathBuf,
    #[command(flatten)]
    device: super::DeviceArgs,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// `small-cnn` (needs --weights; `privsplit serve init-weights` writes untrained ones) or
    /// `toy:W0,W1,...[@SEED]`.
    #[arg(long, default_value = "small-cnn")]
    model: String,
    /// Safetensors weights for a zoo model.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Partition point k.
    #[arg(long, default_value_t = 2)]
    partition: usize,
    /// Timed requests per set-up (batch 1).
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Warm-up requests per set-up.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Concurrent clients in the throughput runs.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Handshakes timed.
    #[arg(long, default_value_t = 50)]
    handshakes: usize,
    /// Input seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Runs `privsplit bench`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.what {
        What::Train(a) => {
            let r = privsplit_experiments::bench::train::run(&BenchTrainConfig {
                batch: a.batch,
                k: a.k,
                classes: a.classes,
                steps: a.steps,
                warmup: a.warmup,
                script: a.script,
                no_pytorch: a.no_pytorch,
                device: a.device.apply()?.unwrap_or_default(),
            })?;
            if a.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                print!("{}", r.text());
            }
        }
        What::Sweep(a) => {
            let cfg = BenchSweepConfig {
                steps: a.steps,
                full: a.full,
                data_dir: a.data_dir,
                device: a.device.apply()?.unwrap_or_default(),
            };
            print!(
                "{}",
                privsplit_experiments::bench::sweep::run(&cfg, &mut |s| eprintln!("{s}"))?
            );
        }
        What::Serve(a) => {
            let cfg = BenchConfig {
                model: ModelSpec::parse(&a.model, a.weights.clone())?,
                k: a.partition,
                requests: a.requests,
                warmup: a.warmup,
                concurrency: a.concurrency.max(1),
                handshakes: a.handshakes,
                seed: a.seed,
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?;
            let report = rt.block_on(run_bench(&cfg))?;
            println!("{}", report.to_markdown());
            if let Some(p) = a.json {
                privsplit_report::write_json(&p, &report)?;
            }
        }
    }
    Ok(())
}
