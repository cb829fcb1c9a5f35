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
    macro_f1_of(conf, k)
}

/// Macro-F1 of a row-major `k × k` confusion matrix (`conf[true * k + decided]`).
fn macro_f1_of(conf: &[u64], k: usize) -> f64 {
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

/// Decision weights checked out of sample: what [`cross_fitted_decision_weights`] decided.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedWeights {
    /// The weights to decide with: fitted on all rows when they beat argmax out of sample,
    /// otherwise all ones (plain argmax).
    pub weights: Vec<f64>,
    /// Macro-F1 of weights fitted on one half of the rows and applied to the other (both
    /// ways, one confusion matrix): an honest estimate of fitted weights on new rows.
    pub cross_fitted_f1: f64,
    /// Macro-F1 of plain argmax on all rows (nothing fitted, so already out of sample).
    pub argmax_f1: f64,
}

impl CheckedWeights {
    /// The out-of-sample macro-F1 of the decision rule kept (for choosing between models).
    pub fn score(&self) -> f64 {
        self.cross_fitted_f1.max(self.argmax_f1)
    }
}

/// Like [`fit_decision_weights`], but keeps the weights only if they beat plain argmax out of
/// sample. The rows are cut into two contiguous halves (in their given, typically temporal,
/// order); weights fitted on each half decide the other half. With few rows of the rare
/// classes, weights fitted and judged on the same rows always look better than argmax
/// and often are worse on new rows: this check is what a validation part of that size
/// supports. Fails like [`fit_decision_weights`]; fewer than 2 rows leave plain argmax.
pub fn cross_fitted_decision_weights(
    labels: &[usize],
    probs: &[f64],
    n_classes: usize,
) -> Result<CheckedWeights> {
    let k = n_classes;
    let ones = vec![1.0; k];
    let mut conf = vec![0u64; k * k];
    // Validates the shapes and labels (and is the answer when the halves cannot be made).
    let all = fit_decision_weights(labels, probs, k)?;
    let argmax_f1 = macro_f1_with(labels, probs, k, &ones, &mut conf);
    let n = labels.len();
    if n < 2 {
        return Ok(CheckedWeights {
            weights: ones,
            cross_fitted_f1: argmax_f1,
            argmax_f1,
        });
    }
    let h = n / 2;
    let (la, lb) = labels.split_at(h);
    let (pa, pb) = probs.split_at(h * k);
    let wa = fit_decision_weights(la, pa, k)?;
    let wb = fit_decision_weights(lb, pb, k)?;
    conf.iter_mut().for_each(|v| *v = 0);
    for (i, &y) in labels.iter().enumerate() {
        let w = if i < h { &wb } else { &wa };
        let d = decide(&probs[i * k..(i + 1) * k], Some(w));
        conf[y * k + d] += 1;
    }
    let cross_fitted_f1 = macro_f1_of(&conf, k);
    Ok(CheckedWeights {
        weights: if cross_fitted_f1 > argmax_f1 {
            all
        } else {
            ones
        },
        cross_fitted_f1,
        argmax_f1,
    })
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
    fn cross_fitted_weights_are_kept_only_when_they_hold_out_of_sample() {
        // Class 1 is always the runner-up at 0.4 when true: weights learnt on either half
        // carry over to the other, so they are kept.
        let mut labels = Vec::new();
        let mut probs = Vec::new();
        for i in 0..200 {
            let y = usize::from(i % 5 == 0);
            labels.push(y);
            probs.extend_from_slice(if y == 1 { &[0.6, 0.4] } else { &[0.9, 0.1] });
        }
        let c = cross_fitted_decision_weights(&labels, &probs, 2).unwrap();
        assert!(
            c.argmax_f1 < 0.5 && (c.cross_fitted_f1 - 1.0).abs() < 1e-12,
            "{c:?}"
        );
        assert!(c.weights[1] > 1.0);
        assert_eq!(c.score(), c.cross_fitted_f1);
        // The rare class looks different in each half: what one half teaches misleads on the
        // other, so plain argmax stays.
        let mut labels = Vec::new();
        let mut probs = Vec::new();
        for i in 0..200 {
            let first = i < 100;
            let y = usize::from(i % 10 == 0);
            labels.push(y);
            let p1 = match (first, y == 1) {
                (true, true) => 0.45,
                (true, false) => 0.05,
                (false, true) => 0.05,
                (false, false) => 0.45,
            };
            probs.extend_from_slice(&[1.0 - p1, p1]);
        }
        let c = cross_fitted_decision_weights(&labels, &probs, 2).unwrap();
        assert!(c.cross_fitted_f1 <= c.argmax_f1, "{c:?}");
        assert_eq!(c.weights, vec![1.0, 1.0]);
        assert_eq!(c.score(), c.argmax_f1);
        assert!(cross_fitted_decision_weights(&[0, 2], &[0.5; 4], 2).is_err());
    }

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
