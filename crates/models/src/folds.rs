//! Validation folds. The caller supplies `(train_idx, valid_idx)` pairs; for rows sorted by
//! session start time, [`rolling_origin_folds`] builds the usual expanding-window folds.

use crate::error::{ModelError, Result};

/// A `(train_idx, valid_idx)` pair of row indices.
pub type Fold = (Vec<usize>, Vec<usize>);

/// Rolling-origin (expanding window) folds over `n` rows **already sorted by time**: the
/// rows are cut into `k + 1` contiguous blocks of (nearly) equal size; fold `i` trains on
/// blocks `0..=i` and validates on block `i + 1`. Validation always lies after training.
pub fn rolling_origin_folds(n: usize, k: usize) -> Result<Vec<Fold>> {
    if k == 0 {
        return Err(ModelError::param("k", "needs at least one fold"));
    }
    if n < k + 1 {
        return Err(ModelError::Invalid(format!(
            "{n} rows cannot make {k} rolling-origin folds"
        )));
    }
    let bound = |b: usize| b * n / (k + 1);
    Ok((0..k)
        .map(|i| {
            let cut = bound(i + 1);
            ((0..cut).collect(), (cut..bound(i + 2)).collect())
        })
        .collect())
}

/// Checks every index is `< n` and that train and valid of each fold are non-empty.
pub fn validate_folds(folds: &[Fold], n: usize) -> Result<()> {
    if folds.is_empty() {
        return Err(ModelError::Invalid("no folds".into()));
    }
    for (f, (tr, va)) in folds.iter().enumerate() {
        if tr.is_empty() || va.is_empty() {
            return Err(ModelError::Invalid(format!("fold {f} has an empty side")));
        }
        if let Some(&i) = tr.iter().chain(va).find(|&&i| i >= n) {
            return Err(ModelError::Invalid(format!(
                "fold {f} has row {i} but the data has {n} rows"
            )));
        }
    }
    Ok(())
}
