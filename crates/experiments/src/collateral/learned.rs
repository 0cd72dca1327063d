//! The gate before anything is measured on a trained split network: a model that does not do the main task
//! (training diverged, stalled or only memorised the training split, e.g. a learning rate too large for the
//! inputs' scale) would turn every leak, cost and recommendation after it into a collapsed model's.

use privsplit_models::tensor::Features;
use privsplit_models::train::majority_rate;

use crate::Error;

/// The smallest test accuracy of a model that learned the main task: a quarter of the way from the test
/// split's majority rate `m` (of `labels`) to 100 %, `m + (1 - m) / 4` (32.5 % for 10 balanced classes).
pub(super) fn learned_floor(labels: &[u8]) -> f32 {
    let m = majority_rate(labels);
    m + (1.0 - m) / 4.0
}

/// `None` when a model learned the main task; otherwise what is wrong. `z` are its outputs `[n, k]` on the
/// test split, `accuracy` its head's test accuracy on them, `labels` the test split's main labels: non-finite
/// outputs or an accuracy below [`learned_floor`] fail.
pub(super) fn shortfall(z: &Features, accuracy: f32, labels: &[u8]) -> Option<String> {
    let finite = z.data.iter().all(|v| v.is_finite());
    if finite && accuracy >= learned_floor(labels) {
        return None;
    }
    Some(format!(
        "test accuracy {:.1} % (majority rate {:.1} %){}",
        100.0 * accuracy,
        100.0 * majority_rate(labels),
        if finite { "" } else { ", non-finite outputs" }
    ))
}

/// The error for a model every result is measured against (the plain phase, the undefended model after
/// its recovery) that fell short (`got`, from [`shortfall`]): names `what`, the seed, the floor and the
/// settings to change.
pub(super) fn not_learned(what: &str, seed: u64, labels: &[u8], got: String) -> Error {
    Error::invalid(
        format!("collateral {what} (seed {seed})"),
        format!(
            "a model that learned the main task (finite outputs, test accuracy at least {:.1} %, a quarter \
             of the way from the majority rate to 100 %); lower collateral.lr, raise \
             collateral.plain_epochs, or check the data",
            100.0 * learned_floor(labels)
        ),
        got,
    )
}
