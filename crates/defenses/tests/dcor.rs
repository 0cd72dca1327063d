//! Distance correlation against an independent f64 computation (Székely, Rizzo & Bakirov 2007, eqs.
//! 2.8-2.10) and its known properties: 1 for linear maps, small for independent rows (shrinking with n),
//! 0 for a constant side; its gradient is finite and lowers it.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use burn::tensor::Tensor;
use burn::tensor::{Device, TensorData};
use privsplit_defenses::dcor::distance_correlation;
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
    assert!(d512 < 0.2, "{d512}"); // measured 0.157 (V-statistic bias); 0.3+ for dependent rows above
    assert!(d512 < d32, "{d512} vs {d32}");
    // A constant side has no spread: 0 up to f32 rounding (measured 4e-4).
    let constant = vec![vec![2.0; 3]; 50];
    let zero = value(distance_correlation(
        tensor(&x, &dev),
        tensor(&constant, &dev),
    ));
    assert!(zero < 1e-3, "{zero}");
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
