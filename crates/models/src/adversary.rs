//! Collateral adversaries: networks that read the private output `output(x)` `[batch, k]` and predict the
//! sensitive attribute (the font) — Ryffel et al. 2019, §5 ("collateral learning").
//!
//! - [`AdversaryKind::Cnn`]: the authors' network, `Linear k -> 784`, reshaped to `[batch, 1, 28, 28]`,
//!   `conv 5x5 -> 20`, max-pool 2, `conv 5x5 -> 50`, max-pool 2, `FC 800 -> 500`, `FC 500 -> n_sensitive`,
//!   ReLU between the layers.
//! - [`AdversaryKind::Mlp`]: `k -> 64 -> 64 -> n_sensitive` with ReLUs, a cheaper baseline.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::train::{seeded_init, Classifier};
use crate::{Error, Result};

/// Which collateral adversary network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdversaryKind {
    /// The authors' CNN (Ryffel et al. 2019, §5).
    Cnn,
    /// A 2-hidden-layer perceptron, 64 units each.
    Mlp,
}

impl AdversaryKind {
    /// Short lowercase name (`"cnn"`, `"mlp"`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Cnn => "cnn",
            Self::Mlp => "mlp",
        }
    }
}

impl std::str::FromStr for AdversaryKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cnn" => Ok(Self::Cnn),
            "mlp" => Ok(Self::Mlp),
            other => Err(Error::Invalid {
                what: "adversary".into(),
                expected: "cnn or mlp".into(),
                got: other.into(),
            }),
        }
    }
}

/// An adversary's shape: its kind, input size `k` and number of sensitive classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdversaryConfig {
    /// The network.
    pub kind: AdversaryKind,
    /// Input size `k` (size of `output(x)`).
    pub inputs: usize,
    /// Sensitive-attribute classes (fonts).
    pub classes: usize,
}

impl AdversaryConfig {
    /// A fresh adversary on `device`, initialised from `seed`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `inputs` is 0 or `classes < 2`.
    pub fn init(&self, device: &Device, seed: u64) -> Result<Adversary> {
        if self.inputs == 0 || self.classes < 2 {
            return Err(Error::Invalid {
                what: "adversary shape".into(),
                expected: "inputs > 0 and at least 2 sensitive classes".into(),
                got: format!("inputs {}, classes {}", self.inputs, self.classes),
            });
        }
        let m = match self.kind {
            AdversaryKind::Cnn => Adversary::Cnn(CnnAdversary {
                expand: LinearConfig::new(self.inputs, 28 * 28).init(device),
                conv1: Conv2dConfig::new([1, 20], [5, 5]).init(device),
                conv2: Conv2dConfig::new([20, 50], [5, 5]).init(device),
                pool: MaxPool2dConfig::new([2, 2]).init(),
                fc1: LinearConfig::new(50 * 4 * 4, 500).init(device),
                fc2: LinearConfig::new(500, self.classes).init(device),
            }),
            AdversaryKind::Mlp => Adversary::Mlp(MlpAdversary {
                fc1: LinearConfig::new(self.inputs, 64).init(device),
                fc2: LinearConfig::new(64, 64).init(device),
                fc3: LinearConfig::new(64, self.classes).init(device),
            }),
        };
        Ok(seeded_init(m, seed))
    }
}

/// The authors' CNN adversary (see the module docs).
#[derive(Module, Debug)]
pub struct CnnAdversary {
    expand: Linear,
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
}

impl CnnAdversary {
    /// Sensitive-class logits `[batch, classes]` of `z` `[batch, k]`.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        let [b, _] = z.dims();
        let x = relu(self.expand.forward(z)).reshape([b, 1, 28, 28]);
        let x = self.pool.forward(relu(self.conv1.forward(x))); // [b, 20, 12, 12]
        let x = self.pool.forward(relu(self.conv2.forward(x))); // [b, 50, 4, 4]
        let x = relu(self.fc1.forward(x.flatten::<2>(1, 3)));
        self.fc2.forward(x)
    }
}

/// The MLP adversary `k -> 64 -> 64 -> classes`.
#[derive(Module, Debug)]
pub struct MlpAdversary {
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
}

impl MlpAdversary {
    /// Sensitive-class logits `[batch, classes]` of `z` `[batch, k]`.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        self.fc3
            .forward(relu(self.fc2.forward(relu(self.fc1.forward(z)))))
    }
}

/// A collateral adversary of either kind.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one value per training run; the weights themselves are in tensors
pub enum Adversary {
    /// The authors' CNN (boxing it would not shrink what is stored: the parameters live in tensors).
    Cnn(CnnAdversary),
    /// The MLP.
    Mlp(MlpAdversary),
}

impl Adversary {
    /// Sensitive-class logits `[batch, classes]` of private outputs `z` `[batch, k]`.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Cnn(m) => m.forward(z),
            Self::Mlp(m) => m.forward(z),
        }
    }
}

impl Classifier for Adversary {
    fn logits(&self, z: Tensor<2>) -> Tensor<2> {
        self.forward(z)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn adversary_shapes() {
        let dev = Device::flex();
        for kind in [AdversaryKind::Cnn, AdversaryKind::Mlp] {
            let a = AdversaryConfig {
                kind,
                inputs: 4,
                classes: 3,
            }
            .init(&dev, 1)
            .unwrap();
            assert_eq!(a.forward(Tensor::<2>::ones([5, 4], &dev)).dims(), [5, 3]);
            assert_eq!(kind.name().parse::<AdversaryKind>().unwrap(), kind);
        }
        assert!(AdversaryConfig {
            kind: AdversaryKind::Mlp,
            inputs: 4,
            classes: 1
        }
        .init(&dev, 1)
        .is_err());
        assert!("rnn".parse::<AdversaryKind>().is_err());
    }
}
