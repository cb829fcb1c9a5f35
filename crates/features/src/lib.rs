//! # shopsense-features
//!
//! One feature definition for purchase intent, used offline (training, validation, test) and
//! online (a live session's events so far). Labels and features never see the future.
//!
//! * [`Protocol`] and [`prefixes`]: which part of each session a model may see and what it
//!   must predict (`full`, `early-k`, `at-cart`).
//! * [`temporal_split`] and [`rolling_origin_folds`]: train / validation / test in order of
//!   session start time, and expanding-window folds on the training part.
//! * [`FeatureSpec`]: the feature names and every setting (hash buckets, smoothing, protocol,
//!   seeds), serialisable so that a model bundle carries its exact feature definition.
//! * [`fit_encoders`] / [`fit_oof_encoders`]: item / category / brand view→cart and
//!   view→purchase rates, smoothed toward the global rate, fitted only on events before the
//!   end of the training window; out-of-fold copies for the training rows themselves.
//! * [`user_histories`]: the user's earlier sessions, carts and purchases, strictly before
//!   each session starts.
//! * [`build_features`] / [`FeatureBuilder`]: the [`FeatureMatrix`] of a set of prefixes, in
//!   parallel; [`OnlineSession`] / [`features_for_events`]: the same vector for a live
//!   session. Both call one function over a slice of event rows (`compute::compute_row`),
//!   so online and offline values are equal bit for bit.
//!
//! The full list of features, with what each one means, is [`ALL_FEATURES`].

#![warn(missing_docs)]

mod compute;
pub mod encoders;
pub mod history;
pub mod matrix;
pub mod online;
pub mod protocol;
pub mod spec;
pub mod split;

pub use encoders::{
    fit_encoders, fit_oof_encoders, train_window_end, Counts, Encoders, KeyCounts, OofEncoders,
};
pub use history::{user_histories, UserHistory};
pub use matrix::{build_features, FeatureBuilder, FeatureMatrix};
pub use online::{features_for_events, OnlineSession, SharedFeatures};
pub use protocol::{prefixes, Prefix, Protocol};
pub use spec::{feature_index, FeatureInfo, FeatureSpec, OofBy, ALL_FEATURES};
pub use split::{rolling_origin_folds, rolling_origin_folds_by_time, temporal_split, Fold, Split};

/// Errors of the features crate.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// A protocol name could not be parsed.
    #[error(
        "unknown protocol {0:?} (expected \"full\", \"early-<k>\" with k >= 1, or \"at-cart\")"
    )]
    Protocol(String),
    /// A feature name is not one of [`ALL_FEATURES`].
    #[error("unknown feature {0:?}")]
    UnknownFeature(String),
    /// A setting is out of range.
    #[error("invalid setting {name}: {message}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The encoders were fitted with other settings than the spec in use.
    #[error("encoders were fitted with {name} = {fitted}, the spec says {spec}")]
    SpecMismatch {
        /// The setting.
        name: &'static str,
        /// The fitted value.
        fitted: String,
        /// The spec's value.
        spec: String,
    },
    /// A row, prefix or session index is out of range.
    #[error("{0}")]
    OutOfRange(String),
    /// Nothing to fit on or to split.
    #[error("{0}")]
    Empty(String),
    /// (De)serialising a spec or encoders failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, FeatureError>;

/// Fails unless `sessions` was built from `t` (same number of event rows).
pub(crate) fn check_sessions(
    t: &shopsense_events::EventTable,
    sessions: &shopsense_sessions::Sessions,
) -> Result<()> {
    if sessions.of_event.len() != t.len() || sessions.order.len() != t.len() {
        return Err(FeatureError::OutOfRange(format!(
            "the sessions index {} events but the table has {}",
            sessions.order.len(),
            t.len()
        )));
    }
    Ok(())
}

pub(crate) fn invalid(name: &'static str, message: impl Into<String>) -> FeatureError {
    FeatureError::Invalid {
        name,
        message: message.into(),
    }
}
