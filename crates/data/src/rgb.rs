//! RGB image folders for the ImageNet models: `[3, H, W]` images read from a folder of PNG/JPEG files (flat,
//! or ImageNet's `class/image` layout), torchvision's evaluation preprocessing, seeded random crops for
//! augmentation, and an attacker's auxiliary set that is disjoint from the evaluation set **by source
//! image** (no crop of an evaluation photo ever reaches the attacker).
//!
//! Preprocessing (torchvision's ImageNet evaluation transform, `torchvision/references/classification/
//! presets.py`, `ClassificationPresetEval`): `Resize(resize)` scales the shorter side to `resize` pixels
//! (bilinear with antialiasing; here `image`'s triangle filter, the same separable tent kernel widened by
//! the scale factor when shrinking, as PIL does), then `CenterCrop(crop)` (offsets
//! `round((side - crop) / 2)`), then `ToTensor` (pixels `/ 255` in `[0, 1]`). The ImageNet mean/std
//! normalisation (`Normalize(mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225])`) is **not**
//! applied here: images stay pixels in `[0, 1]`, and the normalisation is the first operation of the model
//! input (`privsplit_attacks::rmle::InputNorm::imagenet`, applied by the sweep before stage 0, i.e. inside
//! the trusted partition). Attacks therefore reconstruct, and are scored on, pixels in `[0, 1]`.
//!
//! The packaged photographs ([`packaged_split`]) are the offline default: scikit-image's and
//! scikit-learn's sample images (Debian `python3-skimage`, `python3-sklearn`, installed by
//! `scripts/install-deps.sh`). The evaluation (victim) photos are scikit-image's four colour photographs of
//! everyday scenes ([`PACKAGED_EVAL`]); the attacker's photos are all the others ([`PACKAGED_ATTACKER`]);
//! both are cut into many crops.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::RgbImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use crate::natural::{load_photo, planar};
use crate::natural::{RgbImages, SKIMAGE_DATA_DIR};
use crate::{Error, Result};

/// Where Debian's `python3-sklearn` installs scikit-learn's two sample photographs (`china.jpg`,
/// `flower.jpg`, CC-BY).
pub const SKLEARN_IMAGES_DIR: &str = "/usr/lib/python3/dist-packages/sklearn/datasets/images";

/// The packaged evaluation photos `(folder, file, source)`: scikit-image's colour photographs of everyday
/// scenes. `motorcycle_left` and `motorcycle_right` are a stereo pair of one scene, so they share the
/// source `motorcycle` and both stay on the evaluation side.
pub const PACKAGED_EVAL: [(&str, &str, &str); 5] = [
    (SKIMAGE_DATA_DIR, "chelsea.png", "chelsea"),
    (SKIMAGE_DATA_DIR, "coffee.png", "coffee"),
    (SKIMAGE_DATA_DIR, "astronaut.png", "astronaut"),
    (SKIMAGE_DATA_DIR, "motorcycle_left.png", "motorcycle"),
    (SKIMAGE_DATA_DIR, "motorcycle_right.png", "motorcycle"),
];

/// The packaged attacker photos `(folder, file, source)`: scikit-learn's two JPEGs, scikit-image's other
/// colour photographs, and its grey photographs (camera man, coins, moon surface, textures; replicated to
/// three channels).
pub const PACKAGED_ATTACKER: [(&str, &str, &str); 12] = [
    (SKLEARN_IMAGES_DIR, "china.jpg", "china"),
    (SKLEARN_IMAGES_DIR, "flower.jpg", "flower"),
    (SKIMAGE_DATA_DIR, "rocket.jpg", "rocket"),
    (SKIMAGE_DATA_DIR, "retina.jpg", "retina"),
    (SKIMAGE_DATA_DIR, "hubble_deep_field.jpg", "hubble"),
    (SKIMAGE_DATA_DIR, "ihc.png", "ihc"),
    (SKIMAGE_DATA_DIR, "camera.png", "camera"),
    (SKIMAGE_DATA_DIR, "coins.png", "coins"),
    (SKIMAGE_DATA_DIR, "moon.png", "moon"),
    (SKIMAGE_DATA_DIR, "grass.png", "grass"),
    (SKIMAGE_DATA_DIR, "gravel.png", "gravel"),
    (SKIMAGE_DATA_DIR, "brick.png", "brick"),
];

/// One image file of a folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Photo {
    /// The file.
    pub path: PathBuf,
    /// Its source image: crops of one source never go to both the attacker and the evaluation set.
    pub source: String,
    /// Class index (ImageNet layout: the index of its folder among the sorted class folders).
    pub class: Option<usize>,
}

/// The image files of a folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFolder {
    /// The files, sorted by path.
    pub photos: Vec<Photo>,
    /// Class folder names in class-index order (empty for a flat folder).
    pub class_names: Vec<String>,
}

fn is_image(p: &Path) -> bool {
    p.is_file()
        && p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut v = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(io)?;
    v.sort();
    Ok(v)
}

impl ImageFolder {
    /// Lists the PNG/JPEG files (`.png`, `.jpg`, `.jpeg`, any case) of `dir`: a **flat** folder (images
    /// directly in it, no classes) or ImageNet's **`class/image`** layout (one sub-folder per class, sorted
    /// by name = class index, images directly inside). Other files are ignored. Each file is its own source
    /// image. Files are not decoded here (see [`load_photo`]).
    ///
    /// # Errors
    /// [`Error::Io`] when `dir` cannot be read; [`Error::Invalid`] naming `dir` when it holds no image, or
    /// both images and class folders with images (mixed layouts).
    pub fn scan(dir: &Path) -> Result<Self> {
        let entries = sorted_entries(dir)?;
        let flat: Vec<&PathBuf> = entries.iter().filter(|p| is_image(p)).collect();
        let mut class_names = Vec::new();
        let mut nested = Vec::new();
        for sub in entries.iter().filter(|p| p.is_dir()) {
            let files: Vec<PathBuf> = sorted_entries(sub)?
                .into_iter()
                .filter(|p| is_image(p))
                .collect();
            if files.is_empty() {
                continue;
            }
            let class = class_names.len();
            class_names.push(
                sub.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
            nested.extend(files.into_iter().map(|path| (path, class)));
        }
        let source = |p: &Path| {
            p.strip_prefix(dir)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        };
        let bad = |got: String| Error::Invalid {
            what: format!("image folder {}", dir.display()),
            expected: "PNG/JPEG files directly in it (flat) or in one sub-folder per class \
                       (ImageNet class/image layout), not both"
                .into(),
            got,
        };
        match (flat.is_empty(), nested.is_empty()) {
            (true, true) => Err(bad("no .png/.jpg/.jpeg file".into())),
            (false, false) => Err(bad(format!(
                "{} images at the top and {} in {} class folders",
                flat.len(),
                nested.len(),
                class_names.len()
            ))),
            (false, true) => Ok(Self {
                photos: flat
                    .into_iter()
                    .map(|p| Photo {
                        source: source(p),
                        path: p.clone(),
                        class: None,
                    })
                    .collect(),
                class_names,
            }),
            (true, false) => Ok(Self {
                photos: nested
                    .into_iter()
                    .map(|(p, class)| Photo {
                        source: source(&p),
                        path: p,
                        class: Some(class),
                    })
                    .collect(),
                class_names,
            }),
        }
    }
}

/// torchvision's evaluation preprocessing without the normalisation (see the module docs): shorter side
/// resized to `resize`, centre crop `crop` x `crop`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvalTransform {
    /// Shorter side after resizing (pixels).
    pub resize: usize,
    /// Side of the square centre crop (pixels), at most `resize`.
    pub crop: usize,
}

impl EvalTransform {
    /// The ImageNet evaluation ratio of torchvision's weights (`resize_size = 256`, `crop_size = 224`)
    /// scaled to `crop`: `resize = round(crop * 256 / 224)` (224 -> 256, 96 -> 110).
    pub fn imagenet(crop: usize) -> Self {
        Self {
            resize: ((crop * 256) as f64 / 224.0).round() as usize,
            crop,
        }
    }

    /// `img` -> `[3, crop, crop]` in `[0, 1]`: the shorter side to `resize` (the longer one to
    /// `floor(resize * long / short)`, as torchvision), then the centre crop at offsets
    /// `round((side - crop) / 2)` (ties to even, Python's `round`).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `crop` is 0 or larger than `resize`.
    pub fn apply(&self, img: &RgbImage) -> Result<Vec<f32>> {
        if self.crop == 0 || self.crop > self.resize {
            return Err(Error::Invalid {
                what: "evaluation transform".into(),
                expected: "1 <= crop <= resize".into(),
                got: format!("resize {}, crop {}", self.resize, self.crop),
            });
        }
        let (w, h) = (img.width() as usize, img.height() as usize);
        let (nw, nh) = if w <= h {
            (self.resize, self.resize * h / w)
        } else {
            (self.resize * w / h, self.resize)
        };
        let resized = image::imageops::resize(img, nw as u32, nh as u32, FilterType::Triangle);
        let off = |side: usize| ((side - self.crop) as f64 / 2.0).round_ties_even() as u32;
        let c = self.crop as u32;
        Ok(planar(
            &image::imageops::crop_imm(&resized, off(nw), off(nh), c, c).to_image(),
        ))
    }
}

/// A seeded random crop for augmentation: a square of side `uniform(min_scale, 1) * shorter side` at a
/// uniform position, mirrored left-right with probability 1/2 when `flip`, resized to `size` x `size`
/// (triangle filter). A lighter form of torchvision's `RandomResizedCrop` + `RandomHorizontalFlip`
/// (square crops only).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomCrop {
    /// Output side (pixels).
    pub size: usize,
    /// Smallest crop side as a fraction of the shorter image side, in `(0, 1]`.
    pub min_scale: f64,
    /// Random left-right mirroring.
    pub flip: bool,
}

impl RandomCrop {
    /// One crop of `img`, `[3, size, size]` in `[0, 1]`, drawn from `rng`.
    pub fn apply(&self, img: &RgbImage, rng: &mut ChaCha8Rng) -> Vec<f32> {
        let short = img.width().min(img.height());
        let scale = rng.gen_range(self.min_scale.clamp(1e-3, 1.0)..=1.0);
        let side = ((f64::from(short) * scale).round() as u32).clamp(1, short);
        let x = rng.gen_range(0..=img.width() - side);
        let y = rng.gen_range(0..=img.height() - side);
        let flip = self.flip && rng.gen_bool(0.5);
        let crop = image::imageops::crop_imm(img, x, y, side, side).to_image();
        let s = self.size as u32;
        let mut out = image::imageops::resize(&crop, s, s, FilterType::Triangle);
        if flip {
            image::imageops::flip_horizontal_in_place(&mut out);
        }
        planar(&out)
    }
}

/// RGB images with their classes and source images.
#[derive(Clone, Debug, PartialEq)]
pub struct RgbDataset {
    /// The images `[n, 3, size, size]` in `[0, 1]` (names: `<source>#<crop>`; crop 0 of an evaluation
    /// photo is its [`EvalTransform`] centre crop).
    pub images: RgbImages,
    /// Class of every image (ImageNet layout only).
    pub labels: Option<Vec<usize>>,
    /// Class folder names (empty for flat folders).
    pub class_names: Vec<String>,
    /// Source image of every image.
    pub sources: Vec<String>,
}

impl RgbDataset {
    /// The distinct source images.
    pub fn source_set(&self) -> BTreeSet<&str> {
        self.sources.iter().map(String::as_str).collect()
    }
}

/// Sizes and seed of an attacker / evaluation split.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RgbSplitConfig {
    /// Image side (pixels) of every crop.
    pub size: usize,
    /// Attacker crops (seeded [`RandomCrop`]s cycling over the attacker's photos).
    pub attacker_images: usize,
    /// Evaluation images: the [`EvalTransform::imagenet`] centre crop of each evaluation photo first, then
    /// seeded random crops cycling over them.
    pub eval_images: usize,
    /// Fraction of a user folder's source images that go to the evaluation side (at least one, and at
    /// least one left for the attacker).
    pub eval_fraction: f64,
    /// Smallest random-crop side as a fraction of the shorter image side.
    pub min_scale: f64,
    /// Seed of the source split and of every crop (`ChaCha8Rng`).
    pub seed: u64,
}

impl Default for RgbSplitConfig {
    fn default() -> Self {
        Self {
            size: 96,
            attacker_images: 512,
            eval_images: 32,
            eval_fraction: 0.25,
            min_scale: 0.35,
            seed: 7,
        }
    }
}

/// An attacker's auxiliary set and the evaluation (victim) set, from disjoint source images.
#[derive(Clone, Debug, PartialEq)]
pub struct RgbSplit {
    /// The attacker's images.
    pub attacker: RgbDataset,
    /// The evaluation images.
    pub eval: RgbDataset,
}

/// Splits the source images of `folder` (sorted, shuffled with `cfg.seed`) into evaluation sources
/// (`ceil(eval_fraction * sources)`, at least one) and attacker sources (the rest), then cuts both into
/// crops ([`RgbSplitConfig`]).
///
/// # Errors
/// [`Error::Invalid`] when the folder has fewer than two source images, for bad sizes, or naming a file
/// that cannot be decoded; [`Error::Io`] when a file cannot be read.
pub fn split_folder(folder: &ImageFolder, cfg: &RgbSplitConfig) -> Result<RgbSplit> {
    let sources: BTreeSet<&str> = folder.photos.iter().map(|p| p.source.as_str()).collect();
    if sources.len() < 2 {
        return Err(Error::Invalid {
            what: "image folder".into(),
            expected: ">= 2 source images (one for the attacker, one for evaluation)".into(),
            got: format!("{} source image(s)", sources.len()),
        });
    }
    let mut order: Vec<&str> = sources.into_iter().collect();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut rng);
    let n_eval = ((order.len() as f64 * cfg.eval_fraction.clamp(0.0, 1.0)).ceil() as usize)
        .clamp(1, order.len() - 1);
    let eval_sources: BTreeSet<&str> = order[..n_eval].iter().copied().collect();
    let (eval, attacker): (Vec<Photo>, Vec<Photo>) = folder
        .photos
        .iter()
        .cloned()
        .partition(|p| eval_sources.contains(p.source.as_str()));
    build_split(&eval, &attacker, &folder.class_names, cfg)
}

/// The packaged default ([`PACKAGED_EVAL`] for evaluation, [`PACKAGED_ATTACKER`] for the attacker) with
/// scikit-image's folder at `skimage_dir` and scikit-learn's at `sklearn_dir`; missing files are left out.
///
/// # Errors
/// [`Error::NotInstalled`] naming the install step when no evaluation photo or no attacker photo is
/// installed; as [`split_folder`] for sizes and files.
pub fn packaged_split(
    skimage_dir: &Path,
    sklearn_dir: &Path,
    cfg: &RgbSplitConfig,
) -> Result<RgbSplit> {
    let present = |list: &[(&str, &str, &str)]| -> Vec<Photo> {
        list.iter()
            .map(|&(dir, file, source)| Photo {
                path: if dir == SKLEARN_IMAGES_DIR {
                    sklearn_dir.join(file)
                } else {
                    skimage_dir.join(file)
                },
                source: source.to_string(),
                class: None,
            })
            .filter(|p| p.path.is_file())
            .collect()
    };
    let (eval, attacker) = (present(&PACKAGED_EVAL), present(&PACKAGED_ATTACKER));
    if eval.is_empty() || attacker.is_empty() {
        return Err(Error::NotInstalled {
            what: "scikit-image / scikit-learn sample photographs (Debian python3-skimage, \
                   python3-sklearn)"
                .into(),
            path: skimage_dir.to_path_buf(),
            detail: format!(
                "{} evaluation and {} attacker photos found (also looked in {})",
                eval.len(),
                attacker.len(),
                sklearn_dir.display()
            ),
        });
    }
    build_split(&eval, &attacker, &[], cfg)
}

fn build_split(
    eval: &[Photo],
    attacker: &[Photo],
    class_names: &[String],
    cfg: &RgbSplitConfig,
) -> Result<RgbSplit> {
    if cfg.size == 0 || cfg.eval_images == 0 {
        return Err(Error::Invalid {
            what: "RGB split".into(),
            expected: "size >= 1 and eval_images >= 1".into(),
            got: format!("size {}, eval_images {}", cfg.size, cfg.eval_images),
        });
    }
    let eval_src: BTreeSet<&str> = eval.iter().map(|p| p.source.as_str()).collect();
    if let Some(p) = attacker
        .iter()
        .find(|p| eval_src.contains(p.source.as_str()))
    {
        return Err(Error::Invalid {
            what: "attacker photos".into(),
            expected: "source images disjoint from the evaluation photos".into(),
            got: format!("{} (source {})", p.path.display(), p.source),
        });
    }
    let crop = RandomCrop {
        size: cfg.size,
        min_scale: cfg.min_scale,
        flip: true,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed_c409);
    let eval_imgs = eval
        .iter()
        .map(|p| load_photo(&p.path))
        .collect::<Result<Vec<_>>>()?;
    let centre = EvalTransform::imagenet(cfg.size);
    let mut e = Builder::new(cfg.size);
    for i in 0..cfg.eval_images {
        let j = i % eval.len();
        let pixels = if i < eval.len() {
            centre.apply(&eval_imgs[j])?
        } else {
            crop.apply(&eval_imgs[j], &mut rng)
        };
        e.push(pixels, &eval[j], i / eval.len());
    }
    let att_imgs = attacker
        .iter()
        .map(|p| load_photo(&p.path))
        .collect::<Result<Vec<_>>>()?;
    let mut a = Builder::new(cfg.size);
    if !attacker.is_empty() {
        for i in 0..cfg.attacker_images {
            let j = i % attacker.len();
            a.push(
                crop.apply(&att_imgs[j], &mut rng),
                &attacker[j],
                i / attacker.len(),
            );
        }
    }
    Ok(RgbSplit {
        attacker: a.finish(class_names),
        eval: e.finish(class_names),
    })
}

struct Builder {
    size: usize,
    pixels: Vec<f32>,
    names: Vec<String>,
    labels: Vec<Option<usize>>,
    sources: Vec<String>,
}

impl Builder {
    fn new(size: usize) -> Self {
        Self {
            size,
            pixels: Vec::new(),
            names: Vec::new(),
            labels: Vec::new(),
            sources: Vec::new(),
        }
    }

    fn push(&mut self, pixels: Vec<f32>, photo: &Photo, crop: usize) {
        self.pixels.extend(pixels);
        self.names.push(format!("{}#{crop}", photo.source));
        self.labels.push(photo.class);
        self.sources.push(photo.source.clone());
    }

    fn finish(self, class_names: &[String]) -> RgbDataset {
        let labels = (!self.labels.is_empty() && self.labels.iter().all(Option::is_some))
            .then(|| self.labels.iter().flatten().copied().collect());
        RgbDataset {
            images: RgbImages {
                n: self.names.len(),
                size: self.size,
                pixels: self.pixels,
                names: self.names,
            },
            labels,
            class_names: class_names.to_vec(),
            sources: self.sources,
        }
    }
}

#[cfg(test)]
mod tests;
