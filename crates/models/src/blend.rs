//! [`Blend`]: an equal-weight average of fitted binary models in standardised log-odds.
//!
//! Each member reads its own columns of one shared matrix (a logistic model may leave out
//! hashed codes, `seed-rf` reads six columns) and its log-odds are centred and scaled by
//! their mean and standard deviation on a reference matrix (the training rows), so that a
//! member whose scores spread wider does not outvote the others. The blend's score is the
//! logistic of the mean standardised log-odds: a ranking score, to be calibrated like any
//! other model's. On small training sets the average is steadier than any one member (their
//! errors differ), which is what it is for.

use crate::data::{Matrix, MatrixRef};
use crate::error::{ModelError, Result};
use crate::estimator::{AnyModel, Model, ModelKind};
use serde::{Deserialize, Serialize};

/// Probabilities are clamped to `[EPS, 1 - EPS]` before the log-odds.
const EPS: f64 = 1e-7;

/// One member: a fitted model, the columns it reads and its standardisation.
#[derive(Debug)]
struct Member {
    model: AnyModel,
    /// Positions of the member's features in the blend's columns (`None`: all, in order).
    columns: Option<Vec<usize>>,
    center: f64,
    scale: f64,
}

/// An equal-weight blend of binary models (see the module docs).
#[derive(Debug)]
pub struct Blend {
    feature_names: Vec<String>,
    members: Vec<Member>,
}

/// The serialised form: every member's own bytes as text.
#[derive(Serialize, Deserialize)]
struct Stored {
    feature_names: Vec<String>,
    members: Vec<StoredMember>,
}

#[derive(Serialize, Deserialize)]
struct StoredMember {
    kind: ModelKind,
    columns: Option<Vec<usize>>,
    center: f64,
    scale: f64,
    model: String,
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(EPS, 1.0 - EPS);
    (p / (1.0 - p)).ln()
}

impl Blend {
    /// Blends `models` over the columns `feature_names`; each member's standardisation is
    /// fitted on its predictions for `reference` (rows of the same columns, normally the
    /// training rows). Fails when a member needs a column `feature_names` lacks, is not
    /// binary, or there are no members or no reference rows.
    pub fn new(
        feature_names: Vec<String>,
        models: Vec<AnyModel>,
        reference: MatrixRef<'_>,
    ) -> Result<Self> {
        if models.is_empty() {
            return Err(ModelError::Invalid(
                "a blend needs at least one model".into(),
            ));
        }
        reference.expect_cols(feature_names.len())?;
        if reference.n_rows() == 0 {
            return Err(ModelError::Invalid(
                "a blend's standardisation needs reference rows".into(),
            ));
        }
        let mut members = Vec::with_capacity(models.len());
        for model in models {
            if model.kind() == ModelKind::Blend || model.n_classes() != 2 {
                return Err(ModelError::Invalid(format!(
                    "{} cannot be a blend member (binary models only, no nested blends)",
                    model.name()
                )));
            }
            let columns = columns_of(&feature_names, model.feature_names())?;
            let mut m = Member {
                model,
                columns,
                center: 0.0,
                scale: 1.0,
            };
            let z: Vec<f64> = m.raw(reference)?.into_iter().map(logit).collect();
            let n = z.len() as f64;
            let mean = z.iter().sum::<f64>() / n;
            let var = z.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            m.center = mean;
            m.scale = var.sqrt().max(1e-6);
            members.push(m);
        }
        Ok(Blend {
            feature_names,
            members,
        })
    }

    /// The members, in order.
    pub fn members(&self) -> impl Iterator<Item = &AnyModel> {
        self.members.iter().map(|m| &m.model)
    }

    /// Restores a blend from [`Model::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let s: Stored =
            serde_json::from_slice(bytes).map_err(|e| ModelError::format("blend model", e))?;
        if s.members.is_empty() {
            return Err(ModelError::Invalid(
                "a blend needs at least one model".into(),
            ));
        }
        let mut members = Vec::with_capacity(s.members.len());
        for m in s.members {
            if m.kind == ModelKind::Blend {
                return Err(ModelError::Invalid(
                    "nested blends are not supported".into(),
                ));
            }
            let model = AnyModel::from_kind_bytes(m.kind, m.model.as_bytes())?;
            let columns = columns_of(&s.feature_names, model.feature_names())?;
            if columns != m.columns {
                return Err(ModelError::Invalid(format!(
                    "blend member {} reads other columns than recorded",
                    model.name()
                )));
            }
            if !(m.scale.is_finite() && m.scale > 0.0 && m.center.is_finite()) {
                return Err(ModelError::Invalid(format!(
                    "blend member {}: bad standardisation ({}, {})",
                    model.name(),
                    m.center,
                    m.scale
                )));
            }
            members.push(Member {
                model,
                columns,
                center: m.center,
                scale: m.scale,
            });
        }
        Ok(Blend {
            feature_names: s.feature_names,
            members,
        })
    }
}

/// Where each of `needed` sits in `names`; `None` when they are the same list.
fn columns_of(names: &[String], needed: &[String]) -> Result<Option<Vec<usize>>> {
    if names == needed {
        return Ok(None);
    }
    needed
        .iter()
        .map(|n| {
            names.iter().position(|c| c == n).ok_or_else(|| {
                ModelError::Invalid(format!("blend member needs column `{n}`, which is missing"))
            })
        })
        .collect::<Result<Vec<usize>>>()
        .map(Some)
}

impl Member {
    fn raw(&self, x: MatrixRef<'_>) -> Result<Vec<f64>> {
        match &self.columns {
            None => self.model.predict_proba(x),
            Some(cols) => {
                let sub: Matrix = x.select_cols(cols)?;
                self.model.predict_proba(sub.view())
            }
        }
    }
}

impl Model for Blend {
    fn kind(&self) -> ModelKind {
        ModelKind::Blend
    }
    fn name(&self) -> String {
        let names: Vec<String> = self.members.iter().map(|m| m.model.name()).collect();
        format!("blend({})", names.join(" + "))
    }
    fn feature_names(&self) -> &[String] {
        &self.feature_names
    }
    fn predict_proba(&self, x: MatrixRef<'_>) -> Result<Vec<f64>> {
        x.expect_cols(self.feature_names.len())?;
        let mut sum = vec![0f64; x.n_rows()];
        for m in &self.members {
            for (s, p) in sum.iter_mut().zip(m.raw(x)?) {
                *s += (logit(p) - m.center) / m.scale;
            }
        }
        let k = self.members.len() as f64;
        Ok(sum
            .into_iter()
            .map(|s| 1.0 / (1.0 + (-s / k).exp()))
            .collect())
    }
    /// Each member's importances scaled to sum to 1, averaged over the members (a column
    /// a member does not read counts 0 for it).
    fn feature_importance(&self) -> Vec<(String, f64)> {
        let mut out = vec![0f64; self.feature_names.len()];
        let k = self.members.len() as f64;
        for m in &self.members {
            let imp = m.model.feature_importance();
            let total: f64 = imp.iter().map(|(_, v)| v.abs()).sum();
            if total <= 0.0 || !total.is_finite() {
                continue;
            }
            for (j, (_, v)) in imp.iter().enumerate() {
                let col = match &m.columns {
                    None => j,
                    Some(c) => c[j],
                };
                out[col] += v.abs() / total / k;
            }
        }
        self.feature_names.iter().cloned().zip(out).collect()
    }
    fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut members = Vec::with_capacity(self.members.len());
        for m in &self.members {
            let model = String::from_utf8(m.model.to_bytes()?).map_err(|e| {
                ModelError::Invalid(format!("blend member bytes are not UTF-8: {e}"))
            })?;
            members.push(StoredMember {
                kind: m.model.kind(),
                columns: m.columns.clone(),
                center: m.center,
                scale: m.scale,
                model,
            });
        }
        serde_json::to_vec(&Stored {
            feature_names: self.feature_names.clone(),
            members,
        })
        .map_err(|e| ModelError::format("blend model", e))
    }
}
