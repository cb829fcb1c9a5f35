//! Typed errors of the eval crate.

use std::path::PathBuf;

/// Errors while computing metrics or writing reports.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Inputs have inconsistent lengths or shapes.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// An input value is invalid (e.g. a label outside the classes).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A metric from the models crate failed.
    #[error(transparent)]
    Model(#[from] shopsense_models::ModelError),
    /// Writing a report failed.
    #[error("I/O on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// JSON encoding failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result alias of the eval crate.
pub type Result<T> = std::result::Result<T, EvalError>;
