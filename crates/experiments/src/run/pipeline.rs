//! The main job, `privsplit run`: one experiment config -> one run folder.
//!
//! Steps, each timed and reported:
//! 1. font-character dataset (Ryffel et al. 2019, §5) — `privsplit_data::fonts`;
//! 2. collateral learning and the semi-adversarial defence over an alpha sweep — [`crate::collateral`];
//! 3. encrypted inference of the private quadratic layer with functional encryption — [`crate::encryption`];
//! 4. a partition-point sweep with reconstruction attacks — [`crate::sweep`].
//!
//! Everything is written into a `.partial` folder renamed into place at the end (`privsplit_report::RunDir`),
//! so an interrupted run never leaves a folder under its final name.

use std::path::{Path, PathBuf};
use std::time::Instant;

use privsplit_data::installed::under_ci;
use privsplit_data::Split;
use privsplit_report::{Provenance, RunDir};

use super::config::{RunConfig, SweepStepConfig};
use super::report::{RunReport, SweepStep};
use super::write::write_report;
use crate::collateral::{run_collateral_seeds, CollateralOutcome, CollateralRuns};
use crate::datasets::load_fashion_mnist;
use crate::encryption::{self, EncryptionRun};
use crate::progress::{bar, spinner, training};
use crate::sweep::{run_sweep, write_outputs};
use crate::{Error, Result, StepContext};

/// The sweep step's data: `None` when disabled, the split, or why it is skipped.
type SweepInput = Option<std::result::Result<Split, String>>;

/// What `run` produced.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// The finished run folder.
    pub folder: PathBuf,
    /// Total wall time (s).
    pub seconds: f64,
    /// The run's findings in a few lines (the recommendation, and every DIVERGED alpha), for the terminal.
    pub headline: String,
}

/// Runs the experiment described by `cfg` and writes its run folder; `config_text` is stored as
/// `config.toml`. Progress bars unless `quiet`.
///
/// # Errors
/// Any failing step (dataset, training, attack, encryption, I/O); [`Error::NotInstalled`] when the sweep
/// is enabled, Fashion-MNIST is missing and the environment variable `CI` is set (elsewhere the sweep is
/// skipped with a message). The partial folder is removed on failure.
pub fn run(cfg: &RunConfig, config_text: &str, quiet: bool) -> Result<RunSummary> {
    let t0 = Instant::now();
    cfg.validate()?;
    let sweep_data = sweep_data(&cfg.sweep)?;
    std::fs::create_dir_all(&cfg.out_dir).map_err(|source| Error::Io {
        path: cfg.out_dir.clone(),
        source,
    })?;
    let dir = RunDir::create(&cfg.out_dir, &cfg.name)?;
    match run_into(cfg, config_text, quiet, sweep_data, &dir) {
        Ok(headline) => Ok(RunSummary {
            folder: dir.finish()?,
            seconds: t0.elapsed().as_secs_f64(),
            headline,
        }),
        Err(e) => {
            let _ = dir.abandon();
            Err(e)
        }
    }
}

/// The Fashion-MNIST split of the sweep step, read before any training so that a missing dataset fails
/// (under CI) or is reported (elsewhere) at once.
fn sweep_data(cfg: &SweepStepConfig) -> Result<SweepInput> {
    if !cfg.enabled {
        return Ok(None);
    }
    match load_fashion_mnist(&cfg.data_dir) {
        Ok(s) => Ok(Some(Ok(s))),
        Err(e) if under_ci() => Err(e),
        Err(e) => {
            eprintln!("privsplit run: SWEEP SKIPPED: {e}");
            Ok(Some(Err(e.to_string())))
        }
    }
}

fn run_into(
    cfg: &RunConfig,
    config_text: &str,
    quiet: bool,
    sweep_data: SweepInput,
    dir: &RunDir,
) -> Result<String> {
    let out = dir.path();
    dir.write("config.toml", config_text.as_bytes())?;
    let mut prov = Provenance::capture(cfg.device_label());
    for (k, s) in cfg.seeds() {
        prov.seed(k, s);
    }

    let t = Instant::now();
    let total = (cfg.fonts.train + cfg.fonts.test) as u64;
    let pb = bar(quiet, total, "font characters");
    let data = privsplit_data::fonts::generate_with_progress(&cfg.fonts, &|done, _| {
        pb.set_position(done as u64)
    })
    .step("generating the font-character dataset")?;
    pb.finish_and_clear();
    prov.step("dataset", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let pb = bar(quiet, 0, "collateral");
    let runs = run_collateral_seeds(
        &cfg.collateral,
        &data,
        cfg.fonts.input_scaling,
        &mut training(&pb),
    )
    .step("collateral-learning experiment")?;
    pb.finish_and_clear();
    prov.step("collateral learning + defence", t.elapsed().as_secs_f64());
    let outcome = first_run(&runs)?;

    let t = Instant::now();
    let encryption = encryption_step(cfg, outcome, &data, quiet, dir)?;
    prov.step("encrypted inference", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let sweep = sweep_step(&cfg.sweep, sweep_data, quiet, out)?;
    prov.step("partition-point sweep", t.elapsed().as_secs_f64());

    let mut report = RunReport::new(cfg, prov, &data, &runs, encryption, sweep);
    write_report(&mut report, out, &data)?;
    Ok(report.headline())
}

/// The first seed's outcome (its undefended model is the one encrypted and saved).
fn first_run(runs: &CollateralRuns) -> Result<&CollateralOutcome> {
    runs.runs.first().ok_or_else(|| {
        Error::invalid(
            "collateral step",
            "at least one seed's outcome",
            "none returned",
        )
    })
}

/// Step 3: encrypted inference of the undefended private part, and the trained split in the run folder
/// (`private.safetensors`, `public-head.safetensors`, `private-quantised.fe-model`) for
/// `privsplit fe keygen --model` and for re-use.
fn encryption_step(
    cfg: &RunConfig,
    outcome: &CollateralOutcome,
    data: &Split,
    quiet: bool,
    dir: &RunDir,
) -> Result<Option<encryption::EncryptionOutcome>> {
    let trained = outcome.undefended.as_ref().ok_or_else(|| {
        Error::invalid(
            "collateral step",
            "a trained undefended model",
            "none returned",
        )
    })?;
    let out = dir.path();
    trained.private.save(&out.join("private.safetensors"))?;
    trained.head.save(&out.join("public-head.safetensors"))?;
    let (measured, model) = if cfg.encryption.enabled {
        let pb = spinner(quiet, "encrypted inference");
        let EncryptionRun { outcome: o, model } = encryption::run(
            &cfg.encryption,
            trained,
            &outcome.undefended_weights,
            &data.test,
        )
        .step("encrypted inference")?;
        pb.finish_and_clear();
        (Some(o), model)
    } else {
        let model = encryption::quantise(&outcome.undefended_weights, &cfg.encryption.quant())?;
        (None, model)
    };
    dir.write("private-quantised.fe-model", &model.to_bytes())?;
    Ok(measured)
}

/// Step 4: the partition-point sweep of the Fashion-MNIST CNN, into `out/sweep/`.
fn sweep_step(
    cfg: &SweepStepConfig,
    data: SweepInput,
    quiet: bool,
    out: &Path,
) -> Result<SweepStep> {
    let split = match data {
        None => return Ok(SweepStep::Disabled),
        Some(Err(reason)) => return Ok(SweepStep::Skipped { reason }),
        Some(Ok(s)) => s,
    };
    let sweep_cfg = cfg.sweep_config()?;
    let pb = spinner(quiet, "partition sweep");
    let run = run_sweep(&sweep_cfg, &split, &mut |msg: &str| {
        pb.set_message(msg.to_string())
    })
    .step("partition-point sweep")?;
    pb.finish_and_clear();
    let dir = out.join("sweep");
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    write_outputs(&run.report, &dir)?;
    privsplit_models::weights::save_model(&run.model, &dir.join("model.safetensors"))?;
    Ok(SweepStep::Done {
        folder: "sweep".into(),
        report: Box::new(run.report),
    })
}
