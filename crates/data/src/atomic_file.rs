//! Atomic file writes: a temporary file in the destination folder, then a rename.

use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

/// Writes `bytes` to `path` atomically: readers see either the old file or the complete new one.
///
/// The bytes go to `.<name>.tmp-<pid>` in the same folder (same file system), are flushed to disk, and the
/// temporary file is renamed over `path`. On failure the temporary file is removed.
///
/// # Errors
/// [`Error::Io`] naming the path when the folder is missing or not writable.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path.file_name().ok_or_else(|| Error::Invalid {
        what: format!("output path {}", path.display()),
        expected: "a file name".into(),
        got: "a path without a final component".into(),
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}
