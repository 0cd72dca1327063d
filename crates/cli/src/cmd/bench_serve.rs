//! `privsplit bench serve`: split-inference serving on loopback (results go into docs/BENCHMARKS.md).

use std::path::PathBuf;

use anyhow::Context;
use privsplit_tee::bench::{run_bench, BenchConfig};
use privsplit_tee::model::ModelSpec;

/// Arguments of `privsplit bench serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
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

/// Runs `privsplit bench serve`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = BenchConfig {
        model: ModelSpec::parse(&args.model, args.weights.clone())?,
        k: args.partition,
        requests: args.requests,
        warmup: args.warmup,
        concurrency: args.concurrency.max(1),
        handshakes: args.handshakes,
        seed: args.seed,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let report = rt.block_on(run_bench(&cfg))?;
    println!("{}", report.to_markdown());
    if let Some(p) = args.json {
        let tmp = p.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &p).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}
