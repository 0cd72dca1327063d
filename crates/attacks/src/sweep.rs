//! The partition-point sweep: for every partition point `k` of a staged model, the cost of the trusted
//! partition `[0, k)` (FLOPs, parameter bytes, measured latency), the size of the exposed feature map, and the
//! score (SSIM, PSNR, accuracy of the full model on the reconstructions) of every reconstruction attack on
//! the feature map at `k`; then the recommendation: the earliest `k` whose best attack stays under an SSIM
//! threshold.
//!
//! Sweeps of subsets of partition points (`points`) can run on different machines and be joined with
//! [`merge_reports`].

use std::time::Instant;

use burn::tensor::{Device, Tensor};
use privsplit_data::Split;
use privsplit_models::stage::StagedModel;
use privsplit_models::zoo::ArchConfig;
use serde::{Deserialize, Serialize};

use crate::cgan::{train_cgan, CganConfig};
use crate::decoder::DecoderConfig;
use crate::inverse::{reconstruct, train_inverse, AttackTrainConfig};
use crate::metrics::{ssim_psnr_batch, tensor_images};
use crate::rmle::{rmle, InputNorm, RmleConfig};
use crate::victim::{accuracy, images_tensor, labels, train_classifier, ClassifierTrainConfig};
use crate::{Error, Result};

/// A reconstruction attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttackKind {
    /// c-GAN (black-box, trained on attacker data): [`crate::cgan`].
    Cgan,
    /// Inverse network (black-box, trained on attacker data): [`crate::inverse`].
    Inverse,
    /// White-box rMLE (no training data): [`crate::rmle`].
    Rmle,
}

impl AttackKind {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            AttackKind::Cgan => "c-GAN",
            AttackKind::Inverse => "inverse network",
            AttackKind::Rmle => "rMLE",
        }
    }
}

impl std::str::FromStr for AttackKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cgan" | "c-gan" => Ok(AttackKind::Cgan),
            "inverse" => Ok(AttackKind::Inverse),
            "rmle" => Ok(AttackKind::Rmle),
            _ => Err(Error::Invalid {
                what: "attack".into(),
                expected: "cgan, inverse or rmle".into(),
                got: s.into(),
            }),
        }
    }
}

/// Everything a sweep needs besides the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepConfig {
    /// The model.
    pub arch: ArchConfig,
    /// Partition points to evaluate (`None`: all, `0..=n`).
    pub points: Option<Vec<usize>>,
    /// Attacks to run at each point.
    pub attacks: Vec<AttackKind>,
    /// Training of the victim classifier (when the sweep trains it).
    pub classifier: ClassifierTrainConfig,
    /// Attacker dataset size (images disjoint from the evaluation images).
    pub attacker_images: usize,
    /// Evaluation images (victims) for the black-box attacks.
    pub eval_images: usize,
    /// Evaluation images for rMLE (the first ones; rMLE optimises per image and is slower).
    pub rmle_images: usize,
    /// Inverse-network training.
    pub inverse: AttackTrainConfig,
    /// c-GAN training.
    pub cgan: CganConfig,
    /// rMLE optimisation.
    pub rmle: RmleConfig,
    /// Input normalisation between pixels and the model input.
    pub norm: InputNorm,
    /// SSIM threshold in `[0, 1]`: a point is safe when every attack's mean SSIM is below it.
    pub ssim_threshold: f64,
    /// Reconstructions kept per attack and point for the grid.
    pub grid_images: usize,
    /// Timed repetitions per partition for the latency (median reported).
    pub latency_reps: usize,
}

/// Default SSIM threshold (justified in docs/SWEEP.md): 0.3.
pub const DEFAULT_SSIM_THRESHOLD: f64 = 0.3;

impl SweepConfig {
    /// The Fashion-MNIST small-CNN sweep: every partition point, c-GAN + inverse network + rMLE.
    pub fn fashion_mnist() -> Self {
        let train = AttackTrainConfig {
            epochs: 3,
            batch_size: 32,
            learning_rate: 2e-3,
            seed: 7,
            decoder: DecoderConfig {
                channels: 24,
                min_channels: 12,
            },
        };
        Self {
            arch: ArchConfig::small_cnn(),
            points: None,
            attacks: vec![AttackKind::Cgan, AttackKind::Inverse, AttackKind::Rmle],
            classifier: ClassifierTrainConfig::default(),
            attacker_images: 1_500,
            eval_images: 200,
            rmle_images: 16,
            inverse: train.clone(),
            cgan: CganConfig {
                train,
                ..CganConfig::default()
            },
            rmle: RmleConfig::default(),
            norm: InputNorm::default(),
            ssim_threshold: DEFAULT_SSIM_THRESHOLD,
            grid_images: 4,
            latency_reps: 20,
        }
    }

    /// A tiny, fast configuration (seconds) for tests and `privsplit run`'s smoke experiment.
    pub fn tiny() -> Self {
        let mut c = Self::fashion_mnist();
        c.arch = ArchConfig::small_cnn().with_width(0.25);
        c.classifier = ClassifierTrainConfig {
            epochs: 2,
            batch_size: 64,
            learning_rate: 2e-3,
            images: 2_000,
            seed: 1,
        };
        c.attacker_images = 512;
        c.eval_images = 32;
        c.rmle_images = 4;
        c.inverse.epochs = 3;
        c.inverse.batch_size = 32;
        c.inverse.learning_rate = 3e-3;
        c.inverse.decoder = DecoderConfig {
            channels: 16,
            min_channels: 8,
        };
        c.cgan.train = c.inverse.clone();
        c.cgan.disc_channels = 8;
        c.rmle.steps = 30;
        c.latency_reps = 3;
        c.grid_images = 2;
        c
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the setting: a threshold outside `[0, 1]`, no attacks, zero evaluation
    /// images, a black-box attack without attacker images.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.ssim_threshold) {
            return Err(Error::Invalid {
                what: "SSIM threshold".into(),
                expected: "a value in [0, 1]".into(),
                got: self.ssim_threshold.to_string(),
            });
        }
        if self.attacks.is_empty() || self.eval_images == 0 {
            return Err(Error::Invalid {
                what: "sweep config".into(),
                expected: "at least one attack and one evaluation image".into(),
                got: format!(
                    "{} attacks, {} evaluation images",
                    self.attacks.len(),
                    self.eval_images
                ),
            });
        }
        let black_box = self.attacks.iter().any(|a| *a != AttackKind::Rmle);
        if black_box && self.attacker_images == 0 {
            return Err(Error::Invalid {
                what: "attacker_images".into(),
                expected: ">= 1 for the c-GAN / inverse-network attacks".into(),
                got: "0".into(),
            });
        }
        Ok(())
    }
}

/// Data of a sweep: pixel images in `[0, 1]` on a plain device.
#[derive(Clone, Debug)]
pub struct SweepData {
    /// Attacker dataset `[n, C, H, W]` (black-box attacks); disjoint from `eval`.
    pub attacker: Option<Tensor<4>>,
    /// Evaluation (victim) images `[m, C, H, W]`.
    pub eval: Tensor<4>,
    /// True classes of `eval` (for the accuracy on reconstructions), if known.
    pub eval_labels: Option<Vec<usize>>,
    /// Classes of `attacker` (for the class-mean baseline), if known.
    pub attacker_labels: Option<Vec<usize>>,
}

/// Score of one attack at one partition point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackScore {
    /// The attack.
    pub attack: AttackKind,
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
    pub best_attack: AttackKind,
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
        return Err(Error::Invalid {
            what: "SSIM threshold".into(),
            expected: "a value in [0, 1]".into(),
            got: threshold.to_string(),
        });
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

fn to_u8(t: &Tensor<4>, n: usize) -> Result<Vec<u8>> {
    let n = n.min(t.dims()[0]);
    if n == 0 {
        return Ok(Vec::new());
    }
    let imgs = tensor_images(&t.clone().narrow(0, 0, n))?;
    Ok(imgs
        .into_iter()
        .flatten()
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect())
}

fn median_ms(mut f: impl FnMut() -> Result<()>, reps: usize) -> Result<f64> {
    f()?; // warm-up
    let mut t = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

fn feature_maps(
    model: &StagedModel,
    x: &Tensor<4>,
    k: usize,
    norm: &InputNorm,
) -> Result<Tensor<4>> {
    let n = x.dims()[0];
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let len = 256.min(n - i);
        out.push(model.forward_range(norm.apply(x.clone().narrow(0, i, len)), 0, k)?);
        i += len;
    }
    Ok(Tensor::cat(out, 0))
}

fn score(
    attack: AttackKind,
    model: &StagedModel,
    originals: &Tensor<4>,
    recon: &Tensor<4>,
    labels: Option<&[usize]>,
    cfg: &SweepConfig,
    seconds: f64,
) -> Result<AttackScore> {
    let m = ssim_psnr_batch(originals, recon, 1.0)?;
    let n = m.len() as f64;
    let ssim = m.iter().map(|p| p.0).sum::<f64>() / n;
    let var = m.iter().map(|p| (p.0 - ssim).powi(2)).sum::<f64>() / n;
    let psnr = m.iter().map(|p| p.1.min(100.0)).sum::<f64>() / n;
    let accuracy = match labels {
        Some(l) => Some(accuracy(
            model,
            &cfg.norm.apply(recon.clone()),
            &l[..m.len()],
        )?),
        None => None,
    };
    Ok(AttackScore {
        attack,
        ssim,
        ssim_std: var.sqrt(),
        psnr,
        accuracy,
        images: m.len(),
        seconds,
        grid: to_u8(recon, cfg.grid_images)?,
    })
}

/// Runs the sweep on a given (trained) model.
///
/// # Errors
/// [`Error::Invalid`] for a bad config (see [`SweepConfig::validate`]), a partition point out of range,
/// evaluation images whose shape is not the model's input shape, or missing attacker data for a
/// black-box attack; model errors.
pub fn run_sweep_on(
    model: &StagedModel,
    data: &SweepData,
    cfg: &SweepConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<SweepReport> {
    cfg.validate()?;
    let start = Instant::now();
    let n = model.num_stages();
    let shape = model.input_shape();
    let ed = data.eval.dims();
    if ed[1..] != shape {
        return Err(Error::Invalid {
            what: "evaluation images".into(),
            expected: format!(
                "[n, {}, {}, {}] (the model's input shape)",
                shape[0], shape[1], shape[2]
            ),
            got: format!("{ed:?}"),
        });
    }
    if let Some(a) = &data.attacker {
        if a.dims()[1..] != shape {
            return Err(Error::Invalid {
                what: "attacker images".into(),
                expected: format!(
                    "[n, {}, {}, {}] (the model's input shape)",
                    shape[0], shape[1], shape[2]
                ),
                got: format!("{:?}", a.dims()),
            });
        }
    }
    let mut points: Vec<usize> = cfg.points.clone().unwrap_or_else(|| (0..=n).collect());
    points.sort_unstable();
    points.dedup();
    if let Some(&bad) = points.iter().find(|&&k| k > n) {
        return Err(Error::Invalid {
            what: "partition point".into(),
            expected: format!(
                "0..={n} ({} has {n} stages)",
                format!("{:?}", cfg.arch.kind).to_lowercase()
            ),
            got: bad.to_string(),
        });
    }
    let black_box = cfg.attacks.iter().any(|a| *a != AttackKind::Rmle);
    let attacker = match (&data.attacker, black_box) {
        (Some(a), _) => Some(a),
        (None, false) => None,
        (None, true) => {
            return Err(Error::Invalid {
                what: "attacker dataset".into(),
                expected: "attacker images for the c-GAN / inverse-network attacks".into(),
                got: "none".into(),
            })
        }
    };
    let m = ed[0].min(cfg.eval_images);
    let eval = data.eval.clone().narrow(0, 0, m);
    let eval_labels = data.eval_labels.as_deref().map(|l| &l[..m.min(l.len())]);
    let model_accuracy = match eval_labels {
        Some(l) if l.len() == m => Some(accuracy(model, &cfg.norm.apply(eval.clone()), l)?),
        _ => None,
    };
    let baseline = match attacker {
        Some(a) => {
            let mean = a.clone().mean_dim(0);
            let rep = mean.clone().repeat_dim(0, m);
            let s = ssim_psnr_batch(&eval, &rep, 1.0)?;
            let k = s.len() as f64;
            let class = match (&data.attacker_labels, eval_labels) {
                (Some(al), Some(el)) if al.len() == a.dims()[0] && el.len() == m => {
                    let classes = al.iter().chain(el).copied().max().unwrap_or(0) + 1;
                    let mut means = Vec::with_capacity(classes);
                    for c in 0..classes {
                        let idx: Vec<i64> = (0..al.len())
                            .filter(|&i| al[i] == c)
                            .map(|i| i as i64)
                            .collect();
                        means.push(if idx.is_empty() {
                            mean.clone()
                        } else {
                            let it = Tensor::<1, burn::tensor::Int>::from_ints(
                                idx.as_slice(),
                                &a.device(),
                            );
                            a.clone().select(0, it).mean_dim(0)
                        });
                    }
                    let rep = Tensor::cat(el.iter().map(|&c| means[c].clone()).collect(), 0);
                    let s = ssim_psnr_batch(&eval, &rep, 1.0)?;
                    let k = s.len() as f64;
                    Some((
                        s.iter().map(|p| p.0).sum::<f64>() / k,
                        s.iter().map(|p| p.1.min(100.0)).sum::<f64>() / k,
                    ))
                }
                _ => None,
            };
            Some(Baseline {
                ssim: s.iter().map(|p| p.0).sum::<f64>() / k,
                psnr: s.iter().map(|p| p.1.min(100.0)).sum::<f64>() / k,
                class_mean_ssim: class.map(|c| c.0),
                class_mean_psnr: class.map(|c| c.1),
            })
        }
        None => None,
    };
    let infos = model.stage_infos();
    let total_flops: u64 = infos.iter().map(|i| i.flops).sum();
    let total_params: usize = infos.iter().map(|i| i.params).sum();
    let dev: Device = eval.device();
    let one = eval.clone().narrow(0, 0, 1);
    let mut results = Vec::new();
    for &k in &points {
        let fs = model.shape_at(k)?;
        let stage = if k == 0 {
            "input".to_string()
        } else {
            infos[k - 1].name.clone()
        };
        progress(&format!(
            "partition point k={k} ({stage}): feature map {fs:?}"
        ));
        let trusted_flops: u64 = infos[..k].iter().map(|i| i.flops).sum();
        let trusted_params: usize = infos[..k].iter().map(|i| i.params).sum();
        let fm_one = model.forward_range(cfg.norm.apply(one.clone()), 0, k)?;
        let trusted_ms = median_ms(
            || {
                let y = model.forward_range(cfg.norm.apply(one.clone()), 0, k)?;
                let _ = y.into_data();
                Ok(())
            },
            cfg.latency_reps,
        )?;
        let untrusted_ms = median_ms(
            || {
                let y = model.forward_range(fm_one.clone(), k, n)?;
                let _ = y.into_data();
                Ok(())
            },
            cfg.latency_reps,
        )?;
        let eval_fm = feature_maps(model, &eval, k, &cfg.norm)?;
        let attacker_fm = match attacker {
            Some(a) if black_box => Some(feature_maps(model, a, k, &cfg.norm)?),
            _ => None,
        };
        let mut scores = Vec::new();
        for &attack in &cfg.attacks {
            let t0 = Instant::now();
            let mut prog = |s: &str| progress(&format!("  k={k} {}: {s}", attack.name()));
            let (orig, recon) = match attack {
                AttackKind::Inverse | AttackKind::Cgan => {
                    let (Some(afm), Some(a)) = (&attacker_fm, attacker) else {
                        continue;
                    };
                    let dec = if attack == AttackKind::Inverse {
                        train_inverse(afm, a, &cfg.inverse, &mut prog)?
                    } else {
                        train_cgan(afm, a, &cfg.cgan, &mut prog)?
                    };
                    (eval.clone(), reconstruct(&dec, &eval_fm, 256))
                }
                AttackKind::Rmle => {
                    let r = cfg.rmle_images.min(m).max(1);
                    let trusted = model.partition(0, k)?;
                    let target = eval_fm.clone().narrow(0, 0, r);
                    let rec = rmle(&trusted, &target, &cfg.norm, &cfg.rmle, &mut prog)?;
                    (eval.clone().narrow(0, 0, r), rec)
                }
            };
            let secs = t0.elapsed().as_secs_f64();
            let s = score(attack, model, &orig, &recon, eval_labels, cfg, secs)?;
            progress(&format!(
                "  k={k} {}: SSIM {:.3}, PSNR {:.2} dB ({secs:.1} s)",
                attack.name(),
                s.ssim,
                s.psnr
            ));
            scores.push(s);
        }
        results.push(PointResult {
            k,
            stage,
            feature_shape: fs,
            feature_bytes: fs.iter().product::<usize>() * 4,
            trusted_flops,
            trusted_param_bytes: trusted_params * 4,
            untrusted_flops: total_flops - trusted_flops,
            untrusted_param_bytes: (total_params - trusted_params) * 4,
            trusted_ms,
            untrusted_ms,
            attacks: scores,
        });
    }
    let _ = dev;
    let recommendation = recommend(&results, cfg.ssim_threshold)?;
    Ok(SweepReport {
        config: cfg.clone(),
        num_stages: n,
        stage_names: infos.iter().map(|i| i.name.clone()).collect(),
        model_accuracy,
        test_accuracy: None,
        baseline,
        points: results,
        recommendation,
        image_shape: shape,
        originals: to_u8(&eval, cfg.grid_images)?,
        seconds: start.elapsed().as_secs_f64(),
        train_seconds: 0.0,
    })
}

/// A finished sweep with the model it attacked.
#[derive(Debug)]
pub struct SweepRun {
    /// The report.
    pub report: SweepReport,
    /// The trained victim model (plain device, evaluation mode).
    pub model: StagedModel,
}

/// Trains `cfg.arch` on the training split (first `cfg.classifier.images` images), then sweeps it with the
/// attacker dataset = the last `cfg.attacker_images` training images (disjoint from the classifier's training
/// images when the split is large enough, always disjoint from the evaluation images) and evaluation images =
/// the first `cfg.eval_images` test images.
///
/// # Errors
/// [`Error::Invalid`] when the images do not match the architecture's input shape or the split is too small;
/// as [`run_sweep_on`].
pub fn run_sweep(
    cfg: &SweepConfig,
    split: &Split,
    progress: &mut dyn FnMut(&str),
) -> Result<SweepRun> {
    cfg.validate()?;
    let dev = Device::flex();
    let tr = &split.train;
    let shape = [1, tr.rows, tr.cols];
    let want = [
        cfg.arch.in_channels,
        cfg.arch.input_size,
        cfg.arch.input_size,
    ];
    if shape != want {
        return Err(Error::Invalid {
            what: "images of the split".into(),
            expected: format!("{want:?} (the architecture's input shape)"),
            got: format!("{shape:?}"),
        });
    }
    if tr.n < cfg.attacker_images.max(1) || split.test.n == 0 {
        return Err(Error::Invalid {
            what: "split".into(),
            expected: format!(
                ">= {} training images and >= 1 test image",
                cfg.attacker_images
            ),
            got: format!("{} training, {} test images", tr.n, split.test.n),
        });
    }
    let t0 = Instant::now();
    let n_train = cfg.classifier.images.min(tr.n);
    let x = images_tensor(tr, 0, n_train, &dev)?;
    let y = labels(tr, 0, n_train);
    let model = train_classifier(&cfg.arch, &cfg.arch_input(x), &y, &cfg.classifier, progress)?;
    let train_seconds = t0.elapsed().as_secs_f64();
    let attacker = if cfg.attacker_images > 0 {
        Some(images_tensor(tr, tr.n - cfg.attacker_images, tr.n, &dev)?)
    } else {
        None
    };
    let m = cfg.eval_images.min(split.test.n);
    let data = SweepData {
        attacker,
        eval: images_tensor(&split.test, 0, m, &dev)?,
        eval_labels: Some(labels(&split.test, 0, m)),
        attacker_labels: Some(labels(tr, tr.n - cfg.attacker_images, tr.n)),
    };
    let mut report = run_sweep_on(&model, &data, cfg, progress)?;
    report.train_seconds = train_seconds;
    let test = images_tensor(&split.test, 0, split.test.n, &dev)?;
    let acc = accuracy(
        &model,
        &cfg.norm.apply(test),
        &labels(&split.test, 0, split.test.n),
    )?;
    progress(&format!(
        "test accuracy of the trained model: {:.2} %",
        acc * 100.0
    ));
    report.test_accuracy = Some(acc);
    Ok(SweepRun { report, model })
}

impl SweepConfig {
    fn arch_input(&self, x: Tensor<4>) -> Tensor<4> {
        self.norm.apply(x)
    }
}

/// Joins reports of disjoint subsets of partition points of the same sweep (same configuration apart from
/// `points`) into one, recomputing the recommendation.
///
/// # Errors
/// [`Error::Invalid`] when there are no reports, the configurations differ, or a partition point appears
/// twice.
pub fn merge_reports(reports: Vec<SweepReport>) -> Result<SweepReport> {
    let mut it = reports.into_iter();
    let Some(mut merged) = it.next() else {
        return Err(Error::Invalid {
            what: "reports to merge".into(),
            expected: "at least one".into(),
            got: "none".into(),
        });
    };
    let norm = |c: &SweepConfig| {
        let mut c = c.clone();
        c.points = None;
        c
    };
    let base = norm(&merged.config);
    for r in it {
        if norm(&r.config) != base || r.num_stages != merged.num_stages {
            return Err(Error::Invalid {
                what: "report to merge".into(),
                expected: "the same sweep configuration (apart from the partition points)".into(),
                got: format!(
                    "a report of {:?} with {} stages",
                    r.config.arch, r.num_stages
                ),
            });
        }
        for p in r.points {
            if merged.points.iter().any(|q| q.k == p.k) {
                return Err(Error::Invalid {
                    what: "reports to merge".into(),
                    expected: "disjoint partition points".into(),
                    got: format!("k={} in two reports", p.k),
                });
            }
            merged.points.push(p);
        }
        merged.seconds += r.seconds;
        merged.train_seconds = merged.train_seconds.max(r.train_seconds);
        merged.model_accuracy = merged.model_accuracy.or(r.model_accuracy);
        merged.test_accuracy = merged.test_accuracy.or(r.test_accuracy);
        merged.baseline = merged.baseline.or(r.baseline);
    }
    merged.points.sort_by_key(|p| p.k);
    let ks: Vec<usize> = merged.points.iter().map(|p| p.k).collect();
    merged.config.points = Some(ks);
    merged.recommendation = recommend(&merged.points, merged.config.ssim_threshold)?;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn point(k: usize, ssims: &[(AttackKind, f64)]) -> PointResult {
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
        use AttackKind::*;
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

    #[test]
    fn merge_joins_disjoint_subsets_and_rejects_overlaps() {
        use AttackKind::*;
        let mut cfg = SweepConfig::tiny();
        let report = |ks: &[usize], cfg: &SweepConfig| SweepReport {
            config: SweepConfig {
                points: Some(ks.to_vec()),
                ..cfg.clone()
            },
            num_stages: 6,
            stage_names: Vec::new(),
            model_accuracy: Some(0.9),
            test_accuracy: None,
            baseline: None,
            points: ks
                .iter()
                .map(|&k| point(k, &[(Cgan, 1.0 - k as f64 / 6.0)]))
                .collect(),
            recommendation: None,
            image_shape: [1, 28, 28],
            originals: Vec::new(),
            seconds: 1.0,
            train_seconds: 0.0,
        };
        let m = merge_reports(vec![report(&[4, 5], &cfg), report(&[0, 2], &cfg)]).expect("merge");
        assert_eq!(
            m.points.iter().map(|p| p.k).collect::<Vec<_>>(),
            [0, 2, 4, 5]
        );
        assert_eq!(m.recommendation.map(|r| r.k), Some(5)); // 1 - 5/6 = 0.167 < 0.3; k=4: 0.333
        assert!(merge_reports(vec![report(&[1], &cfg), report(&[1], &cfg)]).is_err());
        let a = report(&[1], &cfg);
        cfg.ssim_threshold = 0.5;
        assert!(merge_reports(vec![a, report(&[2], &cfg)]).is_err());
        assert!(merge_reports(Vec::new()).is_err());
    }

    #[test]
    fn bad_config_and_bad_points_are_rejected() {
        let mut c = SweepConfig::tiny();
        c.ssim_threshold = 1.2;
        assert!(c
            .validate()
            .expect_err("threshold")
            .to_string()
            .contains("SSIM threshold"));
        let c = SweepConfig {
            points: Some(vec![0, 9]),
            attacks: vec![AttackKind::Rmle],
            ..SweepConfig::tiny()
        };
        let dev = Device::flex();
        let model = privsplit_models::zoo::build(&c.arch, &dev).expect("build");
        let data = SweepData {
            attacker: None,
            eval: Tensor::zeros([2, 1, 28, 28], &dev),
            eval_labels: None,
            attacker_labels: None,
        };
        let err = run_sweep_on(&model, &data, &c, &mut |_| {})
            .expect_err("k")
            .to_string();
        assert!(
            err.contains("partition point") && err.contains('9'),
            "{err}"
        );
        let data = SweepData {
            eval: Tensor::zeros([2, 3, 28, 28], &dev),
            ..data
        };
        let c = SweepConfig { points: None, ..c };
        let err = run_sweep_on(&model, &data, &c, &mut |_| {})
            .expect_err("shape")
            .to_string();
        assert!(err.contains("evaluation images"), "{err}");
    }

    /// Every attack beats the mean-image baseline at an early partition point of a small trained CNN, and the
    /// report is complete. Needs Debian `dataset-fashion-mnist`.
    #[test]
    fn tiny_sweep_attacks_beat_the_mean_image_at_an_early_point() {
        let dir = Path::new(privsplit_data::fashion_mnist::DEBIAN_DIR);
        if !dir.join("train-images-idx3-ubyte.gz").is_file() {
            eprintln!(
                "skipping: {} missing (run scripts/install-deps.sh)",
                dir.display()
            );
            return;
        }
        let split = privsplit_data::fashion_mnist::load(dir).expect("fashion-mnist");
        let mut cfg = SweepConfig::tiny();
        cfg.points = Some(vec![1, 5]);
        let run = run_sweep(&cfg, &split, &mut |s| eprintln!("{s}")).expect("sweep");
        let r = &run.report;
        assert_eq!(r.points.len(), 2);
        let b = r.baseline.as_ref().expect("baseline");
        let base = b.ssim;
        // Knowing the class helps: the class-mean image beats the overall mean image.
        assert!(b.class_mean_ssim.expect("class mean") > base, "{b:?}");
        let p1 = &r.points[0];
        assert_eq!((p1.k, p1.feature_shape), (1, [8, 28, 28]));
        assert_eq!(p1.attacks.len(), 3);
        for a in &p1.attacks {
            assert!(
                a.ssim > base + 0.1,
                "{:?} SSIM {} vs mean-image baseline {base}",
                a.attack,
                a.ssim
            );
            assert!(a.psnr.is_finite() && a.accuracy.is_some());
            assert_eq!(a.grid.len(), cfg.grid_images * 28 * 28);
        }
        assert!(
            r.model_accuracy.expect("accuracy") > 0.5,
            "{:?}",
            r.model_accuracy
        );
        assert_eq!(r.points[1].feature_shape, [32, 1, 1]);
        assert!(r.points[1].trusted_flops > p1.trusted_flops);
        let json = serde_json::to_string(r).expect("json");
        let back: SweepReport = serde_json::from_str(&json).expect("parse");
        assert_eq!(back.points.len(), r.points.len());
        assert_eq!(
            back.recommendation.map(|x| x.k),
            r.recommendation.as_ref().map(|x| x.k)
        );
        assert_eq!(back.originals, r.originals);
    }
}
