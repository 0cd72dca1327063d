//! Elastic deformation of images (Simard, Steinkraus and Platt, "Best practices for convolutional neural
//! networks applied to visual document analysis", ICDAR 2003, §2).
//!
//! Two random fields `Δx(x, y)`, `Δy(x, y)` with values uniform in `[-1, 1]` are convolved with a Gaussian of
//! standard deviation `σ` (pixels) and multiplied by `α` (pixels); the deformed image is
//! `out(x, y) = in(x + Δx(x, y), y + Δy(x, y))`, sampled with bilinear interpolation.
//!
//! Because the smoothed field's standard deviation falls as `1 / σ` (it is about
//! `(1/√3) / (2 √π σ)` per component for a normalised 2-D Gaussian), a field meant for an image `f` times
//! larger must use `σ' = f σ` **and** `α' = f² α` to move the same features by `f` times as many pixels.
//! The font generator avoids that rescaling by drawing the field on the 28x28 output grid itself (where the
//! paper's values apply unchanged) and interpolating it onto its larger render canvas, see
//! [`crate::fonts`].

use rand::distributions::{Distribution, Uniform};
use rand::Rng;

/// A normalised 1-D Gaussian kernel of standard deviation `sigma` (pixels), truncated at radius
/// `ceil(3 sigma)`; taps sum to 1. `sigma <= 0` gives the identity kernel `[1]`.
pub fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    if sigma.is_nan() || sigma <= 0.0 {
        return vec![1.0];
    }
    let r = (3.0 * sigma).ceil() as i32;
    let mut k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    k
}

/// Separable convolution of a row-major `[rows, cols]` field with `kernel` along both axes; values outside
/// the field count as 0 (the `constant` border of `scipy.ndimage.gaussian_filter`, as in common
/// implementations of Simard et al.).
pub fn convolve_separable(field: &[f32], rows: usize, cols: usize, kernel: &[f32]) -> Vec<f32> {
    let r = kernel.len() / 2;
    // Zero-padded copy, so the inner loops have no bounds tests and vectorise: each output row is a sum of
    // shifted, weighted input rows (same summation order as the textbook double loop).
    let (pr, pc) = (rows + 2 * r, cols + 2 * r);
    let mut padded = vec![0.0f32; pr * pc];
    for y in 0..rows {
        padded[(y + r) * pc + r..(y + r) * pc + r + cols]
            .copy_from_slice(&field[y * cols..(y + 1) * cols]);
    }
    // Horizontal pass over every padded row (the padding rows stay 0).
    let mut tmp = vec![0.0f32; pr * cols];
    for y in r..r + rows {
        let src = &padded[y * pc..(y + 1) * pc];
        let dst = &mut tmp[y * cols..(y + 1) * cols];
        for (k, &w) in kernel.iter().enumerate() {
            for (d, &v) in dst.iter_mut().zip(&src[k..k + cols]) {
                *d += w * v;
            }
        }
    }
    // Vertical pass.
    let mut out = vec![0.0f32; rows * cols];
    for y in 0..rows {
        let dst = &mut out[y * cols..(y + 1) * cols];
        for (k, &w) in kernel.iter().enumerate() {
            let src = &tmp[(y + k) * cols..(y + k + 1) * cols];
            for (d, &v) in dst.iter_mut().zip(src) {
                *d += w * v;
            }
        }
    }
    out
}

/// A random displacement field `(Δx, Δy)`, each row-major `[rows, cols]` in pixels: uniform `[-1, 1]`
/// noise, Gaussian-smoothed with `sigma` (pixels), scaled by `alpha` (Simard et al. 2003, §2).
/// The same `rng` state gives the same field.
pub fn displacement_field<R: Rng>(
    rng: &mut R,
    rows: usize,
    cols: usize,
    alpha: f32,
    sigma: f32,
) -> [Vec<f32>; 2] {
    let k = gaussian_kernel(sigma);
    let uniform = Uniform::new_inclusive(-1.0f32, 1.0);
    let mut draw = || {
        let noise: Vec<f32> = (0..rows * cols).map(|_| uniform.sample(rng)).collect();
        let mut f = convolve_separable(&noise, rows, cols, &k);
        f.iter_mut().for_each(|v| *v *= alpha);
        f
    };
    let dx = draw();
    let dy = draw();
    [dx, dy]
}

/// Bilinear sample of a row-major `[rows, cols]` image at index coordinates `(x, y)` (pixel `(i, j)` sits at
/// `x = j, y = i`); outside the image the value is 0 (background).
pub fn bilinear_zero(img: &[f32], rows: usize, cols: usize, x: f32, y: f32) -> f32 {
    // floor without a libm call (x86-64 without SSE4.1 has no inline floor); NaN maps to 0 via `as`.
    let floor = |v: f32| {
        let t = v as i64;
        if (t as f32) > v {
            t - 1
        } else {
            t
        }
    };
    let (x0, y0) = (floor(x), floor(y));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let at = |xi: i64, yi: i64| -> f32 {
        if xi < 0 || yi < 0 || xi as usize >= cols || yi as usize >= rows {
            0.0
        } else {
            img[yi as usize * cols + xi as usize]
        }
    };
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
    let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Bilinear sample like [`bilinear_zero`] but clamping coordinates to the border (for fields, not images).
pub fn bilinear_clamped(img: &[f32], rows: usize, cols: usize, x: f32, y: f32) -> f32 {
    let x = x.clamp(0.0, cols.saturating_sub(1) as f32);
    let y = y.clamp(0.0, rows.saturating_sub(1) as f32);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(cols - 1), (y0 + 1).min(rows - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let top = img[y0 * cols + x0] * (1.0 - fx) + img[y0 * cols + x1] * fx;
    let bottom = img[y1 * cols + x0] * (1.0 - fx) + img[y1 * cols + x1] * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Bilinear upsampling of a row-major `[rows, cols]` field by an integer `factor`: output pixel `(Y, X)`
/// takes the value at index coordinates `((X + 0.5) / factor - 0.5, (Y + 0.5) / factor - 0.5)` of the
/// input, clamped to the border (pixel centres aligned, as [`bilinear_clamped`] would give per pixel).
/// Output `[rows * factor, cols * factor]`.
pub fn upsample_bilinear(field: &[f32], rows: usize, cols: usize, factor: usize) -> Vec<f32> {
    let taps = |n: usize| -> Vec<(usize, usize, f32)> {
        (0..n * factor)
            .map(|c| {
                let g =
                    ((c as f32 + 0.5) / factor as f32 - 0.5).clamp(0.0, n.saturating_sub(1) as f32);
                let i0 = g as usize; // g >= 0: truncation is floor
                (i0, (i0 + 1).min(n - 1), g - i0 as f32)
            })
            .collect()
    };
    let (tx, ty) = (taps(cols), taps(rows));
    let wide = cols * factor;
    let mut h = vec![0.0f32; rows * wide];
    for y in 0..rows {
        let src = &field[y * cols..(y + 1) * cols];
        for (d, &(i0, i1, f)) in h[y * wide..(y + 1) * wide].iter_mut().zip(&tx) {
            *d = src[i0] * (1.0 - f) + src[i1] * f;
        }
    }
    let mut out = vec![0.0f32; rows * factor * wide];
    for (y, &(j0, j1, f)) in ty.iter().enumerate() {
        let (a, b) = (
            &h[j0 * wide..(j0 + 1) * wide],
            &h[j1 * wide..(j1 + 1) * wide],
        );
        for ((d, &va), &vb) in out[y * wide..(y + 1) * wide].iter_mut().zip(a).zip(b) {
            *d = va * (1.0 - f) + vb * f;
        }
    }
    out
}

/// Applies a displacement field to a row-major `[rows, cols]` image:
/// `out(x, y) = in(x + Δx(x, y), y + Δy(x, y))`, bilinear, background 0 outside (Simard et al. 2003, §2).
///
/// `dx` and `dy` must have `rows * cols` values (pixels); a zero field returns the image unchanged.
pub fn deform(img: &[f32], rows: usize, cols: usize, dx: &[f32], dy: &[f32]) -> Vec<f32> {
    deform_with(bilinear_zero, img, rows, cols, dx, dy)
}

/// `out(x, y) = sample(img, x + Δx(x, y), y + Δy(x, y))` for every pixel of a `[rows, cols]` image.
fn deform_with(
    sample: fn(&[f32], usize, usize, f32, f32) -> f32,
    img: &[f32],
    rows: usize,
    cols: usize,
    dx: &[f32],
    dy: &[f32],
) -> Vec<f32> {
    let mut out = vec![0.0; rows * cols];
    for y in 0..rows {
        for x in 0..cols {
            let i = y * cols + x;
            out[i] = sample(img, rows, cols, x as f32 + dx[i], y as f32 + dy[i]);
        }
    }
    out
}

/// Index `i` of an axis of length `n` mapped into `0..n` by half-sample symmetric reflection
/// (`d c b a | a b c d | d c b a`, the `reflect` mode of `scipy.ndimage.map_coordinates`).
fn reflect_index(i: i64, n: usize) -> usize {
    let n = n as i64;
    let period = 2 * n;
    let m = i.rem_euclid(period);
    (if m < n { m } else { period - 1 - m }) as usize
}

/// Bilinear sample like [`bilinear_zero`], but outside the image the image is continued by half-sample
/// symmetric reflection (scipy's `reflect` mode), so no background is pulled in at the border.
pub fn bilinear_reflect(img: &[f32], rows: usize, cols: usize, x: f32, y: f32) -> f32 {
    if rows == 0 || cols == 0 || !x.is_finite() || !y.is_finite() {
        return 0.0;
    }
    let (xf, yf) = (x.floor(), y.floor());
    let (x0, y0) = (xf as i64, yf as i64);
    let (fx, fy) = (x - xf, y - yf);
    let at = |xi: i64, yi: i64| img[reflect_index(yi, rows) * cols + reflect_index(xi, cols)];
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
    let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// As [`deform`] with [`bilinear_reflect`] sampling: `out(x, y) = in(x + Δx(x, y), y + Δy(x, y))`, the
/// image continued by reflection outside (the `map_coordinates(..., order=1, mode='reflect')` of the
/// elastic deformation in Ryffel et al.'s public repository, tutorial part 1).
pub fn deform_reflect(img: &[f32], rows: usize, cols: usize, dx: &[f32], dy: &[f32]) -> Vec<f32> {
    deform_with(bilinear_reflect, img, rows, cols, dx, dy)
}

/// The 2-D elastic `α` equivalent to smoothing a `[rows, cols, channels]` noise array with an isotropic
/// 3-D Gaussian of standard deviation `sigma` (zero border, scipy's `gaussian_filter(mode="constant")`,
/// kernel radius `round(4 sigma)`) and scaling it by `alpha`, as seen by one `channel`.
///
/// The 3-D filter is separable: along the channel axis it mixes the `channels` independent 2-D smoothed
/// noise fields with the normalised 1-D Gaussian weights `w(c - channel)`, so the field of `channel` is a
/// 2-D smoothed uniform field of amplitude `alpha * sqrt(Σ_c w(c - channel)²)`. For the authors'
/// `alpha = 991, sigma = 9` on `28x28x3` images this is ≈ 75.3 for channel 0 (the channel they keep).
/// Returns `alpha` unchanged when `sigma <= 0` (no smoothing).
pub fn channel_equivalent_alpha(alpha: f32, sigma: f32, channels: usize, channel: usize) -> f32 {
    if sigma.is_nan() || sigma <= 0.0 {
        return alpha;
    }
    let s = f64::from(sigma);
    let radius = (4.0 * s + 0.5) as i64;
    let g = |i: i64| (-((i * i) as f64) / (2.0 * s * s)).exp();
    let norm: f64 = (-radius..=radius).map(g).sum();
    let sum_sq: f64 = (0..channels as i64)
        .map(|c| c - channel as i64)
        .filter(|d| d.abs() <= radius)
        .map(|d| (g(d) / norm).powi(2))
        .sum();
    (f64::from(alpha) * sum_sq.sqrt()) as f32
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic with the error is the failure report
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn kernel_is_normalised_and_symmetric() {
        let k = gaussian_kernel(4.0);
        assert_eq!(k.len(), 25);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!((k[0] - k[24]).abs() < 1e-9 && k[12] > k[11]);
    }

    #[test]
    fn zero_field_is_identity_and_shift_moves_pixels() {
        let img: Vec<f32> = (0..20).map(|v| v as f32).collect();
        let zero = vec![0.0; 20];
        assert_eq!(deform(&img, 4, 5, &zero, &zero), img);
        // Δx = 1 everywhere: out(x, y) = in(x + 1, y).
        let one = vec![1.0; 20];
        let out = deform(&img, 4, 5, &one, &zero);
        assert_eq!(out[0], 1.0);
        assert_eq!(out[4], 0.0); // sampled outside: background
    }

    #[test]
    fn separable_convolution_matches_naive_2d_sum() {
        let (rows, cols) = (7, 9);
        let field: Vec<f32> = (0..rows * cols)
            .map(|v| ((v * 37) % 11) as f32 - 5.0)
            .collect();
        let k = gaussian_kernel(1.3);
        let r = (k.len() / 2) as isize;
        let got = convolve_separable(&field, rows, cols, &k);
        for y in 0..rows as isize {
            for x in 0..cols as isize {
                let mut want = 0.0f32;
                for dy in -r..=r {
                    for dx in -r..=r {
                        let (yy, xx) = (y + dy, x + dx);
                        if yy >= 0 && xx >= 0 && yy < rows as isize && xx < cols as isize {
                            want += k[(dy + r) as usize]
                                * k[(dx + r) as usize]
                                * field[yy as usize * cols + xx as usize];
                        }
                    }
                }
                let g = got[y as usize * cols + x as usize];
                assert!((g - want).abs() < 1e-4, "({y}, {x}): {g} vs {want}");
            }
        }
    }

    #[test]
    fn upsampling_matches_per_pixel_bilinear() {
        let field: Vec<f32> = (0..20).map(|v| ((v * 7) % 5) as f32).collect();
        let up = upsample_bilinear(&field, 4, 5, 3);
        assert_eq!(up.len(), 12 * 15);
        for y in 0..12 {
            for x in 0..15 {
                let (gx, gy) = ((x as f32 + 0.5) / 3.0 - 0.5, (y as f32 + 0.5) / 3.0 - 0.5);
                let want = bilinear_clamped(&field, 4, 5, gx, gy);
                assert!((up[y * 15 + x] - want).abs() < 1e-5);
            }
        }
        // negative coordinates sample with a proper floor
        assert_eq!(bilinear_zero(&[1.0, 2.0], 1, 2, -0.5, 0.0), 0.5);
    }

    #[test]
    fn field_amplitude_matches_theory() {
        // std of smoothed U[-1,1] noise ≈ (1/√3)/(2√π σ) per component, times α.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let (alpha, sigma) = (34.0, 4.0);
        let [dx, _] = displacement_field(&mut rng, 200, 200, alpha, sigma);
        // interior only (the zero border lowers the amplitude near edges)
        let inner: Vec<f32> = (20..180)
            .flat_map(|y| (20..180).map(move |x| (y, x)))
            .map(|(y, x)| dx[y * 200 + x])
            .collect();
        let var = inner.iter().map(|v| v * v).sum::<f32>() / inner.len() as f32;
        let theory = alpha * (1.0 / 3f32.sqrt()) / (2.0 * std::f32::consts::PI.sqrt() * sigma);
        let rel = (var.sqrt() - theory).abs() / theory;
        assert!(rel < 0.1, "std {} vs theory {theory}", var.sqrt());
    }

    #[test]
    fn reflect_sampling_mirrors_the_border() {
        // scipy.ndimage.map_coordinates([[1, 2, 3]], [[0, 0], [-1, 3]], order=1, mode='reflect') = [1, 3]
        let img = [1.0, 2.0, 3.0];
        assert_eq!(bilinear_reflect(&img, 1, 3, -1.0, 0.0), 1.0);
        assert_eq!(bilinear_reflect(&img, 1, 3, 3.0, 0.0), 3.0);
        assert_eq!(bilinear_reflect(&img, 1, 3, 4.0, 0.0), 2.0);
        assert!((bilinear_reflect(&img, 1, 3, -0.5, 0.0) - 1.0).abs() < 1e-6);
        assert!((bilinear_reflect(&img, 1, 3, 1.25, 0.0) - 2.25).abs() < 1e-6);
        let zero = vec![0.0; 3];
        assert_eq!(deform_reflect(&img, 1, 3, &zero, &zero), img.to_vec());
    }

    #[test]
    fn authors_channel_alpha_is_about_75() {
        // Independent computation: weights of the normalised radius-36 kernel at offsets 0, 1, 2.
        let s = 9.0f64;
        let norm: f64 = (-36..=36i32)
            .map(|i| (-f64::from(i * i) / (2.0 * s * s)).exp())
            .sum();
        let w: Vec<f64> = (0..3i32)
            .map(|i| (-f64::from(i * i) / (2.0 * s * s)).exp() / norm)
            .collect();
        let want = 991.0 * w.iter().map(|v| v * v).sum::<f64>().sqrt();
        let got = f64::from(channel_equivalent_alpha(991.0, 9.0, 3, 0));
        assert!((got - want).abs() < 1e-3, "{got} vs {want}");
        assert!((got - 75.3).abs() < 0.2, "{got}");
        // the middle channel sees both neighbours at distance 1: a slightly larger amplitude
        assert!(
            channel_equivalent_alpha(991.0, 9.0, 3, 1) > channel_equivalent_alpha(991.0, 9.0, 3, 0)
        );
        assert_eq!(channel_equivalent_alpha(5.0, 0.0, 3, 0), 5.0);
    }
}
