//! Test metrics as printed (`--json`) and as a full eval [`Report`] (HTML / JSON): headline
//! metrics, bootstrap intervals for ROC-AUC and PR-AUC, metrics per day (or per hour when
//! the rows span less than two days), feature importance.

use crate::error::Result;
use serde::{Deserialize, Serialize};
use shopsense_eval::{
    bootstrap_ci, BinaryMetrics, Importance, Interval, ModelInfo, Report, ReportOptions,
};
use shopsense_models::metric::{average_precision, roc_auc};
use std::collections::BTreeMap;

/// Counts of a binary decision (positive iff `score >= threshold`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ConfusionCounts {
    /// Buyers flagged.
    pub tp: u64,
    /// Non-buyers flagged.
    pub fp: u64,
    /// Non-buyers not flagged.
    pub tn: u64,
    /// Buyers missed.
    #[serde(rename = "fn")]
    pub fn_: u64,
}

/// Headline metrics of one set of rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Rows (prefixes).
    pub n: u64,
    /// Rows whose session buys.
    pub positives: u64,
    /// ROC-AUC (`null` with one class).
    pub roc_auc: Option<f64>,
    /// PR-AUC as average precision (`null` without positives).
    pub pr_auc: Option<f64>,
    /// Log-loss.
    pub log_loss: f64,
    /// Brier score.
    pub brier: f64,
    /// The decision threshold.
    pub threshold: f64,
    /// Precision at the threshold.
    pub precision: f64,
    /// Recall at the threshold.
    pub recall: f64,
    /// F1 at the threshold.
    pub f1: f64,
    /// Accuracy at the threshold.
    pub accuracy: f64,
    /// Confusion counts at the threshold.
    pub confusion: ConfusionCounts,
}

impl From<&BinaryMetrics> for Metrics {
    fn from(m: &BinaryMetrics) -> Self {
        let a = &m.at_threshold;
        Metrics {
            n: m.n,
            positives: m.positives,
            roc_auc: m.roc_auc,
            pr_auc: m.pr_auc,
            log_loss: m.log_loss,
            brier: m.brier,
            threshold: a.threshold,
            precision: a.precision,
            recall: a.recall,
            f1: a.f1,
            accuracy: a.accuracy,
            confusion: ConfusionCounts {
                tp: a.confusion.tp,
                fp: a.confusion.fp,
                tn: a.confusion.tn,
                fn_: a.confusion.fn_,
            },
        }
    }
}

/// Metrics of `probs` against `labels` at `threshold`.
pub fn metrics(labels: &[f32], probs: &[f64], threshold: f64) -> Result<Metrics> {
    Ok(Metrics::from(&BinaryMetrics::compute(
        labels, probs, threshold,
    )?))
}

/// Total resampled rows the bootstrap may use (fewer resamples on large row sets, so that
/// a 700 k-row test part does not spend minutes on intervals).
pub const BOOTSTRAP_ROW_BUDGET: usize = 20_000_000;

/// Resamples actually used for `n` rows when `wanted` are asked for.
pub fn bootstrap_resamples(wanted: usize, n: usize) -> usize {
    if wanted == 0 || n == 0 {
        return 0;
    }
    wanted.min((BOOTSTRAP_ROW_BUDGET / n).max(20))
}

/// The period of per-period metrics for data whose sessions start at `start_ms`: `hour`
/// when they span less than two days, else `day`.
pub fn period_unit(start_ms: &[i64]) -> &'static str {
    let (lo, hi) = start_ms
        .iter()
        .fold((i64::MAX, i64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    if hi.saturating_sub(lo) < 2 * 86_400_000 {
        "hour"
    } else {
        "day"
    }
}

/// Period keys (`YYYY-MM-DD`, or `YYYY-MM-DDTHH` for `hour`) of session starts in local
/// time.
pub fn period_keys(start_ms: &[i64], unit: &str, utc_offset_minutes: i32) -> Vec<String> {
    let off = utc_offset_minutes as i64 * 60_000;
    let fmt = if unit == "hour" {
        "%Y-%m-%dT%H"
    } else {
        "%Y-%m-%d"
    };
    start_ms
        .iter()
        .map(|&ms| {
            chrono::DateTime::from_timestamp_millis(ms.saturating_add(off))
                .map_or_else(|| "invalid".to_string(), |t| t.format(fmt).to_string())
        })
        .collect()
}

/// What a report is about.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// Title.
    pub title: String,
    /// Which rows, in words.
    pub split: String,
    /// Labels (0 / 1).
    pub labels: &'a [f32],
    /// Final (calibrated) probabilities.
    pub probs: &'a [f64],
    /// Session start per row (period keys).
    pub start_ms: &'a [i64],
    /// Decision threshold.
    pub threshold: f64,
    /// `day` or `hour` ([`period_unit`] of the whole data, not only of these rows).
    pub period_unit: &'static str,
    /// Local-time offset for the period keys.
    pub utc_offset_minutes: i32,
    /// Bootstrap resamples wanted (see [`bootstrap_resamples`]).
    pub bootstrap: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// The model.
    pub model: ModelInfo,
    /// Feature importance `(name, value)`.
    pub importance: Vec<(String, f64)>,
}

/// The full report: headline metrics, curves, reliability, bootstrap intervals for ROC-AUC
/// and PR-AUC, per-period metrics, importance.
pub fn build_report(r: ReportInput<'_>) -> Result<Report> {
    let opts = ReportOptions {
        threshold: r.threshold,
        bootstrap_resamples: 0,
        seed: r.seed,
        ..ReportOptions::default()
    };
    let unit = r.period_unit;
    let keys = period_keys(r.start_ms, unit, r.utc_offset_minutes);
    let mut report = Report::binary(&r.title, &r.split, r.labels, r.probs, opts)?
        .with_periods(r.labels, r.probs, &keys, unit)?
        .with_importance(r.importance)
        .with_model(r.model);
    let b = bootstrap_resamples(r.bootstrap, r.labels.len());
    report.options.bootstrap_resamples = b;
    if b > 0 {
        let (roc, pr) = rayon::join(
            || {
                bootstrap_ci(
                    r.labels,
                    r.probs,
                    |y, p| roc_auc(y, p, None).ok(),
                    b,
                    0.95,
                    r.seed,
                )
            },
            || {
                bootstrap_ci(
                    r.labels,
                    r.probs,
                    |y, p| average_precision(y, p, None).ok(),
                    b,
                    0.95,
                    r.seed,
                )
            },
        );
        // Undefined on these rows (one class): no interval, not an error.
        if let Ok(iv) = roc {
            report.intervals.insert("roc_auc".into(), iv);
        }
        if let Ok(iv) = pr {
            report.intervals.insert("pr_auc".into(), iv);
        }
    }
    Ok(report)
}

/// The numbers `eval` prints (and `train` prints for its test part).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSummary {
    /// The bundle file.
    pub bundle: String,
    /// Model family.
    pub model: String,
    /// Model version (content hash).
    pub model_version: String,
    /// Protocol.
    pub protocol: String,
    /// Which rows: `test` (the last part by session start) or `all`.
    pub rows: String,
    /// First and last session start of the rows (RFC 3339).
    pub period: (String, String),
    /// Headline metrics.
    pub metrics: Metrics,
    /// Bootstrap 95 % intervals (`roc_auc`, `pr_auc`).
    pub intervals: BTreeMap<String, Interval>,
    /// `day` or `hour`.
    pub period_unit: String,
    /// Metrics per period.
    pub per_period: Vec<shopsense_eval::PeriodMetrics>,
    /// The ten most important features.
    pub top_features: Vec<Importance>,
}

/// First and last of `start_ms` as RFC 3339 strings.
pub fn time_range(start_ms: &[i64]) -> (String, String) {
    let lo = start_ms.iter().min().copied();
    let hi = start_ms.iter().max().copied();
    let f = |v: Option<i64>| v.map_or_else(|| "-".to_string(), shopsense_events::time::format_ms);
    (f(lo), f(hi))
}

/// The summary of a report.
pub fn summarize(
    report: &Report,
    bundle: String,
    model_version: String,
    protocol: String,
    rows: String,
    start_ms: &[i64],
) -> EvalSummary {
    EvalSummary {
        bundle,
        model: report.model.kind.clone(),
        model_version,
        protocol,
        rows,
        period: time_range(start_ms),
        metrics: Metrics::from(&report.metrics),
        intervals: report.intervals.clone(),
        period_unit: report.period_unit.clone().unwrap_or_default(),
        per_period: report.per_period.clone(),
        top_features: report.feature_importance.iter().take(10).cloned().collect(),
    }
}
