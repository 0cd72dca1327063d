//! The error type of `privsplit-experiments`.

use std::path::PathBuf;

pub use privsplit_data::INSTALL_STEP;

// `privsplit_io::error_enum!` adds `Invalid` (a setting of an experiment, a config key, a preset or a
// command-line value, named as the user wrote it, or an input of a step is outside what the experiment
// accepts) and `Io` (creating a folder of the run failed). The body keeps a plain enum's indentation.
privsplit_io::error_enum! {
io = "creating {path}: {source}";
/// Errors of a pipeline: its own checks, and the failures of the libraries it calls, each with the step
/// that called them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A config file is not valid TOML or does not match the schema.
    #[error("{what}: {detail}")]
    Config {
        /// The config (a file path or "the embedded default config").
        what: String,
        /// The parser's message.
        detail: String,
    },
    /// Installed data (a dataset, photographs, pretrained weights) is missing or unreadable.
    #[error(
        "{what} not readable at {path} ({detail}); install it with `{}`",
        INSTALL_STEP
    )]
    NotInstalled {
        /// What is missing ("Fashion-MNIST", "EfficientNet-Lite0 weights").
        what: String,
        /// Where it was looked for.
        path: PathBuf,
        /// The reason it could not be read.
        detail: String,
    },
    /// A step of a pipeline failed; `source` says why.
    #[error("{step}")]
    Step {
        /// The step ("collateral-learning experiment", "partition-point sweep").
        step: String,
        /// The failure.
        #[source]
        source: Box<Error>,
    },
    /// A dataset could not be read, generated or written.
    #[error(transparent)]
    Data(#[from] privsplit_data::Error),
    /// Building, training, evaluating or saving a model failed.
    #[error(transparent)]
    Model(#[from] privsplit_models::Error),
    /// An ONNX model could not be read, cut or run (`privsplit sweep --onnx`).
    #[error(transparent)]
    Onnx(#[from] privsplit_onnx::Error),
    /// An attack or a metric failed.
    #[error(transparent)]
    Attack(#[from] privsplit_attacks::Error),
    /// A defence failed.
    #[error(transparent)]
    Defense(#[from] privsplit_defenses::Error),
    /// Functional encryption (quantisation, keys, encryption, decryption) failed.
    #[error(transparent)]
    Fe(#[from] privsplit_fe::Error),
    /// Writing a report, plot or image grid failed.
    #[error(transparent)]
    Report(#[from] privsplit_report::Error),
    /// An atomic file write failed.
    #[error(transparent)]
    Write(#[from] privsplit_io::Error),
}
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The class of a failure, which a front end maps to its exit code (`privsplit`: 1, 3, 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureClass {
    /// A step failed (training, an attack, encryption, the network, writing a file).
    StepFailed,
    /// A config, a command-line value or an input file is invalid or unreadable.
    InvalidInput,
    /// Installed data (a dataset, photographs, pretrained weights) is missing: [`INSTALL_STEP`].
    NotInstalled,
}

/// The class of `e` when it is an error of this crate, of `privsplit-data` or an invalid-input / device
/// error of `privsplit-models`; `None` for anything else (a front end then looks further down the chain
/// of causes).
pub fn failure_class(e: &(dyn std::error::Error + 'static)) -> Option<FailureClass> {
    if let Some(x) = e.downcast_ref::<Error>() {
        return Some(x.class());
    }
    if let Some(d) = e.downcast_ref::<privsplit_data::Error>() {
        return Some(data_class(d));
    }
    e.downcast_ref::<privsplit_models::Error>()
        .and_then(model_class)
}

fn data_class(e: &privsplit_data::Error) -> FailureClass {
    match e {
        privsplit_data::Error::NotInstalled { .. } => FailureClass::NotInstalled,
        privsplit_data::Error::Invalid { .. } | privsplit_data::Error::Io { .. } => {
            FailureClass::InvalidInput
        }
        _ => FailureClass::StepFailed,
    }
}

fn model_class(e: &privsplit_models::Error) -> Option<FailureClass> {
    match e {
        privsplit_models::Error::Invalid { .. } | privsplit_models::Error::Device { .. } => {
            Some(FailureClass::InvalidInput)
        }
        _ => None,
    }
}

/// Names the step a failure happened in.
pub trait StepContext<T> {
    /// Wraps an error in [`Error::Step`] with `step` as its message.
    ///
    /// # Errors
    /// The original error, wrapped.
    fn step(self, step: impl Into<String>) -> Result<T>;
}

impl<T, E: Into<Error>> StepContext<T> for std::result::Result<T, E> {
    fn step(self, step: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::Step {
            step: step.into(),
            source: Box::new(e.into()),
        })
    }
}

impl Error {
    /// The innermost error below the [`Error::Step`] wrappers.
    pub fn root(&self) -> &Error {
        match self {
            Error::Step { source, .. } => source.root(),
            other => other,
        }
    }

    /// The class of the innermost error ([`Error::root`]): missing installed data, invalid input (a bad
    /// setting, config, input file, model file or device; a defence's rejected settings), or a failed step.
    pub fn class(&self) -> FailureClass {
        match self.root() {
            Error::NotInstalled { .. } => FailureClass::NotInstalled,
            Error::Invalid { .. } | Error::Config { .. } | Error::Defense(_) | Error::Onnx(_) => {
                FailureClass::InvalidInput
            }
            Error::Data(d) => data_class(d),
            Error::Model(m) => model_class(m).unwrap_or(FailureClass::StepFailed),
            _ => FailureClass::StepFailed,
        }
    }

    /// Shorthand for [`Error::Invalid`].
    pub(crate) fn invalid(
        what: impl Into<String>,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            what: what.into(),
            expected: expected.into(),
            got: got.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_class_is_the_innermost_errors_and_foreign_errors_have_none() {
        let missing = Error::NotInstalled {
            what: "Fashion-MNIST".into(),
            path: "/nowhere".into(),
            detail: "no such file".into(),
        };
        let wrapped = Err::<(), _>(missing).step("sweep").step("run");
        assert_eq!(
            wrapped.map_err(|e| e.class()),
            Err(FailureClass::NotInstalled)
        );
        let bad = Error::invalid("--points", "an integer", "two");
        assert_eq!(failure_class(&bad), Some(FailureClass::InvalidInput));
        let device = privsplit_models::Error::Device {
            device: "cuda".into(),
            reason: "not compiled in".into(),
        };
        assert_eq!(failure_class(&device), Some(FailureClass::InvalidInput));
        assert_eq!(Error::Model(device).class(), FailureClass::InvalidInput);
        let diverged = Error::Model(privsplit_models::Error::Diverged {
            phase: "plain".into(),
            epoch: 3,
            loss: f32::NAN,
        });
        assert_eq!(diverged.class(), FailureClass::StepFailed);
        let io = std::io::Error::other("disk full");
        assert_eq!(failure_class(&io), None);
    }
}
