//! Cost of the constant-time table look-ups of one public-key encryption (n = 784 pixels: 2 G1 and 2 G2
//! look-ups per coordinate into tables of 256 multiples), against direct indexing by the pixel value:
//! `cargo run --release -p privsplit-fe --example ct_lookup_cost` (see docs/FE.md, "Constant time").
use group::{Curve, Group};
use privsplit_fe::blstrs::{G1Projective, G2Projective};
use subtle::{ConditionallySelectable, ConstantTimeEq};
fn scan<A: ConditionallySelectable>(t: &[A], idx: u64) -> A {
    let mut out = t[0];
    for (k, e) in t.iter().enumerate() {
        out.conditional_assign(e, (k as u64).ct_eq(&idx));
    }
    out
}
fn main() {
    let g1: Vec<_> = (0..256u64)
        .map(|i| {
            (G1Projective::generator() * privsplit_fe::blstrs::Scalar::from(i + 1)).to_affine()
        })
        .collect();
    let g2: Vec<_> = (0..256u64)
        .map(|i| {
            (G2Projective::generator() * privsplit_fe::blstrs::Scalar::from(i + 1)).to_affine()
        })
        .collect();
    let px: Vec<u64> = (0..785u64).map(|i| i * 37 % 256).collect();
    for round in 0..3 {
        let t = std::time::Instant::now();
        let mut acc1 = G1Projective::identity();
        let mut acc2 = G2Projective::identity();
        for &x in &px {
            for _ in 0..2 {
                acc1 += G1Projective::from(scan(&g1, x));
                acc2 += G2Projective::from(scan(&g2, x));
            }
        }
        let ct = t.elapsed().as_secs_f64() * 1e3;
        let t = std::time::Instant::now();
        let mut b1 = G1Projective::identity();
        let mut b2 = G2Projective::identity();
        for &x in &px {
            for _ in 0..2 {
                b1 += G1Projective::from(g1[x as usize]);
                b2 += G2Projective::from(g2[x as usize]);
            }
        }
        let vt = t.elapsed().as_secs_f64() * 1e3;
        assert_eq!(acc1, b1);
        assert_eq!(acc2, b2);
        println!("round {round}: 4 x 785 lookups (+ the additions): constant-time {ct:.2} ms, direct {vt:.2} ms, difference {:.2} ms", ct - vt);
    }
}
