//! [`run_collateral`]: the plain phase once, then for each alpha the defence phase, the recovery of the
//! public head and the attacks on the sensitive attribute. [`run_collateral_seeds`] repeats it per seed.

use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use privsplit_attacks::attack_attribute;
use privsplit_attacks::collateral::{AttackResult, SensitiveView};
use privsplit_data::{InputScaling, Split};
use privsplit_defenses::semi_adversarial::{
    train_guarded, DefenceOutcome, LrSchedule, SemiAdversarialConfig, SemiAdversarialOptions, Trio,
    TrioOptimizers,
};
use privsplit_models::adversary::{Adversary, AdversaryConfig};
use privsplit_models::quadratic::{PublicHead, QuadraticConfig, QuadraticPrivate, SplitNetwork};
use privsplit_models::tensor::{sensitive_labels, Features};
use privsplit_models::train::{accuracy, fit, majority_rate, predict, Progress};

use super::learned;
use super::summary::{summarise, CollateralRuns, InitialPhaseStat};
use super::{
    check_split, init_network, AlphaOutcome, CollateralConfig, CollateralOutcome, InitialPhase,
    TrainedSplit,
};
use crate::{Error, Result};

/// The training data of every phase, on the autodiff device.
struct Phases<'a> {
    cfg: &'a CollateralConfig,
    seed: u64,
    net: QuadraticConfig,
    data: &'a Split,
    device: Device,
    x_train: Features,
    x_test: Features,
    s_train: Vec<u8>,
    s_test: Vec<u8>,
    n_sensitive: usize,
    /// The distinguisher class's index, when the evaluation is restricted to one class.
    distinguisher: Option<u8>,
}

/// The state after the plain phase: `Q` and `C`, and with `initial_adversary` the adversary trained
/// alongside and the optimiser states (carried into the defence).
struct Plain {
    net: SplitNetwork,
    adversary: Option<(Adversary, TrioOptimizers)>,
    /// The test accuracies after the phase when `F` trained alongside.
    scores: Option<InitialPhase>,
}

/// Runs the whole experiment on `data` (train/test with the sensitive attribute) with seed `cfg.seed`,
/// images scaled to `[0, 1]`, reporting progress.
///
/// # Errors
/// [`Error::Invalid`] on a bad config or data without a sensitive attribute (or with fewer than 2 values),
/// or with mismatched image sizes or class lists, or a distinguisher class the data does not have;
/// [`Error::Model`] / [`Error::Attack`] / [`Error::Defense`] when training, an attack or the defence
/// fails.
pub fn run_collateral(
    cfg: &CollateralConfig,
    data: &Split,
    progress: &mut dyn FnMut(Progress),
) -> Result<CollateralOutcome> {
    run_collateral_with(cfg, data, InputScaling::Unit, cfg.seed, progress)
}

/// As [`run_collateral`], with the images read under `scaling` (e.g. the authors' per-image
/// standardisation) and every seed derived from `seed` instead of `cfg.seed`.
///
/// # Errors
/// As [`run_collateral`].
pub fn run_collateral_with(
    cfg: &CollateralConfig,
    data: &Split,
    scaling: InputScaling,
    seed: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<CollateralOutcome> {
    let net = check_split(cfg, data, true)?;
    let p = Phases::new(cfg, data, net.clone(), scaling, seed)?;
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
        None => p.recovered_plain(&plain.net, progress)?,
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
        chance: p.chance(),
        float_test_accuracy,
        plain_seconds,
        seconds_per_plain_epoch: plain_seconds / cfg.plain_epochs as f64,
        per_alpha,
        initial_phase: plain.scores,
        undefended_weights: undefended.private.export()?,
        undefended: Some(undefended),
    })
}

/// [`run_collateral_with`] once per seed of [`CollateralConfig::run_seeds`], and each alpha summarised
/// over the seeds as mean ± standard deviation (diverged runs counted and left out, [`summarise`]).
/// Progress phases are prefixed with `seed=S` when there is more than one seed.
///
/// # Errors
/// As [`run_collateral`].
pub fn run_collateral_seeds(
    cfg: &CollateralConfig,
    data: &Split,
    scaling: InputScaling,
    progress: &mut dyn FnMut(Progress),
) -> Result<CollateralRuns> {
    cfg.validate()?;
    let seeds = cfg.run_seeds();
    let many = seeds.len() > 1;
    let mut runs = Vec::with_capacity(seeds.len());
    for seed in seeds {
        let mut tagged = |p: Progress| {
            if many {
                progress(Progress {
                    phase: format!("seed={seed} {}", p.phase),
                    ..p
                });
            } else {
                progress(p);
            }
        };
        runs.push(run_collateral_with(cfg, data, scaling, seed, &mut tagged)?);
    }
    let summary = summarise(&runs);
    let initial_phase = InitialPhaseStat::of(&runs);
    Ok(CollateralRuns {
        runs,
        summary,
        initial_phase,
    })
}

/// `set`'s images as model inputs under `scaling`, `[n, rows * cols]`.
fn features(set: &privsplit_data::ImageSet, scaling: InputScaling) -> Result<Features> {
    privsplit_models::tensor::check_image_set(set, "image set")?;
    Ok(Features::new(
        set.to_model_f32(scaling),
        set.n,
        set.rows * set.cols,
    )?)
}

/// The rows of `x` (and their labels `s`) whose main label in `y` is `class`.
fn rows_of_class(x: Features, s: &[u8], y: &[u8], class: u8) -> Result<(Features, Vec<u8>)> {
    let keep: Vec<usize> = (0..x.rows).filter(|&i| y.get(i) == Some(&class)).collect();
    let data = keep.iter().flat_map(|&i| x.row(i).to_vec()).collect();
    let sensitive = keep.iter().filter_map(|&i| s.get(i).copied()).collect();
    Ok((Features::new(data, keep.len(), x.cols)?, sensitive))
}

impl<'a> Phases<'a> {
    fn new(
        cfg: &'a CollateralConfig,
        data: &'a Split,
        net: QuadraticConfig,
        scaling: InputScaling,
        seed: u64,
    ) -> Result<Self> {
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
        let distinguisher = match &cfg.evaluation.distinguisher {
            None => None,
            Some(name) => {
                let i = tr
                    .class_names
                    .iter()
                    .position(|c| c == name)
                    .ok_or_else(|| {
                        Error::invalid(
                            "collateral config: evaluation.distinguisher",
                            format!("one of the classes {}", tr.class_names.join(" ")),
                            format!("{name:?}"),
                        )
                    })?;
                Some(u8::try_from(i).map_err(|_| {
                    Error::invalid(
                        "evaluation.distinguisher",
                        "a class index < 256",
                        i.to_string(),
                    )
                })?)
            }
        };
        Ok(Self {
            cfg,
            seed,
            net,
            data,
            device: cfg.device.resolve()?.autodiff(),
            x_train: features(tr, scaling)?,
            x_test: features(te, scaling)?,
            s_train,
            s_test,
            n_sensitive,
            distinguisher,
        })
    }

    /// Chance level of the attacks: the majority rate of the test set's sensitive attribute (on the
    /// distinguisher class only, when the evaluation is restricted to it).
    fn chance(&self) -> f32 {
        match self.distinguisher {
            None => majority_rate(&self.s_test),
            Some(c) => {
                let s: Vec<u8> = self
                    .s_test
                    .iter()
                    .zip(&self.data.test.labels)
                    .filter(|(_, y)| **y == c)
                    .map(|(s, _)| *s)
                    .collect();
                majority_rate(&s)
            }
        }
    }

    fn new_adversary(&self, seed: u64) -> Result<Adversary> {
        Ok(AdversaryConfig {
            kind: self.cfg.defence_adversary,
            inputs: self.cfg.k,
            classes: self.n_sensitive,
        }
        .init(&self.device, seed)?)
    }

    /// Phase 1, shared by every alpha: `Q` and `C` on the main task (and `F` alongside with
    /// `initial_adversary`).
    fn plain(&self, progress: &mut dyn FnMut(Progress)) -> Result<Plain> {
        let (cfg, seed) = (self.cfg, self.seed);
        let init = init_network(&self.net, &self.device, seed)?;
        if !cfg.initial_adversary {
            let net = fit(
                init,
                &self.x_train,
                &self.data.train.labels,
                &cfg.train_config(cfg.plain_epochs, seed + 2),
                &self.device,
                "plain",
                progress,
                None,
            )?;
            self.check_learned("plain phase", &net.private, &net.head)?;
            return Ok(Plain {
                net,
                adversary: None,
                scores: None,
            });
        }
        let trio = Trio {
            private: init.private,
            head: init.head,
            adversary: self.new_adversary(seed + 4)?,
        };
        let sa = SemiAdversarialConfig {
            alpha: 0.0,
            epochs: cfg.plain_epochs,
            batch_size: cfg.batch_size,
            optimizer: cfg.optimizer(),
            seed: seed + 2,
        };
        let mut opt = TrioOptimizers::new(&sa.optimizer);
        let out = self.guarded(trio, &mut opt, &sa, "plain", progress)?;
        let t = out.trio;
        self.check_learned("plain phase", &t.private, &t.head)?;
        let z_test = t.private.outputs(&self.x_test)?;
        let scores = InitialPhase {
            main_accuracy: accuracy(&predict(&t.head, &z_test, 1024)?, &self.data.test.labels),
            adversary_accuracy: accuracy(&predict(&t.adversary, &z_test, 1024)?, &self.s_test),
            chance: majority_rate(&self.s_test),
        };
        Ok(Plain {
            net: SplitNetwork {
                private: t.private,
                head: t.head,
            },
            adversary: Some((t.adversary, opt)),
            scores: Some(scores),
        })
    }

    /// [`learned::shortfall`] of `Q`, `C` on the test split as an error ([`learned::not_learned`]) for a
    /// model every result is measured against (the plain phase, the undefended model after its recovery).
    fn check_learned(
        &self,
        what: &str,
        private: &QuadraticPrivate,
        head: &PublicHead,
    ) -> Result<()> {
        let labels = &self.data.test.labels;
        let z = private.outputs(&self.x_test)?;
        let acc = accuracy(&predict(head, &z, 1024)?, labels);
        match learned::shortfall(&z, acc, labels) {
            None => Ok(()),
            Some(got) => Err(learned::not_learned(what, self.seed, labels, got)),
        }
    }

    fn guarded(
        &self,
        trio: Trio,
        opt: &mut TrioOptimizers,
        sa: &SemiAdversarialConfig,
        phase: &str,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<DefenceOutcome<Trio>> {
        // Three-step training at alpha = 0 (the plain phase and the undefended reference with the initial
        // adversary) is no defence: it keeps the constant rate, as plain training does.
        let options = SemiAdversarialOptions {
            lr_schedule: if sa.alpha > 0.0 {
                self.cfg.defence.lr_schedule
            } else {
                LrSchedule::Constant
            },
            ..self.cfg.defence
        };
        Ok(train_guarded(
            trio,
            opt,
            &self.x_train,
            &self.data.train.labels,
            &self.s_train,
            sa,
            &options,
            &self.device,
            phase,
            progress,
        )?)
    }

    /// Phases 2 and 3 and the attacks for one alpha (index `ai` in the config, which seeds them).
    fn one_alpha(
        &self,
        plain: &Plain,
        alpha: f32,
        ai: usize,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(AlphaOutcome, TrainedSplit)> {
        let aseed = self.seed + 100 * (ai as u64 + 1);
        let start = Instant::now();
        let defended = self.defend(plain, alpha, aseed, progress)?;
        let defence_seconds = start.elapsed().as_secs_f64();
        let private = defended.net.private;

        let start = Instant::now();
        let z_train = private.outputs(&self.x_train)?;
        let z_test = private.outputs(&self.x_test)?;
        let head = self.recover(
            defended.net.head,
            &z_train,
            aseed + 2,
            &format!("recovery alpha={alpha}"),
            progress,
        )?;
        let main_accuracy = accuracy(&predict(&head, &z_test, 1024)?, &self.data.test.labels);
        let recovery_seconds = start.elapsed().as_secs_f64();
        // A model that no longer does the main task after its recovery: for alpha = 0 (the undefended
        // reference) an error; for a defence, a divergence (its leak is never reported as a result).
        let labels = &self.data.test.labels;
        let shortfall = learned::shortfall(&z_test, main_accuracy, labels);
        if let (Some(got), true) = (&shortfall, alpha == 0.0) {
            let what = "undefended model after recovery";
            return Err(learned::not_learned(what, self.seed, labels, got.clone()));
        }
        let collapsed = shortfall.is_some();

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
            seed: self.seed,
            diverged: defended.diverged || collapsed,
            final_alpha: defended.final_alpha,
            divergence_events: defended.events,
            weights: private.export()?,
        };
        let trained = TrainedSplit {
            private: private.valid(),
            head: head.valid(),
        };
        Ok((outcome, trained))
    }

    /// Phase 2: semi-adversarial training with strength `alpha` (guarded, with the config's options), or
    /// plain training for alpha = 0 (same budget; with the initial adversary, three-step training at
    /// alpha = 0 that keeps training `F`).
    fn defend(
        &self,
        plain: &Plain,
        alpha: f32,
        aseed: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Defended> {
        let cfg = self.cfg;
        let phase = format!("defence alpha={alpha}");
        if alpha == 0.0 && plain.adversary.is_none() {
            let net = fit(
                plain.net.clone(),
                &self.x_train,
                &self.data.train.labels,
                &cfg.train_config(cfg.defence_epochs, aseed),
                &self.device,
                &phase,
                progress,
                None,
            )?;
            return Ok(Defended {
                net,
                diverged: false,
                final_alpha: 0.0,
                events: Vec::new(),
            });
        }
        let sa = SemiAdversarialConfig {
            alpha,
            epochs: cfg.defence_epochs,
            batch_size: cfg.batch_size,
            optimizer: cfg.defence_optimizer(),
            seed: aseed + 1,
        };
        let (adversary, mut opt) = match &plain.adversary {
            Some((f, opt)) => (f.clone(), opt.clone()),
            None => (
                self.new_adversary(aseed)?,
                TrioOptimizers::new(&sa.optimizer),
            ),
        };
        let trio = Trio {
            private: plain.net.private.clone(),
            head: plain.net.head.clone(),
            adversary,
        };
        if cfg.defence_epochs == 0 {
            return Ok(Defended {
                net: SplitNetwork {
                    private: trio.private,
                    head: trio.head,
                },
                diverged: false,
                final_alpha: alpha,
                events: Vec::new(),
            });
        }
        let out = self.guarded(trio, &mut opt, &sa, &phase, progress)?;
        Ok(Defended {
            net: SplitNetwork {
                private: out.trio.private,
                head: out.trio.head,
            },
            diverged: out.diverged,
            final_alpha: out.final_alpha,
            events: out.events,
        })
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
            None,
        )?)
    }

    /// Every configured attacker, trained afresh on the train split's outputs (the distinguisher class's
    /// only, when set), scored on the test split's.
    fn attack(
        &self,
        z_train: Features,
        z_test: Features,
        alpha: f32,
        seed: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<AttackResult>> {
        let cfg = self.cfg;
        let ((z_train, s_train), (z_test, s_test)) = match self.distinguisher {
            None => (
                (z_train, self.s_train.clone()),
                (z_test, self.s_test.clone()),
            ),
            Some(c) => (
                rows_of_class(z_train, &self.s_train, &self.data.train.labels, c)?,
                rows_of_class(z_test, &self.s_test, &self.data.test.labels, c)?,
            ),
        };
        if z_train.rows == 0 || z_test.rows == 0 {
            return Err(Error::invalid(
                "collateral config: evaluation.distinguisher",
                "a class with images in both the train and the test split",
                format!("{} train and {} test images", z_train.rows, z_test.rows),
            ));
        }
        let vtr = SensitiveView::new(z_train, s_train, self.n_sensitive)?;
        let vte = SensitiveView::new(z_test, s_test, self.n_sensitive)?;
        let classic = privsplit_attacks::classic::ClassicConfig {
            seed: cfg.classic.seed.wrapping_add(self.seed),
            ..cfg.classic
        };
        let mut out = Vec::with_capacity(cfg.attackers.len());
        for &attacker in &cfg.attackers {
            out.push(attack_attribute(
                attacker,
                cfg.train_config(cfg.attack_epochs(), seed),
                cfg.evaluation.average_last,
                &classic,
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
            self.seed + 3,
            "recovery plain",
            progress,
        )?;
        self.check_learned("undefended model after recovery", &plain.private, &head)?;
        Ok(TrainedSplit {
            private: plain.private.valid(),
            head: head.valid(),
        })
    }
}

/// The networks after the defence phase and what the divergence check said.
struct Defended {
    net: SplitNetwork,
    diverged: bool,
    final_alpha: f32,
    events: Vec<privsplit_defenses::divergence::DivergenceEvent>,
}
