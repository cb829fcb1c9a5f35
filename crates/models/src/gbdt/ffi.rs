//! A small safe layer over LightGBM's C API (`lightgbm3-sys`): datasets, boosters, training
//! steps, model text and batch prediction. Every call's status is checked and turned into
//! [`ModelError::LightGbm`] with LightGBM's own message; nothing here panics.

use crate::data::MatrixRef;
use crate::error::{ModelError, Result};
use lightgbm3_sys as sys;
use std::ffi::{c_char, c_void, CStr, CString};

fn last_error() -> String {
    // SAFETY: LGBM_GetLastError returns a pointer to a thread-local NUL-terminated buffer.
    unsafe {
        let p = sys::LGBM_GetLastError();
        if p.is_null() {
            "unknown error".to_string()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

fn check(code: i32) -> Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(ModelError::LightGbm(last_error()))
    }
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| ModelError::Invalid("string contains a NUL byte".into()))
}

fn rows_i32(n: usize) -> Result<i32> {
    i32::try_from(n).map_err(|_| ModelError::Shape(format!("{n} rows exceed LightGBM's limit")))
}

/// A constructed (binned) LightGBM dataset.
pub(crate) struct LgbDataset {
    handle: sys::DatasetHandle,
    n_rows: usize,
}

// SAFETY: the handle is an owned heap object; LightGBM has no thread affinity for it and all
// mutation goes through `&mut self`.
unsafe impl Send for LgbDataset {}

impl LgbDataset {
    /// Bins `x` with dataset `params`; a validation set passes the training set as
    /// `reference` so that both share bin boundaries.
    pub(crate) fn from_mat(
        x: MatrixRef<'_>,
        params: &str,
        reference: Option<&LgbDataset>,
    ) -> Result<Self> {
        let p = cstring(params)?;
        let mut handle: sys::DatasetHandle = std::ptr::null_mut();
        let reference = reference.map_or(std::ptr::null_mut(), |r| r.handle);
        // SAFETY: data points to n_rows*n_cols f32 values (checked by MatrixRef); out is valid.
        check(unsafe {
            sys::LGBM_DatasetCreateFromMat(
                x.as_slice().as_ptr() as *const c_void,
                sys::C_API_DTYPE_FLOAT32 as i32,
                rows_i32(x.n_rows())?,
                rows_i32(x.n_cols())?,
                1,
                p.as_ptr(),
                reference,
                &mut handle,
            )
        })?;
        Ok(LgbDataset {
            handle,
            n_rows: x.n_rows(),
        })
    }

    fn set_field(&mut self, name: &str, ptr: *const c_void, len: usize, dtype: u32) -> Result<()> {
        let n = cstring(name)?;
        // SAFETY: ptr points to `len` elements of `dtype`; LightGBM copies them.
        check(unsafe {
            sys::LGBM_DatasetSetField(self.handle, n.as_ptr(), ptr, rows_i32(len)?, dtype as i32)
        })
    }

    /// Sets labels (one per row).
    pub(crate) fn set_labels(&mut self, labels: &[f32]) -> Result<()> {
        self.expect_len(labels.len(), 1)?;
        self.set_field(
            "label",
            labels.as_ptr() as *const c_void,
            labels.len(),
            sys::C_API_DTYPE_FLOAT32,
        )
    }

    /// Sets sample weights (one per row).
    pub(crate) fn set_weights(&mut self, w: &[f32]) -> Result<()> {
        self.expect_len(w.len(), 1)?;
        self.set_field(
            "weight",
            w.as_ptr() as *const c_void,
            w.len(),
            sys::C_API_DTYPE_FLOAT32,
        )
    }

    /// Sets the initial raw score: `n_rows × k` values, **class-major** (all rows of class 0,
    /// then class 1, …) as LightGBM expects.
    pub(crate) fn set_init_score(&mut self, s: &[f64], k: usize) -> Result<()> {
        self.expect_len(s.len(), k)?;
        self.set_field(
            "init_score",
            s.as_ptr() as *const c_void,
            s.len(),
            sys::C_API_DTYPE_FLOAT64,
        )
    }

    /// Sets feature names (must already be LightGBM-safe).
    pub(crate) fn set_feature_names(&mut self, names: &[String]) -> Result<()> {
        let c: Vec<CString> = names.iter().map(|n| cstring(n)).collect::<Result<_>>()?;
        let ptrs: Vec<*const c_char> = c.iter().map(|s| s.as_ptr()).collect();
        // SAFETY: ptrs holds names.len() valid C strings that outlive the call.
        check(unsafe {
            sys::LGBM_DatasetSetFeatureNames(
                self.handle,
                ptrs.as_ptr() as *mut *const c_char,
                rows_i32(names.len())?,
            )
        })
    }

    fn expect_len(&self, len: usize, k: usize) -> Result<()> {
        if len == self.n_rows * k {
            Ok(())
        } else {
            Err(ModelError::Shape(format!(
                "{len} values for a dataset of {} rows × {k}",
                self.n_rows
            )))
        }
    }
}

impl Drop for LgbDataset {
    fn drop(&mut self) {
        // SAFETY: handle was created by LGBM_DatasetCreateFromMat and is freed once.
        unsafe {
            sys::LGBM_DatasetFree(self.handle);
        }
    }
}

/// A LightGBM booster (training state or a loaded model).
pub(crate) struct LgbBooster {
    handle: sys::BoosterHandle,
}

// SAFETY: LightGBM guards a booster's prediction paths with an internal shared mutex
// (`Booster::Predict*` take a shared lock, training takes a unique one), so concurrent
// `&self` prediction is safe; every mutating wrapper below takes `&mut self`.
unsafe impl Send for LgbBooster {}
unsafe impl Sync for LgbBooster {}

impl LgbBooster {
    /// Creates a booster that trains on `train` with booster `params`.
    pub(crate) fn create(train: &LgbDataset, params: &str) -> Result<Self> {
        let p = cstring(params)?;
        let mut handle: sys::BoosterHandle = std::ptr::null_mut();
        // SAFETY: train.handle is a constructed dataset; out is valid.
        check(unsafe { sys::LGBM_BoosterCreate(train.handle, p.as_ptr(), &mut handle) })?;
        Ok(LgbBooster { handle })
    }

    /// Parses LightGBM model text.
    pub(crate) fn from_string(text: &str) -> Result<Self> {
        let t = cstring(text)?;
        let mut handle: sys::BoosterHandle = std::ptr::null_mut();
        let mut iters = 0i32;
        // SAFETY: t is a valid C string; outs are valid.
        check(unsafe {
            sys::LGBM_BoosterLoadModelFromString(t.as_ptr(), &mut iters, &mut handle)
        })?;
        Ok(LgbBooster { handle })
    }

    /// Adds a validation set (data index 1 for the first one).
    pub(crate) fn add_valid(&mut self, valid: &LgbDataset) -> Result<()> {
        // SAFETY: both handles are live.
        check(unsafe { sys::LGBM_BoosterAddValidData(self.handle, valid.handle) })
    }

    /// Prepends the trees of `other` (continued training, like LightGBM's `init_model`).
    pub(crate) fn merge(&mut self, other: &LgbBooster) -> Result<()> {
        // SAFETY: both handles are live; other is only read.
        check(unsafe { sys::LGBM_BoosterMerge(self.handle, other.handle) })
    }

    /// One boosting round; `true` when no further split was possible (nothing was added).
    pub(crate) fn update_one_iter(&mut self) -> Result<bool> {
        let mut finished = 0i32;
        // SAFETY: handle is live; out is valid.
        check(unsafe { sys::LGBM_BoosterUpdateOneIter(self.handle, &mut finished) })?;
        Ok(finished != 0)
    }

    /// Metric values on data set `data_idx` (0 = training, 1 = first validation set).
    pub(crate) fn eval(&self, data_idx: i32) -> Result<Vec<f64>> {
        let mut n = 0i32;
        // SAFETY: handle is live; out is valid.
        check(unsafe { sys::LGBM_BoosterGetEvalCounts(self.handle, &mut n) })?;
        let mut out = vec![0f64; n.max(0) as usize];
        let mut len = 0i32;
        // SAFETY: out has room for n values.
        check(unsafe {
            sys::LGBM_BoosterGetEval(self.handle, data_idx, &mut len, out.as_mut_ptr())
        })?;
        out.truncate(len.max(0) as usize);
        Ok(out)
    }

    /// Number of boosting iterations in the model.
    pub(crate) fn current_iteration(&self) -> Result<usize> {
        let mut n = 0i32;
        // SAFETY: handle is live.
        check(unsafe { sys::LGBM_BoosterGetCurrentIteration(self.handle, &mut n) })?;
        Ok(n.max(0) as usize)
    }

    /// Number of model outputs per row (1 for binary, K for K-class).
    pub(crate) fn num_classes(&self) -> Result<usize> {
        let mut n = 0i32;
        // SAFETY: handle is live.
        check(unsafe { sys::LGBM_BoosterGetNumClasses(self.handle, &mut n) })?;
        Ok(n.max(1) as usize)
    }

    /// Number of input features.
    pub(crate) fn num_features(&self) -> Result<usize> {
        let mut n = 0i32;
        // SAFETY: handle is live.
        check(unsafe { sys::LGBM_BoosterGetNumFeature(self.handle, &mut n) })?;
        Ok(n.max(0) as usize)
    }

    /// Model text with the first `num_iteration` iterations (`-1` = all).
    pub(crate) fn save_string(&self, num_iteration: i32) -> Result<String> {
        let mut len: i64 = 0;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            // SAFETY: buf has buf.len() bytes; LightGBM writes at most that many and reports
            // the needed length in `len`.
            check(unsafe {
                sys::LGBM_BoosterSaveModelToString(
                    self.handle,
                    0,
                    num_iteration,
                    sys::C_API_FEATURE_IMPORTANCE_SPLIT as i32,
                    buf.len() as i64,
                    &mut len,
                    buf.as_mut_ptr() as *mut c_char,
                )
            })?;
            let need = len.max(0) as usize;
            if need <= buf.len() {
                // `len` counts the trailing NUL.
                buf.truncate(need.saturating_sub(1));
                return String::from_utf8(buf)
                    .map_err(|e| ModelError::format("LightGBM model text", e));
            }
            buf = vec![0u8; need];
        }
    }

    /// Predicts every row of `x`: `n_rows × num_classes` values, row-major. `raw` gives the
    /// untransformed score (log-odds) instead of probabilities.
    pub(crate) fn predict(&self, x: MatrixRef<'_>, raw: bool, threads: usize) -> Result<Vec<f64>> {
        self.predict_iterations(x, raw, threads, 0, -1)
    }

    /// Like [`LgbBooster::predict`], using only the boosting iterations
    /// `start_iteration .. start_iteration + num_iteration` (`num_iteration = -1`: to the end).
    pub(crate) fn predict_iterations(
        &self,
        x: MatrixRef<'_>,
        raw: bool,
        threads: usize,
        start_iteration: i32,
        num_iteration: i32,
    ) -> Result<Vec<f64>> {
        let k = self.num_classes()?;
        let mut out = vec![0f64; x.n_rows() * k];
        if x.n_rows() == 0 {
            return Ok(out);
        }
        let p = cstring(&format!("num_threads={}", threads.max(1)))?;
        let predict_type = if raw {
            sys::C_API_PREDICT_RAW_SCORE
        } else {
            sys::C_API_PREDICT_NORMAL
        } as i32;
        // LightGBM counts rows in i32: score very large inputs in blocks.
        const BLOCK: usize = 1 << 28;
        let mut start = 0;
        while start < x.n_rows() {
            let part = x.rows(start, start + BLOCK);
            let dst = &mut out[start * k..(start + part.n_rows()) * k];
            let mut len: i64 = 0;
            // SAFETY: part holds n_rows*n_cols f32; dst has room for n_rows*k f64.
            check(unsafe {
                sys::LGBM_BoosterPredictForMat(
                    self.handle,
                    part.as_slice().as_ptr() as *const c_void,
                    sys::C_API_DTYPE_FLOAT32 as i32,
                    rows_i32(part.n_rows())?,
                    rows_i32(part.n_cols())?,
                    1,
                    predict_type,
                    start_iteration,
                    num_iteration,
                    p.as_ptr(),
                    &mut len,
                    dst.as_mut_ptr(),
                )
            })?;
            if len as usize != dst.len() {
                return Err(ModelError::LightGbm(format!(
                    "prediction returned {len} values, expected {}",
                    dst.len()
                )));
            }
            start += part.n_rows();
        }
        Ok(out)
    }

    /// Total split gain per feature.
    pub(crate) fn importance_gain(&self) -> Result<Vec<f64>> {
        let n = self.num_features()?;
        let mut out = vec![0f64; n];
        // SAFETY: out has room for num_features values.
        check(unsafe {
            sys::LGBM_BoosterFeatureImportance(
                self.handle,
                0,
                sys::C_API_FEATURE_IMPORTANCE_GAIN as i32,
                out.as_mut_ptr(),
            )
        })?;
        Ok(out)
    }
}

impl Drop for LgbBooster {
    fn drop(&mut self) {
        // SAFETY: handle was created by LightGBM and is freed once.
        unsafe {
            sys::LGBM_BoosterFree(self.handle);
        }
    }
}
