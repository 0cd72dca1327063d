//! The error type of `privsplit-data`.

privsplit_io::error_enum! {
    /// Errors of dataset generation, reading and writing.
    #[derive(Debug, thiserror::Error)]
    pub enum Error {
        /// Installed data (a dataset or photographs) is missing or unreadable.
        #[error(
            "{what} not readable at {path} ({detail}); install it with `{}`",
            crate::installed::INSTALL_STEP
        )]
        NotInstalled {
            /// What is missing ("Fashion-MNIST", "scikit-image photographs").
            what: String,
            /// Where it was looked for.
            path: std::path::PathBuf,
            /// Why it could not be read.
            detail: String,
        },
        /// An atomic file write failed.
        #[error(transparent)]
        Write(#[from] privsplit_io::Error),
        /// A field of a CSV file could not be parsed (tabular loader).
        #[error("{path}: line {line}, column `{column}`: expected {expected}, got `{value}`")]
        Field {
            /// The file.
            path: std::path::PathBuf,
            /// Line number in the file, from 1 (the header is line 1).
            line: u64,
            /// Column name (from the header).
            column: String,
            /// The raw value (truncated to 80 characters).
            value: String,
            /// What was expected.
            expected: String,
        },
        /// A CSV row is malformed as a whole (wrong field count, unreadable bytes) (tabular loader).
        #[error("{path}: line {line}: {detail}")]
        Row {
            /// The file.
            path: std::path::PathBuf,
            /// Line number in the file, from 1 (the header is line 1).
            line: u64,
            /// What is wrong.
            detail: String,
        },
        /// A CSV header lacks a required column, names one twice or names an unknown one (tabular loader).
        #[error("{path}: header: {problem} column `{column}` (expected the TON_IoT network columns)")]
        Schema {
            /// The file.
            path: std::path::PathBuf,
            /// The column name.
            column: String,
            /// `missing required`, `duplicate` or `unknown`.
            problem: String,
        },
        /// A font that a Debian package provides is not installed.
        #[error(
            "font {font}: not found at {path} (install the Debian package {package}, e.g. with \
             scripts/install-deps.sh)"
        )]
        MissingFontPackage {
            /// The font's short name (e.g. `urw-z003`).
            font: String,
            /// The Debian package that ships it.
            package: String,
            /// Where the font file was looked for.
            path: std::path::PathBuf,
        },
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
