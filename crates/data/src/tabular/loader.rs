//! Streaming reader of TON_IoT network CSV files (either layout, columns in any order, plain or gzipped)
//! and the in-memory [`TonIotTable`] it fills.
//!
//! The header is validated by name ([`schema::lookup`]): every column of the 44-column layout is required,
//! `ts` and `http_referrer` together select the 46-column layout, an unknown or repeated name is an error.
//! Every row is type-checked as it is read: numeric columns are finite numbers or `-`, ports integers in
//! `0..=65535` or `-`, `label` is `0`/`1`, `type` one of the ten classes. Errors name the file, the line
//! (the header is line 1), the column and the value. Rows are parsed from the csv crate's `ByteRecord`
//! without a per-row allocation; categorical tokens are interned per column.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::schema::{self, Column, IdKind, Layout, Role, CLASSES};
use crate::{Error, Result};

/// Longest value quoted in an error message (characters).
const MAX_ERR_VALUE: usize = 80;

/// A streaming reader of one TON_IoT CSV file.
pub struct TonIotReader<R: Read> {
    csv: csv::Reader<R>,
    path: PathBuf,
    layout: Layout,
    width: usize,
    numeric: Vec<(usize, &'static str)>,
    categorical: Vec<(usize, &'static str)>,
    identifiers: Vec<(usize, Column)>,
    label: usize,
    class: usize,
    record: csv::ByteRecord,
    numeric_values: Vec<Option<f64>>,
}

/// One parsed row, borrowed from the reader until the next call of [`TonIotReader::next_row`].
pub struct Row<'a> {
    /// Line of the row in the file (header = line 1).
    pub line: u64,
    /// Numeric columns in the order of [`TonIotReader::numeric_names`]; `None` where the file has `-`.
    pub numeric: &'a [Option<f64>],
    /// `label`: 0 normal, 1 attack.
    pub label: u8,
    /// `type` as an index into [`CLASSES`].
    pub class: u8,
    record: &'a csv::ByteRecord,
    categorical: &'a [(usize, &'static str)],
}

impl Row<'_> {
    /// Raw bytes of categorical column `j` (order of [`TonIotReader::categorical_names`]), trimmed.
    pub fn categorical_bytes(&self, j: usize) -> &[u8] {
        self.categorical
            .get(j)
            .and_then(|(i, _)| self.record.get(*i))
            .map(<[u8]>::trim_ascii)
            .unwrap_or(b"-")
    }

    /// Categorical column `j` as text (invalid UTF-8 replaced by U+FFFD).
    pub fn categorical(&self, j: usize) -> Cow<'_, str> {
        String::from_utf8_lossy(self.categorical_bytes(j))
    }
}

/// Opens `path` for reading, gunzipping when the file starts with the gzip magic `1f 8b` (RFC 1952 §2.3.1),
/// whatever its name.
///
/// # Errors
/// [`Error::Io`] naming the path.
pub fn open_maybe_gzip(path: &Path) -> Result<Box<dyn Read>> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut r = BufReader::with_capacity(1 << 16, File::open(path).map_err(io)?);
    let gz = r.fill_buf().map_err(io)?.starts_with(&[0x1f, 0x8b]);
    Ok(if gz {
        Box::new(BufReader::with_capacity(1 << 16, MultiGzDecoder::new(r)))
    } else {
        Box::new(r)
    })
}

fn shorten(v: &[u8]) -> String {
    let s = String::from_utf8_lossy(v);
    if s.chars().count() > MAX_ERR_VALUE {
        let mut t: String = s.chars().take(MAX_ERR_VALUE).collect();
        t.push('…');
        t
    } else {
        s.into_owned()
    }
}

impl TonIotReader<Box<dyn Read>> {
    /// Opens a TON_IoT CSV file (plain or gzipped) and validates its header.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`Error::Schema`] for a missing, repeated or unknown
    /// column.
    pub fn open(path: &Path) -> Result<Self> {
        let r = open_maybe_gzip(path)?;
        Self::from_reader(r, path)
    }
}

impl<R: Read> TonIotReader<R> {
    /// Wraps `reader` (CSV text, not gzip) and validates its header; `path` names it in errors.
    ///
    /// # Errors
    /// As [`TonIotReader::open`].
    pub fn from_reader(reader: R, path: &Path) -> Result<Self> {
        let path = path.to_path_buf();
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(reader);
        let header = csv.byte_headers().map_err(|e| csv_error(&path, e))?.clone();
        let mut index: HashMap<&'static str, usize> = HashMap::new();
        for (i, h) in header.iter().enumerate() {
            let name = String::from_utf8_lossy(h);
            let Some(c) = schema::lookup(&name) else {
                return Err(schema_error(&path, name.trim(), "unknown"));
            };
            if index.insert(c.name, i).is_some() {
                return Err(schema_error(&path, c.name, "duplicate"));
            }
        }
        let has_ts = index.contains_key("ts");
        let has_ref = index.contains_key("http_referrer");
        let layout = if has_ts || has_ref {
            Layout::Full
        } else {
            Layout::TrainTest
        };
        let columns = layout.columns();
        if let Some(c) = columns.iter().find(|c| !index.contains_key(c.name)) {
            return Err(schema_error(&path, c.name, "missing required"));
        }
        let mut me = Self {
            csv,
            path,
            layout,
            width: header.len(),
            numeric: Vec::new(),
            categorical: Vec::new(),
            identifiers: Vec::new(),
            label: 0,
            class: 0,
            record: csv::ByteRecord::new(),
            numeric_values: Vec::new(),
        };
        for c in columns {
            let i = index[c.name];
            match c.role {
                Role::Numeric => me.numeric.push((i, c.name)),
                Role::Categorical => me.categorical.push((i, c.name)),
                Role::Identifier(_) => me.identifiers.push((i, c)),
                Role::Label => me.label = i,
                Role::Type => me.class = i,
            }
        }
        me.numeric_values = vec![None; me.numeric.len()];
        Ok(me)
    }

    /// The layout found in the header.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Names of the numeric columns, in schema order.
    pub fn numeric_names(&self) -> Vec<&'static str> {
        self.numeric.iter().map(|(_, n)| *n).collect()
    }

    /// Names of the categorical columns, in schema order.
    pub fn categorical_names(&self) -> Vec<&'static str> {
        self.categorical.iter().map(|(_, n)| *n).collect()
    }

    /// Reads and type-checks the next row; `None` at the end of the file.
    ///
    /// # Errors
    /// [`Error::Row`] for a row with the wrong number of fields (e.g. a truncated last line) or unreadable
    /// bytes; [`Error::Field`] for a value of the wrong type, naming line, column and value.
    pub fn next_row(&mut self) -> Result<Option<Row<'_>>> {
        let more = self
            .csv
            .read_byte_record(&mut self.record)
            .map_err(|e| csv_error(&self.path, e))?;
        if !more {
            return Ok(None);
        }
        let line = self.record.position().map_or(0, csv::Position::line);
        if self.record.len() != self.width {
            return Err(Error::Row {
                path: self.path.clone(),
                line,
                detail: format!(
                    "expected {} fields, got {} (truncated line or unquoted delimiter?)",
                    self.width,
                    self.record.len()
                ),
            });
        }
        let field = |i: usize| self.record.get(i).unwrap_or(b"").trim_ascii();
        let bad = |column: &str, v: &[u8], expected: &str| Error::Field {
            path: self.path.clone(),
            line,
            column: column.to_string(),
            value: shorten(v),
            expected: expected.to_string(),
        };
        for (slot, (i, name)) in self.numeric_values.iter_mut().zip(&self.numeric) {
            let v = field(*i);
            *slot = if v == b"-" {
                None
            } else {
                Some(parse_number(v).ok_or_else(|| bad(name, v, "a finite number or `-`"))?)
            };
        }
        for (i, c) in &self.identifiers {
            let v = field(*i);
            let ok = match c.role {
                Role::Identifier(IdKind::Port) => {
                    v == b"-"
                        || std::str::from_utf8(v)
                            .ok()
                            .and_then(|s| s.parse::<u32>().ok())
                            .is_some_and(|p| p <= 65_535)
                }
                Role::Identifier(IdKind::Timestamp) => v == b"-" || parse_number(v).is_some(),
                _ => !v.is_empty(),
            };
            if !ok {
                let expected = match c.role {
                    Role::Identifier(IdKind::Port) => "a port in 0..=65535 or `-`",
                    Role::Identifier(IdKind::Timestamp) => "a timestamp (seconds) or `-`",
                    _ => "a non-empty address",
                };
                return Err(bad(c.name, v, expected));
            }
        }
        let lv = field(self.label);
        let label = match lv {
            b"0" => 0,
            b"1" => 1,
            _ => return Err(bad("label", lv, "0 or 1")),
        };
        let tv = field(self.class);
        let class = std::str::from_utf8(tv)
            .ok()
            .and_then(|s| schema::class_index(&s.to_ascii_lowercase()))
            .ok_or_else(|| bad("type", tv, &format!("one of {}", CLASSES.join(", "))))?;
        Ok(Some(Row {
            line,
            numeric: &self.numeric_values,
            label,
            class,
            record: &self.record,
            categorical: &self.categorical,
        }))
    }
}

fn parse_number(v: &[u8]) -> Option<f64> {
    let x: f64 = std::str::from_utf8(v).ok()?.parse().ok()?;
    x.is_finite().then_some(x)
}

fn schema_error(path: &Path, column: &str, problem: &str) -> Error {
    Error::Schema {
        path: path.to_path_buf(),
        column: column.to_string(),
        problem: problem.to_string(),
    }
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    let line = e.position().map_or(0, csv::Position::line);
    match e.into_kind() {
        csv::ErrorKind::Io(source) => Error::Io {
            path: path.to_path_buf(),
            source,
        },
        other => Error::Row {
            path: path.to_path_buf(),
            line,
            detail: format!("{other:?}"),
        },
    }
}

/// A whole TON_IoT file in memory, identifiers dropped: numeric columns as numbers, categorical columns as
/// interned tokens, `label` and `type` per row.
#[derive(Clone, Debug, PartialEq)]
pub struct TonIotTable {
    /// The layout of the file it came from.
    pub layout: Layout,
    /// Number of rows.
    pub rows: usize,
    /// Numeric column names (schema order).
    pub numeric_names: Vec<String>,
    /// Numeric values, row-major `[rows, numeric_names.len()]`; `None` for `-`.
    pub numeric: Vec<Option<f64>>,
    /// Categorical column names (schema order).
    pub categorical_names: Vec<String>,
    /// Token codes, row-major `[rows, categorical_names.len()]`, indices into `vocab[column]`.
    pub categorical: Vec<u32>,
    /// Per categorical column, the distinct tokens in order of first appearance (`-` is a token).
    pub vocab: Vec<Vec<String>>,
    /// `label` per row (0 normal, 1 attack).
    pub label: Vec<u8>,
    /// `type` per row, index into [`CLASSES`].
    pub class: Vec<u8>,
}

impl TonIotTable {
    /// Reads a whole TON_IoT file (either layout, plain or gzipped).
    ///
    /// # Errors
    /// As [`TonIotReader::open`] and [`TonIotReader::next_row`]: the first bad row stops the load.
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_rows(path, usize::MAX)
    }

    /// Reads at most `max_rows` rows of a TON_IoT file.
    ///
    /// # Errors
    /// As [`TonIotTable::load`].
    pub fn load_rows(path: &Path, max_rows: usize) -> Result<Self> {
        let mut reader = TonIotReader::open(path)?;
        Self::from_reader(&mut reader, max_rows)
    }

    /// Drains up to `max_rows` rows from `reader`.
    ///
    /// # Errors
    /// As [`TonIotReader::next_row`].
    pub fn from_reader<R: Read>(reader: &mut TonIotReader<R>, max_rows: usize) -> Result<Self> {
        let numeric_names: Vec<String> = reader
            .numeric_names()
            .into_iter()
            .map(str::to_string)
            .collect();
        let categorical_names: Vec<String> = reader
            .categorical_names()
            .into_iter()
            .map(str::to_string)
            .collect();
        let nc = categorical_names.len();
        let mut interners: Vec<HashMap<Box<[u8]>, u32>> = vec![HashMap::new(); nc];
        let mut vocab: Vec<Vec<String>> = vec![Vec::new(); nc];
        let mut t = Self {
            layout: reader.layout(),
            rows: 0,
            numeric_names,
            numeric: Vec::new(),
            categorical_names,
            categorical: Vec::new(),
            vocab: Vec::new(),
            label: Vec::new(),
            class: Vec::new(),
        };
        while t.rows < max_rows {
            let Some(row) = reader.next_row()? else {
                break;
            };
            t.numeric.extend_from_slice(row.numeric);
            for (j, (map, voc)) in interners.iter_mut().zip(vocab.iter_mut()).enumerate() {
                let b = row.categorical_bytes(j);
                let code = match map.get(b) {
                    Some(&c) => c,
                    None => {
                        let c = voc.len() as u32;
                        map.insert(b.into(), c);
                        voc.push(String::from_utf8_lossy(b).into_owned());
                        c
                    }
                };
                t.categorical.push(code);
            }
            t.label.push(row.label);
            t.class.push(row.class);
            t.rows += 1;
        }
        t.vocab = vocab;
        Ok(t)
    }

    /// Rows per class, in the order of [`CLASSES`].
    pub fn class_counts(&self) -> [usize; 10] {
        let mut c = [0; 10];
        for &k in &self.class {
            c[usize::from(k).min(9)] += 1;
        }
        c
    }

    /// Numeric value of row `r`, numeric column `j` (`None` for `-` or out of range).
    pub fn numeric_at(&self, r: usize, j: usize) -> Option<f64> {
        self.numeric
            .get(r * self.numeric_names.len() + j)
            .copied()
            .flatten()
    }

    /// Token of row `r`, categorical column `j` (`None` out of range).
    pub fn token_at(&self, r: usize, j: usize) -> Option<&str> {
        let code = *self.categorical.get(r * self.categorical_names.len() + j)?;
        self.vocab.get(j)?.get(code as usize).map(String::as_str)
    }
}
