//! `privsplit sweep` (to be written).

/// Arguments of `privsplit sweep`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `privsplit sweep`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("privsplit sweep is not written yet")
}
