//! The rows of a tabular experiment: the table (read from a TON_IoT file or generated), the stratified
//! train/test split by `type`, and the preprocessing fitted on the training split only.

use privsplit_data::tabular::{
    generate_csv, stratified_split, PreprocessConfig, Preprocessor, TonIotGenConfig, TonIotReader,
    TonIotTable,
};
use privsplit_models::tabular::TabularTask;
use privsplit_models::tensor::Features;

use super::config::{TabularSource, TabularTrainConfig};
use crate::{Error, Result};

/// A loaded table with its split and preprocessing.
#[derive(Clone, Debug)]
pub struct TabularRows {
    /// Where the rows come from ([`TabularSource::describe`]).
    pub source: String,
    /// The rows.
    pub table: TonIotTable,
    /// Row indices of the training split.
    pub train: Vec<usize>,
    /// Row indices of the test split.
    pub test: Vec<usize>,
    /// The preprocessing (fitted on `train`, or the model's stored one).
    pub pre: Preprocessor,
}

/// Reads or generates the table of `source` (generated rows stay in memory).
///
/// # Errors
/// `privsplit_data` errors naming the file, line, column and value of a bad CSV; [`Error::Invalid`] for a
/// generator size of 0.
pub fn load_table(source: &TabularSource) -> Result<TonIotTable> {
    match source {
        TabularSource::Csv(p) => Ok(TonIotTable::load(p)?),
        TabularSource::Synthetic { rows, seed } => {
            if *rows == 0 {
                return Err(Error::invalid("synthetic rows", ">= 1", "0"));
            }
            let csv = generate_csv(&TonIotGenConfig {
                rows: *rows,
                seed: *seed,
            })?;
            let name = std::path::Path::new("<synthetic TON_IoT rows>");
            let mut reader = TonIotReader::from_reader(csv.as_slice(), name)?;
            Ok(TonIotTable::from_reader(&mut reader, usize::MAX)?)
        }
    }
}

impl TabularRows {
    /// Loads `source`, splits it with `train.test_fraction` and `train.seed` (stratified by `type`) and
    /// fits the preprocessing on the training split, or uses `pre` (a model's stored preprocessing).
    ///
    /// # Errors
    /// As [`load_table`], `stratified_split` and `Preprocessor::fit`.
    pub fn load(
        source: &TabularSource,
        train: &TabularTrainConfig,
        pre: Option<Preprocessor>,
    ) -> Result<Self> {
        let table = load_table(source)?;
        let (tr, te) = stratified_split(&table.class, train.test_fraction, train.seed)?;
        let pre = match pre {
            Some(p) => p,
            None => Preprocessor::fit(&table, &tr, PreprocessConfig::default())?,
        };
        Ok(Self {
            source: source.describe(),
            table,
            train: tr,
            test: te,
            pre,
        })
    }

    /// The preprocessed rows `idx`, `[idx.len(), pre.dim()]`.
    ///
    /// # Errors
    /// As `Preprocessor::transform` (an index out of range).
    pub fn features(&self, idx: &[usize]) -> Result<Features> {
        Ok(Features::new(
            self.pre.transform(&self.table, idx)?,
            idx.len(),
            self.pre.dim(),
        )?)
    }

    /// The `task` labels of rows `idx` (`type` index or `label`).
    pub fn labels(&self, task: TabularTask, idx: &[usize]) -> Vec<u8> {
        let col = match task {
            TabularTask::Type => &self.table.class,
            TabularTask::Binary => &self.table.label,
        };
        idx.iter().map(|&i| col[i]).collect()
    }
}
