//! Verified results from the untrusted partition: Freivalds' check of every linear layer (Slalom).
//!
//! With verification on, the trusted service asks the untrusted service for a *trace*: the output of
//! every linear layer of `[k, n)` (convolution or fully connected, with an eval-mode batch norm folded
//! in, before the activation), in execution order ([`crate::wire::FrameKind::Trace`]). The trusted
//! partition then replays `[k, n)` itself: it recomputes every cheap non-linear step (ReLU / ReLU6 / SiLU,
//! max and average pooling, residual sums, squeeze-excitation gates) on the claimed values and checks each
//! claimed linear output `y` against its input `x` with Freivalds' algorithm (Freivalds, "Probabilistic
//! machines can use less running time", IFIP 1977), as Slalom does for outsourced linear layers (Tramèr &
//! Boneh, "Slalom", ICLR 2019, §3.2 and §4.1):
//!
//! - fully connected `y = x W + b` (`W` `[in, out]`): draw `R` `[s, out]` with independent entries
//!   uniform in `{-1, +1}`, check `y R^T = x (W R^T) + b R^T` row by row (`O(s (in + out))` per row
//!   instead of `O(in * out)`);
//! - convolution `y = conv(x, W') + b'` (`W'` `[out, in, kh, kw]`, batch norm folded:
//!   `W' = W * gamma / sqrt(var + eps)`, `b' = (b - mean) * gamma / sqrt(var + eps) + beta`): check, at
//!   every output position, `sum_c R[j, c] y[c] = conv(x, sum_c R[j, c] W'[c]) + R[j] . b'`: one
//!   convolution with `s` output channels instead of `out` (Slalom §4.1).
//!
//! `s = soundness_bits` repetitions. **Soundness** (exact arithmetic, per check): if a claimed entry is off
//! by more than the tolerance `tol`, one repetition accepts with probability at most 1/2 (flipping the sign
//! of that entry's `R` coefficient moves the difference by twice the error), so a wrong layer passes with
//! probability at most `2^-s`. When `s >= out` the check costs as much as the layer itself, so that layer
//! is recomputed and compared entry by entry instead (no probability of error beyond the tolerance).
//! Grouped (depthwise) convolutions are always recomputed.
//!
//! **Floating point.** Honest results differ from the trusted recomputation by rounding (f32, another
//! summation order, another device; TF32 on GPUs). The tolerance at an output position is
//! `tol = rel_tolerance * sum_c |R[j, c]| (|W'_c| |x| + |b'_c|) + abs_tolerance`, i.e. relative to the
//! magnitude the sum is made of, computed by the trusted side from its own `x` and weights (the untrusted
//! service cannot widen it). Rounding of a length-`K` dot product in f32 is bounded by `K * 2^-24` times that
//! magnitude and is typically `sqrt(K) * 2^-24`, so the default `rel_tolerance = 1e-4` covers honest f32
//! results in the worst case up to `K` of about 1,600 terms and typically far beyond (`3x3x512` convolutions:
//! `sqrt(K) * 2^-24` is about `4e-6`); use `1e-3` when the untrusted GPU uses Winograd / FFT convolutions and
//! `1e-2` for TF32 (`2^-11` unit roundoff). A deviation smaller than the tolerance is undetectable by
//! construction: the guarantee is that every linear output is within the tolerance of the true value
//! computed from the (verified) previous layer. The Freivalds tolerance sums over the `out` channels of a
//! position, so one perturbed entry is caught when it exceeds about `rel * out` times a channel's typical
//! magnitude (small CNN conv2 with random weights: about 0.02 against magnitudes of about 2.5).

#[cfg(feature = "staged")]
mod staged;
pub mod trace;
#[cfg(feature = "staged")]
pub use staged::{trace_partition, StagedVerifier};
pub use trace::{encode_tensors, parse_tensors};

use rand::RngCore;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::error::{Error, Result};
use crate::wire::TensorMsg;

/// Settings of the verification.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VerifyConfig {
    /// Repetitions `s` of Freivalds' check per layer: a wrong layer passes with probability at most
    /// `2^-s` (default 20).
    pub soundness_bits: u32,
    /// Relative tolerance (see the module docs; default `1e-4`).
    pub rel_tolerance: f32,
    /// Absolute tolerance added to every comparison (default `1e-4`).
    pub abs_tolerance: f32,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            soundness_bits: 20,
            rel_tolerance: 1e-4,
            abs_tolerance: 1e-4,
        }
    }
}

impl VerifyConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Config`] for 0 or more than 128 repetitions, or a negative / non-finite tolerance.
    pub fn validate(&self) -> Result<()> {
        if self.soundness_bits == 0 || self.soundness_bits > 128 {
            return Err(Error::Config {
                what: "verification soundness bits",
                reason: format!("expected 1..=128, got {}", self.soundness_bits),
            });
        }
        let ok = |t: f32| t.is_finite() && t >= 0.0;
        if !ok(self.rel_tolerance) || !ok(self.abs_tolerance) {
            return Err(Error::Config {
                what: "verification tolerance",
                reason: format!(
                    "expected finite non-negative values, got rel {} abs {}",
                    self.rel_tolerance, self.abs_tolerance
                ),
            });
        }
        Ok(())
    }
}

/// Checks the trace of the untrusted partition and returns the logits it certifies.
pub trait ResultVerifier: Send + Sync + std::fmt::Debug {
    /// Verifies `trace` (the claimed linear-layer outputs of `[k, n)` on `features`, in execution order)
    /// with the random coefficients drawn from `rng`, recomputing the non-linear steps; returns the
    /// verified output of the partition (logits `[batch, classes, 1, 1]` for the zoo models).
    ///
    /// # Errors
    /// [`Error::Verification`] naming the first layer whose claimed output is wrong or mis-shaped, or when
    /// the trace has the wrong number of tensors.
    fn verify(
        &self,
        features: &TensorMsg,
        trace: &[TensorMsg],
        rng: &mut ChaCha20Rng,
    ) -> Result<TensorMsg>;

    /// Number of linear layers, i.e. tensors in a valid trace.
    fn trace_len(&self) -> usize;

    /// Largest trace frame for a batch of `max_batch`, bytes (for the upstream link's frame limit).
    fn trace_bytes(&self, max_batch: usize) -> usize;
}

/// A fresh generator for one request's Freivalds coefficients, seeded from the operating system
/// (the coefficients must be unpredictable to the untrusted service).
pub fn request_rng() -> ChaCha20Rng {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    ChaCha20Rng::from_seed(seed)
}

/// `rows x cols` independent coefficients uniform in `{-1, +1}`, row-major.
pub fn rademacher(rng: &mut ChaCha20Rng, rows: usize, cols: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows * cols);
    let mut bits = 0u64;
    for i in 0..rows * cols {
        if i % 64 == 0 {
            bits = rng.next_u64();
        }
        out.push(if bits & 1 == 1 { 1.0 } else { -1.0 });
        bits >>= 1;
    }
    out
}

/// Compares `lhs` with `rhs` under per-entry tolerances `tol[i / per_tol]` (`per_tol` entries share one
/// tolerance); returns the first violation as `(index, |lhs - rhs|, tol)`. NaN and infinities violate.
pub fn first_violation(
    lhs: &[f32],
    rhs: &[f32],
    tol: &[f32],
    per_tol: usize,
) -> Option<(usize, f32, f32)> {
    let per = per_tol.max(1);
    lhs.iter().zip(rhs).enumerate().find_map(|(i, (&a, &b))| {
        let t = tol.get(i / per).copied().unwrap_or(0.0);
        let d = (a - b).abs();
        // NaN compares as unordered: a violation too.
        let ok = matches!(
            d.partial_cmp(&t),
            Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
        );
        (!ok).then_some((i, d, t))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rademacher_is_balanced_and_seeded() {
        let mut a = ChaCha20Rng::seed_from_u64(1);
        let v = rademacher(&mut a, 100, 100);
        assert!(v.iter().all(|&x| x == 1.0 || x == -1.0));
        let plus = v.iter().filter(|&&x| x > 0.0).count();
        assert!((4_500..5_500).contains(&plus), "{plus}");
        let mut b = ChaCha20Rng::seed_from_u64(1);
        assert_eq!(rademacher(&mut b, 100, 100), v);
    }

    #[test]
    fn violations_include_nan() {
        assert_eq!(
            first_violation(&[1.0, 2.0], &[1.0, 2.0005], &[1e-3], 2),
            None
        );
        assert_eq!(
            first_violation(&[1.0, 2.0], &[1.0, 2.5], &[1e-3, 1e-3], 1).map(|v| v.0),
            Some(1)
        );
        assert!(first_violation(&[f32::NAN], &[0.0], &[1.0], 1).is_some());
        assert!(VerifyConfig::default().validate().is_ok());
        assert!(VerifyConfig {
            soundness_bits: 0,
            ..VerifyConfig::default()
        }
        .validate()
        .is_err());
    }
}
