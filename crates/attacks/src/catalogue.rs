//! The attacker catalogues: every attack this crate implements, by name, in two closed sets.
//!
//! - [`ReconstructionAttack`]: attacks that rebuild the input image from the feature map at a partition
//!   point (c-GAN, inverse network, white-box rMLE), scored with SSIM and PSNR.
//! - [`AttributeAttacker`]: attackers that predict a sensitive attribute from the private output
//!   `output(x)` (the authors' CNN and an MLP adversary, logistic regression, k-NN), scored with the
//!   collateral accuracy. [`attack_attribute`] runs any of them.
//!
//! The serde names (`cgan`, `inverse`, `rmle`; `cnn`, `mlp`, `logistic`, `knn`) are the names configs and
//! the command line use.

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
    /// The authors' CNN adversary (Ryffel et al. 2019, §5).
    Cnn,
    /// The MLP adversary.
    Mlp,
    /// Multinomial logistic regression (linfa).
    Logistic,
    /// k-nearest neighbours (linfa).
    Knn,
}

impl AttributeAttacker {
    /// Every attribute attacker.
    pub const ALL: [Self; 4] = [Self::Cnn, Self::Mlp, Self::Logistic, Self::Knn];

    /// `"cnn"`, `"mlp"`, `"logistic"`, `"knn"` (the serde name).
    pub fn name(self) -> &'static str {
        match self {
            Self::Cnn => "cnn",
            Self::Mlp => "mlp",
            Self::Logistic => "logistic",
            Self::Knn => "knn",
        }
    }

    /// All four attackers.
    pub fn all() -> Vec<Self> {
        Self::ALL.to_vec()
    }

    /// The adversary network of a neural attacker; `None` for the classic ones.
    pub fn adversary(self) -> Option<AdversaryKind> {
        match self {
            Self::Cnn => Some(AdversaryKind::Cnn),
            Self::Mlp => Some(AdversaryKind::Mlp),
            Self::Logistic | Self::Knn => None,
        }
    }

    fn classic(self) -> Option<ClassicMethod> {
        match self {
            Self::Logistic => Some(ClassicMethod::Logistic),
            Self::Knn => Some(ClassicMethod::Knn),
            Self::Cnn | Self::Mlp => None,
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
                expected: "cnn, mlp, logistic or knn".into(),
                got: s.into(),
            })
    }
}

/// Trains `attacker` on `train` and reports its collateral accuracy on `test`: neural attackers with the
/// schedule `train_cfg` (progress per step), classic ones with `classic`.
///
/// # Errors
/// As [`collateral_attack`] and [`classic_attack`].
pub fn attack_attribute(
    attacker: AttributeAttacker,
    train_cfg: TrainConfig,
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
        assert_eq!(AttributeAttacker::Cnn.adversary(), Some(AdversaryKind::Cnn));
        assert!(!ReconstructionAttack::Rmle.needs_attacker_data());
    }
}
