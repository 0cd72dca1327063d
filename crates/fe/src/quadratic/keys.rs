//! Key material of the public-key scheme: [`setup`] (master key pair), the master public key's encoding and
//! comb preparation, the master secret key ([`MasterSecretKey::keygen`] issues functional keys) and the
//! functional key's encoding.

use blstrs::{G1Projective, G2Projective, Scalar};
use ff::Field;
use group::Group;
use rand_core::{CryptoRng, RngCore};
use rayon::prelude::*;
use zeroize::{Zeroize, Zeroizing};

use super::{
    check_range, FunctionalKey, MasterSecretKey, PreparedPublicKey, PublicKey, KEY_MAGIC,
    KEY_VERSION, MSK_MAGIC, PK_MAGIC, VERSION,
};
use crate::comb::Comb;
use crate::format::{digest, scalar_i64, Reader, Writer};
use crate::internals::{to_affine_g1, to_affine_g2};
use crate::quant::{QuantisedQuadratic, MAX_DIM};
use crate::secret::SecretScalar;
use crate::{Error, Result};

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
    check_range(x_min, x_max).map_err(|why| Error::param("input range", why))?;
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
        let (x_min, x_max) = read_range(&mut r, "master public key")?;
        if inputs == 0 || inputs > MAX_DIM as u64 {
            return Err(Error::format(
                "master public key",
                format!("{inputs} inputs, expected 1..={MAX_DIM}"),
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
    /// [`EncryptionKey::encrypt`](super::encrypt::EncryptionKey::encrypt).
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
    check_range(x_min, x_max).map_err(|why| Error::format(what, format!("input range: {why}")))?;
    Ok((x_min, x_max))
}
