//! # shopsense-sessions
//!
//! Groups events into sessions and summarises them.
//!
//! * [`Sessions::build`]: the native session id where the source has one, otherwise a
//!   per-user inactivity gap (a gap strictly greater than the limit starts a new session).
//!   The result is a compact index (CSR): for each session, its events in time order.
//! * [`SessionTable`]: one row per session with id, user, start, end, events, counts by kind
//!   and the position of the first purchase.
//! * [`export`]: the session export job — each session cut at its first purchase, with
//!   events, views, carts, label, duration, mean/max price and distinct items — written to
//!   Parquet or CSV.
//! * [`synth`]: scales a real sample up by copying whole real sessions with new ids and times.

#![warn(missing_docs)]

pub mod export;
pub mod index;
pub mod synth;
pub mod table;

pub use export::{session_summaries, write_summaries, SessionSummaries, SummaryOptions};
pub use index::{SessionConfig, Sessions};
pub use table::SessionTable;

/// Errors of the sessions crate.
#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    /// An I/O error on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing Parquet failed.
    #[error("{path}: writing Parquet: {message}")]
    Parquet {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        message: String,
    },
    /// An argument is out of range.
    #[error("{0}")]
    Invalid(String),
}
