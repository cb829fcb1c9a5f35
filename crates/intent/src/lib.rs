//! # shopsense-intent
//!
//! The purchase-intent pipeline: from an [`EventTable`](shopsense_events::EventTable) and its
//! [`Sessions`](shopsense_sessions::Sessions) to a saved, checked model bundle, test-only
//! metrics and batch scores. It composes the features, models and eval crates:
//!
//! 1. [`prepare`]: prefixes under the protocol (`full`, `early-k`, `at-cart`), temporal split
//!    by session start (default 60 / 15 / 25 %), encoders fitted on the training window
//!    only, out-of-fold priors for training rows, feature matrices.
//! 2. [`fit`]: optional budgeted random search (GBDT) on rolling-origin folds *inside the
//!    training part* (each fold with encoders of its own training window), the final fit
//!    with early stopping on the validation part (chunked, with checkpoints and resume),
//!    imbalance treatment, calibration and threshold chosen on validation predictions.
//! 3. Evaluation on the test part only: ROC-AUC, PR-AUC, log-loss, Brier, P/R/F1 and
//!    confusion at the threshold, metrics per day (per hour under two days), feature
//!    importance, bootstrap 95 % intervals ([`build_report`]).
//! 4. The bundle ([`IntentParams`] inside a models-crate `Bundle`), loaded and checked by
//!    [`IntentModel::load`]; [`score_all`] and [`evaluate`] rebuild prefixes and features
//!    from new events exactly as in training; [`write_scores`] and [`write_features`] write
//!    Parquet or CSV.
//!
//! [`train`] runs 1–3 and returns the bundle, the report and the printed summary.

#![warn(missing_docs)]

pub mod bundle;
pub mod config;
pub mod data;
pub mod drift;
pub mod error;
pub mod output;
pub mod progress;
pub mod report;
pub mod score;
pub mod train;

pub use bundle::{model_version, IntentModel, IntentParams, SearchInfo, SplitInfo, INTENT_FORMAT};
pub use config::{
    default_gbdt_params, CheckpointConfig, ImbalanceChoice, ModelChoice, SessionSettings,
    ThresholdRule, TrainConfig, LOGISTIC_EXCLUDED, SEED_RF_FEATURES,
};
pub use data::{check_parts, prefixes_and_split, prepare, Prepared};
pub use error::{IntentError, Result};
pub use output::{write_feature_parts, write_features, write_scores};
pub use progress::{Progress, Silent};
pub use report::{build_report, EvalSummary, Metrics};
pub use score::{
    evaluate, score_all, score_rows, score_rows_timed, EvalOutcome, EvalRows, ScoreTimes, Scored,
};
pub use train::{
    choose_auto, fit, search_space, train, AutoCandidate, AutoChoice, FoldScore, TrainOutcome,
    TrainSummary, AUTO_RULE,
};

pub use shopsense_eval::Report;
/// Re-exported so that callers (the CLI) name protocols, calibration and search metrics
/// without depending on the features and models crates.
pub use shopsense_features::{FeatureSpec, Protocol};
pub use shopsense_models::{CalibrationMethod, ValidationMetric};
