//! Public-key quadratic functional encryption for a projected quadratic model.
//!
//! Source: T. Ryffel, E. Dufour-Sans, R. Gay, F. Bach, D. Pointcheval, "Partially Encrypted Machine
//! Learning using Functional Encryption", NeurIPS 2019, §3 (public-key variant of the scheme of
//! E. Dufour-Sans, R. Gay, D. Pointcheval, "Reading in the Dark", ePrint 2018/206), on BLS12-381.
//!
//! * **Setup** (`n` inputs, dimension `n + 1` with the bias slot): `msk = (s, t) in Z_r^{n+1} x Z_r^{n+1}`,
//!   `pk = (g1^{s_i}, g2^{t_i})_i`.
//! * **Encrypt** `x = [1, pixels]`: random `gamma`, `W in GL_2`; `c0 = g1^gamma`,
//!   `a_i = g1^{W^{-T} (x_i, gamma s_i)}`, `b_i = g2^{W (x_i, -t_i)}` (computable from `pk`, since
//!   `g1^{gamma s_i} = (g1^{s_i})^gamma`). Size: 1 G1 + (n+1)(2 G1 + 2 G2).
//! * **KeyGen** for `f_c(x) = sum_j Q[j][c] (P_j . x)^2`: `sk_c = g2^{f_c(s, t)}` with
//!   `f_c(s, t) = sum_j Q[j][c] (P_j . s)(P_j . t)`: one G2 element per output.
//! * **Decrypt**: for each hidden unit `j`, project the ciphertext by `P_j` with small-scalar MSMs and take
//!   one two-pair pairing, `E_j = e(P_j a, P_j b) = g_T^{(P_j.x)^2 - gamma (P_j.s)(P_j.t)}`; then
//!   `g_T^{f_c(x)} = prod_j E_j^{Q[j][c]} * e(c0, sk_c)`, and a bounded discrete logarithm gives `f_c(x)`.
//!   Cost: `4 hidden` MSMs, `hidden` two-pair pairings, small `G_T` powers, `outputs` pairings.

use blstrs::{G1Affine, G1Projective, G2Affine, G2Projective, Gt, Scalar};
use ff::Field;
use group::{Curve, Group};
use rand_core::{CryptoRng, RngCore};
use rayon::prelude::*;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::comb::Comb;
use crate::dlog::DlogTable;
use crate::format::{digest, scalar_i64, Reader, Writer};
use crate::gt::vartime_multi_pow_small;
use crate::internals::{
    generator_combs, key_pairing, project_pair, to_affine_g1, to_affine_g2, Body, Randomness,
};
use crate::quant::{QuantisedQuadratic, MAX_DIM};
use crate::secret::SecretScalar;
use crate::small_multiples::{ct_signed_lookup, multiples};
use crate::{Error, Result};

/// Largest input magnitude a public key may declare (the encryptor tabulates `0..=max` multiples).
pub const MAX_INPUT: i64 = 1 << 16;

/// Master public key: `n` inputs (plus the bias slot), the declared input range, `g1^{s_i}`, `g2^{t_i}`.
#[derive(Clone, Debug, PartialEq)]
pub struct PublicKey {
    inputs: usize,
    x_min: i64,
    x_max: i64,
    h: Vec<G1Affine>,
    u: Vec<G2Affine>,
}

/// Master secret key `(s, t)` with the public key's declared input range; `Debug` does not print it; erased
/// from memory when dropped ([`Zeroize`], [`ZeroizeOnDrop`]).
#[derive(Clone, PartialEq)]
pub struct MasterSecretKey {
    s: Vec<SecretScalar>,
    t: Vec<SecretScalar>,
    pk_id: [u8; 32],
    x_min: i64,
    x_max: i64,
}

impl Zeroize for MasterSecretKey {
    /// Erases `s` and `t` (volatile writes) and empties them: the key's dimension becomes 0.
    fn zeroize(&mut self) {
        self.s.zeroize();
        self.t.zeroize();
    }
}

impl Drop for MasterSecretKey {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for MasterSecretKey {}

impl std::fmt::Debug for MasterSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterSecretKey")
            .field("dimension", &self.s.len())
            .finish_non_exhaustive()
    }
}

/// Functional key for one quantised model: one G2 element per output, bound to the model digest and to
/// the master public key, and carrying the input range `[x_min, x_max]` the public key declares (from which
/// [`decrypt`] derives its discrete-log bound).
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionalKey {
    model_id: [u8; 32],
    pk_id: [u8; 32],
    x_min: i64,
    x_max: i64,
    keys: Vec<G2Affine>,
}

/// Ciphertext of one input vector under a master public key.
#[derive(Clone, Debug, PartialEq)]
pub struct Ciphertext {
    pk_id: [u8; 32],
    body: Body,
}

/// A public key with per-element comb tables for fast encryption (`2^teeth` points per element of `pk`:
/// with 6 teeth and n = 784, about 14.5 MB).
#[derive(Debug)]
pub struct PreparedPublicKey {
    pk: PublicKey,
    pk_id: [u8; 32],
    h: Vec<Comb<G1Projective>>,
    u: Vec<Comb<G2Projective>>,
}

const PK_MAGIC: &[u8; 8] = b"PSFEQPK_";
const MSK_MAGIC: &[u8; 8] = b"PSFEQMSK";
const KEY_MAGIC: &[u8; 8] = b"PSFEQFK_";
const CT_MAGIC: &[u8; 8] = b"PSFEQCT_";
/// Version of the public key and ciphertext encodings.
const VERSION: u32 = 1;
/// Version of the master secret key and functional key encodings (2: they carry the input range).
const KEY_VERSION: u32 = 2;

/// Size of the group elements of a ciphertext of `n` inputs, bytes: `48 + (n + 1)(2*48 + 2*96)`.
pub fn ciphertext_group_bytes(inputs: usize) -> usize {
    48 + (inputs + 1) * (2 * 48 + 2 * 96)
}

/// Size of the header of a serialised ciphertext, bytes (magic, version, key id, dimension).
pub const CIPHERTEXT_HEADER_BYTES: usize = 8 + 4 + 32 + 8;

/// Generates a master key pair for `inputs` inputs with inputs declared in `[x_min, x_max]` (pixels:
/// `[0, 255]`). Costs `2 (n + 1)` constant-time library scalar multiplications.
///
/// # Errors
/// [`Error::Parameter`] for a zero or too large dimension or an empty/too wide range.
pub fn setup<R: RngCore + CryptoRng>(
    inputs: usize,
    x_min: i64,
    x_max: i64,
    rng: &mut R,
) -> Result<(PublicKey, MasterSecretKey)> {
    if inputs == 0 || inputs > MAX_DIM {
        return Err(Error::param(
            "inputs",
            format!("must be in 1..={MAX_DIM}, got {inputs}"),
        ));
    }
    if x_min > x_max || x_min < -MAX_INPUT || x_max > MAX_INPUT {
        return Err(Error::param(
            "input range",
            format!("need -{MAX_INPUT} <= x_min <= x_max <= {MAX_INPUT}, got [{x_min}, {x_max}]"),
        ));
    }
    let d = inputs + 1;
    let s: Vec<SecretScalar> = (0..d)
        .map(|_| SecretScalar(Scalar::random(&mut *rng)))
        .collect();
    let t: Vec<SecretScalar> = (0..d)
        .map(|_| SecretScalar(Scalar::random(&mut *rng)))
        .collect();
    let h: Vec<G1Projective> = s
        .par_iter()
        .map(|v| G1Projective::generator() * v.0)
        .collect();
    let u: Vec<G2Projective> = t
        .par_iter()
        .map(|v| G2Projective::generator() * v.0)
        .collect();
    let pk = PublicKey {
        inputs,
        x_min,
        x_max,
        h: to_affine_g1(&h),
        u: to_affine_g2(&u),
    };
    let pk_id = pk.id();
    Ok((
        pk,
        MasterSecretKey {
            s,
            t,
            pk_id,
            x_min,
            x_max,
        },
    ))
}

impl PublicKey {
    /// Number of inputs `n` (the dimension is `n + 1` with the bias slot).
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Declared input range `[x_min, x_max]`.
    pub fn input_range(&self) -> (i64, i64) {
        (self.x_min, self.x_max)
    }

    /// SHA-256 of the encoding: the identifier keys and ciphertexts carry.
    pub fn id(&self) -> [u8; 32] {
        digest(&self.to_bytes())
    }

    /// Versioned binary encoding (magic `PSFEQPK_`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(PK_MAGIC, VERSION);
        w.u64(self.inputs as u64);
        w.i64(self.x_min);
        w.i64(self.x_max);
        self.h.iter().for_each(|p| w.g1(p));
        self.u.iter().for_each(|p| w.g2(p));
        w.buf
    }

    /// Decodes [`PublicKey::to_bytes`], checking every point (curve, subgroup) and length.
    ///
    /// # Errors
    /// [`Error::Format`].
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let mut r = Reader::new(b, "master public key", PK_MAGIC, VERSION)?;
        let inputs = r.u64()?;
        let x_min = r.i64()?;
        let x_max = r.i64()?;
        if inputs == 0
            || inputs > MAX_DIM as u64
            || x_min > x_max
            || x_min < -MAX_INPUT
            || x_max > MAX_INPUT
        {
            return Err(Error::format(
                "master public key",
                format!("bad header: inputs {inputs}, range [{x_min}, {x_max}]"),
            ));
        }
        let d = r.expect_items(inputs + 1, 48 + 96)?;
        let h = (0..d).map(|_| r.g1()).collect::<Result<Vec<_>>>()?;
        let u = (0..d).map(|_| r.g2()).collect::<Result<Vec<_>>>()?;
        r.finish()?;
        Ok(PublicKey {
            inputs: inputs as usize,
            x_min,
            x_max,
            h,
            u,
        })
    }

    /// Precomputes comb tables of every element (`teeth` in 1..=12; 6 is a good default) for
    /// [`PreparedPublicKey::encrypt`].
    ///
    /// # Errors
    /// [`Error::Parameter`] for a bad `teeth`.
    pub fn prepare(&self, teeth: usize) -> Result<PreparedPublicKey> {
        let h = self
            .h
            .par_iter()
            .map(|p| Comb::new(&G1Projective::from(p), teeth))
            .collect::<Result<Vec<_>>>()?;
        let u = self
            .u
            .par_iter()
            .map(|p| Comb::new(&G2Projective::from(p), teeth))
            .collect::<Result<Vec<_>>>()?;
        Ok(PreparedPublicKey {
            pk: self.clone(),
            pk_id: self.id(),
            h,
            u,
        })
    }

    /// Encrypts `x` (`[inputs]`, each in the declared range; the bias slot 1 is prepended), using the
    /// library's variable-base scalar multiplication on `pk`. See [`PreparedPublicKey::encrypt`] for the
    /// faster path.
    ///
    /// # Errors
    /// [`Error::Length`], [`Error::InputOutOfRange`].
    pub fn encrypt<R: RngCore + CryptoRng>(&self, x: &[i64], rng: &mut R) -> Result<Ciphertext> {
        let h = &self.h;
        let u = &self.u;
        encrypt_with(self, self.id(), x, rng, |i, k| h[i] * k, |i, k| u[i] * k)
    }

    /// [`PublicKey::encrypt`] for pixels.
    ///
    /// # Errors
    /// As [`PublicKey::encrypt`].
    pub fn encrypt_pixels<R: RngCore + CryptoRng>(
        &self,
        pixels: &[u8],
        rng: &mut R,
    ) -> Result<Ciphertext> {
        let x: Vec<i64> = pixels.iter().map(|p| *p as i64).collect();
        self.encrypt(&x, rng)
    }
}

impl PreparedPublicKey {
    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.pk
    }

    /// Encrypts `x` (`[inputs]`) with the comb tables: per coordinate 2 G1 + 2 G2 comb multiplications
    /// (variable time in the ephemeral `gamma`, `W`) plus table look-ups for `x_i`. Parallel over
    /// coordinates with rayon.
    ///
    /// # Errors
    /// [`Error::Length`], [`Error::InputOutOfRange`].
    pub fn encrypt<R: RngCore + CryptoRng>(&self, x: &[i64], rng: &mut R) -> Result<Ciphertext> {
        let (h, u) = (&self.h, &self.u);
        encrypt_with(
            &self.pk,
            self.pk_id,
            x,
            rng,
            |i, k| h[i].vartime_mul(k),
            |i, k| u[i].vartime_mul(k),
        )
    }

    /// [`PreparedPublicKey::encrypt`] for pixels.
    ///
    /// # Errors
    /// As [`PreparedPublicKey::encrypt`].
    pub fn encrypt_pixels<R: RngCore + CryptoRng>(
        &self,
        pixels: &[u8],
        rng: &mut R,
    ) -> Result<Ciphertext> {
        let x: Vec<i64> = pixels.iter().map(|p| *p as i64).collect();
        self.encrypt(&x, rng)
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

impl MasterSecretKey {
    /// Dimension `n + 1`.
    pub fn dimension(&self) -> usize {
        self.s.len()
    }

    /// Issues the functional key of `model`: `sk_c = g2^{sum_j Q[j][c] (P_j.s)(P_j.t)}` for each output
    /// (constant-time library multiplication).
    ///
    /// # Errors
    /// [`Error::Dimension`] when the model's input count does not match the key.
    pub fn keygen(&self, model: &QuantisedQuadratic) -> Result<FunctionalKey> {
        if model.inputs + 1 != self.s.len() {
            return Err(Error::Dimension {
                what: "model inputs + 1 vs master secret key",
                expected: self.s.len(),
                got: model.inputs + 1,
            });
        }
        // `P_j . s` and `P_j . t`: secret, erased after use.
        let mut proj: Vec<[SecretScalar; 2]> = (0..model.hidden)
            .into_par_iter()
            .map(|j| {
                let row = model.p_row(j);
                let mut ps = Scalar::ZERO;
                let mut pt = Scalar::ZERO;
                for (i, p) in row.iter().enumerate() {
                    if *p != 0 {
                        let k = scalar_i64(*p);
                        ps += k * self.s[i].0;
                        pt += k * self.t[i].0;
                    }
                }
                [SecretScalar(ps), SecretScalar(pt)]
            })
            .collect();
        let keys: Vec<(G2Projective, bool)> = (0..model.outputs)
            .into_par_iter()
            .map(|c| {
                let mut f = SecretScalar(Scalar::ZERO);
                for (j, [ps, pt]) in proj.iter().enumerate() {
                    f.0 += scalar_i64(model.q[j * model.outputs + c]) * ps.0 * pt.0;
                }
                let zero = bool::from(f.0.is_zero());
                let k = G2Projective::generator() * f.0;
                f.zeroize();
                (k, zero)
            })
            .collect();
        proj.zeroize();
        // A zero exponent (an output whose Q column is all zero) gives the identity element, which
        // `FunctionalKey::from_bytes` refuses; refuse it here too, naming the output.
        if let Some(c) = keys.iter().position(|(_, zero)| *zero) {
            return Err(Error::param(
                "model for key generation",
                format!(
                    "output {c} is identically zero (all Q[j][{c}] = 0): no key is issued for it"
                ),
            ));
        }
        let keys: Vec<G2Projective> = keys.into_iter().map(|(k, _)| k).collect();
        Ok(FunctionalKey {
            model_id: model.digest(),
            pk_id: self.pk_id,
            x_min: self.x_min,
            x_max: self.x_max,
            keys: to_affine_g2(&keys),
        })
    }

    /// Writes [`MasterSecretKey::to_bytes`] to `path` atomically, readable by the owner only (mode 0600 on
    /// Unix, set on the temporary file before any byte is written).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be written.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        crate::format::write_secret(path, &self.to_bytes())
    }

    /// Versioned binary encoding (magic `PSFEQMSK`, version 2), in a buffer erased when dropped (allocated
    /// at its final size, so no partial copy is left behind by reallocation). Secret: store it with
    /// [`MasterSecretKey::save`].
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let len = 8 + 4 + 32 + 8 + 8 + 8 + 2 * 32 * self.s.len();
        let mut w = Writer::with_capacity(MSK_MAGIC, KEY_VERSION, len);
        w.bytes(&self.pk_id);
        w.i64(self.x_min);
        w.i64(self.x_max);
        w.u64(self.s.len() as u64);
        self.s.iter().chain(&self.t).for_each(|v| w.scalar(&v.0));
        Zeroizing::new(w.buf)
    }

    /// Decodes [`MasterSecretKey::to_bytes`].
    ///
    /// # Errors
    /// [`Error::Format`].
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let mut r = Reader::new(b, "master secret key", MSK_MAGIC, KEY_VERSION)?;
        let pk_id = r.array32()?;
        let (x_min, x_max) = read_range(&mut r, "master secret key")?;
        let d = r.u64()?;
        if d < 2 || d > MAX_DIM as u64 + 1 {
            return Err(Error::format("master secret key", format!("dimension {d}")));
        }
        let d = r.expect_items(2 * d, 32)? / 2;
        let s = (0..d)
            .map(|_| r.scalar().map(SecretScalar))
            .collect::<Result<Vec<_>>>()?;
        let t = (0..d)
            .map(|_| r.scalar().map(SecretScalar))
            .collect::<Result<Vec<_>>>()?;
        r.finish()?;
        Ok(MasterSecretKey {
            s,
            t,
            pk_id,
            x_min,
            x_max,
        })
    }
}

impl FunctionalKey {
    /// Number of outputs (G2 elements).
    pub fn outputs(&self) -> usize {
        self.keys.len()
    }

    /// Declared input range `[x_min, x_max]` of the public key this key belongs to.
    pub fn input_range(&self) -> (i64, i64) {
        (self.x_min, self.x_max)
    }

    /// Versioned binary encoding (magic `PSFEQFK_`, version 2).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(KEY_MAGIC, KEY_VERSION);
        w.bytes(&self.model_id);
        w.bytes(&self.pk_id);
        w.i64(self.x_min);
        w.i64(self.x_max);
        w.u64(self.keys.len() as u64);
        self.keys.iter().for_each(|k| w.g2(k));
        w.buf
    }

    /// Decodes [`FunctionalKey::to_bytes`], checking each point.
    ///
    /// # Errors
    /// [`Error::Format`].
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let mut r = Reader::new(b, "functional key", KEY_MAGIC, KEY_VERSION)?;
        let model_id = r.array32()?;
        let pk_id = r.array32()?;
        let (x_min, x_max) = read_range(&mut r, "functional key")?;
        let k = r.u64()?;
        if k == 0 || k > MAX_DIM as u64 {
            return Err(Error::format("functional key", format!("{k} outputs")));
        }
        let k = r.expect_items(k, 96)?;
        let keys = (0..k).map(|_| r.g2()).collect::<Result<Vec<_>>>()?;
        r.finish()?;
        Ok(FunctionalKey {
            model_id,
            pk_id,
            x_min,
            x_max,
            keys,
        })
    }
}

/// Reads and checks a declared input range `[x_min, x_max]` (within `[-MAX_INPUT, MAX_INPUT]`).
fn read_range(r: &mut Reader<'_>, what: &'static str) -> Result<(i64, i64)> {
    let x_min = r.i64()?;
    let x_max = r.i64()?;
    if x_min > x_max || x_min < -MAX_INPUT || x_max > MAX_INPUT {
        return Err(Error::format(
            what,
            format!("input range [{x_min}, {x_max}] outside -{MAX_INPUT} <= x_min <= x_max <= {MAX_INPUT}"),
        ));
    }
    Ok((x_min, x_max))
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

/// Decrypts the outputs of `model` on the encrypted input: returns `[outputs]` integers equal to
/// [`QuantisedQuadratic::eval_plain`] of the plaintext. Parallel over hidden units and outputs (rayon).
///
/// The discrete-log bound is the one the model and the key's declared input range imply
/// ([`QuantisedQuadratic::dlog_bound_for_range`] of [`FunctionalKey::input_range`]), and each search is
/// further limited by the table's giant-step cap ([`DlogTable::with_max_giant_steps`]): a tampered
/// ciphertext costs at most `2 * min(bound / m + 1, cap)` multiplications in `G_T` per output.
///
/// # Errors
/// [`Error::Mismatch`] when the key is for another model or master key, or the ciphertext for another
/// master key; [`Error::Dimension`] when dimensions differ; [`Error::Decryption`] when a value lies
/// outside the bound or beyond the capped search.
pub fn decrypt(
    ct: &Ciphertext,
    key: &FunctionalKey,
    model: &QuantisedQuadratic,
    table: &DlogTable,
) -> Result<Vec<i64>> {
    let g = decrypt_to_gt(ct, key, model)?;
    let bound = model.dlog_bound_for_range(key.x_min, key.x_max)?;
    g.par_iter()
        .map(|e| table.vartime_solve(e, bound))
        .collect()
}

/// Decryption up to the discrete logarithm: `g_T^{f_c(x)}` for each output (`[outputs]`).
///
/// # Errors
/// As [`decrypt`], without the discrete-log failure.
pub fn decrypt_to_gt(
    ct: &Ciphertext,
    key: &FunctionalKey,
    model: &QuantisedQuadratic,
) -> Result<Vec<Gt>> {
    if key.model_id != model.digest() {
        return Err(Error::Mismatch {
            what: "functional key",
            other: "model",
        });
    }
    if key.pk_id != ct.pk_id {
        return Err(Error::Mismatch {
            what: "functional key and ciphertext",
            other: "master public key",
        });
    }
    if ct.body.a[0].len() != model.inputs + 1 {
        return Err(Error::Dimension {
            what: "ciphertext dimension vs model inputs + 1",
            expected: model.inputs + 1,
            got: ct.body.a[0].len(),
        });
    }
    if key.keys.len() != model.outputs {
        return Err(Error::Dimension {
            what: "functional key outputs",
            expected: model.outputs,
            got: key.keys.len(),
        });
    }
    let e: Vec<Gt> = (0..model.hidden)
        .into_par_iter()
        .map(|j| project_pair(&ct.body, model.p_row(j)))
        .collect();
    let out: Vec<Gt> = (0..model.outputs)
        .into_par_iter()
        .map(|c| {
            let q: Vec<i64> = (0..model.hidden)
                .map(|j| model.q[j * model.outputs + c])
                .collect();
            vartime_multi_pow_small(&e, &q) + key_pairing(&ct.body.c0, &key.keys[c])
        })
        .collect();
    Ok(out)
}
