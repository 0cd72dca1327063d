//! `privsplit infer` (to be written).

/// Arguments of `privsplit infer`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `privsplit infer`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("privsplit infer is not written yet")
}
