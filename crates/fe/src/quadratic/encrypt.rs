//! Encryption of an input vector under a master public key (plain or with comb tables) and the
//! ciphertext's encoding.

use blstrs::{G1Affine, G1Projective, G2Affine, G2Projective, Scalar};
use group::Curve;
use rand_core::{CryptoRng, RngCore};
use rayon::prelude::*;
use zeroize::Zeroize;

use super::{Ciphertext, PreparedPublicKey, PublicKey, CT_MAGIC, VERSION};
use crate::format::{Reader, Writer};
use crate::internals::{generator_combs, to_affine_g1, to_affine_g2, Body, Randomness};
use crate::quant::MAX_DIM;
use crate::secret::SecretScalar;
use crate::small_multiples::{ct_signed_lookup, multiples};
use crate::{Error, Result};

/// A key that encrypts input vectors for the quadratic scheme (Ryffel et al. 2019, §3, **Encrypt**): the
/// master public key [`PublicKey`] (the library's scalar multiplication of its points) or its comb-table
/// form [`PreparedPublicKey`] (per coordinate 2 G1 + 2 G2 comb multiplications, variable time in the
/// ephemeral `gamma`, `W`, plus table look-ups for `x_i`; the faster path). Both give ciphertexts of the
/// same key and the same encoding; encryption is parallel over coordinates with rayon. Sealed: implemented
/// by these two types only.
pub trait EncryptionKey: sealed::KeyPoints {
    /// Encrypts `x` (`[inputs]`, each in the declared range; the bias slot 1 is prepended).
    ///
    /// # Errors
    /// [`Error::Length`], [`Error::InputOutOfRange`].
    fn encrypt<R: RngCore + CryptoRng>(&self, x: &[i64], rng: &mut R) -> Result<Ciphertext> {
        let (pk, pk_id) = self.key();
        let (mul_h, mul_u) = (
            |i, k: &Scalar| self.mul_h(i, k),
            |i, k: &Scalar| self.mul_u(i, k),
        );
        encrypt_with(pk, pk_id, x, rng, mul_h, mul_u)
    }

    /// [`EncryptionKey::encrypt`] for pixels (`[inputs]`, 0..=255).
    ///
    /// # Errors
    /// As [`EncryptionKey::encrypt`].
    fn encrypt_pixels<R: RngCore + CryptoRng>(
        &self,
        pixels: &[u8],
        rng: &mut R,
    ) -> Result<Ciphertext> {
        let x: Vec<i64> = pixels.iter().map(|p| *p as i64).collect();
        self.encrypt(&x, rng)
    }
}

mod sealed {
    use blstrs::{G1Projective, G2Projective, Scalar};

    use crate::quadratic::PublicKey;

    /// The public key, its identifier and the scalar multiplications of its points `h_i = g1^{s_i}`,
    /// `u_i = g2^{t_i}` that an encryption needs.
    pub trait KeyPoints: Sync {
        /// The public key and its identifier.
        fn key(&self) -> (&PublicKey, [u8; 32]);
        /// `h_i^k`.
        fn mul_h(&self, i: usize, k: &Scalar) -> G1Projective;
        /// `u_i^k`.
        fn mul_u(&self, i: usize, k: &Scalar) -> G2Projective;
    }
}

impl sealed::KeyPoints for PublicKey {
    fn key(&self) -> (&PublicKey, [u8; 32]) {
        (self, self.id())
    }
    fn mul_h(&self, i: usize, k: &Scalar) -> G1Projective {
        self.h[i] * k
    }
    fn mul_u(&self, i: usize, k: &Scalar) -> G2Projective {
        self.u[i] * k
    }
}

impl EncryptionKey for PublicKey {}

impl sealed::KeyPoints for PreparedPublicKey {
    fn key(&self) -> (&PublicKey, [u8; 32]) {
        (&self.pk, self.pk_id)
    }
    fn mul_h(&self, i: usize, k: &Scalar) -> G1Projective {
        self.h[i].vartime_mul(k)
    }
    fn mul_u(&self, i: usize, k: &Scalar) -> G2Projective {
        self.u[i].vartime_mul(k)
    }
}

impl EncryptionKey for PreparedPublicKey {}

impl PreparedPublicKey {
    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.pk
    }
}

fn encrypt_with<R, F1, F2>(
    pk: &PublicKey,
    pk_id: [u8; 32],
    x: &[i64],
    rng: &mut R,
    mul_h: F1,
    mul_u: F2,
) -> Result<Ciphertext>
where
    R: RngCore + CryptoRng,
    F1: Fn(usize, &Scalar) -> G1Projective + Sync,
    F2: Fn(usize, &Scalar) -> G2Projective + Sync,
{
    if x.len() != pk.inputs {
        return Err(Error::Length {
            what: "plaintext vector",
            expected: pk.inputs,
            got: x.len(),
        });
    }
    if let Some((i, v)) = x
        .iter()
        .enumerate()
        .find(|(_, v)| **v < pk.x_min || **v > pk.x_max)
    {
        return Err(Error::InputOutOfRange {
            what: "plaintext vector",
            index: i,
            value: *v,
            min: pk.x_min,
            max: pk.x_max,
        });
    }
    let r = Randomness::sample(rng);
    let (g1c, g2c) = generator_combs();
    let vmax = pk.x_min.unsigned_abs().max(pk.x_max.unsigned_abs()).max(1) as usize;
    // g1^{m11 v}, g1^{m21 v}, g2^{w11 v}, g2^{w21 v} for v in 0..=vmax.
    let ta = [
        multiples(g1c.vartime_mul(&r.m[0].0), vmax),
        multiples(g1c.vartime_mul(&r.m[2].0), vmax),
    ];
    let tb = [
        multiples(g2c.vartime_mul(&r.w[0].0), vmax),
        multiples(g2c.vartime_mul(&r.w[2].0), vmax),
    ];
    let mut alpha = [
        SecretScalar(r.m[1].0 * r.gamma.0),
        SecretScalar(r.m[3].0 * r.gamma.0),
    ];
    let mut beta = [SecretScalar(-r.w[1].0), SecretScalar(-r.w[3].0)];
    let d = pk.inputs + 1;
    let xs = |i: usize| if i == 0 { 1i64 } else { x[i - 1] };
    let pts: Vec<[G1Projective; 2]> = (0..d)
        .into_par_iter()
        .map(|i| {
            let xi = xs(i);
            [0, 1].map(|c| ct_signed_lookup::<_, G1Projective>(&ta[c], xi) + mul_h(i, &alpha[c].0))
        })
        .collect();
    let qts: Vec<[G2Projective; 2]> = (0..d)
        .into_par_iter()
        .map(|i| {
            let xi = xs(i);
            [0, 1].map(|c| ct_signed_lookup::<_, G2Projective>(&tb[c], xi) + mul_u(i, &beta[c].0))
        })
        .collect();
    alpha.zeroize();
    beta.zeroize();
    let a0: Vec<G1Projective> = pts.iter().map(|p| p[0]).collect();
    let a1: Vec<G1Projective> = pts.iter().map(|p| p[1]).collect();
    let b0: Vec<G2Projective> = qts.iter().map(|p| p[0]).collect();
    let b1: Vec<G2Projective> = qts.iter().map(|p| p[1]).collect();
    let body = Body {
        c0: g1c.vartime_mul(&r.gamma.0).to_affine(),
        a: [to_affine_g1(&a0), to_affine_g1(&a1)],
        b: [to_affine_g2(&b0), to_affine_g2(&b1)],
    };
    Ok(Ciphertext { pk_id, body })
}

impl Ciphertext {
    /// Number of inputs `n` (without the bias slot).
    pub fn inputs(&self) -> usize {
        self.body.a[0].len() - 1
    }

    /// Versioned binary encoding (magic `PSFEQCT_`): a [`CIPHERTEXT_HEADER_BYTES`]-byte header, then
    /// exactly [`ciphertext_group_bytes`] bytes of compressed group elements.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(CT_MAGIC, VERSION);
        w.bytes(&self.pk_id);
        w.u64(self.body.a[0].len() as u64);
        w.g1(&self.body.c0);
        for i in 0..self.body.a[0].len() {
            w.g1(&self.body.a[0][i]);
            w.g1(&self.body.a[1][i]);
            w.g2(&self.body.b[0][i]);
            w.g2(&self.body.b[1][i]);
        }
        w.buf
    }

    /// Decodes [`Ciphertext::to_bytes`], checking length and every point (curve and subgroup; in parallel).
    ///
    /// # Errors
    /// [`Error::Format`].
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let mut r = Reader::new(b, "ciphertext", CT_MAGIC, VERSION)?;
        let pk_id = r.array32()?;
        let d = r.u64()?;
        if d < 2 || d > MAX_DIM as u64 + 1 {
            return Err(Error::format("ciphertext", format!("dimension {d}")));
        }
        let c0 = r.g1()?;
        let d = r.expect_items(d, 2 * 48 + 2 * 96)?;
        let rest = r.take(d * (2 * 48 + 2 * 96))?;
        r.finish()?;
        let per = 2 * 48 + 2 * 96;
        let items: Vec<(G1Affine, G1Affine, G2Affine, G2Affine)> = rest
            .par_chunks(per)
            .map(|c| {
                let mut rr = Reader::raw(c, "ciphertext");
                Ok((rr.g1()?, rr.g1()?, rr.g2()?, rr.g2()?))
            })
            .collect::<Result<Vec<_>>>()?;
        let body = Body {
            c0,
            a: [
                items.iter().map(|t| t.0).collect(),
                items.iter().map(|t| t.1).collect(),
            ],
            b: [
                items.iter().map(|t| t.2).collect(),
                items.iter().map(|t| t.3).collect(),
            ],
        };
        Ok(Ciphertext { pk_id, body })
    }
}
