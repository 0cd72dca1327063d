//! Collateral adversaries: networks that read the private output `output(x)` `[batch, k]` and predict the
//! sensitive attribute (the font) — Ryffel et al. 2019, §5 ("collateral learning").
//!
//! - [`AdversaryKind::AuthorsCnn`]: the authors' CNN exactly (public repository LaRiffle/collateral-learning,
//!   `learn/collateral/models.py`): `Linear k -> 784` with **no** activation, reshaped to
//!   `[batch, 1, 28, 28]`, `conv 5x5 -> 20`, ReLU, max-pool 2, `conv 5x5 -> 50`, ReLU, max-pool 2,
//!   `FC 800 -> 500`, ReLU, `FC 500 -> n_sensitive`.
//! - [`AdversaryKind::Cnn`]: privsplit's variant of it, with a ReLU after the expansion as well.
//! - [`AdversaryKind::AuthorsFfn`]: the authors' feed-forward adversary: ReLU on the input,
//!   `k -> 32`, ReLU, `32 -> n_sensitive`.
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
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum AdversaryKind {
    /// The authors' CNN with a ReLU added after the `k -> 784` expansion (privsplit's variant).
    Cnn,
    /// A 2-hidden-layer perceptron, 64 units each.
    Mlp,
    /// The authors' CNN exactly: no activation after the expansion (Ryffel et al. 2019, §5; repository).
    AuthorsCnn,
    /// The authors' feed-forward adversary: ReLU, `k -> 32`, ReLU, `32 -> classes`.
    AuthorsFfn,
}

impl AdversaryKind {
    /// Short lowercase name (`"cnn"`, `"mlp"`, `"authors_cnn"`, `"authors_ffn"`), as in serde.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cnn => "cnn",
            Self::Mlp => "mlp",
            Self::AuthorsCnn => "authors_cnn",
            Self::AuthorsFfn => "authors_ffn",
        }
    }
}

impl std::str::FromStr for AdversaryKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cnn" => Ok(Self::Cnn),
            "mlp" => Ok(Self::Mlp),
            "authors_cnn" | "authors-cnn" => Ok(Self::AuthorsCnn),
            "authors_ffn" | "authors-ffn" => Ok(Self::AuthorsFfn),
            other => Err(Error::Invalid {
                what: "adversary".into(),
                expected: "cnn, mlp, authors_cnn or authors_ffn".into(),
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
        let cnn = || CnnAdversary {
            expand: LinearConfig::new(self.inputs, 28 * 28).init(device),
            conv1: Conv2dConfig::new([1, 20], [5, 5]).init(device),
            conv2: Conv2dConfig::new([20, 50], [5, 5]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            fc1: LinearConfig::new(50 * 4 * 4, 500).init(device),
            fc2: LinearConfig::new(500, self.classes).init(device),
        };
        let m = match self.kind {
            AdversaryKind::Cnn => Adversary::Cnn(cnn()),
            AdversaryKind::AuthorsCnn => Adversary::AuthorsCnn(cnn()),
            AdversaryKind::AuthorsFfn => Adversary::AuthorsFfn(FfnAdversary {
                fc1: LinearConfig::new(self.inputs, 32).init(device),
                fc2: LinearConfig::new(32, self.classes).init(device),
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

/// The CNN adversary of the authors' design (see the module docs): [`Self::forward`] is privsplit's
/// variant, [`Self::forward_authors`] the authors' exact network.
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
    /// Sensitive-class logits `[batch, classes]` of `z` `[batch, k]`, with a ReLU after the expansion.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        self.convolve(relu(self.expand.forward(z)))
    }

    /// Sensitive-class logits `[batch, classes]` of `z` `[batch, k]`, the authors' way: the `k -> 784`
    /// expansion is linear (no activation) before the reshape to `[batch, 1, 28, 28]`.
    pub fn forward_authors(&self, z: Tensor<2>) -> Tensor<2> {
        self.convolve(self.expand.forward(z))
    }

    /// The layers after the expansion, on `e` `[batch, 784]`.
    fn convolve(&self, e: Tensor<2>) -> Tensor<2> {
        let [b, _] = e.dims();
        let x = e.reshape([b, 1, 28, 28]);
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

/// The authors' feed-forward adversary: ReLU on the input, `k -> 32`, ReLU, `32 -> classes`.
#[derive(Module, Debug)]
pub struct FfnAdversary {
    fc1: Linear,
    fc2: Linear,
}

impl FfnAdversary {
    /// Sensitive-class logits `[batch, classes]` of `z` `[batch, k]`.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        self.fc2.forward(relu(self.fc1.forward(relu(z))))
    }
}

/// A collateral adversary of any kind.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one value per training run; the weights themselves are in tensors
pub enum Adversary {
    /// The authors' CNN (boxing it would not shrink what is stored: the parameters live in tensors).
    Cnn(CnnAdversary),
    /// The MLP.
    Mlp(MlpAdversary),
    /// The authors' exact CNN (no activation after the expansion).
    AuthorsCnn(CnnAdversary),
    /// The authors' feed-forward adversary.
    AuthorsFfn(FfnAdversary),
}

impl Adversary {
    /// Sensitive-class logits `[batch, classes]` of private outputs `z` `[batch, k]`.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Cnn(m) => m.forward(z),
            Self::Mlp(m) => m.forward(z),
            Self::AuthorsCnn(m) => m.forward_authors(z),
            Self::AuthorsFfn(m) => m.forward(z),
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
        for kind in [
            AdversaryKind::Cnn,
            AdversaryKind::Mlp,
            AdversaryKind::AuthorsCnn,
            AdversaryKind::AuthorsFfn,
        ] {
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

    #[test]
    fn authors_variants_differ_where_the_papers_do() {
        use crate::train::parameter_values;
        let dev = Device::flex();
        let cfg = |kind| AdversaryConfig {
            kind,
            inputs: 3,
            classes: 2,
        };
        // Same seed, same parameters: the CNN variants differ only by the ReLU after the expansion.
        let ours = cfg(AdversaryKind::Cnn).init(&dev, 7).unwrap();
        let theirs = cfg(AdversaryKind::AuthorsCnn).init(&dev, 7).unwrap();
        assert_eq!(parameter_values(&ours), parameter_values(&theirs));
        let z = Tensor::<2>::from_data(
            burn::tensor::TensorData::new(vec![-3.0f32, -2.0, -1.0, 3.0, 2.0, 1.0], [2, 3]),
            &dev,
        );
        let a = parameter_values_of(ours.forward(z.clone()));
        let b = parameter_values_of(theirs.forward(z.clone()));
        assert!(
            a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1e-6),
            "{a:?} {b:?}"
        );
        // The authors' FFN: k*32 + 32 + 32*2 + 2 parameters, and ReLU on the input: negative inputs are
        // all the same to it.
        let ffn = cfg(AdversaryKind::AuthorsFfn).init(&dev, 1).unwrap();
        assert_eq!(parameter_values(&ffn).len(), 3 * 32 + 32 + 32 * 2 + 2);
        let neg = Tensor::<2>::from_data(
            burn::tensor::TensorData::new(vec![-1.0f32, -5.0, -0.1], [1, 3]),
            &dev,
        );
        let zero = Tensor::<2>::zeros([1, 3], &dev);
        assert_eq!(
            parameter_values_of(ffn.forward(neg)),
            parameter_values_of(ffn.forward(zero))
        );
        assert_eq!(
            "authors-cnn".parse::<AdversaryKind>().unwrap(),
            AdversaryKind::AuthorsCnn
        );
    }

    fn parameter_values_of(t: Tensor<2>) -> Vec<f32> {
        t.to_data().iter::<f32>().collect()
    }
}
