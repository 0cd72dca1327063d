//! Tabular data: the TON_IoT network dataset (the seed paper's second workload) — schema, streaming CSV
//! loader (both published layouts, plain or gzipped), preprocessing recorded with the model, stratified
//! split, and a SYNTHETIC generator in the real file's exact layout (the real files are not shippable here).
//!
//! ```no_run
//! use privsplit_data::tabular::{
//!     stratified_split, write_synthetic, PreprocessConfig, Preprocessor, TonIotGenConfig, TonIotTable,
//! };
//! let path = std::path::Path::new("ton_iot_synthetic.csv");
//! write_synthetic(path, &TonIotGenConfig { rows: 3_000, seed: 1 })?; // SYNTHETIC rows
//! let table = TonIotTable::load(path)?; // or the real train_test_network.csv(.gz)
//! let (train, test) = stratified_split(&table.class, 0.2, 1)?;
//! let pre = Preprocessor::fit(&table, &train, PreprocessConfig::default())?;
//! let x_train = pre.transform(&table, &train)?; // [train.len(), pre.dim()]
//! # let _ = (test, x_train);
//! # Ok::<(), privsplit_data::Error>(())
//! ```

pub mod generator;
pub mod loader;
pub mod preprocess;
pub mod schema;

pub use generator::{class_counts, generate_csv, write_synthetic, TonIotGenConfig};
pub use loader::{open_maybe_gzip, Row, TonIotReader, TonIotTable};
pub use preprocess::{
    signed_expm1, signed_log1p, stratified_split, CategoricalVocab, FeatureBlock, NumericStats,
    PreprocessConfig, Preprocessor,
};
pub use schema::{Layout, CLASSES};
