//! # shopsense-retrain
//!
//! Gated retraining of the purchase-intent model (champion/challenger):
//!
//! 1. new files of an incoming directory are ingested into the event store (files already
//!    in the store's SHA-256 manifest are skipped; a file over the bad-row ratio fails the
//!    run before anything is written);
//! 2. sessions are built and a candidate intent bundle is trained with the intent crate's
//!    pipeline (temporal split; the latest sessions are never used for fitting or tuning);
//! 3. the candidate and the promoted model are scored on the same held-out window (the
//!    candidate's test part);
//! 4. the candidate is added to the registry and promoted only when it passes the sanity
//!    bounds and beats the champion by the margin on the gate metric;
//! 5. every run, failed ones included, is recorded as JSON in the runs directory
//!    ([`RunStore`]).

#![warn(missing_docs)]

pub mod compare;
pub mod error;
pub mod metrics;
pub mod pipeline;
pub mod record;
pub mod schedule;

pub use compare::{compare, Comparison};
pub use error::{Result, RetrainError};
pub use pipeline::{fingerprint, run, GateMetric, RetrainConfig, Sanity};
pub use record::{DataInfo, InputFile, ModelResult, Outcome, RunRecord, RunStore, WindowInfo};
pub use schedule::CronSchedule;
