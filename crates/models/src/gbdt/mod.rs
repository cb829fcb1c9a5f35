//! Gradient-boosted trees with LightGBM (vendored LightGBM 4.7 through `lightgbm3-sys`).
//!
//! * [`GbdtParams`]: leaves, learning rate, rounds, min data in leaf, feature fraction,
//!   bagging, L2, early stopping, class weighting, threads and seed. LightGBM always runs
//!   with `deterministic=true` and `force_col_wise=true`, so a fixed seed and thread count
//!   give bit-identical models.
//! * [`train`]: training with an optional validation set (early stopping) and optional
//!   [`Checkpointing`]: with `chunk_rounds = Some(c)`, training proceeds in chunks of `c`
//!   rounds; after each chunk the whole model so far is written to the checkpoint file and
//!   the next chunk continues from it (LightGBM `init_score` + `LGBM_BoosterMerge`, as its
//!   `init_model`). A killed run restarted with `resume = true` redoes nothing that was
//!   saved and ends with **the same model text** as an uninterrupted run with the same
//!   `chunk_rounds` (each chunk starts from the reloaded text in both cases).
//! * [`Gbdt`]: the fitted model; its bytes are LightGBM's own model text.

mod ffi;
mod native;

use crate::data::{Dataset, MatrixRef};
use crate::error::{ModelError, Result};
use crate::estimator::{Estimator, Model, ModelKind};
use ffi::{LgbBooster, LgbDataset};
use native::NativeForest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How the positive class is up-weighted inside LightGBM.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeighting {
    /// No re-weighting (sample weights of the dataset still apply).
    #[default]
    None,
    /// LightGBM `is_unbalance=true` (weights classes by their inverse frequency).
    IsUnbalance,
    /// LightGBM `scale_pos_weight=w`.
    ScalePosWeight(f64),
}

/// The validation metric used for early stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StopMetric {
    /// Binary (or multi-class) log-loss; lower is better.
    #[default]
    LogLoss,
    /// ROC-AUC (binary only); higher is better.
    Auc,
}

/// LightGBM's histogram layout. Fixed (never LightGBM's timing-based auto choice) so that
/// training is reproducible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HistogramLayout {
    /// `force_col_wise=true`.
    #[default]
    ColWise,
    /// `force_row_wise=true`.
    RowWise,
}

/// LightGBM hyperparameters. Field names follow LightGBM's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GbdtParams {
    /// 2 for a binary task; `K > 2` trains a `multiclass` model with `K` outputs.
    pub n_classes: usize,
    /// Maximum leaves per tree.
    pub num_leaves: usize,
    /// Maximum depth (`-1` = unlimited).
    pub max_depth: i32,
    /// Shrinkage.
    pub learning_rate: f64,
    /// Maximum boosting rounds.
    pub n_rounds: usize,
    /// Minimum rows in a leaf.
    pub min_data_in_leaf: usize,
    /// Share of features considered per tree (0, 1].
    pub feature_fraction: f64,
    /// Share of rows sampled per bagging round (0, 1]; 1 disables bagging.
    pub bagging_fraction: f64,
    /// Re-sample rows every `bagging_freq` rounds (0 disables bagging).
    pub bagging_freq: usize,
    /// L2 regularisation of leaf values.
    pub lambda_l2: f64,
    /// Histogram bins per feature.
    pub max_bin: usize,
    /// Stop when the validation metric has not improved for this many rounds (needs a
    /// validation set; `None` trains all rounds). The model keeps the best round.
    pub early_stopping_rounds: Option<usize>,
    /// Early-stopping metric.
    pub stop_metric: StopMetric,
    /// Class weighting.
    pub class_weighting: ClassWeighting,
    /// OpenMP threads for training and scoring.
    pub threads: usize,
    /// Seed for every LightGBM random choice.
    pub seed: u64,
    /// Train in chunks of this many rounds, each continued from the saved text of the
    /// previous ones (what checkpointing uses). `None` = one chunk.
    pub chunk_rounds: Option<usize>,
    /// Histogram layout.
    pub histogram: HistogramLayout,
    /// Extra LightGBM parameters passed through verbatim (`key=value`).
    pub extra: BTreeMap<String, String>,
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            n_classes: 2,
            num_leaves: 31,
            max_depth: -1,
            learning_rate: 0.1,
            n_rounds: 300,
            min_data_in_leaf: 20,
            feature_fraction: 1.0,
            bagging_fraction: 1.0,
            bagging_freq: 0,
            lambda_l2: 0.0,
            max_bin: 255,
            early_stopping_rounds: Some(30),
            stop_metric: StopMetric::LogLoss,
            class_weighting: ClassWeighting::None,
            threads: 2,
            seed: 42,
            chunk_rounds: None,
            histogram: HistogramLayout::ColWise,
            extra: BTreeMap::new(),
        }
    }
}

fn in_unit(name: &'static str, v: f64) -> Result<()> {
    if v > 0.0 && v <= 1.0 {
        Ok(())
    } else {
        Err(ModelError::param(name, format!("{v} is not in (0, 1]")))
    }
}

impl GbdtParams {
    /// Checks every value's range.
    pub fn validate(&self) -> Result<()> {
        if self.n_classes < 2 {
            return Err(ModelError::param("n_classes", "needs at least 2 classes"));
        }
        if self.num_leaves < 2 {
            return Err(ModelError::param("num_leaves", "must be ≥ 2"));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(ModelError::param("learning_rate", "must be > 0"));
        }
        if self.n_rounds == 0 {
            return Err(ModelError::param("n_rounds", "must be ≥ 1"));
        }
        in_unit("feature_fraction", self.feature_fraction)?;
        in_unit("bagging_fraction", self.bagging_fraction)?;
        if !(self.lambda_l2 >= 0.0 && self.lambda_l2.is_finite()) {
            return Err(ModelError::param("lambda_l2", "must be ≥ 0"));
        }
        if self.max_bin < 2 {
            return Err(ModelError::param("max_bin", "must be ≥ 2"));
        }
        if self.threads == 0 {
            return Err(ModelError::param("threads", "must be ≥ 1"));
        }
        if self.chunk_rounds == Some(0) {
            return Err(ModelError::param("chunk_rounds", "must be ≥ 1"));
        }
        if let ClassWeighting::ScalePosWeight(w) = self.class_weighting {
            if !(w > 0.0 && w.is_finite()) {
                return Err(ModelError::param(
                    "class_weighting",
                    "scale_pos_weight must be > 0",
                ));
            }
            if self.n_classes > 2 {
                return Err(ModelError::param(
                    "class_weighting",
                    "scale_pos_weight is binary-only",
                ));
            }
        }
        if self.stop_metric == StopMetric::Auc && self.n_classes > 2 {
            return Err(ModelError::param("stop_metric", "auc is binary-only"));
        }
        for (k, v) in &self.extra {
            if k.contains(['=', ' ']) || v.contains(' ') {
                return Err(ModelError::param("extra", format!("bad entry `{k}={v}`")));
            }
        }
        Ok(())
    }

    fn dataset_params(&self) -> String {
        let mut s = format!(
            "max_bin={} verbosity=-1 num_threads={} data_random_seed={} min_data_in_leaf={}",
            self.max_bin, self.threads, self.seed, self.min_data_in_leaf
        );
        // Dataset-level extras (e.g. zero_as_missing, use_missing) must reach binning too.
        for (k, v) in &self.extra {
            s.push_str(&format!(" {k}={v}"));
        }
        s
    }

    fn metric_name(&self) -> &'static str {
        match (self.stop_metric, self.n_classes > 2) {
            (StopMetric::Auc, _) => "auc",
            (StopMetric::LogLoss, false) => "binary_logloss",
            (StopMetric::LogLoss, true) => "multi_logloss",
        }
    }

    /// The LightGBM booster parameter string for chunk `chunk` (the seed moves with the chunk
    /// so that bagging/feature sampling differ between chunks, deterministically).
    fn booster_params(&self, chunk: usize) -> String {
        let seed = self.seed.wrapping_add(chunk as u64 * 7919) % (i32::MAX as u64);
        let objective = if self.n_classes > 2 {
            format!("objective=multiclass num_class={}", self.n_classes)
        } else {
            "objective=binary".to_string()
        };
        let mut s = format!(
            "{objective} metric={} boosting=gbdt num_leaves={} max_depth={} learning_rate={:?} \
             min_data_in_leaf={} feature_fraction={:?} bagging_fraction={:?} bagging_freq={} \
             lambda_l2={:?} max_bin={} num_threads={} seed={seed} deterministic=true \
             {}=true verbosity=-1",
            self.metric_name(),
            self.num_leaves,
            self.max_depth,
            self.learning_rate,
            self.min_data_in_leaf,
            self.feature_fraction,
            self.bagging_fraction,
            self.bagging_freq,
            self.lambda_l2,
            self.max_bin,
            self.threads,
            match self.histogram {
                HistogramLayout::ColWise => "force_col_wise",
                HistogramLayout::RowWise => "force_row_wise",
            },
        );
        match self.class_weighting {
            ClassWeighting::None => {}
            ClassWeighting::IsUnbalance => s.push_str(" is_unbalance=true"),
            ClassWeighting::ScalePosWeight(w) => s.push_str(&format!(" scale_pos_weight={w:?}")),
        }
        for (k, v) in &self.extra {
            s.push_str(&format!(" {k}={v}"));
        }
        s
    }
}

/// Where and how training writes checkpoints.
#[derive(Debug, Clone)]
pub struct Checkpointing {
    /// The checkpoint file (JSON: state + model text so far), written atomically.
    pub path: PathBuf,
    /// Continue from `path` if it exists (it must match the data and parameters).
    pub resume: bool,
    /// Stop with [`ModelError::Interrupted`] after this many chunks in this run (for
    /// time-sliced training and to simulate a kill in tests).
    pub stop_after_chunks: Option<usize>,
}

/// What happened during training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TrainLog {
    /// Rounds trained (including those after the best one).
    pub rounds_trained: usize,
    /// Rounds kept in the final model.
    pub best_iteration: usize,
    /// Best validation metric (if a validation set was given).
    pub best_score: Option<f64>,
    /// Validation metric after each round.
    pub valid_history: Vec<f64>,
    /// Name of the validation metric.
    pub metric: String,
    /// Chunks resumed from a checkpoint instead of trained in this run.
    pub resumed_rounds: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointState {
    format: String,
    params: GbdtParams,
    data_fingerprint: String,
    rounds_done: usize,
    best_iteration: usize,
    best_score: Option<f64>,
    since_best: usize,
    stopped: bool,
    valid_history: Vec<f64>,
    model_text: Option<String>,
}

const CHECKPOINT_FORMAT: &str = "shopsense-gbdt-checkpoint-v1";

/// Replaces characters LightGBM rejects in feature names (whitespace, JSON specials).
pub fn lightgbm_safe_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_whitespace() || "[]{}\":,".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    if s.is_empty() {
        "_".to_string()
    } else {
        s
    }
}

fn make_dataset(
    d: &Dataset,
    params: &GbdtParams,
    reference: Option<&LgbDataset>,
) -> Result<LgbDataset> {
    let mut ds = LgbDataset::from_mat(d.x().view(), &params.dataset_params(), reference)?;
    ds.set_labels(d.labels())?;
    if let Some(w) = d.weights() {
        ds.set_weights(w)?;
    }
    if reference.is_none() {
        let names: Vec<String> = d
            .feature_names()
            .iter()
            .map(|n| lightgbm_safe_name(n))
            .collect();
        ds.set_feature_names(&names)?;
    }
    Ok(ds)
}

/// Raw scores of `model` on `x`, class-major, as `init_score` wants them.
/// Adds the raw scores of iterations `start .. start + num` of `model` on `d` to `acc`
/// (class-major for `k > 1`, as LightGBM's `init_score` wants them).
///
/// Chunked training carries each dataset's score this way, one chunk's trees at a time,
/// instead of re-predicting the whole model before every chunk (which cost rounds² / chunk).
/// A resumed run rebuilds the sum chunk by chunk in the same order, so it is bit-identical.
fn add_iteration_scores(
    model: &LgbBooster,
    d: &Dataset,
    k: usize,
    threads: usize,
    start: usize,
    num: usize,
    acc: &mut Vec<f64>,
) -> Result<()> {
    let to_i32 = |v: usize| {
        i32::try_from(v).map_err(|_| ModelError::param("n_rounds", "more than i32::MAX rounds"))
    };
    let raw =
        model.predict_iterations(d.x().view(), true, threads, to_i32(start)?, to_i32(num)?)?;
    let n = d.n_rows();
    if acc.is_empty() {
        acc.resize(n * k, 0.0);
    }
    if k == 1 {
        for (a, r) in acc.iter_mut().zip(&raw) {
            *a += r;
        }
        return Ok(());
    }
    for i in 0..n {
        for c in 0..k {
            acc[c * n + i] += raw[i * k + c];
        }
    }
    Ok(())
}

fn check_labels(d: &Dataset, n_classes: usize) -> Result<()> {
    if n_classes == 2 {
        d.check_binary()
    } else {
        let seen = d.n_classes()?;
        if seen > n_classes {
            return Err(ModelError::Invalid(format!(
                "labels go up to {} but n_classes = {n_classes}",
                seen - 1
            )));
        }
        Ok(())
    }
}

/// Trains a LightGBM model; see the module docs for chunks, checkpoints and resume.
pub fn train(
    train: &Dataset,
    valid: Option<&Dataset>,
    params: &GbdtParams,
    checkpoint: Option<&Checkpointing>,
) -> Result<(Gbdt, TrainLog)> {
    params.validate()?;
    check_labels(train, params.n_classes)?;
    if let Some(v) = valid {
        if v.n_features() != train.n_features() {
            return Err(ModelError::Shape(format!(
                "validation set has {} features, training set {}",
                v.n_features(),
                train.n_features()
            )));
        }
        if v.n_rows() == 0 {
            return Err(ModelError::Invalid("empty validation set".into()));
        }
    }
    let k = if params.n_classes > 2 {
        params.n_classes
    } else {
        1
    };
    let chunk = params.chunk_rounds.unwrap_or(params.n_rounds).max(1);
    let early = valid.and(params.early_stopping_rounds);
    let higher_better = params.stop_metric == StopMetric::Auc;

    let fingerprint = match checkpoint {
        Some(_) => format!(
            "{}+{}",
            train.fingerprint(),
            valid.map_or_else(|| "none".to_string(), Dataset::fingerprint)
        ),
        None => String::new(),
    };
    let mut st = CheckpointState {
        format: CHECKPOINT_FORMAT.to_string(),
        params: params.clone(),
        data_fingerprint: fingerprint,
        rounds_done: 0,
        best_iteration: 0,
        best_score: None,
        since_best: 0,
        stopped: false,
        valid_history: Vec::new(),
        model_text: None,
    };
    let mut resumed_rounds = 0;
    if let Some(ck) = checkpoint {
        if ck.resume && ck.path.exists() {
            let bytes = crate::io::read(&ck.path)?;
            let saved: CheckpointState = serde_json::from_slice(&bytes)
                .map_err(|e| ModelError::format("GBDT checkpoint", e))?;
            if saved.format != CHECKPOINT_FORMAT {
                return Err(ModelError::format("GBDT checkpoint", "unknown format tag"));
            }
            if saved.params != st.params {
                return Err(ModelError::CheckpointMismatch {
                    path: ck.path.clone(),
                    reason: "parameters differ".into(),
                });
            }
            if saved.data_fingerprint != st.data_fingerprint {
                return Err(ModelError::CheckpointMismatch {
                    path: ck.path.clone(),
                    reason: "training or validation data differ".into(),
                });
            }
            resumed_rounds = saved.rounds_done;
            st = saved;
        }
    }

    let mut train_ds = make_dataset(train, params, None)?;
    let mut valid_ds = match valid {
        Some(v) => Some(make_dataset(v, params, Some(&train_ds))?),
        None => None,
    };

    // Raw scores of the model so far on the training and validation rows, summed chunk by
    // chunk (a resumed run rebuilds them from the checkpoint in the same order).
    let mut train_score: Vec<f64> = Vec::new();
    let mut valid_score: Vec<f64> = Vec::new();
    if st.rounds_done > 0 && !st.stopped && st.rounds_done < params.n_rounds {
        if let Some(t) = &st.model_text {
            let prev = LgbBooster::from_string(t)?;
            let mut b = 0;
            while b < st.rounds_done {
                let n = chunk.min(st.rounds_done - b);
                add_iteration_scores(&prev, train, k, params.threads, b, n, &mut train_score)?;
                if let Some(v) = valid {
                    add_iteration_scores(&prev, v, k, params.threads, b, n, &mut valid_score)?;
                }
                b += n;
            }
        }
    }

    let mut chunks_this_run = 0usize;
    while st.rounds_done < params.n_rounds && !st.stopped {
        let prev = match &st.model_text {
            Some(t) => Some(LgbBooster::from_string(t)?),
            None => None,
        };
        if prev.is_some() {
            train_ds.set_init_score(&train_score, k)?;
            if let Some(vds) = valid_ds.as_mut() {
                vds.set_init_score(&valid_score, k)?;
            }
        }
        let rounds_before = st.rounds_done;
        let chunk_index = st.rounds_done / chunk;
        let mut booster = LgbBooster::create(&train_ds, &params.booster_params(chunk_index))?;
        if let Some(vds) = &valid_ds {
            booster.add_valid(vds)?;
        }
        if let Some(prev) = &prev {
            booster.merge(prev)?;
        }
        let this_chunk = chunk.min(params.n_rounds - st.rounds_done);
        for _ in 0..this_chunk {
            if booster.update_one_iter()? {
                st.stopped = true;
                break;
            }
            st.rounds_done += 1;
            if valid_ds.is_some() {
                let score =
                    booster.eval(1)?.first().copied().ok_or_else(|| {
                        ModelError::LightGbm("no validation metric reported".into())
                    })?;
                st.valid_history.push(score);
                let improved = match st.best_score {
                    None => true,
                    Some(b) if higher_better => score > b,
                    Some(b) => score < b,
                };
                if improved {
                    st.best_score = Some(score);
                    st.best_iteration = st.rounds_done;
                    st.since_best = 0;
                } else {
                    st.since_best += 1;
                    if early.is_some_and(|e| st.since_best >= e) {
                        st.stopped = true;
                        break;
                    }
                }
            } else {
                st.best_iteration = st.rounds_done;
            }
        }
        st.model_text = Some(booster.save_string(-1)?);
        let more = !st.stopped && st.rounds_done < params.n_rounds;
        if more {
            let n = st.rounds_done - rounds_before;
            add_iteration_scores(
                &booster,
                train,
                k,
                params.threads,
                rounds_before,
                n,
                &mut train_score,
            )?;
            if let Some(v) = valid {
                add_iteration_scores(
                    &booster,
                    v,
                    k,
                    params.threads,
                    rounds_before,
                    n,
                    &mut valid_score,
                )?;
            }
        }
        drop(booster);
        chunks_this_run += 1;
        if let Some(ck) = checkpoint {
            let bytes =
                serde_json::to_vec(&st).map_err(|e| ModelError::format("GBDT checkpoint", e))?;
            crate::io::atomic_write(&ck.path, &bytes)?;
            let finished = st.stopped || st.rounds_done >= params.n_rounds;
            if !finished && ck.stop_after_chunks.is_some_and(|s| chunks_this_run >= s) {
                return Err(ModelError::Interrupted {
                    rounds_done: st.rounds_done,
                });
            }
        }
    }

    let full_text = st
        .model_text
        .clone()
        .ok_or_else(|| ModelError::LightGbm("no boosting round could be trained".into()))?;
    let keep = if early.is_some() && st.best_iteration > 0 {
        st.best_iteration
    } else {
        st.rounds_done
    };
    let text = if keep < st.rounds_done {
        LgbBooster::from_string(&full_text)?.save_string(keep as i32)?
    } else {
        full_text
    };
    let mut model = Gbdt::from_text(text)?;
    model.threads = params.threads;
    // Keep the caller's names (the text holds the LightGBM-safe ones).
    model.feature_names = train.feature_names().to_vec();
    let log = TrainLog {
        rounds_trained: st.rounds_done,
        best_iteration: keep,
        best_score: st.best_score,
        valid_history: st.valid_history,
        metric: params.metric_name().to_string(),
        resumed_rounds,
    };
    Ok((model, log))
}

/// A fitted LightGBM model. Its bytes are LightGBM's model text.
pub struct Gbdt {
    booster: LgbBooster,
    native: Option<NativeForest>,
    text: String,
    feature_names: Vec<String>,
    n_classes: usize,
    n_iterations: usize,
    threads: usize,
}

impl std::fmt::Debug for Gbdt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gbdt")
            .field("n_classes", &self.n_classes)
            .field("n_iterations", &self.n_iterations)
            .field("n_features", &self.feature_names.len())
            .field("threads", &self.threads)
            .finish()
    }
}

impl Gbdt {
    /// Parses LightGBM model text (as written by [`Model::to_bytes`] or LightGBM itself).
    pub fn from_text(text: String) -> Result<Self> {
        let booster = LgbBooster::from_string(&text)?;
        let k = booster.num_classes()?;
        let n_features = booster.num_features()?;
        let feature_names = text
            .lines()
            .find_map(|l| l.strip_prefix("feature_names="))
            .map(|l| l.split(' ').map(str::to_string).collect::<Vec<_>>())
            .filter(|v| v.len() == n_features)
            .unwrap_or_else(|| Dataset::default_names(n_features));
        Ok(Gbdt {
            n_iterations: booster.current_iteration()?,
            native: NativeForest::parse(&text),
            booster,
            text,
            feature_names,
            n_classes: if k == 1 { 2 } else { k },
            threads: 2,
        })
    }
    /// The LightGBM model text.
    pub fn text(&self) -> &str {
        &self.text
    }
    /// Boosting iterations in the model.
    pub fn n_iterations(&self) -> usize {
        self.n_iterations
    }
    /// Sets the OpenMP threads used for scoring.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }
    /// Raw scores (log-odds for binary, `n_rows × K` for multi-class).
    pub fn predict_raw(&self, x: MatrixRef<'_>) -> Result<Vec<f64>> {
        x.expect_cols(self.feature_names.len())?;
        match &self.native {
            Some(n) => Ok(n.predict(x, true)),
            None => self.booster.predict(x, true, self.threads),
        }
    }
    /// Whether scoring runs on the native evaluator (else on LightGBM's predictor).
    pub fn uses_native_scorer(&self) -> bool {
        self.native.is_some()
    }
    /// Which native evaluator scores: `"quickscorer"` (every tree has at most 64 leaves),
    /// `"tree-walk"`, or `None` (LightGBM's predictor).
    pub fn native_scorer(&self) -> Option<&'static str> {
        self.native.as_ref().map(|n| n.scorer_name())
    }
    /// Probabilities from LightGBM's own predictor (`n_rows × outputs`), for cross-checks.
    pub fn predict_lightgbm(&self, x: MatrixRef<'_>) -> Result<Vec<f64>> {
        x.expect_cols(self.feature_names.len())?;
        self.booster.predict(x, false, self.threads)
    }
    fn probs(&self, x: MatrixRef<'_>) -> Result<Vec<f64>> {
        x.expect_cols(self.feature_names.len())?;
        match &self.native {
            Some(n) => Ok(n.predict(x, false)),
            None => self.booster.predict(x, false, self.threads),
        }
    }
}

impl Model for Gbdt {
    fn kind(&self) -> ModelKind {
        ModelKind::Gbdt
    }
    fn name(&self) -> String {
        format!("gbdt({} rounds)", self.n_iterations)
    }
    fn feature_names(&self) -> &[String] {
        &self.feature_names
    }
    fn n_classes(&self) -> usize {
        self.n_classes
    }
    fn predict_proba(&self, x: MatrixRef<'_>) -> Result<Vec<f64>> {
        if self.n_classes > 2 {
            return Err(ModelError::Unsupported(
                "multi-class model: use predict_proba_multi".into(),
            ));
        }
        self.probs(x)
    }
    fn predict_proba_multi(&self, x: MatrixRef<'_>) -> Result<Vec<f64>> {
        let p = self.probs(x)?;
        if self.n_classes > 2 {
            Ok(p)
        } else {
            Ok(p.iter().flat_map(|&p| [1.0 - p, p]).collect())
        }
    }
    fn feature_importance(&self) -> Vec<(String, f64)> {
        let gains = self.booster.importance_gain().unwrap_or_default();
        self.feature_names
            .iter()
            .enumerate()
            .map(|(j, n)| (n.clone(), gains.get(j).copied().unwrap_or(0.0)))
            .collect()
    }
    fn to_bytes(&self) -> Result<Vec<u8>> {
        Ok(self.text.as_bytes().to_vec())
    }
}

impl Estimator for Gbdt {
    type Params = GbdtParams;
    const KIND: ModelKind = ModelKind::Gbdt;
    fn fit(data: &Dataset, params: &GbdtParams) -> Result<Self> {
        Ok(train(data, None, params, None)?.0)
    }
    fn fit_with_valid(
        train_set: &Dataset,
        valid: Option<&Dataset>,
        params: &GbdtParams,
    ) -> Result<Self> {
        Ok(train(train_set, valid, params, None)?.0)
    }
    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let text =
            std::str::from_utf8(bytes).map_err(|e| ModelError::format("LightGBM model text", e))?;
        Gbdt::from_text(text.to_string())
    }
}
