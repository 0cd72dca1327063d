//! Operations in the target group `G_T` that `blstrs` does not offer: powering by a *small* signed integer
//! and a 64-bit key of an element for the discrete-log table.
//!
//! `blstrs` `Gt * Scalar` always runs over 255 bits (about 0.9 ms); square-and-multiply over the few bits
//! of a quantised weight costs a handful of `F_p^12` squarings and multiplications. The inverse of an
//! element of the cyclotomic subgroup is its conjugate (library `Neg`), so negative exponents are free.
//! Both routines are tested against the library's `Gt * Scalar`.

use blstrs::Gt;
use group::Group;
use serde::ser::{self, Impossible, Serialize, SerializeStruct, SerializeTuple, Serializer};

/// `base^e` in `G_T` (written additively in `blstrs`: `e * base`) by left-to-right square-and-multiply,
/// variable time in `e`.
pub fn vartime_pow_small(base: &Gt, e: i64) -> Gt {
    let mag = e.unsigned_abs();
    let mut acc = Gt::identity();
    if mag == 0 {
        return acc;
    }
    let b = if e < 0 { -*base } else { *base };
    let top = u64::BITS - mag.leading_zeros();
    for i in (0..top).rev() {
        acc = acc.double();
        if (mag >> i) & 1 == 1 {
            acc += &b;
        }
    }
    acc
}

/// `prod_k bases[k]^exps[k]` by interleaved (Straus) square-and-multiply sharing the squarings, variable
/// time in the exponents. Source: E. G. Straus, "Addition chains of vectors", Amer. Math. Monthly 71
/// (1964); the "simultaneous multiple exponentiation" of the Handbook of Applied Cryptography, Alg. 14.88.
pub fn vartime_multi_pow_small(bases: &[Gt], exps: &[i64]) -> Gt {
    let n = bases.len().min(exps.len());
    let signed: Vec<Gt> = (0..n)
        .map(|k| if exps[k] < 0 { -bases[k] } else { bases[k] })
        .collect();
    let top = exps[..n]
        .iter()
        .map(|e| u64::BITS - e.unsigned_abs().leading_zeros())
        .max()
        .unwrap_or(0);
    let mut acc = Gt::identity();
    for i in (0..top).rev() {
        acc = acc.double();
        for k in 0..n {
            if (exps[k].unsigned_abs() >> i) & 1 == 1 {
                acc += &signed[k];
            }
        }
    }
    acc
}

/// The 72 canonical 64-bit limbs of the 12 `F_p` coefficients of an element of `G_T` (the order of
/// `blstrs`' own serde encoding). Collected through the library's `Serialize` impl, because `blstrs` does
/// not export `Fp12`'s accessors.
pub fn gt_limbs(x: &Gt) -> [u64; 72] {
    collect(x, 72)
}

fn collect(x: &Gt, limit: usize) -> [u64; 72] {
    let mut c = LimbCollector {
        limbs: [0; 72],
        len: 0,
        limit,
    };
    // The collector accepts exactly the shape of `blstrs`' encoding; any other shape leaves zeros, which
    // only weakens the key (the discrete-log search verifies every candidate).
    let _ = x.serialize(&mut c);
    c.limbs
}

/// 64-bit key of an element of `G_T` for the baby-step table: the low limb of the first coefficient mixed
/// with the second. Distinct elements can share a key; the discrete-log search verifies candidates.
pub fn gt_key(x: &Gt) -> u64 {
    // Stops the encoding after the first two coefficients (the collector returns an error there).
    let l = collect(x, 12);
    l[0] ^ l[6].rotate_left(32)
}

struct LimbCollector {
    limbs: [u64; 72],
    len: usize,
    limit: usize,
}

#[derive(Debug)]
struct CollectError;

impl std::fmt::Display for CollectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("unexpected shape in G_T encoding")
    }
}
impl std::error::Error for CollectError {}
impl ser::Error for CollectError {
    fn custom<T: std::fmt::Display>(_msg: T) -> Self {
        CollectError
    }
}

macro_rules! reject {
    ($($name:ident: $t:ty),*) => {
        $(fn $name(self, _v: $t) -> Result<(), CollectError> { Err(CollectError) })*
    };
}

impl Serializer for &mut LimbCollector {
    type Ok = ();
    type Error = CollectError;
    type SerializeSeq = Impossible<(), CollectError>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Impossible<(), CollectError>;
    type SerializeTupleVariant = Impossible<(), CollectError>;
    type SerializeMap = Impossible<(), CollectError>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), CollectError>;

    fn serialize_u64(self, v: u64) -> Result<(), CollectError> {
        if self.len >= self.limit {
            return Err(CollectError);
        }
        self.limbs[self.len] = v;
        self.len += 1;
        Ok(())
    }
    reject!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_f32: f32, serialize_f64: f64, serialize_char: char, serialize_str: &str,
        serialize_bytes: &[u8]);
    fn serialize_none(self) -> Result<(), CollectError> {
        Err(CollectError)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _v: &T) -> Result<(), CollectError> {
        Err(CollectError)
    }
    fn serialize_unit(self) -> Result<(), CollectError> {
        Err(CollectError)
    }
    fn serialize_unit_struct(self, _n: &'static str) -> Result<(), CollectError> {
        Err(CollectError)
    }
    fn serialize_unit_variant(
        self,
        _n: &'static str,
        _i: u32,
        _v: &'static str,
    ) -> Result<(), CollectError> {
        Err(CollectError)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _n: &'static str,
        v: &T,
    ) -> Result<(), CollectError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _n: &'static str,
        _i: u32,
        _v: &'static str,
        _t: &T,
    ) -> Result<(), CollectError> {
        Err(CollectError)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, CollectError> {
        Err(CollectError)
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self, CollectError> {
        Ok(self)
    }
    fn serialize_tuple_struct(
        self,
        _n: &'static str,
        _l: usize,
    ) -> Result<Self::SerializeTupleStruct, CollectError> {
        Err(CollectError)
    }
    fn serialize_tuple_variant(
        self,
        _n: &'static str,
        _i: u32,
        _v: &'static str,
        _l: usize,
    ) -> Result<Self::SerializeTupleVariant, CollectError> {
        Err(CollectError)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, CollectError> {
        Err(CollectError)
    }
    fn serialize_struct(self, _n: &'static str, _len: usize) -> Result<Self, CollectError> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _n: &'static str,
        _i: u32,
        _v: &'static str,
        _l: usize,
    ) -> Result<Self::SerializeStructVariant, CollectError> {
        Err(CollectError)
    }
}

impl SerializeTuple for &mut LimbCollector {
    type Ok = ();
    type Error = CollectError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), CollectError> {
        v.serialize(&mut **self)
    }
    fn end(self) -> Result<(), CollectError> {
        Ok(())
    }
}

impl SerializeStruct for &mut LimbCollector {
    type Ok = ();
    type Error = CollectError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        _k: &'static str,
        v: &T,
    ) -> Result<(), CollectError> {
        v.serialize(&mut **self)
    }
    fn end(self) -> Result<(), CollectError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::scalar_i64;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn small_powers_match_library() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let g = Gt::random(&mut rng);
        for e in [0i64, 1, -1, 2, 7, -8, 255, -256, 12345, -(1 << 40)] {
            assert_eq!(vartime_pow_small(&g, e), g * scalar_i64(e), "e={e}");
        }
        let bases: Vec<Gt> = (0..5).map(|_| Gt::random(&mut rng)).collect();
        let exps = [3i64, -7, 0, 31, -1];
        let want: Gt = bases
            .iter()
            .zip(&exps)
            .map(|(b, e)| b * scalar_i64(*e))
            .sum();
        assert_eq!(vartime_multi_pow_small(&bases, &exps), want);
    }

    #[test]
    fn limbs_are_filled_and_distinguish() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let a = Gt::random(&mut rng);
        let b = a + Gt::generator();
        let la = gt_limbs(&a);
        assert!(
            la.iter().filter(|x| **x != 0).count() > 60,
            "all 72 limbs collected"
        );
        assert_ne!(gt_key(&a), gt_key(&b));
        assert_eq!(gt_key(&a), gt_key(&(b - Gt::generator())));
        // identity = 1 in F_p^12: first limb 1, all others 0.
        let one = gt_limbs(&Gt::identity());
        assert_eq!(one[0], 1);
        assert!(one[1..].iter().all(|x| *x == 0));
    }
}
