//! Metrics per period (day or hour): one row of metrics per distinct period key.

use crate::error::{EvalError, Result};
use crate::metrics::{average_precision, brier, log_loss, roc_auc, AtThreshold};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Metrics of the rows of one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodMetrics {
    /// The period key (e.g. `2019-10-03` or `2019-10-03T14`).
    pub period: String,
    /// Rows.
    pub n: u64,
    /// Positives.
    pub positives: u64,
    /// Positive rate.
    pub base_rate: f64,
    /// Mean predicted probability.
    pub mean_predicted: f64,
    /// ROC-AUC (`None` if the period has one class).
    pub roc_auc: Option<f64>,
    /// Average precision (`None` without positives).
    pub pr_auc: Option<f64>,
    /// Log-loss.
    pub log_loss: f64,
    /// Brier score.
    pub brier: f64,
    /// Precision at the threshold.
    pub precision: f64,
    /// Recall at the threshold.
    pub recall: f64,
    /// F1 at the threshold.
    pub f1: f64,
}

/// Groups rows by `periods[i]` (sorted by key; ISO dates/hours sort chronologically) and
/// computes the metrics of each group.
pub fn per_period<K: AsRef<str>>(
    labels: &[f32],
    probs: &[f64],
    periods: &[K],
    threshold: f64,
) -> Result<Vec<PeriodMetrics>> {
    if periods.len() != labels.len() || probs.len() != labels.len() {
        return Err(EvalError::Shape(format!(
            "{} labels, {} predictions, {} period keys",
            labels.len(),
            probs.len(),
            periods.len()
        )));
    }
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, k) in periods.iter().enumerate() {
        groups.entry(k.as_ref()).or_default().push(i);
    }
    let mut out = Vec::with_capacity(groups.len());
    for (key, idx) in groups {
        let y: Vec<f32> = idx.iter().map(|&i| labels[i]).collect();
        let p: Vec<f64> = idx.iter().map(|&i| probs[i]).collect();
        let positives = y.iter().filter(|&&v| v == 1.0).count() as u64;
        let at = AtThreshold::compute(&y, &p, threshold)?;
        out.push(PeriodMetrics {
            period: key.to_string(),
            n: y.len() as u64,
            positives,
            base_rate: positives as f64 / y.len() as f64,
            mean_predicted: p.iter().sum::<f64>() / p.len() as f64,
            roc_auc: roc_auc(&y, &p, None).ok(),
            pr_auc: average_precision(&y, &p, None).ok(),
            log_loss: log_loss(&y, &p, None)?,
            brier: brier(&y, &p, None)?,
            precision: at.precision,
            recall: at.recall,
            f1: at.f1,
        });
    }
    Ok(out)
}
