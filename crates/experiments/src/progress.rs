//! Progress bars (indicatif) for the steps of a pipeline; hidden when quiet.

use indicatif::{ProgressBar, ProgressStyle};
use privsplit_models::train::Progress;

/// A bar of `len` steps labelled `msg`, or a hidden one when `quiet`.
pub fn bar(quiet: bool, len: u64, msg: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg:30} [{bar:30}] {pos}/{len} {elapsed_precise}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(msg.to_string());
    pb
}

/// A spinner for a step without a step count.
pub fn spinner(quiet: bool, msg: &str) -> ProgressBar {
    let pb = bar(quiet, 0, msg);
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    pb
}

/// A bar for [`training`]: the phase, its steps and the last loss.
pub fn training_bar() -> ProgressBar {
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template("{msg:28} [{bar:30}] {pos}/{len} loss {prefix}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// A callback for training progress that moves `pb` through every phase (one bar length per phase).
pub fn training(pb: &ProgressBar) -> impl FnMut(Progress) + '_ {
    let mut phase = String::new();
    move |p: Progress| {
        if p.phase != phase {
            phase.clone_from(&p.phase);
            pb.set_message(p.phase.clone());
            pb.set_length((p.steps * p.epochs) as u64);
        }
        pb.set_position((p.epoch.saturating_sub(1) * p.steps + p.step) as u64);
        pb.set_prefix(format!("{:.4}", p.loss));
    }
}
