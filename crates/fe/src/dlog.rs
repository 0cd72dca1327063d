//! Bounded discrete logarithm in `G_T` by baby-step giant-step, with a persisted, memory-mapped table.
//!
//! Source: D. Shanks, "Class number, a theory of factorization, and genera" (1971). For a table of `m`
//! baby steps `g^j` (`0 <= j < m`, `g = e(g1, g2)`), a target `h = g^v` with `v = i m + j` is found by the
//! giant steps `h g^(-i m)` for `i = 0, 1, -1, 2, -2, ...` (values of small magnitude first, negative
//! values covered), each costing one multiplication in `G_T` and one table look-up. Memory/time trade-off:
//! `12 m` bytes of table, about `|v| / m` giant steps per solve. The search stops at the declared bound:
//! a value with `|v| > bound` is an error ([`DecryptionFailure::OutOfBound`]), never a wrong answer, and
//! every candidate is verified by recomputing `g^v` (table keys are 64-bit digests and may collide). Whatever
//! the bound, one search takes at most [`DlogTable::max_giant_steps`] giant steps in each direction
//! (default [`DEFAULT_MAX_GIANT_STEPS`]), so a tampered ciphertext costs bounded time
//! ([`DecryptionFailure::SearchCapped`] beyond).
//!
//! File format (little endian): magic `PSFEDLOG`, version `u32` = 1, `m: u64`, `check: u64` = key of
//! `g^m`, then `m` records `(key: u64, j: u32)` sorted by key. On reuse the file is memory-mapped and its
//! header, length, ordering and a sample of entries are checked.
//!
//! Variable time (the running time reveals the magnitude of the decrypted value, which the decryptor
//! learns anyway).

use std::path::Path;

use blstrs::Gt;
use group::Group;
use rayon::prelude::*;

use crate::gt::{gt_key, vartime_pow_small};
use crate::{DecryptionFailure, Error, Result};

const MAGIC: &[u8; 8] = b"PSFEDLOG";
const VERSION: u32 = 1;
const HEADER: usize = 8 + 4 + 8 + 8;
const RECORD: usize = 12;
/// Largest table supported (2^28 entries, 3.2 GB).
pub const MAX_TABLE: u64 = 1 << 28;
/// Default cap on the giant steps of one search, in each direction (2^20: at most about 2 x 2^20
/// multiplications in `G_T`, some 10 s on one core, whatever the bound and whatever the input).
pub const DEFAULT_MAX_GIANT_STEPS: u64 = 1 << 20;

enum Storage {
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Owned(v) => v,
            Storage::Mapped(m) => m,
        }
    }
}

/// A baby-step table for discrete logarithms to the base `g_T = e(g1, g2)`.
pub struct DlogTable {
    m: u64,
    storage: Storage,
    /// `g^(-m)`.
    giant_down: Gt,
    /// `g^(m)`.
    giant_up: Gt,
    /// Most giant steps of one search in each direction.
    max_giant_steps: u64,
}

impl std::fmt::Debug for DlogTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DlogTable")
            .field("m", &self.m)
            .finish_non_exhaustive()
    }
}

/// `g_T = e(g1, g2)`, the base of every discrete logarithm in this crate.
pub fn gt_generator() -> Gt {
    Gt::generator()
}

impl DlogTable {
    /// Builds a table of `m` baby steps in memory (`m` multiplications in `G_T`, in parallel with rayon).
    ///
    /// # Errors
    /// [`Error::Parameter`] when `m` is 0 or above [`MAX_TABLE`].
    pub fn build(m: u64) -> Result<Self> {
        if m == 0 || m > MAX_TABLE {
            return Err(Error::param(
                "discrete-log table size",
                format!("must be in 1..={MAX_TABLE}, got {m}"),
            ));
        }
        let g = gt_generator();
        const CHUNK: u64 = 1 << 12;
        let chunks = m.div_ceil(CHUNK);
        let mut recs: Vec<(u64, u32)> = (0..chunks)
            .into_par_iter()
            .flat_map_iter(|c| {
                let start = c * CHUNK;
                let end = (start + CHUNK).min(m);
                let mut x = vartime_pow_small(&g, start as i64);
                let mut out = Vec::with_capacity((end - start) as usize);
                for j in start..end {
                    out.push((gt_key(&x), j as u32));
                    x += &g;
                }
                out
            })
            .collect();
        recs.par_sort_unstable();
        let mut bytes = Vec::with_capacity(HEADER + RECORD * m as usize);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&m.to_le_bytes());
        bytes.extend_from_slice(&gt_key(&vartime_pow_small(&g, m as i64)).to_le_bytes());
        for (k, j) in recs {
            bytes.extend_from_slice(&k.to_le_bytes());
            bytes.extend_from_slice(&j.to_le_bytes());
        }
        Self::from_storage(Storage::Owned(bytes), "discrete-log table (memory)", false)
    }

    fn from_storage(storage: Storage, what: &'static str, full_check: bool) -> Result<Self> {
        let b = storage.bytes();
        if b.len() < HEADER {
            return Err(Error::format(
                what,
                format!("{} bytes, shorter than the {HEADER}-byte header", b.len()),
            ));
        }
        if &b[0..8] != MAGIC {
            return Err(Error::format(
                what,
                "bad magic (not a privsplit discrete-log table)",
            ));
        }
        let version = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
        if version != VERSION {
            return Err(Error::format(
                what,
                format!("version {version}, expected {VERSION}"),
            ));
        }
        let m = le_u64(&b[12..20]);
        if m == 0 || m > MAX_TABLE {
            return Err(Error::format(
                what,
                format!("table size {m} outside 1..={MAX_TABLE}"),
            ));
        }
        let want = HEADER as u64 + RECORD as u64 * m;
        if b.len() as u64 != want {
            return Err(Error::format(
                what,
                format!("length {} bytes, expected {want} for m = {m}", b.len()),
            ));
        }
        let g = gt_generator();
        let up = vartime_pow_small(&g, m as i64);
        if le_u64(&b[20..28]) != gt_key(&up) {
            return Err(Error::format(
                what,
                "check value does not match g_T^m (table for another base?)",
            ));
        }
        let t = DlogTable {
            m,
            storage,
            giant_down: -up,
            giant_up: up,
            max_giant_steps: DEFAULT_MAX_GIANT_STEPS,
        };
        if full_check {
            let recs = t.records();
            let mut prev = 0u64;
            for i in 0..m as usize {
                let (k, j) = rec(recs, i);
                if (i > 0 && k < prev) || j as u64 >= m {
                    return Err(Error::format(
                        what,
                        format!("record {i} out of order or out of range"),
                    ));
                }
                prev = k;
            }
            // Spot-check a sample of entries against recomputed powers.
            let step = (m as usize / 16).max(1);
            for i in (0..m as usize).step_by(step) {
                let (k, j) = rec(recs, i);
                if gt_key(&vartime_pow_small(&g, j as i64)) != k {
                    return Err(Error::format(
                        what,
                        format!("record {i} does not match g_T^{j}"),
                    ));
                }
            }
        }
        Ok(t)
    }

    /// Writes the table to `path` atomically (temporary file in the same folder, then rename).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::format::write_atomic(path, self.storage.bytes())
    }

    /// Memory-maps a table written by [`DlogTable::save`] and checks it (header, length, ordering, a
    /// sample of entries recomputed).
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be opened, [`Error::Format`] if it is not a valid table.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let map = map_file(&file).map_err(|e| Error::io(path, e))?;
        Self::from_storage(Storage::Mapped(map), "discrete-log table file", true)
    }

    /// Opens the table at `path` if it exists (it must hold `m` entries), otherwise builds it and saves it
    /// there.
    ///
    /// # Errors
    /// As [`DlogTable::open`], [`DlogTable::build`], [`DlogTable::save`]; [`Error::Parameter`] if the file
    /// holds a table of another size.
    pub fn open_or_build(path: &Path, m: u64) -> Result<Self> {
        if path.exists() {
            let t = Self::open(path)?;
            if t.m != m {
                return Err(Error::param(
                    "discrete-log table size",
                    format!("{} holds {} entries, {m} requested", path.display(), t.m),
                ));
            }
            return Ok(t);
        }
        let t = Self::build(m)?;
        t.save(path)?;
        Ok(t)
    }

    /// Sets the most giant steps one search may take in each direction (at least 1; default
    /// [`DEFAULT_MAX_GIANT_STEPS`]). A search whose bound needs more is cut to `cap * m + m - 1` and a value
    /// beyond is reported as [`DecryptionFailure::SearchCapped`].
    pub fn with_max_giant_steps(mut self, cap: u64) -> Self {
        self.max_giant_steps = cap.max(1);
        self
    }

    /// The giant-step cap of [`DlogTable::with_max_giant_steps`].
    pub fn max_giant_steps(&self) -> u64 {
        self.max_giant_steps
    }

    /// Number of baby steps `m`.
    pub fn len(&self) -> u64 {
        self.m
    }

    /// Always false (a table has at least one entry); present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.m == 0
    }

    fn records(&self) -> &[u8] {
        &self.storage.bytes()[HEADER..]
    }

    /// Baby-step indices `j` whose key equals `key`. Keys are uniform 64-bit values, so the first probe is
    /// interpolated (`key / 2^64 * m`) and the search then narrows by doubling steps: about two cache
    /// misses per look-up instead of `log2 m`.
    fn lookup(&self, key: u64, out: &mut Vec<u32>) {
        out.clear();
        let recs = self.records();
        let m = self.m as usize;
        let guess = ((key as u128 * m as u128) >> 64) as usize;
        // Find lo <= first index with k >= key <= hi by galloping from the guess.
        let (mut lo, mut hi);
        if rec(recs, guess.min(m - 1)).0 < key {
            lo = guess.min(m - 1) + 1;
            let mut step = 1usize;
            hi = lo;
            while hi < m && rec(recs, hi).0 < key {
                lo = hi + 1;
                hi = (hi + step).min(m);
                step *= 2;
            }
        } else {
            hi = guess.min(m - 1);
            let mut step = 1usize;
            lo = hi;
            while lo > 0 && rec(recs, lo - 1).0 >= key {
                hi = lo - 1;
                lo = lo.saturating_sub(step);
                step *= 2;
            }
        }
        while lo < hi {
            let mid = (lo + hi) / 2;
            if rec(recs, mid).0 < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        while lo < m {
            let (k, j) = rec(recs, lo);
            if k != key {
                break;
            }
            out.push(j);
            lo += 1;
        }
    }

    /// The `v` with `g_T^v = h` and `|v| <= bound`, variable time (about `|v| / m` giant steps, at most
    /// [`DlogTable::max_giant_steps`] in each direction whatever `bound` is).
    ///
    /// # Errors
    /// [`Error::Decryption`] with [`DecryptionFailure::OutOfBound`] when no such `v` exists, or with
    /// [`DecryptionFailure::SearchCapped`] when the bound needs more giant steps than the cap and `v` was
    /// not found in the range the capped search covers.
    pub fn vartime_solve(&self, h: &Gt, bound: u64) -> Result<i64> {
        let bound = bound.min(i64::MAX as u64 / 2);
        let g = gt_generator();
        let m = self.m as i128;
        let needed = bound / self.m + 1;
        let capped = needed > self.max_giant_steps;
        let imax = needed.min(self.max_giant_steps) as i128;
        let fail = if capped {
            let searched = (self.max_giant_steps.saturating_mul(self.m) + self.m - 1).min(bound);
            Error::Decryption(DecryptionFailure::SearchCapped { bound, searched })
        } else {
            Error::Decryption(DecryptionFailure::OutOfBound { bound })
        };
        let mut cands = Vec::new();
        let mut check = |e: &Gt, i: i128| -> Option<Result<i64>> {
            self.lookup(gt_key(e), &mut cands);
            for &j in &cands {
                let v = i * m + j as i128;
                if vartime_pow_small(&g, v as i64) == *h {
                    return Some(if v.unsigned_abs() <= bound as u128 {
                        Ok(v as i64)
                    } else {
                        Err(Error::Decryption(DecryptionFailure::OutOfBound { bound }))
                    });
                }
            }
            None
        };
        let mut down = *h; // h g^(-i m), i >= 0
        let mut up = *h + self.giant_up; // h g^(i m), i >= 1: candidate v = -i m + j
        if let Some(r) = check(&down, 0) {
            return r;
        }
        for i in 1..=imax {
            down += &self.giant_down;
            if let Some(r) = check(&down, i) {
                return r;
            }
            if let Some(r) = check(&up, -i) {
                return r;
            }
            up += &self.giant_up;
        }
        Err(fail)
    }
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn rec(recs: &[u8], i: usize) -> (u64, u32) {
    let r = &recs[i * RECORD..(i + 1) * RECORD];
    (
        le_u64(&r[0..8]),
        u32::from_le_bytes([r[8], r[9], r[10], r[11]]),
    )
}

#[allow(unsafe_code)]
fn map_file(file: &std::fs::File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: the map is read-only and private to this process; the table is only read through bounds-
    // checked slices after its header and length are validated. The remaining hazard of any file mapping
    // (another process truncating or rewriting the file while it is mapped) is documented in docs/FE.md;
    // tables are written atomically (temp file + rename), so privsplit itself never rewrites a mapped file.
    unsafe { memmap2::Mmap::map(file) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_positive_negative_and_rejects_out_of_bound() {
        let t = DlogTable::build(64).unwrap();
        let g = gt_generator();
        for v in [0i64, 1, 63, 64, 65, -1, -64, -65, 1000, -1000, 4095, -4096] {
            let h = vartime_pow_small(&g, v);
            assert_eq!(t.vartime_solve(&h, 5000).unwrap(), v, "v={v}");
        }
        let h = vartime_pow_small(&g, 5001);
        assert!(matches!(
            t.vartime_solve(&h, 5000),
            Err(Error::Decryption(DecryptionFailure::OutOfBound { .. }))
        ));
        let h = vartime_pow_small(&g, -5001);
        assert!(t.vartime_solve(&h, 5000).is_err());
        // Just outside by less than one giant step.
        let h = vartime_pow_small(&g, 130);
        assert!(t.vartime_solve(&h, 129).is_err());
        assert_eq!(t.vartime_solve(&h, 130).unwrap(), 130);
        // A random element (not a small power) is rejected, not mis-solved.
        let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(9);
        assert!(t.vartime_solve(&Gt::random(&mut rng), 3000).is_err());
    }

    #[test]
    fn file_round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.dlog");
        let t = DlogTable::open_or_build(&p, 100).unwrap();
        let t2 = DlogTable::open_or_build(&p, 100).unwrap();
        assert!(matches!(t2.storage, Storage::Mapped(_)));
        let h = vartime_pow_small(&gt_generator(), -777);
        assert_eq!(t.vartime_solve(&h, 1000).unwrap(), -777);
        assert_eq!(t2.vartime_solve(&h, 1000).unwrap(), -777);
        assert!(DlogTable::open_or_build(&p, 101).is_err());
        let bytes = std::fs::read(&p).unwrap();
        let q = dir.path().join("bad.dlog");
        std::fs::write(&q, &bytes[..bytes.len() - 1]).unwrap();
        assert!(matches!(DlogTable::open(&q), Err(Error::Format { .. })));
        let mut bad = bytes.clone();
        bad[HEADER + 6 * RECORD] ^= 1; // corrupt a key
        std::fs::write(&q, &bad).unwrap();
        assert!(matches!(DlogTable::open(&q), Err(Error::Format { .. })));
        let mut bad = bytes;
        bad[0] = b'X';
        std::fs::write(&q, &bad).unwrap();
        assert!(matches!(DlogTable::open(&q), Err(Error::Format { .. })));
        assert!(DlogTable::build(0).is_err());
    }
}
