//! The authors' generation of font characters ([`crate::FontMode::Authors`]), after Ryffel et al.'s public
//! repository (LaRiffle/collateral-learning, tutorial "Part 01 - Building a 2 target features dataset" and
//! `learn/collateral/data.py`), where each digit is drawn with matplotlib on a 2x2 inch figure at 28 dpi.
//!
//! # Pipeline, per image
//! 1. **Draw** the (character, font) pair uniformly, then rotation `θ ~ N(0, rotation_sd_deg)` degrees and
//!    text size `s ~ size_pt + N(0, size_sd_pt)` points (defaults 10°, 50 pt, 2.5 pt).
//! 2. **Natural size**: the glyph is drawn at `s * dpi / 72` pixels per em (19.4 px at 50 pt, 28 dpi) —
//!    no per-glyph size normalisation, so each font keeps its own proportions (old-style figures stay
//!    small, descend or ascend) — rotated by `θ` on a `canvas x canvas` canvas (default 56x56), rendered
//!    at `supersample`x resolution from a prototype rasterised once per pair at twice that and
//!    box-averaged down (anti-aliasing). The glyph's centre of mass is placed at the canvas centre plus a
//!    uniform sub-pixel offset in `[-0.5, 0.5)` px per axis (the text anchor of a matplotlib figure falls
//!    anywhere between pixel centres).
//! 3. **Crop** 28x28 around the centre of mass of the canvas: rows/columns from `round(c - 14)` (the
//!    authors' `center`), clamped to the canvas.
//! 4. **Elastic deformation** on the 28x28 crop: a field of uniform `[-1, 1]` noise smoothed by a Gaussian
//!    of `elastic_sigma` (zero border) and scaled by `elastic_alpha`, applied with bilinear sampling and
//!    reflection at the border (`map_coordinates(order=1, mode='reflect')`). The authors' call
//!    (`alpha = 991, sigma = 9` on the `28x28x3` RGB array) smooths across the channel axis too; its 2-D
//!    equivalent is `α ≈ 75.3`, `σ = 9` ([`crate::elastic::channel_equivalent_alpha`]). **No
//!    re-centring** afterwards.
//! 5. **Store** inverted grey levels (glyph bright on a 0 background, `round(255 · coverage)`); the
//!    per-image standardisation to mean 0 and std 1 of `build_tensor_dataset` is applied when the images
//!    become model inputs ([`crate::InputScaling::Standardized`], the mode's default `input_scaling`).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::elastic::{bilinear_zero, deform_reflect, displacement_field};
use crate::font_config::IMAGE_SIZE;
use crate::glyph::Prototype;
use crate::FontCharConfig;

/// Pixels per em of the prototypes: the mean text size at twice the render resolution.
pub(crate) fn prototype_em_px(cfg: &FontCharConfig) -> f32 {
    cfg.size_pt * cfg.dpi / 72.0 * cfg.supersample as f32 * 2.0
}

/// The elastic displacement field `[dx, dy]` of one image, each row-major `[IMAGE_SIZE, IMAGE_SIZE]` in
/// pixels, with `cfg.elastic_alpha` and `cfg.elastic_sigma` ([`displacement_field`], Simard et al. 2003,
/// §2); `None`, drawing nothing from `rng`, when `elastic_alpha` is 0 (no deformation). Both font modes
/// draw it on the 28x28 grid.
pub(crate) fn elastic_field(cfg: &FontCharConfig, rng: &mut ChaCha8Rng) -> Option<[Vec<f32>; 2]> {
    (cfg.elastic_alpha > 0.0).then(|| {
        displacement_field(
            rng,
            IMAGE_SIZE,
            IMAGE_SIZE,
            cfg.elastic_alpha,
            cfg.elastic_sigma,
        )
    })
}

/// Renders one 28x28 image of `proto` (rasterised at `proto_em` pixels per em) with the distortions of
/// `cfg`, drawing from `rng`; writes `IMAGE_SIZE²` grey bytes into `out` (see the module docs).
pub(crate) fn render(
    proto: &Prototype,
    proto_em: f32,
    cfg: &FontCharConfig,
    rng: &mut ChaCha8Rng,
    out: &mut [u8],
) {
    let ss = cfg.supersample;
    let ssf = ss as f32;
    let side = cfg.canvas;
    let fine = side * ss;
    let z_rot: f32 = rng.sample(StandardNormal);
    let z_size: f32 = rng.sample(StandardNormal);
    let jitter: (f32, f32) = (rng.gen_range(-0.5..0.5), rng.gen_range(-0.5..0.5));
    let theta = (cfg.rotation_sd_deg * z_rot).to_radians();
    let size_pt = (cfg.size_pt + cfg.size_sd_pt * z_size).max(1.0);
    // fine-canvas pixels per prototype pixel
    let s = size_pt * cfg.dpi / 72.0 * ssf / proto_em;
    let (sin, cos) = theta.sin_cos();
    // Centre of the canvas in fine-pixel index coordinates, plus the sub-pixel offset.
    let centre = (side as f32 / 2.0) * ssf - 0.5;
    let (ax, ay) = (centre + jitter.0 * ssf, centre + jitter.1 * ssf);

    // 2. Draw on the fine canvas and box-average to `side x side`.
    let mut canvas = vec![0.0f32; side * side];
    for fy in 0..fine {
        for fx in 0..fine {
            let (rx, ry) = (fx as f32 - ax, fy as f32 - ay);
            let ux = proto.com.0 + (cos * rx + sin * ry) / s;
            let uy = proto.com.1 + (-sin * rx + cos * ry) / s;
            canvas[(fy / ss) * side + fx / ss] +=
                bilinear_zero(&proto.coverage, proto.h, proto.w, ux, uy);
        }
    }
    let norm = 1.0 / (ss * ss) as f32;
    canvas.iter_mut().for_each(|v| *v *= norm);

    // 3. Crop 28x28 around the centre of mass.
    let (mut m, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &v) in canvas.iter().enumerate() {
        let v = f64::from(v);
        m += v;
        mx += v * (i % side) as f64;
        my += v * (i / side) as f64;
    }
    let half = (IMAGE_SIZE / 2) as f64;
    let max_start = (side - IMAGE_SIZE) as f64;
    let start = |c: f64| -> usize {
        if m > 0.0 {
            (c / m - half).round().clamp(0.0, max_start) as usize
        } else {
            (max_start / 2.0) as usize
        }
    };
    let (x0, y0) = (start(mx), start(my));
    let mut crop = vec![0.0f32; IMAGE_SIZE * IMAGE_SIZE];
    for y in 0..IMAGE_SIZE {
        let row = &canvas[(y0 + y) * side + x0..(y0 + y) * side + x0 + IMAGE_SIZE];
        crop[y * IMAGE_SIZE..(y + 1) * IMAGE_SIZE].copy_from_slice(row);
    }

    // 4. Elastic deformation, no re-centring.
    if let Some([dx, dy]) = elastic_field(cfg, rng) {
        crop = deform_reflect(&crop, IMAGE_SIZE, IMAGE_SIZE, &dx, &dy);
    }

    // 5. Inverted grey levels (ink = 255).
    for (o, v) in out.iter_mut().zip(crop) {
        *o = (v * 255.0).round().clamp(0.0, 255.0) as u8;
    }
}
