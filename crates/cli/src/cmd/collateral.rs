//! `privsplit collateral` (to be written).

/// Arguments of `privsplit collateral`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `privsplit collateral`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("privsplit collateral is not written yet")
}
