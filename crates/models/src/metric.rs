//! The few binary metrics the models crate needs itself (search scoring, thresholds,
//! calibration). `shopsense-eval` re-exports them and adds the rest; its tests check them
//! against scikit-learn.

use crate::error::{ModelError, Result};
use serde::{Deserialize, Serialize};

/// Metric used to score validation folds in the hyperparameter search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ValidationMetric {
    /// ROC-AUC (higher is better).
    Auc,
    /// Average precision = PR-AUC (higher is better).
    #[default]
    AveragePrecision,
    /// Log-loss (lower is better).
    LogLoss,
}

impl ValidationMetric {
    /// Whether larger values are better.
    pub fn higher_is_better(self) -> bool {
        !matches!(self, ValidationMetric::LogLoss)
    }
    /// Computes the metric.
    pub fn score(self, labels: &[f32], scores: &[f64]) -> Result<f64> {
        match self {
            ValidationMetric::Auc => roc_auc(labels, scores, None),
            ValidationMetric::AveragePrecision => average_precision(labels, scores, None),
            ValidationMetric::LogLoss => log_loss(labels, scores, None),
        }
    }
}

pub(crate) fn check_inputs(labels: &[f32], scores: &[f64], weights: Option<&[f64]>) -> Result<()> {
    if labels.len() != scores.len() {
        return Err(ModelError::Shape(format!(
            "{} labels for {} scores",
            labels.len(),
            scores.len()
        )));
    }
    if let Some(w) = weights {
        if w.len() != labels.len() {
            return Err(ModelError::Shape(format!(
                "{} weights for {} labels",
                w.len(),
                labels.len()
            )));
        }
        if w.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(ModelError::Invalid("weights must be finite and ≥ 0".into()));
        }
    }
    if let Some(i) = labels.iter().position(|&l| l != 0.0 && l != 1.0) {
        return Err(ModelError::Invalid(format!(
            "binary metric needs labels 0/1, row {i} has {}",
            labels[i]
        )));
    }
    if let Some(i) = scores.iter().position(|s| s.is_nan()) {
        return Err(ModelError::Invalid(format!("score at row {i} is NaN")));
    }
    Ok(())
}

/// Cumulative (false positives, true positives) at each distinct score, scores descending:
/// `(score, fp, tp)` for thresholds `score >= s`. O(n log n).
pub fn cumulative_counts(
    labels: &[f32],
    scores: &[f64],
    weights: Option<&[f64]>,
) -> Result<Vec<(f64, f64, f64)>> {
    check_inputs(labels, scores, weights)?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut out = Vec::new();
    let (mut fp, mut tp) = (0.0, 0.0);
    for (k, &i) in order.iter().enumerate() {
        let w = weights.map_or(1.0, |w| w[i]);
        if labels[i] == 1.0 {
            tp += w;
        } else {
            fp += w;
        }
        let last_of_group = k + 1 == order.len() || scores[order[k + 1]] != scores[i];
        if last_of_group {
            out.push((scores[i], fp, tp));
        }
    }
    Ok(out)
}

/// ROC-AUC with ties counted as half (trapezoids), optionally weighted. Fails unless both
/// classes are present.
pub fn roc_auc(labels: &[f32], scores: &[f64], weights: Option<&[f64]>) -> Result<f64> {
    let pts = cumulative_counts(labels, scores, weights)?;
    let (_, n_neg, n_pos) = pts.last().copied().unwrap_or((0.0, 0.0, 0.0));
    if n_pos <= 0.0 || n_neg <= 0.0 {
        return Err(ModelError::Invalid("ROC-AUC needs both classes".into()));
    }
    let (mut area, mut fp0, mut tp0) = (0.0, 0.0, 0.0);
    for &(_, fp, tp) in &pts {
        area += (fp - fp0) * (tp + tp0) / 2.0;
        fp0 = fp;
        tp0 = tp;
    }
    Ok(area / (n_pos * n_neg))
}

/// Average precision `Σ (Rₙ − Rₙ₋₁)·Pₙ` over distinct thresholds (scikit-learn's
/// `average_precision_score`), optionally weighted. Fails without positives.
pub fn average_precision(labels: &[f32], scores: &[f64], weights: Option<&[f64]>) -> Result<f64> {
    let pts = cumulative_counts(labels, scores, weights)?;
    let n_pos = pts.last().map_or(0.0, |p| p.2);
    if n_pos <= 0.0 {
        return Err(ModelError::Invalid(
            "average precision needs positives".into(),
        ));
    }
    let (mut ap, mut r0) = (0.0, 0.0);
    for &(_, fp, tp) in &pts {
        let r = tp / n_pos;
        let p = if tp + fp > 0.0 { tp / (tp + fp) } else { 1.0 };
        ap += (r - r0) * p;
        r0 = r;
    }
    Ok(ap)
}

/// Mean binary log-loss, probabilities clipped to `[ε, 1 − ε]` with `ε = f64::EPSILON`
/// (scikit-learn's default for `float64`), optionally weighted.
pub fn log_loss(labels: &[f32], probs: &[f64], weights: Option<&[f64]>) -> Result<f64> {
    check_inputs(labels, probs, weights)?;
    if labels.is_empty() {
        return Err(ModelError::Invalid("log-loss of no rows".into()));
    }
    let eps = f64::EPSILON;
    let (mut s, mut tw) = (0.0, 0.0);
    for i in 0..labels.len() {
        let w = weights.map_or(1.0, |w| w[i]);
        let p = probs[i].clamp(eps, 1.0 - eps);
        let l = if labels[i] == 1.0 {
            -p.ln()
        } else {
            -(1.0 - p).ln()
        };
        s += w * l;
        tw += w;
    }
    if tw <= 0.0 {
        return Err(ModelError::Invalid("all weights are zero".into()));
    }
    Ok(s / tw)
}
