//! Binary classification metrics. ROC-AUC, average precision and log-loss are the
//! implementations of `shopsense_models::metric` (re-exported here); everything is checked
//! against scikit-learn in this crate's tests.

use crate::error::{EvalError, Result};
use serde::{Deserialize, Serialize};
pub use shopsense_models::metric::{average_precision, cumulative_counts, log_loss, roc_auc};

fn check(labels: &[f32], probs: &[f64]) -> Result<()> {
    if labels.len() != probs.len() {
        return Err(EvalError::Shape(format!(
            "{} labels for {} predictions",
            labels.len(),
            probs.len()
        )));
    }
    if let Some(i) = labels.iter().position(|&l| l != 0.0 && l != 1.0) {
        return Err(EvalError::Invalid(format!(
            "binary labels must be 0/1, row {i} has {}",
            labels[i]
        )));
    }
    if let Some(i) = probs.iter().position(|p| p.is_nan()) {
        return Err(EvalError::Invalid(format!("prediction at row {i} is NaN")));
    }
    Ok(())
}

/// Mean squared error of probabilities (Brier score), optionally weighted.
pub fn brier(labels: &[f32], probs: &[f64], weights: Option<&[f64]>) -> Result<f64> {
    check(labels, probs)?;
    let (mut s, mut tw) = (0.0, 0.0);
    for i in 0..labels.len() {
        let w = weights.map_or(1.0, |w| w[i]);
        let d = probs[i] - f64::from(labels[i]);
        s += w * d * d;
        tw += w;
    }
    if tw <= 0.0 {
        return Err(EvalError::Invalid("Brier score of no rows".into()));
    }
    Ok(s / tw)
}

/// Counts of a binary decision (positive iff `p >= threshold`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Confusion {
    /// True positives.
    pub tp: u64,
    /// False positives.
    pub fp: u64,
    /// True negatives.
    pub tn: u64,
    /// False negatives.
    pub fn_: u64,
}

impl Confusion {
    /// Counts decisions at `threshold`.
    pub fn at(labels: &[f32], probs: &[f64], threshold: f64) -> Result<Self> {
        check(labels, probs)?;
        let mut c = Confusion::default();
        for (&y, &p) in labels.iter().zip(probs) {
            match (p >= threshold, y == 1.0) {
                (true, true) => c.tp += 1,
                (true, false) => c.fp += 1,
                (false, false) => c.tn += 1,
                (false, true) => c.fn_ += 1,
            }
        }
        Ok(c)
    }
    /// `tp / (tp + fp)`, 0 when nothing is predicted positive (scikit-learn's
    /// `zero_division=0`).
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    /// `tp / (tp + fn)`.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
    /// Share of correct decisions.
    pub fn accuracy(&self) -> f64 {
        ratio(self.tp + self.tn, self.tp + self.tn + self.fp + self.fn_)
    }
    /// As a 2 × 2 matrix `[[tn, fp], [fn, tp]]` (scikit-learn's layout).
    pub fn matrix(&self) -> [[u64; 2]; 2] {
        [[self.tn, self.fp], [self.fn_, self.tp]]
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Decision metrics at a threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtThreshold {
    /// The threshold.
    pub threshold: f64,
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
    /// Accuracy.
    pub accuracy: f64,
    /// Confusion counts.
    pub confusion: Confusion,
}

impl AtThreshold {
    /// Computes the decision metrics.
    pub fn compute(labels: &[f32], probs: &[f64], threshold: f64) -> Result<Self> {
        let c = Confusion::at(labels, probs, threshold)?;
        Ok(AtThreshold {
            threshold,
            precision: c.precision(),
            recall: c.recall(),
            f1: c.f1(),
            accuracy: c.accuracy(),
            confusion: c,
        })
    }
}

/// One bin of a reliability (calibration) curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Lower edge.
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
    /// Mean predicted probability in the bin.
    pub mean_predicted: f64,
    /// Observed share of positives in the bin.
    pub fraction_positive: f64,
    /// Rows in the bin.
    pub count: u64,
}

/// Reliability curve with `n_bins` uniform bins on `[0, 1]`; empty bins are left out
/// (scikit-learn's `calibration_curve(strategy="uniform")`, same bin edges and rule).
pub fn reliability_curve(
    labels: &[f32],
    probs: &[f64],
    n_bins: usize,
) -> Result<Vec<ReliabilityBin>> {
    check(labels, probs)?;
    if n_bins == 0 {
        return Err(EvalError::Invalid("reliability curve needs ≥ 1 bin".into()));
    }
    if probs.iter().any(|p| !(0.0..=1.0).contains(p)) {
        return Err(EvalError::Invalid(
            "probabilities must lie in [0, 1]".into(),
        ));
    }
    let step = 1.0 / n_bins as f64;
    let edges: Vec<f64> = (0..=n_bins)
        .map(|k| if k == n_bins { 1.0 } else { k as f64 * step })
        .collect();
    let inner = &edges[1..n_bins];
    let mut sum_p = vec![0f64; n_bins];
    let mut sum_y = vec![0f64; n_bins];
    let mut cnt = vec![0u64; n_bins];
    for (&y, &p) in labels.iter().zip(probs) {
        let b = inner.partition_point(|&e| e < p);
        sum_p[b] += p;
        sum_y[b] += f64::from(y);
        cnt[b] += 1;
    }
    Ok((0..n_bins)
        .filter(|&b| cnt[b] > 0)
        .map(|b| ReliabilityBin {
            lo: edges[b],
            hi: edges[b + 1],
            mean_predicted: sum_p[b] / cnt[b] as f64,
            fraction_positive: sum_y[b] / cnt[b] as f64,
            count: cnt[b],
        })
        .collect())
}

/// A point of a ROC curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// False-positive rate.
    pub fpr: f64,
    /// True-positive rate.
    pub tpr: f64,
    /// Threshold (`p >= threshold`); the first point uses +∞ encoded as `None`.
    pub threshold: Option<f64>,
}

/// A point of a precision–recall curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrPoint {
    /// Recall.
    pub recall: f64,
    /// Precision.
    pub precision: f64,
    /// Threshold (`p >= threshold`).
    pub threshold: f64,
}

/// The full ROC curve, one point per distinct score plus `(0, 0)`.
pub fn roc_curve(labels: &[f32], probs: &[f64]) -> Result<Vec<RocPoint>> {
    let pts = cumulative_counts(labels, probs, None)?;
    let (_, n, p) = pts.last().copied().unwrap_or((0.0, 0.0, 0.0));
    if n == 0.0 || p == 0.0 {
        return Err(EvalError::Invalid("ROC curve needs both classes".into()));
    }
    let mut out = vec![RocPoint {
        fpr: 0.0,
        tpr: 0.0,
        threshold: None,
    }];
    out.extend(pts.iter().map(|&(s, fp, tp)| RocPoint {
        fpr: fp / n,
        tpr: tp / p,
        threshold: Some(s),
    }));
    Ok(out)
}

/// The precision–recall curve, one point per distinct score (recall increasing).
pub fn pr_curve(labels: &[f32], probs: &[f64]) -> Result<Vec<PrPoint>> {
    let pts = cumulative_counts(labels, probs, None)?;
    let p = pts.last().map_or(0.0, |x| x.2);
    if p == 0.0 {
        return Err(EvalError::Invalid("PR curve needs positives".into()));
    }
    Ok(pts
        .iter()
        .map(|&(s, fp, tp)| PrPoint {
            recall: tp / p,
            precision: if tp + fp > 0.0 { tp / (tp + fp) } else { 1.0 },
            threshold: s,
        })
        .collect())
}

/// Keeps at most `max_points` points for plotting: the first and last, and points spread
/// evenly along the curve's length (so steep parts keep their detail).
pub fn downsample<T: Copy>(
    points: &[T],
    max_points: usize,
    xy: impl Fn(&T) -> (f64, f64),
) -> Vec<T> {
    if points.len() <= max_points || max_points < 2 {
        return points.to_vec();
    }
    let mut cum = Vec::with_capacity(points.len());
    let mut total = 0.0;
    cum.push(0.0);
    for w in points.windows(2) {
        let (a, b) = (xy(&w[0]), xy(&w[1]));
        total += ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        cum.push(total);
    }
    let last = points.len() - 1;
    let mut out = Vec::with_capacity(max_points);
    let mut prev: Option<usize> = None;
    for k in 0..max_points {
        let target = total * k as f64 / (max_points - 1) as f64;
        let i = cum.partition_point(|&c| c < target).min(last);
        if prev != Some(i) {
            out.push(points[i]);
            prev = Some(i);
        }
    }
    if prev != Some(last) {
        out.push(points[last]);
    }
    out
}

/// Threshold-free and threshold metrics of a binary model on one data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinaryMetrics {
    /// Rows.
    pub n: u64,
    /// Positive rows.
    pub positives: u64,
    /// ROC-AUC (`None` when a class is missing).
    pub roc_auc: Option<f64>,
    /// PR-AUC as average precision (`None` without positives).
    pub pr_auc: Option<f64>,
    /// Log-loss (clipped).
    pub log_loss: f64,
    /// Brier score.
    pub brier: f64,
    /// Metrics at the decision threshold.
    pub at_threshold: AtThreshold,
}

impl BinaryMetrics {
    /// Computes every metric; AUCs are `None` when undefined.
    pub fn compute(labels: &[f32], probs: &[f64], threshold: f64) -> Result<Self> {
        check(labels, probs)?;
        if labels.is_empty() {
            return Err(EvalError::Invalid("metrics of no rows".into()));
        }
        let positives = labels.iter().filter(|&&l| l == 1.0).count() as u64;
        Ok(BinaryMetrics {
            n: labels.len() as u64,
            positives,
            roc_auc: roc_auc(labels, probs, None).ok(),
            pr_auc: average_precision(labels, probs, None).ok(),
            log_loss: log_loss(labels, probs, None)?,
            brier: brier(labels, probs, None)?,
            at_threshold: AtThreshold::compute(labels, probs, threshold)?,
        })
    }
}
