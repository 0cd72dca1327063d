//! One call from a sweep configuration to a finished run folder (what `privsplit sweep` does), and the
//! merge of sweep reports into a new run folder.

use std::path::{Path, PathBuf};

use privsplit_models::weights::{load_model, save_model};
use privsplit_report::{read_json, RunDir};

use super::config::ModelWeights;
use super::data::SweepData;
use super::images::ImageSource;
use super::run::{run_sweep, run_sweep_on, run_sweep_victim, test_accuracy};
use super::{merge_reports, summary, write_outputs, SweepConfig, SweepReport};
use crate::datasets::load_fashion_mnist;
use crate::{Error, Result, StepContext};

/// Where the victim and its images come from.
#[derive(Clone, Debug, PartialEq)]
pub enum SweepSource {
    /// Fashion-MNIST from `data_dir`; the small CNN is trained unless `weights` (safetensors) are given
    /// (use the same file on every machine of a distributed sweep).
    FashionMnist {
        /// Folder of the gzipped IDX files.
        data_dir: PathBuf,
        /// Trained weights to attack instead of training.
        weights: Option<PathBuf>,
    },
    /// An ImageNet zoo model attacked on RGB photographs: attacker and evaluation crops from disjoint
    /// source images ([`super::images::sweep_data`]).
    Images {
        /// Where the photographs come from.
        images: ImageSource,
        /// Weights in either naming (privsplit safetensors or a PyTorch / torchvision state dict,
        /// `privsplit_models::import::load_weights`); `None`: seeded random weights, labelled UNTRAINED.
        weights: Option<PathBuf>,
    },
    /// The ONNX model of the config's `onnx` section, attacked black-box at its cut nodes
    /// ([`super::onnx::onnx_victim`]) on RGB photographs, as [`SweepSource::Images`].
    Onnx {
        /// Where the photographs come from.
        images: ImageSource,
    },
}

/// A sweep to run into a new run folder `<out>/<name>-<UTC time>/`.
#[derive(Clone, Debug)]
pub struct SweepJob {
    /// The sweep settings (from a preset, with overrides).
    pub config: SweepConfig,
    /// The victim and its data.
    pub source: SweepSource,
    /// Parent folder of the run folder.
    pub out: PathBuf,
    /// Run-folder name prefix.
    pub name: String,
    /// Seeds to repeat the sweep with ([`SweepConfig::with_seed`]); empty: once, with the config's seeds.
    /// With two or more, each seed's run folder is `seed-<seed>/` inside the run folder, and the top-level
    /// report summarises them ([`super::seeds::combine_seeds`]).
    pub seeds: Vec<u64>,
}

/// A finished sweep job.
#[derive(Clone, Debug)]
pub struct SweepOutcome {
    /// The run folder.
    pub folder: PathBuf,
    /// The recommendation in one paragraph.
    pub summary: String,
    /// The report written there.
    pub report: SweepReport,
}

/// Runs `job` and writes its run folder (`model.safetensors` too when the model was trained here).
///
/// # Errors
/// [`Error::Invalid`] on a bad config; [`Error::NotInstalled`] when Fashion-MNIST, the photographs or the
/// pretrained weights are missing; sweep and report errors. The partial folder is removed on failure.
pub fn run_job(job: &SweepJob, progress: &mut dyn FnMut(&str)) -> Result<SweepOutcome> {
    job.config.validate()?;
    let dir = RunDir::create(&job.out, &job.name)?;
    let report = match sweep_seeds(job, dir.path(), progress) {
        Ok(r) => r,
        Err(e) => {
            let _ = dir.abandon();
            return Err(e);
        }
    };
    let folder = dir.finish()?;
    Ok(SweepOutcome {
        folder,
        summary: summary(&report),
        report,
    })
}

/// One sweep per seed of `job` (or one with the config's seeds), then the combined report, into `dir`.
fn sweep_seeds(job: &SweepJob, dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<SweepReport> {
    match job.seeds.as_slice() {
        [] => sweep_into(&job.config, &job.source, dir, progress),
        [s] => sweep_into(
            &job.config.clone().with_seed(*s),
            &job.source,
            dir,
            progress,
        ),
        seeds => {
            let mut reports = Vec::with_capacity(seeds.len());
            for &s in seeds {
                progress(&format!("sweep with seed {s}"));
                let sub = dir.join(format!("seed-{s}"));
                std::fs::create_dir_all(&sub).map_err(|source| Error::Io {
                    path: sub.clone(),
                    source,
                })?;
                let cfg = job.config.clone().with_seed(s);
                reports.push(sweep_into(&cfg, &job.source, &sub, progress)?);
            }
            let combined = super::seeds::combine_seeds(reports, seeds)?;
            write_outputs(&combined, dir)?;
            Ok(combined)
        }
    }
}

fn sweep_into(
    cfg: &SweepConfig,
    source: &SweepSource,
    dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<SweepReport> {
    let dev = cfg.device.resolve()?;
    let report = match source {
        SweepSource::Images { images, weights } => {
            let mut cfg = cfg.clone();
            let model = super::images::victim(&mut cfg, weights.as_deref(), &dev)?;
            let data = super::images::sweep_data(&cfg, images, &dev, progress)?;
            run_sweep_on(&model, &data, &cfg, progress).step("partition-point sweep")?
        }
        SweepSource::Onnx { images } => {
            let mut cfg = cfg.clone();
            let victim =
                super::onnx::onnx_victim(&mut cfg, progress).step("loading the ONNX model")?;
            let data = super::images::sweep_data(&cfg, images, &dev, progress)?;
            run_sweep_victim(&victim, &data, &cfg, progress).step("partition-point sweep")?
        }
        SweepSource::FashionMnist { data_dir, weights } => {
            let split = load_fashion_mnist(data_dir)?;
            let mut cfg = cfg.clone();
            cfg.weights = Some(match weights {
                Some(w) => ModelWeights::File {
                    path: w.display().to_string(),
                },
                None => ModelWeights::TrainedHere,
            });
            let cfg = &cfg;
            match weights {
                Some(w) => {
                    let model = load_model(&cfg.arch, w, &dev)?;
                    let data = SweepData::fashion(cfg, &split, &dev)?;
                    let mut report =
                        run_sweep_on(&model, &data, cfg, progress).step("partition-point sweep")?;
                    let acc = test_accuracy(&model, cfg, &split)?;
                    progress(&format!(
                        "test accuracy of {}: {:.2} %",
                        w.display(),
                        acc * 100.0
                    ));
                    report.test_accuracy = Some(acc);
                    report
                }
                None => {
                    let run = run_sweep(cfg, &split, progress).step("partition-point sweep")?;
                    save_model(&run.model, &dir.join("model.safetensors"))?;
                    run.report
                }
            }
        }
    };
    write_outputs(&report, dir)?;
    Ok(report)
}

/// Joins the sweep reports `reports` (`report.json` files or run folders holding one) of disjoint
/// partition-point subsets into a new run folder `<out>/sweep-merged-<UTC time>/`.
///
/// # Errors
/// [`Error::Report`] when a report cannot be read; as [`merge_reports`]; report-writing errors.
pub fn merge_job(reports: &[PathBuf], out: &Path) -> Result<SweepOutcome> {
    let mut all = Vec::with_capacity(reports.len());
    for p in reports {
        let file = if p.is_dir() {
            p.join("report.json")
        } else {
            p.clone()
        };
        let r: SweepReport =
            read_json(&file).step(format!("reading sweep report {}", file.display()))?;
        all.push(r);
    }
    let merged = merge_reports(all)?;
    let dir = RunDir::create(out, "sweep-merged")?;
    if let Err(e) = write_outputs(&merged, dir.path()) {
        let _ = dir.abandon();
        return Err(e);
    }
    Ok(SweepOutcome {
        folder: dir.finish()?,
        summary: summary(&merged),
        report: merged,
    })
}
