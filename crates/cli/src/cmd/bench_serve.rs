//! `privsplit bench_serve` (to be written).

/// Arguments of `privsplit bench_serve`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `privsplit bench_serve`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("privsplit bench_serve is not written yet")
}
