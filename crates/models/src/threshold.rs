//! Decision threshold chosen on validation predictions: maximum F1, or minimum expected
//! cost for a user cost ratio. Rule everywhere: **positive iff `p >= threshold`**.

use crate::error::{ModelError, Result};
use crate::metric::cumulative_counts;
use serde::{Deserialize, Serialize};

/// What the threshold optimises.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "objective")]
pub enum ThresholdObjective {
    /// Maximise F1 of the positive class.
    MaxF1,
    /// Minimise `FP + ratio · FN` (ratio = cost of a false negative / cost of a false positive).
    MinCost {
        /// Cost of a false negative in units of a false positive.
        fn_fp_ratio: f64,
    },
}

/// The chosen threshold and its validation numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdChoice {
    /// The threshold (positive iff `p >= threshold`).
    pub threshold: f64,
    /// The objective used.
    pub objective: ThresholdObjective,
    /// Precision at the threshold.
    pub precision: f64,
    /// Recall at the threshold.
    pub recall: f64,
    /// F1 at the threshold.
    pub f1: f64,
    /// Mean cost per row (`(FP + ratio·FN) / n`; ratio 1 for max-F1).
    pub cost_per_row: f64,
    /// Rows predicted positive.
    pub n_predicted_positive: f64,
}

/// Chooses the threshold on validation probabilities. O(n log n).
pub fn choose_threshold(
    probs: &[f64],
    labels: &[f32],
    objective: ThresholdObjective,
) -> Result<ThresholdChoice> {
    let ratio = match objective {
        ThresholdObjective::MaxF1 => 1.0,
        ThresholdObjective::MinCost { fn_fp_ratio } => {
            if !(fn_fp_ratio > 0.0 && fn_fp_ratio.is_finite()) {
                return Err(ModelError::param("fn_fp_ratio", "must be > 0"));
            }
            fn_fp_ratio
        }
    };
    let pts = cumulative_counts(labels, probs, None)?;
    let (_, n_neg, n_pos) = pts.last().copied().unwrap_or((0.0, 0.0, 0.0));
    if n_pos == 0.0 {
        return Err(ModelError::Invalid(
            "threshold choice needs positives".into(),
        ));
    }
    let n = n_pos + n_neg;
    // Candidate "predict nothing": threshold just above the largest probability.
    let top = pts.first().map_or(1.0, |p| p.0);
    let above = if top >= 0.0 {
        f64::from_bits(top.to_bits() + 1)
    } else {
        0.0
    };
    let mut cands = vec![(above, 0.0, 0.0)];
    cands.extend(pts.iter().copied());
    let mut best: Option<(f64, ThresholdChoice)> = None;
    for (s, fp, tp) in cands {
        let fn_ = n_pos - tp;
        let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        let recall = tp / n_pos;
        let f1 = if tp > 0.0 {
            2.0 * tp / (2.0 * tp + fp + fn_)
        } else {
            0.0
        };
        let cost = (fp + ratio * fn_) / n;
        let key = match objective {
            ThresholdObjective::MaxF1 => f1,
            ThresholdObjective::MinCost { .. } => -cost,
        };
        // Strictly better only: ties keep the higher threshold (fewer alerts).
        if best.as_ref().is_none_or(|(k, _)| key > *k) {
            best = Some((
                key,
                ThresholdChoice {
                    threshold: s,
                    objective,
                    precision,
                    recall,
                    f1,
                    cost_per_row: cost,
                    n_predicted_positive: tp + fp,
                },
            ));
        }
    }
    best.map(|b| b.1)
        .ok_or_else(|| ModelError::Invalid("no rows to choose a threshold on".into()))
}
