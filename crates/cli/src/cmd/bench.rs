//! `privsplit bench ...`: the benchmarks whose results go into docs/BENCHMARKS.md
//! (`privsplit_experiments::bench`, `privsplit_tee::bench`).

use std::path::PathBuf;

use privsplit_experiments::bench::sweep::BenchSweepConfig;
use privsplit_experiments::bench::train::BenchTrainConfig;
use privsplit_tee::bench::{run_bench, BenchConfig};
use privsplit_tee::launch::runtime;
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
    #[command(flatten)]
    config: BenchTrainConfig,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    device: super::DeviceArgs,
}

#[derive(Debug, clap::Args)]
struct SweepArgs {
    #[command(flatten)]
    config: BenchSweepConfig,
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
    /// Device of the untrusted partition (e.g. `cuda`; the trusted partition stays on the CPU) and CPU
    /// threads.
    #[command(flatten)]
    device: super::DeviceArgs,
}

/// Runs `privsplit bench`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.what {
        What::Train(a) => {
            let cfg = BenchTrainConfig {
                device: a.device.apply()?.unwrap_or_default(),
                ..a.config
            };
            let r = privsplit_experiments::bench::train::run(&cfg)?;
            if a.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                print!("{}", r.text());
            }
        }
        What::Sweep(a) => {
            let cfg = BenchSweepConfig {
                device: a.device.apply()?.unwrap_or_default(),
                ..a.config
            };
            let progress = &mut |s: &str| eprintln!("{s}");
            print!(
                "{}",
                privsplit_experiments::bench::sweep::run(&cfg, progress)?
            );
        }
        What::Serve(a) => {
            let device = a.device.apply()?.unwrap_or_default();
            let cfg = BenchConfig {
                device,
                model: ModelSpec::parse(&a.model, a.weights.clone())?,
                k: a.partition,
                requests: a.requests,
                warmup: a.warmup,
                concurrency: a.concurrency.max(1),
                handshakes: a.handshakes,
                seed: a.seed,
            };
            let report = runtime()?.block_on(run_bench(&cfg))?;
            println!("{}", report.to_markdown());
            if let Some(p) = a.json {
                privsplit_report::write_json(&p, &report)?;
            }
        }
    }
    Ok(())
}
