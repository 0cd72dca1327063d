//! Fixed-base scalar multiplication with a Lim–Lee comb table.
//!
//! Source: C. H. Lim and P. J. Lee, "More flexible exponentiation with precomputation", CRYPTO 1994,
//! single-table variant (one "column" of `h` teeth). The scalar `k < 2^(h*d)` is cut into `h` rows of
//! `d = ceil(255 / h)` bits, `k = sum_j k_j 2^(j d)`; the table holds `T[u] = sum_{j in u} 2^(j d) P` for
//! the `2^h` subsets `u` of rows, and `k P` costs `d` doublings and at most `d` mixed additions (instead of
//! about 255 doublings and 50 additions for a windowed variable-base multiplication).
//!
//! Only group operations of `blstrs` are used (doubling, mixed addition, batch normalisation); the result is
//! tested against the library's own `Scalar` multiplication.
//!
//! **Variable time**: the table index depends on the scalar (cache-timing leak on the machine that
//! multiplies). See `docs/FE.md` for where this is used.

use ff::PrimeField;
use group::Curve;
use std::ops::AddAssign;

use crate::{Error, Result};

/// A precomputed Lim–Lee comb table for one base point.
///
/// Memory: `2^h` affine points (G1: 96 bytes each, G2: 192 bytes each).
#[derive(Debug)]
pub struct Comb<G: Curve> {
    h: usize,
    d: usize,
    table: Vec<G::AffineRepr>,
}

/// Number of bits of a BLS12-381 scalar (the group order r < 2^255).
const SCALAR_BITS: usize = 255;

impl<G> Comb<G>
where
    G: Curve + for<'a> AddAssign<&'a G::AffineRepr>,
    G::AffineRepr: Clone,
{
    /// Precomputes the table of `base` with `h` teeth (`1 <= h <= 12`): `(h - 1) d` doublings and `2^h`
    /// additions.
    ///
    /// # Errors
    /// [`Error::Parameter`] when `h` is 0 or above 12.
    pub fn new(base: &G, h: usize) -> Result<Self> {
        if h == 0 || h > 12 {
            return Err(Error::param(
                "comb teeth h",
                format!("must be in 1..=12, got {h}"),
            ));
        }
        let d = SCALAR_BITS.div_ceil(h);
        let mut rows = Vec::with_capacity(h);
        let mut b = *base;
        for j in 0..h {
            if j > 0 {
                for _ in 0..d {
                    b = b.double();
                }
            }
            rows.push(b);
        }
        let mut proj = vec![G::identity(); 1 << h];
        for u in 1usize..(1 << h) {
            let top = usize::BITS as usize - 1 - u.leading_zeros() as usize;
            proj[u] = proj[u & !(1 << top)] + rows[top];
        }
        let mut table = vec![G::identity().to_affine(); 1 << h];
        G::batch_normalize(&proj, &mut table);
        Ok(Comb { h, d, table })
    }

    /// `k * base`, variable time (the table index depends on `k`).
    pub fn vartime_mul(&self, k: &blstrs::Scalar) -> G {
        let repr = k.to_repr();
        let bit = |i: usize| -> usize {
            if i >= 256 {
                0
            } else {
                ((repr[i >> 3] >> (i & 7)) & 1) as usize
            }
        };
        let mut acc = G::identity();
        for i in (0..self.d).rev() {
            acc = acc.double();
            let mut u = 0usize;
            for j in 0..self.h {
                u |= bit(j * self.d + i) << j;
            }
            if u != 0 {
                acc += &self.table[u];
            }
        }
        acc
    }

    /// Number of teeth `h` of this table.
    pub fn teeth(&self) -> usize {
        self.h
    }
}

/// A fixed-base table with one 8-bit window per scalar byte: `T[w][b] = b 256^w P` for `b in 1..=255`,
/// `w in 0..32`. `k P` costs at most 32 mixed additions and no doubling (the classic fixed-base windowed
/// method, Handbook of Applied Cryptography Alg. 14.109 with all window multiples stored). Memory:
/// `32 * 255` affine points (G1 0.8 MB, G2 1.6 MB) — meant for the two generators.
///
/// **Variable time**, like [`Comb`].
#[derive(Debug)]
pub struct FixedBase<G: Curve> {
    table: Vec<G::AffineRepr>,
}

impl<G> FixedBase<G>
where
    G: Curve + for<'a> AddAssign<&'a G::AffineRepr>,
    G::AffineRepr: Clone,
{
    /// Precomputes the table of `base` (about 8,200 additions).
    pub fn new(base: &G) -> Self {
        let mut proj = Vec::with_capacity(32 * 255);
        let mut wbase = *base;
        for _ in 0..32 {
            let mut acc = wbase;
            for _ in 0..255 {
                proj.push(acc);
                acc += wbase;
            }
            wbase = acc; // 256 * wbase
        }
        let mut table = vec![G::identity().to_affine(); proj.len()];
        G::batch_normalize(&proj, &mut table);
        FixedBase { table }
    }

    /// `k * base`, variable time.
    pub fn vartime_mul(&self, k: &blstrs::Scalar) -> G {
        let repr = k.to_repr();
        let mut acc = G::identity();
        for (w, b) in repr.iter().enumerate() {
            if *b != 0 {
                acc += &self.table[w * 255 + *b as usize - 1];
            }
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use blstrs::{G1Projective, G2Projective, Scalar};
    use ff::Field;
    use group::Group;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn comb_matches_library_scalar_multiplication() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for h in [1usize, 3, 6, 8] {
            let p1 = G1Projective::random(&mut rng);
            let p2 = G2Projective::random(&mut rng);
            let c1 = Comb::new(&p1, h).unwrap();
            let c2 = Comb::new(&p2, h).unwrap();
            let mut scalars = vec![
                Scalar::ZERO,
                Scalar::ONE,
                -Scalar::ONE,
                Scalar::from(255u64),
            ];
            for _ in 0..6 {
                scalars.push(Scalar::random(&mut rng));
            }
            for k in &scalars {
                assert_eq!(c1.vartime_mul(k), p1 * k, "G1 h={h}");
                assert_eq!(c2.vartime_mul(k), p2 * k, "G2 h={h}");
            }
        }
        let f1 = FixedBase::new(&G1Projective::generator());
        let f2 = FixedBase::new(&G2Projective::generator());
        for k in [
            Scalar::ZERO,
            Scalar::ONE,
            -Scalar::ONE,
            Scalar::from(256u64),
            Scalar::random(&mut rng),
            Scalar::random(&mut rng),
        ] {
            assert_eq!(f1.vartime_mul(&k), G1Projective::generator() * k);
            assert_eq!(f2.vartime_mul(&k), G2Projective::generator() * k);
        }
        assert!(Comb::new(&G1Projective::generator(), 0).is_err());
        assert!(Comb::new(&G1Projective::generator(), 13).is_err());
    }
}
