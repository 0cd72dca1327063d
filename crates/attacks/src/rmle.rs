//! White-box regularised maximum-likelihood estimation (rMLE; He, Zhang & Lee 2019, "Model inversion attacks
//! against collaborative inference", ACSAC, §4.1, eq. (2)): knowing the trusted partition `f` (weights
//! included), find the input whose feature map matches the observed one,
//! `x* = argmin_x ||f(x) - v||^2 / |v| + lambda * TV(x)`,
//! with the total-variation prior `TV(x)` = mean over pixels of the squared differences between
//! horizontally and vertically adjacent pixels (He et al.'s `TV` with beta = 2). Pixels are kept in `[0, 1]`
//! by optimising `x = sigmoid(z)` with Adam; the optimisation starts from a grey image (z = 0). Needs no
//! training data.

use burn::module::Module;
use burn::tensor::activation::sigmoid;
use burn::tensor::Tensor;
use privsplit_models::stage::Partition;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// rMLE settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RmleConfig {
    /// Adam steps.
    pub steps: usize,
    /// Adam learning rate on the logits `z`.
    pub learning_rate: f64,
    /// Weight `lambda` of the total-variation prior.
    pub tv_weight: f64,
}

impl Default for RmleConfig {
    fn default() -> Self {
        Self {
            steps: 200,
            learning_rate: 0.1,
            tv_weight: 0.05,
        }
    }
}

/// Per-channel input normalisation `(x - mean) / std` applied between the pixel image and the model input
/// (e.g. ImageNet statistics for pretrained models); identity when empty.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InputNorm {
    /// Per-channel mean (pixel units, `[0, 1]`).
    pub mean: Vec<f32>,
    /// Per-channel standard deviation.
    pub std: Vec<f32>,
}

impl InputNorm {
    /// ImageNet normalisation (per-channel mean and standard deviation of the ImageNet training set), the
    /// input normalisation the converted EfficientNet-Lite0 weights expect.
    pub fn imagenet() -> Self {
        Self {
            mean: vec![0.485, 0.456, 0.406],
            std: vec![0.229, 0.224, 0.225],
        }
    }

    /// Applies the normalisation to `[b, c, h, w]` pixels in `[0, 1]`.
    pub fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        if self.mean.is_empty() {
            return x;
        }
        let dev = x.device();
        let c = self.mean.len();
        let m = Tensor::<1>::from_floats(self.mean.as_slice(), &dev).reshape([1, c, 1, 1]);
        let s = Tensor::<1>::from_floats(self.std.as_slice(), &dev).reshape([1, c, 1, 1]);
        (x - m) / s
    }
}

/// Total variation (squared differences of neighbours, mean) of `[b, c, h, w]`.
pub fn total_variation(x: Tensor<4>) -> Tensor<1> {
    let [b, c, h, w] = x.dims();
    let dh = x.clone().narrow(2, 1, h - 1) - x.clone().narrow(2, 0, h - 1);
    let dw = x.clone().narrow(3, 1, w - 1) - x.narrow(3, 0, w - 1);
    let _ = (b, c);
    dh.powi_scalar(2).mean() + dw.powi_scalar(2).mean()
}

/// Reconstructs the pixel images `[b, C, H, W]` in `[0, 1]` whose feature maps through `trusted` (a partition
/// `[0, k)` on a plain device) match `target` `[b, c, h, w]`.
///
/// # Errors
/// [`Error::Invalid`] when `trusted` does not start at the input (`from != 0`), `target` does not have its
/// output shape, or the config is degenerate.
pub fn rmle(
    trusted: &Partition,
    target: &Tensor<4>,
    norm: &InputNorm,
    cfg: &RmleConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<Tensor<4>> {
    if trusted.range().0 != 0 {
        return Err(Error::Invalid {
            what: "rMLE partition".into(),
            expected: "the trusted partition [0, k)".into(),
            got: format!("{:?}", trusted.range()),
        });
    }
    let td = target.dims();
    if td[1..] != trusted.output_shape() {
        return Err(Error::Invalid {
            what: "rMLE target feature map".into(),
            expected: format!("[batch, {:?}]", trusted.output_shape()),
            got: format!("{td:?}"),
        });
    }
    if cfg.steps == 0
        || cfg.learning_rate.is_nan()
        || cfg.learning_rate <= 0.0
        || cfg.tv_weight.is_nan()
        || cfg.tv_weight < 0.0
    {
        return Err(Error::Invalid {
            what: "rMLE config".into(),
            expected: "steps >= 1, learning_rate > 0, tv_weight >= 0".into(),
            got: format!("{cfg:?}"),
        });
    }
    let plain = target.device();
    let dev = plain.clone().autodiff();
    let model = trusted.clone().to_device(&dev).no_grad();
    let [c, h, w] = trusted.input_shape();
    let b = td[0];
    let v = target.clone().autodiff();
    let mut z = Tensor::<4>::zeros([b, c, h, w], &plain);
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
    let mut m = Tensor::<4>::zeros([b, c, h, w], &plain);
    let mut s = Tensor::<4>::zeros([b, c, h, w], &plain);
    for step in 1..=cfg.steps {
        let zt = z.clone().autodiff().require_grad();
        let x = sigmoid(zt.clone());
        let fm = model
            .forward(norm.apply(x.clone()))
            .map_err(|e| Error::Invalid {
                what: "rMLE forward".into(),
                expected: "a runnable trusted partition".into(),
                got: e.to_string(),
            })?;
        let fit = (fm - v.clone()).powi_scalar(2).mean();
        let loss = fit.clone() + total_variation(x).mul_scalar(cfg.tv_weight);
        let grads = loss.backward();
        let Some(g) = zt.grad(&grads) else {
            return Err(Error::Invalid {
                what: "rMLE gradient".into(),
                expected: "a gradient with respect to the input".into(),
                got: "none (is the partition differentiable?)".into(),
            });
        };
        m = m.mul_scalar(b1) + g.clone().mul_scalar(1.0 - b1);
        s = s.mul_scalar(b2) + g.powi_scalar(2).mul_scalar(1.0 - b2);
        let mh = m.clone().div_scalar(1.0 - b1.powi(step as i32));
        let sh = s.clone().div_scalar(1.0 - b2.powi(step as i32));
        z = z - (mh / (sh.sqrt().add_scalar(eps))).mul_scalar(cfg.learning_rate);
        if step == cfg.steps || step % 100 == 0 {
            progress(&format!(
                "rMLE step {step}/{}: feature-map mse {:.5}",
                cfg.steps,
                fit.into_scalar::<f32>()
            ));
        }
    }
    Ok(sigmoid(z))
}
