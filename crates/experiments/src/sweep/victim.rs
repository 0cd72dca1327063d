//! What a sweep attacks: a [`Victim`] is a model with partition points `0..=n` whose feature maps, costs
//! and predictions the sweep can query. privsplit's own zoo models ([`StagedModel`]) are white-box victims
//! (rMLE differentiates through their trusted partition); an ONNX model cut at chosen nodes
//! ([`super::onnx::OnnxVictim`]) is a black-box one (c-GAN and inverse network only).

use burn::tensor::Tensor;
use privsplit_attacks::rmle::InputNorm;
use privsplit_models::classifier::predict_images;
use privsplit_models::stage::{Partition, StageInfo, StagedModel};

use crate::timing::median_ms;
use crate::Result;

/// A model under attack, queried with pixel images `[n, C, H, W]` in `[0, 1]` (any input normalisation the
/// model expects is the victim's business).
pub trait Victim {
    /// One entry per stage (the segment between consecutive partition points): name, output shape
    /// `[c, h, w]` (flat maps `[f, 1, 1]`), parameters, FLOPs per image.
    fn stage_infos(&self) -> Vec<StageInfo>;

    /// Input shape `[channels, height, width]`.
    fn input_shape(&self) -> [usize; 3];

    /// Feature maps `[n, c, h, w]` at partition point `k` (`k = 0`: the normalised input) of `images`.
    ///
    /// # Errors
    /// Model errors (a shape mismatch, a runtime failure).
    fn feature_maps(&self, images: &Tensor<4>, k: usize) -> Result<Tensor<4>>;

    /// Median latency (ms, this machine's CPU, `reps` timed calls) of the trusted partition `[0, k)` and
    /// of the untrusted partition `[k, n)` on `one` image `[1, C, H, W]`.
    ///
    /// # Errors
    /// Model errors.
    fn latencies(&self, one: &Tensor<4>, k: usize, reps: usize) -> Result<(f64, f64)>;

    /// Number of classes of the model's output (`1` when it does not classify here).
    fn classes(&self) -> usize;

    /// Predicted classes of `images`, `None` when the whole model does not run here (then the sweep has no
    /// predicted label: no accuracy on reconstructions, and the class-based priors see one class).
    ///
    /// # Errors
    /// Model errors.
    fn predict(&self, images: &Tensor<4>) -> Result<Option<Vec<usize>>>;

    /// The trusted partition `[0, k)` as a differentiable burn module for white-box attacks (rMLE);
    /// `None` for a black-box victim.
    ///
    /// # Errors
    /// Model errors (`k` out of range).
    fn white_box(&self, k: usize) -> Result<Option<Partition>>;

    /// Number of stages `n`.
    fn num_stages(&self) -> usize {
        self.stage_infos().len()
    }

    /// Shape `[c, h, w]` of the feature map at `k` (`k = 0`: the input).
    fn shape_at(&self, k: usize) -> [usize; 3] {
        match k.checked_sub(1) {
            None => self.input_shape(),
            Some(i) => self.stage_infos().get(i).map_or([0; 3], |s| s.output_shape),
        }
    }
}

/// A zoo model with the input normalisation of the sweep: a white-box victim.
pub struct StagedVictim<'a> {
    /// The model (plain device, evaluation mode).
    pub model: &'a StagedModel,
    /// Pixels -> model input.
    pub norm: &'a InputNorm,
}

impl StagedVictim<'_> {
    fn forward_range(&self, x: Tensor<4>, from: usize, to: usize) -> Result<Tensor<4>> {
        Ok(self.model.forward_range(x, from, to)?)
    }
}

impl Victim for StagedVictim<'_> {
    fn stage_infos(&self) -> Vec<StageInfo> {
        self.model.stage_infos()
    }

    fn input_shape(&self) -> [usize; 3] {
        self.model.input_shape()
    }

    /// 256 images at a time.
    fn feature_maps(&self, images: &Tensor<4>, k: usize) -> Result<Tensor<4>> {
        let n = images.dims()[0];
        let mut out = Vec::new();
        let mut i = 0;
        while i < n {
            let len = 256.min(n - i);
            out.push(self.forward_range(
                self.norm.apply(images.clone().narrow(0, i, len)),
                0,
                k,
            )?);
            i += len;
        }
        Ok(Tensor::cat(out, 0))
    }

    fn latencies(&self, one: &Tensor<4>, k: usize, reps: usize) -> Result<(f64, f64)> {
        let n = self.model.num_stages();
        let fm_one = self.forward_range(self.norm.apply(one.clone()), 0, k)?;
        let trusted = median_ms(
            || {
                let _ = self
                    .forward_range(self.norm.apply(one.clone()), 0, k)?
                    .into_data();
                Ok(())
            },
            reps,
        )?;
        let untrusted = median_ms(
            || {
                let _ = self.forward_range(fm_one.clone(), k, n)?.into_data();
                Ok(())
            },
            reps,
        )?;
        Ok((trusted, untrusted))
    }

    fn classes(&self) -> usize {
        self.model.meta().arch.classes.max(1)
    }

    fn predict(&self, images: &Tensor<4>) -> Result<Option<Vec<usize>>> {
        Ok(Some(predict_images(
            self.model,
            &self.norm.apply(images.clone()),
        )?))
    }

    fn white_box(&self, k: usize) -> Result<Option<Partition>> {
        Ok(Some(self.model.partition(0, k)?))
    }
}
