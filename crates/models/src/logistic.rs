//! Logistic-regression baseline: features standardised on the training data, L2 penalty,
//! class weights, fitted by Newton's method (exact, deterministic: partial sums are
//! reduced in a fixed order whatever the thread count).
//!
//! Objective: `Σ wᵢ·logloss(yᵢ, pᵢ) / Σ wᵢ + (l2 / 2)·‖β‖²` (intercept not penalised), with
//! `wᵢ` = sample weight × class weight. Missing values (`NaN`) are imputed with the
//! training mean (standardised value 0).

// Index loops mirror the maths of the Newton step (gradient, Hessian, Cholesky).
#![allow(clippy::needless_range_loop)]

use crate::data::{Dataset, MatrixRef};
use crate::error::{ModelError, Result};
use crate::estimator::{check_row, Estimator, Model, ModelKind};
use crate::imbalance::ClassWeight;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Hyperparameters of [`Logistic`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogisticParams {
    /// L2 strength on standardised coefficients (mean-loss scale).
    pub l2: f64,
    /// Class weights.
    pub class_weight: ClassWeight,
    /// Maximum Newton iterations.
    pub max_iter: usize,
    /// Stop when the largest Newton step is below this.
    pub tol: f64,
}

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams {
            l2: 1e-4,
            class_weight: ClassWeight::None,
            max_iter: 50,
            tol: 1e-9,
        }
    }
}

/// A fitted logistic regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    format: String,
    feature_names: Vec<String>,
    mean: Vec<f64>,
    scale: Vec<f64>,
    intercept: f64,
    coef: Vec<f64>,
    iterations: usize,
    params: LogisticParams,
}

const FORMAT: &str = "shopsense-logistic-v1";
const BLOCK: usize = 8192;

/// Numerically stable logistic function.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

fn standardised(x: &[f32], mean: &[f64], scale: &[f64], out: &mut [f64]) {
    for j in 0..x.len() {
        let v = f64::from(x[j]);
        out[j] = if v.is_nan() {
            0.0
        } else {
            (v - mean[j]) / scale[j]
        };
    }
}

struct Partial {
    loss: f64,
    grad: Vec<f64>,
    hess: Vec<f64>, // upper triangle, row-major, size q*(q+1)/2
}

impl Logistic {
    /// Intercept and standardised coefficients.
    pub fn coefficients(&self) -> (f64, &[f64]) {
        (self.intercept, &self.coef)
    }
    /// Newton iterations used.
    pub fn iterations(&self) -> usize {
        self.iterations
    }
    /// Intercept plus the coefficients times the standardised row (a missing value counts
    /// as the mean), summed in column order.
    fn margin(&self, row: &[f32]) -> f64 {
        let mut z = self.intercept;
        for j in 0..row.len() {
            let v = f64::from(row[j]);
            let s = if v.is_nan() {
                0.0
            } else {
                (v - self.mean[j]) / self.scale[j]
            };
            z += self.coef[j] * s;
        }
        z
    }
}

fn solve_cholesky(a: &mut [f64], b: &mut [f64], q: usize) -> Result<()> {
    // a: full q×q symmetric positive definite, overwritten by L.
    for j in 0..q {
        let mut d = a[j * q + j];
        for k in 0..j {
            d -= a[j * q + k] * a[j * q + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return Err(ModelError::Invalid(
                "logistic regression Hessian is singular (add L2)".into(),
            ));
        }
        let d = d.sqrt();
        a[j * q + j] = d;
        for i in (j + 1)..q {
            let mut s = a[i * q + j];
            for k in 0..j {
                s -= a[i * q + k] * a[j * q + k];
            }
            a[i * q + j] = s / d;
        }
    }
    for i in 0..q {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * q + k] * b[k];
        }
        b[i] = s / a[i * q + i];
    }
    for i in (0..q).rev() {
        let mut s = b[i];
        for k in (i + 1)..q {
            s -= a[k * q + i] * b[k];
        }
        b[i] = s / a[i * q + i];
    }
    Ok(())
}

impl Model for Logistic {
    fn kind(&self) -> ModelKind {
        ModelKind::Logistic
    }
    fn name(&self) -> String {
        format!("logistic(l2={})", self.params.l2)
    }
    fn feature_names(&self) -> &[String] {
        &self.feature_names
    }
    fn predict_proba(&self, x: MatrixRef<'_>) -> Result<Vec<f64>> {
        x.expect_cols(self.coef.len())?;
        let mut out = vec![0f64; x.n_rows()];
        out.par_chunks_mut(BLOCK).enumerate().for_each(|(b, dst)| {
            for (r, o) in dst.iter_mut().enumerate() {
                *o = sigmoid(self.margin(x.row(b * BLOCK + r)));
            }
        });
        Ok(out)
    }
    fn predict_one(&self, row: &[f32]) -> Result<f64> {
        check_row(row, self.coef.len())?;
        Ok(sigmoid(self.margin(row)))
    }
    fn feature_importance(&self) -> Vec<(String, f64)> {
        self.feature_names
            .iter()
            .cloned()
            .zip(self.coef.iter().map(|c| c.abs()))
            .collect()
    }
    fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| ModelError::format("logistic model", e))
    }
}

impl Estimator for Logistic {
    type Params = LogisticParams;
    const KIND: ModelKind = ModelKind::Logistic;

    fn fit(data: &Dataset, params: &LogisticParams) -> Result<Self> {
        data.check_binary()?;
        if !(params.l2 >= 0.0 && params.l2.is_finite()) {
            return Err(ModelError::param("l2", "must be ≥ 0"));
        }
        let n = data.n_rows();
        let p = data.n_features();
        let x = data.x();
        // Standardisation statistics (NaN ignored).
        let mut mean = vec![0f64; p];
        let mut count = vec![0usize; p];
        for i in 0..n {
            for (j, &v) in x.row(i).iter().enumerate() {
                if !v.is_nan() {
                    mean[j] += f64::from(v);
                    count[j] += 1;
                }
            }
        }
        for j in 0..p {
            mean[j] = if count[j] > 0 {
                mean[j] / count[j] as f64
            } else {
                0.0
            };
        }
        let mut var = vec![0f64; p];
        for i in 0..n {
            for (j, &v) in x.row(i).iter().enumerate() {
                if !v.is_nan() {
                    let d = f64::from(v) - mean[j];
                    var[j] += d * d;
                }
            }
        }
        let scale: Vec<f64> = (0..p)
            .map(|j| {
                let s = if count[j] > 0 {
                    (var[j] / count[j] as f64).sqrt()
                } else {
                    0.0
                };
                if s > 0.0 && s.is_finite() {
                    s
                } else {
                    1.0
                }
            })
            .collect();
        let (w0, w1) = params.class_weight.weights(data.labels())?;
        let labels = data.labels();
        let row_w = |i: usize| data.weight(i) * if labels[i] == 1.0 { w1 } else { w0 };
        let total_w: f64 = (0..n).map(row_w).sum();
        if total_w <= 0.0 {
            return Err(ModelError::Invalid("all sample weights are zero".into()));
        }
        let q = p + 1;
        let tri = q * (q + 1) / 2;
        let mut theta = vec![0f64; q];
        // Start from the weighted base rate.
        let pos_w: f64 = (0..n).filter(|&i| labels[i] == 1.0).map(row_w).sum();
        let base = (pos_w / total_w).clamp(1e-12, 1.0 - 1e-12);
        theta[0] = (base / (1.0 - base)).ln();

        let eval = |theta: &[f64], with_hess: bool| -> Partial {
            let parts: Vec<Partial> = (0..n.div_ceil(BLOCK))
                .into_par_iter()
                .map(|b| {
                    let mut part = Partial {
                        loss: 0.0,
                        grad: vec![0.0; q],
                        hess: if with_hess {
                            vec![0.0; tri]
                        } else {
                            Vec::new()
                        },
                    };
                    let mut z = vec![0f64; q];
                    z[0] = 1.0;
                    for i in b * BLOCK..((b + 1) * BLOCK).min(n) {
                        standardised(x.row(i), &mean, &scale, &mut z[1..]);
                        let m: f64 = theta.iter().zip(&z).map(|(t, v)| t * v).sum();
                        let w = row_w(i);
                        let y = f64::from(labels[i]);
                        // log(1 + e^m) - y m, stable.
                        let l = if m > 0.0 {
                            m + (-m).exp().ln_1p()
                        } else {
                            m.exp().ln_1p()
                        };
                        part.loss += w * (l - y * m);
                        let pr = sigmoid(m);
                        let g = w * (pr - y);
                        for (gj, zj) in part.grad.iter_mut().zip(&z) {
                            *gj += g * zj;
                        }
                        if with_hess {
                            let h = w * pr * (1.0 - pr);
                            let mut k = 0;
                            for a in 0..q {
                                let ha = h * z[a];
                                for bb in a..q {
                                    part.hess[k] += ha * z[bb];
                                    k += 1;
                                }
                            }
                        }
                    }
                    part
                })
                .collect();
            let mut acc = Partial {
                loss: 0.0,
                grad: vec![0.0; q],
                hess: if with_hess {
                    vec![0.0; tri]
                } else {
                    Vec::new()
                },
            };
            for part in parts {
                acc.loss += part.loss;
                for (a, b) in acc.grad.iter_mut().zip(&part.grad) {
                    *a += b;
                }
                for (a, b) in acc.hess.iter_mut().zip(&part.hess) {
                    *a += b;
                }
            }
            acc.loss /= total_w;
            acc.grad.iter_mut().for_each(|g| *g /= total_w);
            acc.hess.iter_mut().for_each(|h| *h /= total_w);
            let pen: f64 = theta[1..].iter().map(|t| t * t).sum::<f64>();
            acc.loss += 0.5 * params.l2 * pen;
            for j in 1..q {
                acc.grad[j] += params.l2 * theta[j];
            }
            acc
        };

        let mut iterations = 0;
        let mut cur = eval(&theta, true);
        for _ in 0..params.max_iter {
            iterations += 1;
            let mut h = vec![0f64; q * q];
            let mut k = 0;
            for a in 0..q {
                for b in a..q {
                    h[a * q + b] = cur.hess[k];
                    h[b * q + a] = cur.hess[k];
                    k += 1;
                }
            }
            for j in 0..q {
                // L2 on coefficients; a tiny ridge keeps an unpenalised intercept solvable.
                h[j * q + j] += if j == 0 { 1e-12 } else { params.l2 + 1e-12 };
            }
            let mut step = cur.grad.clone();
            solve_cholesky(&mut h, &mut step, q)?;
            // Backtracking on the objective keeps Newton monotone.
            let mut t = 1.0;
            let mut accepted = None;
            for _ in 0..30 {
                let cand: Vec<f64> = theta.iter().zip(&step).map(|(a, s)| a - t * s).collect();
                let e = eval(&cand, true);
                if e.loss <= cur.loss + 1e-15 {
                    accepted = Some((cand, e));
                    break;
                }
                t *= 0.5;
            }
            let max_step = step.iter().fold(0f64, |m, s| m.max((t * s).abs()));
            match accepted {
                Some((cand, e)) => {
                    theta = cand;
                    cur = e;
                }
                None => break,
            }
            if max_step < params.tol {
                break;
            }
        }
        if theta.iter().any(|t| !t.is_finite()) {
            return Err(ModelError::Invalid(
                "logistic regression diverged (add L2)".into(),
            ));
        }
        Ok(Logistic {
            format: FORMAT.to_string(),
            feature_names: data.feature_names().to_vec(),
            mean,
            scale,
            intercept: theta[0],
            coef: theta[1..].to_vec(),
            iterations,
            params: params.clone(),
        })
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let m: Logistic =
            serde_json::from_slice(bytes).map_err(|e| ModelError::format("logistic model", e))?;
        let p = m.feature_names.len();
        if m.format != FORMAT || m.mean.len() != p || m.scale.len() != p || m.coef.len() != p {
            return Err(ModelError::format("logistic model", "inconsistent fields"));
        }
        Ok(m)
    }
}
