//! `privsplit run` (to be written).

/// Arguments of `privsplit run`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `privsplit run`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("privsplit run is not written yet")
}
