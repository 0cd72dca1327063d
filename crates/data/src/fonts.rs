//! Font-character generator: an MNIST-like dataset of characters rendered from real TrueType/OpenType
//! fonts, where the main task is the character and the sensitive attribute is the font.
//!
//! # Pipeline, per image
//! 1. **Prototype** (once per (character, font)): the glyph outline is rasterised with `ab_glyph`
//!    (anti-aliased coverage in `[0, 1]`) at the pixel size that makes its larger bounding-box side
//!    `box_size * supersample` pixels (MNIST size normalisation: 20 px box in a 28 px frame, LeCun et al.
//!    1998), and its centre of mass is computed.
//! 2. **Affine**: rotation by `θ ~ N(0, rotation_sd_deg)` degrees and scale `s ~ N(1, scale_sd)`, about the
//!    prototype's centre of mass, which is placed at the centre of the render canvas of
//!    `28 * supersample` pixels (MNIST centring on the centre of mass).
//! 3. **Elastic deformation** (Simard et al. 2003, ICDAR, §2, see [`crate::elastic`]): a displacement field
//!    with uniform `[-1, 1]` entries, Gaussian-smoothed with `elastic_sigma` and scaled by `elastic_alpha`.
//!    *Mapping of the parameters*: the field is drawn on the **28x28 output grid**, so `elastic_alpha` and
//!    `elastic_sigma` are in output pixels, the units of the paper's 28-29 px MNIST digits (defaults
//!    `α = 34`, `σ = 4`, the values widely used for Simard's method on MNIST). It is then bilinearly
//!    interpolated to the canvas and multiplied by `supersample`, i.e. at the canvas resolution
//!    `σ_canvas = supersample · σ` and the displacement grows by `supersample`, which is the same as
//!    drawing it there with `α_canvas = supersample² · α` (see [`crate::elastic`] for why `α` scales
//!    quadratically). The deformation and the affine map are composed into one bilinear resampling of the
//!    prototype: `out(p) = proto(A⁻¹(p + Δ(p)))`.
//! 4. **Re-centring**: the deformed canvas is translated by a whole number of canvas pixels so that its
//!    centre of mass is at the centre again (MNIST centres the final image this way).
//! 5. **Downsampling**: box average of `supersample x supersample` blocks to 28x28, grey `u8`
//!    (`round(255 · coverage)`).
//!
//! # Determinism
//! Image `i` of part `p` (train 0, test 1) draws its rotation, scale and field from a ChaCha8 stream
//! derived from `(seed, p, i)` only, so the result does not depend on the rayon thread count and the test
//! images do not change when the number of training images does. Labels are `i mod K` over the
//! `K = chars × fonts` (character, font) combinations (exactly balanced when `K` divides the count, else
//! within one), shuffled by a seeded permutation.
//!
//! # Authors' mode
//! With [`FontMode::Authors`] the pipeline above is replaced by the one of Ryffel et al.'s public
//! repository ([`crate::figure_glyphs`]: natural size on a 56x56 canvas, crop around the centre of mass,
//! elastic deformation, no re-centring), and the (character, font) pair of each image is drawn uniformly
//! from its own stream (random, not exactly balanced, as in the authors' generator).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use ab_glyph::{Font, FontArc, PxScale};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::elastic::{bilinear_zero, upsample_bilinear};
use crate::figure_glyphs;
pub use crate::font_config::{authors_elastic_alpha, FontCharConfig, FontMode};
use crate::glyph::Prototype;
use crate::{Error, ImageSet, Result, Split};

pub use crate::font_config::IMAGE_SIZE;

/// Names of the built-in DejaVu 2.37 fonts (embedded by the `dejavu` crate; Bitstream Vera licence).
pub const BUILTIN_FONTS: [&str; 12] = [
    "dejavu-sans",
    "dejavu-sans-bold",
    "dejavu-sans-oblique",
    "dejavu-sans-extralight",
    "dejavu-sans-condensed",
    "dejavu-sans-mono",
    "dejavu-sans-mono-bold",
    "dejavu-serif",
    "dejavu-serif-bold",
    "dejavu-serif-italic",
    "dejavu-serif-condensed",
    "dejavu-serif-condensed-italic",
];

fn builtin_bytes(name: &str) -> Option<&'static [u8]> {
    Some(match name {
        "dejavu-sans" => dejavu::sans::regular(),
        "dejavu-sans-bold" => dejavu::sans::bold(),
        "dejavu-sans-oblique" => dejavu::sans::oblique(),
        "dejavu-sans-extralight" => dejavu::sans::extra_light(),
        "dejavu-sans-condensed" => dejavu::sans_condensed::regular(),
        "dejavu-sans-mono" => dejavu::sans_mono::regular(),
        "dejavu-sans-mono-bold" => dejavu::sans_mono::bold(),
        "dejavu-serif" => dejavu::serif::regular(),
        "dejavu-serif-bold" => dejavu::serif::bold(),
        "dejavu-serif-italic" => dejavu::serif::italic(),
        "dejavu-serif-condensed" => dejavu::serif_condensed::regular(),
        "dejavu-serif-condensed-italic" => dejavu::serif_condensed::italic(),
        _ => return None,
    })
}

/// A loaded font: its display name (the built-in name, or the file stem of a path) and the parsed font.
#[derive(Clone)]
pub struct LoadedFont {
    /// Display name, used as the sensitive-attribute name.
    pub name: String,
    /// The parsed font.
    pub font: FontArc,
}

impl std::fmt::Debug for LoadedFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedFont")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Loads a font by built-in name ([`BUILTIN_FONTS`]), by packaged-font name
/// ([`crate::font_packages::PACKAGE_FONTS`], e.g. `urw-z003`) or from a `.ttf`/`.otf` file.
///
/// # Errors
/// [`Error::MissingFontPackage`] naming the Debian package when a packaged font is not installed;
/// [`Error::Io`] naming the path when the file is missing or unreadable; [`Error::Invalid`] naming the file
/// when it does not parse as a font.
pub fn load_font(spec: &str) -> Result<LoadedFont> {
    if let Some(path) = crate::font_packages::resolve(spec)? {
        let loaded = load_font(&path.to_string_lossy())?;
        return Ok(LoadedFont {
            name: spec.to_string(),
            font: loaded.font,
        });
    }
    if let Some(bytes) = builtin_bytes(spec) {
        let font = FontArc::try_from_slice(bytes).map_err(|e| Error::Invalid {
            what: format!("built-in font {spec}"),
            expected: "a parseable font".into(),
            got: e.to_string(),
        })?;
        return Ok(LoadedFont {
            name: spec.to_string(),
            font,
        });
    }
    let path = Path::new(spec);
    let bytes = std::fs::read(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            e.kind(),
            format!(
                "font file: {e} (built-in fonts: {})",
                BUILTIN_FONTS.join(", ")
            ),
        ),
    })?;
    let len = bytes.len();
    let font = FontArc::try_from_vec(bytes).map_err(|e| Error::Invalid {
        what: format!("font file {}", path.display()),
        expected: "a TrueType/OpenType font".into(),
        got: format!("{e} ({len} bytes)"),
    })?;
    let name = path
        .file_stem()
        .map_or_else(|| spec.to_string(), |s| s.to_string_lossy().into_owned());
    Ok(LoadedFont { name, font })
}

/// Rasterises `c` at `em_px` pixels per em (the font's natural size: a text size of `s` points at `d`
/// dpi is `s * d / 72` pixels per em, whatever the glyph's own extent).
///
/// # Errors
/// As [`rasterise`]; [`Error::Invalid`] when the font has no units-per-em.
pub(crate) fn rasterise_em(font: &LoadedFont, c: char, em_px: f32) -> Result<Prototype> {
    let upem = font.font.units_per_em().ok_or_else(|| Error::Invalid {
        what: format!("font {}", font.name),
        expected: "a units-per-em value".into(),
        got: "none".into(),
    })?;
    // ab_glyph's PxScale is the pixel height of ascent - descent, not of the em.
    rasterise(font, c, em_px * font.font.height_unscaled() / upem)
}

pub(crate) fn rasterise(font: &LoadedFont, c: char, px: f32) -> Result<Prototype> {
    let missing = |got: &str| Error::Invalid {
        what: format!("font {} character {c:?}", font.name),
        expected: "a glyph with an outline".into(),
        got: got.into(),
    };
    let id = font.font.glyph_id(c);
    if id.0 == 0 {
        return Err(missing(
            "no glyph (the font maps it to .notdef, glyph id 0)",
        ));
    }
    let glyph = id.with_scale_and_position(PxScale::from(px), ab_glyph::point(0.0, 0.0));
    let outlined = font
        .font
        .outline_glyph(glyph)
        .ok_or_else(|| missing("an empty outline"))?;
    let b = outlined.px_bounds();
    let (w, h) = (
        b.width().ceil().max(1.0) as usize,
        b.height().ceil().max(1.0) as usize,
    );
    let mut coverage = vec![0.0f32; w * h];
    outlined.draw(|x, y, v| {
        let (x, y) = (x as usize, y as usize);
        if x < w && y < h {
            coverage[y * w + x] = v.clamp(0.0, 1.0);
        }
    });
    let (mut m, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    for y in 0..h {
        for x in 0..w {
            let v = f64::from(coverage[y * w + x]);
            m += v;
            mx += v * x as f64;
            my += v * y as f64;
        }
    }
    if m <= 0.0 {
        return Err(missing("an outline that covers no pixel"));
    }
    Ok(Prototype {
        w,
        h,
        coverage,
        com: ((mx / m) as f32, (my / m) as f32),
    })
}

/// Rasterises `c` so that its larger bounding-box side is about `target` pixels.
fn prototype(font: &LoadedFont, c: char, target: f32) -> Result<Prototype> {
    let probe_px = 100.0;
    let probe = rasterise(font, c, probe_px)?;
    let side = probe.w.max(probe.h) as f32;
    rasterise(font, c, probe_px * target / side)
}

pub(crate) fn image_rng(seed: u64, part: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream((part + 1) << 40 | index as u64);
    rng
}

/// Renders one 28x28 image of `proto` with the distortions of `cfg`, drawing from `rng`; writes
/// `IMAGE_SIZE²` grey bytes into `out`.
fn render(proto: &Prototype, cfg: &FontCharConfig, rng: &mut ChaCha8Rng, out: &mut [u8]) {
    let ss = cfg.supersample;
    let canvas = IMAGE_SIZE * ss;
    let target = cfg.box_size * ss as f32;
    let z_rot: f32 = rng.sample(StandardNormal);
    let z_scale: f32 = rng.sample(StandardNormal);
    let theta = (cfg.rotation_sd_deg * z_rot).to_radians();
    let base = target / proto.w.max(proto.h) as f32;
    let s = (base * (1.0 + cfg.scale_sd * z_scale)).max(1e-3);
    let (sin, cos) = theta.sin_cos();
    let centre = (canvas as f32 - 1.0) / 2.0;
    // The field on the 28x28 grid, bilinearly interpolated to the canvas (pixel centres aligned).
    let field = figure_glyphs::elastic_field(cfg, rng).map(|[dx, dy]| {
        [
            upsample_bilinear(&dx, IMAGE_SIZE, IMAGE_SIZE, ss),
            upsample_bilinear(&dy, IMAGE_SIZE, IMAGE_SIZE, ss),
        ]
    });
    let ssf = ss as f32;
    let mut canvas_px = vec![0.0f32; canvas * canvas];
    let (mut mass, mut mx, mut my) = (0.0f32, 0.0f32, 0.0f32);
    for cy in 0..canvas {
        for cx in 0..canvas {
            let (mut qx, mut qy) = (cx as f32, cy as f32);
            if let Some([dx, dy]) = &field {
                qx += ssf * dx[cy * canvas + cx];
                qy += ssf * dy[cy * canvas + cx];
            }
            // Inverse affine: u = com + R(-θ) (q - centre) / s.
            let (rx, ry) = (qx - centre, qy - centre);
            let ux = proto.com.0 + (cos * rx + sin * ry) / s;
            let uy = proto.com.1 + (-sin * rx + cos * ry) / s;
            let v = bilinear_zero(&proto.coverage, proto.h, proto.w, ux, uy);
            canvas_px[cy * canvas + cx] = v;
            mass += v;
            mx += v * cx as f32;
            my += v * cy as f32;
        }
    }
    // Re-centre after the deformation (MNIST's centring on the centre of mass): translate by a whole number
    // of canvas pixels, i.e. to within half a canvas pixel.
    let (ox, oy) = if mass > 0.0 {
        (
            (mx / mass - centre).round() as isize,
            (my / mass - centre).round() as isize,
        )
    } else {
        (0, 0)
    };
    let mut acc = vec![0.0f32; IMAGE_SIZE * IMAGE_SIZE];
    for cy in 0..canvas {
        let sy = cy as isize + oy;
        if sy < 0 || sy >= canvas as isize {
            continue;
        }
        for cx in 0..canvas {
            let sx = cx as isize + ox;
            if sx < 0 || sx >= canvas as isize {
                continue;
            }
            acc[(cy / ss) * IMAGE_SIZE + cx / ss] += canvas_px[sy as usize * canvas + sx as usize];
        }
    }
    let norm = 255.0 / (ss * ss) as f32;
    for (o, a) in out.iter_mut().zip(acc) {
        *o = (a * norm).round().clamp(0.0, 255.0) as u8;
    }
}

/// Generates the dataset described by `cfg` (see the module docs for the pipeline).
///
/// Returns train and test [`ImageSet`]s of 28x28 grey images `[n, 28, 28]`, `labels` = character index into
/// `cfg.chars`, `sensitive` = font index into `cfg.fonts`, with `class_names` (the characters) and
/// `sensitive_names` (the font names) filled. The same `cfg` gives the same bytes on any thread count.
///
/// # Errors
/// As [`FontCharConfig::validate`] and [`load_font`]; [`Error::Invalid`] naming the font and the character
/// when a font has no glyph for a requested character.
pub fn generate(cfg: &FontCharConfig) -> Result<Split> {
    generate_with_progress(cfg, &|_, _| {})
}

/// As [`generate`], calling `progress(done, total)` from worker threads every few hundred images and once
/// at the end (`done == total == cfg.train + cfg.test`).
///
/// # Errors
/// As [`generate`].
pub fn generate_with_progress(
    cfg: &FontCharConfig,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Split> {
    cfg.validate()?;
    let chars: Vec<char> = cfg.chars.chars().collect();
    let fonts: Vec<LoadedFont> = cfg
        .fonts
        .iter()
        .map(|f| load_font(f))
        .collect::<Result<_>>()?;
    let target = cfg.box_size * cfg.supersample as f32;
    let authors = cfg.mode == FontMode::Authors;
    let proto_em = figure_glyphs::prototype_em_px(cfg);
    // protos[char * n_fonts + font]
    let mut protos = Vec::with_capacity(chars.len() * fonts.len());
    for &c in &chars {
        for f in &fonts {
            protos.push(if authors {
                rasterise_em(f, c, proto_em)?
            } else {
                prototype(f, c, target)?
            });
        }
    }
    let k = protos.len();
    let total = cfg.train + cfg.test;
    let done = AtomicUsize::new(0);
    let px = IMAGE_SIZE * IMAGE_SIZE;
    let make = |part: u64, n: usize| -> ImageSet {
        let mut combos: Vec<usize> = if authors {
            vec![0; n] // drawn per image below
        } else {
            let mut c: Vec<usize> = (0..n).map(|i| i % k).collect();
            let mut perm_rng = ChaCha8Rng::seed_from_u64(cfg.seed);
            perm_rng.set_stream((part + 1) << 56);
            c.shuffle(&mut perm_rng);
            c
        };
        let mut pixels = vec![0u8; n * px];
        pixels
            .par_chunks_mut(px)
            .zip(combos.par_iter_mut())
            .enumerate()
            .for_each(|(i, (out, combo))| {
                let mut rng = image_rng(cfg.seed, part, i);
                if authors {
                    *combo = rng.gen_range(0..k);
                    figure_glyphs::render(&protos[*combo], proto_em, cfg, &mut rng, out);
                } else {
                    render(&protos[*combo], cfg, &mut rng, out);
                }
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if d.is_multiple_of(500) || d == total {
                    progress(d, total);
                }
            });
        let n_fonts = fonts.len();
        ImageSet {
            pixels,
            n,
            rows: IMAGE_SIZE,
            cols: IMAGE_SIZE,
            labels: combos.iter().map(|&c| (c / n_fonts) as u8).collect(),
            class_names: chars.iter().map(|c| c.to_string()).collect(),
            sensitive: Some(combos.iter().map(|&c| (c % n_fonts) as u8).collect()),
            sensitive_names: fonts.iter().map(|f| f.name.clone()).collect(),
        }
    };
    let train = make(0, cfg.train);
    let test = make(1, cfg.test);
    Ok(Split { train, test })
}

/// Checks that every font in `fonts` has a glyph for every character in `chars` without generating
/// anything (used by the CLI to fail early).
///
/// # Errors
/// As [`load_font`]; [`Error::Invalid`] naming the first (font, character) pair without a glyph.
pub fn check_coverage(chars: &str, fonts: &[String]) -> Result<()> {
    for spec in fonts {
        let f = load_font(spec)?;
        for c in chars.chars() {
            rasterise(&f, c, 32.0)?;
        }
    }
    Ok(())
}
