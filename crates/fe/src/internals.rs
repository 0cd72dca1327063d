//! Internals shared by the public-key quadratic scheme and SGP: encryption randomness, fixed-base tables
//! of the generators, projection of a ciphertext by integer rows, pairings.

use std::sync::OnceLock;

use blstrs::{Bls12, G1Affine, G1Projective, G2Affine, G2Prepared, G2Projective, Gt, Scalar};
use ff::Field;
use group::{Curve, Group};
use pairing::{MillerLoopResult as _, MultiMillerLoop};
use rand_core::{CryptoRng, RngCore};

use crate::comb::FixedBase;
use crate::msm::vartime_msm_small;
use crate::secret::SecretScalar;

/// Fixed-base tables of the generators `g1`, `g2` (built once per process, about 20 ms).
pub(crate) fn generator_combs() -> &'static (FixedBase<G1Projective>, FixedBase<G2Projective>) {
    static T: OnceLock<(FixedBase<G1Projective>, FixedBase<G2Projective>)> = OnceLock::new();
    T.get_or_init(|| {
        (
            FixedBase::new(&G1Projective::generator()),
            FixedBase::new(&G2Projective::generator()),
        )
    })
}

/// Per-ciphertext randomness of Dufour-Sans–Gay–Pointcheval (ePrint 2018/206, §3): `gamma` and
/// `W in GL_2(Z_r)`; `M = W^{-T}`. Whoever learns it can decrypt that ciphertext completely, so it is
/// erased when dropped.
pub(crate) struct Randomness {
    pub(crate) gamma: SecretScalar,
    /// `W = [[w11, w12], [w21, w22]]`.
    pub(crate) w: [SecretScalar; 4],
    /// `W^{-T} = [[m11, m12], [m21, m22]]`.
    pub(crate) m: [SecretScalar; 4],
}

impl Drop for Randomness {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.gamma.zeroize();
        self.w.zeroize();
        self.m.zeroize();
    }
}

impl Randomness {
    pub(crate) fn sample<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let gamma = Scalar::random(&mut *rng);
        loop {
            let w = [
                Scalar::random(&mut *rng),
                Scalar::random(&mut *rng),
                Scalar::random(&mut *rng),
                Scalar::random(&mut *rng),
            ];
            let det = w[0] * w[3] - w[1] * w[2];
            if let Some(inv) = Option::<Scalar>::from(det.invert()) {
                // W^{-1} = inv [[w22, -w12], [-w21, w11]]; its transpose:
                let m = [w[3] * inv, -w[2] * inv, -w[1] * inv, w[0] * inv];
                return Randomness {
                    gamma: SecretScalar(gamma),
                    w: w.map(SecretScalar),
                    m: m.map(SecretScalar),
                };
            }
        }
    }
}

/// A ciphertext body: `c0 = g1^gamma`, left vectors `a_i = W^{-T} (x_i, gamma s_i)` in G1 (two
/// components), right vectors `b_j = W (y_j, -t_j)` in G2. `<a_i, b_j> = x_i y_j - gamma s_i t_j`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Body {
    pub(crate) c0: G1Affine,
    pub(crate) a: [Vec<G1Affine>; 2],
    pub(crate) b: [Vec<G2Affine>; 2],
}

/// Normalises projective points to affine in parallel chunks.
pub(crate) fn to_affine_g1(v: &[G1Projective]) -> Vec<G1Affine> {
    use rayon::prelude::*;
    let mut out = vec![G1Affine::default(); v.len()];
    out.par_chunks_mut(256)
        .zip(v.par_chunks(256))
        .for_each(|(o, i)| G1Projective::batch_normalize(i, o));
    out
}

/// Normalises projective points to affine in parallel chunks.
pub(crate) fn to_affine_g2(v: &[G2Projective]) -> Vec<G2Affine> {
    use rayon::prelude::*;
    let mut out = vec![G2Affine::default(); v.len()];
    out.par_chunks_mut(256)
        .zip(v.par_chunks(256))
        .for_each(|(o, i)| G2Projective::batch_normalize(i, o));
    out
}

/// `e(A, B)` for `A = sum_i r_i a_i`, `B = sum_i r_i b_i` (the projection of a ciphertext body by the
/// integer row `r`), i.e. `g_T^{<A, B>}` with two Miller loops and one final exponentiation.
pub(crate) fn project_pair(body: &Body, row: &[i64]) -> Gt {
    let a0 = vartime_msm_small::<G1Projective>(&body.a[0], row).to_affine();
    let a1 = vartime_msm_small::<G1Projective>(&body.a[1], row).to_affine();
    let b0 = G2Prepared::from(vartime_msm_small::<G2Projective>(&body.b[0], row).to_affine());
    let b1 = G2Prepared::from(vartime_msm_small::<G2Projective>(&body.b[1], row).to_affine());
    Bls12::multi_miller_loop(&[(&a0, &b0), (&a1, &b1)]).final_exponentiation()
}

/// `e(c0, key)`.
pub(crate) fn key_pairing(c0: &G1Affine, key: &G2Affine) -> Gt {
    blstrs::pairing(c0, key)
}

/// Product of Miller loops over `(G1, G2)` pairs, in parallel chunks, then one final exponentiation.
pub(crate) fn multi_pairing(pairs: &[(G1Affine, G2Affine)]) -> Gt {
    use rayon::prelude::*;
    let ml = pairs
        .par_chunks(32)
        .map(|ch| {
            let prepared: Vec<(G1Affine, G2Prepared)> =
                ch.iter().map(|(a, b)| (*a, G2Prepared::from(*b))).collect();
            let refs: Vec<(&G1Affine, &G2Prepared)> =
                prepared.iter().map(|(a, b)| (a, b)).collect();
            Bls12::multi_miller_loop(&refs)
        })
        .reduce(blstrs::MillerLoopResult::default, |x, y| x + y);
    ml.final_exponentiation()
}
