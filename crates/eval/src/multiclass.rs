//! Multi-class metrics (e.g. next action view / cart / purchase): confusion matrix,
//! per-class precision/recall/F1, macro-F1, accuracy and multi-class log-loss.

use crate::error::{EvalError, Result};
use serde::{Deserialize, Serialize};

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// Class index.
    pub class: usize,
    /// Optional class name.
    pub name: Option<String>,
    /// Precision (0 when never predicted).
    pub precision: f64,
    /// Recall (0 when absent).
    pub recall: f64,
    /// F1.
    pub f1: f64,
    /// Rows of this class.
    pub support: u64,
}

/// Multi-class metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MulticlassMetrics {
    /// Number of classes.
    pub n_classes: usize,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<u64>>,
    /// Per-class scores.
    pub per_class: Vec<ClassScores>,
    /// Unweighted mean of per-class F1.
    pub macro_f1: f64,
    /// Share of rows whose most probable class is the true one.
    pub accuracy: f64,
    /// Mean `-ln p(true class)`, probabilities clipped to `[ε, 1 − ε]`.
    pub log_loss: f64,
}

/// Macro-F1 of decisions with the given weights (no allocation per row).
fn macro_f1_with(labels: &[usize], probs: &[f64], k: usize, w: &[f64], conf: &mut [u64]) -> f64 {
    conf.iter_mut().for_each(|v| *v = 0);
    for (i, &y) in labels.iter().enumerate() {
        let d = decide(&probs[i * k..(i + 1) * k], Some(w));
        conf[y * k + d] += 1;
    }
    let mut f1 = 0.0;
    for c in 0..k {
        let tp = conf[c * k + c] as f64;
        let predicted: u64 = (0..k).map(|r| conf[r * k + c]).sum();
        let support: u64 = conf[c * k..(c + 1) * k].iter().sum();
        let (p, r) = (div(tp, predicted as f64), div(tp, support as f64));
        f1 += div(2.0 * p * r, p + r);
    }
    f1 / k as f64
}

/// Per-class decision weights that maximise macro-F1 of [`decide`] on the given rows
/// (meant for a validation part, never the test part): coordinate ascent over a
/// log-spaced grid from 1/50 to 50, class 0 fixed at 1, three sweeps. Returns all ones when
/// nothing beats plain argmax.
pub fn fit_decision_weights(labels: &[usize], probs: &[f64], n_classes: usize) -> Result<Vec<f64>> {
    let k = n_classes;
    if k < 2 || probs.len() != labels.len() * k || labels.is_empty() {
        return Err(EvalError::Shape(format!(
            "{} probabilities for {} rows × {k} classes",
            probs.len(),
            labels.len()
        )));
    }
    if labels.iter().any(|&l| l >= k) {
        return Err(EvalError::Invalid(format!("a label is not below {k}")));
    }
    let grid: Vec<f64> = (-20..=20).map(|i| 50f64.powf(i as f64 / 20.0)).collect();
    let mut conf = vec![0u64; k * k];
    let mut w = vec![1.0; k];
    let mut best = macro_f1_with(labels, probs, k, &w, &mut conf);
    for _ in 0..3 {
        let mut improved = false;
        for c in 1..k {
            let keep = w[c];
            let mut best_c = keep;
            for &g in &grid {
                w[c] = g;
                let f = macro_f1_with(labels, probs, k, &w, &mut conf);
                if f > best + 1e-12 {
                    best = f;
                    best_c = g;
                    improved = true;
                }
            }
            w[c] = best_c;
        }
        if !improved {
            break;
        }
    }
    Ok(w)
}

fn div(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

/// Computes the metrics from labels `0..k` and `n × k` row-major probabilities; the
/// prediction is the most probable class (lowest index on ties).
pub fn multiclass_metrics(
    labels: &[usize],
    probs: &[f64],
    n_classes: usize,
    class_names: Option<&[String]>,
) -> Result<MulticlassMetrics> {
    multiclass_metrics_weighted(labels, probs, n_classes, class_names, None)
}

/// The class a row of probabilities decides: the largest `weight[c] · p[c]` (plain argmax
/// without weights; lowest index on ties).
pub fn decide(row: &[f64], weights: Option<&[f64]>) -> usize {
    let w = |c: usize| weights.and_then(|w| w.get(c)).copied().unwrap_or(1.0);
    let mut arg = 0;
    let mut best = f64::NEG_INFINITY;
    for (c, &p) in row.iter().enumerate() {
        let v = w(c) * p;
        if v > best {
            best = v;
            arg = c;
        }
    }
    arg
}

/// Like [`multiclass_metrics`], but the prediction is [`decide`] with per-class decision
/// weights (e.g. from [`fit_decision_weights`] on a validation part); log-loss and the
/// probabilities are unchanged.
pub fn multiclass_metrics_weighted(
    labels: &[usize],
    probs: &[f64],
    n_classes: usize,
    class_names: Option<&[String]>,
    weights: Option<&[f64]>,
) -> Result<MulticlassMetrics> {
    let n = labels.len();
    if n_classes < 2 || probs.len() != n * n_classes {
        return Err(EvalError::Shape(format!(
            "{} probabilities for {n} rows × {n_classes} classes",
            probs.len()
        )));
    }
    if n == 0 {
        return Err(EvalError::Invalid("metrics of no rows".into()));
    }
    if let Some(i) = labels.iter().position(|&l| l >= n_classes) {
        return Err(EvalError::Invalid(format!(
            "label {} at row {i} is not below {n_classes}",
            labels[i]
        )));
    }
    let mut confusion = vec![vec![0u64; n_classes]; n_classes];
    let eps = f64::EPSILON;
    let mut ll = 0.0;
    for (i, &y) in labels.iter().enumerate() {
        let row = &probs[i * n_classes..(i + 1) * n_classes];
        confusion[y][decide(row, weights)] += 1;
        ll -= row[y].clamp(eps, 1.0 - eps).ln();
    }
    let per_class: Vec<ClassScores> = (0..n_classes)
        .map(|c| {
            let tp = confusion[c][c] as f64;
            let predicted: u64 = (0..n_classes).map(|r| confusion[r][c]).sum();
            let support: u64 = confusion[c].iter().sum();
            let precision = div(tp, predicted as f64);
            let recall = div(tp, support as f64);
            ClassScores {
                class: c,
                name: class_names.and_then(|n| n.get(c).cloned()),
                precision,
                recall,
                f1: div(2.0 * precision * recall, precision + recall),
                support,
            }
        })
        .collect();
    let correct: u64 = (0..n_classes).map(|c| confusion[c][c]).sum();
    Ok(MulticlassMetrics {
        n_classes,
        macro_f1: per_class.iter().map(|c| c.f1).sum::<f64>() / n_classes as f64,
        per_class,
        confusion,
        accuracy: correct as f64 / n as f64,
        log_loss: ll / n as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_weights_recover_a_class_argmax_never_predicts() {
        // Class 2 rows are never the argmax; a weight in (1.25, 3.5) on class 2 separates
        // all three classes exactly.
        let rows: [(usize, [f64; 3]); 3] = [
            (0, [0.7, 0.1, 0.2]),
            (1, [0.4, 0.5, 0.1]),
            (2, [0.5, 0.1, 0.4]),
        ];
        let mut labels = Vec::new();
        let mut probs = Vec::new();
        for _ in 0..10 {
            for (y, p) in rows {
                labels.push(y);
                probs.extend(p);
            }
        }
        let plain = multiclass_metrics(&labels, &probs, 3, None).unwrap();
        assert_eq!(plain.per_class[2].f1, 0.0);
        let w = fit_decision_weights(&labels, &probs, 3).unwrap();
        assert_eq!(w[0], 1.0);
        assert!(w[2] > 1.25 && w[2] < 3.5, "{w:?}");
        let tuned = multiclass_metrics_weighted(&labels, &probs, 3, None, Some(&w)).unwrap();
        assert_eq!(tuned.macro_f1, 1.0);
        assert_eq!(tuned.log_loss, plain.log_loss);
        assert_eq!(decide(&[0.5, 0.1, 0.4], Some(&w)), 2);
        assert_eq!(decide(&[0.5, 0.1, 0.4], None), 0);
        assert!(fit_decision_weights(&[0, 3], &[0.5; 6], 3).is_err());
    }
}
