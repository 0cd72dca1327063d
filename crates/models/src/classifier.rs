//! Training and evaluating a staged model as an image classifier (the victim of a partition-point sweep):
//! image sets as tensors, cross-entropy + Adam over seeded shuffled batches ([`crate::train::epoch_batches`]),
//! predictions and accuracy (also on reconstructions).

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use privsplit_data::natural::RgbImages;
use privsplit_data::ImageSet;
use serde::{Deserialize, Serialize};

use crate::stage::StagedModel;
use crate::train::epoch_batches;
use crate::zoo::{build, ArchConfig};
use crate::{Error, Result};

/// Classifier training settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierTrainConfig {
    /// Passes over the training images.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Training images used (the first ones of the training split).
    pub images: usize,
    /// Seed of initialisation and shuffling.
    pub seed: u64,
}

impl Default for ClassifierTrainConfig {
    fn default() -> Self {
        Self {
            epochs: 3,
            batch_size: 128,
            learning_rate: 1e-3,
            images: 60_000,
            seed: 1,
        }
    }
}

/// Images `start..end` of `set` as `[n, 1, rows, cols]` with values `pixel / 255` in `[0, 1]`.
///
/// # Errors
/// [`Error::Invalid`] when the range is empty or outside the set.
pub fn images_tensor(set: &ImageSet, start: usize, end: usize, dev: &Device) -> Result<Tensor<4>> {
    if start >= end || end > set.n {
        return Err(Error::Invalid {
            what: "image range".into(),
            expected: format!("a non-empty range within 0..{}", set.n),
            got: format!("{start}..{end}"),
        });
    }
    let px = set.rows * set.cols;
    let v: Vec<f32> = set.pixels[start * px..end * px]
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    Ok(Tensor::from_data(
        TensorData::new(v, [end - start, 1, set.rows, set.cols]),
        dev,
    ))
}

/// RGB photographs as `[n, 3, size, size]` in `[0, 1]`.
pub fn rgb_tensor(images: &RgbImages, dev: &Device) -> Tensor<4> {
    Tensor::from_data(
        TensorData::new(
            images.pixels.clone(),
            [images.n, 3, images.size, images.size],
        ),
        dev,
    )
}

/// Labels `start..end` of `set` as `usize`.
pub fn labels(set: &ImageSet, start: usize, end: usize) -> Vec<usize> {
    set.labels[start.min(set.n)..end.min(set.n)]
        .iter()
        .map(|&l| usize::from(l))
        .collect()
}

/// Shuffled batches of `0..n` for `epoch` from `seed` ([`epoch_batches`]) as index tensors on `dev`.
pub fn batch_indices(
    n: usize,
    batch: usize,
    seed: u64,
    epoch: usize,
    dev: &Device,
) -> Vec<Tensor<1, Int>> {
    epoch_batches(n, batch, seed, epoch)
        .into_iter()
        .map(|c| {
            let c: Vec<i64> = c.into_iter().map(|i| i as i64).collect();
            Tensor::<1, Int>::from_ints(c.as_slice(), dev)
        })
        .collect()
}

/// Trains `arch` from scratch on `images` `[n, C, H, W]` (plain device) with `labels`; returns the model in
/// evaluation mode on the plain device.
///
/// # Errors
/// [`Error::Invalid`] when counts differ, a label is out of range or the config is degenerate; model errors.
pub fn train_classifier(
    arch: &ArchConfig,
    images: &Tensor<4>,
    labels: &[usize],
    cfg: &ClassifierTrainConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<StagedModel> {
    let n = images.dims()[0];
    if n != labels.len() || n == 0 || cfg.epochs == 0 || cfg.batch_size == 0 {
        return Err(Error::Invalid {
            what: "classifier training data".into(),
            expected: "as many labels as images (non-zero), epochs >= 1, batch_size >= 1".into(),
            got: format!("{n} images, {} labels, {cfg:?}", labels.len()),
        });
    }
    if let Some(&bad) = labels.iter().find(|&&l| l >= arch.classes) {
        return Err(Error::Invalid {
            what: "label".into(),
            expected: format!("< {} classes", arch.classes),
            got: bad.to_string(),
        });
    }
    let plain = images.device();
    let dev = plain.clone().autodiff();
    dev.seed(cfg.seed);
    let mut model = build(arch, &dev)?;
    let mut opt = AdamConfig::new().init();
    let ce = CrossEntropyLossConfig::new().init(&dev);
    let lab: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    let lab = Tensor::<1, Int>::from_ints(lab.as_slice(), &plain);
    let stages = model.num_stages();
    for epoch in 0..cfg.epochs {
        let mut total = 0.0f64;
        let batches = batch_indices(n, cfg.batch_size, cfg.seed, epoch, &plain);
        let nb = batches.len();
        for idx in batches {
            let x = images.clone().select(0, idx.clone()).autodiff();
            let y = lab.clone().select(0, idx).autodiff();
            let logits = model.forward_range(x, 0, stages)?.flatten::<2>(1, 3);
            let loss = ce.forward(logits, y);
            total += f64::from(loss.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = opt.step(cfg.learning_rate, model, grads);
        }
        progress(&format!(
            "classifier epoch {}/{}: loss {:.4}",
            epoch + 1,
            cfg.epochs,
            total / nb as f64
        ));
    }
    Ok(model.valid())
}

/// Predicted classes of `images` `[n, C, H, W]` (already normalised for the model), in batches of 256.
///
/// # Errors
/// Model errors (wrong input shape).
pub fn predict_images(model: &StagedModel, images: &Tensor<4>) -> Result<Vec<usize>> {
    let n = images.dims()[0];
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let len = 256.min(n - i);
        let logits = model.forward(images.clone().narrow(0, i, len))?;
        let pred = logits.argmax(1).flatten::<1>(0, 1).into_data();
        let v: Vec<i64> =
            pred.convert::<i64>()
                .try_to_vec::<i64>()
                .map_err(|e| Error::Invalid {
                    what: "predictions".into(),
                    expected: "integer classes".into(),
                    got: format!("{e:?}"),
                })?;
        out.extend(v.into_iter().map(|p| p as usize));
        i += len;
    }
    Ok(out)
}

/// Accuracy in `[0, 1]` of `model` on `images` with `labels`.
///
/// # Errors
/// As [`predict_images`]; [`Error::Invalid`] when counts differ.
pub fn image_accuracy(model: &StagedModel, images: &Tensor<4>, labels: &[usize]) -> Result<f64> {
    let pred = predict_images(model, images)?;
    if pred.len() != labels.len() || pred.is_empty() {
        return Err(Error::Invalid {
            what: "labels".into(),
            expected: format!("{} labels", pred.len()),
            got: labels.len().to_string(),
        });
    }
    let ok = pred.iter().zip(labels).filter(|(p, l)| p == l).count();
    Ok(ok as f64 / pred.len() as f64)
}
