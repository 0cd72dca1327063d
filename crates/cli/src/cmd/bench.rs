//! `privsplit bench ...`: the benchmarks whose results go into docs/BENCHMARKS.md.

use super::{bench_serve, bench_sweep, bench_train};

/// Arguments of `privsplit bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// One training step of the collateral adversary CNN at batch 128, against PyTorch when installed.
    Train(bench_train::Args),
    /// Partition sweep of the Fashion-MNIST CNN and c-GAN / CNN training steps, against PyTorch.
    Sweep(bench_sweep::Args),
    /// Split-inference serving on loopback: TEE-only, partitioned and untrusted-only.
    Serve(bench_serve::Args),
}

/// Runs `privsplit bench`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.what {
        What::Train(a) => bench_train::run(a),
        What::Sweep(a) => bench_sweep::run(a),
        What::Serve(a) => bench_serve::run(a),
    }
}
