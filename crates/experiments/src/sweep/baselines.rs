//! Baselines of a sweep: what an attacker who learns nothing about the individual image scores. The mean
//! image of the attacker dataset, and the mean image of the evaluation image's true class (an attacker who
//! learns only the class).

use burn::tensor::{Int, Tensor};
use privsplit_attacks::metrics::ssim_psnr_batch;

use super::Baseline;
use crate::Result;

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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

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
}
