#![doc = include_str!("../README.md")]

use std::io::Write;
use std::path::{Path, PathBuf};

mod error_enum;

/// A failed atomic write.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `path` names no file (it ends in `..`, `/` or is empty).
    #[error("{path}: expected a path ending in a file name")]
    NoFileName {
        /// The rejected path.
        path: PathBuf,
    },
    /// Creating, writing, syncing or renaming the temporary file for `path` failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The destination file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Writes `bytes` to `path` atomically (see the crate docs): unique temporary file in the same folder,
/// write, `fsync`, rename.
///
/// # Errors
/// [`Error::NoFileName`] when `path` has no file name; [`Error::Io`] when the folder is missing or not
/// writable.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with_mode(path, bytes, None)
}

/// As [`write_atomic`], and on unix sets the permission bits to `mode` (e.g. `0o600` for a secret key)
/// before the file appears under its name; `None` gives `0o644` (owner writes, everyone reads).
///
/// # Errors
/// As [`write_atomic`].
pub fn write_atomic_with_mode(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if path.file_name().is_none() {
        return Err(Error::NoFileName {
            path: path.to_path_buf(),
        });
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".privsplit-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    set_mode(tmp.as_file(), mode.unwrap_or(DEFAULT_MODE)).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Mode of files written without an explicit one: readable by all, writable by the owner (what
/// `File::create` gives under the usual umask 022).
const DEFAULT_MODE: u32 = 0o644;

#[cfg(unix)]
fn set_mode(f: &std::fs::File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_f: &std::fs::File, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic with the value is the failure report
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// Whatever was there before, the file holds exactly the last bytes written and no temporary file
        /// is left behind.
        #[test]
        fn round_trip_replaces_the_file(first in proptest::collection::vec(any::<u8>(), 0..512),
                                        second in proptest::collection::vec(any::<u8>(), 0..512)) {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("f.bin");
            write_atomic(&p, &first).unwrap();
            prop_assert_eq!(std::fs::read(&p).unwrap(), first);
            write_atomic(&p, &second).unwrap();
            prop_assert_eq!(std::fs::read(&p).unwrap(), second);
            prop_assert!(leftovers(dir.path()).is_empty());
        }
    }

    #[test]
    fn concurrent_writers_of_one_path_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("shared.txt");
        let payloads: Vec<Vec<u8>> = (0..8u8).map(|i| vec![b'a' + i; 4096]).collect();
        std::thread::scope(|s| {
            for bytes in &payloads {
                let p = p.clone();
                s.spawn(move || write_atomic(&p, bytes).unwrap());
            }
        });
        let got = std::fs::read(&p).unwrap();
        assert!(payloads.contains(&got), "a torn or mixed file");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn bad_paths_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-folder").join("f");
        let e = write_atomic(&missing, b"x").unwrap_err().to_string();
        assert!(e.contains("no-such-folder"), "{e}");
        assert!(matches!(
            write_atomic(Path::new("/"), b"x"),
            Err(Error::NoFileName { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn secret_files_get_their_mode_before_they_appear() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fe.msk");
        write_atomic_with_mode(&p, b"secret", Some(0o600)).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let q = dir.path().join("report.md");
        write_atomic(&q, b"public").unwrap();
        let mode = std::fs::metadata(&q).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }
}
