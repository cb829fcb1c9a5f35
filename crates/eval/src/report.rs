//! The evaluation [`Report`]: every number and curve of one model on one data set, as
//! serde (`--json` for machines) and as a self-contained HTML page ([`crate::html`]).

use crate::bootstrap::{bootstrap_ci, Interval};
use crate::error::{EvalError, Result};
use crate::metrics::{
    average_precision, brier, downsample, log_loss, pr_curve, reliability_curve, roc_auc,
    roc_curve, AtThreshold, BinaryMetrics, PrPoint, ReliabilityBin, RocPoint,
};
use crate::multiclass::MulticlassMetrics;
use crate::period::{per_period, PeriodMetrics};
use serde::{Deserialize, Serialize};
use shopsense_models::{Model, ThresholdChoice};
use std::collections::BTreeMap;
use std::path::Path;

/// How a report is computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportOptions {
    /// Decision threshold (positive iff `p >= threshold`).
    pub threshold: f64,
    /// Bins of the reliability curve.
    pub reliability_bins: usize,
    /// Points kept per curve for plotting.
    pub max_curve_points: usize,
    /// Bootstrap resamples for confidence intervals (0 = none).
    pub bootstrap_resamples: usize,
    /// Confidence level of the intervals.
    pub confidence_level: f64,
    /// Bootstrap seed.
    pub seed: u64,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            threshold: 0.5,
            reliability_bins: 10,
            max_curve_points: 200,
            bootstrap_resamples: 200,
            confidence_level: 0.95,
            seed: 17,
        }
    }
}

/// What was evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ModelInfo {
    /// Model name.
    pub name: String,
    /// Model kind (`gbdt`, `logistic`, `seed-rf`).
    pub kind: String,
    /// Number of features.
    pub n_features: usize,
    /// Training-data fingerprint.
    pub data_fingerprint: String,
    /// Calibration method applied before scoring.
    pub calibration: String,
}

impl ModelInfo {
    /// Describes a fitted model.
    pub fn of(model: &dyn Model) -> Self {
        ModelInfo {
            name: model.name(),
            kind: model.kind().as_str().to_string(),
            n_features: model.n_features(),
            ..ModelInfo::default()
        }
    }
}

/// Importance of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Importance {
    /// Feature name.
    pub feature: String,
    /// Raw importance (model-specific unit).
    pub value: f64,
    /// Share of the total (0..1).
    pub share: f64,
}

/// Headline metrics of another model on the same rows (e.g. the baselines).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Model name.
    pub name: String,
    /// Its metrics (at its own threshold).
    pub metrics: BinaryMetrics,
}

/// Everything about one model on one data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Title.
    pub title: String,
    /// Which rows (e.g. `test 2019-11-22..2019-11-30`).
    pub split: String,
    /// Creation time (RFC 3339), set by the caller (kept out of the computation so that
    /// reports are reproducible).
    pub created_at: Option<String>,
    /// The model.
    pub model: ModelInfo,
    /// Options used.
    pub options: ReportOptions,
    /// How the threshold was chosen (on validation), if known.
    pub threshold_choice: Option<ThresholdChoice>,
    /// Headline metrics.
    pub metrics: BinaryMetrics,
    /// Bootstrap intervals by metric name (`roc_auc`, `pr_auc`, `log_loss`, `brier`, `f1`).
    pub intervals: BTreeMap<String, Interval>,
    /// ROC curve (downsampled).
    pub roc: Vec<RocPoint>,
    /// Precision–recall curve (downsampled).
    pub pr: Vec<PrPoint>,
    /// Reliability curve.
    pub reliability: Vec<ReliabilityBin>,
    /// Unit of the periods (`day`, `hour`), if per-period metrics were added.
    pub period_unit: Option<String>,
    /// Metrics per period.
    pub per_period: Vec<PeriodMetrics>,
    /// Feature importance, largest first.
    pub feature_importance: Vec<Importance>,
    /// Other models on the same rows.
    pub comparisons: Vec<Comparison>,
    /// Multi-class metrics, for a multi-class model.
    pub multiclass: Option<MulticlassMetrics>,
}

impl Report {
    /// Computes the binary report for `probs` (final probabilities) against `labels`.
    pub fn binary(
        title: impl Into<String>,
        split: impl Into<String>,
        labels: &[f32],
        probs: &[f64],
        options: ReportOptions,
    ) -> Result<Self> {
        let metrics = BinaryMetrics::compute(labels, probs, options.threshold)?;
        let both = metrics.positives > 0 && metrics.positives < metrics.n;
        let (roc, pr) = if both {
            let roc = roc_curve(labels, probs)?;
            let pr = pr_curve(labels, probs)?;
            (
                downsample(&roc, options.max_curve_points, |p| (p.fpr, p.tpr)),
                downsample(&pr, options.max_curve_points, |p| (p.recall, p.precision)),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let reliability = reliability_curve(labels, probs, options.reliability_bins)?;
        let mut intervals = BTreeMap::new();
        if options.bootstrap_resamples > 0 {
            let (b, l, s) = (
                options.bootstrap_resamples,
                options.confidence_level,
                options.seed,
            );
            let t = options.threshold;
            type Metric = fn(&[f32], &[f64], f64) -> Option<f64>;
            let list: [(&str, Metric); 5] = [
                ("roc_auc", |y, p, _| roc_auc(y, p, None).ok()),
                ("pr_auc", |y, p, _| average_precision(y, p, None).ok()),
                ("log_loss", |y, p, _| log_loss(y, p, None).ok()),
                ("brier", |y, p, _| brier(y, p, None).ok()),
                ("f1", |y, p, t| {
                    AtThreshold::compute(y, p, t).ok().map(|a| a.f1)
                }),
            ];
            for (name, f) in list {
                if let Ok(iv) = bootstrap_ci(labels, probs, |y, p| f(y, p, t), b, l, s) {
                    intervals.insert(name.to_string(), iv);
                }
            }
        }
        Ok(Report {
            title: title.into(),
            split: split.into(),
            created_at: None,
            model: ModelInfo::default(),
            options,
            threshold_choice: None,
            metrics,
            intervals,
            roc,
            pr,
            reliability,
            period_unit: None,
            per_period: Vec::new(),
            feature_importance: Vec::new(),
            comparisons: Vec::new(),
            multiclass: None,
        })
    }

    /// Adds metrics per period (`unit` = `day` or `hour`, keys one per row).
    pub fn with_periods<K: AsRef<str>>(
        mut self,
        labels: &[f32],
        probs: &[f64],
        keys: &[K],
        unit: &str,
    ) -> Result<Self> {
        self.per_period = per_period(labels, probs, keys, self.options.threshold)?;
        self.period_unit = Some(unit.to_string());
        Ok(self)
    }

    /// Adds feature importance (sorted largest first, shares of the total).
    pub fn with_importance(mut self, importance: Vec<(String, f64)>) -> Self {
        let total: f64 = importance.iter().map(|(_, v)| v.abs()).sum();
        let mut imp: Vec<Importance> = importance
            .into_iter()
            .map(|(feature, value)| Importance {
                share: if total > 0.0 {
                    value.abs() / total
                } else {
                    0.0
                },
                feature,
                value,
            })
            .collect();
        imp.sort_by(|a, b| b.share.total_cmp(&a.share).then(a.feature.cmp(&b.feature)));
        self.feature_importance = imp;
        self
    }

    /// Sets the model description.
    pub fn with_model(mut self, model: ModelInfo) -> Self {
        self.model = model;
        self
    }

    /// Adds another model's headline metrics on the same rows.
    pub fn with_comparison(
        mut self,
        name: impl Into<String>,
        labels: &[f32],
        probs: &[f64],
        threshold: f64,
    ) -> Result<Self> {
        self.comparisons.push(Comparison {
            name: name.into(),
            metrics: BinaryMetrics::compute(labels, probs, threshold)?,
        });
        Ok(self)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Writes the JSON report.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        write(path, self.to_json()?.as_bytes())
    }

    /// The self-contained HTML page.
    pub fn to_html(&self) -> String {
        crate::html::render(self)
    }

    /// Writes the HTML report.
    pub fn write_html(&self, path: &Path) -> Result<()> {
        write(path, self.to_html().as_bytes())
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    shopsense_models::io::atomic_write(path, bytes).map_err(|e| match e {
        shopsense_models::ModelError::Io { path, source } => EvalError::Io { path, source },
        other => EvalError::Model(other),
    })
}
