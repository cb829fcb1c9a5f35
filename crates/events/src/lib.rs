//! # shopsense-events
//!
//! The canonical shop event and everything needed to get real clickstream logs into it:
//!
//! * [`EventKind`] and the columnar [`EventTable`] (strings interned, one vector per field);
//! * streaming readers for REES46, Retailrocket, Taobao UserBehavior, OTTO, Diginetica and
//!   any CSV through a TOML mapping ([`formats`]), plain or gzip, large files parsed in
//!   parallel byte ranges ([`read`]);
//! * rejected rows with their file, line, raw text and reason ([`Rejected`]), written to a
//!   quarantine file, so that bad input loses no good data and nothing vanishes silently.

#![warn(missing_docs)]

pub mod error;
pub mod formats;
pub mod huge;
pub mod interner;
pub mod kind;
pub mod read;
pub mod reject;
pub mod table;
pub mod time;

pub use error::EventsError;
pub use formats::{detect, read_file, read_file_with, Format, Source};
pub use interner::{Interner, NONE};
pub use kind::EventKind;
pub use read::{ReadOptions, ReadOutput};
pub use reject::{RejectReason, Rejected};
pub use table::{Event, EventTable, RawEvent};

/// Fails with [`EventsError::TooManyBad`] when the share of rejected rows exceeds `limit`.
pub fn check_bad_ratio(rejected: u64, lines: u64, limit: f64) -> Result<(), EventsError> {
    let ratio = if lines == 0 {
        0.0
    } else {
        rejected as f64 / lines as f64
    };
    if ratio > limit {
        return Err(EventsError::TooManyBad {
            rejected,
            lines,
            ratio,
            limit,
        });
    }
    Ok(())
}
