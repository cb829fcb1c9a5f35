//! Errors of the retraining pipeline.

use std::path::PathBuf;

/// What can go wrong in a retraining run, in the run records or in the scheduler.
#[derive(Debug, thiserror::Error)]
pub enum RetrainError {
    /// A setting is invalid (flag values, cron expression, margin).
    #[error("configuration: {0}")]
    Config(String),
    /// An input file could not be ingested.
    #[error("input {path}: {message}")]
    Input {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The data cannot support a run (no events, no held-out rows, …).
    #[error("data: {0}")]
    Data(String),
    /// The candidate failed a sanity bound.
    #[error("sanity check: {0}")]
    Sanity(String),
    /// The event store.
    #[error(transparent)]
    Store(#[from] shopsense_store::StoreError),
    /// Reading events.
    #[error(transparent)]
    Events(#[from] shopsense_events::EventsError),
    /// Training or scoring the intent model.
    #[error(transparent)]
    Intent(#[from] shopsense_intent::IntentError),
    /// The model registry.
    #[error(transparent)]
    Model(#[from] shopsense_models::ModelError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A run record could not be parsed.
    #[error("run record {path}: {message}")]
    Record {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

impl RetrainError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RetrainError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with [`RetrainError`].
pub type Result<T, E = RetrainError> = std::result::Result<T, E>;
