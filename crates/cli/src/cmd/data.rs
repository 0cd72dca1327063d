//! `privsplit data` (to be written).

/// Arguments of `privsplit data`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `privsplit data`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("privsplit data is not written yet")
}
