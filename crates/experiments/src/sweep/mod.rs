//! The partition-point sweep: for every partition point `k` of a staged model, the cost of the trusted
//! partition `[0, k)` (FLOPs, parameter bytes, measured latency), the size of the exposed feature map, and the
//! score (SSIM, PSNR, accuracy of the full model on the reconstructions) of every reconstruction attack on
//! the feature map at `k`, its leakage beyond the predicted label (SSIM gain over the strongest prior-only
//! baseline with a bootstrap interval, identification among same-class candidates), and an enclave cost
//! estimate; then the recommendation: the earliest (or cheapest) safe `k`. Source: Rajasekar et al. 2024
//! (TEE + accelerator layer partitioning).
//!
//! By concern: [`config`] (settings and the preset table), [`run`] (training the victim, attacking every
//! point), [`baselines`] (what an attacker who learns nothing about the image scores), [`leakage`] (gain
//! over the prior-only baselines, identification), [`rule`] (safe points and the recommendation),
//! [`enclave`] (TEE memory and latency model), [`seeds`] (repeated sweeps, mean +- std), [`merge`] (joining
//! sweeps of disjoint point subsets run on different machines), [`report`] (the run folder: JSON, Markdown,
//! HTML, CSV, plots, the reconstruction grid), [`images`] (the victim and RGB crops of an ImageNet model),
//! [`victim`] (what is attacked: a zoo model, white-box), [`onnx`] (any ONNX model cut at chosen nodes,
//! black-box), [`overrides`] (the command line's changes to a preset) and [`job`] (one call from a preset
//! to a run folder).

pub mod baselines;
pub mod config;
pub mod data;
pub mod enclave;
pub mod images;
pub mod job;
pub mod leakage;
pub mod merge;
pub mod onnx;
pub mod overrides;
pub mod report;
pub mod rule;
pub mod run;
pub mod seeds;
pub mod summary;
pub mod tables;
pub mod victim;

pub use config::{ModelWeights, OnnxSpec, SweepConfig, SweepPreset, DEFAULT_SSIM_THRESHOLD};
pub use data::SweepData;
pub use enclave::{EnclaveConfig, EnclaveCost, TeeTarget};
pub use images::ImageSource;
pub use job::{merge_job, run_job, SweepJob, SweepSource};
pub use leakage::{Leakage, PriorKind, PriorScore};
pub use merge::merge_reports;
pub use overrides::{resolve_points, PointSpec, SweepOverrides};
pub use report::write_outputs;
pub use rule::{
    assess, recommend, verdict, Assessment, LeakageFloor, Objective, Reference, RuleConfig,
    SafetyRule, Verdict,
};
pub use run::{run_sweep, run_sweep_on, run_sweep_victim, SweepRun};
pub use seeds::RepeatSummary;
pub use summary::summary;
pub use victim::Victim;

use privsplit_attacks::ReconstructionAttack;
use serde::{Deserialize, Serialize};

/// Score of one attack at one partition point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackScore {
    /// The attack.
    pub attack: ReconstructionAttack,
    /// Mean SSIM over the evaluation images.
    pub ssim: f64,
    /// Standard deviation of the SSIM.
    pub ssim_std: f64,
    /// Mean PSNR (dB).
    pub psnr: f64,
    /// Accuracy of the full model on the reconstructions, `[0, 1]` (when labels are known).
    pub accuracy: Option<f64>,
    /// Evaluation images attacked.
    pub images: usize,
    /// Wall time of training + attacking (s).
    pub seconds: f64,
    /// The first `grid_images` reconstructions, 8-bit, `[grid_images, C, H, W]`.
    pub grid: Vec<u8>,
    /// Leakage beyond the predicted label (absent without an attacker dataset, and in older reports).
    #[serde(default)]
    pub leakage: Option<Leakage>,
}

/// Results at one partition point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointResult {
    /// Partition point `k` (trusted = stages `[0, k)`).
    pub k: usize,
    /// Name of the last trusted stage (`input` for `k = 0`).
    pub stage: String,
    /// Exposed feature-map shape `[c, h, w]`.
    pub feature_shape: [usize; 3],
    /// Exposed feature-map size per image (bytes, f32).
    pub feature_bytes: usize,
    /// FLOPs per image of the trusted partition.
    pub trusted_flops: u64,
    /// Parameter bytes (f32) of the trusted partition.
    pub trusted_param_bytes: usize,
    /// FLOPs per image of the untrusted partition.
    pub untrusted_flops: u64,
    /// Parameter bytes (f32) of the untrusted partition.
    pub untrusted_param_bytes: usize,
    /// Median latency of the trusted partition, one image, this machine's CPU (ms).
    pub trusted_ms: f64,
    /// Median latency of the untrusted partition, one image, this machine's CPU (ms).
    pub untrusted_ms: f64,
    /// One score per attack.
    pub attacks: Vec<AttackScore>,
    /// Enclave cost estimate of the trusted partition (absent in older reports).
    #[serde(default)]
    pub enclave: Option<EnclaveCost>,
}

impl PointResult {
    /// The attack with the highest mean SSIM at this point.
    pub fn best(&self) -> Option<&AttackScore> {
        self.attacks.iter().max_by(|a, b| a.ssim.total_cmp(&b.ssim))
    }
}

/// The recommended partition point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// Partition point.
    pub k: usize,
    /// Last trusted stage.
    pub stage: String,
    /// Best attack there.
    pub best_attack: ReconstructionAttack,
    /// Its mean SSIM in `[-1, 1]` (below the threshold under the threshold rule).
    pub best_ssim: f64,
    /// Exposed feature-map shape.
    pub feature_shape: [usize; 3],
    /// Exposed feature-map bytes per image.
    pub feature_bytes: usize,
    /// Trusted-partition FLOPs per image.
    pub trusted_flops: u64,
    /// Trusted-partition parameter bytes.
    pub trusted_param_bytes: usize,
    /// Trusted-partition latency (ms, one image).
    pub trusted_ms: f64,
    /// The rule that called the point safe.
    #[serde(default)]
    pub rule: SafetyRule,
    /// The objective that chose it among the safe points.
    #[serde(default)]
    pub objective: Objective,
    /// The attack with the highest upper bound of its gain interval there (the confidence of the verdict).
    #[serde(default)]
    pub leakiest_attack: Option<ReconstructionAttack>,
    /// Its leakage (gain over the strongest prior with its 95 % interval, identification).
    #[serde(default)]
    pub leakage: Option<Leakage>,
    /// Enclave cost estimate at the point.
    #[serde(default)]
    pub enclave: Option<EnclaveCost>,
    /// Measured untrusted-partition latency (ms, one image, this machine's CPU).
    #[serde(default)]
    pub untrusted_ms: f64,
}

/// SSIM / PSNR of trivial attacks that learn nothing about the individual input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Mean SSIM of the attacker dataset's mean image against the evaluation images.
    pub ssim: f64,
    /// Mean PSNR (dB) of the mean image.
    pub psnr: f64,
    /// Mean SSIM of the class-mean image (the attacker dataset's mean image of the evaluation image's true
    /// class): what an attacker who learns only the class achieves. `None` without labels.
    pub class_mean_ssim: Option<f64>,
    /// Mean PSNR (dB) of the class-mean image.
    pub class_mean_psnr: Option<f64>,
}

/// The sweep report (serialised as `report.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    /// The configuration that produced it.
    pub config: SweepConfig,
    /// Number of stages `n` of the model.
    pub num_stages: usize,
    /// Stage names.
    pub stage_names: Vec<String>,
    /// Accuracy of the full model on the evaluation images, if labels are known.
    pub model_accuracy: Option<f64>,
    /// Accuracy of the full model on the whole test split (when the sweep trained it on a [`Split`]).
    #[serde(default)]
    pub test_accuracy: Option<f64>,
    /// The mean-image baseline, if attacker data was available.
    pub baseline: Option<Baseline>,
    /// Results, ascending `k`.
    pub points: Vec<PointResult>,
    /// Earliest safe point among `points`, if any.
    pub recommendation: Option<Recommendation>,
    /// Image shape `[C, H, W]` of the grid images.
    pub image_shape: [usize; 3],
    /// The first `grid_images` originals, 8-bit.
    pub originals: Vec<u8>,
    /// Wall time of the whole sweep (s), excluding classifier training.
    pub seconds: f64,
    /// Wall time of classifier training (s), 0 when the model was given.
    pub train_seconds: f64,
    /// Prior-only baselines with the predicted class (mean over all evaluation images).
    #[serde(default)]
    pub priors: Vec<PriorScore>,
    /// The rule's verdict at every point, ascending `k`.
    #[serde(default)]
    pub verdicts: Vec<Verdict>,
    /// The leakage floor the points were judged against.
    #[serde(default)]
    pub floor: Option<LeakageFloor>,
    /// Summary of repeated sweeps (`--seeds`), when there were several.
    #[serde(default)]
    pub repeats: Option<RepeatSummary>,
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn point(k: usize, ssims: &[(ReconstructionAttack, f64)]) -> PointResult {
        PointResult {
            k,
            stage: format!("s{k}"),
            feature_shape: [1, 1, 1],
            feature_bytes: 4,
            trusted_flops: k as u64 * 10,
            trusted_param_bytes: k * 4,
            untrusted_flops: 0,
            untrusted_param_bytes: 0,
            trusted_ms: k as f64,
            untrusted_ms: 0.0,
            attacks: ssims
                .iter()
                .map(|&(attack, ssim)| AttackScore {
                    attack,
                    ssim,
                    ssim_std: 0.0,
                    psnr: 10.0,
                    accuracy: None,
                    images: 1,
                    seconds: 0.0,
                    grid: Vec::new(),
                    leakage: None,
                })
                .collect(),
            enclave: None,
        }
    }

    /// A one-attack (c-GAN) point whose leakage has gain interval `ci` (gain: its midpoint) and, when
    /// given, identification top-1 `top1` over 100 trials of N = 10.
    pub(crate) fn leaky_point(k: usize, ssim: f64, ci: [f64; 2], top1: Option<f64>) -> PointResult {
        use privsplit_attacks::tabular_metrics::{wilson95, Reidentification};
        let mut p = point(k, &[(ReconstructionAttack::Cgan, ssim)]);
        p.attacks[0].leakage = Some(Leakage {
            prior: PriorKind::ClassMean,
            prior_ssim: 0.35,
            gain: (ci[0] + ci[1]) / 2.0,
            gain_ci95: ci,
            identification: top1.map(|top1| Reidentification {
                candidates: 10,
                trials: 100,
                top1,
                chance: 0.1,
                ci95: wilson95(top1, 100),
            }),
        });
        p
    }

    /// A report of `points` (a 6-stage model) under `cfg`, with the configuration's points set to theirs
    /// and the rule applied.
    pub(crate) fn report_of(points: Vec<PointResult>, cfg: &SweepConfig) -> SweepReport {
        let a = rule::assess(&points, 6, cfg).expect("rule");
        SweepReport {
            config: SweepConfig {
                points: Some(points.iter().map(|p| p.k).collect()),
                ..cfg.clone()
            },
            num_stages: 6,
            stage_names: Vec::new(),
            model_accuracy: Some(0.9),
            test_accuracy: None,
            baseline: None,
            points,
            recommendation: a.recommendation,
            image_shape: [1, 28, 28],
            originals: Vec::new(),
            seconds: 1.0,
            train_seconds: 0.0,
            priors: Vec::new(),
            verdicts: a.verdicts,
            floor: Some(a.floor),
            repeats: None,
        }
    }

    /// A report written before the leakage rule and the cost model (none of their fields) still reads, with
    /// the new fields at their defaults, so `sweep merge` and `privsplit plan merge` accept old shards.
    #[test]
    fn reports_without_the_new_fields_still_parse() {
        let cfg = SweepConfig::tiny();
        let r = report_of(vec![leaky_point(6, 0.3, [-0.01, 0.02], Some(0.1))], &cfg);
        let mut v = serde_json::to_value(&r).expect("json");
        for key in ["priors", "verdicts", "floor", "repeats"] {
            v.as_object_mut().expect("object").remove(key);
        }
        for key in ["rule", "enclave", "seed"] {
            v["config"].as_object_mut().expect("config").remove(key);
        }
        v["points"][0]
            .as_object_mut()
            .expect("point")
            .remove("enclave");
        v["points"][0]["attacks"][0]
            .as_object_mut()
            .expect("attack")
            .remove("leakage");
        let rec = v["recommendation"].as_object_mut().expect("recommendation");
        for key in [
            "rule",
            "objective",
            "leakiest_attack",
            "leakage",
            "enclave",
            "untrusted_ms",
        ] {
            rec.remove(key);
        }
        let back: SweepReport = serde_json::from_value(v).expect("old report");
        assert_eq!(back.config.rule, RuleConfig::default());
        assert_eq!(back.config.enclave, EnclaveConfig::default());
        assert!(back.points[0].attacks[0].leakage.is_none() && back.verdicts.is_empty());
        assert_eq!(back.recommendation.map(|r| r.k), Some(6));
    }
}
