//! Tables as CSV files (RFC 4180, via the `csv` crate), one file per table, for pandas and papers.

use std::path::Path;

use crate::run_dir::write_atomic;
use crate::{Error, Result};

/// Writes `header` and `rows` as CSV to `path`, atomically. Cells are written as given (numbers should be
/// formatted without units so that they parse as numbers).
///
/// # Errors
/// [`Error::Invalid`] when a row has another length than the header; [`Error::Write`] when the file cannot
/// be written.
pub fn write_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) -> Result<()> {
    if let Some((i, r)) = rows
        .iter()
        .enumerate()
        .find(|(_, r)| r.len() != header.len())
    {
        return Err(Error::Invalid {
            what: format!("row {i} of {}", path.display()),
            expected: format!("{} cells (the header's)", header.len()),
            got: r.len().to_string(),
        });
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::Invalid {
        what: format!("CSV for {}", path.display()),
        expected: "writable records".into(),
        got: e.to_string(),
    };
    w.write_record(header).map_err(fail)?;
    for r in rows {
        w.write_record(r).map_err(fail)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Invalid {
        what: format!("CSV for {}", path.display()),
        expected: "a flushed buffer".into(),
        got: e.to_string(),
    })?;
    write_atomic(path, &bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic with the value is the failure report
mod tests {
    use super::*;

    #[test]
    fn quotes_cells_that_need_it_and_rejects_ragged_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        let rows = vec![
            vec!["0".to_string(), "a, b".into()],
            vec!["1.5".into(), "say \"hi\"".into()],
        ];
        write_csv(&p, &["alpha", "note"], &rows).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text, "alpha,note\n0,\"a, b\"\n1.5,\"say \"\"hi\"\"\"\n");
        let ragged = vec![vec!["1".to_string()]];
        assert!(matches!(
            write_csv(&p, &["a", "b"], &ragged),
            Err(Error::Invalid { .. })
        ));
    }
}
