//! Secret-key functional encryption for bilinear forms `x^T F y` (SGP).
//!
//! Source: E. Dufour-Sans, R. Gay, D. Pointcheval, "Reading in the Dark: Classifying Encrypted Digits with
//! Functional Encryption", ePrint 2018/206, §3 (the scheme GoFE and CiFEr implement as `SGP`), here on
//! BLS12-381 and sharing the internals of [`crate::quadratic`]:
//!
//! * **Setup**: `msk = (s, t) in Z_r^n x Z_r^n`.
//! * **Encrypt** `(x, y)`: random `gamma`, `W in GL_2`; `c0 = g1^gamma`, `a_i = g1^{W^{-T}(x_i, gamma s_i)}`,
//!   `b_j = g2^{W (y_j, -t_j)}` (fixed-base comb tables of the generators).
//! * **DeriveKey** `F`: `sk_F = g2^{s^T F t}`.
//! * **Decrypt**: `A_j = sum_i F_ij a_i` (small-scalar MSM), then one multi-Miller loop over
//!   `(A_j, b_j)` (both components) and `(c0, sk_F)` and one final exponentiation give
//!   `g_T^{x^T F y}`; a bounded discrete logarithm gives the value.

use blstrs::{G1Affine, G1Projective, G2Affine, G2Projective, Scalar};
use ff::Field;
use group::{Curve, Group};
use rand_core::{CryptoRng, RngCore};
use rayon::prelude::*;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::dlog::DlogTable;
use crate::format::{digest, scalar_i64};
use crate::internals::{
    generator_combs, multi_pairing, to_affine_g1, to_affine_g2, Body, Randomness,
};
use crate::msm::vartime_msm_small;
use crate::quant::MAX_DIM;
use crate::secret::SecretScalar;
use crate::{Error, Result};

/// Square integer matrix `F` (`n x n`) of a bilinear form `x^T F y`, stored sparse (non-zero entries in
/// row-major order), so that diagonal forms cost `O(n)` everywhere.
#[derive(Clone, Debug, PartialEq)]
pub struct BilinearForm {
    n: usize,
    /// `(row i, column j, F_ij)` for `F_ij != 0`, sorted by `(i, j)`.
    entries: Vec<(usize, usize, i64)>,
}

impl BilinearForm {
    /// `F` from its `[n][n]` row-major entries.
    ///
    /// # Errors
    /// [`Error::Length`] when `f.len() != n * n` or `n == 0`.
    pub fn new(n: usize, f: Vec<i64>) -> Result<Self> {
        if f.len() != n * n || n == 0 {
            return Err(Error::Length {
                what: "bilinear form F [n][n]",
                expected: n * n,
                got: f.len(),
            });
        }
        let entries = f
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0)
            .map(|(k, v)| (k / n, k % n, *v))
            .collect();
        Ok(BilinearForm { n, entries })
    }

    /// Diagonal `F` (`[n]` diagonal entries).
    pub fn diagonal(d: &[i64]) -> Self {
        let entries = d
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0)
            .map(|(i, v)| (i, i, *v))
            .collect();
        BilinearForm {
            n: d.len(),
            entries,
        }
    }

    /// Dimension `n`.
    pub fn n(&self) -> usize {
        self.n
    }

    /// `x^T F y` in 128-bit integers.
    ///
    /// # Errors
    /// [`Error::Length`] for vectors of the wrong length.
    pub fn eval(&self, x: &[i64], y: &[i64]) -> Result<i128> {
        check_len("x", x, self.n)?;
        check_len("y", y, self.n)?;
        Ok(self
            .entries
            .iter()
            .map(|(i, j, v)| *v as i128 * x[*i] as i128 * y[*j] as i128)
            .sum())
    }

    /// Worst case `sum |F_ij| * bx * by`: the discrete-log bound for `|x_i| <= bx`, `|y_j| <= by`.
    ///
    /// # Errors
    /// [`Error::Overflow`] above `2^62`.
    pub fn dlog_bound(&self, bx: u64, by: u64) -> Result<u64> {
        let s: u128 = self
            .entries
            .iter()
            .map(|e| e.2.unsigned_abs() as u128)
            .sum();
        let b = s.saturating_mul(bx as u128).saturating_mul(by as u128);
        if b > 1 << 62 {
            return Err(Error::Overflow {
                what: "SGP discrete-log bound",
                reason: format!("{b} exceeds 2^62"),
            });
        }
        Ok(b as u64)
    }

    fn digest(&self) -> [u8; 32] {
        let mut b = Vec::with_capacity(8 + 24 * self.entries.len());
        b.extend_from_slice(&(self.n as u64).to_le_bytes());
        for (i, j, v) in &self.entries {
            b.extend_from_slice(&(*i as u64).to_le_bytes());
            b.extend_from_slice(&(*j as u64).to_le_bytes());
            b.extend_from_slice(&v.to_le_bytes());
        }
        digest(&b)
    }

    /// Non-zero entries grouped by column: `[n]` lists of `(row, F_ij)`.
    fn columns(&self) -> Vec<Vec<(usize, i64)>> {
        let mut c = vec![Vec::new(); self.n];
        for (i, j, v) in &self.entries {
            c[*j].push((*i, *v));
        }
        c
    }
}

fn check_len(what: &'static str, v: &[i64], n: usize) -> Result<()> {
    if v.len() != n {
        return Err(Error::Length {
            what,
            expected: n,
            got: v.len(),
        });
    }
    Ok(())
}

/// SGP master secret key; `Debug` does not print it; erased from memory when dropped.
#[derive(Clone)]
pub struct SgpMasterKey {
    s: Vec<SecretScalar>,
    t: Vec<SecretScalar>,
    bound: i64,
    id: [u8; 32],
}

impl Zeroize for SgpMasterKey {
    /// Erases `s` and `t` (volatile writes) and empties them.
    fn zeroize(&mut self) {
        self.s.zeroize();
        self.t.zeroize();
    }
}

impl Drop for SgpMasterKey {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for SgpMasterKey {}

impl std::fmt::Debug for SgpMasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SgpMasterKey")
            .field("n", &self.s.len())
            .field("bound", &self.bound)
            .finish_non_exhaustive()
    }
}

/// SGP functional key for one `F`.
#[derive(Clone, Debug, PartialEq)]
pub struct SgpKey {
    id: [u8; 32],
    form: [u8; 32],
    k: G2Affine,
}

/// SGP ciphertext of `(x, y)`.
#[derive(Clone, Debug, PartialEq)]
pub struct SgpCiphertext {
    id: [u8; 32],
    body: Body,
}

impl SgpCiphertext {
    /// Size of the compressed group elements: `48 + n (2*48 + 2*96)` bytes.
    pub fn group_bytes(&self) -> usize {
        48 + self.body.a[0].len() * (2 * 48 + 2 * 96)
    }
}

impl SgpMasterKey {
    /// Setup for dimension `n` and entries `|x_i|, |y_j| <= bound`.
    ///
    /// # Errors
    /// [`Error::Parameter`] for `n` outside `1..=2^20` or a bound outside `1..=2^20`.
    pub fn setup<R: RngCore + CryptoRng>(n: usize, bound: i64, rng: &mut R) -> Result<Self> {
        if n == 0 || n > MAX_DIM {
            return Err(Error::param(
                "n",
                format!("must be in 1..={MAX_DIM}, got {n}"),
            ));
        }
        if !(1..=1 << 20).contains(&bound) {
            return Err(Error::param(
                "bound",
                format!("must be in 1..=2^20, got {bound}"),
            ));
        }
        let s = (0..n)
            .map(|_| SecretScalar(Scalar::random(&mut *rng)))
            .collect();
        let t = (0..n)
            .map(|_| SecretScalar(Scalar::random(&mut *rng)))
            .collect();
        let mut id = [0u8; 32];
        rng.fill_bytes(&mut id);
        Ok(SgpMasterKey { s, t, bound, id })
    }

    /// Dimension `n`.
    pub fn n(&self) -> usize {
        self.s.len()
    }

    /// Encrypts `(x, y)` (`[n]` each, `|entries| <= bound`). Fixed-base comb multiplications, variable time
    /// in the exponents (which involve `msk`, see `docs/FE.md`); parallel over coordinates.
    ///
    /// # Errors
    /// [`Error::Length`], [`Error::InputOutOfRange`].
    pub fn encrypt<R: RngCore + CryptoRng>(
        &self,
        x: &[i64],
        y: &[i64],
        rng: &mut R,
    ) -> Result<SgpCiphertext> {
        let n = self.s.len();
        check_len("x", x, n)?;
        check_len("y", y, n)?;
        for (what, v) in [("x", x), ("y", y)] {
            if let Some((i, val)) = v.iter().enumerate().find(|(_, e)| e.abs() > self.bound) {
                return Err(Error::InputOutOfRange {
                    what,
                    index: i,
                    value: *val,
                    min: -self.bound,
                    max: self.bound,
                });
            }
        }
        let r = Randomness::sample(rng);
        let (g1c, g2c) = generator_combs();
        let (m, w) = (&r.m, &r.w);
        let a: Vec<[G1Projective; 2]> = (0..n)
            .into_par_iter()
            .map(|i| {
                let xi = scalar_i64(x[i]);
                let gs = r.gamma.0 * self.s[i].0;
                [
                    g1c.vartime_mul(&(m[0].0 * xi + m[1].0 * gs)),
                    g1c.vartime_mul(&(m[2].0 * xi + m[3].0 * gs)),
                ]
            })
            .collect();
        let b: Vec<[G2Projective; 2]> = (0..n)
            .into_par_iter()
            .map(|j| {
                let yj = scalar_i64(y[j]);
                [
                    g2c.vartime_mul(&(w[0].0 * yj - w[1].0 * self.t[j].0)),
                    g2c.vartime_mul(&(w[2].0 * yj - w[3].0 * self.t[j].0)),
                ]
            })
            .collect();
        let split1 = |c: usize| to_affine_g1(&a.iter().map(|p| p[c]).collect::<Vec<_>>());
        let split2 = |c: usize| to_affine_g2(&b.iter().map(|p| p[c]).collect::<Vec<_>>());
        Ok(SgpCiphertext {
            id: self.id,
            body: Body {
                c0: g1c.vartime_mul(&r.gamma.0).to_affine(),
                a: [split1(0), split1(1)],
                b: [split2(0), split2(1)],
            },
        })
    }

    /// Derives the key of `F`: `g2^{s^T F t}` (one constant-time library multiplication).
    ///
    /// # Errors
    /// [`Error::Dimension`] when `F` is not `n x n`.
    pub fn derive_key(&self, form: &BilinearForm) -> Result<SgpKey> {
        let n = self.s.len();
        if form.n != n {
            return Err(Error::Dimension {
                what: "bilinear form",
                expected: n,
                got: form.n,
            });
        }
        let e: Scalar = form
            .entries
            .par_iter()
            .map(|(i, j, v)| scalar_i64(*v) * self.s[*i].0 * self.t[*j].0)
            .reduce(|| Scalar::ZERO, |a, b| a + b);
        let mut e = SecretScalar(e);
        let k = (G2Projective::generator() * e.0).to_affine();
        e.zeroize();
        Ok(SgpKey {
            id: self.id,
            form: form.digest(),
            k,
        })
    }
}

/// Decrypts `x^T F y` (`|value| <= bound`, e.g. [`BilinearForm::dlog_bound`]): MSM by the columns of `F`,
/// one multi-Miller loop (parallel chunks), one final exponentiation, one discrete logarithm.
///
/// # Errors
/// [`Error::Mismatch`] for a key of another `F` or master key, [`Error::Dimension`], [`Error::Decryption`]
/// when the value lies outside `bound`.
pub fn sgp_decrypt(
    ct: &SgpCiphertext,
    key: &SgpKey,
    form: &BilinearForm,
    table: &DlogTable,
    bound: u64,
) -> Result<i64> {
    if key.id != ct.id {
        return Err(Error::Mismatch {
            what: "SGP key and ciphertext",
            other: "master secret key",
        });
    }
    if key.form != form.digest() {
        return Err(Error::Mismatch {
            what: "SGP key",
            other: "bilinear form",
        });
    }
    let n = form.n;
    if ct.body.a[0].len() != n {
        return Err(Error::Dimension {
            what: "SGP ciphertext",
            expected: n,
            got: ct.body.a[0].len(),
        });
    }
    // A_j = sum_i F_ij a_i, both components; only columns with a non-zero entry.
    let columns = form.columns();
    let cols: Vec<(usize, G1Projective, G1Projective)> = columns
        .par_iter()
        .enumerate()
        .filter(|(_, col)| !col.is_empty())
        .map(|(j, col)| {
            let pts0: Vec<G1Affine> = col.iter().map(|(i, _)| ct.body.a[0][*i]).collect();
            let pts1: Vec<G1Affine> = col.iter().map(|(i, _)| ct.body.a[1][*i]).collect();
            let sc: Vec<i64> = col.iter().map(|(_, v)| *v).collect();
            (
                j,
                vartime_msm_small::<G1Projective>(&pts0, &sc),
                vartime_msm_small::<G1Projective>(&pts1, &sc),
            )
        })
        .collect();
    let a0 = to_affine_g1(&cols.iter().map(|c| c.1).collect::<Vec<_>>());
    let a1 = to_affine_g1(&cols.iter().map(|c| c.2).collect::<Vec<_>>());
    let mut pairs: Vec<(G1Affine, G2Affine)> = Vec::with_capacity(2 * cols.len() + 1);
    for (k, c) in cols.iter().enumerate() {
        pairs.push((a0[k], ct.body.b[0][c.0]));
        pairs.push((a1[k], ct.body.b[1][c.0]));
    }
    pairs.push((ct.body.c0, key.k));
    let g = multi_pairing(&pairs);
    table.vartime_solve(&g, bound)
}
