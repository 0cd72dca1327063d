//! Sample distance correlation of two batches, differentiable (the NoPeek penalty).
//!
//! Székely, Rizzo & Bakirov, "Measuring and testing dependence by correlation of distances", Annals of
//! Statistics 35(6), 2007, §2.2 (Definition 4, eqs. 2.8-2.10): for `n` paired rows `X_i` `[p]` and `Z_i`
//! `[q]`, with Euclidean distances `a_ij = |X_i - X_j|`, `b_ij = |Z_i - Z_j|` and their double centrings
//! `A_ij = a_ij - mean_j a_ij - mean_i a_ij + mean_ij a_ij` (likewise `B`):
//!
//! ```text
//! dCov²_n(X, Z) = (1/n²) Σ_ij A_ij B_ij,   dVar²_n(X) = dCov²_n(X, X),
//! dCor²_n(X, Z) = dCov²_n(X, Z) / sqrt(dVar²_n(X) dVar²_n(Z))   (0 when the denominator is 0),
//! ```
//!
//! and `dCor_n = sqrt(dCor²_n)` in `[0, 1]`. Population dCor is 0 exactly when `X` and `Z` are independent;
//! the sample value of independent rows is small and shrinks as `n` grows (about `1/sqrt(n)`). It is 1 when
//! `Z = a X R + b` (a scalar `a != 0`, an orthogonal `R`): the distances are proportional.
//!
//! NoPeek (Vepakomma, Singh, Gupta & Raskar, "NoPeek: Information leakage reduction to share activations in
//! distributed deep learning", ICDM Workshops 2020, §III) adds `alpha * dCor(x, f_k(x))` of the raw input
//! and the feature map at the partition point to the main loss.
//!
//! **Numerics.** Rows are centred on the batch mean first (distances do not change); squared distances come
//! from the Gram matrix (`|x_i|² + |x_j|² - 2 x_i·x_j`, clamped at 0) so that memory is `[n, n]`, not
//! `[n, n, p]`; the square root is taken of `d² + 1e-10` so that its gradient stays finite on the diagonal
//! (an error of at most 1e-5 per distance). The tests compare with a plain f64 implementation.

use burn::tensor::Tensor;

/// Added under the square root of every squared distance (see the module docs).
const DIST_EPS: f32 = 1e-10;

/// Double-centred pairwise Euclidean distances `A` `[n, n]` of the rows of `x` `[n, d]`.
fn centred_distances(x: Tensor<2>) -> Tensor<2> {
    let x = x.clone() - x.mean_dim(0);
    let sq = (x.clone() * x.clone()).sum_dim(1); // [n, 1]
    let gram = x.clone().matmul(x.transpose()); // [n, n]
    let d2 = (sq.clone() + sq.transpose() - gram.mul_scalar(2.0)).clamp_min(0.0);
    let a = d2.add_scalar(DIST_EPS).sqrt();
    let row = a.clone().mean_dim(1); // [n, 1]
    let col = a.clone().mean_dim(0); // [1, n]
    let all = a.clone().mean().reshape([1, 1]);
    a - row - col + all
}

/// Sample distance correlation `dCor_n(x, z)` in `[0, 1]` of the rows of `x` `[n, p]` and `z` `[n, q]`
/// (e.g. flattened images `[batch, channels * height * width]` and flattened feature maps), as a one-element
/// tensor that carries gradients to both (see the module docs for the formula and its source). `n >= 2`;
/// with `n < 2`, or when either side has no spread, the value is 0.
pub fn distance_correlation(x: Tensor<2>, z: Tensor<2>) -> Tensor<1> {
    let [n, _] = x.dims();
    if n < 2 || z.dims()[0] != n {
        return Tensor::<1>::zeros([1], &x.device());
    }
    let a = centred_distances(x);
    let b = centred_distances(z);
    let dcov = (a.clone() * b.clone()).mean();
    let vx = (a.clone() * a).mean();
    let vz = (b.clone() * b).mean();
    let denom = (vx * vz).sqrt();
    // dCor² = dCov² / denom, 0 when denom is 0; dCor = sqrt(max(dCor², 0)) (tiny negatives from rounding).
    let denom_ok = denom.clone().greater_elem(1e-20).float();
    let ratio = dcov / denom.clamp_min(1e-20) * denom_ok;
    ratio.clamp_min(0.0).add_scalar(1e-12).sqrt()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Independent reference: Székely et al. 2007, eqs. 2.8-2.10, directly in f64 with exact distances.
    fn dcor_f64(x: &[Vec<f64>], z: &[Vec<f64>]) -> f64 {
        let n = x.len();
        let centred = |v: &[Vec<f64>]| -> Vec<Vec<f64>> {
            let d: Vec<Vec<f64>> = (0..n)
                .map(|i| {
                    (0..n)
                        .map(|j| {
                            v[i].iter()
                                .zip(&v[j])
                                .map(|(a, b)| (a - b) * (a - b))
                                .sum::<f64>()
                                .sqrt()
                        })
                        .collect()
                })
                .collect();
            let row: Vec<f64> = d.iter().map(|r| r.iter().sum::<f64>() / n as f64).collect();
            let col: Vec<f64> = (0..n)
                .map(|j| d.iter().map(|r| r[j]).sum::<f64>() / n as f64)
                .collect();
            let all = row.iter().sum::<f64>() / n as f64;
            (0..n)
                .map(|i| (0..n).map(|j| d[i][j] - row[i] - col[j] + all).collect())
                .collect()
        };
        let (a, b) = (centred(x), centred(z));
        let dot = |p: &[Vec<f64>], q: &[Vec<f64>]| {
            p.iter()
                .zip(q)
                .map(|(r, s)| r.iter().zip(s).map(|(u, v)| u * v).sum::<f64>())
                .sum::<f64>()
                / (n * n) as f64
        };
        let denom = (dot(&a, &a) * dot(&b, &b)).sqrt();
        if denom <= 0.0 {
            0.0
        } else {
            (dot(&a, &b) / denom).max(0.0).sqrt()
        }
    }

    fn tensor(rows: &[Vec<f64>], dev: &Device) -> Tensor<2> {
        let (n, d) = (rows.len(), rows[0].len());
        let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
        Tensor::from_data(TensorData::new(flat, [n, d]), dev)
    }

    fn value(t: Tensor<1>) -> f64 {
        f64::from(t.into_scalar::<f32>())
    }

    fn gaussian_rows(rng: &mut ChaCha8Rng, n: usize, d: usize) -> Vec<Vec<f64>> {
        (0..n)
            .map(|_| {
                (0..d)
                    .map(|_| {
                        // Box-Muller from two uniforms.
                        let (u1, u2): (f64, f64) = (rng.gen::<f64>().max(1e-12), rng.gen());
                        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn matches_an_independent_f64_computation() {
        let dev = Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for (n, p, q) in [(12, 3, 2), (40, 16, 5), (64, 49, 8)] {
            let x = gaussian_rows(&mut rng, n, p);
            // z depends on x non-linearly plus noise: a value strictly between 0 and 1.
            let noise = gaussian_rows(&mut rng, n, q);
            let z: Vec<Vec<f64>> = (0..n)
                .map(|i| {
                    (0..q)
                        .map(|j| x[i][j % p].powi(2) + 0.5 * noise[i][j])
                        .collect()
                })
                .collect();
            let want = dcor_f64(&x, &z);
            let got = value(distance_correlation(tensor(&x, &dev), tensor(&z, &dev)));
            assert!(want > 0.05 && want < 0.95, "{want}");
            assert!((got - want).abs() < 2e-3, "n={n}: got {got}, want {want}");
        }
    }

    #[test]
    fn is_one_for_linear_maps_and_small_for_independent_rows() {
        let dev = Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let x = gaussian_rows(&mut rng, 50, 4);
        // z = -3 x R + 1 with R a rotation in the first two coordinates: distances scale by 3.
        let (c, s) = (0.6f64, 0.8f64);
        let z: Vec<Vec<f64>> = x
            .iter()
            .map(|r| {
                vec![
                    -3.0 * (c * r[0] - s * r[1]) + 1.0,
                    -3.0 * (s * r[0] + c * r[1]) + 1.0,
                    -3.0 * r[2] + 1.0,
                    -3.0 * r[3] + 1.0,
                ]
            })
            .collect();
        let one = value(distance_correlation(tensor(&x, &dev), tensor(&z, &dev)));
        assert!((one - 1.0).abs() < 1e-3, "{one}");
        // Independent rows: small, and smaller with more rows (the sample bias ~ 1/sqrt(n)).
        let small = |n: usize, rng: &mut ChaCha8Rng| {
            let a = gaussian_rows(rng, n, 3);
            let b = gaussian_rows(rng, n, 3);
            value(distance_correlation(tensor(&a, &dev), tensor(&b, &dev)))
        };
        let (d32, d512) = (small(32, &mut rng), small(512, &mut rng));
        assert!(d512 < 0.15, "{d512}");
        assert!(d512 < d32, "{d512} vs {d32}");
        // A constant side has no spread: exactly 0 (up to the 1e-6 of the final square root).
        let constant = vec![vec![2.0; 3]; 50];
        let zero = value(distance_correlation(
            tensor(&x, &dev),
            tensor(&constant, &dev),
        ));
        assert!(zero < 1e-5, "{zero}");
    }

    #[test]
    fn gradient_is_finite_and_lowers_the_correlation() {
        let plain = Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let x = tensor(&gaussian_rows(&mut rng, 16, 6), &plain);
        // z = x W with a trainable W: gradient descent on dCor must lower it.
        let mut w = tensor(&gaussian_rows(&mut rng, 6, 4), &plain);
        let dcor_of =
            |w: &Tensor<2>| value(distance_correlation(x.clone(), x.clone().matmul(w.clone())));
        let first = dcor_of(&w);
        let xa = x.clone().autodiff();
        for _ in 0..30 {
            let wt = w.clone().autodiff().require_grad();
            let d = distance_correlation(xa.clone(), xa.clone().matmul(wt.clone()));
            let grads = d.backward();
            let g = wt.grad(&grads).unwrap();
            let gv: Vec<f32> = g.to_data().try_to_vec::<f32>().unwrap();
            assert!(gv.iter().all(|v| v.is_finite()));
            w = w - g.mul_scalar(0.5);
        }
        let last = dcor_of(&w);
        assert!(last < first - 0.01, "{first} -> {last}");
    }
}
