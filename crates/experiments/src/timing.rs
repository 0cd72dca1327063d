//! Wall-clock timing of the partitions of a split model (the latency columns of the sweep reports).

use std::time::Instant;

use crate::Result;

/// Median wall time (ms) of `reps` calls of `f` (at least one) after one warm-up call.
///
/// # Errors
/// The first error `f` returns.
pub fn median_ms(mut f: impl FnMut() -> Result<()>, reps: usize) -> Result<f64> {
    f()?;
    let mut t = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_skips_the_warm_up_call_and_stops_at_the_first_error() {
        let mut calls = 0;
        let ms = median_ms(
            || {
                calls += 1;
                if calls == 1 {
                    std::thread::sleep(std::time::Duration::from_millis(300));
                }
                Ok(())
            },
            3,
        )
        .unwrap_or(f64::NAN);
        assert_eq!(calls, 4);
        assert!(ms < 150.0, "the slow warm-up call was timed: {ms} ms");
        let mut n = 0;
        let r = median_ms(
            || {
                n += 1;
                Err(crate::Error::invalid("x", "y", "z"))
            },
            5,
        );
        assert!(r.is_err());
        assert_eq!(n, 1);
    }
}
