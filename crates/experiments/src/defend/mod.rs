//! Defending the partition point (issue 13): train the trusted partition so that an earlier, cheaper
//! partition point becomes safe. For a zoo model and a partition point `k`, each defence
//! ([`DefenceKind`]: the reconstruction defence `L_main - alpha * L_recon` against a decoder adversary, and
//! NoPeek `L_main + alpha * dCor(x, f_k(x))`, Vepakomma et al. 2020) is trained per alpha from the
//! undefended victim; fresh attackers (the sweep's c-GAN, inverse network and rMLE, trained from scratch
//! on the defended feature maps) and the sweep's rule (docs/SWEEP.md) judge every alpha; the report plots
//! main-task accuracy against the reconstruction gain per alpha, marks the safe points, and prices the
//! enclave saving of the cut at `k` against the undefended recommendation. A run the divergence check
//! flags is reported as DIVERGED, never as defended. Every model is saved in the usual weight format.
//!
//! By concern: [`config`] (settings, presets), [`run`] (the experiment), [`report`] (the run folder) and
//! [`run_job`] (one call from a config to a run folder; [`run_into`] for a folder of a larger run, the
//! `[defend]` step of `privsplit run`).

pub mod config;
pub mod report;
pub mod run;

pub use config::{DefenceKind, DefendConfig, DefendPreset};
pub use report::{summary, write_report};
pub use run::{run_defend, AlphaResult, DefendReport, Status};

use std::path::{Path, PathBuf};

use privsplit_report::{write_atomic, RunDir};

use crate::datasets::load_fashion_mnist;
use crate::{Error, Result};

/// Runs the defend experiment of `cfg` on `split` and writes its run folder into `dir` (an existing
/// folder): `config.toml`, the files of [`report::FILES`] and one sweep run folder with weights per model.
/// `privsplit defend` and the `[defend]` step of `privsplit run` both call this.
///
/// # Errors
/// As [`run_defend`]; report-writing errors.
pub fn run_into(
    cfg: &DefendConfig,
    split: &privsplit_data::Split,
    dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<DefendReport> {
    let toml = toml::to_string(cfg).map_err(|e| Error::Config {
        what: "defend config".into(),
        detail: e.to_string(),
    })?;
    write_atomic(&dir.join("config.toml"), toml.as_bytes())?;
    let report = run_defend(cfg, split, dir, progress)?;
    write_report(&report, dir)?;
    Ok(report)
}

/// A finished defend job.
#[derive(Clone, Debug)]
pub struct DefendOutcome {
    /// The run folder.
    pub folder: PathBuf,
    /// The result in one paragraph.
    pub summary: String,
    /// The report written there.
    pub report: DefendReport,
}

/// Runs the defend experiment of `cfg` on Fashion-MNIST from `data_dir` into a new run folder
/// `<out>/<name>-<UTC time>/` (built as a hidden partial folder, renamed when complete): the files of
/// [`report::FILES`] and one sweep run folder with weights per model.
///
/// # Errors
/// [`Error::Invalid`] on a bad config; [`Error::NotInstalled`] when Fashion-MNIST is missing; as
/// [`run_defend`]. The partial folder is removed on failure.
pub fn run_job(
    cfg: &DefendConfig,
    data_dir: &Path,
    out: &Path,
    name: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<DefendOutcome> {
    cfg.validate()?;
    let split = load_fashion_mnist(data_dir)?;
    let (folder, report) = RunDir::fill(out, name, |dir| run_into(cfg, &split, dir, progress))?;
    Ok(DefendOutcome {
        folder,
        summary: summary(&report),
        report,
    })
}
