//! The data of a sweep ([`SweepData`]): attacker, evaluation and distractor images, read by the run
//! ([`super::run`]), the prior-only baselines and identification test ([`super::leakage`]) and the
//! natural-image sources ([`super::images`]).

use burn::tensor::{Device, Tensor};
use privsplit_data::Split;
use privsplit_models::classifier::{images_tensor, labels};

use super::SweepConfig;
use crate::Result;

/// Data of a sweep: pixel images in `[0, 1]` on a plain device.
#[derive(Clone, Debug)]
pub struct SweepData {
    /// Attacker dataset `[n, C, H, W]` (black-box attacks); disjoint from `eval`.
    pub attacker: Option<Tensor<4>>,
    /// Evaluation (victim) images `[m, C, H, W]`.
    pub eval: Tensor<4>,
    /// True classes of `eval` (for the accuracy on reconstructions), if known.
    pub eval_labels: Option<Vec<usize>>,
    /// Classes of `attacker` (for the class-mean baseline), if known.
    pub attacker_labels: Option<Vec<usize>>,
    /// Distractor images `[d, C, H, W]` for the identification test, disjoint from `eval` and `attacker`
    /// (`None`: the other evaluation images serve as distractors).
    pub distractors: Option<Tensor<4>>,
}

impl SweepData {
    /// The Fashion-MNIST data of `cfg` from `split`: attacker dataset = the last `cfg.attacker_images`
    /// training images, evaluation images = the first `cfg.eval_images` test images, identification
    /// distractors = the next `cfg.rule.distractor_images` test images.
    ///
    /// # Errors
    /// [`Error::Model`] when a range is empty (an empty split).
    pub fn fashion(cfg: &SweepConfig, split: &Split, dev: &Device) -> Result<Self> {
        let tr = &split.train;
        let first = tr.n - cfg.attacker_images.min(tr.n);
        let m = cfg.eval_images.min(split.test.n);
        Ok(Self {
            attacker: if first < tr.n {
                Some(images_tensor(tr, first, tr.n, dev)?)
            } else {
                None
            },
            eval: images_tensor(&split.test, 0, m, dev)?,
            eval_labels: Some(labels(&split.test, 0, m)),
            attacker_labels: Some(labels(tr, first, tr.n)),
            distractors: {
                let end = (m + cfg.rule.distractor_images).min(split.test.n);
                (end > m)
                    .then(|| images_tensor(&split.test, m, end, dev))
                    .transpose()?
            },
        })
    }
}
