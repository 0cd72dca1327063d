//! End to end on the synthetic two-style set: train -> attack -> defend -> attack again. The undefended
//! model leaks the style (collateral accuracy well above chance); the defended one (alpha = 1) leaks
//! measurably less while keeping the main task; repeated over seeds, the summary is their mean ± std.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use privsplit_attacks::AttributeAttacker as Attacker;
use privsplit_data::InputScaling;
use privsplit_defenses::adversarial_objective::AdversarialObjective;
use privsplit_defenses::divergence::{DivergenceAction, DivergenceConfig};
use privsplit_defenses::semi_adversarial::SemiAdversarialOptions;
use privsplit_defenses::synthetic::seven_segment_split;
use privsplit_experiments::collateral::{
    run_collateral, run_collateral_seeds, AlphaOutcome, CollateralConfig, EvaluationConfig, Stat,
};
use privsplit_models::adversary::AdversaryKind;

fn guarded() -> SemiAdversarialOptions {
    SemiAdversarialOptions {
        objective: AdversarialObjective::Uniform,
        clip_grad_norm: Some(2.0),
        divergence: DivergenceConfig {
            action: DivergenceAction::HalveAlpha,
            ..DivergenceConfig::default()
        },
        ..SemiAdversarialOptions::default()
    }
}

/// The schedule both tests share: batches of 32, alpha in {0, 1}, the guarded defence, `epochs` =
/// (plain, defence, recovery) epochs, the defence's adversary and the fresh attackers.
fn schedule(
    epochs: [usize; 3],
    defence_adversary: AdversaryKind,
    attackers: Vec<Attacker>,
) -> CollateralConfig {
    let [plain_epochs, defence_epochs, recovery_epochs] = epochs;
    CollateralConfig {
        batch_size: 32,
        plain_epochs,
        defence_epochs,
        recovery_epochs,
        alphas: vec![0.0, 1.0],
        defence_adversary,
        attackers,
        defence: guarded(),
        ..CollateralConfig::default()
    }
}

fn mean_collateral(a: &AlphaOutcome) -> f32 {
    a.attacks.iter().map(|r| r.collateral_accuracy).sum::<f32>() / a.attacks.len() as f32
}

/// The guarded, bounded defence (uniform-target objective, `Q`'s gradient clipped, rollback with alpha
/// halved on divergence). The authors' unbounded negated cross-entropy at the same settings collapses the
/// main task on this set (0.55 at alpha 0.5, 0.10 at alpha 1: tests/defence_stability.rs covers it).
#[test]
fn defence_brings_collateral_accuracy_towards_chance() {
    let data = seven_segment_split(3000, 600, 7);
    let attackers = vec![Attacker::Mlp, Attacker::Logistic, Attacker::Knn];
    let cfg = CollateralConfig {
        lr: 0.01,
        momentum: 0.9,
        seed: 1,
        ..schedule([5, 3, 3], AdversaryKind::Mlp, attackers)
    };
    let t = std::time::Instant::now();
    let out = run_collateral(&cfg, &data, &mut |_| {}).unwrap();
    for a in &out.per_alpha {
        eprintln!(
            "alpha {} main {:.3} {:?}",
            a.alpha,
            a.main_accuracy,
            a.attacks
                .iter()
                .map(|r| format!("{} {:.3}", r.attacker, r.collateral_accuracy))
                .collect::<Vec<_>>()
        );
    }
    eprintln!(
        "chance {} float accuracy {} total {:.1}s",
        out.chance,
        out.float_test_accuracy,
        t.elapsed().as_secs_f64()
    );
    assert_eq!(out.chance, 0.5);
    let (plain, defended) = (&out.per_alpha[0], &out.per_alpha[1]);
    assert!(!defended.diverged, "{:?}", defended.divergence_events);
    // The main task is learnt, with and without the defence.
    assert!(
        plain.main_accuracy > 0.85,
        "undefended main accuracy {}",
        plain.main_accuracy
    );
    assert!(
        defended.main_accuracy > 0.85,
        "defended main accuracy {}",
        defended.main_accuracy
    );
    assert_eq!(out.float_test_accuracy, plain.main_accuracy);
    // Undefended: the style leaks through output(x).
    let (leak, leak_defended) = (mean_collateral(plain), mean_collateral(defended));
    assert!(
        leak > out.chance + 0.15,
        "undefended mean collateral accuracy {leak}"
    );
    // Defended: measurably closer to chance.
    assert!(
        leak_defended < leak - 0.07,
        "defended {leak_defended} vs undefended {leak}"
    );
    // The undefended model is handed out for encryption, in the exported form.
    let u = out.undefended.as_ref().unwrap();
    assert_eq!(u.private.export().unwrap(), out.undefended_weights);
    assert_eq!(out.undefended_weights, plain.weights);
    // No adversary in the plain phase: no initial-phase scores.
    assert!(out.initial_phase.is_none());
}

/// Two seeds, the distinguisher-set evaluation with last-epoch averaging and the authors' initial phase
/// (the adversary trained with Q and C, shared SGD): the summary's statistics are the runs' own numbers.
#[test]
fn seeds_are_summarised_as_mean_and_std_of_the_runs() {
    let data = seven_segment_split(600, 300, 5);
    let attackers = vec![Attacker::AuthorsFfn, Attacker::RandomForest];
    let cfg = CollateralConfig {
        seeds: vec![3, 4],
        initial_adversary: true,
        defence: SemiAdversarialOptions {
            optimizer_sharing: privsplit_defenses::semi_adversarial::OptimizerSharing::Shared,
            ..guarded()
        },
        evaluation: EvaluationConfig {
            distinguisher: Some(data.train.class_names[6].clone()),
            attack_epochs: Some(3),
            average_last: 2,
        },
        // 12 plain epochs: seed 3's three-step plain phase had not learned the main task after 2 (10 %) or 8
        // (21.8 %), which is now an error (see `an_undefended_model_that_did_not_learn_is_an_error` in
        // tests/default_run.rs).
        ..schedule([12, 1, 1], AdversaryKind::AuthorsFfn, attackers)
    };
    let runs = run_collateral_seeds(&cfg, &data, InputScaling::Unit, &mut |_| {}).unwrap();
    assert_eq!(runs.runs.len(), 2);
    assert_eq!(runs.summary.len(), 2);
    for (i, s) in runs.summary.iter().enumerate() {
        let per_run: Vec<&AlphaOutcome> = runs.runs.iter().map(|r| &r.per_alpha[i]).collect();
        assert_eq!(per_run[0].seed, 3);
        assert_eq!(per_run[1].seed, 4);
        let good: Vec<_> = per_run.iter().filter(|a| !a.diverged).collect();
        assert_eq!(s.runs, 2);
        assert_eq!(s.diverged, 2 - good.len());
        // Every run's main-task accuracy, in seed order, and the lowest of them.
        let every: Vec<f32> = per_run.iter().map(|a| a.main_accuracy).collect();
        assert_eq!(s.main_accuracy_runs, every);
        assert_eq!(s.lowest_main_accuracy(), Some(every[0].min(every[1])));
        if good.is_empty() {
            assert!(s.attacks.is_empty() && s.worst_collateral.is_none());
            continue;
        }
        let main: Vec<f32> = good.iter().map(|a| a.main_accuracy).collect();
        assert_eq!(s.main_accuracy, Stat::of(&main).unwrap());
        for stat in &s.attacks {
            let v: Vec<f32> = good
                .iter()
                .map(|a| {
                    a.attacks
                        .iter()
                        .find(|r| r.attacker == stat.attacker)
                        .unwrap()
                        .collateral_accuracy
                })
                .collect();
            assert_eq!(stat.collateral_accuracy, Stat::of(&v).unwrap());
        }
    }
    // The attackers saw only digit 6: chance is that class's majority font rate.
    let six = data
        .test
        .class_names
        .iter()
        .position(|c| *c == data.train.class_names[6])
        .unwrap();
    let s6: Vec<u8> = data
        .test
        .labels
        .iter()
        .zip(data.test.sensitive.as_ref().unwrap())
        .filter(|(y, _)| usize::from(**y) == six)
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(
        runs.runs[0].chance,
        privsplit_models::train::majority_rate(&s6)
    );
    // The initial phase (adversary trained with Q and C) is scored on the whole test split: its chance is
    // the majority font rate over every character, and the summary is the runs' mean ± std.
    let all_fonts = data.test.sensitive.as_ref().unwrap();
    let scores: Vec<_> = runs.runs.iter().map(|r| r.initial_phase.unwrap()).collect();
    for s in &scores {
        assert_eq!(s.chance, privsplit_models::train::majority_rate(all_fonts));
        assert!(
            (0.0..=1.0).contains(&s.main_accuracy) && (0.0..=1.0).contains(&s.adversary_accuracy)
        );
    }
    let init = runs.initial_phase.unwrap();
    let adv: Vec<f32> = scores.iter().map(|s| s.adversary_accuracy).collect();
    let main: Vec<f32> = scores.iter().map(|s| s.main_accuracy).collect();
    assert_eq!(init.adversary_accuracy, Stat::of(&adv).unwrap());
    assert_eq!(init.main_accuracy, Stat::of(&main).unwrap());
    // A distinguisher class the data does not have is named in the error.
    let bad = CollateralConfig {
        evaluation: EvaluationConfig {
            distinguisher: Some("Z".into()),
            ..EvaluationConfig::default()
        },
        ..cfg
    };
    let err = run_collateral_seeds(&bad, &data, InputScaling::Unit, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("distinguisher"), "{err}");
}

/// The authors' undefended leak measure: the adversary trained with `Q` and `C` in the initial phase,
/// scored on the whole test split. On the two-style set the style leaks through output(x) (the fresh
/// attackers of `defence_brings_collateral_accuracy_towards_chance` reach chance + 15 points): the jointly
/// trained adversary must see it too, and the main task must be learnt (measured: 66 % main task, 75 %
/// style after 10 epochs; the alternating three-step schedule learns the main task more slowly than
/// joint training).
#[test]
fn the_initial_phase_scores_the_jointly_trained_adversary() {
    let data = seven_segment_split(3000, 600, 7);
    let cfg = CollateralConfig {
        lr: 0.05,
        momentum: 0.5,
        alphas: vec![0.0],
        initial_adversary: true,
        seed: 1,
        ..schedule([10, 0, 1], AdversaryKind::Mlp, vec![Attacker::Logistic])
    };
    let out = run_collateral(&cfg, &data, &mut |_| {}).unwrap();
    let init = out.initial_phase.unwrap();
    eprintln!("{init:?}");
    assert_eq!(init.chance, 0.5);
    // Untrained networks score 10 % (main task) and 50 % (style); the alternating steps learn both.
    assert!(init.main_accuracy > 0.5, "{init:?}");
    assert!(init.adversary_accuracy > init.chance + 0.15, "{init:?}");
}
