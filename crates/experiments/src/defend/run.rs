//! Running the defend experiment: train the victim and sweep it undefended, then per defence and alpha
//! defend the partition point, evaluate the defended model with fresh attackers and the sweep's rule, and
//! save it.

use std::path::Path;
use std::time::Instant;

use burn::tensor::Device;
use privsplit_attacks::ReconstructionAttack;
use privsplit_data::Split;
use privsplit_defenses::divergence::DivergenceEvent;
use privsplit_defenses::nopeek::NoPeekOptimizers;
use privsplit_defenses::partition_defence::{train_defence, DefenceData, SplitPair};
use privsplit_defenses::reconstruction::{ReconNetworks, ReconOptimizers};
use privsplit_models::classifier::{images_tensor, labels};
use privsplit_models::stage::StagedModel;
use privsplit_models::weights::save_model;
use privsplit_models::zoo::build;
use privsplit_report::Provenance;
use serde::{Deserialize, Serialize};

use super::config::{DefenceKind, DefendConfig};
use crate::sweep::run::test_accuracy;
use crate::sweep::{
    run_sweep, run_sweep_on, write_outputs, LeakageFloor, PointResult, Recommendation, SweepData,
    SweepReport, Verdict,
};
use crate::{Error, Result, StepContext};

/// Weight file of every model in the run folder (the format of `privsplit_models::weights::save_model`,
/// served by `privsplit serve --weights`).
pub const MODEL_FILE: &str = "model.safetensors";

/// One attack's score on the defended feature map at `k`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackSummary {
    /// The attack (trained from scratch on the defended model's feature maps).
    pub attack: ReconstructionAttack,
    /// Mean SSIM in `[-1, 1]` of its reconstructions.
    pub ssim: f64,
    /// Mean PSNR (dB).
    pub psnr: f64,
    /// SSIM gain over the strongest prior-only baseline (SSIM units), when measured.
    pub gain: Option<f64>,
    /// Upper bound of the gain's 95 % bootstrap interval (what the rule compares with the floor + margin).
    pub gain_ci95_upper: Option<f64>,
    /// Identification top-1 rate in `[0, 1]` among the rule's candidates, when measured.
    pub identification: Option<f64>,
}

impl AttackSummary {
    fn of(p: &PointResult) -> Vec<Self> {
        p.attacks
            .iter()
            .map(|a| Self {
                attack: a.attack,
                ssim: a.ssim,
                psnr: a.psnr,
                gain: a.leakage.as_ref().map(|l| l.gain),
                gain_ci95_upper: a.leakage.as_ref().map(|l| l.gain_ci95[1]),
                identification: a
                    .leakage
                    .as_ref()
                    .and_then(|l| l.identification.as_ref().map(|i| i.top1)),
            })
            .collect()
    }
}

/// The largest SSIM gain of any attack (None without leakage statistics).
fn max_gain(attacks: &[AttackSummary]) -> Option<f64> {
    attacks.iter().filter_map(|a| a.gain).max_by(f64::total_cmp)
}

/// What became of one defended model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Safe at `k` by the rule, within the accuracy budget, not diverged.
    Defended,
    /// Safe at `k` by the rule, but it cost more main-task accuracy than the budget.
    SafeOverBudget,
    /// Not safe at `k` by the rule.
    Unsafe,
    /// The defence left the divergence band and could not be brought back: never reported as defended,
    /// whatever its leakage.
    Diverged,
}

impl Status {
    /// The label in tables: `defended`, `safe, over budget`, `unsafe`, `DIVERGED`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Defended => "defended",
            Self::SafeOverBudget => "safe, over budget",
            Self::Unsafe => "unsafe",
            Self::Diverged => "DIVERGED",
        }
    }
}

/// The result of one defence at one alpha.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlphaResult {
    /// The defence.
    pub defence: DefenceKind,
    /// The alpha asked for.
    pub alpha: f32,
    /// The alpha in force at the end (halved by each rollback of the divergence check).
    pub final_alpha: f32,
    /// Whether the divergence check judged the run diverged.
    pub diverged: bool,
    /// Every divergence event of the run.
    pub divergence_events: Vec<DivergenceEvent>,
    /// Main-task accuracy in `[0, 1]` of the defended model on the whole test split.
    pub test_accuracy: f64,
    /// Undefended minus defended test accuracy (fraction; positive = a loss).
    pub accuracy_drop: f64,
    /// Each fresh attack's score at `k`.
    pub attacks: Vec<AttackSummary>,
    /// The largest SSIM gain over the prior-only baseline at `k` (the x of the trade-off plot).
    pub max_gain: Option<f64>,
    /// The floor the defended model was judged against (its own output's leakage at `n`).
    pub floor: Option<LeakageFloor>,
    /// The rule's verdict at `k`.
    pub verdict: Option<Verdict>,
    /// The outcome.
    pub status: Status,
    /// The run folder of the defended model's evaluation (a sweep report) and its weights, relative.
    pub folder: String,
    /// Wall time of the defence training (s).
    pub train_seconds: f64,
    /// Wall time of the evaluation: fresh attacks, rule, test accuracy (s).
    pub eval_seconds: f64,
}

/// The enclave cost of a trusted partition (from the sweep's cost model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CutCost {
    /// Partition point.
    pub k: usize,
    /// Trusted-partition FLOPs per image.
    pub trusted_flops: u64,
    /// Trusted-partition parameter bytes (f32).
    pub trusted_param_bytes: usize,
    /// Estimated trusted-partition latency in the TEE (ms per image; the measured CPU latency without an
    /// enclave estimate).
    pub estimated_ms: f64,
}

impl CutCost {
    fn of(p: &PointResult) -> Self {
        Self {
            k: p.k,
            trusted_flops: p.trusted_flops,
            trusted_param_bytes: p.trusted_param_bytes,
            estimated_ms: p.enclave.as_ref().map_or(p.trusted_ms, |e| e.estimated_ms),
        }
    }
}

/// The undefended model: its test accuracy, the rule at `k`, and its recommendation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Undefended {
    /// Main-task accuracy in `[0, 1]` on the whole test split.
    pub test_accuracy: f64,
    /// The attacks' scores at `k`.
    pub attacks: Vec<AttackSummary>,
    /// The largest SSIM gain at `k`.
    pub max_gain: Option<f64>,
    /// The rule's verdict at `k`.
    pub verdict: Option<Verdict>,
    /// The undefended sweep's recommendation (`None`: no safe point).
    pub recommendation: Option<Recommendation>,
    /// The reference cut: the recommended point, or the whole model (`k = n`) when none is safe.
    pub reference: Option<CutCost>,
    /// The cost of the cut at `k`.
    pub at_k: Option<CutCost>,
}

/// The whole experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefendReport {
    /// The effective config.
    pub config: DefendConfig,
    /// Stages of the model (`n`).
    pub num_stages: usize,
    /// Name of the last trusted stage at `k`.
    pub stage: String,
    /// The undefended model.
    pub undefended: Undefended,
    /// One result per defence and alpha, in config order.
    pub results: Vec<AlphaResult>,
    /// Commit, machine, seeds, step times.
    pub provenance: Provenance,
    /// Wall time of the whole experiment (s).
    pub seconds: f64,
}

impl DefendReport {
    /// The defended results (safe at `k`, within the budget, not diverged).
    pub fn defended(&self) -> impl Iterator<Item = &AlphaResult> {
        self.results.iter().filter(|r| r.status == Status::Defended)
    }
}

/// The status of a defended model (a diverged run is never anything but [`Status::Diverged`]).
pub fn status(diverged: bool, safe: bool, accuracy_drop: f64, budget: f64) -> Status {
    match (diverged, safe) {
        (true, _) => Status::Diverged,
        (false, false) => Status::Unsafe,
        (false, true) if accuracy_drop <= budget + 1e-12 => Status::Defended,
        (false, true) => Status::SafeOverBudget,
    }
}

/// Point `k` of a sweep report, its verdict and the report's floor.
fn at_point(r: &SweepReport, k: usize) -> (Option<&PointResult>, Option<Verdict>) {
    (
        r.points.iter().find(|p| p.k == k),
        r.verdicts.iter().find(|v| v.k == k).cloned(),
    )
}

/// The undefended summary from the undefended sweep.
fn undefended(r: &SweepReport, k: usize, test_accuracy: f64) -> Undefended {
    let (p, verdict) = at_point(r, k);
    let attacks = p.map(AttackSummary::of).unwrap_or_default();
    let reference = match &r.recommendation {
        Some(rec) => r.points.iter().find(|p| p.k == rec.k),
        None => r.points.iter().find(|p| p.k == r.num_stages),
    };
    Undefended {
        test_accuracy,
        max_gain: max_gain(&attacks),
        attacks,
        verdict,
        recommendation: r.recommendation.clone(),
        reference: reference.map(CutCost::of),
        at_k: p.map(CutCost::of),
    }
}

/// Trains the victim of `cfg.sweep` on `split`, sweeps it undefended (into `dir/undefended/`), then defends
/// partition point `cfg.k` with each defence and alpha, evaluates each defended model with fresh attackers
/// at `k` and `n` and the sweep's rule (into `dir/<defence>-alpha-<alpha>/`, with its weights
/// [`MODEL_FILE`]). Training images of the defence: the first `cfg.defence_images` training images; the
/// attackers' images are the sweep's (the last `attacker_images` training images).
///
/// # Errors
/// [`Error::Invalid`] for a bad config (see [`DefendConfig::validate`]); training, attack and report errors, each with its step.
pub fn run_defend(
    cfg: &DefendConfig,
    split: &Split,
    dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<DefendReport> {
    cfg.validate()?;
    let start = Instant::now();
    // The defence trains where the sweep's victim and attackers do (`--device`).
    let dev = cfg.sweep.device.resolve()?;
    let mut provenance = Provenance::capture(cfg.sweep.device.to_string());
    provenance
        .seed("sweep.classifier.seed", cfg.sweep.classifier.seed)
        .seed("sweep.inverse.seed", cfg.sweep.inverse.seed)
        .seed("sweep.cgan.train.seed", cfg.sweep.cgan.train.seed)
        .seed("sweep.rule.seed", cfg.sweep.rule.seed)
        .seed("schedule.seed", cfg.schedule.seed);

    let n = build(&cfg.sweep.arch, &dev)?.num_stages();
    // The undefended victim and its sweep (k and the output n always among the points).
    let mut base_cfg = cfg.sweep.clone();
    if let Some(points) = &mut base_cfg.points {
        points.extend(cfg.defended_points(n));
    }
    progress("undefended: training the victim and sweeping its partition points");
    let t0 = Instant::now();
    let base = run_sweep(&base_cfg, split, progress).step("undefended sweep")?;
    provenance.step("undefended: training + sweep", t0.elapsed().as_secs_f64());
    let base_acc = base.report.test_accuracy.unwrap_or(f64::NAN);
    write_model_and_sweep(&base.model, &base.report, &dir.join("undefended"))?;
    let undefended = undefended(&base.report, cfg.k, base_acc);

    let eval_cfg = {
        let mut c = cfg.sweep.clone();
        c.points = Some(cfg.defended_points(n));
        c
    };
    let data = SweepData::fashion(&eval_cfg, split, &dev)?;
    let m = cfg.defence_images.min(split.train.n);
    let images = images_tensor(&split.train, 0, m, &dev)?;
    let ys = labels(&split.train, 0, m);
    let train = DefenceData {
        images: &images,
        labels: &ys,
        norm: &cfg.sweep.norm,
    };
    let mut results = Vec::new();
    for &defence in &cfg.defences {
        for &alpha in &cfg.alphas {
            let name = format!("{}-alpha-{alpha}", defence.name());
            progress(&format!("{name}: defending k={}", cfg.k));
            let t0 = Instant::now();
            let (model, diverged, final_alpha, events) =
                defend_one(cfg, defence, alpha, &base.model, &train, &dev, progress)
                    .step(format!("defence {name}"))?;
            let train_seconds = t0.elapsed().as_secs_f64();
            let t1 = Instant::now();
            let mut report = run_sweep_on(&model, &data, &eval_cfg, progress)
                .step(format!("evaluation {name}"))?;
            let acc = test_accuracy(&model, &cfg.sweep, split)?;
            report.test_accuracy = Some(acc);
            report.train_seconds = train_seconds;
            write_model_and_sweep(&model, &report, &dir.join(&name))?;
            let eval_seconds = t1.elapsed().as_secs_f64();
            provenance.step(format!("{name}: defence"), train_seconds);
            provenance.step(format!("{name}: evaluation"), eval_seconds);
            let (p, verdict) = at_point(&report, cfg.k);
            let attacks = p.map(AttackSummary::of).unwrap_or_default();
            let drop = base_acc - acc;
            let safe = verdict.as_ref().is_some_and(|v| v.safe);
            let r = AlphaResult {
                defence,
                alpha,
                final_alpha,
                diverged,
                divergence_events: events,
                test_accuracy: acc,
                accuracy_drop: drop,
                max_gain: max_gain(&attacks),
                attacks,
                floor: report.floor.clone(),
                verdict,
                status: status(diverged, safe, drop, cfg.max_accuracy_drop),
                folder: name.clone(),
                train_seconds,
                eval_seconds,
            };
            progress(&format!(
                "{name}: test accuracy {:.2} % ({:+.2} points), max SSIM gain at k={} {}, {}",
                acc * 100.0,
                -drop * 100.0,
                cfg.k,
                r.max_gain.map_or("n/a".into(), |g| format!("{g:+.3}")),
                r.status.label()
            ));
            results.push(r);
        }
    }
    let stage = base
        .model
        .stage_infos()
        .get(cfg.k - 1)
        .map(|i| i.name.clone())
        .unwrap_or_default();
    Ok(DefendReport {
        config: cfg.clone(),
        num_stages: n,
        stage,
        undefended,
        results,
        provenance,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The defended model of one defence at one alpha, whether it diverged, the final alpha and the events.
fn defend_one(
    cfg: &DefendConfig,
    defence: DefenceKind,
    alpha: f32,
    base: &StagedModel,
    train: &DefenceData<'_>,
    dev: &Device,
    progress: &mut dyn FnMut(&str),
) -> Result<(StagedModel, bool, f32, Vec<DivergenceEvent>)> {
    let schedule = privsplit_defenses::semi_adversarial::SemiAdversarialConfig {
        alpha,
        ..cfg.schedule
    };
    let pair = SplitPair::new(base.clone(), cfg.k, dev)?;
    let phase = format!("{} alpha {alpha}", defence.name());
    let mut last = Instant::now();
    let mut report = |p: privsplit_models::train::Progress| {
        if p.step == p.steps || last.elapsed().as_secs() >= 20 {
            last = Instant::now();
            progress(&format!(
                "  {}: epoch {}/{} step {}/{}: main loss {:.4}",
                p.phase, p.epoch, p.epochs, p.step, p.steps, p.loss
            ));
        }
    };
    let out = match defence {
        DefenceKind::Reconstruction => {
            let nets = ReconNetworks::new(pair, &cfg.reconstruction.decoder, cfg.schedule.seed)?;
            let mut opt = ReconOptimizers::new(&schedule.optimizer);
            train_defence(
                &cfg.reconstruction,
                nets,
                &mut opt,
                train,
                &schedule,
                &phase,
                &mut report,
            )?
            .map(|n| n.pair)
        }
        DefenceKind::Nopeek => {
            let mut opt = NoPeekOptimizers::new(&schedule.optimizer);
            train_defence(
                &cfg.nopeek,
                pair,
                &mut opt,
                train,
                &schedule,
                &phase,
                &mut report,
            )?
        }
    };
    Ok((
        out.trio.into_model()?,
        out.diverged,
        out.final_alpha,
        out.events,
    ))
}

/// Writes `model` ([`MODEL_FILE`]) and the sweep report of it into `dir` (created).
fn write_model_and_sweep(model: &StagedModel, report: &SweepReport, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    save_model(model, &dir.join(MODEL_FILE))?;
    write_outputs(report, dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diverged_run_is_never_defended() {
        assert_eq!(status(true, true, 0.0, 0.02), Status::Diverged);
        assert_eq!(status(true, false, 0.0, 0.02), Status::Diverged);
        assert_eq!(status(false, false, 0.0, 0.02), Status::Unsafe);
        assert_eq!(status(false, true, 0.02, 0.02), Status::Defended);
        assert_eq!(status(false, true, -0.01, 0.02), Status::Defended);
        assert_eq!(status(false, true, 0.021, 0.02), Status::SafeOverBudget);
    }
}
