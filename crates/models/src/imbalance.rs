//! Class imbalance: class weights and undersampling, selectable with [`Imbalance`].

use crate::data::Dataset;
use crate::error::{ModelError, Result};
use crate::rng::SplitMix64;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Per-class weights for a binary task.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// All rows weigh 1.
    #[default]
    None,
    /// `n / (2 · n_c)` for class `c` (scikit-learn's `class_weight="balanced"`).
    Balanced,
    /// Explicit weights.
    Custom {
        /// Weight of class 0.
        negative: f64,
        /// Weight of class 1.
        positive: f64,
    },
}

impl ClassWeight {
    /// `(w0, w1)` for these binary labels.
    pub fn weights(&self, labels: &[f32]) -> Result<(f64, f64)> {
        match *self {
            ClassWeight::None => Ok((1.0, 1.0)),
            ClassWeight::Balanced => balanced_class_weights(labels),
            ClassWeight::Custom { negative, positive } => {
                if negative >= 0.0
                    && positive >= 0.0
                    && negative.is_finite()
                    && positive.is_finite()
                {
                    Ok((negative, positive))
                } else {
                    Err(ModelError::param(
                        "class_weight",
                        "weights must be finite and ≥ 0",
                    ))
                }
            }
        }
    }
}

/// scikit-learn's balanced weights `n / (2 · n_c)` for binary labels.
pub fn balanced_class_weights(labels: &[f32]) -> Result<(f64, f64)> {
    let n = labels.len() as f64;
    let pos = labels.iter().filter(|&&l| l == 1.0).count() as f64;
    let neg = n - pos;
    if pos == 0.0 || neg == 0.0 {
        return Err(ModelError::Invalid(
            "balanced class weights need both classes".into(),
        ));
    }
    Ok((n / (2.0 * neg), n / (2.0 * pos)))
}

/// Returns `data` with sample weights multiplied by the class weight of each row.
pub fn apply_class_weights(data: &Dataset, cw: ClassWeight) -> Result<Dataset> {
    let (w0, w1) = cw.weights(data.labels())?;
    let weights: Vec<f32> = (0..data.n_rows())
        .map(|i| {
            let c = if data.labels()[i] == 1.0 { w1 } else { w0 };
            (data.weight(i) * c) as f32
        })
        .collect();
    data.clone().with_weights(Some(weights))
}

/// Row indices of a random undersample: every positive row and `ratio` negatives per
/// positive (all negatives if there are fewer), ascending (time order is kept).
pub fn undersample_indices(labels: &[f32], ratio: f64, seed: u64) -> Result<Vec<usize>> {
    if !(ratio > 0.0 && ratio.is_finite()) {
        return Err(ModelError::param(
            "ratio",
            "negatives per positive must be > 0",
        ));
    }
    let (pos, neg): (Vec<usize>, Vec<usize>) = (0..labels.len()).partition(|&i| labels[i] == 1.0);
    if pos.is_empty() {
        return Err(ModelError::Invalid(
            "undersampling needs positive rows".into(),
        ));
    }
    let k = ((pos.len() as f64) * ratio).round() as usize;
    let mut rng = SplitMix64::with_stream(seed, 0x0075_6e64_6572);
    let picked = rng.sample_indices(neg.len(), k);
    let mut idx: Vec<usize> = pos;
    idx.extend(picked.into_iter().map(|j| neg[j]));
    idx.sort_unstable();
    Ok(idx)
}

/// Random undersample of the negative class to `ratio` negatives per positive
/// (`ratio = 1.0` gives 1:1), seeded and order-preserving.
pub fn undersample(data: &Dataset, ratio: f64, seed: u64) -> Result<Dataset> {
    data.subset(&undersample_indices(data.labels(), ratio, seed)?)
}

/// How to treat class imbalance before fitting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum Imbalance {
    /// Train on the data as is.
    #[default]
    None,
    /// Multiply sample weights by class weights.
    ClassWeights {
        /// The weights.
        weights: ClassWeight,
    },
    /// Undersample negatives.
    Undersample {
        /// Negatives per positive.
        ratio: f64,
        /// Sampling seed.
        seed: u64,
    },
}

impl Imbalance {
    /// Applies the treatment (borrows when there is nothing to do).
    pub fn apply<'a>(&self, data: &'a Dataset) -> Result<Cow<'a, Dataset>> {
        Ok(match *self {
            Imbalance::None => Cow::Borrowed(data),
            Imbalance::ClassWeights { weights } => Cow::Owned(apply_class_weights(data, weights)?),
            Imbalance::Undersample { ratio, seed } => Cow::Owned(undersample(data, ratio, seed)?),
        })
    }
}
