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
        let mut arg = 0;
        for c in 1..n_classes {
            if row[c] > row[arg] {
                arg = c;
            }
        }
        confusion[y][arg] += 1;
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
