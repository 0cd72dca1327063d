//! Image-quality metrics of a reconstruction against the original: SSIM and PSNR.
//!
//! - SSIM: Wang, Bovik, Sheikh & Simoncelli 2004, "Image quality assessment: from error visibility to
//!   structural similarity", IEEE TIP 13(4), eq. (13) with the Gaussian-weighted statistics of §III-B:
//!   11x11 Gaussian window (sigma 1.5, radius 5), K1 = 0.01, K2 = 0.03, population (co)variances, mean over
//!   the pixels whose window lies inside the image (the same crop as scikit-image's
//!   `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`); multi-channel
//!   images: mean of the per-channel SSIMs.
//! - PSNR: `10 log10(data_range^2 / MSE)` in dB (infinite for identical images).
//! - Generic statistics of per-image scores: mean and sample standard deviation ([`mean_std`]), and the
//!   percentile bootstrap confidence interval of a mean ([`bootstrap_mean_ci`]; Efron & Tibshirani 1993,
//!   "An Introduction to the Bootstrap", ch. 13); the Wilson interval of a proportion is
//!   [`crate::tabular_metrics::wilson95`].
//!
//! Images are `[channels, height, width]` row-major `f32` slices.

use burn::tensor::Tensor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Error, Result};

const RADIUS: usize = 5;
const SIGMA: f64 = 1.5;
const K1: f64 = 0.01;
const K2: f64 = 0.03;

fn check(a: &[f32], b: &[f32], shape: [usize; 3], data_range: f64, min_side: usize) -> Result<()> {
    let n: usize = shape.iter().product();
    if a.len() != n || b.len() != n {
        return Err(Error::Invalid {
            what: "images".into(),
            expected: format!("two images of {n} values (shape {shape:?})"),
            got: format!("{} and {} values", a.len(), b.len()),
        });
    }
    if shape[1] < min_side || shape[2] < min_side || shape[0] == 0 {
        return Err(Error::Invalid {
            what: "image shape".into(),
            expected: format!("[>=1, >={min_side}, >={min_side}]"),
            got: format!("{shape:?}"),
        });
    }
    if !(data_range.is_finite() && data_range > 0.0) {
        return Err(Error::Invalid {
            what: "data_range".into(),
            expected: "a finite value > 0".into(),
            got: data_range.to_string(),
        });
    }
    Ok(())
}

fn gaussian_window() -> [f64; 2 * RADIUS + 1] {
    let mut w = [0.0; 2 * RADIUS + 1];
    let mut sum = 0.0;
    for (i, v) in w.iter_mut().enumerate() {
        let x = i as f64 - RADIUS as f64;
        *v = (-0.5 * x * x / (SIGMA * SIGMA)).exp();
        sum += *v;
    }
    for v in &mut w {
        *v /= sum;
    }
    w
}

/// Mean SSIM of two images `[channels, height, width]` with values in `[0, data_range]`.
///
/// # Errors
/// [`Error::Invalid`] when the slices do not hold `c*h*w` values, a side is smaller than 11 pixels, or
/// `data_range` is not a finite positive number.
pub fn ssim(a: &[f32], b: &[f32], shape: [usize; 3], data_range: f64) -> Result<f64> {
    check(a, b, shape, data_range, 2 * RADIUS + 1)?;
    let [c, h, w] = shape;
    let win = gaussian_window();
    let c1 = (K1 * data_range).powi(2);
    let c2 = (K2 * data_range).powi(2);
    let (oh, ow) = (h - 2 * RADIUS, w - 2 * RADIUS);
    let mut total = 0.0;
    // Separable filtering: rows first (valid columns only), then columns (valid rows only).
    let mut rows = vec![[0.0f64; 5]; h * ow];
    for ch in 0..c {
        let pa = &a[ch * h * w..(ch + 1) * h * w];
        let pb = &b[ch * h * w..(ch + 1) * h * w];
        for y in 0..h {
            for x in 0..ow {
                let mut s = [0.0f64; 5];
                for (t, wt) in win.iter().enumerate() {
                    let i = y * w + x + t;
                    let (va, vb) = (f64::from(pa[i]), f64::from(pb[i]));
                    s[0] += wt * va;
                    s[1] += wt * vb;
                    s[2] += wt * va * va;
                    s[3] += wt * vb * vb;
                    s[4] += wt * va * vb;
                }
                rows[y * ow + x] = s;
            }
        }
        let mut sum = 0.0;
        for y in 0..oh {
            for x in 0..ow {
                let mut s = [0.0f64; 5];
                for (t, wt) in win.iter().enumerate() {
                    let r = rows[(y + t) * ow + x];
                    for j in 0..5 {
                        s[j] += wt * r[j];
                    }
                }
                let [ux, uy, uxx, uyy, uxy] = s;
                let vx = uxx - ux * ux;
                let vy = uyy - uy * uy;
                let vxy = uxy - ux * uy;
                let num = (2.0 * ux * uy + c1) * (2.0 * vxy + c2);
                let den = (ux * ux + uy * uy + c1) * (vx + vy + c2);
                sum += num / den;
            }
        }
        total += sum / (oh * ow) as f64;
    }
    Ok(total / c as f64)
}

/// Mean squared error of two images of the same shape.
///
/// # Errors
/// As [`psnr`].
pub fn mse(a: &[f32], b: &[f32], shape: [usize; 3]) -> Result<f64> {
    check(a, b, shape, 1.0, 1)?;
    let s: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    Ok(s / a.len() as f64)
}

/// PSNR in dB: `10 log10(data_range^2 / MSE)`; `f64::INFINITY` for identical images.
///
/// # Errors
/// [`Error::Invalid`] when the slices do not hold `c*h*w` values or `data_range` is not finite and positive.
pub fn psnr(a: &[f32], b: &[f32], shape: [usize; 3], data_range: f64) -> Result<f64> {
    check(a, b, shape, data_range, 1)?;
    let m = mse(a, b, shape)?;
    Ok(if m == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (data_range * data_range / m).log10()
    })
}

/// Copies a `[batch, c, h, w]` tensor into one `Vec<f32>` per image.
///
/// # Errors
/// [`Error::Invalid`] when the tensor is not `f32`.
pub fn tensor_images(t: &Tensor<4>) -> Result<Vec<Vec<f32>>> {
    let [b, c, h, w] = t.dims();
    let data = t.clone().into_data();
    let v: Vec<f32> = data.try_to_vec::<f32>().map_err(|e| Error::Invalid {
        what: "image tensor".into(),
        expected: "f32 values".into(),
        got: format!("{e:?}"),
    })?;
    let n = c * h * w;
    Ok((0..b).map(|i| v[i * n..(i + 1) * n].to_vec()).collect())
}

/// Per-image SSIM and PSNR (dB) of two `[batch, c, h, w]` tensors with values in `[0, data_range]`.
///
/// # Errors
/// [`Error::Invalid`] when the shapes differ, and as [`ssim`].
pub fn ssim_psnr_batch(
    originals: &Tensor<4>,
    recon: &Tensor<4>,
    data_range: f64,
) -> Result<Vec<(f64, f64)>> {
    if originals.dims() != recon.dims() {
        return Err(Error::Invalid {
            what: "reconstructions".into(),
            expected: format!("shape {:?} (the originals')", originals.dims()),
            got: format!("{:?}", recon.dims()),
        });
    }
    let [_, c, h, w] = originals.dims();
    let a = tensor_images(originals)?;
    let b = tensor_images(recon)?;
    a.iter()
        .zip(&b)
        .map(|(x, y)| {
            Ok((
                ssim(x, y, [c, h, w], data_range)?,
                psnr(x, y, [c, h, w], data_range)?,
            ))
        })
        .collect()
}

/// Mean and sample standard deviation (divisor `n - 1`; 0 for fewer than two values) of `values`.
/// `(NaN, 0)` for an empty slice.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, 0.0);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, var.sqrt())
}

/// Percentile bootstrap confidence interval `[lower, upper]` of the mean of `values` at level
/// `1 - alpha` (`alpha = 0.05`: 95 %).
///
/// Draws `resamples` samples of `values.len()` values with replacement (`ChaCha8Rng::seed_from_u64(seed)`),
/// takes each sample's mean, sorts the means and returns the empirical `alpha / 2` and `1 - alpha / 2`
/// quantiles (order statistics `floor(B alpha / 2)` and `ceil(B (1 - alpha / 2)) - 1` of the `B` sorted
/// means). Source: Efron & Tibshirani 1993, "An Introduction to the Bootstrap", §13.3 (percentile interval).
///
/// # Errors
/// [`Error::Invalid`] naming the input when `values` is empty or holds a non-finite value, `resamples < 100`,
/// or `alpha` is not in `(0, 1)`.
pub fn bootstrap_mean_ci(
    values: &[f64],
    resamples: usize,
    alpha: f64,
    seed: u64,
) -> Result<[f64; 2]> {
    let invalid = |what: &str, expected: &str, got: String| Error::Invalid {
        what: what.into(),
        expected: expected.into(),
        got,
    };
    if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
        return Err(invalid(
            "bootstrap sample",
            "at least one value, all finite",
            format!("{} values", values.len()),
        ));
    }
    if resamples < 100 {
        return Err(invalid(
            "bootstrap resamples",
            ">= 100",
            resamples.to_string(),
        ));
    }
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(invalid(
            "bootstrap alpha",
            "a value in (0, 1)",
            alpha.to_string(),
        ));
    }
    let n = values.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| values[rng.gen_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let b = resamples as f64;
    let lo = ((b * alpha / 2.0).floor() as usize).min(resamples - 1);
    let hi = ((b * (1.0 - alpha / 2.0)).ceil() as usize)
        .saturating_sub(1)
        .min(resamples - 1);
    Ok([means[lo], means[hi]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_images_score_one_and_infinity() {
        let a: Vec<f32> = (0..3 * 16 * 20)
            .map(|i| ((i * 37) % 101) as f32 / 100.0)
            .collect();
        assert!((ssim(&a, &a, [3, 16, 20], 1.0).expect("ssim") - 1.0).abs() < 1e-12);
        assert_eq!(psnr(&a, &a, [3, 16, 20], 1.0).expect("psnr"), f64::INFINITY);
        let b: Vec<f32> = a.iter().map(|v| v * 0.5).collect();
        let p = psnr(&a, &b, [3, 16, 20], 1.0).expect("psnr");
        let m = mse(&a, &b, [3, 16, 20]).expect("mse");
        assert!((p - 10.0 * (1.0 / m).log10()).abs() < 1e-12);
    }

    #[test]
    fn bad_inputs_are_rejected() {
        let a = vec![0.0f32; 100];
        assert!(ssim(&a, &a, [1, 10, 10], 1.0).is_err()); // smaller than the 11x11 window
        assert!(ssim(&a, &a[..99], [1, 10, 10], 1.0).is_err());
        assert!(psnr(&a, &a, [1, 10, 10], 0.0).is_err());
        assert!(psnr(&a, &a, [1, 10, 10], f64::NAN).is_err());
    }

    /// Values computed by scikit-image (`tests/fixtures/make_fixtures.py`) on fixed images.
    #[test]
    fn ssim_and_psnr_match_scikit_image_fixtures() {
        let text = include_str!("../tests/fixtures/ssim_psnr.json");
        let v: serde_json::Value = serde_json::from_str(text).expect("fixture json");
        let cases = v["cases"].as_array().expect("cases");
        assert!(cases.len() >= 6);
        for c in cases {
            let shape: Vec<usize> = c["shape"]
                .as_array()
                .expect("shape")
                .iter()
                .map(|x| x.as_u64().expect("dim") as usize)
                .collect();
            let img = |k: &str| -> Vec<f32> {
                c[k].as_array()
                    .expect("pixels")
                    .iter()
                    .map(|x| x.as_f64().expect("px") as f32 / 255.0)
                    .collect()
            };
            let (a, b) = (img("a"), img("b"));
            let shape = [shape[0], shape[1], shape[2]];
            let s = ssim(&a, &b, shape, 1.0).expect("ssim");
            let p = psnr(&a, &b, shape, 1.0).expect("psnr");
            let (ws, wp) = (
                c["ssim"].as_f64().expect("ssim"),
                c["psnr"].as_f64().expect("psnr"),
            );
            assert!(
                (s - ws).abs() < 1e-5,
                "{}: ssim {s} vs scikit-image {ws}",
                c["name"]
            );
            assert!(
                (p - wp).abs() < 1e-4,
                "{}: psnr {p} vs scikit-image {wp}",
                c["name"]
            );
        }
    }

    /// The percentile bootstrap interval of a mean agrees with the independent normal-theory interval
    /// `mean +- 1.96 s / sqrt(n)` on a fixed, roughly symmetric sample of 400 values (the two agree to
    /// O(1/n) for such a sample), is reproducible for a seed, and collapses on a constant sample.
    #[test]
    fn bootstrap_ci_matches_the_normal_interval_on_a_fixed_sample() {
        // A fixed sample: a low-discrepancy sequence pushed through a smooth map.
        let xs: Vec<f64> = (0..400)
            .map(|i| {
                let u = ((i as f64 + 0.5) * 0.618_033_988_75).fract();
                0.3 + 0.2 * (u - 0.5) + 0.05 * (6.0 * u).sin()
            })
            .collect();
        let (m, s) = mean_std(&xs);
        let half = 1.96 * s / (xs.len() as f64).sqrt();
        let [lo, hi] = bootstrap_mean_ci(&xs, 4000, 0.05, 11).expect("ci");
        assert!(lo < m && m < hi, "{lo} {m} {hi}");
        assert!(
            (lo - (m - half)).abs() < 0.15 * half,
            "{lo} vs {}",
            m - half
        );
        assert!(
            (hi - (m + half)).abs() < 0.15 * half,
            "{hi} vs {}",
            m + half
        );
        assert_eq!(
            bootstrap_mean_ci(&xs, 1000, 0.05, 3).expect("ci"),
            bootstrap_mean_ci(&xs, 1000, 0.05, 3).expect("ci")
        );
        assert_eq!(
            bootstrap_mean_ci(&[0.25; 7], 200, 0.05, 0).expect("ci"),
            [0.25, 0.25]
        );
        assert!(bootstrap_mean_ci(&[], 1000, 0.05, 0).is_err());
        assert!(bootstrap_mean_ci(&[1.0, f64::NAN], 1000, 0.05, 0).is_err());
        assert!(bootstrap_mean_ci(&[1.0], 10, 0.05, 0).is_err());
        assert!(bootstrap_mean_ci(&[1.0], 1000, 1.5, 0).is_err());
    }

    #[test]
    fn mean_std_known_answers() {
        let (m, s) = mean_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert!((m - 5.0).abs() < 1e-12);
        assert!((s - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_std(&[3.0]), (3.0, 0.0));
        assert!(mean_std(&[]).0.is_nan());
    }
}
