//! Seeded bootstrap confidence intervals for any metric.

use crate::error::{EvalError, Result};
use serde::{Deserialize, Serialize};
use shopsense_models::SplitMix64;

/// A point estimate with a percentile bootstrap interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The metric on the full data.
    pub estimate: f64,
    /// Lower percentile bound.
    pub lo: f64,
    /// Upper percentile bound.
    pub hi: f64,
    /// Confidence level, e.g. 0.95.
    pub level: f64,
    /// Resamples on which the metric was defined (others, e.g. one-class, are skipped).
    pub n_resamples: usize,
}

/// Percentile bootstrap: `n_boot` resamples of the rows with replacement (seeded), the
/// metric on each, and the `(1 ± level) / 2` percentiles (linear interpolation, as
/// `numpy.percentile`). Fails when the metric is undefined on the full data.
pub fn bootstrap_ci<F>(
    labels: &[f32],
    probs: &[f64],
    metric: F,
    n_boot: usize,
    level: f64,
    seed: u64,
) -> Result<Interval>
where
    F: Fn(&[f32], &[f64]) -> Option<f64>,
{
    if labels.len() != probs.len() {
        return Err(EvalError::Shape(format!(
            "{} labels for {} predictions",
            labels.len(),
            probs.len()
        )));
    }
    if !(level > 0.0 && level < 1.0) {
        return Err(EvalError::Invalid("level must be in (0, 1)".into()));
    }
    let estimate = metric(labels, probs)
        .ok_or_else(|| EvalError::Invalid("metric undefined on the full data".into()))?;
    let n = labels.len();
    let mut rng = SplitMix64::with_stream(seed, 0xB007);
    let mut values = Vec::with_capacity(n_boot);
    let (mut ly, mut lp) = (vec![0f32; n], vec![0f64; n]);
    for _ in 0..n_boot {
        for k in 0..n {
            let i = rng.below(n);
            ly[k] = labels[i];
            lp[k] = probs[i];
        }
        if let Some(v) = metric(&ly, &lp) {
            if v.is_finite() {
                values.push(v);
            }
        }
    }
    if values.is_empty() {
        return Ok(Interval {
            estimate,
            lo: estimate,
            hi: estimate,
            level,
            n_resamples: 0,
        });
    }
    values.sort_by(f64::total_cmp);
    let q = |f: f64| {
        let pos = f * (values.len() - 1) as f64;
        let (i, frac) = (pos.floor() as usize, pos - pos.floor());
        let j = (i + 1).min(values.len() - 1);
        values[i] + (values[j] - values[i]) * frac
    };
    Ok(Interval {
        estimate,
        lo: q((1.0 - level) / 2.0),
        hi: q((1.0 + level) / 2.0),
        level,
        n_resamples: values.len(),
    })
}
