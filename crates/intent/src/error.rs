//! Typed errors of the intent pipeline.

use std::path::PathBuf;

/// Everything that can go wrong while training, evaluating or scoring purchase intent.
#[derive(Debug, thiserror::Error)]
pub enum IntentError {
    /// A setting given by the caller is out of range or does not apply.
    #[error("{0}")]
    Config(String),
    /// The data cannot support the requested step (too few sessions, one class only, …).
    #[error("{0}")]
    Data(String),
    /// The bundle file does not exist.
    #[error("bundle {0} not found")]
    BundleNotFound(PathBuf),
    /// The file is not a purchase-intent bundle this version can use.
    #[error("bundle {path}: {reason}")]
    IncompatibleBundle {
        /// The bundle file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Training stopped on request after writing a checkpoint; run again with resume.
    #[error(
        "training interrupted after {done} steps (checkpoint written); run again with --resume"
    )]
    Interrupted {
        /// Rounds or trials finished and saved.
        done: usize,
    },
    /// A features-crate error.
    #[error("features: {0}")]
    Features(#[from] shopsense_features::FeatureError),
    /// A models-crate error.
    #[error("model: {0}")]
    Model(#[from] shopsense_models::ModelError),
    /// An eval-crate error.
    #[error("evaluation: {0}")]
    Eval(#[from] shopsense_eval::EvalError),
    /// Reading or writing a file failed.
    #[error("I/O on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing Parquet failed.
    #[error("writing Parquet {path}: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// JSON encoding or decoding failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, IntentError>;

impl IntentError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IntentError::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn config(msg: impl Into<String>) -> Self {
        IntentError::Config(msg.into())
    }
    pub(crate) fn data(msg: impl Into<String>) -> Self {
        IntentError::Data(msg.into())
    }
}
