//! Errors of the recs crate.

use std::path::PathBuf;

/// Errors of the recommendation and next-action pipelines.
#[derive(Debug, thiserror::Error)]
pub enum RecsError {
    /// An item id the bundle has never seen (e.g. `similar --item`).
    #[error("unknown item `{0}`: it does not occur in the bundle's training window")]
    UnknownItem(String),
    /// Bad arguments or data (message says which).
    #[error("{0}")]
    Invalid(String),
    /// Too little data for the requested step.
    #[error("not enough data: {0}")]
    NotEnoughData(String),
    /// A model error (LightGBM, shapes, I/O of model files).
    #[error(transparent)]
    Model(#[from] shopsense_models::ModelError),
    /// A metric error.
    #[error(transparent)]
    Eval(#[from] shopsense_eval::EvalError),
    /// A bundle file could not be read or written.
    #[error("{path}: {message}")]
    Bundle {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Result with [`RecsError`].
pub type Result<T> = std::result::Result<T, RecsError>;
