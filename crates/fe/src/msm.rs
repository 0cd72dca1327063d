//! Multi-scalar multiplication with small signed integer scalars (bucket method).
//!
//! Source: N. Pippenger's bucket method as described by D. J. Bernstein et al., "Faster batch forgery
//! identification" (INDOCRYPT 2012, §4), with signed digits in `[-2^(c-1), 2^(c-1)]` so that each window
//! needs `2^(c-1)` buckets (negating an affine point is free). The scalars here are the integer weights of
//! the quantised model (a few bits, the bias column a few more), so one or two windows suffice and the cost
//! is about one mixed addition per point, against a full 255-bit MSM in the library.
//!
//! Only `blstrs` group operations are used; tested against the library's own scalar multiplication.
//! Variable time in the scalars (the weights are public: the model is known to the decryptor).

use group::Curve;
use std::ops::{AddAssign, SubAssign};

/// Window width (bits) for `n` points whose largest scalar magnitude has `bits` bits.
fn window_bits(n: usize, bits: u32) -> u32 {
    // Cost per window ~ n + 2^c; one window covering all bits is best when 2^bits stays well below n.
    let by_n = (usize::BITS - n.leading_zeros())
        .saturating_sub(2)
        .clamp(2, 14);
    (bits + 1).min(by_n).max(2)
}

/// Signed-digit recoding of `|v|` in base `2^c`: digits in `[-2^(c-1), 2^(c-1)]`, `windows` of them.
fn recode(v: i64, c: u32, windows: usize, out: &mut [i32]) {
    let mut mag = v.unsigned_abs() as u128;
    let half = 1u128 << (c - 1);
    let full = 1u128 << c;
    for slot in out.iter_mut().take(windows) {
        let mut d = (mag & (full - 1)) as i64;
        mag >>= c;
        if d as u128 > half {
            d -= full as i64;
            mag += 1;
        }
        *slot = if v < 0 { -(d as i32) } else { d as i32 };
    }
}

/// `sum_i scalars[i] * points[i]` for small signed integer scalars, variable time.
///
/// Points and scalars are zipped (the shorter length wins; callers check lengths). Zero scalars cost
/// nothing. Any `i64` is accepted; large magnitudes only add windows.
pub fn vartime_msm_small<G>(points: &[G::AffineRepr], scalars: &[i64]) -> G
where
    G: Curve + for<'a> AddAssign<&'a G::AffineRepr> + for<'a> SubAssign<&'a G::AffineRepr>,
{
    let n = points.len().min(scalars.len());
    let max = scalars[..n]
        .iter()
        .map(|s| s.unsigned_abs())
        .max()
        .unwrap_or(0);
    if max == 0 {
        return G::identity();
    }
    let bits = u64::BITS - max.leading_zeros();
    let c = window_bits(n, bits);
    let windows = (bits as usize + 1).div_ceil(c as usize);
    let mut digits = vec![0i32; n * windows];
    for (i, s) in scalars[..n].iter().enumerate() {
        recode(*s, c, windows, &mut digits[i * windows..(i + 1) * windows]);
    }
    let nb = 1usize << (c - 1);
    let mut total = G::identity();
    let mut buckets = vec![G::identity(); nb];
    for w in (0..windows).rev() {
        for _ in 0..c {
            total = total.double();
        }
        buckets.iter_mut().for_each(|b| *b = G::identity());
        let mut top = 0usize;
        for i in 0..n {
            let d = digits[i * windows + w];
            if d > 0 {
                let k = d as usize - 1;
                buckets[k] += &points[i];
                top = top.max(k + 1);
            } else if d < 0 {
                let k = (-d) as usize - 1;
                buckets[k] -= &points[i];
                top = top.max(k + 1);
            }
        }
        let mut running = G::identity();
        let mut sum = G::identity();
        for b in buckets[..top].iter().rev() {
            running += b;
            sum += running;
        }
        total += sum;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::scalar_i64;
    use blstrs::{G1Affine, G1Projective, G2Affine, G2Projective};
    use group::{prime::PrimeCurveAffine, Group};
    use rand_chacha::ChaCha20Rng;
    use rand_core::{RngCore, SeedableRng};

    #[test]
    fn recode_reconstructs() {
        for c in 2..8u32 {
            for v in [
                -1000i64,
                -17,
                -1,
                0,
                1,
                5,
                16,
                255,
                4096,
                i64::MAX,
                i64::MIN,
            ] {
                let bits = 64 - v.unsigned_abs().leading_zeros();
                let windows = (bits as usize + 1).div_ceil(c as usize).max(1);
                let mut d = vec![0i32; windows];
                recode(v, c, windows, &mut d);
                let mut acc = 0i128;
                for x in d.iter().rev() {
                    assert!(x.unsigned_abs() <= 1 << (c - 1));
                    acc = acc * (1i128 << c) + *x as i128;
                }
                assert_eq!(acc, v as i128, "v={v} c={c}");
            }
        }
    }

    #[test]
    fn msm_matches_library_multiplication() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        for (n, range) in [
            (1usize, 9i64),
            (5, 3),
            (40, 31),
            (100, 100_000),
            (33, 1 << 40),
        ] {
            let p1: Vec<G1Affine> = (0..n)
                .map(|_| G1Projective::random(&mut rng).to_affine())
                .collect();
            let p2: Vec<G2Affine> = (0..n)
                .map(|_| G2Projective::random(&mut rng).to_affine())
                .collect();
            let s: Vec<i64> = (0..n)
                .map(|_| (rng.next_u64() % (2 * range as u64 + 1)) as i64 - range)
                .collect();
            let want1: G1Projective = p1.iter().zip(&s).map(|(p, k)| p * scalar_i64(*k)).sum();
            let want2: G2Projective = p2.iter().zip(&s).map(|(p, k)| p * scalar_i64(*k)).sum();
            assert_eq!(
                vartime_msm_small::<G1Projective>(&p1, &s),
                want1,
                "G1 n={n}"
            );
            assert_eq!(
                vartime_msm_small::<G2Projective>(&p2, &s),
                want2,
                "G2 n={n}"
            );
        }
        let p: Vec<G1Affine> = vec![G1Affine::generator(); 3];
        assert_eq!(
            vartime_msm_small::<G1Projective>(&p, &[0, 0, 0]),
            G1Projective::identity()
        );
    }
}
