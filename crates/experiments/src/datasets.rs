//! Dataset jobs: loading installed datasets with an error that names the install step, and the
//! `privsplit data` pipelines (render the font-character set or convert Fashion-MNIST into gzipped IDX
//! files, with a contact sheet).

use std::path::{Path, PathBuf};
use std::time::Instant;

use privsplit_data::{fashion_mnist, fonts, idx, FontCharConfig, FontMode, ImageSet, Split};
use privsplit_report::{image_grid, write_json, GridImage};

use crate::{Error, Result, StepContext};

/// Loads Fashion-MNIST from `dir`.
///
/// # Errors
/// [`Error::NotInstalled`] naming `dir` and the install step when the files are missing or unreadable.
pub fn load_fashion_mnist(dir: &Path) -> Result<Split> {
    fashion_mnist::load(dir).map_err(|e| Error::NotInstalled {
        what: "Fashion-MNIST (Debian package dataset-fashion-mnist)".into(),
        path: dir.to_path_buf(),
        detail: e.to_string(),
    })
}

/// What a dataset job wrote.
#[derive(Clone, Debug)]
pub struct DatasetOutcome {
    /// One line for the user: counts, classes, the output folder and the contact sheet.
    pub summary: String,
    /// The contact sheet (`None` when there was no image to show).
    pub contact_sheet: Option<PathBuf>,
}

impl std::fmt::Display for DatasetOutcome {
    /// The summary and where the contact sheet is (or that there was none).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.contact_sheet {
            Some(p) => write!(f, "{}; contact sheet {}", self.summary, p.display()),
            None => write!(f, "{}; no images, so no contact sheet", self.summary),
        }
    }
}

/// A font-character dataset to render into a folder (the flags of `privsplit data fonts`): the settings
/// that differ from the defaults of the generation `mode` ([`FontCharConfig::for_mode`]).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct FontsJob {
    /// Output folder (created if missing); files are prefixed `fonts-`.
    #[cfg_attr(feature = "clap", arg(long))]
    pub out: PathBuf,
    /// Number of training images.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 60_000))]
    pub train: usize,
    /// Number of test images.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 10_000))]
    pub test: usize,
    /// The characters, one class each (e.g. 0123456789 or ABCDEFGHIJKLMNOPQRSTUVWXYZ).
    #[cfg_attr(feature = "clap", arg(long, default_value = "0123456789"))]
    pub chars: String,
    /// A font: built-in name (dejavu-sans, dejavu-serif, dejavu-sans-mono, ...), packaged font (urw-z003,
    /// vollkorn) or a .ttf/.otf path. Repeat for several; default dejavu-sans and dejavu-serif
    /// (privsplit), urw-z003 and vollkorn (authors).
    #[cfg_attr(feature = "clap", arg(long = "font"))]
    pub fonts: Vec<String>,
    /// Seed of every random step.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 0))]
    pub seed: u64,
    /// Generation: `privsplit` (MNIST-like size normalisation and centring) or `authors` (Ryffel et
    /// al.'s repository: natural size, centre-of-mass crop, packaged fonts urw-z003 and vollkorn,
    /// per-image standardisation at training time).
    #[cfg_attr(feature = "clap", arg(long, default_value = "privsplit"))]
    pub mode: FontMode,
    /// Elastic-deformation alpha, 28x28 output pixels (Simard et al. 2003); 0 disables it.
    /// Default 34 (privsplit), 75.3 (authors).
    #[cfg_attr(feature = "clap", arg(long))]
    pub elastic_alpha: Option<f32>,
    /// Elastic-deformation sigma, 28x28 output pixels. Default 4 (privsplit), 9 (authors).
    #[cfg_attr(feature = "clap", arg(long))]
    pub elastic_sigma: Option<f32>,
    /// Samples per (font, character) on the contact sheet.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 3))]
    pub samples: usize,
}

impl FontsJob {
    /// The generator settings: the defaults of `mode` with the characters, sizes and seed of this job,
    /// and its fonts and elastic deformation where given.
    pub fn config(&self) -> FontCharConfig {
        let d = FontCharConfig::for_mode(self.mode);
        FontCharConfig {
            chars: self.chars.clone(),
            fonts: if self.fonts.is_empty() {
                d.fonts.clone()
            } else {
                self.fonts.clone()
            },
            train: self.train,
            test: self.test,
            seed: self.seed,
            elastic_alpha: self.elastic_alpha.unwrap_or(d.elastic_alpha),
            elastic_sigma: self.elastic_sigma.unwrap_or(d.elastic_sigma),
            ..d
        }
    }
}

/// Renders the font-character dataset of `cfg` (progress: images done, total) and writes it to `out` as
/// `fonts-*` IDX files, `fonts-config.json` and `contact-sheet.png` (one row per font, `samples` images per
/// character).
///
/// # Errors
/// [`Error::Data`] on a bad config, a font without a glyph, or an unwritable folder.
pub fn write_fonts(
    cfg: &FontCharConfig,
    out: &Path,
    samples: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<DatasetOutcome> {
    cfg.validate()?;
    fonts::check_coverage(&cfg.chars, &cfg.fonts).step("checking the fonts")?;
    let started = Instant::now();
    let split = fonts::generate_with_progress(cfg, progress)
        .step("generating the font-character dataset")?;
    let secs = started.elapsed().as_secs_f64();
    create_dir(out)?;
    idx::write_split(out, "fonts", &split)
        .step(format!("writing IDX files to {}", out.display()))?;
    write_json(&out.join("fonts-config.json"), cfg)?;
    let set = if split.train.n > 0 {
        &split.train
    } else {
        &split.test
    };
    let (n_fonts, n_chars) = (set.sensitive_names.len(), set.class_names.len());
    let per = samples.max(1);
    let sens = set.sensitive.as_deref().unwrap_or(&[]);
    let mut picks = Vec::new();
    for f in 0..n_fonts {
        for c in 0..n_chars {
            let found = (0..set.n)
                .filter(|&i| {
                    usize::from(set.labels[i]) == c
                        && sens.get(i).is_some_and(|&s| usize::from(s) == f)
                })
                .take(per);
            picks.extend(found.map(|i| (i, format!("{} f{f}", set.class_names[c]))));
        }
    }
    let sheet = contact_sheet(set, &picks, n_chars * per, &out.join("contact-sheet.png"))?;
    Ok(DatasetOutcome {
        summary: format!(
            "wrote {} train + {} test images ({} chars x {} fonts: {}) to {} in {secs:.1} s (row of the \
             contact sheet = font f<i>)",
            split.train.n,
            split.test.n,
            n_chars,
            n_fonts,
            set.sensitive_names.join(", "),
            out.display()
        ),
        contact_sheet: sheet,
    })
}

/// Converts Fashion-MNIST from `dir` into `out` (`fashion-mnist-*` IDX files) with a contact sheet of
/// `samples` images per class (one row per class).
///
/// # Errors
/// [`Error::NotInstalled`] when the dataset is missing; [`Error::Data`] when writing fails.
pub fn convert_fashion_mnist(dir: &Path, out: &Path, samples: usize) -> Result<DatasetOutcome> {
    let split = load_fashion_mnist(dir)?;
    create_dir(out)?;
    idx::write_split(out, "fashion-mnist", &split)
        .step(format!("writing IDX files to {}", out.display()))?;
    let set = &split.train;
    let k = samples.max(1);
    let mut picks = Vec::new();
    for (c, name) in set.class_names.iter().enumerate() {
        let found = (0..set.n)
            .filter(|&i| usize::from(set.labels[i]) == c)
            .take(k);
        picks.extend(found.map(|i| (i, name.clone())));
    }
    let sheet = contact_sheet(set, &picks, k, &out.join("contact-sheet.png"))?;
    Ok(DatasetOutcome {
        summary: format!(
            "wrote {} train + {} test Fashion-MNIST images to {} (row of the contact sheet = class)",
            split.train.n,
            split.test.n,
            out.display()
        ),
        contact_sheet: sheet,
    })
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes the picked images `(index, label)` of `set` as a grid of `cols` columns; `None` when nothing was
/// picked.
fn contact_sheet(
    set: &ImageSet,
    picks: &[(usize, String)],
    cols: usize,
    path: &Path,
) -> Result<Option<PathBuf>> {
    if picks.is_empty() {
        return Ok(None);
    }
    let images: Vec<GridImage<'_>> = picks
        .iter()
        .filter_map(|(i, _)| set.image(*i))
        .map(|pixels| GridImage::Grey {
            rows: set.rows,
            cols: set.cols,
            pixels,
        })
        .collect();
    let labels: Vec<String> = picks.iter().map(|(_, l)| l.clone()).collect();
    image_grid(path, &images, cols.max(1), 2, Some(&labels))?;
    Ok(Some(path.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fonts_job_keeps_the_modes_defaults_unless_given() {
        let mut job = FontsJob {
            out: "out".into(),
            train: 10,
            test: 4,
            chars: "AB".into(),
            fonts: Vec::new(),
            seed: 3,
            mode: FontMode::Authors,
            elastic_alpha: None,
            elastic_sigma: Some(1.5),
            samples: 1,
        };
        let d = FontCharConfig::for_mode(FontMode::Authors);
        let c = job.config();
        assert_eq!(
            (c.train, c.test, c.seed, c.chars.as_str()),
            (10, 4, 3, "AB")
        );
        assert_eq!(
            (c.fonts.clone(), c.elastic_alpha),
            (d.fonts.clone(), d.elastic_alpha)
        );
        assert_eq!((c.elastic_sigma, c.supersample), (1.5, d.supersample));
        job.fonts = vec!["dejavu-sans".into()];
        assert_eq!(job.config().fonts, ["dejavu-sans"]);
    }

    #[test]
    fn the_outcome_line_names_the_contact_sheet_or_its_absence() {
        let mut o = DatasetOutcome {
            summary: "wrote 2 images".into(),
            contact_sheet: Some(PathBuf::from("out/contact-sheet.png")),
        };
        assert_eq!(
            o.to_string(),
            "wrote 2 images; contact sheet out/contact-sheet.png"
        );
        o.contact_sheet = None;
        assert_eq!(
            o.to_string(),
            "wrote 2 images; no images, so no contact sheet"
        );
    }
}
