//! # shopsense-eval
//!
//! Evaluation of shopsense models on plain label/probability vectors:
//!
//! * [`metrics`]: ROC-AUC (ties handled, O(n log n)), PR-AUC as average precision,
//!   log-loss, Brier, precision/recall/F1 and confusion at a threshold, reliability curve,
//!   downsampled ROC and PR curve points;
//! * [`bootstrap`]: seeded percentile confidence intervals;
//! * [`period`]: metrics per day or hour;
//! * [`multiclass`]: confusion matrix, per-class P/R/F1, macro-F1, log-loss;
//! * [`Report`]: all of it as serde (`--json`) and as a self-contained HTML page with
//!   inline SVG plots ([`html`]).
//!
//! Every metric is checked against scikit-learn in the tests.

#![warn(missing_docs)]

pub mod bootstrap;
pub mod error;
pub mod html;
pub mod metrics;
pub mod multiclass;
pub mod period;
pub mod report;

pub use bootstrap::{bootstrap_ci, Interval};
pub use error::{EvalError, Result};
pub use metrics::{
    average_precision, brier, log_loss, pr_curve, reliability_curve, roc_auc, roc_curve,
    AtThreshold, BinaryMetrics, Confusion, PrPoint, ReliabilityBin, RocPoint,
};
pub use multiclass::{
    cross_fitted_decision_weights, decide, fit_decision_weights, multiclass_metrics,
    multiclass_metrics_weighted, CheckedWeights, ClassScores, MulticlassMetrics,
};
pub use period::{per_period, PeriodMetrics};
pub use report::{Comparison, Importance, ModelInfo, Report, ReportOptions};
