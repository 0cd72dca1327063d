//! Data installed outside the repository (Fashion-MNIST, scikit-image photographs, pretrained weights) and
//! what a test does when it is missing: under continuous integration (the environment variable `CI` is set
//! and not `0`/`false`) it fails with a message naming the install step, because CI must prove the install
//! steps work; elsewhere it is skipped with a visible message.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The command that installs every dataset and weight file (`scripts/install-deps.sh`).
pub const INSTALL_STEP: &str = "bash scripts/install-deps.sh";

/// Whether this process runs under continuous integration: `CI` is set, non-empty and not `0` or `false`
/// (GitHub Actions, GitLab CI and most others set `CI=true`).
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Checks that every path of `paths` exists.
///
/// Returns `Ok(true)` when all exist; `Ok(false)` when one is missing and `ci` is false (the caller skips);
/// with `ci`, a missing path is an error.
///
/// # Errors
/// [`Error::NotInstalled`] naming `what`, the first missing path and [`INSTALL_STEP`], when `ci` is true.
pub fn check_installed(what: &str, paths: &[&Path], ci: bool) -> Result<bool> {
    let Some(missing) = paths.iter().find(|p| !p.exists()) else {
        return Ok(true);
    };
    if ci {
        return Err(Error::NotInstalled {
            what: what.to_string(),
            path: missing.to_path_buf(),
            detail: "missing under CI, where installed data is required".into(),
        });
    }
    Ok(false)
}

/// For tests that need installed data: `true` when every path exists. Otherwise, outside CI, prints
/// `skipping: <what> missing at <path> (install it with `bash scripts/install-deps.sh`)` to stderr and
/// returns `false` (the test returns early); under CI ([`under_ci`]) it panics with that message, so the
/// test fails.
///
/// # Panics
/// Under CI when a path is missing (that is its purpose: a test helper).
#[track_caller]
pub fn installed_or_skip(what: &str, paths: &[&Path]) -> bool {
    match check_installed(what, paths, under_ci()) {
        Ok(true) => true,
        Ok(false) => {
            let missing: Vec<PathBuf> = paths
                .iter()
                .filter(|p| !p.exists())
                .map(|p| p.to_path_buf())
                .collect();
            eprintln!(
                "skipping: {what} missing at {missing:?} (install it with `{INSTALL_STEP}`; under CI=1 this fails)"
            );
            false
        }
        #[allow(clippy::panic)] // a test helper: failing the test is the point
        Err(e) => panic!("{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dataset path that does not exist fails under CI with a message naming the install step, and is a
    /// skip elsewhere.
    #[test]
    fn a_missing_dataset_fails_under_ci_naming_the_install_step() {
        let dir = tempfile::tempdir().expect("tempdir");
        let gone = dir.path().join("fashion-mnist");
        std::fs::create_dir(&gone).expect("mkdir");
        std::fs::remove_dir(&gone).expect("delete the dataset folder");
        let err = check_installed("Fashion-MNIST", &[&gone], true).expect_err("CI must fail");
        let msg = err.to_string();
        assert!(msg.contains(INSTALL_STEP), "{msg}");
        assert!(
            msg.contains("Fashion-MNIST") && msg.contains("fashion-mnist"),
            "{msg}"
        );
        assert!(!check_installed("Fashion-MNIST", &[&gone], false).expect("skip"));
        assert!(check_installed("a folder", &[dir.path()], true).expect("present"));
    }
}
