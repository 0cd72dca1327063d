//! Classic (non-neural) attacks on the sensitive attribute from `output(x)`: multinomial logistic
//! regression (`linfa-logistic`, L-BFGS), k-nearest neighbours (`linfa-nn`, k-d tree, Euclidean
//! distance, majority vote) and a random forest (`smartcore`, Breiman 2001: bootstrap samples, a random
//! subset of `max_features` features tried at each split, Gini impurity, majority vote; the poster's
//! best classic attacker, with the authors' max depth 30, 100 trees, max_features 4). Features are
//! standardised with the training statistics first (a forest is invariant to it); the training and test
//! sets are subsampled (seeded) to keep k-NN, L-BFGS and the forest fast.

use std::time::Instant;

use linfa::traits::{Fit, Predict};
use linfa::Dataset;
use linfa_logistic::MultiLogisticRegression;
use linfa_nn::distance::L2Dist;
use linfa_nn::{CommonNearestNeighbour, NearestNeighbour};
use ndarray::{Array1, Array2};
use privsplit_models::tensor::Features;
use privsplit_models::train::{accuracy, majority_rate, SeedRng};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;

use crate::collateral::{check_views, AttackResult, SensitiveView, Standardizer};
use crate::{Error, Result};

/// Settings of the classic baselines.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassicConfig {
    /// At most this many training rows (seeded subsample).
    pub max_train: usize,
    /// At most this many test rows (seeded subsample).
    pub max_test: usize,
    /// Neighbours of k-NN (odd avoids ties between two classes).
    pub k: usize,
    /// L-BFGS iterations of logistic regression.
    pub logistic_iterations: u64,
    /// Seed of the subsampling (and, plus 2, of the forest's bootstrap and feature draws).
    pub seed: u64,
    /// The random forest's settings. Default [`ForestConfig::default`] (the authors').
    #[serde(default)]
    pub forest: ForestConfig,
}

impl Default for ClassicConfig {
    fn default() -> Self {
        Self {
            max_train: 10_000,
            max_test: 5_000,
            k: 15,
            logistic_iterations: 100,
            seed: 0,
            forest: ForestConfig::default(),
        }
    }
}

/// Random-forest settings (serde; every field has a default). The defaults are the authors' attacker
/// (Ryffel et al. 2019, poster: `RandomForestClassifier(max_depth=30, n_estimators=100, max_features=4)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForestConfig {
    /// Number of trees, 1..=65535. Default 100.
    pub trees: u16,
    /// Largest tree depth, >= 1. Default 30.
    pub max_depth: u16,
    /// Features tried at each split, >= 1 (all of them when larger than `k`). Default 4.
    pub max_features: usize,
}

impl Default for ForestConfig {
    fn default() -> Self {
        Self {
            trees: 100,
            max_depth: 30,
            max_features: 4,
        }
    }
}

/// Which classic baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassicMethod {
    /// Multinomial logistic regression.
    Logistic,
    /// k-nearest neighbours.
    Knn,
    /// Random forest.
    RandomForest,
}

impl ClassicMethod {
    /// `"logistic"`, `"knn"` or `"random_forest"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Logistic => "logistic",
            Self::Knn => "knn",
            Self::RandomForest => "random_forest",
        }
    }
}

/// Fits `method` on `train` and reports its collateral accuracy on `test`.
///
/// # Errors
/// [`Error::Invalid`] on mismatched views, `k == 0` or a forest with no tree, depth or feature;
/// [`Error::Classic`] when linfa or smartcore fails.
pub fn classic_attack(
    method: ClassicMethod,
    cfg: &ClassicConfig,
    train: &SensitiveView,
    test: &SensitiveView,
) -> Result<AttackResult> {
    check_views(train, test)?;
    if cfg.k == 0 || cfg.max_train == 0 || cfg.max_test == 0 {
        return Err(Error::Invalid {
            what: "classic attack settings".into(),
            expected: "k, max_train, max_test > 0".into(),
            got: format!(
                "k {}, max_train {}, max_test {}",
                cfg.k, cfg.max_train, cfg.max_test
            ),
        });
    }
    let f = cfg.forest;
    if f.trees == 0 || f.max_depth == 0 || f.max_features == 0 {
        return Err(Error::Invalid {
            what: "random forest settings".into(),
            expected: "trees, max_depth, max_features > 0".into(),
            got: format!(
                "trees {}, max_depth {}, max_features {}",
                f.trees, f.max_depth, f.max_features
            ),
        });
    }
    let start = Instant::now();
    let (xtr, ytr) = subsample(train, cfg.max_train, cfg.seed)?;
    let (xte, yte) = subsample(test, cfg.max_test, cfg.seed.wrapping_add(1))?;
    let scale = Standardizer::fit(&xtr);
    let (xtr, xte) = (to_array(&scale.apply(&xtr))?, to_array(&scale.apply(&xte))?);
    let err = |detail: String| Error::Classic {
        method: method.name().into(),
        detail,
    };
    let pred: Vec<usize> = match method {
        ClassicMethod::Logistic => {
            let y = Array1::from_iter(ytr.iter().map(|&v| usize::from(v)));
            let ds = Dataset::new(xtr, y);
            let model = MultiLogisticRegression::default()
                .max_iterations(cfg.logistic_iterations)
                .fit(&ds)
                .map_err(|e| err(e.to_string()))?;
            model.predict(&xte).to_vec()
        }
        ClassicMethod::Knn => {
            let index = CommonNearestNeighbour::KdTree
                .from_batch(&xtr, L2Dist)
                .map_err(|e| err(e.to_string()))?;
            let k = cfg.k.min(ytr.len());
            let mut out = Vec::with_capacity(xte.nrows());
            for row in xte.rows() {
                let nn = index.k_nearest(row, k).map_err(|e| err(e.to_string()))?;
                let mut votes = vec![0usize; train.classes];
                for (_, i) in nn {
                    votes[usize::from(ytr[i])] += 1;
                }
                let best = (0..votes.len()).fold(0, |b, c| if votes[c] > votes[b] { c } else { b });
                out.push(best);
            }
            out
        }
        ClassicMethod::RandomForest => {
            let dense = |a: &Array2<f64>| {
                DenseMatrix::new(a.nrows(), a.ncols(), a.iter().copied().collect(), false)
                    .map_err(|e| err(e.to_string()))
            };
            let (xtr, xte) = (dense(&xtr)?, dense(&xte)?);
            let y: Vec<u32> = ytr.iter().map(|&v| u32::from(v)).collect();
            let params = RandomForestClassifierParameters::default()
                .with_n_trees(f.trees)
                .with_max_depth(f.max_depth)
                .with_m(f.max_features)
                .with_seed(cfg.seed.wrapping_add(2));
            let model =
                RandomForestClassifier::fit(&xtr, &y, params).map_err(|e| err(e.to_string()))?;
            let pred: Vec<u32> = model.predict(&xte).map_err(|e| err(e.to_string()))?;
            pred.into_iter().map(|v| v as usize).collect()
        }
    };
    Ok(AttackResult {
        attacker: method.name().to_string(),
        collateral_accuracy: accuracy(&pred, &yte),
        chance: majority_rate(&test.sensitive),
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn subsample(view: &SensitiveView, max: usize, seed: u64) -> Result<(Features, Vec<u8>)> {
    let mut idx: Vec<usize> = (0..view.outputs.rows).collect();
    if idx.len() > max {
        idx.shuffle(&mut SeedRng::seed_from_u64(seed));
        idx.truncate(max);
    }
    let x = view.outputs.subset(&idx)?;
    let y = idx.iter().map(|&i| view.sensitive[i]).collect();
    Ok((x, y))
}

fn to_array(x: &Features) -> Result<Array2<f64>> {
    Array2::from_shape_vec(
        (x.rows, x.cols),
        x.data.iter().map(|&v| f64::from(v)).collect(),
    )
    .map_err(|e| Error::Invalid {
        what: "feature table".into(),
        expected: format!("{} x {}", x.rows, x.cols),
        got: e.to_string(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use rand::Rng;

    /// Class 0 inside the unit circle, class 1 on a ring: k-NN separates it, a linear model cannot.
    fn ring(n: usize, seed: u64) -> SensitiveView {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut data = Vec::new();
        let mut s = Vec::new();
        for i in 0..n {
            let c = (i % 2) as u8;
            let r: f32 = if c == 0 {
                rng.gen_range(0.0..1.0)
            } else {
                rng.gen_range(2.0..3.0)
            };
            let t: f32 = rng.gen_range(0.0..std::f32::consts::TAU);
            data.extend([r * t.cos(), r * t.sin(), rng.gen_range(-0.1..0.1), 5.0]);
            s.push(c);
        }
        SensitiveView::new(Features::new(data, n, 4).unwrap(), s, 2).unwrap()
    }

    /// Two classes split by the sign of the first feature: both baselines separate it.
    fn halfplanes(n: usize, seed: u64) -> SensitiveView {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut data = Vec::new();
        let mut s = Vec::new();
        for i in 0..n {
            let c = (i % 2) as u8;
            let x0: f32 = rng.gen_range(0.2..2.0) * if c == 0 { -1.0 } else { 1.0 };
            data.extend([
                x0,
                rng.gen_range(-1.0..1.0),
                rng.gen_range(-1.0..1.0),
                rng.gen_range(-1.0..1.0),
            ]);
            s.push(c);
        }
        SensitiveView::new(Features::new(data, n, 4).unwrap(), s, 2).unwrap()
    }

    #[test]
    fn baselines_match_their_inductive_bias() {
        let cfg = ClassicConfig {
            max_train: 300,
            max_test: 200,
            k: 5,
            ..ClassicConfig::default()
        };
        let (tr, te) = (halfplanes(400, 1), halfplanes(200, 2));
        for m in [
            ClassicMethod::Logistic,
            ClassicMethod::Knn,
            ClassicMethod::RandomForest,
        ] {
            let r = classic_attack(m, &cfg, &tr, &te).unwrap();
            assert!(
                r.collateral_accuracy > 0.95,
                "{m:?} {}",
                r.collateral_accuracy
            );
        }
        let (tr, te) = (ring(400, 3), ring(200, 4));
        let knn = classic_attack(ClassicMethod::Knn, &cfg, &tr, &te).unwrap();
        let lin = classic_attack(ClassicMethod::Logistic, &cfg, &tr, &te).unwrap();
        assert!(
            knn.collateral_accuracy > 0.95,
            "knn {}",
            knn.collateral_accuracy
        );
        assert!(
            lin.collateral_accuracy < 0.75,
            "logistic {}",
            lin.collateral_accuracy
        );
        assert!(
            classic_attack(ClassicMethod::Knn, &ClassicConfig { k: 0, ..cfg }, &tr, &te).is_err()
        );
    }

    #[test]
    fn random_forest_is_nonlinear_seeded_and_checked() {
        let cfg = ClassicConfig {
            max_train: 300,
            max_test: 200,
            forest: ForestConfig {
                trees: 20,
                ..ForestConfig::default()
            },
            ..ClassicConfig::default()
        };
        let (tr, te) = (ring(400, 3), ring(200, 4));
        let a = classic_attack(ClassicMethod::RandomForest, &cfg, &tr, &te).unwrap();
        // axis-aligned splits carve the ring: far above the linear model's chance level
        assert!(a.collateral_accuracy > 0.9, "{}", a.collateral_accuracy);
        let b = classic_attack(ClassicMethod::RandomForest, &cfg, &tr, &te).unwrap();
        assert_eq!(a.collateral_accuracy, b.collateral_accuracy);
        // Labels carry no signal: a forest cannot beat chance by much.
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let mut noise = ring(400, 5);
        noise
            .sensitive
            .iter_mut()
            .for_each(|s| *s = rng.gen_range(0..2));
        let mut noise_te = ring(200, 6);
        noise_te
            .sensitive
            .iter_mut()
            .for_each(|s| *s = rng.gen_range(0..2));
        let n = classic_attack(ClassicMethod::RandomForest, &cfg, &noise, &noise_te).unwrap();
        assert!(n.collateral_accuracy < 0.65, "{}", n.collateral_accuracy);
        let bad = ClassicConfig {
            forest: ForestConfig {
                trees: 0,
                ..ForestConfig::default()
            },
            ..cfg
        };
        assert!(classic_attack(ClassicMethod::RandomForest, &bad, &tr, &te).is_err());
        let parsed: ClassicConfig = serde_json::from_str(
            r#"{"max_train": 5, "max_test": 5, "k": 3, "logistic_iterations": 10, "seed": 1}"#,
        )
        .unwrap();
        assert_eq!(parsed.forest, ForestConfig::default());
        assert_eq!(ClassicMethod::RandomForest.name(), "random_forest");
    }
}
