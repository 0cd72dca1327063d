//! The collateral-learning outcome as a plain-text table (what `privsplit collateral` prints).

use std::fmt::Write;

use super::CollateralOutcome;

/// The outcome as text: the set-up, then one row per alpha with the main-task accuracy, each attacker's
/// collateral accuracy (%, or DIVERGED when the defence diverged: its leak is not a defence result) and
/// the wall times (s) of the defence, recovery and attack phases.
pub fn outcome_table(o: &CollateralOutcome) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "collateral learning: {} train / {} test images, network {} -> {} -> square -> {}, chance {:.1} %",
        o.train_images,
        o.test_images,
        o.network.inputs,
        o.network.hidden,
        o.network.outputs,
        100.0 * o.chance
    );
    let _ = writeln!(
        s,
        "plain phase {:.1} s ({:.2} s per epoch); float test accuracy of the undefended model {:.2} %",
        o.plain_seconds,
        o.seconds_per_plain_epoch,
        100.0 * o.float_test_accuracy
    );
    if let Some(i) = &o.initial_phase {
        let _ = writeln!(
            s,
            "after the initial phase: main task {:.2} %, jointly trained adversary {:.2} % (whole test split, chance {:.1} %)",
            100.0 * i.main_accuracy,
            100.0 * i.adversary_accuracy,
            100.0 * i.chance
        );
    }
    let _ = write!(s, "{:>6} {:>8}", "alpha", "main %");
    for a in &o.config.attackers {
        let _ = write!(s, " {:>10}", format!("{} %", a.name()));
    }
    let _ = writeln!(
        s,
        " {:>10} {:>10} {:>10}",
        "defence s", "recover s", "attacks s"
    );
    for a in &o.per_alpha {
        let _ = write!(s, "{:>6} {:>8.2}", a.alpha, 100.0 * a.main_accuracy);
        for at in &o.config.attackers {
            let _ = match a.collateral(*at) {
                Some(_) if a.diverged => write!(s, " {:>10}", "DIVERGED"),
                Some(v) => write!(s, " {:>10.2}", 100.0 * v),
                None => write!(s, " {:>10}", "-"),
            };
        }
        let _ = write!(
            s,
            " {:>10.1} {:>10.1} {:>10.1}",
            a.defence_seconds, a.recovery_seconds, a.attack_seconds
        );
        let _ = if a.diverged {
            writeln!(
                s,
                "  DIVERGED: the main task left the band; no defence result ({} event(s))",
                a.divergence_events.len()
            )
        } else if a.divergence_events.is_empty() {
            writeln!(s)
        } else {
            writeln!(
                s,
                "  {} divergence(s) rolled back, final alpha {}",
                a.divergence_events.len(),
                a.final_alpha
            )
        };
    }
    s
}
