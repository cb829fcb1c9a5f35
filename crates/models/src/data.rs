//! Dense numeric inputs: [`Matrix`], its borrowed view [`MatrixRef`] and the labelled [`Dataset`].
//!
//! Layout: **row-major `f32`** — row `i` is `data[i * n_cols .. (i + 1) * n_cols]`. This is what
//! LightGBM reads without a copy, what a scorer wants (one session = one contiguous row) and
//! half the memory of `f64` (3 M sessions × 40 features = 480 MB). Missing values are `NaN`.

use crate::error::{ModelError, Result};
use xxhash_rust::xxh3::Xxh3;

/// An owned dense matrix, row-major `f32`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    data: Vec<f32>,
    n_rows: usize,
    n_cols: usize,
}

/// A borrowed dense matrix, row-major `f32` (what every `predict` takes).
#[derive(Debug, Clone, Copy)]
pub struct MatrixRef<'a> {
    data: &'a [f32],
    n_rows: usize,
    n_cols: usize,
}

fn check_shape(len: usize, n_rows: usize, n_cols: usize) -> Result<()> {
    match n_rows.checked_mul(n_cols) {
        Some(n) if n == len => Ok(()),
        _ => Err(ModelError::Shape(format!(
            "{len} values cannot form {n_rows} rows × {n_cols} columns"
        ))),
    }
}

impl Matrix {
    /// Wraps row-major values; fails unless `data.len() == n_rows * n_cols`.
    pub fn new(data: Vec<f32>, n_rows: usize, n_cols: usize) -> Result<Self> {
        check_shape(data.len(), n_rows, n_cols)?;
        Ok(Matrix {
            data,
            n_rows,
            n_cols,
        })
    }

    /// Converts row-major `f64` values (as a features crate may produce) to `f32`.
    pub fn from_f64_row_major(data: &[f64], n_rows: usize, n_cols: usize) -> Result<Self> {
        check_shape(data.len(), n_rows, n_cols)?;
        Ok(Matrix {
            data: data.iter().map(|&v| v as f32).collect(),
            n_rows,
            n_cols,
        })
    }

    /// Converts column-major values (column `j` is `data[j * n_rows .. (j + 1) * n_rows]`).
    pub fn from_col_major(data: &[f32], n_rows: usize, n_cols: usize) -> Result<Self> {
        check_shape(data.len(), n_rows, n_cols)?;
        let mut out = vec![0f32; data.len()];
        for j in 0..n_cols {
            let col = &data[j * n_rows..(j + 1) * n_rows];
            for (i, &v) in col.iter().enumerate() {
                out[i * n_cols + j] = v;
            }
        }
        Ok(Matrix {
            data: out,
            n_rows,
            n_cols,
        })
    }

    /// Builds a matrix from rows of equal length.
    pub fn from_rows(rows: &[Vec<f32>]) -> Result<Self> {
        let n_cols = rows.first().map_or(0, Vec::len);
        let mut data = Vec::with_capacity(rows.len() * n_cols);
        for (i, r) in rows.iter().enumerate() {
            if r.len() != n_cols {
                return Err(ModelError::Shape(format!(
                    "row {i} has {} values, row 0 has {n_cols}",
                    r.len()
                )));
            }
            data.extend_from_slice(r);
        }
        Matrix::new(data, rows.len(), n_cols)
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }
    /// Number of columns (features).
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }
    /// The row-major values.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }
    /// Consumes the matrix and returns its row-major values.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }
    /// Row `i` (panics if `i >= n_rows`, like slice indexing).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.n_cols..(i + 1) * self.n_cols]
    }
    /// A borrowed view of the whole matrix.
    pub fn view(&self) -> MatrixRef<'_> {
        MatrixRef {
            data: &self.data,
            n_rows: self.n_rows,
            n_cols: self.n_cols,
        }
    }
    /// Copies the given rows, in the given order. Fails on an out-of-range index.
    pub fn select_rows(&self, idx: &[usize]) -> Result<Matrix> {
        let mut data = Vec::with_capacity(idx.len() * self.n_cols);
        for &i in idx {
            if i >= self.n_rows {
                return Err(ModelError::Shape(format!(
                    "row index {i} out of range for {} rows",
                    self.n_rows
                )));
            }
            data.extend_from_slice(self.row(i));
        }
        Matrix::new(data, idx.len(), self.n_cols)
    }
}

impl<'a> MatrixRef<'a> {
    /// Borrows row-major values; fails unless `data.len() == n_rows * n_cols`.
    pub fn new(data: &'a [f32], n_rows: usize, n_cols: usize) -> Result<Self> {
        check_shape(data.len(), n_rows, n_cols)?;
        Ok(MatrixRef {
            data,
            n_rows,
            n_cols,
        })
    }
    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }
    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }
    /// The row-major values.
    pub fn as_slice(&self) -> &'a [f32] {
        self.data
    }
    /// Row `i` (panics if `i >= n_rows`, like slice indexing).
    pub fn row(&self, i: usize) -> &'a [f32] {
        &self.data[i * self.n_cols..(i + 1) * self.n_cols]
    }
    /// Rows `start..end` as a view (clamped to the matrix).
    pub fn rows(&self, start: usize, end: usize) -> MatrixRef<'a> {
        let end = end.min(self.n_rows);
        let start = start.min(end);
        MatrixRef {
            data: &self.data[start * self.n_cols..end * self.n_cols],
            n_rows: end - start,
            n_cols: self.n_cols,
        }
    }
    /// The columns `cols` (in that order) of every row, as a new matrix.
    pub fn select_cols(&self, cols: &[usize]) -> Result<Matrix> {
        if let Some(&c) = cols.iter().find(|&&c| c >= self.n_cols) {
            return Err(ModelError::Shape(format!(
                "column index {c} out of range for {} columns",
                self.n_cols
            )));
        }
        let mut data = Vec::with_capacity(self.n_rows * cols.len());
        for i in 0..self.n_rows {
            let r = self.row(i);
            data.extend(cols.iter().map(|&c| r[c]));
        }
        Matrix::new(data, self.n_rows, cols.len())
    }
    /// Fails unless the view has `n` columns.
    pub fn expect_cols(&self, n: usize) -> Result<()> {
        if self.n_cols == n {
            Ok(())
        } else {
            Err(ModelError::Shape(format!(
                "model expects {n} features, matrix has {}",
                self.n_cols
            )))
        }
    }
}

/// A labelled training set: features, their names, labels and optional sample weights.
///
/// Labels are `f32`: `0.0`/`1.0` for binary tasks, `0.0 .. K-1` for a `K`-class task.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    x: Matrix,
    feature_names: Vec<String>,
    labels: Vec<f32>,
    weights: Option<Vec<f32>>,
}

impl Dataset {
    /// Validates and wraps the parts: one name per column, one finite label per row, and
    /// (optionally) one finite non-negative weight per row.
    pub fn new(
        x: Matrix,
        feature_names: Vec<String>,
        labels: Vec<f32>,
        weights: Option<Vec<f32>>,
    ) -> Result<Self> {
        if feature_names.len() != x.n_cols() {
            return Err(ModelError::Shape(format!(
                "{} feature names for {} columns",
                feature_names.len(),
                x.n_cols()
            )));
        }
        if labels.len() != x.n_rows() {
            return Err(ModelError::Shape(format!(
                "{} labels for {} rows",
                labels.len(),
                x.n_rows()
            )));
        }
        if let Some(i) = labels.iter().position(|l| !l.is_finite() || *l < 0.0) {
            return Err(ModelError::Invalid(format!(
                "label {} at row {i} is not a non-negative number",
                labels[i]
            )));
        }
        if let Some(w) = &weights {
            if w.len() != x.n_rows() {
                return Err(ModelError::Shape(format!(
                    "{} weights for {} rows",
                    w.len(),
                    x.n_rows()
                )));
            }
            if let Some(i) = w.iter().position(|v| !v.is_finite() || *v < 0.0) {
                return Err(ModelError::Invalid(format!(
                    "weight {} at row {i} is not a finite non-negative number",
                    w[i]
                )));
            }
        }
        Ok(Dataset {
            x,
            feature_names,
            labels,
            weights,
        })
    }

    /// Default feature names `f0, f1, …` for `n` columns.
    pub fn default_names(n: usize) -> Vec<String> {
        (0..n).map(|j| format!("f{j}")).collect()
    }

    /// The feature matrix.
    pub fn x(&self) -> &Matrix {
        &self.x
    }
    /// Feature names, one per column.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }
    /// Labels, one per row.
    pub fn labels(&self) -> &[f32] {
        &self.labels
    }
    /// Sample weights, if any.
    pub fn weights(&self) -> Option<&[f32]> {
        self.weights.as_deref()
    }
    /// Weight of row `i` (1 without weights).
    pub fn weight(&self, i: usize) -> f64 {
        self.weights.as_ref().map_or(1.0, |w| f64::from(w[i]))
    }
    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.x.n_rows()
    }
    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.x.n_cols()
    }
    /// Replaces the sample weights (validated like in [`Dataset::new`]).
    pub fn with_weights(self, weights: Option<Vec<f32>>) -> Result<Self> {
        Dataset::new(self.x, self.feature_names, self.labels, weights)
    }

    /// Copies the given rows (labels and weights follow), in the given order.
    pub fn subset(&self, idx: &[usize]) -> Result<Dataset> {
        let x = self.x.select_rows(idx)?;
        let labels = idx.iter().map(|&i| self.labels[i]).collect();
        let weights = self
            .weights
            .as_ref()
            .map(|w| idx.iter().map(|&i| w[i]).collect());
        Ok(Dataset {
            x,
            feature_names: self.feature_names.clone(),
            labels,
            weights,
        })
    }

    /// Copies the named columns (in the given order); labels and weights follow. Fails
    /// naming the first column the dataset lacks.
    pub fn select_features(&self, names: &[String]) -> Result<Dataset> {
        let cols = names
            .iter()
            .map(|n| {
                self.feature_names
                    .iter()
                    .position(|c| c == n)
                    .ok_or_else(|| ModelError::Invalid(format!("no feature column `{n}`")))
            })
            .collect::<Result<Vec<usize>>>()?;
        Ok(Dataset {
            x: self.x.view().select_cols(&cols)?,
            feature_names: names.to_vec(),
            labels: self.labels.clone(),
            weights: self.weights.clone(),
        })
    }

    /// Number of classes implied by the labels (`max label + 1`, at least 2); fails on a
    /// non-integer label.
    pub fn n_classes(&self) -> Result<usize> {
        let mut max = 1usize;
        for (i, &l) in self.labels.iter().enumerate() {
            if l.fract() != 0.0 {
                return Err(ModelError::Invalid(format!(
                    "label {l} at row {i} is not a class index"
                )));
            }
            max = max.max(l as usize);
        }
        Ok(max + 1)
    }

    /// Fails unless every label is 0 or 1 and both classes occur.
    pub fn check_binary(&self) -> Result<()> {
        let mut pos = 0usize;
        for (i, &l) in self.labels.iter().enumerate() {
            if l == 1.0 {
                pos += 1;
            } else if l != 0.0 {
                return Err(ModelError::Invalid(format!(
                    "binary task needs labels 0/1, row {i} has {l}"
                )));
            }
        }
        if pos == 0 || pos == self.labels.len() {
            return Err(ModelError::Invalid(format!(
                "binary task needs both classes; {pos} positives in {} rows",
                self.labels.len()
            )));
        }
        Ok(())
    }

    /// Number of rows labelled 1.
    pub fn n_positive(&self) -> usize {
        self.labels.iter().filter(|&&l| l == 1.0).count()
    }

    /// A stable fingerprint of the data (shape, names, values, labels, weights): `xxh3-128:`
    /// followed by 32 hex digits. Equal data gives an equal fingerprint on every machine.
    pub fn fingerprint(&self) -> String {
        let mut h = Xxh3::new();
        h.update(b"shopsense-dataset-v1");
        h.update(&(self.n_rows() as u64).to_le_bytes());
        h.update(&(self.n_features() as u64).to_le_bytes());
        for name in &self.feature_names {
            h.update(&(name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
        }
        hash_f32s(&mut h, &self.x.data);
        hash_f32s(&mut h, &self.labels);
        match &self.weights {
            None => h.update(b"no-weights"),
            Some(w) => hash_f32s(&mut h, w),
        }
        format!("xxh3-128:{:032x}", h.digest128())
    }
}

/// Feeds `values` to the hasher as little-endian bytes, in blocks (no per-value call).
pub(crate) fn hash_f32s(h: &mut Xxh3, values: &[f32]) {
    let mut buf = Vec::with_capacity(4 * 16_384);
    for block in values.chunks(16_384) {
        buf.clear();
        for v in block {
            buf.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        h.update(&buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_cols_keeps_the_order_asked_for_and_rejects_bad_indices() {
        let m = Matrix::new((0..6).map(|v| v as f32).collect(), 2, 3).unwrap();
        let s = m.view().select_cols(&[2, 0]).unwrap();
        assert_eq!((s.n_rows(), s.n_cols()), (2, 2));
        assert_eq!(s.as_slice(), &[2.0, 0.0, 5.0, 3.0]);
        assert!(m.view().select_cols(&[3]).is_err());
        assert_eq!(m.view().select_cols(&[]).unwrap().n_cols(), 0);
    }
}
