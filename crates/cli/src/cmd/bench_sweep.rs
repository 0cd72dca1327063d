//! `privsplit bench_sweep` (to be written).

/// Arguments of `privsplit bench_sweep`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `privsplit bench_sweep`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("privsplit bench_sweep is not written yet")
}
