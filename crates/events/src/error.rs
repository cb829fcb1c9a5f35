//! Errors of the events crate.

use std::path::{Path, PathBuf};

/// Errors reading events. Row-level problems are not errors: they become
/// [`crate::Rejected`] rows in the quarantine.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// An I/O error on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The format of a file could not be recognised.
    #[error("{path}: cannot tell the format from its first line {first_line:?}; pass --format (rees46, retailrocket, taobao, otto, diginetica) or --mapping FILE.toml")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// Its first line (clipped).
        first_line: String,
    },
    /// A header does not have the columns the format needs.
    #[error("{path}: line 1: {message}")]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A mapping file is invalid.
    #[error("mapping {path}: {message}")]
    BadMapping {
        /// The mapping file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A companion file a format needs is missing or unusable.
    #[error("{path}: {message}")]
    Companion {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Too many rows were rejected.
    #[error("{rejected} of {lines} rows rejected ({ratio:.4}), above --max-bad-ratio {limit}; see the quarantine file for each row and its reason")]
    TooManyBad {
        /// Rejected rows.
        rejected: u64,
        /// Data lines read.
        lines: u64,
        /// rejected / lines.
        ratio: f64,
        /// The limit.
        limit: f64,
    },
}

impl EventsError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        EventsError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
