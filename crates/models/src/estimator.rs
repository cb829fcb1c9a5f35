//! The one estimator interface: [`Model`] (score, explain, serialise — object safe) and
//! [`Estimator`] (adds `fit` and `from_bytes`), plus [`AnyModel`] to hold any kind.

use crate::data::{Dataset, MatrixRef};
use crate::error::{ModelError, Result};
use crate::{blend::Blend, forest::RandomForest, gbdt::Gbdt, logistic::Logistic};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::path::Path;

/// Which model family a serialised model belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// LightGBM gradient-boosted trees ([`Gbdt`]); bytes are LightGBM's model text.
    Gbdt,
    /// L2-regularised logistic regression on standardised features ([`Logistic`]); JSON.
    Logistic,
    /// The reference method `seed-rf`: 20 trees, depth 5, on 1:1 undersampled data
    /// ([`RandomForest`]); JSON.
    SeedRf,
    /// An equal-weight blend of fitted models in standardised log-odds ([`Blend`]); JSON
    /// holding every member's own bytes.
    Blend,
}

impl ModelKind {
    /// The kind's stable name (`gbdt`, `logistic`, `seed-rf`).
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Gbdt => "gbdt",
            ModelKind::Logistic => "logistic",
            ModelKind::SeedRf => "seed-rf",
            ModelKind::Blend => "blend",
        }
    }
}

impl std::str::FromStr for ModelKind {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "gbdt" | "lightgbm" => Ok(ModelKind::Gbdt),
            "logistic" | "lr" => Ok(ModelKind::Logistic),
            "seed-rf" | "rf" => Ok(ModelKind::SeedRf),
            "blend" => Ok(ModelKind::Blend),
            other => Err(ModelError::Invalid(format!(
                "unknown model kind `{other}` (gbdt, logistic, seed-rf, blend)"
            ))),
        }
    }
}

/// Fails unless `row` has `n` values.
pub(crate) fn check_row(row: &[f32], n: usize) -> Result<()> {
    if row.len() == n {
        Ok(())
    } else {
        Err(ModelError::Shape(format!(
            "model expects {n} features, the row has {}",
            row.len()
        )))
    }
}

/// A fitted model: score, explain and serialise. Object safe (`Box<dyn Model>` works).
///
/// Binary models return P(class 1) from [`Model::predict_proba`]. A `K`-class model
/// (e.g. next action view/cart/purchase) reports `n_classes() == K` and returns
/// `n_rows × K` row-major probabilities from [`Model::predict_proba_multi`]; its
/// `predict_proba` fails with [`ModelError::Unsupported`].
pub trait Model: Send + Sync {
    /// The model family.
    fn kind(&self) -> ModelKind;
    /// A short human-readable name, e.g. `gbdt(255 rounds, 31 leaves)`.
    fn name(&self) -> String;
    /// Names of the features the model was trained on, in column order.
    fn feature_names(&self) -> &[String];
    /// Number of input columns expected.
    fn n_features(&self) -> usize {
        self.feature_names().len()
    }
    /// Number of classes (2 for binary models).
    fn n_classes(&self) -> usize {
        2
    }
    /// P(class 1) for every row of a binary model.
    fn predict_proba(&self, x: MatrixRef<'_>) -> Result<Vec<f64>>;
    /// P(class 1) of one row (`n_features()` values) of a binary model: the same bits as
    /// [`Model::predict_proba`] of a one-row matrix. Families that can score a row without
    /// allocating override it (the stream scores every event by itself).
    fn predict_one(&self, row: &[f32]) -> Result<f64> {
        check_row(row, self.n_features())?;
        let p = self.predict_proba(MatrixRef::new(row, 1, row.len())?)?;
        Ok(p.first().copied().unwrap_or(f64::NAN))
    }
    /// Class probabilities, `n_rows × n_classes` row-major. For a binary model: `[1-p, p]`.
    fn predict_proba_multi(&self, x: MatrixRef<'_>) -> Result<Vec<f64>> {
        let p = self.predict_proba(x)?;
        Ok(p.iter().flat_map(|&p| [1.0 - p, p]).collect())
    }
    /// Feature importance as `(name, value)` in column order (meaning depends on the kind:
    /// total split gain for trees, |standardised coefficient| for logistic regression).
    fn feature_importance(&self) -> Vec<(String, f64)>;
    /// Serialises the fitted model (LightGBM text or JSON, UTF-8).
    fn to_bytes(&self) -> Result<Vec<u8>>;
    /// Saves [`Model::to_bytes`] to `path` atomically.
    fn save(&self, path: &Path) -> Result<()> {
        crate::io::atomic_write(path, &self.to_bytes()?)
    }
}

/// A model family that can be fitted and deserialised.
pub trait Estimator: Model + Sized {
    /// Hyperparameters.
    type Params: Clone + Debug + Default + Serialize + DeserializeOwned;
    /// The family tag written next to the bytes.
    const KIND: ModelKind;
    /// Fits on `data` (binary unless the params say otherwise).
    fn fit(data: &Dataset, params: &Self::Params) -> Result<Self>;
    /// Fits with a validation set (used for early stopping where the family supports it;
    /// ignored otherwise).
    fn fit_with_valid(
        train: &Dataset,
        valid: Option<&Dataset>,
        params: &Self::Params,
    ) -> Result<Self> {
        let _ = valid;
        Self::fit(train, params)
    }
    /// Restores a model from [`Model::to_bytes`].
    fn from_bytes(bytes: &[u8]) -> Result<Self>;
    /// Loads a model written by [`Model::save`].
    fn load(path: &Path) -> Result<Self> {
        Self::from_bytes(&crate::io::read(path)?)
    }
}

/// Any fitted model, tagged by kind (what a [`crate::Bundle`] holds).
#[derive(Debug)]
pub enum AnyModel {
    /// LightGBM GBDT.
    Gbdt(Gbdt),
    /// Logistic regression.
    Logistic(Logistic),
    /// The seed-rf random forest.
    SeedRf(RandomForest),
    /// A blend of the others.
    Blend(Blend),
}

impl AnyModel {
    /// Restores a model of `kind` from its bytes.
    pub fn from_kind_bytes(kind: ModelKind, bytes: &[u8]) -> Result<Self> {
        Ok(match kind {
            ModelKind::Gbdt => AnyModel::Gbdt(Gbdt::from_bytes(bytes)?),
            ModelKind::Logistic => AnyModel::Logistic(Logistic::from_bytes(bytes)?),
            ModelKind::SeedRf => AnyModel::SeedRf(RandomForest::from_bytes(bytes)?),
            ModelKind::Blend => AnyModel::Blend(Blend::from_bytes(bytes)?),
        })
    }
    fn inner(&self) -> &dyn Model {
        match self {
            AnyModel::Gbdt(m) => m,
            AnyModel::Logistic(m) => m,
            AnyModel::SeedRf(m) => m,
            AnyModel::Blend(m) => m,
        }
    }
}

impl From<Gbdt> for AnyModel {
    fn from(m: Gbdt) -> Self {
        AnyModel::Gbdt(m)
    }
}
impl From<Logistic> for AnyModel {
    fn from(m: Logistic) -> Self {
        AnyModel::Logistic(m)
    }
}
impl From<Blend> for AnyModel {
    fn from(m: Blend) -> Self {
        AnyModel::Blend(m)
    }
}
impl From<RandomForest> for AnyModel {
    fn from(m: RandomForest) -> Self {
        AnyModel::SeedRf(m)
    }
}

impl Model for AnyModel {
    fn kind(&self) -> ModelKind {
        self.inner().kind()
    }
    fn name(&self) -> String {
        self.inner().name()
    }
    fn feature_names(&self) -> &[String] {
        self.inner().feature_names()
    }
    fn n_classes(&self) -> usize {
        self.inner().n_classes()
    }
    fn predict_proba(&self, x: MatrixRef<'_>) -> Result<Vec<f64>> {
        self.inner().predict_proba(x)
    }
    // Forwarded, or a family's own allocation-free one-row path would be lost behind the
    // default, which builds a one-row matrix and scores it through `predict_proba` (for
    // logistic regression, rayon's iterator bridge on every streamed event).
    fn predict_one(&self, row: &[f32]) -> Result<f64> {
        self.inner().predict_one(row)
    }
    fn predict_proba_multi(&self, x: MatrixRef<'_>) -> Result<Vec<f64>> {
        self.inner().predict_proba_multi(x)
    }
    fn feature_importance(&self) -> Vec<(String, f64)> {
        self.inner().feature_importance()
    }
    fn to_bytes(&self) -> Result<Vec<u8>> {
        self.inner().to_bytes()
    }
}
