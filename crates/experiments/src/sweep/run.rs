//! Running a sweep: [`run_sweep`] trains the victim on a split, then [`run_sweep_on`] measures every
//! partition point (cost of the trusted partition, size of the feature map, score of every attack).

use std::time::Instant;

use burn::tensor::Tensor;
use privsplit_attacks::cgan::train_cgan;
use privsplit_attacks::inverse::{reconstruct, train_inverse};
use privsplit_attacks::metrics::{ssim_psnr_batch, tensor_images};
use privsplit_attacks::rmle::rmle;
use privsplit_attacks::ReconstructionAttack;
use privsplit_data::Split;
use privsplit_models::classifier::{image_accuracy, images_tensor, labels, train_classifier};
use privsplit_models::stage::{StageInfo, StagedModel};

use super::baselines::baseline;
use super::data::SweepData;
use super::enclave::enclave_cost;
use super::leakage::LeakageContext;
use super::rule::assess;
use super::victim::{StagedVictim, Victim};
use super::{AttackScore, PointResult, SweepConfig, SweepReport};
use crate::{Error, Result};

/// A finished sweep with the model it attacked.
#[derive(Debug)]
pub struct SweepRun {
    /// The report.
    pub report: SweepReport,
    /// The victim model (plain device, evaluation mode).
    pub model: StagedModel,
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

/// Checks the images against the model's input shape and returns the sorted, deduplicated partition
/// points to evaluate.
fn check_inputs(victim: &dyn Victim, data: &SweepData, cfg: &SweepConfig) -> Result<Vec<usize>> {
    let n = victim.num_stages();
    let shape = victim.input_shape();
    let want = format!(
        "[n, {}, {}, {}] (the model's input shape)",
        shape[0], shape[1], shape[2]
    );
    let ed = data.eval.dims();
    if ed[1..] != shape {
        return Err(Error::invalid("evaluation images", want, format!("{ed:?}")));
    }
    if let Some(a) = &data.attacker {
        if a.dims()[1..] != shape {
            return Err(Error::invalid(
                "attacker images",
                want,
                format!("{:?}", a.dims()),
            ));
        }
    }
    if cfg.black_box() && data.attacker.is_none() {
        return Err(Error::invalid(
            "attacker dataset",
            "attacker images for the c-GAN / inverse-network attacks",
            "none",
        ));
    }
    if cfg.attacks.contains(&ReconstructionAttack::Rmle) && victim.white_box(0)?.is_none() {
        return Err(Error::invalid(
            "attacks",
            "black-box attacks only (c-GAN, inverse network): white-box rMLE needs the gradients of a \
             privsplit zoo model",
            "rmle",
        ));
    }
    let mut points: Vec<usize> = cfg.points.clone().unwrap_or_else(|| (0..=n).collect());
    points.sort_unstable();
    points.dedup();
    if let Some(&bad) = points.iter().find(|&&k| k > n) {
        return Err(Error::invalid(
            "partition point",
            format!(
                "0..={n} ({} has {n} stages)",
                cfg.model_name().to_lowercase()
            ),
            bad.to_string(),
        ));
    }
    Ok(points)
}

/// Runs the sweep on a given (trained) model.
///
/// # Errors
/// [`Error::Invalid`] for a bad config (see [`SweepConfig::validate`]), a partition point out of range,
/// evaluation images whose shape is not the model's input shape, or missing attacker data for a
/// black-box attack; model and attack errors.
pub fn run_sweep_on(
    model: &StagedModel,
    data: &SweepData,
    cfg: &SweepConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<SweepReport> {
    let victim = StagedVictim {
        model,
        norm: &cfg.norm,
    };
    run_sweep_victim(&victim, data, cfg, progress)
}

/// Accuracy in `[0, 1]` of `victim`'s predictions on `images` against `labels` (`None` when it does not
/// classify here or the counts differ).
fn accuracy(victim: &dyn Victim, images: &Tensor<4>, labels: &[usize]) -> Result<Option<f64>> {
    Ok(victim.predict(images)?.and_then(|p| {
        (p.len() == labels.len() && !p.is_empty())
            .then(|| p.iter().zip(labels).filter(|(a, b)| a == b).count() as f64 / p.len() as f64)
    }))
}

/// Runs the sweep on any [`Victim`] (a zoo model, an ONNX model cut at chosen nodes).
///
/// # Errors
/// As [`run_sweep_on`]; [`Error::Invalid`] when rMLE is asked of a black-box victim.
pub fn run_sweep_victim(
    victim: &dyn Victim,
    data: &SweepData,
    cfg: &SweepConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<SweepReport> {
    cfg.validate()?;
    let start = Instant::now();
    let points = check_inputs(victim, data, cfg)?;
    let m = data.eval.dims()[0].min(cfg.eval_images);
    let eval = data.eval.clone().narrow(0, 0, m);
    let eval_labels = data.eval_labels.as_deref().map(|l| &l[..m.min(l.len())]);
    let model_accuracy = match eval_labels {
        Some(l) if l.len() == m => accuracy(victim, &eval, l)?,
        _ => None,
    };
    let baseline = match &data.attacker {
        Some(a) => Some(baseline(
            &eval,
            a,
            data.attacker_labels.as_deref(),
            eval_labels,
        )?),
        None => None,
    };
    let leakage = LeakageContext::new(victim, data, &eval, cfg, progress)?;
    let point = PointRunner {
        victim,
        cfg,
        infos: victim.stage_infos(),
        eval: &eval,
        eval_labels,
        attacker: data.attacker.as_ref().filter(|_| cfg.black_box()),
        leakage: leakage.as_ref(),
    };
    let mut results = Vec::with_capacity(points.len());
    for &k in &points {
        results.push(point.run(k, progress)?);
    }
    let assessment = assess(&results, victim.num_stages(), cfg)?;
    Ok(SweepReport {
        config: cfg.clone(),
        num_stages: victim.num_stages(),
        stage_names: point.infos.iter().map(|i| i.name.clone()).collect(),
        model_accuracy,
        test_accuracy: None,
        baseline,
        recommendation: assessment.recommendation,
        image_shape: victim.input_shape(),
        originals: to_u8(&eval, cfg.grid_images)?,
        seconds: start.elapsed().as_secs_f64(),
        train_seconds: 0.0,
        priors: leakage
            .as_ref()
            .map(LeakageContext::scores)
            .unwrap_or_default(),
        verdicts: assessment.verdicts,
        floor: Some(assessment.floor),
        points: results,
        repeats: None,
    })
}

/// Everything the measurement of one partition point needs.
struct PointRunner<'a> {
    victim: &'a dyn Victim,
    cfg: &'a SweepConfig,
    infos: Vec<StageInfo>,
    eval: &'a Tensor<4>,
    eval_labels: Option<&'a [usize]>,
    attacker: Option<&'a Tensor<4>>,
    leakage: Option<&'a LeakageContext>,
}

impl PointRunner<'_> {
    /// Cost and attack scores at partition point `k`.
    fn run(&self, k: usize, progress: &mut dyn FnMut(&str)) -> Result<PointResult> {
        let (victim, cfg, infos) = (self.victim, self.cfg, &self.infos);
        let n = infos.len();
        let fs = victim.shape_at(k);
        let stage = if k == 0 {
            "input".to_string()
        } else {
            infos[k - 1].name.clone()
        };
        progress(&format!(
            "partition point k={k} ({stage}): feature map {fs:?}"
        ));
        let sum_flops = |s: &[StageInfo]| s.iter().map(|i| i.flops).sum::<u64>();
        let sum_params = |s: &[StageInfo]| s.iter().map(|i| i.params).sum::<usize>();
        let one = self.eval.clone().narrow(0, 0, 1);
        let (trusted_ms, untrusted_ms) = victim.latencies(&one, k, cfg.latency_reps)?;
        let eval_fm = victim.feature_maps(self.eval, k)?;
        let attacker_fm = match self.attacker {
            Some(a) => Some(victim.feature_maps(a, k)?),
            None => None,
        };
        let mut attacks = Vec::new();
        for &attack in &cfg.attacks {
            if let Some(s) = self.attack(attack, k, &eval_fm, attacker_fm.as_ref(), progress)? {
                attacks.push(s);
            }
        }
        Ok(PointResult {
            k,
            stage,
            feature_shape: fs,
            feature_bytes: fs.iter().product::<usize>() * 4,
            trusted_flops: sum_flops(&infos[..k]),
            trusted_param_bytes: sum_params(&infos[..k]) * 4,
            untrusted_flops: sum_flops(&infos[k..n]),
            untrusted_param_bytes: sum_params(&infos[k..n]) * 4,
            trusted_ms,
            untrusted_ms,
            attacks,
            enclave: Some(enclave_cost(
                &cfg.enclave,
                infos,
                victim.input_shape(),
                k,
                trusted_ms,
            )?),
        })
    }

    /// One attack at `k`; `None` when a black-box attack has no attacker data.
    fn attack(
        &self,
        attack: ReconstructionAttack,
        k: usize,
        eval_fm: &Tensor<4>,
        attacker_fm: Option<&Tensor<4>>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Option<AttackScore>> {
        let cfg = self.cfg;
        let t0 = Instant::now();
        let mut prog = |s: &str| progress(&format!("  k={k} {}: {s}", attack.name()));
        let (orig, recon) = match attack {
            ReconstructionAttack::Inverse | ReconstructionAttack::Cgan => {
                let (Some(afm), Some(a)) = (attacker_fm, self.attacker) else {
                    return Ok(None);
                };
                let (afm, efm) = if cfg.standardise_features {
                    standardise(afm, eval_fm)
                } else {
                    (afm.clone(), eval_fm.clone())
                };
                let dec = if attack == ReconstructionAttack::Inverse {
                    train_inverse(&afm, a, &cfg.inverse, &mut prog)?
                } else {
                    train_cgan(&afm, a, &cfg.cgan, &mut prog)?
                };
                (self.eval.clone(), reconstruct(&dec, &efm, 256))
            }
            ReconstructionAttack::Rmle => {
                let r = cfg.rmle_images.min(self.eval.dims()[0]).max(1);
                let Some(trusted) = self.victim.white_box(k)? else {
                    return Ok(None);
                };
                let target = eval_fm.clone().narrow(0, 0, r);
                let rec = rmle(&trusted, &target, &cfg.norm, &cfg.rmle, &mut prog)?;
                (self.eval.clone().narrow(0, 0, r), rec)
            }
        };
        let secs = t0.elapsed().as_secs_f64();
        let s = self.score(attack, &orig, &recon, secs)?;
        progress(&format!(
            "  k={k} {}: SSIM {:.3}, PSNR {:.2} dB ({secs:.1} s)",
            attack.name(),
            s.ssim,
            s.psnr
        ));
        Ok(Some(s))
    }

    /// SSIM, PSNR and the full model's accuracy on the reconstructions.
    fn score(
        &self,
        attack: ReconstructionAttack,
        originals: &Tensor<4>,
        recon: &Tensor<4>,
        seconds: f64,
    ) -> Result<AttackScore> {
        let cfg = self.cfg;
        let m = ssim_psnr_batch(originals, recon, 1.0)?;
        let leakage = match self.leakage {
            Some(ctx) => {
                let ssims: Vec<f64> = m.iter().map(|p| p.0).collect();
                Some(ctx.leakage(&tensor_images(recon)?, &ssims)?)
            }
            None => None,
        };
        let n = m.len() as f64;
        let ssim = m.iter().map(|p| p.0).sum::<f64>() / n;
        let var = m.iter().map(|p| (p.0 - ssim).powi(2)).sum::<f64>() / n;
        let psnr = m.iter().map(|p| p.1.min(100.0)).sum::<f64>() / n;
        let accuracy = match self.eval_labels {
            Some(l) => accuracy(self.victim, recon, &l[..m.len()])?,
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
            leakage,
        })
    }
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
    let dev = cfg.device.resolve()?;
    let tr = &split.train;
    let shape = [1, tr.rows, tr.cols];
    let want = [
        cfg.arch.in_channels,
        cfg.arch.input_size,
        cfg.arch.input_size,
    ];
    if shape != want {
        return Err(Error::invalid(
            "images of the split",
            format!("{want:?} (the architecture's input shape)"),
            format!("{shape:?}"),
        ));
    }
    if tr.n < cfg.attacker_images.max(1) || split.test.n == 0 {
        return Err(Error::invalid(
            "split",
            format!(
                ">= {} training images and >= 1 test image",
                cfg.attacker_images
            ),
            format!("{} training, {} test images", tr.n, split.test.n),
        ));
    }
    let t0 = Instant::now();
    let n_train = cfg.classifier.images.min(tr.n);
    let x = images_tensor(tr, 0, n_train, &dev)?;
    let y = labels(tr, 0, n_train);
    let model = train_classifier(&cfg.arch, &cfg.norm.apply(x), &y, &cfg.classifier, progress)?;
    let train_seconds = t0.elapsed().as_secs_f64();
    let data = SweepData::fashion(cfg, split, &dev)?;
    let mut report = run_sweep_on(&model, &data, cfg, progress)?;
    report.train_seconds = train_seconds;
    let acc = test_accuracy(&model, cfg, split)?;
    progress(&format!(
        "test accuracy of the trained model: {:.2} %",
        acc * 100.0
    ));
    report.test_accuracy = Some(acc);
    Ok(SweepRun { report, model })
}

/// Accuracy in `[0, 1]` of `model` on the whole test split.
///
/// # Errors
/// Model errors (an empty split, a shape mismatch).
pub fn test_accuracy(model: &StagedModel, cfg: &SweepConfig, split: &Split) -> Result<f64> {
    let dev = cfg.device.resolve()?;
    let n = split.test.n;
    let test = images_tensor(&split.test, 0, n, &dev)?;
    Ok(image_accuracy(
        model,
        &cfg.norm.apply(test),
        &labels(&split.test, 0, n),
    )?)
}

/// The attacker's per-channel standardisation of feature maps `[n, c, h, w]`
/// ([`SweepConfig::standardise_features`]): `(x - mean_c) / std_c` with the mean and (population)
/// standard deviation of channel `c` over the attacker's maps (images and positions), applied to the
/// attacker's and the evaluation maps alike; a constant channel (std 0) is only centred.
fn standardise(attacker: &Tensor<4>, eval: &Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let per_channel = |t: Tensor<4>| t.mean_dim(0).mean_dim(2).mean_dim(3);
    let mean = per_channel(attacker.clone());
    let centred = attacker.clone() - mean.clone();
    let std = per_channel(centred.clone().powi_scalar(2)).sqrt();
    let std = std.clone().mask_fill(std.equal_elem(0.0), 1.0);
    (centred / std.clone(), (eval.clone() - mean) / std)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use std::path::Path;

    /// Standardised attacker maps have mean 0 and standard deviation 1 per channel (a constant channel
    /// is 0), and the evaluation maps go through the same affine map.
    #[test]
    fn standardise_uses_the_attackers_statistics_per_channel() {
        let dev = Device::flex();
        // Channel 0: 1e9 * [1, 3] over two images; channel 1: constant 7.
        let a = Tensor::<4>::from_data(
            burn::tensor::TensorData::new(vec![1e9f32, 7.0, 3e9, 7.0], [2, 2, 1, 1]),
            &dev,
        );
        let e = Tensor::<4>::from_data(
            burn::tensor::TensorData::new(vec![5e9f32, 8.0], [1, 2, 1, 1]),
            &dev,
        );
        let (sa, se) = standardise(&a, &e);
        let v = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().expect("f32");
        assert_eq!(v(sa), vec![-1.0, 0.0, 1.0, 0.0]);
        let se = v(se);
        // (5e9 - 2e9) / 1e9 = 3; the constant channel is only centred: 8 - 7.
        assert_eq!(se, vec![3.0, 1.0]);
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
            attacks: vec![ReconstructionAttack::Rmle],
            ..SweepConfig::tiny()
        };
        let dev = Device::flex();
        let model = privsplit_models::zoo::build(&c.arch, &dev).expect("build");
        let data = SweepData {
            attacker: None,
            eval: Tensor::zeros([2, 1, 28, 28], &dev),
            eval_labels: None,
            attacker_labels: None,
            distractors: None,
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
    /// report is complete. Needs Fashion-MNIST (fails under CI=1 without it).
    #[test]
    fn tiny_sweep_attacks_beat_the_mean_image_at_an_early_point() {
        let dir = Path::new(privsplit_data::fashion_mnist::DEBIAN_DIR);
        if !privsplit_data::installed_or_skip(
            "Fashion-MNIST",
            &[&dir.join("train-images-idx3-ubyte.gz")],
        ) {
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
