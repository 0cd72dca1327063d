//! `privsplit fe` (to be written).

/// Arguments of `privsplit fe`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `privsplit fe`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("privsplit fe is not written yet")
}
