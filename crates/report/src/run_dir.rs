//! Run folders (`runs/<name>-<UTC timestamp>/`) that appear only when complete, and atomic file writes.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Error, Result};

/// Writes `bytes` to `path` atomically with [`privsplit_io::write_atomic`] (unique temporary file in the
/// same folder, fsync, rename): readers see the old file or the complete new one, never a prefix.
///
/// # Errors
/// [`Error::Write`] naming the path when the folder is missing or not writable, or `path` has no file name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(privsplit_io::write_atomic(path, bytes)?)
}

/// The UTC time `t` as `YYYYmmdd-HHMMSS` (proleptic Gregorian calendar; days-to-civil conversion of
/// H. Hinnant, "chrono-Compatible Low-Level Date Algorithms", `civil_from_days`).
pub fn utc_timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// A run folder under construction.
///
/// [`RunDir::create`] makes the hidden folder `base/.<name>-<timestamp>.partial`; files are written into
/// [`RunDir::path`]; [`RunDir::finish`] renames it to `base/<name>-<timestamp>`, so a run folder with the
/// public name is always complete. **Dropping a `RunDir` without `finish` leaves the `.partial` folder in
/// place** (for inspection of a failed or interrupted run; it is hidden and never mistaken for a finished
/// run); call [`RunDir::abandon`] to delete it instead.
#[derive(Debug)]
pub struct RunDir {
    partial: PathBuf,
    final_path: PathBuf,
}

impl RunDir {
    /// Creates `base/.<name>-<UTC timestamp YYYYmmdd-HHMMSS>.partial` (and `base` if needed).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `name` is empty, starts with `.` or contains a path separator;
    /// [`Error::Io`] with kind `AlreadyExists` when the final or the partial folder already exists (e.g.
    /// two runs of the same name in the same second), or when the folder cannot be created.
    pub fn create(base: &Path, name: &str) -> Result<RunDir> {
        Self::create_at(base, name, SystemTime::now())
    }

    /// As [`RunDir::create`] with an explicit time (for reproducible names and tests).
    ///
    /// # Errors
    /// As [`RunDir::create`].
    pub fn create_at(base: &Path, name: &str, time: SystemTime) -> Result<RunDir> {
        if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\']) {
            return Err(Error::Invalid {
                what: "run name".into(),
                expected: "a non-empty name without '/' or '\\' and not starting with '.'".into(),
                got: format!("{name:?}"),
            });
        }
        let stamp = format!("{name}-{}", utc_timestamp(time));
        let final_path = base.join(&stamp);
        let partial = base.join(format!(".{stamp}.partial"));
        if final_path.exists() {
            return Err(Error::Io {
                path: final_path,
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "run folder already exists",
                ),
            });
        }
        std::fs::create_dir_all(base).map_err(|source| Error::Io {
            path: base.to_path_buf(),
            source,
        })?;
        // create_dir (not _all) fails if the partial folder exists: two writers never share it.
        std::fs::create_dir(&partial).map_err(|source| Error::Io {
            path: partial.clone(),
            source,
        })?;
        Ok(RunDir {
            partial,
            final_path,
        })
    }

    /// The folder to write into (the hidden `.partial` one until [`RunDir::finish`]).
    pub fn path(&self) -> &Path {
        &self.partial
    }

    /// Where the folder will be after [`RunDir::finish`].
    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    /// Writes `bytes` to `self.path()/relative` atomically (see [`write_atomic`]).
    ///
    /// # Errors
    /// As [`write_atomic`].
    pub fn write(&self, relative: &str, bytes: &[u8]) -> Result<PathBuf> {
        let p = self.partial.join(relative);
        write_atomic(&p, bytes)?;
        Ok(p)
    }

    /// Renames the folder into place and returns its final path.
    ///
    /// # Errors
    /// [`Error::Io`] with kind `AlreadyExists` when the final folder appeared meanwhile (the partial folder is
    /// kept), or when the rename fails.
    pub fn finish(self) -> Result<PathBuf> {
        if self.final_path.exists() {
            return Err(Error::Io {
                path: self.final_path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "run folder already exists",
                ),
            });
        }
        std::fs::rename(&self.partial, &self.final_path).map_err(|source| Error::Io {
            path: self.final_path.clone(),
            source,
        })?;
        Ok(self.final_path.clone())
    }

    /// Creates a run folder ([`RunDir::create`]), lets `write` fill it, and renames it into place
    /// ([`RunDir::finish`]); when `write` fails, the partial folder is deleted and `write`'s error returned.
    /// Returns the final path and `write`'s value.
    ///
    /// # Errors
    /// As [`RunDir::create`] and [`RunDir::finish`], or the error of `write`.
    pub fn fill<T, E: From<Error>>(
        base: &Path,
        name: &str,
        write: impl FnOnce(&Path) -> Result<T, E>,
    ) -> Result<(PathBuf, T), E> {
        let dir = Self::create(base, name)?;
        match write(dir.path()) {
            Ok(v) => Ok((dir.finish()?, v)),
            Err(e) => {
                let _ = dir.abandon();
                Err(e)
            }
        }
    }

    /// Deletes the partial folder and everything in it.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be removed.
    pub fn abandon(self) -> Result<()> {
        std::fs::remove_dir_all(&self.partial).map_err(|source| Error::Io {
            path: self.partial.clone(),
            source,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic with the error is the failure report
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fill_renames_a_complete_folder_and_deletes_a_failed_one() {
        let tmp = tempfile::tempdir().unwrap();
        let (done, n) = RunDir::fill(tmp.path(), "ok", |d| {
            write_atomic(&d.join("a.txt"), b"x")?;
            Ok::<_, Error>(7)
        })
        .unwrap();
        assert_eq!(n, 7);
        assert_eq!(std::fs::read(done.join("a.txt")).unwrap(), b"x");
        let bad = RunDir::fill(tmp.path(), "bad", |d| {
            write_atomic(&d.join("a.txt"), b"x")?;
            Err::<(), _>(Error::Invalid {
                what: "w".into(),
                expected: "e".into(),
                got: "g".into(),
            })
        });
        assert!(matches!(bad, Err(Error::Invalid { .. })));
        let names: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].starts_with("ok-"));
    }

    #[test]
    fn timestamps_match_known_dates() {
        let at = |s: u64| utc_timestamp(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "19700101-000000");
        // 2000-02-29 12:34:56 UTC (leap day) = 951827696
        assert_eq!(at(951_827_696), "20000229-123456");
        // 2026-11-22 02:06:11 UTC = 1795313171
        assert_eq!(at(1_795_313_171), "20261122-020611");
    }
}
