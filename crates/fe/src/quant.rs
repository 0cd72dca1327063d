//! Quantisation of the trained private part (a projected quadratic layer) to integers.
//!
//! The float model (trained elsewhere, Ryffel et al., NeurIPS 2019, §3) computes, for an image of `n`
//! pixels `x_f in [0, 1]^n` (`x_f = pixel / 255`),
//!
//! `out_c(x_f) = sum_j Q[j][c] * z_j^2`, `z_j = P[j][0] + sum_i P[j][i] x_f[i]` (column 0 = bias).
//!
//! **Scales.** With `s_p = p_max / max_{j, i >= 1} |P[j][i]|` and `s_q = q_max / max |Q|`, the integer
//! model acts on integer pixels `X in 0..=255` (bias slot `X_0 = 1`):
//!
//! * `P'[j][i] = round(s_p * P[j][i])` for `i >= 1`, `P'[j][0] = round(255 * s_p * P[j][0])`,
//!   so `z'_j = P'_j . [1, X] ~= 255 s_p z_j`;
//! * `Q'[j][c] = round(s_q * Q[j][c])`;
//! * `out'_c = sum_j Q'[j][c] z'_j^2 ~= s_q (255 s_p)^2 out_c`, hence
//!   [`QuantisedQuadratic::dequantise`] divides by `s_q (255 s_p)^2`.
//!
//! **Discrete-log bound.** For `X in [0, 255]^n`, `z'_j` lies in `[lo_j, hi_j]` with
//! `lo_j = P'[j][0] + 255 sum_{P'<0} P'[j][i]` and `hi_j = P'[j][0] + 255 sum_{P'>0} P'[j][i]`; so
//! `z'_j^2 <= m_j = max(lo_j^2, hi_j^2)` and `|out'_c| <= max(sum_{Q'>0} Q' m_j, sum_{Q'<0} |Q'| m_j)`.
//! [`QuantisedQuadratic::dlog_bound`] is the maximum over outputs (exact worst case, computed in 128-bit).

use crate::format::{Reader, Writer};
use crate::{Error, Result};

/// The trained private part in float: `output_c(x) = sum_j Q[j][c] * (P[j] . [1, x])^2`, `x = pixel/255`.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatQuadratic {
    /// Number of hidden units (rows of `P`), e.g. 40.
    pub hidden: usize,
    /// Number of inputs `n` (pixels), e.g. 784.
    pub inputs: usize,
    /// Number of outputs `k`, e.g. 4.
    pub outputs: usize,
    /// `[hidden][1 + inputs]` row-major; column 0 is the bias.
    pub p: Vec<f32>,
    /// `[hidden][outputs]` row-major.
    pub q: Vec<f32>,
}

/// Quantisation settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantConfig {
    /// Largest magnitude of an integer weight of `P` (bias column excluded, it is scaled by 255 more).
    pub p_max: i64,
    /// Largest magnitude of an integer weight of `Q`.
    pub q_max: i64,
}

impl Default for QuantConfig {
    /// `p_max = 7`, `q_max = 7` (4-bit signed weights; the bias column keeps 255 times finer steps): for a
    /// 784 -> 40 -> 4 layer with trained-like weights, decrypted values stay below about 4 * 10^9, i.e. at
    /// most about a thousand giant steps each way with a 2^22-entry discrete-log table.
    fn default() -> Self {
        QuantConfig { p_max: 7, q_max: 7 }
    }
}

/// Largest pixel value (pixels are integers in `0..=255`).
pub const PIXEL_MAX: i64 = 255;

/// The quantised private part: integer `P` (`[hidden][1 + inputs]`, column 0 = bias) and `Q`
/// (`[hidden][outputs]`), acting on integer pixels `0..=255` with bias slot `x_0 = 1`.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantisedQuadratic {
    /// Number of hidden units.
    pub hidden: usize,
    /// Number of inputs `n` (without the bias slot).
    pub inputs: usize,
    /// Number of outputs `k`.
    pub outputs: usize,
    /// `[hidden][1 + inputs]` row-major integer weights.
    pub p: Vec<i64>,
    /// `[hidden][outputs]` row-major integer weights.
    pub q: Vec<i64>,
    /// `s_p` (see the module docs); 1 for a model built directly from integers.
    pub scale_p: f64,
    /// `s_q`; 1 for a model built directly from integers.
    pub scale_q: f64,
}

const MAGIC: &[u8; 8] = b"PSFEQMDL";
const VERSION: u32 = 1;
/// Largest dimension accepted anywhere (inputs, hidden units, outputs).
pub const MAX_DIM: usize = 1 << 20;

impl QuantisedQuadratic {
    /// Builds a model from integer matrices, checking shapes and that the discrete-log bound fits in 62
    /// bits.
    ///
    /// # Errors
    /// [`Error::Length`] for shapes, [`Error::Parameter`] for zero dimensions, [`Error::Overflow`] when
    /// the bound is too large.
    pub fn from_integers(
        hidden: usize,
        inputs: usize,
        outputs: usize,
        p: Vec<i64>,
        q: Vec<i64>,
    ) -> Result<Self> {
        for (what, v) in [("hidden", hidden), ("inputs", inputs), ("outputs", outputs)] {
            if v == 0 || v > MAX_DIM {
                return Err(Error::param(
                    what,
                    format!("must be in 1..={MAX_DIM}, got {v}"),
                ));
            }
        }
        if p.len() != hidden * (inputs + 1) {
            return Err(Error::Length {
                what: "P [hidden][1+inputs]",
                expected: hidden * (inputs + 1),
                got: p.len(),
            });
        }
        if q.len() != hidden * outputs {
            return Err(Error::Length {
                what: "Q [hidden][outputs]",
                expected: hidden * outputs,
                got: q.len(),
            });
        }
        let m = QuantisedQuadratic {
            hidden,
            inputs,
            outputs,
            p,
            q,
            scale_p: 1.0,
            scale_q: 1.0,
        };
        m.dlog_bound()?;
        Ok(m)
    }

    /// Quantises a float model (scales in the module docs).
    ///
    /// # Errors
    /// [`Error::Length`] for inconsistent shapes, [`Error::Parameter`] for non-finite or all-zero weights
    /// or non-positive `p_max`/`q_max`, [`Error::Overflow`] when the discrete-log bound exceeds 62 bits.
    pub fn from_float(f: &FloatQuadratic, cfg: &QuantConfig) -> Result<Self> {
        if cfg.p_max <= 0 || cfg.q_max <= 0 || cfg.p_max > 1 << 20 || cfg.q_max > 1 << 20 {
            return Err(Error::param(
                "QuantConfig",
                format!(
                    "p_max and q_max must be in 1..=2^20, got {} and {}",
                    cfg.p_max, cfg.q_max
                ),
            ));
        }
        if f.p.len() != f.hidden * (f.inputs + 1) {
            return Err(Error::Length {
                what: "FloatQuadratic.p",
                expected: f.hidden * (f.inputs + 1),
                got: f.p.len(),
            });
        }
        if f.q.len() != f.hidden * f.outputs {
            return Err(Error::Length {
                what: "FloatQuadratic.q",
                expected: f.hidden * f.outputs,
                got: f.q.len(),
            });
        }
        if f.p.iter().chain(&f.q).any(|v| !v.is_finite()) {
            return Err(Error::param("FloatQuadratic", "non-finite weight"));
        }
        let w = f.inputs + 1;
        let pmax = (0..f.hidden)
            .flat_map(|j| f.p[j * w + 1..(j + 1) * w].iter())
            .fold(0f64, |a, v| a.max(v.abs() as f64));
        let qmax = f.q.iter().fold(0f64, |a, v| a.max(v.abs() as f64));
        if pmax == 0.0 || qmax == 0.0 {
            return Err(Error::param(
                "FloatQuadratic",
                "P (non-bias) or Q is all zeros",
            ));
        }
        let sp = cfg.p_max as f64 / pmax;
        let sq = cfg.q_max as f64 / qmax;
        let mut p = Vec::with_capacity(f.p.len());
        for j in 0..f.hidden {
            for i in 0..w {
                let s = if i == 0 { sp * PIXEL_MAX as f64 } else { sp };
                let v = (f.p[j * w + i] as f64 * s).round();
                if v.abs() > (1u64 << 40) as f64 {
                    return Err(Error::Overflow {
                        what: "quantised bias",
                        reason: format!("P[{j}][0] scales to {v}"),
                    });
                }
                p.push(v as i64);
            }
        }
        let q =
            f.q.iter()
                .map(|v| (*v as f64 * sq).round() as i64)
                .collect();
        let mut m = Self::from_integers(f.hidden, f.inputs, f.outputs, p, q)?;
        m.scale_p = sp;
        m.scale_q = sq;
        Ok(m)
    }

    /// Row `j` of `P` (`1 + inputs` entries, bias first).
    pub fn p_row(&self, j: usize) -> &[i64] {
        let w = self.inputs + 1;
        &self.p[j * w..(j + 1) * w]
    }

    /// Exact integer reference: `out'_c = sum_j Q'[j][c] (P'_j . [1, X])^2` for pixels `X` (`[inputs]`).
    ///
    /// # Errors
    /// [`Error::Length`] when `pixels.len() != inputs`.
    pub fn eval_plain(&self, pixels: &[u8]) -> Result<Vec<i64>> {
        if pixels.len() != self.inputs {
            return Err(Error::Length {
                what: "pixels",
                expected: self.inputs,
                got: pixels.len(),
            });
        }
        let mut out = vec![0i128; self.outputs];
        for j in 0..self.hidden {
            let row = self.p_row(j);
            let z: i128 = row[0] as i128
                + row[1..]
                    .iter()
                    .zip(pixels)
                    .map(|(p, x)| *p as i128 * *x as i128)
                    .sum::<i128>();
            for (c, o) in out.iter_mut().enumerate() {
                *o += self.q[j * self.outputs + c] as i128 * z * z;
            }
        }
        // The bound check in the constructor guarantees that these fit in i64.
        Ok(out.into_iter().map(|v| v as i64).collect())
    }

    /// Back to the float model's output scale: `out_c = out'_c / (s_q (255 s_p)^2)` (`[outputs]`).
    pub fn dequantise(&self, out: &[i64]) -> Vec<f32> {
        let s = self.scale_q * (PIXEL_MAX as f64 * self.scale_p).powi(2);
        out.iter().map(|v| (*v as f64 / s) as f32).collect()
    }

    /// Worst-case `|out'_c|` over all images and outputs (module docs), the discrete-log bound for pixels
    /// (`X in [0, 255]^n`): [`QuantisedQuadratic::dlog_bound_for_range`] of `(0, 255)`.
    ///
    /// # Errors
    /// [`Error::Overflow`] if it exceeds `2^62`.
    pub fn dlog_bound(&self) -> Result<u64> {
        self.dlog_bound_for_range(0, PIXEL_MAX)
    }

    /// Worst-case `|out'_c|` over all inputs `X in [x_min, x_max]^n` (the range a public key and its
    /// functional keys declare) and all outputs: `z'_j = P'[j][0] + sum_i P'[j][i] X_i` lies in
    /// `[lo_j, hi_j]` with `lo_j = P'[j][0] + sum_i min(P'[j][i] x_min, P'[j][i] x_max)` and `hi_j` the
    /// same with `max`; then as in the module docs. Exact, in 128-bit arithmetic.
    ///
    /// # Errors
    /// [`Error::Overflow`] if it exceeds `2^62`; [`Error::Parameter`] if `x_min > x_max`.
    pub fn dlog_bound_for_range(&self, x_min: i64, x_max: i64) -> Result<u64> {
        if x_min > x_max {
            return Err(Error::param(
                "input range",
                format!("x_min {x_min} > x_max {x_max}"),
            ));
        }
        let (a, b) = (x_min as i128, x_max as i128);
        let mut best: u128 = 0;
        let msq: Vec<u128> = (0..self.hidden)
            .map(|j| {
                let row = self.p_row(j);
                let (mut lo, mut hi) = (row[0] as i128, row[0] as i128);
                for v in &row[1..] {
                    let (va, vb) = (*v as i128 * a, *v as i128 * b);
                    lo += va.min(vb);
                    hi += va.max(vb);
                }
                // z'^2 <= max(lo^2, hi^2), and 0 when the interval contains 0 does not matter: the
                // maximum of a square over an interval is at an end point.
                let m = lo.unsigned_abs().max(hi.unsigned_abs());
                m.saturating_mul(m)
            })
            .collect();
        for c in 0..self.outputs {
            let (mut pos, mut neg) = (0u128, 0u128);
            for (j, m) in msq.iter().enumerate() {
                let qv = self.q[j * self.outputs + c];
                let t = (qv.unsigned_abs() as u128).saturating_mul(*m);
                if qv > 0 {
                    pos = pos.saturating_add(t);
                } else {
                    neg = neg.saturating_add(t);
                }
            }
            best = best.max(pos).max(neg);
        }
        if best > 1u128 << 62 {
            return Err(Error::Overflow {
                what: "discrete-log bound",
                reason: format!("worst-case |output| {best} exceeds 2^62; lower p_max/q_max"),
            });
        }
        Ok(best as u64)
    }

    /// Versioned binary encoding (magic `PSFEQMDL`, version 1).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(MAGIC, VERSION);
        w.u64(self.hidden as u64);
        w.u64(self.inputs as u64);
        w.u64(self.outputs as u64);
        w.f64(self.scale_p);
        w.f64(self.scale_q);
        for v in self.p.iter().chain(&self.q) {
            w.i64(*v);
        }
        w.buf
    }

    /// Decodes [`QuantisedQuadratic::to_bytes`], re-checking shapes and the bound.
    ///
    /// # Errors
    /// [`Error::Format`] on any malformed input, plus the errors of [`QuantisedQuadratic::from_integers`].
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let mut r = Reader::new(b, "quantised model", MAGIC, VERSION)?;
        let hidden = r.u64()? as usize;
        let inputs = r.u64()? as usize;
        let outputs = r.u64()? as usize;
        let sp = r.f64()?;
        let sq = r.f64()?;
        if !(sp.is_finite() && sp > 0.0 && sq.is_finite() && sq > 0.0) {
            return Err(Error::format(
                "quantised model",
                "scales must be finite and positive",
            ));
        }
        if hidden > MAX_DIM || inputs > MAX_DIM || outputs > MAX_DIM {
            return Err(Error::format("quantised model", "dimension above 2^20"));
        }
        let np = r.expect_items((hidden * (inputs + 1)) as u64, 8)?;
        let p = (0..np).map(|_| r.i64()).collect::<Result<Vec<_>>>()?;
        let nq = r.expect_items((hidden * outputs) as u64, 8)?;
        let q = (0..nq).map(|_| r.i64()).collect::<Result<Vec<_>>>()?;
        r.finish()?;
        let mut m = Self::from_integers(hidden, inputs, outputs, p, q)?;
        m.scale_p = sp;
        m.scale_q = sq;
        Ok(m)
    }

    /// SHA-256 of the integer model (dimensions, `P`, `Q`; not the scales): what a functional key is bound
    /// to.
    pub fn digest(&self) -> [u8; 32] {
        let mut w = Writer::new(MAGIC, VERSION);
        w.u64(self.hidden as u64);
        w.u64(self.inputs as u64);
        w.u64(self.outputs as u64);
        for v in self.p.iter().chain(&self.q) {
            w.i64(*v);
        }
        crate::format::digest(&w.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{RngCore, SeedableRng};

    #[test]
    fn range_bound_holds_over_every_input() {
        // Brute force over every input of random 2-input models and several ranges: no output exceeds
        // the bound derived from the range.
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        for (lo, hi) in [(0i64, 1i64), (0, 255), (-3, 4), (-50, 50), (2, 9)] {
            for _ in 0..20 {
                let mut r = |m: i64| (rng.next_u32() % (2 * m as u32 + 1)) as i64 - m;
                let p: Vec<i64> = (0..2 * 3).map(|_| r(9)).collect();
                let q: Vec<i64> = (0..2 * 2).map(|_| r(5)).collect();
                let m = QuantisedQuadratic::from_integers(2, 2, 2, p, q).unwrap();
                let bound = m.dlog_bound_for_range(lo, hi).unwrap();
                let mut worst = 0u64;
                for x1 in lo..=hi {
                    for x2 in lo..=hi {
                        for c in 0..2 {
                            let v: i64 = (0..2)
                                .map(|j| {
                                    let row = m.p_row(j);
                                    let z = row[0] + row[1] * x1 + row[2] * x2;
                                    m.q[j * 2 + c] * z * z
                                })
                                .sum();
                            assert!(v.unsigned_abs() <= bound, "[{lo},{hi}] {v} > {bound}");
                            worst = worst.max(v.unsigned_abs());
                        }
                    }
                }
                assert!(worst <= bound);
            }
        }
        let m = QuantisedQuadratic::from_integers(1, 2, 1, vec![0, 100, 100], vec![100]).unwrap();
        assert_eq!(m.dlog_bound_for_range(0, 1).unwrap(), 4_000_000);
        assert_eq!(m.dlog_bound_for_range(-1, 1).unwrap(), 4_000_000);
        assert_eq!(
            m.dlog_bound().unwrap(),
            m.dlog_bound_for_range(0, PIXEL_MAX).unwrap()
        );
        assert!(m.dlog_bound_for_range(1, 0).is_err());
    }

    fn uniform(rng: &mut ChaCha20Rng) -> f32 {
        (rng.next_u32() as f64 / u32::MAX as f64 * 2.0 - 1.0) as f32
    }

    pub(crate) fn random_float(
        seed: u64,
        hidden: usize,
        inputs: usize,
        outputs: usize,
    ) -> FloatQuadratic {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        FloatQuadratic {
            hidden,
            inputs,
            outputs,
            p: (0..hidden * (inputs + 1))
                .map(|_| uniform(&mut rng) * 0.3)
                .collect(),
            q: (0..hidden * outputs).map(|_| uniform(&mut rng)).collect(),
        }
    }

    fn float_eval(f: &FloatQuadratic, pixels: &[u8]) -> Vec<f32> {
        let w = f.inputs + 1;
        let mut out = vec![0f64; f.outputs];
        for j in 0..f.hidden {
            let mut z = f.p[j * w] as f64;
            for (i, px) in pixels.iter().enumerate().take(f.inputs) {
                z += f.p[j * w + 1 + i] as f64 * *px as f64 / 255.0;
            }
            for (c, o) in out.iter_mut().enumerate() {
                *o += f.q[j * f.outputs + c] as f64 * z * z;
            }
        }
        out.into_iter().map(|v| v as f32).collect()
    }

    #[test]
    fn quantised_tracks_float_and_bound_holds() {
        let f = random_float(11, 6, 20, 3);
        let m = QuantisedQuadratic::from_float(
            &f,
            &QuantConfig {
                p_max: 127,
                q_max: 127,
            },
        )
        .unwrap();
        assert!(m
            .p
            .iter()
            .skip(1)
            .step_by(21)
            .all(|v| v.abs() <= 127 * 255 + 1));
        let bound = m.dlog_bound().unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(12);
        let scale = f.q.iter().fold(0f32, |a, v| a.max(v.abs())) * 25.0;
        for _ in 0..20 {
            let px: Vec<u8> = (0..20).map(|_| rng.next_u32() as u8).collect();
            let yi = m.eval_plain(&px).unwrap();
            assert!(yi.iter().all(|v| v.unsigned_abs() <= bound));
            let yq = m.dequantise(&yi);
            let yf = float_eval(&f, &px);
            for (a, b) in yq.iter().zip(&yf) {
                assert!((a - b).abs() < 0.02 * scale, "{a} vs {b}");
            }
        }
        // The bound is attained: all-255 on positive weights of one unit with one output is not needed;
        // check it is not loose beyond the trivial L1 bound.
        let l1: u128 = (0..m.hidden)
            .map(|j| {
                let r = m.p_row(j);
                let z = r[0].unsigned_abs() as u128
                    + r[1..]
                        .iter()
                        .map(|v| v.unsigned_abs() as u128 * 255)
                        .sum::<u128>();
                z * z
                    * m.q[j * 3..j * 3 + 3]
                        .iter()
                        .map(|v| v.unsigned_abs() as u128)
                        .max()
                        .unwrap_or(0)
            })
            .sum();
        assert!(bound as u128 <= l1);
    }

    #[test]
    fn model_bytes_round_trip_and_reject() {
        let m = QuantisedQuadratic::from_float(&random_float(5, 3, 7, 2), &QuantConfig::default())
            .unwrap();
        let b = m.to_bytes();
        assert_eq!(QuantisedQuadratic::from_bytes(&b).unwrap(), m);
        assert!(matches!(
            QuantisedQuadratic::from_bytes(&b[..b.len() - 3]),
            Err(Error::Format { .. })
        ));
        let mut bad = b.clone();
        bad[0] ^= 1;
        assert!(matches!(
            QuantisedQuadratic::from_bytes(&bad),
            Err(Error::Format { .. })
        ));
        let mut long = b;
        long.push(0);
        assert!(matches!(
            QuantisedQuadratic::from_bytes(&long),
            Err(Error::Format { .. })
        ));
        assert!(m.eval_plain(&[0u8; 6]).is_err());
        let f = random_float(5, 3, 7, 2);
        let mut g = f.clone();
        g.p.pop();
        assert!(matches!(
            QuantisedQuadratic::from_float(&g, &QuantConfig::default()),
            Err(Error::Length { .. })
        ));
        let mut g = f;
        g.q[0] = f32::NAN;
        assert!(QuantisedQuadratic::from_float(&g, &QuantConfig::default()).is_err());
        // A model whose bound overflows is rejected.
        let big =
            QuantisedQuadratic::from_integers(1, 2, 1, vec![0, 1 << 30, 1 << 30], vec![1 << 20]);
        assert!(matches!(big, Err(Error::Overflow { .. })));
    }
}
