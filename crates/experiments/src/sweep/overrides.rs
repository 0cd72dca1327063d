//! Command-line overrides of a sweep configuration (`privsplit sweep`): the partition points to attack
//! ([`PointSpec`]), the attacks, the safety rule, the enclave cost model and the sizes, each replacing the
//! preset's value when given ([`SweepOverrides::apply`]).

use std::path::PathBuf;
use std::str::FromStr;

use privsplit_attacks::ReconstructionAttack;

use super::config::SweepPreset;
use super::enclave::TeeTarget;
use super::images::ImageSource;
use super::job::SweepSource;
use super::rule::{Objective, Reference, SafetyRule};
use super::SweepConfig;
use crate::{Error, Result};

/// One element of `--points`: a partition point, `coarse` (input, stem, each stage, head) or `all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PointSpec {
    /// Partition point `k` (trusted partition `[0, k)`).
    K(usize),
    /// The coarse points ([`SweepConfig::coarse_points`]: the architecture's, or every ONNX cut).
    Coarse,
    /// Every point `0..=n`.
    All,
}

impl FromStr for PointSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "coarse" => Ok(Self::Coarse),
            "all" => Ok(Self::All),
            _ => s.parse().map(Self::K).map_err(|_| {
                Error::invalid(
                    "--points",
                    "a partition point (integer), `coarse` or `all`",
                    format!("{s:?}"),
                )
            }),
        }
    }
}

/// The points `specs` name for `config`'s architecture, in the order given; `None` (every point) when one
/// of them is [`PointSpec::All`].
pub fn resolve_points(specs: &[PointSpec], config: &SweepConfig) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for s in specs {
        match s {
            PointSpec::All => return None,
            PointSpec::Coarse => out.extend(config.coarse_points()),
            PointSpec::K(k) => out.push(*k),
        }
    }
    Some(out)
}

/// Overrides of a [`SweepConfig`], each `None` keeping the preset's value (the flags of `privsplit
/// sweep`; docs/SWEEP.md explains the rule and the cost model).
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct SweepOverrides {
    /// Partition points, comma-separated: integers, `coarse` (input, stem, each stage, head) or `all`
    /// (default: the preset's, i.e. all for the small CNN, coarse for the ImageNet models).
    #[cfg_attr(feature = "clap", arg(long, value_delimiter = ','))]
    pub points: Option<Vec<PointSpec>>,
    /// Attacks, comma-separated (default: the preset's).
    #[cfg_attr(feature = "clap", arg(long, value_enum, value_delimiter = ','))]
    pub attacks: Option<Vec<ReconstructionAttack>>,
    /// Safety rule: `leakage` (SSIM gain over the strongest prior-only baseline within the margin and
    /// identification at chance; default) or `threshold` (every attack's mean SSIM below --ssim-threshold).
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub rule: Option<SafetyRule>,
    /// SSIM threshold in [0, 1] of the threshold rule (default 0.3, see docs/SWEEP.md).
    #[cfg_attr(feature = "clap", arg(long, visible_alias = "ssim-threshold"))]
    pub threshold: Option<f64>,
    /// What the host is assumed to learn anyway, the floor of the leakage rule: `label` (the predicted class
    /// only: gain over the prior-only baselines, identification against chance; default) or `output` (the
    /// logits, which the untrusted partition computes at every point: no more than the attacks at k = n).
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub reference: Option<Reference>,
    /// Margin of the leakage rule: largest tolerated upper bound of the SSIM gain's 95 % CI (default 0.05).
    #[cfg_attr(feature = "clap", arg(long))]
    pub margin: Option<f64>,
    /// Candidates N of the identification test (the true input + N - 1 of the same predicted class).
    #[cfg_attr(feature = "clap", arg(long))]
    pub candidates: Option<usize>,
    /// Which safe point to recommend: `earliest-safe` (default) or `cheapest-safe` (lowest estimated
    /// trusted-in-TEE + untrusted latency).
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub objective: Option<Objective>,
    /// TEE of the cost model: sgx1 (93 MiB usable EPC), sgx2:<usable MiB>, sev-snp or tdx.
    #[cfg_attr(feature = "clap", arg(long))]
    pub tee: Option<TeeTarget>,
    /// Images per trusted-partition call in the cost model.
    #[cfg_attr(feature = "clap", arg(long))]
    pub batch: Option<usize>,
    /// Evaluation images.
    #[cfg_attr(feature = "clap", arg(long))]
    pub eval_images: Option<usize>,
    /// Attacker images (crops for the ImageNet models) the c-GAN and inverse network train on.
    #[cfg_attr(feature = "clap", arg(long))]
    pub attacker_images: Option<usize>,
    /// Training epochs of the c-GAN, the inverse network and the label decoder.
    #[cfg_attr(feature = "clap", arg(long))]
    pub attack_epochs: Option<usize>,
    /// Images rMLE attacks (the first evaluation images).
    #[cfg_attr(feature = "clap", arg(long))]
    pub rmle_images: Option<usize>,
    /// Distractor images of the identification test.
    #[cfg_attr(feature = "clap", arg(long))]
    pub distractors: Option<usize>,
    /// Epochs of classifier training (fashion/tiny presets without --weights).
    #[cfg_attr(feature = "clap", arg(long))]
    pub train_epochs: Option<usize>,
    /// rMLE optimisation steps.
    #[cfg_attr(feature = "clap", arg(long))]
    pub rmle_steps: Option<usize>,
}

impl SweepOverrides {
    /// Replaces every setting of `config` that is given here (`attack_epochs`: the inverse network's and
    /// the c-GAN's epochs). Validation is [`SweepConfig::validate`]'s, when the job starts.
    pub fn apply(&self, config: &mut SweepConfig) {
        if let Some(p) = &self.points {
            config.points = resolve_points(p, config);
        }
        if let Some(a) = &self.attacks {
            config.attacks.clone_from(a);
        }
        set(&mut config.classifier.epochs, self.train_epochs);
        set(&mut config.ssim_threshold, self.threshold);
        set(&mut config.eval_images, self.eval_images);
        set(&mut config.rmle.steps, self.rmle_steps);
        set(&mut config.rmle_images, self.rmle_images);
        set(&mut config.attacker_images, self.attacker_images);
        set(&mut config.rule.distractor_images, self.distractors);
        set(&mut config.inverse.epochs, self.attack_epochs);
        set(&mut config.cgan.train.epochs, self.attack_epochs);
        set(&mut config.rule.rule, self.rule);
        set(&mut config.rule.reference, self.reference);
        set(&mut config.rule.margin, self.margin);
        set(&mut config.rule.candidates, self.candidates);
        set(&mut config.rule.objective, self.objective);
        set(&mut config.enclave.tee, self.tee);
        set(&mut config.enclave.batch, self.batch);
    }
}

/// `*field = value` when `value` is given.
fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

impl SweepSource {
    /// The victim and images of a command-line sweep: an ImageNet zoo model (`imagenet`) on `images`
    /// (default: the packaged photographs) with `weights` (`None`: UNTRAINED); else the `lite0` preset on
    /// the same photographs with its pretrained weights (default
    /// [`privsplit_models::weights::lite0_weights_path`]); else the small CNN on Fashion-MNIST from
    /// `data_dir`, trained unless `weights` are given.
    pub fn choose(
        imagenet: bool,
        preset: SweepPreset,
        data_dir: PathBuf,
        images: Option<PathBuf>,
        weights: Option<PathBuf>,
    ) -> Self {
        let images = images.map_or_else(ImageSource::packaged, ImageSource::Folder);
        if imagenet {
            SweepSource::Images { images, weights }
        } else if preset.natural_images() {
            let weights = weights.unwrap_or_else(privsplit_models::weights::lite0_weights_path);
            SweepSource::Images {
                images,
                weights: Some(weights),
            }
        } else {
            SweepSource::FashionMnist { data_dir, weights }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn points_parse_and_resolve_against_the_architecture() {
        let cfg = SweepConfig::fashion_mnist();
        let specs: Vec<PointSpec> = ["2", "coarse"].iter().map(|s| s.parse().unwrap()).collect();
        let mut want = vec![2];
        want.extend(cfg.arch.coarse_points());
        assert_eq!(resolve_points(&specs, &cfg), Some(want));
        assert_eq!(
            resolve_points(&[PointSpec::K(1), PointSpec::All], &cfg),
            None
        );
        let err = "two".parse::<PointSpec>().unwrap_err().to_string();
        assert!(err.contains("--points") && err.contains("\"two\""), "{err}");
    }

    #[test]
    fn given_overrides_replace_the_preset_and_the_rest_stay() {
        let preset = SweepConfig::tiny();
        let mut cfg = preset.clone();
        SweepOverrides::default().apply(&mut cfg);
        assert_eq!(cfg, preset);
        let o = SweepOverrides {
            points: Some(vec![PointSpec::K(3)]),
            attack_epochs: Some(7),
            margin: Some(0.2),
            batch: Some(5),
            ..SweepOverrides::default()
        };
        o.apply(&mut cfg);
        assert_eq!(cfg.points, Some(vec![3]));
        assert_eq!((cfg.inverse.epochs, cfg.cgan.train.epochs), (7, 7));
        assert_eq!((cfg.rule.margin, cfg.enclave.batch), (0.2, 5));
        assert_eq!(cfg.eval_images, preset.eval_images);
    }

    #[test]
    fn the_source_follows_the_model_family() {
        let d = PathBuf::from("fm");
        let fm = SweepSource::choose(false, SweepPreset::Tiny, d.clone(), None, None);
        assert_eq!(
            fm,
            SweepSource::FashionMnist {
                data_dir: d.clone(),
                weights: None
            }
        );
        let w = PathBuf::from("w.safetensors");
        match SweepSource::choose(false, SweepPreset::Lite0, d.clone(), None, Some(w.clone())) {
            SweepSource::Images { weights, .. } => assert_eq!(weights, Some(w)),
            other => panic!("lite0 attacks photographs, got {other:?}"),
        }
        match SweepSource::choose(true, SweepPreset::Fashion, d, Some("photos".into()), None) {
            SweepSource::Images { images, weights } => {
                assert_eq!(images, ImageSource::Folder("photos".into()));
                assert_eq!(weights, None);
            }
            other => panic!("an ImageNet model attacks photographs, got {other:?}"),
        }
    }
}
