//! Leakage beyond the label: how much better an attack reconstructs each evaluation image than the
//! strongest **prior-only baseline** (a guess from what the untrusted host learns anyway, the predicted
//! class), and whether its reconstruction picks out the true input among candidates of the same class.
//!
//! Prior-only baselines, each scored per evaluation image by SSIM (Wang et al. 2004):
//! - [`PriorKind::MeanImage`]: the attacker dataset's mean image;
//! - [`PriorKind::ClassMean`]: the attacker dataset's mean image of the **predicted** class of the
//!   evaluation image (classes of the attacker images predicted by the victim too: the attacker queries it);
//! - [`PriorKind::LabelDecoder`]: the attacks' decoder trained on the attacker dataset from the one-hot
//!   predicted class `[batch, classes, 1, 1]` to the image (the inverse network of He, Zhang & Lee 2019,
//!   §4.2, with the label as its only input), i.e. the best image that network produces from the label
//!   alone; trained to convergence on the class means ([`super::baselines::train_label_decoder`],
//!   [`super::rule::RuleConfig::label_decoder_steps`] Adam steps), so it reaches the class mean's quality;
//! - [`PriorKind::LabelCgan`] (when the sweep runs the c-GAN): the c-GAN attack itself (Isola et al. 2017
//!   design, same generator, discriminator, loss and training budget) with the one-hot predicted class as
//!   its input instead of the feature map. The MSE-trained priors are blurred averages; the c-GAN's L1 +
//!   adversarial loss gives sharper images that score differently under SSIM from the same information, so
//!   the c-GAN's gain at a point is only information in the feature map when it is measured against the
//!   same method fed the label.
//!
//! For an attack evaluated on images `i = 1..m`, the strongest prior is the one with the highest mean SSIM
//! on those images; the gain is `g_i = SSIM(x_i, attack_i) - SSIM(x_i, prior_i)` and its 95 % confidence
//! interval is the percentile bootstrap of the mean of `g` (Efron & Tibshirani 1993, §13.3;
//! [`bootstrap_mean_ci`]).
//!
//! Identification: for each evaluation image, `N - 1` distractors of the same predicted class (from a pool
//! of test images disjoint from the evaluation images; from the whole pool when the class has too few) are
//! drawn once per sweep with `ChaCha8Rng`; the reconstruction identifies the true input when the true input
//! has the highest SSIM with it among the `N` candidates (ties shared). Top-1 accuracy against chance
//! `1 / N`, with the Wilson 95 % interval (Wilson 1927).

use burn::tensor::Tensor;
use privsplit_attacks::cgan::train_cgan;
use privsplit_attacks::inverse::reconstruct;
use privsplit_attacks::metrics::{bootstrap_mean_ci, ssim, ssim_psnr_batch, tensor_images};
use privsplit_attacks::tabular_metrics::{wilson95, Reidentification};
use privsplit_attacks::ReconstructionAttack;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::baselines::{class_mean, one_hot, train_label_decoder};
use super::data::SweepData;
use super::victim::Victim;
use super::SweepConfig;
use crate::Result;

/// A prior-only baseline: a guess that uses at most the predicted class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorKind {
    /// The attacker dataset's mean image.
    MeanImage,
    /// The attacker dataset's mean image of the predicted class.
    ClassMean,
    /// The attacks' decoder trained from the one-hot predicted class alone to the image.
    LabelDecoder,
    /// The c-GAN attack (generator, PatchGAN discriminator, L1 + adversarial loss, same training) with the
    /// one-hot predicted class as its only input; only when the sweep runs the c-GAN.
    LabelCgan,
}

impl PriorKind {
    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::MeanImage => "mean image",
            Self::ClassMean => "class mean (predicted)",
            Self::LabelDecoder => "label decoder",
            Self::LabelCgan => "label c-GAN",
        }
    }
}

/// Mean score of a prior-only baseline over all evaluation images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriorScore {
    /// The baseline.
    pub prior: PriorKind,
    /// Mean SSIM in `[-1, 1]`.
    pub ssim: f64,
    /// Mean PSNR (dB, each image capped at 100).
    pub psnr: f64,
}

/// Leakage of one attack at one partition point beyond the strongest prior-only baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Leakage {
    /// The strongest prior-only baseline on the attacked images.
    pub prior: PriorKind,
    /// Its mean SSIM on those images.
    pub prior_ssim: f64,
    /// Mean per-image SSIM gain of the attack over it (SSIM units, in `[-2, 2]`).
    pub gain: f64,
    /// Percentile-bootstrap 95 % confidence interval `[lower, upper]` of `gain`.
    pub gain_ci95: [f64; 2],
    /// Identification of the true input among `N` same-class candidates, when the pool allowed it.
    pub identification: Option<Reidentification>,
}

/// What the leakage of every attack at every point is measured against (computed once per sweep).
pub(crate) struct LeakageContext {
    shape: [usize; 3],
    eval: Vec<Vec<f32>>,
    priors: Vec<(PriorKind, Vec<(f64, f64)>)>,
    pool: Vec<Vec<f32>>,
    candidates: Vec<Option<Vec<usize>>>,
    n: usize,
    resamples: usize,
    seed: u64,
}

impl LeakageContext {
    /// Predicts the classes, trains the label decoder (and the label c-GAN), scores the priors on `eval` `[m, C, H, W]`
    /// and draws the identification candidates. `None` without an attacker dataset (no prior to measure
    /// against).
    ///
    /// # Errors
    /// Model, attack and metric errors.
    pub(crate) fn new(
        victim: &dyn Victim,
        data: &SweepData,
        eval: &Tensor<4>,
        cfg: &SweepConfig,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Option<Self>> {
        let Some(attacker) = &data.attacker else {
            return Ok(None);
        };
        let [m, c, h, w] = eval.dims();
        // Without a prediction (the whole model does not run here) every image is of one class.
        let predict = |x: &Tensor<4>| -> Result<(Vec<usize>, usize)> {
            Ok(match victim.predict(x)? {
                Some(p) => (p, victim.classes()),
                None => (vec![0; x.dims()[0]], 1),
            })
        };
        let dev = eval.device();
        let (pred_eval, classes) = predict(eval)?;
        let (pred_att, _) = predict(attacker)?;
        let mean = attacker.clone().mean_dim(0);
        let means: Vec<Tensor<4>> = (0..classes)
            .map(|k| class_mean(attacker, &pred_att, k).unwrap_or_else(|| mean.clone()))
            .collect();
        let class_guess = Tensor::cat(
            pred_eval
                .iter()
                .map(|&k| means[k.min(classes - 1)].clone())
                .collect(),
            0,
        );
        progress(&format!(
            "prior-only baseline: label decoder (one-hot predicted class -> image, {} steps)",
            cfg.rule.label_decoder_steps
        ));
        let mut train = cfg.inverse.clone();
        train.seed = cfg.rule.seed ^ 0x1abe1;
        let dec = train_label_decoder(
            attacker,
            &pred_att,
            classes,
            &train,
            cfg.rule.label_decoder_steps,
        )?;
        let eval_hot = one_hot(&pred_eval, classes, &dev);
        let decoded = reconstruct(&dec, &eval_hot, 256);
        let mut priors = vec![
            (
                PriorKind::MeanImage,
                ssim_psnr_batch(eval, &mean.repeat_dim(0, m), 1.0)?,
            ),
            (
                PriorKind::ClassMean,
                ssim_psnr_batch(eval, &class_guess, 1.0)?,
            ),
            (
                PriorKind::LabelDecoder,
                ssim_psnr_batch(eval, &decoded, 1.0)?,
            ),
        ];
        if cfg.attacks.contains(&ReconstructionAttack::Cgan) {
            progress("prior-only baseline: label c-GAN (the c-GAN attack from the one-hot predicted class)");
            let mut c = cfg.cgan.clone();
            c.train.seed = cfg.rule.seed ^ 0x1abe2;
            let gen = train_cgan(
                &one_hot(&pred_att, classes, &dev),
                attacker,
                &c,
                &mut |_| {},
            )?;
            priors.push((
                PriorKind::LabelCgan,
                ssim_psnr_batch(eval, &reconstruct(&gen, &eval_hot, 256), 1.0)?,
            ));
        }
        let eval_imgs = tensor_images(eval)?;
        // The identification pool: distractor test images, else the other evaluation images.
        let (pool, pool_labels, is_eval) = match &data.distractors {
            Some(d) if d.dims()[0] > 0 => (tensor_images(d)?, predict(d)?.0, false),
            _ => (eval_imgs.clone(), pred_eval.clone(), true),
        };
        let n = cfg.rule.candidates;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.rule.seed ^ 0x1d3a7);
        let candidates = (0..m)
            .map(|i| {
                let other = |j: &usize| !(is_eval && *j == i);
                let same: Vec<usize> = (0..pool.len())
                    .filter(|j| pool_labels[*j] == pred_eval[i] && other(j))
                    .collect();
                let from = if same.len() + 1 >= n {
                    same
                } else {
                    (0..pool.len()).filter(other).collect()
                };
                (from.len() + 1 >= n)
                    .then(|| from.choose_multiple(&mut rng, n - 1).copied().collect())
            })
            .collect();
        Ok(Some(Self {
            shape: [c, h, w],
            eval: eval_imgs,
            priors,
            pool,
            candidates,
            n,
            resamples: cfg.rule.bootstrap_resamples,
            seed: cfg.rule.seed,
        }))
    }

    /// Mean SSIM / PSNR of each prior over all evaluation images.
    pub(crate) fn scores(&self) -> Vec<PriorScore> {
        self.priors
            .iter()
            .map(|(prior, s)| {
                let k = s.len().max(1) as f64;
                PriorScore {
                    prior: *prior,
                    ssim: s.iter().map(|p| p.0).sum::<f64>() / k,
                    psnr: s.iter().map(|p| p.1.min(100.0)).sum::<f64>() / k,
                }
            })
            .collect()
    }

    /// Leakage of reconstructions `recon` of the first `recon.len()` evaluation images, whose per-image SSIMs
    /// are `ssims`.
    ///
    /// # Errors
    /// Metric errors (a reconstruction of the wrong size); [`crate::Error::Invalid`] when the counts differ.
    pub(crate) fn leakage(&self, recon: &[Vec<f32>], ssims: &[f64]) -> Result<Leakage> {
        let r = recon.len();
        if r != ssims.len() || r == 0 || r > self.eval.len() {
            return Err(crate::Error::invalid(
                "reconstructions for the leakage",
                format!("1..={} reconstructions with one SSIM each", self.eval.len()),
                format!("{r} reconstructions, {} SSIMs", ssims.len()),
            ));
        }
        let mean_on = |s: &[(f64, f64)]| s[..r].iter().map(|p| p.0).sum::<f64>() / r as f64;
        let (prior, scores) = self
            .priors
            .iter()
            .max_by(|a, b| mean_on(&a.1).total_cmp(&mean_on(&b.1)))
            .map(|(p, s)| (*p, s))
            .ok_or_else(|| crate::Error::invalid("prior baselines", "three", "none"))?;
        let gains: Vec<f64> = ssims.iter().zip(scores).map(|(a, p)| a - p.0).collect();
        Ok(Leakage {
            prior,
            prior_ssim: mean_on(scores),
            gain: gains.iter().sum::<f64>() / r as f64,
            gain_ci95: bootstrap_mean_ci(&gains, self.resamples, 0.05, self.seed)?,
            identification: self.identify(recon)?,
        })
    }

    /// Top-1 identification of the true input among `N` candidates (see the module docs).
    fn identify(&self, recon: &[Vec<f32>]) -> Result<Option<Reidentification>> {
        let mut score = 0.0;
        let mut trials = 0usize;
        for (i, rec) in recon.iter().enumerate() {
            let Some(cands) = &self.candidates[i] else {
                continue;
            };
            let truth = ssim(rec, &self.eval[i], self.shape, 1.0)?;
            let mut ties = 1usize;
            let mut beaten = false;
            for &j in cands {
                let s = ssim(rec, &self.pool[j], self.shape, 1.0)?;
                if s > truth {
                    beaten = true;
                    break;
                }
                if s == truth {
                    ties += 1;
                }
            }
            if !beaten {
                score += 1.0 / ties as f64;
            }
            trials += 1;
        }
        Ok((trials > 0).then(|| {
            let top1 = score / trials as f64;
            Reidentification {
                candidates: self.n,
                trials,
                top1,
                chance: 1.0 / self.n as f64,
                ci95: wilson95(top1, trials),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A context over `m` random 12x12 images with `pool` distractors, no priors needed for identification.
    fn context(m: usize, pool: usize, n: usize) -> LeakageContext {
        use rand::Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut img = || (0..144).map(|_| rng.gen::<f32>()).collect::<Vec<f32>>();
        let eval: Vec<Vec<f32>> = (0..m).map(|_| img()).collect();
        let pool: Vec<Vec<f32>> = (0..pool).map(|_| img()).collect();
        let mut pick = ChaCha8Rng::seed_from_u64(6);
        let idx: Vec<usize> = (0..pool.len()).collect();
        LeakageContext {
            shape: [1, 12, 12],
            priors: vec![
                (PriorKind::MeanImage, vec![(0.1, 10.0); m]),
                (PriorKind::ClassMean, vec![(0.3, 12.0); m]),
            ],
            candidates: (0..m)
                .map(|_| Some(idx.choose_multiple(&mut pick, n - 1).copied().collect()))
                .collect(),
            eval,
            pool,
            n,
            resamples: 1000,
            seed: 0,
        }
    }

    #[test]
    fn perfect_reconstructions_identify_every_input_and_random_ones_score_near_chance() {
        let ctx = context(200, 300, 10);
        let perfect = ctx.identify(&ctx.eval).expect("id").expect("trials");
        assert_eq!(
            (perfect.top1, perfect.trials, perfect.candidates),
            (1.0, 200, 10)
        );
        assert!(perfect.ci95[0] > 0.9);
        // Reconstructions independent of the inputs: the true input wins 1 time in N.
        use rand::Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let random: Vec<Vec<f32>> = (0..200)
            .map(|_| (0..144).map(|_| rng.gen::<f32>()).collect())
            .collect();
        let r = ctx.identify(&random).expect("id").expect("trials");
        assert!((r.top1 - 0.1).abs() < 0.06, "{r:?}");
        assert!(r.ci95[0] <= r.chance && r.chance <= r.ci95[1], "{r:?}");
        // A constant reconstruction carries no information about the input either.
        let flat = vec![vec![0.5f32; 144]; 200];
        let f = ctx.identify(&flat).expect("id").expect("trials");
        assert!(f.ci95[0] <= f.chance && f.top1 < 0.2, "{f:?}");
    }

    #[test]
    fn gain_is_measured_against_the_strongest_prior_with_a_bootstrap_interval() {
        let ctx = context(40, 50, 10);
        // Attack SSIMs 0.3 + 0.1 * (i mod 2): mean 0.35, the strongest prior (class mean) scores 0.3.
        let ssims: Vec<f64> = (0..40).map(|i| 0.3 + 0.1 * (i % 2) as f64).collect();
        let l = ctx.leakage(&ctx.eval, &ssims).expect("leakage");
        assert_eq!(l.prior, PriorKind::ClassMean);
        assert!((l.gain - 0.05).abs() < 1e-12 && (l.prior_ssim - 0.3).abs() < 1e-12);
        let [lo, hi] = l.gain_ci95;
        assert!(lo < 0.05 && 0.05 < hi && lo > 0.0 && hi < 0.1, "{lo} {hi}");
        assert!(ctx.leakage(&ctx.eval, &ssims[..3]).is_err());
        assert!(ctx.leakage(&[], &[]).is_err());
    }
}
