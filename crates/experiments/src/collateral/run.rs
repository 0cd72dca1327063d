//! [`run_collateral`]: the plain phase once, then for each alpha the defence phase, the recovery of the
//! public head and the attacks on the sensitive attribute.

use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use privsplit_attacks::attack_attribute;
use privsplit_attacks::collateral::{AttackResult, SensitiveView};
use privsplit_data::Split;
use privsplit_defenses::semi_adversarial::{self, SemiAdversarialConfig, Trio, TrioOptimizers};
use privsplit_models::adversary::AdversaryConfig;
use privsplit_models::quadratic::{PublicHead, QuadraticConfig, QuadraticPrivate, SplitNetwork};
use privsplit_models::tensor::{sensitive_labels, Features};
use privsplit_models::train::{accuracy, fit, majority_rate, predict, Progress};

use super::{
    check_split, init_network, AlphaOutcome, CollateralConfig, CollateralOutcome, TrainedSplit,
};
use crate::{Error, Result};

/// The training data of every phase, on the autodiff device.
struct Phases<'a> {
    cfg: &'a CollateralConfig,
    net: QuadraticConfig,
    data: &'a Split,
    device: Device,
    x_train: Features,
    x_test: Features,
    s_train: Vec<u8>,
    s_test: Vec<u8>,
    n_sensitive: usize,
}

/// Runs the whole experiment on `data` (train/test with the sensitive attribute), reporting progress.
///
/// # Errors
/// [`Error::Invalid`] on a bad config or data without a sensitive attribute (or with fewer than 2 values),
/// or with mismatched image sizes or class lists; [`Error::Model`] / [`Error::Attack`] /
/// [`Error::Defense`] when training, an attack or the defence fails.
pub fn run_collateral(
    cfg: &CollateralConfig,
    data: &Split,
    progress: &mut dyn FnMut(Progress),
) -> Result<CollateralOutcome> {
    let net = check_split(cfg, data, true)?;
    let p = Phases::new(cfg, data, net.clone())?;
    let start = Instant::now();
    let plain = p.plain(progress)?;
    let plain_seconds = start.elapsed().as_secs_f64();

    let mut per_alpha = Vec::with_capacity(cfg.alphas.len());
    let mut undefended: Option<TrainedSplit> = None;
    for (ai, &alpha) in cfg.alphas.iter().enumerate() {
        let (outcome, trained) = p.one_alpha(&plain, alpha, ai, progress)?;
        if alpha == 0.0 && undefended.is_none() {
            undefended = Some(trained);
        }
        per_alpha.push(outcome);
    }
    let undefended = match undefended {
        Some(u) => u,
        None => p.recovered_plain(&plain, progress)?,
    };
    let z_test = undefended.private.outputs(&p.x_test)?;
    let float_test_accuracy = accuracy(
        &predict(&undefended.head, &z_test, 1024)?,
        &data.test.labels,
    );
    Ok(CollateralOutcome {
        config: cfg.clone(),
        network: net,
        train_images: data.train.n,
        test_images: data.test.n,
        chance: majority_rate(&p.s_test),
        float_test_accuracy,
        plain_seconds,
        seconds_per_plain_epoch: plain_seconds / cfg.plain_epochs as f64,
        per_alpha,
        undefended_weights: undefended.private.export()?,
        undefended: Some(undefended),
    })
}

impl<'a> Phases<'a> {
    fn new(cfg: &'a CollateralConfig, data: &'a Split, net: QuadraticConfig) -> Result<Self> {
        let (tr, te) = (&data.train, &data.test);
        let s_train = sensitive_labels(tr, "train split")?.to_vec();
        let s_test = sensitive_labels(te, "test split")?.to_vec();
        let n_sensitive = tr.sensitive_names.len();
        if n_sensitive < 2 {
            return Err(Error::invalid(
                "sensitive attribute",
                "at least 2 values",
                n_sensitive.to_string(),
            ));
        }
        Ok(Self {
            cfg,
            net,
            data,
            device: Device::flex().autodiff(),
            x_train: Features::from_images(tr)?,
            x_test: Features::from_images(te)?,
            s_train,
            s_test,
            n_sensitive,
        })
    }

    /// Phase 1, shared by every alpha: `Q` and `C` on the main task.
    fn plain(&self, progress: &mut dyn FnMut(Progress)) -> Result<SplitNetwork> {
        let (cfg, seed) = (self.cfg, self.cfg.seed);
        let init = init_network(&self.net, &self.device, seed)?;
        Ok(fit(
            init,
            &self.x_train,
            &self.data.train.labels,
            &cfg.train_config(cfg.plain_epochs, seed + 2),
            &self.device,
            "plain",
            progress,
        )?)
    }

    /// Phases 2 and 3 and the attacks for one alpha (index `ai` in the config, which seeds them).
    fn one_alpha(
        &self,
        plain: &SplitNetwork,
        alpha: f32,
        ai: usize,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(AlphaOutcome, TrainedSplit)> {
        let aseed = self.cfg.seed + 100 * (ai as u64 + 1);
        let start = Instant::now();
        let (private, head) = self.defend(plain, alpha, aseed, progress)?;
        let defence_seconds = start.elapsed().as_secs_f64();

        let start = Instant::now();
        let z_train = private.outputs(&self.x_train)?;
        let z_test = private.outputs(&self.x_test)?;
        let head = self.recover(
            head,
            &z_train,
            aseed + 2,
            &format!("recovery alpha={alpha}"),
            progress,
        )?;
        let main_accuracy = accuracy(&predict(&head, &z_test, 1024)?, &self.data.test.labels);
        let recovery_seconds = start.elapsed().as_secs_f64();

        let start = Instant::now();
        let attacks = self.attack(z_train, z_test, alpha, aseed + 3, progress)?;
        let attack_seconds = start.elapsed().as_secs_f64();
        let outcome = AlphaOutcome {
            alpha,
            main_accuracy,
            attacks,
            defence_seconds,
            recovery_seconds,
            attack_seconds,
            weights: private.export()?,
        };
        let trained = TrainedSplit {
            private: private.valid(),
            head: head.valid(),
        };
        Ok((outcome, trained))
    }

    /// Phase 2: semi-adversarial training with strength `alpha`, or plain training for alpha = 0 (same
    /// budget).
    fn defend(
        &self,
        plain: &SplitNetwork,
        alpha: f32,
        aseed: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(QuadraticPrivate, PublicHead)> {
        let cfg = self.cfg;
        let phase = format!("defence alpha={alpha}");
        if alpha == 0.0 {
            let m = fit(
                plain.clone(),
                &self.x_train,
                &self.data.train.labels,
                &cfg.train_config(cfg.defence_epochs, aseed),
                &self.device,
                &phase,
                progress,
            )?;
            return Ok((m.private, m.head));
        }
        let trio = Trio {
            private: plain.private.clone(),
            head: plain.head.clone(),
            adversary: AdversaryConfig {
                kind: cfg.defence_adversary,
                inputs: cfg.k,
                classes: self.n_sensitive,
            }
            .init(&self.device, aseed)?,
        };
        let sa = SemiAdversarialConfig {
            alpha,
            epochs: cfg.defence_epochs,
            batch_size: cfg.batch_size,
            optimizer: cfg.optimizer(),
            seed: aseed + 1,
        };
        let mut opt = TrioOptimizers::new(&sa.optimizer);
        let t = semi_adversarial::train(
            trio,
            &mut opt,
            &self.x_train,
            &self.data.train.labels,
            &self.s_train,
            &sa,
            &self.device,
            &phase,
            progress,
        )?;
        Ok((t.private, t.head))
    }

    /// Phase 3: `Q` fixed, `C` retrained on the detached outputs `z_train`.
    fn recover(
        &self,
        head: PublicHead,
        z_train: &Features,
        seed: u64,
        phase: &str,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<PublicHead> {
        let cfg = self.cfg;
        Ok(fit(
            head,
            z_train,
            &self.data.train.labels,
            &cfg.train_config(cfg.recovery_epochs, seed),
            &self.device,
            phase,
            progress,
        )?)
    }

    /// Every configured attacker, trained afresh on the train split's outputs, scored on the test split's.
    fn attack(
        &self,
        z_train: Features,
        z_test: Features,
        alpha: f32,
        seed: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<AttackResult>> {
        let cfg = self.cfg;
        let vtr = SensitiveView::new(z_train, self.s_train.clone(), self.n_sensitive)?;
        let vte = SensitiveView::new(z_test, self.s_test.clone(), self.n_sensitive)?;
        let mut out = Vec::with_capacity(cfg.attackers.len());
        for &attacker in &cfg.attackers {
            out.push(attack_attribute(
                attacker,
                cfg.train_config(cfg.recovery_epochs, seed),
                &cfg.classic,
                &vtr,
                &vte,
                &mut |p| {
                    progress(Progress {
                        phase: format!("{} alpha={alpha}", p.phase),
                        ..p
                    })
                },
            )?);
        }
        Ok(out)
    }

    /// Without alpha = 0 in the config: the plain-phase model with its head recovered on the same schedule.
    fn recovered_plain(
        &self,
        plain: &SplitNetwork,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<TrainedSplit> {
        let z_train = plain.private.outputs(&self.x_train)?;
        let head = self.recover(
            plain.head.clone(),
            &z_train,
            self.cfg.seed + 3,
            "recovery plain",
            progress,
        )?;
        Ok(TrainedSplit {
            private: plain.private.valid(),
            head: head.valid(),
        })
    }
}
