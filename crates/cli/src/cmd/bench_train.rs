//! `privsplit bench_train` (to be written).

/// Arguments of `privsplit bench_train`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `privsplit bench_train`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("privsplit bench_train is not written yet")
}
