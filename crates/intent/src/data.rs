//! From events to model inputs: prefixes, the temporal split, encoders fitted on the
//! training window only (out-of-fold priors for the training rows), feature matrices, and
//! the per-fold data of the search.

use crate::error::{IntentError, Result};
use crate::progress::Progress;
use shopsense_events::EventTable;
use shopsense_features::{
    fit_encoders, fit_oof_encoders, prefixes, rolling_origin_folds_by_time, temporal_split,
    Encoders, FeatureBuilder, FeatureMatrix, FeatureSpec, OofEncoders, Prefix, Split,
};
use shopsense_models::{Dataset, Fold, Matrix};
use shopsense_sessions::Sessions;

/// The three parts of one run, as feature matrices.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The feature definition.
    pub spec: FeatureSpec,
    /// Every scoring point under the protocol, in session order.
    pub prefixes: Vec<Prefix>,
    /// Indices into `prefixes` by part.
    pub split: Split,
    /// Encoders fitted on the training window (validation, test and scoring rows use them).
    pub encoders: Encoders,
    /// Out-of-fold encoders of the training window (training rows use them).
    pub oof: OofEncoders,
    /// Training rows (out-of-fold priors).
    pub train: FeatureMatrix,
    /// Validation rows.
    pub valid: FeatureMatrix,
    /// Test rows.
    pub test: FeatureMatrix,
}

/// Positives in a matrix.
pub fn positives(m: &FeatureMatrix) -> usize {
    m.labels.iter().filter(|&&l| l == 1).count()
}

fn check_part(name: &str, m: &FeatureMatrix, need_both: bool) -> Result<()> {
    if m.n_rows == 0 {
        return Err(IntentError::data(format!(
            "the {name} part is empty: not enough sessions for a train / validation / test split"
        )));
    }
    let pos = positives(m);
    if need_both && (pos == 0 || pos == m.n_rows) {
        return Err(IntentError::data(format!(
            "the {name} part ({} prefixes) has {pos} with a purchase: both outcomes are needed",
            m.n_rows
        )));
    }
    Ok(())
}

/// The checks [`prepare`] makes on its three matrices: none is empty, and training and
/// validation both hold buyers and non-buyers.
pub fn check_parts(
    train: &FeatureMatrix,
    valid: &FeatureMatrix,
    test: &FeatureMatrix,
) -> Result<()> {
    check_part("training", train, true)?;
    check_part("validation", valid, true)?;
    check_part("test", test, false)
}

/// Prefixes under `spec.protocol`, split by session start.
pub fn prefixes_and_split(
    t: &EventTable,
    sessions: &Sessions,
    spec: &FeatureSpec,
) -> Result<(Vec<Prefix>, Split)> {
    let ps = prefixes(t, sessions, spec.protocol)?;
    if ps.is_empty() {
        return Err(IntentError::data(format!(
            "no session qualifies for protocol {} ({} sessions)",
            spec.protocol,
            sessions.len()
        )));
    }
    let split = temporal_split(&ps, spec.split)?;
    Ok((ps, split))
}

/// Runs every data step of training: prefixes, split, encoders (training window only),
/// out-of-fold encoders, and the three matrices. Fails with a clear message when a part is
/// empty or (train, validation) lacks an outcome.
pub fn prepare(
    t: &EventTable,
    sessions: &Sessions,
    spec: &FeatureSpec,
    progress: &dyn Progress,
) -> Result<Prepared> {
    spec.validate()?;
    progress.step("prefixes");
    let (ps, split) = prefixes_and_split(t, sessions, spec)?;
    progress.done();
    if split.train.is_empty() {
        return Err(IntentError::data(format!(
            "the training part is empty ({} prefixes under {})",
            ps.len(),
            spec.protocol
        )));
    }
    progress.step("encoders");
    let train_ps = split.train_prefixes(&ps);
    let encoders = fit_encoders(t, sessions, &train_ps, spec)?;
    let oof = fit_oof_encoders(t, sessions, &train_ps, spec)?;
    progress.done();
    progress.bar("features", ps.len() as u64, "prefixes");
    let builder = FeatureBuilder::new(t, sessions, &encoders, spec, Some(&oof))?;
    let part = |rows: &[usize]| -> Result<FeatureMatrix> {
        let m = builder.build(&ps, rows)?;
        progress.inc(rows.len() as u64);
        Ok(m)
    };
    let train = part(&split.train)?;
    let valid = part(&split.valid)?;
    let test = part(&split.test)?;
    progress.done();
    check_parts(&train, &valid, &test)?;
    Ok(Prepared {
        spec: spec.clone(),
        prefixes: ps,
        split,
        encoders,
        oof,
        train,
        valid,
        test,
    })
}

/// A models-crate dataset from a feature matrix (the values are copied).
pub fn dataset(m: &FeatureMatrix) -> Result<Dataset> {
    into_dataset(m.clone())
}

/// A models-crate dataset from a feature matrix, moving its values (no copy).
pub fn into_dataset(m: FeatureMatrix) -> Result<Dataset> {
    let labels = m.labels.iter().map(|&l| f32::from(l)).collect();
    let x = Matrix::new(m.data, m.n_rows, m.n_cols)?;
    Ok(Dataset::new(x, m.names, labels, None)?)
}

/// A borrowed model input of a feature matrix.
pub fn matrix_ref(m: &FeatureMatrix) -> Result<shopsense_models::MatrixRef<'_>> {
    Ok(shopsense_models::MatrixRef::new(
        &m.data, m.n_rows, m.n_cols,
    )?)
}

/// The search data: rolling-origin folds by time over the training part, each with its own
/// encoders fitted on the fold's training window only (out-of-fold priors for its training
/// rows, whole-window priors for its validation rows), so that no fold sees the events of
/// the block it is scored on. The folds' rows are stacked into one dataset; the returned
/// folds index into it. `train_rows` picks the fold training rows to keep (undersampling)
/// given their labels.
pub fn fold_data(
    t: &EventTable,
    sessions: &Sessions,
    prep: &Prepared,
    k: usize,
    train_rows: &dyn Fn(&[f32]) -> Result<Vec<usize>>,
) -> Result<(Dataset, Vec<Fold>)> {
    let spec = &prep.spec;
    let folds = rolling_origin_folds_by_time(&prep.prefixes, &prep.split.train, k)?;
    let n_cols = prep.train.n_cols;
    let mut data: Vec<f32> = Vec::new();
    let mut labels: Vec<f32> = Vec::new();
    let mut out = Vec::with_capacity(folds.len());
    for (tr, va) in &folds {
        let tr_ps: Vec<Prefix> = tr.iter().map(|&i| prep.prefixes[i]).collect();
        let enc = fit_encoders(t, sessions, &tr_ps, spec)?;
        let oof = fit_oof_encoders(t, sessions, &tr_ps, spec)?;
        let builder = FeatureBuilder::new(t, sessions, &enc, spec, Some(&oof))?;
        let m_tr = builder.build(&prep.prefixes, tr)?;
        let m_va = builder.build(&prep.prefixes, va)?;
        let y_tr: Vec<f32> = m_tr.labels.iter().map(|&l| f32::from(l)).collect();
        let keep = train_rows(&y_tr)?;
        let base = labels.len();
        for &i in &keep {
            data.extend_from_slice(m_tr.row(i));
            labels.push(y_tr[i]);
        }
        let tr_pos: Vec<usize> = (base..labels.len()).collect();
        let vbase = labels.len();
        data.extend_from_slice(&m_va.data);
        labels.extend(m_va.labels.iter().map(|&l| f32::from(l)));
        let va_pos: Vec<usize> = (vbase..labels.len()).collect();
        let has_both = |idx: &[usize]| {
            let p = idx.iter().filter(|&&i| labels[i] == 1.0).count();
            p > 0 && p < idx.len()
        };
        if !has_both(&tr_pos) || !has_both(&va_pos) {
            return Err(IntentError::data(format!(
                "a search fold lacks an outcome ({} training / {} validation rows): \
                 use fewer --cv-folds or no search on data this small",
                tr_pos.len(),
                va_pos.len()
            )));
        }
        out.push((tr_pos, va_pos));
    }
    let n = labels.len();
    let x = Matrix::new(data, n, n_cols)?;
    let ds = Dataset::new(x, prep.train.names.clone(), labels, None)?;
    Ok((ds, out))
}

/// The data of a refit on training + validation rows: encoders fitted on the window that
/// ends with the last validation session start, the combined rows with out-of-fold priors,
/// and the test rows with the new encoders. Returns `(encoders, train+valid, test)`.
pub fn refit_data(
    t: &EventTable,
    sessions: &Sessions,
    spec: &FeatureSpec,
    prefixes: &[Prefix],
    split: &Split,
) -> Result<(Encoders, FeatureMatrix, FeatureMatrix)> {
    let mut rows = split.train.clone();
    rows.extend_from_slice(&split.valid);
    let window: Vec<Prefix> = rows.iter().map(|&i| prefixes[i]).collect();
    let enc = fit_encoders(t, sessions, &window, spec)?;
    let oof = fit_oof_encoders(t, sessions, &window, spec)?;
    let builder = FeatureBuilder::new(t, sessions, &enc, spec, Some(&oof))?;
    let both = builder.build(prefixes, &rows)?;
    let test = builder.build(prefixes, &split.test)?;
    Ok((enc, both, test))
}
