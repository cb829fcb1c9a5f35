//! # shopsense-eval
//!
//! Metrics and reports for shopsense models (work in progress).

#![warn(missing_docs)]
