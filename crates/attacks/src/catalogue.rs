//! The attacker catalogues: every attack this crate implements, by name, in two closed sets.
//!
//! - [`ReconstructionAttack`]: attacks that rebuild the input image from the feature map at a partition
//!   point (c-GAN, inverse network, white-box rMLE), scored with SSIM and PSNR.
//! - [`AttributeAttacker`]: attackers that predict a sensitive attribute from the private output
//!   `output(x)` (privsplit's CNN and MLP adversaries, the authors' exact CNN and FFN adversaries, logistic
//!   regression, k-NN, the authors' random forest), scored with the collateral accuracy.
//!   [`attack_attribute`] runs any of them.
//!
//! The serde names (`cgan`, `inverse`, `rmle`; `cnn`, `mlp`, `authors_cnn`, `authors_ffn`, `logistic`,
//! `knn`, `random_forest`) are the names configs and the command line use.

use privsplit_models::adversary::AdversaryKind;
use privsplit_models::train::{Progress, TrainConfig};
use serde::{Deserialize, Serialize};

use crate::classic::{classic_attack, ClassicConfig, ClassicMethod};
use crate::collateral::{collateral_attack, AttackResult, CollateralAttackConfig, SensitiveView};
use crate::{Error, Result};

/// A reconstruction attack on the feature map at a partition point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum ReconstructionAttack {
    /// c-GAN (black-box, trained on attacker data): [`crate::cgan`].
    #[serde(alias = "c-gan")]
    Cgan,
    /// Inverse network (black-box, trained on attacker data): [`crate::inverse`].
    Inverse,
    /// White-box rMLE (no training data): [`crate::rmle`].
    Rmle,
}

impl ReconstructionAttack {
    /// Every reconstruction attack.
    pub const ALL: [Self; 3] = [Self::Cgan, Self::Inverse, Self::Rmle];

    /// Display name (`c-GAN`, `inverse network`, `rMLE`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Cgan => "c-GAN",
            Self::Inverse => "inverse network",
            Self::Rmle => "rMLE",
        }
    }

    /// Whether the attack trains on an attacker dataset (black-box) rather than using the trusted
    /// partition's weights (white-box).
    pub fn needs_attacker_data(self) -> bool {
        !matches!(self, Self::Rmle)
    }
}

impl std::str::FromStr for ReconstructionAttack {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cgan" | "c-gan" => Ok(Self::Cgan),
            "inverse" => Ok(Self::Inverse),
            "rmle" => Ok(Self::Rmle),
            _ => Err(Error::Invalid {
                what: "attack".into(),
                expected: "cgan, inverse or rmle".into(),
                got: s.into(),
            }),
        }
    }
}

/// An attacker of the sensitive attribute, seeing only `output(x)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum AttributeAttacker {
    /// privsplit's variant of the authors' CNN adversary (Ryffel et al. 2019, §5), with a ReLU after the
    /// `k -> 784` expansion ([`AdversaryKind::Cnn`]).
    Cnn,
    /// The MLP adversary.
    Mlp,
    /// Multinomial logistic regression (linfa).
    Logistic,
    /// k-nearest neighbours (linfa).
    Knn,
    /// The authors' CNN exactly, no activation after the expansion ([`AdversaryKind::AuthorsCnn`]).
    AuthorsCnn,
    /// The authors' feed-forward adversary `ReLU, k -> 32, ReLU, 32 -> 2` ([`AdversaryKind::AuthorsFfn`]).
    AuthorsFfn,
    /// The poster's best classic attacker: a random forest (smartcore; 100 trees, max depth 30,
    /// max_features 4 by default, [`crate::classic::ForestConfig`]).
    RandomForest,
}

impl AttributeAttacker {
    /// Every attribute attacker.
    pub const ALL: [Self; 7] = [
        Self::Cnn,
        Self::Mlp,
        Self::Logistic,
        Self::Knn,
        Self::AuthorsCnn,
        Self::AuthorsFfn,
        Self::RandomForest,
    ];

    /// The default set of a collateral experiment: `cnn`, `mlp`, `logistic`, `knn`.
    pub const DEFAULT: [Self; 4] = [Self::Cnn, Self::Mlp, Self::Logistic, Self::Knn];

    /// The serde name: `"cnn"`, `"mlp"`, `"logistic"`, `"knn"`, `"authors_cnn"`, `"authors_ffn"`,
    /// `"random_forest"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cnn => "cnn",
            Self::Mlp => "mlp",
            Self::Logistic => "logistic",
            Self::Knn => "knn",
            Self::AuthorsCnn => "authors_cnn",
            Self::AuthorsFfn => "authors_ffn",
            Self::RandomForest => "random_forest",
        }
    }

    /// The default set ([`Self::DEFAULT`]).
    pub fn all() -> Vec<Self> {
        Self::DEFAULT.to_vec()
    }

    /// The adversary network of a neural attacker; `None` for the classic ones.
    pub fn adversary(self) -> Option<AdversaryKind> {
        match self {
            Self::Cnn => Some(AdversaryKind::Cnn),
            Self::Mlp => Some(AdversaryKind::Mlp),
            Self::AuthorsCnn => Some(AdversaryKind::AuthorsCnn),
            Self::AuthorsFfn => Some(AdversaryKind::AuthorsFfn),
            Self::Logistic | Self::Knn | Self::RandomForest => None,
        }
    }

    fn classic(self) -> Option<ClassicMethod> {
        match self {
            Self::Logistic => Some(ClassicMethod::Logistic),
            Self::Knn => Some(ClassicMethod::Knn),
            Self::RandomForest => Some(ClassicMethod::RandomForest),
            Self::Cnn | Self::Mlp | Self::AuthorsCnn | Self::AuthorsFfn => None,
        }
    }
}

impl std::str::FromStr for AttributeAttacker {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| Error::Invalid {
                what: "attacker".into(),
                expected: "cnn, mlp, logistic, knn, authors_cnn, authors_ffn or random_forest"
                    .into(),
                got: s.into(),
            })
    }
}

/// Trains `attacker` on `train` and reports its collateral accuracy on `test`: neural attackers with the
/// schedule `train_cfg` (progress per step), scored as the mean test accuracy of their last
/// `average_last` epochs (0 or 1: the final one; see [`CollateralAttackConfig::average_last`]), classic
/// ones with `classic`.
///
/// # Errors
/// As [`collateral_attack`] and [`classic_attack`].
pub fn attack_attribute(
    attacker: AttributeAttacker,
    train_cfg: TrainConfig,
    average_last: usize,
    classic: &ClassicConfig,
    train: &SensitiveView,
    test: &SensitiveView,
    progress: &mut dyn FnMut(Progress),
) -> Result<AttackResult> {
    match (attacker.adversary(), attacker.classic()) {
        (Some(adversary), _) => collateral_attack(
            &CollateralAttackConfig {
                adversary,
                train: train_cfg,
                average_last,
            },
            train,
            test,
            progress,
        ),
        (None, Some(method)) => classic_attack(method, classic, train, test),
        (None, None) => Err(Error::Invalid {
            what: "attacker".into(),
            expected: "a neural or a classic attacker".into(),
            got: attacker.name().into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_from_str() {
        for a in AttributeAttacker::ALL {
            let json = serde_json::to_string(&a).expect("json");
            assert_eq!(json, format!("\"{}\"", a.name()));
            assert_eq!(a.name().parse::<AttributeAttacker>().expect("parse"), a);
        }
        for (a, s) in ReconstructionAttack::ALL
            .into_iter()
            .zip(["cgan", "inverse", "rmle"])
        {
            assert_eq!(serde_json::to_string(&a).expect("json"), format!("\"{s}\""));
            assert_eq!(s.parse::<ReconstructionAttack>().expect("parse"), a);
        }
        let alias: ReconstructionAttack = serde_json::from_str("\"c-gan\"").expect("alias");
        assert_eq!(alias, ReconstructionAttack::Cgan);
        assert!("svm".parse::<AttributeAttacker>().is_err());
        assert!("gan".parse::<ReconstructionAttack>().is_err());
        assert!(AttributeAttacker::Knn.adversary().is_none());
        assert!(AttributeAttacker::RandomForest.adversary().is_none());
        assert_eq!(
            AttributeAttacker::AuthorsCnn.adversary(),
            Some(AdversaryKind::AuthorsCnn)
        );
        let rf: AttributeAttacker = serde_json::from_str("\"random_forest\"").expect("rf");
        assert_eq!(rf, AttributeAttacker::RandomForest);
        assert_eq!(AttributeAttacker::Cnn.adversary(), Some(AdversaryKind::Cnn));
        assert!(!ReconstructionAttack::Rmle.needs_attacker_data());
    }
}
