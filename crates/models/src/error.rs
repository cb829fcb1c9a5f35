//! Typed errors of the models crate.

use std::path::PathBuf;

/// Everything that can go wrong while fitting, scoring, saving or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A matrix, label vector or weight vector has the wrong length or shape.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A value supplied by the caller is out of range or inconsistent.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A parameter is out of its allowed range.
    #[error("invalid parameter `{name}`: {reason}")]
    Param {
        /// Name of the parameter.
        name: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// The operation is not supported by this model (e.g. multi-class logistic regression).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// LightGBM reported an error.
    #[error("LightGBM: {0}")]
    LightGbm(String),
    /// Reading or writing a file failed.
    #[error("I/O on {path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A saved model, bundle, checkpoint or trial log could not be decoded.
    #[error("corrupt or incompatible {what}: {reason}")]
    Format {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A checkpoint exists but belongs to other data or other parameters.
    #[error("checkpoint {path} does not match this run: {reason}")]
    CheckpointMismatch {
        /// The checkpoint file.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// Training stopped on request (`stop_after_chunks`) after writing a checkpoint;
    /// run again with `resume` to continue.
    #[error("training interrupted after {rounds_done} rounds (checkpoint written)")]
    Interrupted {
        /// Boosting rounds (or trials) finished and saved so far.
        rounds_done: usize,
    },
}

/// Result alias of the models crate.
pub type Result<T> = std::result::Result<T, ModelError>;

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn param(name: &'static str, reason: impl Into<String>) -> Self {
        ModelError::Param {
            name,
            reason: reason.into(),
        }
    }
    pub(crate) fn format(what: &'static str, reason: impl std::fmt::Display) -> Self {
        ModelError::Format {
            what,
            reason: reason.to_string(),
        }
    }
}
