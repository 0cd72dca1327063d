//! The partition-point sweep: for every partition point `k` of a staged model, the cost of the trusted
//! partition `[0, k)` (FLOPs, parameter bytes, measured latency), the size of the exposed feature map, and the
//! score (SSIM, PSNR, accuracy of the full model on the reconstructions) of every reconstruction attack on
//! the feature map at `k`; then the recommendation: the earliest `k` whose best attack stays under an SSIM
//! threshold. Source: Rajasekar et al. 2024 (TEE + accelerator layer partitioning).
//!
//! By concern: [`config`] (settings and the preset table), [`run`] (training the victim, attacking every
//! point), [`baselines`] (what an attacker who learns nothing about the image scores), [`merge`] (joining
//! sweeps of disjoint point subsets run on different machines), [`report`] (the run folder: JSON, Markdown,
//! HTML, CSV, plots, the reconstruction grid) and [`job`] (one call from a preset to a run folder).

pub mod baselines;
pub mod config;
pub mod job;
pub mod merge;
pub mod report;
pub mod run;

pub use config::{SweepConfig, SweepPreset, DEFAULT_SSIM_THRESHOLD};
pub use job::{merge_job, run_job, SweepJob, SweepSource};
pub use merge::merge_reports;
pub use report::{summary, write_outputs};
pub use run::{run_sweep, run_sweep_on, SweepData, SweepRun};

use privsplit_attacks::ReconstructionAttack;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

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
    /// Its mean SSIM (below the threshold).
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
}

/// The earliest partition point whose best attack has mean SSIM `< threshold`.
///
/// # Errors
/// [`Error::Invalid`] when `threshold` is outside `[0, 1]`.
pub fn recommend(points: &[PointResult], threshold: f64) -> Result<Option<Recommendation>> {
    if !(0.0..=1.0).contains(&threshold) {
        return Err(Error::invalid(
            "SSIM threshold",
            "a value in [0, 1]",
            threshold.to_string(),
        ));
    }
    let mut sorted: Vec<&PointResult> = points.iter().collect();
    sorted.sort_by_key(|p| p.k);
    Ok(sorted.into_iter().find_map(|p| {
        let best = p.best()?;
        (best.ssim < threshold).then(|| Recommendation {
            k: p.k,
            stage: p.stage.clone(),
            best_attack: best.attack,
            best_ssim: best.ssim,
            feature_shape: p.feature_shape,
            feature_bytes: p.feature_bytes,
            trusted_flops: p.trusted_flops,
            trusted_param_bytes: p.trusted_param_bytes,
            trusted_ms: p.trusted_ms,
        })
    }))
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
                })
                .collect(),
        }
    }

    #[test]
    fn recommendation_is_the_earliest_point_whose_best_attack_is_below_the_threshold() {
        use ReconstructionAttack::*;
        let pts = vec![
            point(3, &[(Cgan, 0.2), (Rmle, 0.25)]),
            point(0, &[(Cgan, 0.99), (Rmle, 1.0)]),
            point(1, &[(Cgan, 0.6), (Rmle, 0.2)]),
            point(2, &[(Cgan, 0.29), (Rmle, 0.31)]), // best attack (rMLE) above 0.3: not safe
            point(4, &[(Cgan, 0.1)]),
        ];
        let r = recommend(&pts, 0.3).expect("ok").expect("some point");
        assert_eq!((r.k, r.best_attack), (3, Rmle));
        assert!((r.best_ssim - 0.25).abs() < 1e-12);
        assert_eq!(r.trusted_flops, 30);
        let r = recommend(&pts, 0.32).expect("ok").expect("some point");
        assert_eq!(r.k, 2);
        assert!(recommend(&pts, 0.05).expect("ok").is_none());
        // A point whose score equals the threshold is not below it.
        assert_eq!(recommend(&pts, 0.25).expect("ok").map(|r| r.k), Some(4));
        assert!(recommend(&pts, 1.5).is_err());
        assert!(recommend(&pts, -0.1).is_err());
    }
}
