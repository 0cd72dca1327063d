//! Tables of the small multiples `[0, P, 2P, ..., vmax P]` of a point, and their constant-time signed
//! look-up `sign(x) |x| P` (public-key encryption: `g1^{m11 x_i}` and the like for every pixel value `x_i`,
//! Ryffel et al., NeurIPS 2019, §3; see `docs/FE.md`, "Constant time and variable time").

use group::Curve;
use subtle::{ConditionallyNegatable, ConditionallySelectable, ConstantTimeEq};

/// `[base^0, base^1, ..., base^max]` in affine form.
pub(crate) fn multiples<G>(base: G, max: usize) -> Vec<G::AffineRepr>
where
    G: Curve,
    G::AffineRepr: Clone,
{
    let mut proj = Vec::with_capacity(max + 1);
    let mut acc = G::identity();
    for _ in 0..=max {
        proj.push(acc);
        acc += base;
    }
    let mut out = vec![G::identity().to_affine(); max + 1];
    G::batch_normalize(&proj, &mut out);
    out
}

/// `sign(x) * table[|x|]`, reading every entry of `table` (`[0, vmax]` multiples of a point) and selecting
/// with `subtle`'s constant-time conditional assignment, so that neither the memory access pattern nor a
/// branch depends on the plaintext value `x`. `table` is non-empty ([`multiples`] returns `max + 1 >= 1`
/// entries) and `|x| < table.len()` (the caller range-checks `x` first); an index beyond selects entry 0.
pub(crate) fn ct_signed_lookup<A, P>(table: &[A], x: i64) -> P
where
    A: ConditionallySelectable,
    P: From<A> + ConditionallyNegatable,
{
    let idx = x.unsigned_abs();
    let mut out = table[0];
    for (k, entry) in table.iter().enumerate() {
        out.conditional_assign(entry, (k as u64).ct_eq(&idx));
    }
    let mut p = P::from(out);
    p.conditional_negate(subtle::Choice::from(((x as u64) >> 63) as u8));
    p
}
