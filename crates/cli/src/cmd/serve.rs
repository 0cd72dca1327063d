//! `privsplit serve` (to be written).

/// Arguments of `privsplit serve`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `privsplit serve`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("privsplit serve is not written yet")
}
