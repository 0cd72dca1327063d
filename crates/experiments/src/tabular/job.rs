//! One call from settings to files: `privsplit tabular train` ([`train_job`]: a model folder) and
//! `privsplit tabular sweep` ([`sweep_job`]: a run folder).

use std::path::{Path, PathBuf};

use privsplit_models::tabular::{evaluate, load_tabular, preprocess_path, save_tabular};
use privsplit_models::train::Progress;
use privsplit_report::{read_json, RunDir};

use super::config::{TabularSource, TabularSweepConfig, TabularTrainConfig};
use super::data::TabularRows;
use super::report::{
    summary, write_sweep_outputs, write_train_report, TabularSweepReport, TabularTrainReport,
};
use super::run::{run_tabular_sweep, train, TabularSweepData};
use crate::{Error, Result, StepContext};

/// File name of the weights in a model folder or sweep run folder (safetensors); the preprocessing is
/// `privsplit_models::tabular::preprocess_path` of it (`model.safetensors.preprocess.json`).
pub const MODEL_FILE: &str = "model.safetensors";

/// Training of a tabular model into a folder.
#[derive(Clone, Debug)]
pub struct TabularTrainJob {
    /// The rows.
    pub source: TabularSource,
    /// The training settings.
    pub config: TabularTrainConfig,
    /// The model folder (created if missing): [`MODEL_FILE`], its preprocessing, `train.json`, `train.md`.
    pub out: PathBuf,
}

/// A trained model folder.
#[derive(Clone, Debug)]
pub struct TabularTrainOutcome {
    /// The weights (safetensors).
    pub weights: PathBuf,
    /// The fitted preprocessing (JSON), for serving and `privsplit infer --csv`.
    pub preprocess: PathBuf,
    /// The report written as `train.json`.
    pub report: TabularTrainReport,
}

impl TabularTrainOutcome {
    /// Two lines for a terminal: the task, test accuracy, macro-F1, test rows and source; the files.
    pub fn summary(&self) -> String {
        let r = &self.report;
        format!(
            "{:?} model: test accuracy {:.4}, macro-F1 {:.4} ({} test rows; {})\nweights {}; preprocessing {}",
            r.config.task,
            r.test.accuracy,
            r.test.macro_f1,
            r.split[1],
            r.source,
            self.weights.display(),
            self.preprocess.display()
        )
    }
}

/// Progress lines of training: one per finished epoch.
fn epoch_lines(progress: &mut dyn FnMut(&str)) -> impl FnMut(Progress) + '_ {
    move |p: Progress| {
        if p.step == p.steps {
            progress(&format!(
                "{}: epoch {}/{} loss {:.4}",
                p.phase, p.epoch, p.epochs, p.loss
            ));
        }
    }
}

/// Trains the model of `job` and writes its folder; every file is written atomically.
///
/// # Errors
/// [`Error::Io`] when the folder cannot be created; as [`TabularRows::load`] and [`train`]; writing errors.
pub fn train_job(
    job: &TabularTrainJob,
    progress: &mut dyn FnMut(&str),
) -> Result<TabularTrainOutcome> {
    job.config.validate()?;
    std::fs::create_dir_all(&job.out).map_err(|source| Error::Io {
        path: job.out.clone(),
        source,
    })?;
    let rows = TabularRows::load(&job.source, &job.config, None).step("loading the rows")?;
    progress(&format!(
        "{}: {} rows, {} train / {} test, {} features",
        rows.source,
        rows.table.rows,
        rows.train.len(),
        rows.test.len(),
        rows.pre.dim()
    ));
    let t = train(&rows, &job.config, &mut epoch_lines(progress)).step("training")?;
    let weights = job.out.join(MODEL_FILE);
    save_tabular(&t.model, &rows.pre, &weights)?;
    let report = TabularTrainReport {
        source: rows.source.clone(),
        synthetic: job.source.is_synthetic(),
        rows: rows.table.rows,
        config: job.config.clone(),
        features: rows.pre.dim(),
        split: [rows.train.len(), rows.test.len()],
        test: t.test,
        seconds: t.seconds,
    };
    write_train_report(&report, &job.out)?;
    Ok(TabularTrainOutcome {
        preprocess: preprocess_path(&weights),
        weights,
        report,
    })
}

/// A tabular sweep into a new run folder `<out>/<name>-<UTC time>/`.
#[derive(Clone, Debug)]
pub struct TabularSweepJob {
    /// The sweep settings (`config.train` is replaced by the model folder's when `model` is given).
    pub config: TabularSweepConfig,
    /// The rows (the same the model was trained on when `model` is given).
    pub source: TabularSource,
    /// A folder of [`train_job`] to attack instead of training here.
    pub model: Option<PathBuf>,
    /// Parent folder of the run folder.
    pub out: PathBuf,
    /// Run-folder name prefix.
    pub name: String,
}

/// A finished sweep job.
#[derive(Clone, Debug)]
pub struct TabularSweepOutcome {
    /// The run folder.
    pub folder: PathBuf,
    /// The recommendation in one paragraph.
    pub summary: String,
    /// The report written there.
    pub report: TabularSweepReport,
}

/// Runs `job` and writes its run folder (with the model and its preprocessing when trained here). The
/// partial folder is removed on failure.
///
/// # Errors
/// [`Error::Invalid`] on a bad config or when the rows are not the ones the given model was trained on
/// (another row count); as [`train_job`] and [`run_tabular_sweep`]; report errors.
pub fn sweep_job(
    job: &TabularSweepJob,
    progress: &mut dyn FnMut(&str),
) -> Result<TabularSweepOutcome> {
    job.config.validate()?;
    let (folder, report) = RunDir::fill(&job.out, &job.name, |dir| sweep_into(job, dir, progress))?;
    Ok(TabularSweepOutcome {
        folder,
        summary: summary(&report),
        report,
    })
}

fn sweep_into(
    job: &TabularSweepJob,
    dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<TabularSweepReport> {
    let mut cfg = job.config.clone();
    let (model, rows, test, train_seconds) = match &job.model {
        Some(folder) => {
            let trained: TabularTrainReport = read_json(&folder.join("train.json"))
                .step(format!("reading the model folder {}", folder.display()))?;
            cfg.train = trained.config.clone();
            cfg.train.device = cfg.device;
            let arch = cfg.train.arch(trained.features);
            let (model, pre) =
                load_tabular(&arch, &folder.join(MODEL_FILE), &cfg.device.resolve()?)?;
            let rows =
                TabularRows::load(&job.source, &cfg.train, Some(pre)).step("loading the rows")?;
            if rows.table.rows != trained.rows {
                return Err(Error::invalid(
                    "tabular sweep rows",
                    format!(
                        "the {} rows the model in {} was trained on ({})",
                        trained.rows,
                        folder.display(),
                        trained.source
                    ),
                    format!("{} rows ({})", rows.table.rows, rows.source),
                ));
            }
            let test = evaluate(
                &model,
                &rows.features(&rows.test)?,
                &rows.labels(cfg.train.task, &rows.test),
            )?;
            (model, rows, test, trained.seconds)
        }
        None => {
            let rows = TabularRows::load(&job.source, &cfg.train, None).step("loading the rows")?;
            let t = train(&rows, &cfg.train, &mut epoch_lines(progress)).step("training")?;
            save_tabular(&t.model, &rows.pre, &dir.join(MODEL_FILE))?;
            (t.model, rows, t.test, t.seconds)
        }
    };
    progress(&format!(
        "{}: {}",
        rows.source,
        super::report::scores_line(&test)
    ));
    let data = TabularSweepData::from_rows(&rows, &cfg)?;
    let mut report = run_tabular_sweep(&model, &rows.pre, &data, &cfg, progress)
        .step("tabular partition-point sweep")?;
    report.test = Some(test);
    report.train_seconds = train_seconds;
    write_sweep_outputs(&report, dir)?;
    Ok(report)
}
