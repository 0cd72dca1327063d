//! Divergence detection for semi-adversarial training: the main task is watched in windows of batches
//! and compared with its value before the defence; a window that leaves the band (or a non-finite loss)
//! is a divergence, answered by a rollback to the last good state, a halved `alpha`, or a stop.
//!
//! The band is relative to the **pre-defence** value, measured on `baseline_batches` batches before the
//! first step (forward passes only): a window diverges when its main-task training accuracy falls more
//! than `max_accuracy_drop` below the baseline accuracy, or its mean main loss rises more than
//! `max_loss_rise` nats above the baseline loss. Neither the paper nor the authors' code has such a check
//! (Ryffel et al. 2019 report that Adam diverged for alpha > 0.5, §5); it is privsplit's safeguard.
//! [`guarded_loop`] is the training loop that applies it, for any defence with an alpha-weighted
//! adversarial term: [`crate::semi_adversarial::train_guarded`] (semi-adversarial training), and the partition-point defences
//! [`crate::reconstruction`] and [`crate::nopeek`].

use privsplit_models::train::{epoch_batches, Progress};
use serde::{Deserialize, Serialize};

use crate::schedule::{SemiAdversarialConfig, StepReport};
use crate::{Error, Result};

/// What to do when a window leaves the band.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DivergenceAction {
    /// Record the event and carry on (the outcome is marked diverged if the run ends outside the band).
    #[default]
    Monitor,
    /// Restore the last good state (networks and optimiser states) and continue with `alpha / 2`.
    HalveAlpha,
    /// Restore the last good state and stop; the outcome is marked diverged.
    Stop,
}

impl DivergenceAction {
    /// The serde name: `"monitor"`, `"halve-alpha"` or `"stop"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Monitor => "monitor",
            Self::HalveAlpha => "halve-alpha",
            Self::Stop => "stop",
        }
    }
}

/// Settings of the divergence check (serde; every field has a default).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DivergenceConfig {
    /// Batches per check window; a good window is also a checkpoint. Default 50.
    pub check_every: usize,
    /// Batches evaluated before the defence for the baseline. Default 20.
    pub baseline_batches: usize,
    /// Largest tolerated drop of the window's main-task training accuracy below the baseline, as a
    /// fraction (0.10 = 10 points). Default 0.10.
    pub max_accuracy_drop: f32,
    /// Largest tolerated rise of the window's mean main loss above the baseline, nats. Default 1.0.
    pub max_loss_rise: f32,
    /// The response. Default [`DivergenceAction::Monitor`].
    pub action: DivergenceAction,
    /// Rollbacks allowed before the run is stopped and marked diverged. Default 4.
    pub max_rollbacks: usize,
}

impl Default for DivergenceConfig {
    fn default() -> Self {
        Self {
            check_every: 50,
            baseline_batches: 20,
            max_accuracy_drop: 0.10,
            max_loss_rise: 1.0,
            action: DivergenceAction::Monitor,
            max_rollbacks: 4,
        }
    }
}

impl DivergenceConfig {
    /// Checks the window sizes (> 0) and the band widths (finite, > 0).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the bad setting.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, expected: &str, got: String| {
            Err(Error::Invalid {
                what: format!("divergence check: {what}"),
                expected: expected.into(),
                got,
            })
        };
        if self.check_every == 0 {
            return bad("check_every", "> 0 batches", "0".into());
        }
        if self.baseline_batches == 0 {
            return bad("baseline_batches", "> 0 batches", "0".into());
        }
        for (name, v) in [
            ("max_accuracy_drop", self.max_accuracy_drop),
            ("max_loss_rise", self.max_loss_rise),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(name, "a finite value > 0", v.to_string());
            }
        }
        Ok(())
    }

    /// Whether a window with main-task accuracy `accuracy` and mean main loss `loss` is outside the band
    /// around `baseline` (always when either is not finite).
    pub fn outside(&self, baseline: &Band, accuracy: f32, loss: f32) -> bool {
        !(accuracy.is_finite() && loss.is_finite())
            || accuracy < baseline.accuracy - self.max_accuracy_drop
            || loss > baseline.loss + self.max_loss_rise
    }
}

/// The main task's training accuracy (fraction) and mean cross-entropy (nats) over some batches.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Band {
    /// Accuracy in `[0, 1]`.
    pub accuracy: f32,
    /// Mean cross-entropy, nats.
    pub loss: f32,
}

/// Why a window was judged diverged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DivergenceCause {
    /// A loss was NaN or infinite.
    NonFinite,
    /// Accuracy or loss left the band.
    OutOfBand,
}

/// One detected divergence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DivergenceEvent {
    /// Epoch (1-based) of the window's last batch.
    pub epoch: usize,
    /// Batch (1-based, within the epoch) that closed the window.
    pub step: usize,
    /// The window's main-task training accuracy.
    pub accuracy: f32,
    /// The window's mean main loss, nats.
    pub loss: f32,
    /// Why.
    pub cause: DivergenceCause,
    /// `alpha` in force during the window.
    pub alpha: f32,
    /// What was done: `"monitored"`, `"rolled back, alpha -> A"`, `"rolled back and stopped"`.
    pub response: String,
}

/// Running sums over a check window.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Window {
    pub(crate) batches: usize,
    pub(crate) correct: f64,
    pub(crate) seen: f64,
    pub(crate) loss_sum: f64,
    pub(crate) non_finite: bool,
}

impl Window {
    pub(crate) fn add(&mut self, correct: usize, seen: usize, loss: f32) {
        self.batches += 1;
        self.correct += correct as f64;
        self.seen += seen as f64;
        self.loss_sum += f64::from(loss);
        self.non_finite |= !loss.is_finite();
    }

    pub(crate) fn accuracy(&self) -> f32 {
        if self.seen > 0.0 {
            (self.correct / self.seen) as f32
        } else {
            f32::NAN
        }
    }

    pub(crate) fn loss(&self) -> f32 {
        if self.batches > 0 && !self.non_finite {
            (self.loss_sum / self.batches as f64) as f32
        } else {
            f32::NAN
        }
    }
}

/// The result of [`guarded_loop`] (and [`crate::semi_adversarial::train_guarded`]): the trained networks
/// `S` (the trio of semi-adversarial training, a split model, ...) and what the divergence check saw.
#[derive(Debug, Clone)]
pub struct DefenceOutcome<S> {
    /// The networks: the final state, or the last good state when the run was rolled back and stopped.
    pub trio: S,
    /// `true` when the run ended outside the band (or with a non-finite loss), was stopped after a
    /// divergence, or had no window inside the band at all (every window rolled back: the networks are the
    /// pre-defence state): its leak must not be reported as a defence result.
    pub diverged: bool,
    /// Every detected divergence, in order.
    pub events: Vec<DivergenceEvent>,
    /// The main task before the defence (the band's centre).
    pub baseline: Band,
    /// The main task over the last window.
    pub last_window: Band,
    /// `alpha` at the end (smaller than `cfg.alpha` after [`DivergenceAction::HalveAlpha`] rollbacks).
    pub final_alpha: f32,
    /// Largest global L2 norm of the defended network's gradient seen (before clipping).
    pub max_q_grad_norm: f32,
    /// Batches trained (rolled-back batches included).
    pub steps: usize,
}

impl<S> DefenceOutcome<S> {
    /// The same outcome with the networks mapped by `f` (e.g. to the split model alone).
    pub fn map<T>(self, f: impl FnOnce(S) -> T) -> DefenceOutcome<T> {
        DefenceOutcome {
            trio: f(self.trio),
            diverged: self.diverged,
            events: self.events,
            baseline: self.baseline,
            last_window: self.last_window,
            final_alpha: self.final_alpha,
            max_q_grad_norm: self.max_q_grad_norm,
            steps: self.steps,
        }
    }

    /// The trained networks, unless a loss was not finite: the plain (unguarded) reading of a run, for
    /// training that must not carry on from a blown-up state (lower the learning rate or alpha).
    ///
    /// # Errors
    /// [`privsplit_models::Error::Diverged`] naming `phase`, the epoch and the loss of the first
    /// non-finite event.
    pub fn finite(self, phase: &str) -> Result<S> {
        match self
            .events
            .iter()
            .find(|e| e.cause == DivergenceCause::NonFinite)
        {
            Some(e) => Err(privsplit_models::Error::Diverged {
                phase: phase.to_string(),
                epoch: e.epoch,
                loss: e.loss,
            }
            .into()),
            None => Ok(self.trio),
        }
    }
}

/// One batch of a guarded defence: `(networks, optimiser states, row indices of the batch, alpha in
/// force)` -> `(networks after the step, what it measured)`.
pub type DefenceStep<'a, S, O> =
    dyn FnMut(S, &mut O, &[usize], f32) -> Result<(S, StepReport)> + 'a;

/// The main task of the networks on a batch of rows: `(correct predictions, mean cross-entropy in nats)`,
/// forward passes only.
pub type MainTask<'a, S> = dyn Fn(&S, &[usize]) -> Result<(usize, f32)> + 'a;

/// The guarded training loop of any defence with an alpha-weighted adversarial term: `cfg.epochs` epochs
/// of `step` over shuffled batches of `rows` rows (`cfg.batch_size`, `cfg.seed`), the main task measured
/// by `main_task` before the defence and in windows of `dcfg.check_every` batches, each window judged
/// against the band and answered by `dcfg.action` (see the module docs). [`crate::semi_adversarial::train_guarded`] (semi-adversarial
/// training) and the partition-point defences ([`crate::reconstruction`], [`crate::nopeek`]) run on it.
///
/// # Errors
/// [`Error::Invalid`] on a bad config; any error of `step` or `main_task`.
#[allow(clippy::too_many_arguments)] // state, optimisers, schedule, check, the two callbacks, progress
pub fn guarded_loop<S: Clone, O: Clone>(
    state: S,
    opt: &mut O,
    rows: usize,
    cfg: &SemiAdversarialConfig,
    dcfg: &DivergenceConfig,
    step: &mut DefenceStep<'_, S, O>,
    main_task: &MainTask<'_, S>,
    phase: &str,
    progress: &mut dyn FnMut(Progress),
) -> Result<DefenceOutcome<S>> {
    cfg.validate()?;
    dcfg.validate()?;
    if rows == 0 {
        return Err(Error::Invalid {
            what: format!("{phase}: training set"),
            expected: "at least one row".into(),
            got: "0".into(),
        });
    }
    let band = |s: &S| baseline_band(s, rows, cfg, dcfg.baseline_batches, main_task);
    let baseline = band(&state)?;
    let mut trio = state;
    let mut good = (trio.clone(), opt.clone());
    let mut alpha = cfg.alpha;
    let mut events = Vec::new();
    let mut window = Window::default();
    let mut last_window = baseline;
    let mut rollbacks = 0usize;
    let mut max_norm = 0.0f32;
    let mut steps_done = 0usize;
    let mut stopped = false;
    // Whether any window under the defence stayed in the band (the checkpoint moved past the start).
    let mut any_good = false;
    'epochs: for epoch in 0..cfg.epochs {
        let batches = epoch_batches(rows, cfg.batch_size, cfg.seed, epoch);
        let steps = batches.len();
        let mut sum = 0.0f32;
        for (i, idx) in batches.iter().enumerate() {
            let (t, r) = step(trio, opt, idx, alpha)?;
            trio = t;
            steps_done += 1;
            max_norm = max_norm.max(r.q_grad_norm);
            window.add(r.main_correct, r.batch, r.main);
            sum += r.main;
            progress(Progress {
                phase: phase.to_string(),
                epoch: epoch + 1,
                epochs: cfg.epochs,
                step: i + 1,
                steps,
                loss: sum / (i + 1) as f32,
            });
            let end = epoch + 1 == cfg.epochs && i + 1 == steps;
            if !(window.non_finite || window.batches >= dcfg.check_every || end) {
                continue;
            }
            let (acc, loss) = (window.accuracy(), window.loss());
            last_window = Band {
                accuracy: acc,
                loss,
            };
            window = Window::default();
            if !dcfg.outside(&baseline, acc, loss) {
                good = (trio.clone(), opt.clone());
                any_good = true;
                continue;
            }
            let cause = if loss.is_finite() {
                DivergenceCause::OutOfBand
            } else {
                DivergenceCause::NonFinite
            };
            let mut event = DivergenceEvent {
                epoch: epoch + 1,
                step: i + 1,
                accuracy: acc,
                loss,
                cause,
                alpha,
                response: "monitored".into(),
            };
            let rollback =
                dcfg.action != DivergenceAction::Monitor || cause == DivergenceCause::NonFinite;
            if rollback {
                trio = good.0.clone();
                *opt = good.1.clone();
                last_window = band(&trio)?;
                rollbacks += 1;
                if dcfg.action == DivergenceAction::HalveAlpha && rollbacks <= dcfg.max_rollbacks {
                    alpha /= 2.0;
                    event.response = format!("rolled back, alpha -> {alpha}");
                } else {
                    event.response = "rolled back and stopped".into();
                    stopped = true;
                }
            }
            events.push(event);
            if stopped {
                break 'epochs;
            }
        }
    }
    // A run whose every window left the band was rolled back to the pre-defence state: nothing of the
    // defence is left, so it is no defence result either.
    let diverged = stopped
        || dcfg.outside(&baseline, last_window.accuracy, last_window.loss)
        || (!events.is_empty() && !any_good);
    Ok(DefenceOutcome {
        trio,
        diverged,
        events,
        baseline,
        last_window,
        final_alpha: alpha,
        max_q_grad_norm: max_norm,
        steps: steps_done,
    })
}

/// Main-task accuracy and mean loss of the networks on the first `batches` batches of epoch 0's order
/// (forward passes only, no update).
fn baseline_band<S>(
    state: &S,
    rows: usize,
    cfg: &SemiAdversarialConfig,
    batches: usize,
    main_task: &MainTask<'_, S>,
) -> Result<Band> {
    let mut w = Window::default();
    for idx in epoch_batches(rows, cfg.batch_size, cfg.seed, 0)
        .iter()
        .take(batches)
    {
        let (n, loss) = main_task(state, idx)?;
        w.add(n, idx.len(), loss);
    }
    Ok(Band {
        accuracy: w.accuracy(),
        loss: w.loss(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn band_and_validation() {
        let cfg = DivergenceConfig::default();
        cfg.validate().unwrap();
        let base = Band {
            accuracy: 0.9,
            loss: 0.3,
        };
        assert!(!cfg.outside(&base, 0.85, 0.5));
        assert!(cfg.outside(&base, 0.79, 0.5));
        assert!(cfg.outside(&base, 0.9, 1.31));
        assert!(cfg.outside(&base, f32::NAN, 0.3));
        assert!(cfg.outside(&base, 0.9, f32::INFINITY));
        assert!(DivergenceConfig {
            check_every: 0,
            ..cfg
        }
        .validate()
        .is_err());
        assert!(DivergenceConfig {
            max_loss_rise: -1.0,
            ..cfg
        }
        .validate()
        .is_err());
        let parsed: DivergenceConfig =
            serde_json::from_str(r#"{"action": "halve-alpha", "check_every": 5}"#).unwrap();
        assert_eq!(parsed.action, DivergenceAction::HalveAlpha);
        assert_eq!(parsed.max_rollbacks, 4);
        let mut w = Window::default();
        w.add(3, 4, 0.5);
        w.add(1, 4, 1.5);
        assert_eq!((w.accuracy(), w.loss()), (0.5, 1.0));
        w.add(4, 4, f32::NAN);
        assert!(w.loss().is_nan());
    }

    /// A scalar "network": 0 = the main task intact, 1 = collapsed; a step collapses it when `alpha` is
    /// above `limit`. 8 batches of 8 rows, windows of 4: two windows.
    fn run_scalar(limit: f32) -> DefenceOutcome<f32> {
        let cfg = SemiAdversarialConfig {
            alpha: 1.0,
            epochs: 1,
            batch_size: 8,
            optimizer: privsplit_models::train::OptimizerConfig::adam(1e-3),
            seed: 3,
        };
        let dcfg = DivergenceConfig {
            check_every: 4,
            baseline_batches: 2,
            action: DivergenceAction::HalveAlpha,
            ..DivergenceConfig::default()
        };
        let mut step =
            |_: f32, _: &mut (), idx: &[usize], alpha: f32| -> Result<(f32, StepReport)> {
                let s = if alpha > limit { 1.0 } else { 0.0 };
                let correct = if s < 0.5 { idx.len() } else { 0 };
                Ok((
                    s,
                    StepReport {
                        main: 0.3 + 5.0 * s,
                        sensitive: 0.0,
                        main_correct: correct,
                        batch: idx.len(),
                        q_grad_norm: 0.0,
                    },
                ))
            };
        let main_task = |s: &f32, idx: &[usize]| -> Result<(usize, f32)> {
            Ok((if *s < 0.5 { idx.len() } else { 0 }, 0.3 + 5.0 * s))
        };
        guarded_loop(
            0.0f32,
            &mut (),
            64,
            &cfg,
            &dcfg,
            &mut step,
            &main_task,
            "scalar",
            &mut |_| {},
        )
        .unwrap()
    }

    #[test]
    fn a_run_rolled_back_in_every_window_is_diverged_one_that_recovers_is_not() {
        // alpha 1 and 0.5 both collapse it: both windows rolled back, the state is the pre-defence one.
        let all = run_scalar(0.1);
        assert_eq!(all.events.len(), 2);
        assert_eq!((all.trio, all.final_alpha), (0.0, 0.25));
        assert!(all.diverged, "no window in the band: no defence result");
        // alpha 1 collapses it, alpha 0.5 does not: rolled back once, then a good window.
        let recovered = run_scalar(0.6);
        assert_eq!(recovered.events.len(), 1);
        assert_eq!(recovered.final_alpha, 0.5);
        assert!(!recovered.diverged, "{:?}", recovered.events);
    }
}
