//! Measurements behind `privsplit fe bench`: every figure of the performance table of the FE issue,
//! single-threaded (a one-thread rayon pool) and with the global rayon pool, against GoFE's published
//! numbers (background.md §3, same machine class).
//!
//! The workloads: SGP with `n = 784`, `x, y in [0, 255]^n`, diagonal `F` with entries in `[-4, 4]`;
//! public-key encryption of a 784-pixel image; decryption of a `784 -> 40 -> square -> 4` quantised model
//! (default [`QuantConfig`]) followed by a clear stand-in head `4 -> ReLU -> 32 -> 10` (plain `f32`).

use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::dlog::DlogTable;
use crate::quadratic::{ciphertext_group_bytes, decrypt, setup, EncryptionKey};
use crate::quant::{FloatQuadratic, QuantConfig, QuantisedQuadratic};
use crate::sgp::{sgp_decrypt, BilinearForm, SgpMasterKey};
use crate::{Error, Result};

/// One row of the benchmark table.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    /// Operation.
    pub operation: String,
    /// Peer figure (text, e.g. "GoFE 1.54 s").
    pub peer: String,
    /// Peer figure in ms, when numeric (the ratio basis).
    pub peer_ms: Option<f64>,
    /// Floor from the issue (text).
    pub floor: String,
    /// Floor in ms (or bytes for the size row).
    pub floor_value: f64,
    /// Median time on one thread, ms (or bytes for the size row).
    pub single_ms: f64,
    /// Median time with the rayon pool, ms (or bytes).
    pub parallel_ms: f64,
}

impl BenchRow {
    /// Whether the parallel figure meets the floor.
    pub fn meets_floor(&self) -> bool {
        self.parallel_ms <= self.floor_value
    }
}

/// Benchmark settings.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Vector length (784).
    pub n: usize,
    /// Hidden units of the quadratic model (40).
    pub hidden: usize,
    /// Outputs of the quadratic model (4).
    pub outputs: usize,
    /// Repetitions per figure (median reported).
    pub reps: usize,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            n: 784,
            hidden: 40,
            outputs: 4,
            reps: 5,
            seed: 2019,
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Times `f` `reps` times in a rayon pool of `threads` threads (0 = global pool); median in ms.
fn time<F: FnMut() -> Result<()> + Send>(threads: usize, reps: usize, mut f: F) -> Result<f64> {
    let mut run = || -> Result<f64> {
        let mut v = Vec::with_capacity(reps);
        for _ in 0..reps.max(1) {
            let t = Instant::now();
            f()?;
            v.push(t.elapsed().as_secs_f64() * 1e3);
        }
        Ok(median(v))
    };
    if threads == 0 {
        run()
    } else {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::param("rayon pool", e.to_string()))?;
        pool.install(run)
    }
}

/// A synthetic "trained-like" float model: `P` entries ~ U(-0.1, 0.1), bias ~ U(-0.5, 0.5), `Q` ~ U(-1, 1).
pub fn synthetic_float_model(
    hidden: usize,
    inputs: usize,
    outputs: usize,
    seed: u64,
) -> FloatQuadratic {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut u = move || (rng.next_u32() as f64 / u32::MAX as f64 * 2.0 - 1.0) as f32;
    let mut p = Vec::with_capacity(hidden * (inputs + 1));
    for _ in 0..hidden {
        p.push(u() * 0.5);
        for _ in 0..inputs {
            p.push(u() * 0.1);
        }
    }
    FloatQuadratic {
        hidden,
        inputs,
        outputs,
        p,
        q: (0..hidden * outputs).map(|_| u()).collect(),
    }
}

/// A synthetic digit-like image: about 19 % of pixels lit (as in MNIST), values in `0..=255`.
pub fn synthetic_image(n: usize, rng: &mut ChaCha20Rng) -> Vec<u8> {
    (0..n)
        .map(|_| {
            if rng.next_u32() % 100 < 19 {
                (rng.next_u32() % 256) as u8
            } else {
                0
            }
        })
        .collect()
}

fn head(out: &[f32], w1: &[f32], w2: &[f32]) -> usize {
    let k = out.len();
    let h: Vec<f32> = (0..32)
        .map(|j| (0..k).map(|i| w1[j * k + i] * out[i]).sum::<f32>().max(0.0))
        .collect();
    let logits: Vec<f32> = (0..10)
        .map(|c| (0..32).map(|j| w2[c * 32 + j] * h[j]).sum())
        .collect();
    logits
        .iter()
        .enumerate()
        .fold(
            (0, f32::MIN),
            |b, (i, v)| if *v > b.1 { (i, *v) } else { b },
        )
        .0
}

/// One row: `operation`, the peer figure (`peer`, `peer_ms`), the floor (`floor`, `floor_value` ms) and the
/// measured medians `(single_ms, parallel_ms)`.
fn row(
    operation: String,
    peer: &str,
    peer_ms: Option<f64>,
    floor: &str,
    floor_value: f64,
    (single_ms, parallel_ms): (f64, f64),
) -> BenchRow {
    BenchRow {
        operation,
        peer: peer.into(),
        peer_ms,
        floor: floor.into(),
        floor_value,
        single_ms,
        parallel_ms,
    }
}

/// A timing function: runs the closure single-threaded and on the rayon pool, returns both medians (ms).
type Timed<'a> = dyn Fn(&str, &mut (dyn FnMut() -> Result<()> + Send)) -> Result<(f64, f64)> + 'a;

/// Times `f` with `timed` and fails when any run's result differs from `want` (a benchmark that computes
/// a wrong value measures nothing).
fn self_checked<T>(
    timed: &Timed<'_>,
    name: &str,
    want: &T,
    f: &mut (dyn FnMut() -> Result<T> + Send),
) -> Result<(f64, f64)>
where
    T: PartialEq + std::fmt::Debug + Send + Sync,
{
    let mut wrong = None;
    let times = timed(name, &mut || {
        let v = f()?;
        if v != *want {
            wrong = Some(v);
        }
        Ok(())
    })?;
    match wrong {
        Some(v) => Err(Error::param(
            "benchmark self-check",
            format!("{name} gave {v:?}, expected {want:?}"),
        )),
        None => Ok(times),
    }
}

/// Runs every measurement. `table` is the discrete-log table (e.g. 2^20 entries, built or memory-mapped by
/// the caller). `progress` receives a line per finished figure.
///
/// # Errors
/// Any error of the operations measured.
pub fn run(cfg: &BenchConfig, table: &DlogTable, progress: &dyn Fn(&str)) -> Result<Vec<BenchRow>> {
    let mut rng = ChaCha20Rng::seed_from_u64(cfg.seed);
    let n = cfg.n;
    let mut rows = Vec::new();
    let both = |name: &str, f: &mut (dyn FnMut() -> Result<()> + Send)| -> Result<(f64, f64)> {
        let s = time(1, cfg.reps, &mut *f)?;
        let p = time(0, cfg.reps, &mut *f)?;
        progress(&format!(
            "{name}: {s:.2} ms (1 thread), {p:.2} ms ({} threads)",
            rayon::current_num_threads()
        ));
        Ok((s, p))
    };

    // --- SGP, n = 784 ---
    let msk = SgpMasterKey::setup(n, 255, &mut rng)?;
    let x: Vec<i64> = (0..n).map(|_| (rng.next_u32() % 256) as i64).collect();
    let y: Vec<i64> = (0..n).map(|_| (rng.next_u32() % 256) as i64).collect();
    let diag: Vec<i64> = (0..n).map(|_| (rng.next_u32() % 9) as i64 - 4).collect();
    let form = BilinearForm::diagonal(&diag);
    let bound = form.dlog_bound(255, 255)?;
    let want = form.eval(&x, &y)?;
    let mut erng = ChaCha20Rng::seed_from_u64(cfg.seed + 1);
    let (s, p) = both("SGP encrypt", &mut || {
        msk.encrypt(&x, &y, &mut erng).map(|_| ())
    })?;
    rows.push(row(
        format!("SGP encrypt, n = {n}"),
        "GoFE 1.54 s",
        Some(1540.0),
        "<= 0.15 s",
        150.0,
        (s, p),
    ));
    let (s, p) = both("SGP derive key", &mut || msk.derive_key(&form).map(|_| ()))?;
    rows.push(row(
        format!("SGP derive key, n = {n}, diagonal F"),
        "GoFE 25 ms",
        Some(25.0),
        "<= 2.5 ms",
        2.5,
        (s, p),
    ));
    let key = msk.derive_key(&form)?;
    let ct = msk.encrypt(&x, &y, &mut rng)?;
    let (s, p) = self_checked(&both, "SGP decrypt", &want, &mut || {
        sgp_decrypt(&ct, &key, &form, table, bound).map(i128::from)
    })?;
    rows.push(row(
        format!("SGP decrypt, n = {n}, diagonal F, incl. discrete log (value {want})"),
        "GoFE 3.85 s",
        Some(3850.0),
        "<= 0.38 s",
        380.0,
        (s, p),
    ));

    // --- public key ---
    let float = synthetic_float_model(cfg.hidden, n, cfg.outputs, cfg.seed + 2);
    let model = QuantisedQuadratic::from_float(&float, &QuantConfig::default())?;
    let (pk, mskq) = setup(n, 0, 255, &mut rng)?;
    let fkey = mskq.keygen(&model)?;
    let img = synthetic_image(n, &mut rng);
    let (s, p) = both("public-key encrypt (library multiplication)", &mut || {
        pk.encrypt_pixels(&img, &mut erng).map(|_| ())
    })?;
    rows.push(row(
        format!("public-key encrypt, n = {n} (library variable-base multiplication)"),
        "authors: a few seconds",
        None,
        "<= 0.3 s",
        300.0,
        (s, p),
    ));
    let t = Instant::now();
    let prepared = pk.prepare(6)?;
    let prep_ms = t.elapsed().as_secs_f64() * 1e3;
    progress(&format!(
        "public key comb tables (6 teeth): {prep_ms:.0} ms, once per public key"
    ));
    let (s, p) = both("public-key encrypt (comb tables)", &mut || {
        prepared.encrypt_pixels(&img, &mut erng).map(|_| ())
    })?;
    rows.push(row(
        format!("public-key encrypt, n = {n} (per-key comb tables, built once in {prep_ms:.0} ms)"),
        "authors: a few seconds",
        None,
        "<= 0.3 s",
        300.0,
        (s, p),
    ));
    let ct = prepared.encrypt_pixels(&img, &mut rng)?;
    let want = model.eval_plain(&img)?;
    let mut hr = ChaCha20Rng::seed_from_u64(cfg.seed + 3);
    let mut hu = || (hr.next_u32() as f64 / u32::MAX as f64 - 0.5) as f32;
    let w1: Vec<f32> = (0..32 * cfg.outputs).map(|_| hu()).collect();
    let w2: Vec<f32> = (0..320).map(|_| hu()).collect();
    let (s, p) = self_checked(&both, "decrypt + classify", &want, &mut || {
        let out = decrypt(&ct, &fkey, &model, table)?;
        let _class = head(&model.dequantise(&out), &w1, &w2);
        Ok(out)
    })?;
    let maxv = want.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0);
    rows.push(row(format!("decrypt + classify one image ({n}->{}->square->{}, clear head; outputs up to {maxv:.3e} in magnitude)", cfg.hidden, cfg.outputs, maxv = maxv as f64), "authors: a few seconds", None, "<= 0.3 s", 300.0, (s, p)));
    let size = ciphertext_group_bytes(n) as f64;
    rows.push(BenchRow {
        operation: format!(
            "ciphertext size, n = {n} (bytes; + {} header bytes)",
            crate::quadratic::CIPHERTEXT_HEADER_BYTES
        ),
        peer: "1 G1 + 785 (2 G1 + 2 G2)".into(),
        peer_ms: None,
        floor: "= 226,128 bytes".into(),
        floor_value: 226_128.0,
        single_ms: size,
        parallel_ms: size,
    });
    Ok(rows)
}
