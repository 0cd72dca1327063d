//! Baselines of a sweep: what an attacker who learns nothing about the individual image scores. The mean
//! image of the attacker dataset, the mean image of the evaluation image's class (an attacker who learns
//! only the class), and the label decoder ([`train_label_decoder`]): the attacks' decoder trained from the
//! class alone.

use burn::tensor::{Device, Int, Tensor, TensorData};
use privsplit_attacks::decoder::Decoder;
use privsplit_attacks::inverse::{train_inverse, AttackTrainConfig};
use privsplit_attacks::metrics::ssim_psnr_batch;

use super::Baseline;
use crate::{Error, Result};

/// Mean SSIM and mean PSNR (dB, each capped at 100) of `(original, guess)` pairs.
fn mean_scores(eval: &Tensor<4>, guess: &Tensor<4>) -> Result<(f64, f64)> {
    let s = ssim_psnr_batch(eval, guess, 1.0)?;
    let k = s.len().max(1) as f64;
    Ok((
        s.iter().map(|p| p.0).sum::<f64>() / k,
        s.iter().map(|p| p.1.min(100.0)).sum::<f64>() / k,
    ))
}

/// The baselines of `eval` `[m, C, H, W]` against the attacker dataset `attacker` `[n, C, H, W]`; the
/// class-mean baseline needs the classes of both (`attacker_labels` of length `n`, `eval_labels` of length
/// `m`).
///
/// # Errors
/// Metric errors (shapes that differ).
pub fn baseline(
    eval: &Tensor<4>,
    attacker: &Tensor<4>,
    attacker_labels: Option<&[usize]>,
    eval_labels: Option<&[usize]>,
) -> Result<Baseline> {
    let m = eval.dims()[0];
    let mean = attacker.clone().mean_dim(0);
    let (ssim, psnr) = mean_scores(eval, &mean.clone().repeat_dim(0, m))?;
    let class = match (attacker_labels, eval_labels) {
        (Some(al), Some(el)) if al.len() == attacker.dims()[0] && el.len() == m => {
            let classes = al.iter().chain(el).copied().max().unwrap_or(0) + 1;
            let means: Vec<Tensor<4>> = (0..classes)
                .map(|c| class_mean(attacker, al, c).unwrap_or_else(|| mean.clone()))
                .collect();
            let guess = Tensor::cat(el.iter().map(|&c| means[c].clone()).collect(), 0);
            Some(mean_scores(eval, &guess)?)
        }
        _ => None,
    };
    Ok(Baseline {
        ssim,
        psnr,
        class_mean_ssim: class.map(|c| c.0),
        class_mean_psnr: class.map(|c| c.1),
    })
}

/// The mean image `[1, C, H, W]` of the images of class `c`, `None` when there is none.
pub(super) fn class_mean(images: &Tensor<4>, labels: &[usize], c: usize) -> Option<Tensor<4>> {
    let idx: Vec<i64> = (0..labels.len())
        .filter(|&i| labels[i] == c)
        .map(|i| i as i64)
        .collect();
    if idx.is_empty() {
        return None;
    }
    let it = Tensor::<1, Int>::from_ints(idx.as_slice(), &images.device());
    Some(images.clone().select(0, it).mean_dim(0))
}

/// One-hot rows `[n, classes, 1, 1]` of `labels` (a label `>= classes` counts as the last class).
pub(super) fn one_hot(labels: &[usize], classes: usize, dev: &Device) -> Tensor<4> {
    let classes = classes.max(1);
    let mut v = vec![0.0f32; labels.len() * classes];
    for (i, &c) in labels.iter().enumerate() {
        v[i * classes + c.min(classes - 1)] = 1.0;
    }
    Tensor::from_data(TensorData::new(v, [labels.len(), classes, 1, 1]), dev)
}

/// Class means per Adam step of [`train_label_decoder`].
pub const LABEL_DECODER_BATCH: usize = 32;

/// The **label decoder**: the attacks' decoder (the inverse network of He, Zhang & Lee 2019, §4.2, with
/// `train.decoder`'s sizes) trained from the one-hot class `[batch, classes, 1, 1]` alone to the image
/// `[batch, C, H, W]`, i.e. the best image that network produces from the label.
///
/// Trained on the class means: for inputs that take one value per class, the per-image mean squared error
/// is `sum_i |f(c_i) - x_i|^2 = sum_c n_c |f(c) - mean_c|^2 + const`, so the MSE-optimal output for class
/// `c` is the class mean `mean_c` of `images` (labels `labels`, one per image) and the per-image training
/// of the inverse network only adds gradient noise. Here each step is one batch of at most
/// [`LABEL_DECODER_BATCH`] class means (all of them when fewer classes are present, as on Fashion-MNIST),
/// about `steps` Adam steps at `train.learning_rate` from `train.seed`: without the
/// noise the decoder reaches the class means' quality in a few hundred steps, where the inverse network's
/// few epochs on the images (the sweep's attack budget) leave it far below them (docs/SWEEP.md).
///
/// # Errors
/// [`Error::Invalid`] when `labels` and `images` differ in length, no label is below `classes` or `steps`
/// is 0; attack errors. Labels `>= classes` are ignored.
pub fn train_label_decoder(
    images: &Tensor<4>,
    labels: &[usize],
    classes: usize,
    train: &AttackTrainConfig,
    steps: usize,
) -> Result<Decoder> {
    if labels.len() != images.dims()[0] || !labels.iter().any(|&l| l < classes) || steps == 0 {
        return Err(Error::invalid(
            "label decoder training",
            format!("one label per attacker image, at least one below {classes}, and >= 1 step"),
            format!(
                "{} labels, images {:?}, {steps} steps",
                labels.len(),
                images.dims()
            ),
        ));
    }
    let present: Vec<usize> = (0..classes).filter(|c| labels.contains(c)).collect();
    let means: Vec<Tensor<4>> = present
        .iter()
        .filter_map(|&c| class_mean(images, labels, c))
        .collect();
    // At most LABEL_DECODER_BATCH class means per step (ImageNet models predict hundreds of classes; one
    // full batch of them per step made this baseline cost more than the attacks), about `steps` steps.
    let batch = present.len().min(LABEL_DECODER_BATCH);
    let cfg = AttackTrainConfig {
        epochs: (steps * batch).div_ceil(present.len()),
        batch_size: batch,
        ..train.clone()
    };
    Ok(train_inverse(
        &one_hot(&present, classes, &images.device()),
        &Tensor::cat(means, 0),
        &cfg,
        &mut |_| {},
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two classes of constant images: the class mean reproduces each evaluation image exactly (SSIM 1,
    /// PSNR at its cap), the overall mean does not.
    #[test]
    fn class_mean_beats_the_overall_mean_on_two_constant_classes() {
        let dev = Device::flex();
        let img = |v: f32| vec![v; 12 * 12];
        let att: Vec<f32> = [0.2, 0.2, 0.8, 0.8].iter().flat_map(|&v| img(v)).collect();
        let attacker = Tensor::<4>::from_data(TensorData::new(att, [4, 1, 12, 12]), &dev);
        let ev: Vec<f32> = [0.2, 0.8].iter().flat_map(|&v| img(v)).collect();
        let eval = Tensor::<4>::from_data(TensorData::new(ev, [2, 1, 12, 12]), &dev);
        let b = baseline(&eval, &attacker, Some(&[0, 0, 1, 1]), Some(&[0, 1])).expect("baseline");
        let cs = b.class_mean_ssim.expect("class mean");
        assert!((cs - 1.0).abs() < 1e-6, "{b:?}");
        assert!(b.class_mean_psnr.expect("psnr") > b.psnr);
        assert!(b.ssim < cs);
        let no_labels = baseline(&eval, &attacker, None, Some(&[0, 1])).expect("baseline");
        assert!(no_labels.class_mean_ssim.is_none());
    }

    /// Three classes of 28x28 shapes (bar, cross, ring) at random brightness and a random shift of up to
    /// 2 pixels, plus pixel noise: `n` images `[n, 1, 28, 28]` and their classes.
    fn shapes(n: usize, seed: u64, dev: &Device) -> (Tensor<4>, Vec<usize>) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut px = Vec::with_capacity(n * 784);
        let labels: Vec<usize> = (0..n).map(|i| i % 3).collect();
        for &c in &labels {
            let (dx, dy) = (rng.gen_range(-2i32..=2), rng.gen_range(-2i32..=2));
            let v = rng.gen_range(0.5f32..1.0);
            for y in 0..28i32 {
                for x in 0..28i32 {
                    let (u, w) = (x - 14 - dx, y - 14 - dy);
                    let on = match c {
                        0 => u.abs() <= 2 && w.abs() <= 9,
                        1 => u.abs() <= 2 || w.abs() <= 2,
                        _ => (36..=81).contains(&(u * u + w * w)),
                    };
                    let noise = rng.gen_range(0.0f32..0.1);
                    px.push(if on { v - noise } else { noise });
                }
            }
        }
        (
            Tensor::from_data(TensorData::new(px, [n, 1, 28, 28]), dev),
            labels,
        )
    }

    /// The label decoder reaches the class means' SSIM on held-out images (it is the strongest prior the
    /// label allows, not a weaker one), predicts the same image for every image of a class, and refuses
    /// inconsistent input.
    #[test]
    fn label_decoder_reaches_the_class_mean_quality() {
        let dev = Device::flex();
        let (att, att_labels) = shapes(60, 1, &dev);
        let (eval, eval_labels) = shapes(30, 2, &dev);
        let train = AttackTrainConfig {
            epochs: 3,
            batch_size: 32,
            learning_rate: 3e-3,
            seed: 5,
            decoder: privsplit_attacks::decoder::DecoderConfig {
                channels: 16,
                min_channels: 8,
            },
        };
        let dec = train_label_decoder(&att, &att_labels, 3, &train, 400).expect("train");
        let decoded = dec.forward(one_hot(&eval_labels, 3, &dev));
        let label = mean_scores(&eval, &decoded).expect("ssim").0;
        let b = baseline(&eval, &att, Some(&att_labels), Some(&eval_labels)).expect("baseline");
        let class = b.class_mean_ssim.expect("class mean");
        assert!(class > b.ssim + 0.1, "{b:?}");
        assert!(
            label >= class - 0.02,
            "label decoder {label} vs class mean {class}"
        );
        // One image per class: decoding two one-hot rows of class 1 gives identical images.
        let two = dec
            .forward(one_hot(&[1, 1], 3, &dev))
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        assert_eq!(two[..784], two[784..]);
        assert!(train_label_decoder(&att, &att_labels[..10], 3, &train, 400).is_err());
        assert!(train_label_decoder(&att, &att_labels, 3, &train, 0).is_err());
        assert!(train_label_decoder(&att, &vec![7; 60], 3, &train, 10).is_err());
    }
}
