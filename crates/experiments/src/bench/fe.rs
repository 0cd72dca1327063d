//! The functional-encryption benchmark table (`privsplit fe bench`) as Markdown, with the machine it ran on.

use std::fmt::Write as _;

use privsplit_fe::bench::BenchRow;
use privsplit_report::cpu_model;

/// The rows of `privsplit_fe::bench::run` as the Markdown table of docs/BENCHMARKS.md: the machine, the
/// command, the discrete-log table (`2^bits` entries, ready in `table_s` seconds) and one row per operation.
pub fn markdown(rows: &[BenchRow], bits: u32, table_s: f64, reps: usize) -> String {
    let mut s = String::new();
    s.push_str("## Functional encryption (`privsplit fe bench`)\n\n");
    let _ = write!(
        s,
        "Machine: {}, {} rayon threads ({} logical CPUs visible). Command: `privsplit fe bench --table-bits {bits} --reps {reps}`. \
         Median of {reps} runs; times in ms (size row: bytes). Discrete-log table 2^{bits} entries ({:.1} MB), ready in {table_s:.1} s.\n\n",
        cpu_model(),
        rayon::current_num_threads(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        12.0 * (1u64 << bits) as f64 / 1e6
    );
    s.push_str("| operation | peer | floor | 1 thread | rayon | vs peer | floor met |\n|---|---|---|---|---|---|---|\n");
    for r in rows {
        let ratio = r
            .peer_ms
            .map(|p| format!("{:.1}x faster", p / r.parallel_ms))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.2} | {:.2} | {} | {} |",
            r.operation,
            r.peer,
            r.floor,
            r.single_ms,
            r.parallel_ms,
            ratio,
            if r.meets_floor() { "yes" } else { "no" }
        );
    }
    s
}
