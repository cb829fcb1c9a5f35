//! Probability calibration fitted on validation predictions: Platt scaling (a 1-D logistic
//! fit on the log-odds of the raw probability) and isotonic regression (pool adjacent
//! violators, linear interpolation between fitted points, clipped outside — as
//! scikit-learn's `IsotonicRegression(out_of_bounds="clip")`). Serialisable.

use crate::error::{ModelError, Result};
use crate::logistic::sigmoid;
use crate::metric::check_inputs;
use serde::{Deserialize, Serialize};

/// Which calibration to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationMethod {
    /// No calibration.
    #[default]
    None,
    /// Platt scaling.
    Platt,
    /// Isotonic regression.
    Isotonic,
}

impl std::str::FromStr for CalibrationMethod {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(CalibrationMethod::None),
            "platt" | "sigmoid" => Ok(CalibrationMethod::Platt),
            "isotonic" => Ok(CalibrationMethod::Isotonic),
            o => Err(ModelError::Invalid(format!(
                "unknown calibration `{o}` (none, platt, isotonic)"
            ))),
        }
    }
}

/// A fitted calibration map from raw model probability to calibrated probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Calibrator {
    /// Identity.
    #[default]
    Identity,
    /// `q = σ(a · logit(p) + b)`.
    Platt {
        /// Slope on the log-odds.
        a: f64,
        /// Intercept.
        b: f64,
    },
    /// Piecewise-linear non-decreasing map through `(x[i], y[i])`, constant outside.
    Isotonic {
        /// Increasing raw probabilities.
        x: Vec<f64>,
        /// Calibrated values at `x` (non-decreasing).
        y: Vec<f64>,
    },
}

const LOGIT_EPS: f64 = 1e-15;

fn logit(p: f64) -> f64 {
    let p = p.clamp(LOGIT_EPS, 1.0 - LOGIT_EPS);
    (p / (1.0 - p)).ln()
}

impl Calibrator {
    /// Fits `method` on validation probabilities and labels.
    pub fn fit(method: CalibrationMethod, probs: &[f64], labels: &[f32]) -> Result<Self> {
        match method {
            CalibrationMethod::None => Ok(Calibrator::Identity),
            CalibrationMethod::Platt => Self::fit_platt(probs, labels),
            CalibrationMethod::Isotonic => Self::fit_isotonic(probs, labels),
        }
    }

    /// Platt scaling with Platt's smoothed targets `(N₊+1)/(N₊+2)` and `1/(N₋+2)`, fitted by
    /// Newton's method with backtracking.
    pub fn fit_platt(probs: &[f64], labels: &[f32]) -> Result<Self> {
        check_inputs(labels, probs, None)?;
        let n_pos = labels.iter().filter(|&&l| l == 1.0).count() as f64;
        let n_neg = labels.len() as f64 - n_pos;
        if n_pos == 0.0 || n_neg == 0.0 {
            return Err(ModelError::Invalid(
                "Platt scaling needs both classes".into(),
            ));
        }
        let t_pos = (n_pos + 1.0) / (n_pos + 2.0);
        let t_neg = 1.0 / (n_neg + 2.0);
        let s: Vec<f64> = probs.iter().map(|&p| logit(p)).collect();
        let t: Vec<f64> = labels
            .iter()
            .map(|&l| if l == 1.0 { t_pos } else { t_neg })
            .collect();
        let loss = |a: f64, b: f64| -> f64 {
            s.iter()
                .zip(&t)
                .map(|(&si, &ti)| {
                    let m = a * si + b;
                    let l1p = if m > 0.0 {
                        m + (-m).exp().ln_1p()
                    } else {
                        m.exp().ln_1p()
                    };
                    l1p - ti * m
                })
                .sum()
        };
        let (mut a, mut b) = (1.0, 0.0);
        let mut f = loss(a, b);
        for _ in 0..100 {
            let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for (&si, &ti) in s.iter().zip(&t) {
                let p = sigmoid(a * si + b);
                let d = p - ti;
                ga += d * si;
                gb += d;
                let h = p * (1.0 - p);
                haa += h * si * si;
                hab += h * si;
                hbb += h;
            }
            haa += 1e-12;
            hbb += 1e-12;
            let det = haa * hbb - hab * hab;
            if det <= 0.0 || !det.is_finite() {
                break;
            }
            let da = (hbb * ga - hab * gb) / det;
            let db = (haa * gb - hab * ga) / det;
            let mut step = 1.0;
            let mut moved = false;
            while step > 1e-10 {
                let (na, nb) = (a - step * da, b - step * db);
                let nf = loss(na, nb);
                if nf <= f {
                    a = na;
                    b = nb;
                    f = nf;
                    moved = true;
                    break;
                }
                step *= 0.5;
            }
            if !moved || (step * da).abs().max((step * db).abs()) < 1e-12 {
                break;
            }
        }
        if !a.is_finite() || !b.is_finite() {
            return Err(ModelError::Invalid("Platt scaling diverged".into()));
        }
        Ok(Calibrator::Platt { a, b })
    }

    /// Isotonic regression (PAV). Tied probabilities are pooled first (weighted by count).
    pub fn fit_isotonic(probs: &[f64], labels: &[f32]) -> Result<Self> {
        check_inputs(labels, probs, None)?;
        if probs.is_empty() {
            return Err(ModelError::Invalid(
                "isotonic calibration of no rows".into(),
            ));
        }
        let mut order: Vec<usize> = (0..probs.len()).collect();
        order.sort_unstable_by(|&i, &j| probs[i].total_cmp(&probs[j]));
        // Pool ties: (x, mean y, weight).
        let mut xs: Vec<f64> = Vec::new();
        let mut ys: Vec<f64> = Vec::new();
        let mut ws: Vec<f64> = Vec::new();
        for &i in &order {
            let (x, y) = (probs[i], f64::from(labels[i]));
            if xs.last() == Some(&x) {
                let k = xs.len() - 1;
                ys[k] = (ys[k] * ws[k] + y) / (ws[k] + 1.0);
                ws[k] += 1.0;
            } else {
                xs.push(x);
                ys.push(y);
                ws.push(1.0);
            }
        }
        // Pool adjacent violators over blocks.
        let mut bv: Vec<f64> = Vec::with_capacity(xs.len());
        let mut bw: Vec<f64> = Vec::with_capacity(xs.len());
        let mut blen: Vec<usize> = Vec::with_capacity(xs.len());
        for k in 0..xs.len() {
            bv.push(ys[k]);
            bw.push(ws[k]);
            blen.push(1);
            while bv.len() > 1 && bv[bv.len() - 2] > bv[bv.len() - 1] {
                let (v2, w2, l2) = (bv.pop(), bw.pop(), blen.pop());
                let (Some(v2), Some(w2), Some(l2)) = (v2, w2, l2) else {
                    break;
                };
                let k1 = bv.len() - 1;
                bv[k1] = (bv[k1] * bw[k1] + v2 * w2) / (bw[k1] + w2);
                bw[k1] += w2;
                blen[k1] += l2;
            }
        }
        let mut y = Vec::with_capacity(xs.len());
        for (v, l) in bv.iter().zip(&blen) {
            y.extend(std::iter::repeat_n(*v, *l));
        }
        // Keep only the points where the map changes slope (first and last of each block).
        let mut kx = Vec::new();
        let mut ky = Vec::new();
        for k in 0..xs.len() {
            let keep = k == 0 || k + 1 == xs.len() || y[k] != y[k - 1] || y[k] != y[k + 1];
            if keep {
                kx.push(xs[k]);
                ky.push(y[k]);
            }
        }
        Ok(Calibrator::Isotonic { x: kx, y: ky })
    }

    /// Calibrates one probability.
    pub fn apply(&self, p: f64) -> f64 {
        match self {
            Calibrator::Identity => p,
            Calibrator::Platt { a, b } => sigmoid(a * logit(p) + b),
            Calibrator::Isotonic { x, y } => {
                if x.is_empty() || p.is_nan() {
                    return p;
                }
                let k = x.partition_point(|&v| v <= p);
                if k == 0 {
                    return y[0];
                }
                if k == x.len() {
                    return y[x.len() - 1];
                }
                let (x0, x1, y0, y1) = (x[k - 1], x[k], y[k - 1], y[k]);
                if x1 == x0 {
                    y1
                } else {
                    y0 + (y1 - y0) * (p - x0) / (x1 - x0)
                }
            }
        }
    }

    /// Calibrates every probability.
    pub fn apply_all(&self, probs: &[f64]) -> Vec<f64> {
        probs.iter().map(|&p| self.apply(p)).collect()
    }

    /// The method of this calibrator.
    pub fn method(&self) -> CalibrationMethod {
        match self {
            Calibrator::Identity => CalibrationMethod::None,
            Calibrator::Platt { .. } => CalibrationMethod::Platt,
            Calibrator::Isotonic { .. } => CalibrationMethod::Isotonic,
        }
    }
}
