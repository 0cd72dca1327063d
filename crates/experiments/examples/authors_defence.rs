//! Short measurement driver (not the CLI pipeline): the authors' font-character mode, undefended vs
//! defended with a bounded adversarial objective, over a few alphas and seeds, at a small size.
//!
//! ```text
//! cargo run --release -p privsplit-defenses --example authors_defence -- \
//!     [train=6000] [test=1000] [seeds=0,1] [alphas=0,1.5,3] [objective=uniform] [lr=0.002] [momentum=0.5]
//! ```
//!
//! Per seed: `Q` (784 -> 40 -> square -> 4) and `C` trained on the characters (8 epochs, SGD lr 0.01,
//! momentum 0.9, batch 64); then for each alpha (5 epochs, SGD `lr`, `momentum`),
//! semi-adversarial training from that state (fresh MLP adversary, rollback with halved alpha on
//! divergence, clipping of `Q`'s gradient at norm 5), `C` retrained on the frozen outputs (recovery),
//! and two fresh attackers on `output(x)`: the authors' FFN adversary and the random forest. Prints one
//! line per (seed, alpha).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a measurement driver: a panic is the report

use std::time::Instant;

use burn::tensor::Device;
use privsplit_attacks::classic::{classic_attack, ClassicConfig, ClassicMethod};
use privsplit_attacks::collateral::{collateral_attack, CollateralAttackConfig, SensitiveView};
use privsplit_data::fonts::{self, FontCharConfig};
use privsplit_data::ImageSet;
use privsplit_defenses::adversarial_objective::AdversarialObjective;
use privsplit_defenses::divergence::{DivergenceAction, DivergenceConfig};
use privsplit_defenses::semi_adversarial::{
    train_guarded, SemiAdversarialConfig, SemiAdversarialOptions, Trio, TrioOptimizers,
};
use privsplit_models::adversary::{AdversaryConfig, AdversaryKind};
use privsplit_models::quadratic::{QuadraticConfig, SplitNetwork};
use privsplit_models::tensor::Features;
use privsplit_models::train::{accuracy, fit, predict, OptimizerConfig, TrainConfig};

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::args()
        .skip(1)
        .find_map(|a| a.strip_prefix(&format!("{name}=")).map(str::to_string))
        .map_or(default, |v| v.parse().ok().expect("bad argument"))
}

fn list<T: std::str::FromStr>(name: &str, default: &str) -> Vec<T> {
    arg(name, default.to_string())
        .split(',')
        .map(|v| v.parse().ok().expect("bad list"))
        .collect()
}

fn features(set: &ImageSet, cfg: &FontCharConfig) -> Features {
    Features::new(
        set.to_model_f32(cfg.input_scaling),
        set.n,
        set.rows * set.cols,
    )
    .unwrap()
}

fn main() {
    let train: usize = arg("train", 6000);
    let test: usize = arg("test", 1000);
    let seeds: Vec<u64> = list("seeds", "0,1");
    let alphas: Vec<f32> = list("alphas", "0,1.5,3");
    let objective = match arg("objective", "uniform".to_string()).as_str() {
        "neg-ce" => AdversarialObjective::NegCe,
        "entropy" => AdversarialObjective::Entropy,
        _ => AdversarialObjective::Uniform,
    };
    let dev = Device::flex().autodiff();
    let sgd = OptimizerConfig::sgd(0.01, 0.9);
    // the defence phase's SGD (default the authors' lr 0.002, momentum 0.5)
    let defence_sgd = OptimizerConfig::sgd(arg("lr", 0.002), arg("momentum", 0.5));
    let tc = |epochs, seed| TrainConfig {
        epochs,
        batch_size: 64,
        optimizer: sgd,
        seed,
        device: Default::default(),
    };
    println!("seed alpha objective main_acc leak_ffn leak_rf diverged final_alpha events seconds");
    for &seed in &seeds {
        let started = Instant::now();
        let dcfg = FontCharConfig {
            seed,
            ..FontCharConfig::authors(train, test)
        };
        let data = fonts::generate(&dcfg).unwrap();
        let (tr, te) = (&data.train, &data.test);
        let (x_tr, x_te) = (features(tr, &dcfg), features(te, &dcfg));
        let (s_tr, s_te) = (tr.sensitive.clone().unwrap(), te.sensitive.clone().unwrap());
        let q = QuadraticConfig::ryffel2019();
        let plain = SplitNetwork {
            private: q.init_private(&dev, seed * 10 + 1).unwrap(),
            head: q.init_head(&dev, seed * 10 + 2).unwrap(),
        };
        let plain = fit(
            plain,
            &x_tr,
            &tr.labels,
            &tc(8, seed),
            &dev,
            "plain",
            &mut |_| {},
            None,
        )
        .unwrap();
        for &alpha in &alphas {
            let trio = Trio {
                private: plain.private.clone(),
                head: plain.head.clone(),
                adversary: AdversaryConfig {
                    kind: AdversaryKind::Mlp,
                    inputs: 4,
                    classes: 2,
                }
                .init(&dev, seed * 10 + 3)
                .unwrap(),
            };
            let sa = SemiAdversarialConfig {
                alpha,
                epochs: 5,
                batch_size: 64,
                optimizer: defence_sgd,
                seed: seed * 10 + 4,
            };
            let options = SemiAdversarialOptions {
                objective,
                clip_grad_norm: Some(5.0),
                divergence: DivergenceConfig {
                    action: DivergenceAction::HalveAlpha,
                    ..DivergenceConfig::default()
                },
                ..SemiAdversarialOptions::default()
            };
            let mut opt = TrioOptimizers::new(&defence_sgd);
            let out = train_guarded(
                trio,
                &mut opt,
                &x_tr,
                &tr.labels,
                &s_tr,
                &sa,
                &options,
                &dev,
                "defence",
                &mut |_| {},
            )
            .unwrap();
            let private = out.trio.private;
            let (z_tr, z_te) = (
                private.outputs(&x_tr).unwrap(),
                private.outputs(&x_te).unwrap(),
            );
            let head = fit(
                out.trio.head,
                &z_tr,
                &tr.labels,
                &tc(3, seed + 5),
                &dev,
                "recovery",
                &mut |_| {},
                None,
            )
            .unwrap();
            let main = accuracy(&predict(&head, &z_te, 1024).unwrap(), &te.labels);
            let vtr = SensitiveView::new(z_tr, s_tr.clone(), 2).unwrap();
            let vte = SensitiveView::new(z_te, s_te.clone(), 2).unwrap();
            let ffn = collateral_attack(
                &CollateralAttackConfig {
                    adversary: AdversaryKind::AuthorsFfn,
                    train: tc(10, seed + 6),
                    average_last: 0,
                },
                &vtr,
                &vte,
                &mut |_| {},
            )
            .unwrap();
            let rf = classic_attack(
                ClassicMethod::RandomForest,
                &ClassicConfig {
                    seed: seed + 7,
                    ..ClassicConfig::default()
                },
                &vtr,
                &vte,
            )
            .unwrap();
            println!(
                "{seed} {alpha} {} {:.4} {:.4} {:.4} {} {} {} {:.0}",
                objective.name(),
                main,
                ffn.collateral_accuracy,
                rf.collateral_accuracy,
                out.diverged,
                out.final_alpha,
                out.events.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
}
