//! One module per subcommand: clap arguments and a `run` function.

pub mod arch;
pub mod bench;
pub mod collateral;
pub mod data;
pub mod defend;
pub mod fe;
pub mod infer;
pub mod plan;
pub mod predict;
pub mod run;
pub mod serve;
pub mod sweep;
pub mod tabular;

use privsplit_models::device::{set_threads, DeviceChoice};

/// `--device` and `--threads`: flattened into every training command and `serve untrusted`.
#[derive(Clone, Debug, clap::Args)]
pub struct DeviceArgs {
    /// Where training (or the untrusted partition) runs: `flex` (burn's CPU backend, the default), `cpu`
    /// (CubeCL CPU, cargo feature `cpu`), `cuda` (feature `cuda`) or `wgpu` (feature `wgpu`). A backend
    /// that is not compiled in or has no driver is an error, never a fallback.
    #[arg(long, value_enum)]
    pub device: Option<DeviceChoice>,
    /// CPU threads of the `flex` backend (default: `RAYON_NUM_THREADS`, else one per logical CPU).
    #[arg(long)]
    pub threads: Option<usize>,
}

impl DeviceArgs {
    /// Sets the thread count and checks that the device can run (before any data is loaded); returns the
    /// device asked for, `None` to keep the config's.
    ///
    /// # Errors
    /// `--threads 0`, a device not compiled in or without its driver (exit code 3).
    pub fn apply(&self) -> anyhow::Result<Option<DeviceChoice>> {
        if let Some(n) = self.threads {
            set_threads(n)?;
        }
        if let Some(d) = self.device {
            d.resolve()?;
        }
        Ok(self.device)
    }
}

/// A command-line value that is well formed for clap but wrong for the command (exit code 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
