//! Configuration of the font-character generator ([`crate::fonts`]): the shared fields, the two generation
//! modes ([`FontMode`]) and their defaults.
//!
//! Deserialisation fills every field that is not given from the defaults **of the chosen mode**, so a
//! TOML table with only `mode = "authors"` is the authors' generation, and one without `mode` behaves as
//! before the mode existed. In Rust, start from [`FontCharConfig::for_mode`] (or [`FontCharConfig::authors`])
//! rather than `..FontCharConfig::default()`, which holds the privsplit defaults.

use serde::{Deserialize, Serialize};

use crate::elastic::channel_equivalent_alpha;
use crate::image_set::InputScaling;
use crate::{Error, Result};

/// Side of the generated images, pixels (MNIST's 28).
pub const IMAGE_SIZE: usize = 28;

/// How the images are generated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FontMode {
    /// privsplit's MNIST-like generation: each glyph normalised to a 20 px box, centre of mass at the
    /// centre of the 28x28 frame, scale `N(1, scale_sd)`, elastic deformation, re-centring (see
    /// [`crate::fonts`]). Images are scaled to `[0, 1]` for the models.
    #[default]
    Privsplit,
    /// The generation of Ryffel et al.'s public repository (LaRiffle/collateral-learning, tutorial part 1
    /// and `learn/collateral/data.py`): each font at its natural size on a 56x56 canvas, a 28x28 crop around
    /// the centre of mass, the 2-D equivalent of their elastic deformation, no re-centring, per-image
    /// standardisation (see [`crate::figure_glyphs`]).
    Authors,
}

impl FontMode {
    /// `"privsplit"` or `"authors"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Privsplit => "privsplit",
            Self::Authors => "authors",
        }
    }
}

impl std::str::FromStr for FontMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "privsplit" => Ok(Self::Privsplit),
            "authors" => Ok(Self::Authors),
            other => Err(Error::Invalid {
                what: "font generator mode".into(),
                expected: "privsplit or authors".into(),
                got: other.into(),
            }),
        }
    }
}

/// Elastic `α` of the authors' generation: their `alpha = 991, sigma = 9` on a `28x28x3` array, reduced
/// to the 2-D field that displaces channel 0 (see [`channel_equivalent_alpha`]); about 75.3.
pub fn authors_elastic_alpha() -> f32 {
    channel_equivalent_alpha(991.0, 9.0, 3, 0)
}

/// Configuration of the font-character generator (serde; every field has a default that depends on
/// `mode`, see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawFontCharConfig")]
pub struct FontCharConfig {
    /// Generation mode. Default [`FontMode::Privsplit`].
    pub mode: FontMode,
    /// The characters, one class each, in label order. Default `"0123456789"`.
    pub chars: String,
    /// Fonts, one sensitive-attribute value each: a name from [`crate::fonts::BUILTIN_FONTS`], a packaged
    /// font from [`crate::font_packages::PACKAGE_FONTS`] or a `.ttf`/`.otf` path.
    /// Default `["dejavu-sans", "dejavu-serif"]` (privsplit), `["urw-z003", "vollkorn"]` (authors).
    pub fonts: Vec<String>,
    /// Number of training images. Default 60,000.
    pub train: usize,
    /// Number of test images. Default 10,000.
    pub test: usize,
    /// Seed of every random step. Default 0.
    pub seed: u64,
    /// Standard deviation of the rotation, degrees. Default 10 (both modes).
    pub rotation_sd_deg: f32,
    /// Standard deviation of the relative scale (scale = 1 + N(0, sd)); privsplit mode only. Default 0.05.
    pub scale_sd: f32,
    /// Elastic-deformation intensity `α`, in 28x28 output pixels (Simard et al. 2003, §2). Default 34
    /// (privsplit), [`authors_elastic_alpha`] ≈ 75.3 (authors); 0 disables the deformation.
    pub elastic_alpha: f32,
    /// Elastic-deformation smoothness `σ`, in 28x28 output pixels. Default 4 (privsplit), 9 (authors).
    pub elastic_sigma: f32,
    /// Side of the box the glyph's larger side is normalised to, output pixels; privsplit mode only.
    /// Default 20 (MNIST).
    pub box_size: f32,
    /// Render supersampling: the canvas is drawn at `supersample` times its resolution and box-averaged
    /// down (anti-aliasing). Default 2 (privsplit), 4 (authors); 1..=8.
    pub supersample: usize,
    /// Mean text size, points; authors mode only. Default 50.
    pub size_pt: f32,
    /// Standard deviation of the text size, points; authors mode only. Default 2.5.
    pub size_sd_pt: f32,
    /// Resolution of the canvas, dots per inch (pixels per em = `size_pt * dpi / 72`); authors mode only.
    /// Default 28 (a 2x2 inch figure at 28 dpi).
    pub dpi: f32,
    /// Side of the square canvas the glyph is drawn on before the 28x28 crop, pixels; authors mode only.
    /// Default 56, 28..=512.
    pub canvas: usize,
    /// How the models read the images (see [`crate::ImageSet::to_model_f32`]). Default
    /// [`InputScaling::Unit`] (privsplit), [`InputScaling::Standardized`] (authors).
    pub input_scaling: InputScaling,
}

impl Default for FontCharConfig {
    fn default() -> Self {
        Self::for_mode(FontMode::Privsplit)
    }
}

/// The serde form: every field optional, defaults taken from the mode's.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawFontCharConfig {
    mode: FontMode,
    chars: Option<String>,
    fonts: Option<Vec<String>>,
    train: Option<usize>,
    test: Option<usize>,
    seed: Option<u64>,
    rotation_sd_deg: Option<f32>,
    scale_sd: Option<f32>,
    elastic_alpha: Option<f32>,
    elastic_sigma: Option<f32>,
    box_size: Option<f32>,
    supersample: Option<usize>,
    size_pt: Option<f32>,
    size_sd_pt: Option<f32>,
    dpi: Option<f32>,
    canvas: Option<usize>,
    input_scaling: Option<InputScaling>,
}

impl From<RawFontCharConfig> for FontCharConfig {
    fn from(r: RawFontCharConfig) -> Self {
        let d = Self::for_mode(r.mode);
        Self {
            mode: r.mode,
            chars: r.chars.unwrap_or(d.chars),
            fonts: r.fonts.unwrap_or(d.fonts),
            train: r.train.unwrap_or(d.train),
            test: r.test.unwrap_or(d.test),
            seed: r.seed.unwrap_or(d.seed),
            rotation_sd_deg: r.rotation_sd_deg.unwrap_or(d.rotation_sd_deg),
            scale_sd: r.scale_sd.unwrap_or(d.scale_sd),
            elastic_alpha: r.elastic_alpha.unwrap_or(d.elastic_alpha),
            elastic_sigma: r.elastic_sigma.unwrap_or(d.elastic_sigma),
            box_size: r.box_size.unwrap_or(d.box_size),
            supersample: r.supersample.unwrap_or(d.supersample),
            size_pt: r.size_pt.unwrap_or(d.size_pt),
            size_sd_pt: r.size_sd_pt.unwrap_or(d.size_sd_pt),
            dpi: r.dpi.unwrap_or(d.dpi),
            canvas: r.canvas.unwrap_or(d.canvas),
            input_scaling: r.input_scaling.unwrap_or(d.input_scaling),
        }
    }
}

impl FontCharConfig {
    /// The defaults of `mode` (see the field docs).
    pub fn for_mode(mode: FontMode) -> Self {
        let privsplit = Self {
            mode,
            chars: "0123456789".into(),
            fonts: vec!["dejavu-sans".into(), "dejavu-serif".into()],
            train: 60_000,
            test: 10_000,
            seed: 0,
            rotation_sd_deg: 10.0,
            scale_sd: 0.05,
            elastic_alpha: 34.0,
            elastic_sigma: 4.0,
            box_size: 20.0,
            supersample: 2,
            size_pt: 50.0,
            size_sd_pt: 2.5,
            dpi: 28.0,
            canvas: 56,
            input_scaling: InputScaling::Unit,
        };
        match mode {
            FontMode::Privsplit => privsplit,
            FontMode::Authors => Self {
                fonts: vec!["urw-z003".into(), "vollkorn".into()],
                elastic_alpha: authors_elastic_alpha(),
                elastic_sigma: 9.0,
                supersample: 4,
                input_scaling: InputScaling::Standardized,
                ..privsplit
            },
        }
    }

    /// The authors' generation (Ryffel et al. 2019, public repository) with `train` + `test` images.
    pub fn authors(train: usize, test: usize) -> Self {
        Self {
            train,
            test,
            ..Self::for_mode(FontMode::Authors)
        }
    }

    /// The 26 upper-case Latin letters `A..Z` with the default fonts and sizes.
    pub fn letters() -> Self {
        Self {
            chars: ('A'..='Z').collect(),
            ..Self::default()
        }
    }

    /// The default configuration with `train` + `test` images (for tests and quick runs).
    pub fn small(train: usize, test: usize) -> Self {
        Self {
            train,
            test,
            ..Self::default()
        }
    }

    /// Checks the configuration without loading fonts.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field: no or repeated characters, more than 256 characters or fonts,
    /// no or repeated fonts, negative or non-finite distortion parameters, `box_size` outside `(0, 28]`,
    /// `supersample` outside `1..=8`, `size_pt` or `dpi` not finite and > 0, `canvas` outside `28..=512`.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, expected: &str, got: String| {
            Err(Error::Invalid {
                what: format!("font generator {what}"),
                expected: expected.into(),
                got,
            })
        };
        let chars: Vec<char> = self.chars.chars().collect();
        if chars.is_empty() || chars.len() > 256 {
            return bad(
                "chars",
                "1 to 256 characters",
                format!("{} characters", chars.len()),
            );
        }
        for (i, c) in chars.iter().enumerate() {
            if chars[..i].contains(c) {
                return bad(
                    "chars",
                    "distinct characters",
                    format!("{c:?} repeated in {:?}", self.chars),
                );
            }
        }
        if self.fonts.is_empty() || self.fonts.len() > 256 {
            return bad(
                "fonts",
                "1 to 256 fonts",
                format!("{} fonts", self.fonts.len()),
            );
        }
        for (i, f) in self.fonts.iter().enumerate() {
            if self.fonts[..i].contains(f) {
                return bad("fonts", "distinct fonts", format!("{f:?} repeated"));
            }
        }
        for (name, v) in [
            ("rotation_sd_deg", self.rotation_sd_deg),
            ("scale_sd", self.scale_sd),
            ("elastic_alpha", self.elastic_alpha),
            ("elastic_sigma", self.elastic_sigma),
            ("size_sd_pt", self.size_sd_pt),
        ] {
            if !v.is_finite() || v < 0.0 {
                return bad(name, "a finite value >= 0", v.to_string());
            }
        }
        for (name, v) in [("size_pt", self.size_pt), ("dpi", self.dpi)] {
            if !(v.is_finite() && v > 0.0) {
                return bad(name, "a finite value > 0", v.to_string());
            }
        }
        if !(self.box_size > 0.0 && self.box_size <= IMAGE_SIZE as f32) {
            return bad(
                "box_size",
                "a value in (0, 28] pixels",
                self.box_size.to_string(),
            );
        }
        if !(1..=8).contains(&self.supersample) {
            return bad("supersample", "1..=8", self.supersample.to_string());
        }
        if !(IMAGE_SIZE..=512).contains(&self.canvas) {
            return bad("canvas", "28..=512 pixels", self.canvas.to_string());
        }
        Ok(())
    }
}
