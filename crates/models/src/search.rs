//! Budgeted random search over a GBDT space, scored by the mean validation metric over the
//! caller's folds (validation folds only — the test period is never touched).
//!
//! Trial `i` draws its parameters from its own seeded stream, so trials do not depend on
//! each other, on timing or on resuming. With a `log_path`, each finished trial is appended
//! to a JSON-lines log (first line: a header identifying data, folds, space and seed);
//! with `resume = true` the logged trials are read back and skipped, so a killed search
//! continues where it stopped and ends with the same result as an uninterrupted one.

use crate::data::Dataset;
use crate::error::{ModelError, Result};
use crate::estimator::Model;
use crate::folds::{validate_folds, Fold};
use crate::gbdt::{train, GbdtParams};
use crate::metric::ValidationMetric;
use crate::rng::SplitMix64;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// Ranges of the searched GBDT parameters (inclusive). Integer and scale parameters are
/// drawn log-uniformly, fractions uniformly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GbdtSpace {
    /// `num_leaves` range.
    pub num_leaves: (usize, usize),
    /// `learning_rate` range.
    pub learning_rate: (f64, f64),
    /// `min_data_in_leaf` range.
    pub min_data_in_leaf: (usize, usize),
    /// `feature_fraction` range.
    pub feature_fraction: (f64, f64),
    /// `bagging_fraction` range (bagging every round when < 1).
    pub bagging_fraction: (f64, f64),
    /// `lambda_l2` range (log-uniform; a lower bound of 0 is treated as 1e-3).
    pub lambda_l2: (f64, f64),
}

impl Default for GbdtSpace {
    fn default() -> Self {
        GbdtSpace {
            num_leaves: (15, 255),
            learning_rate: (0.02, 0.2),
            min_data_in_leaf: (20, 1000),
            feature_fraction: (0.5, 1.0),
            bagging_fraction: (0.5, 1.0),
            lambda_l2: (1e-3, 10.0),
        }
    }
}

fn log_uniform(rng: &mut SplitMix64, lo: f64, hi: f64) -> f64 {
    let lo = lo.max(1e-12);
    (rng.uniform(lo.ln(), hi.max(lo).ln()))
        .exp()
        .clamp(lo, hi.max(lo))
}

impl GbdtSpace {
    fn validate(&self) -> Result<()> {
        let ok = self.num_leaves.0 >= 2
            && self.num_leaves.0 <= self.num_leaves.1
            && self.learning_rate.0 > 0.0
            && self.learning_rate.0 <= self.learning_rate.1
            && self.min_data_in_leaf.0 >= 1
            && self.min_data_in_leaf.0 <= self.min_data_in_leaf.1
            && self.feature_fraction.0 > 0.0
            && self.feature_fraction.0 <= self.feature_fraction.1
            && self.feature_fraction.1 <= 1.0
            && self.bagging_fraction.0 > 0.0
            && self.bagging_fraction.0 <= self.bagging_fraction.1
            && self.bagging_fraction.1 <= 1.0
            && self.lambda_l2.0 >= 0.0
            && self.lambda_l2.0 <= self.lambda_l2.1;
        if ok {
            Ok(())
        } else {
            Err(ModelError::param(
                "space",
                "a range is empty or out of bounds",
            ))
        }
    }

    /// Parameters of trial `index` (trial 0 is `base` itself).
    pub fn sample(&self, base: &GbdtParams, seed: u64, index: usize) -> GbdtParams {
        let mut p = base.clone();
        if index == 0 {
            return p;
        }
        let mut rng = SplitMix64::with_stream(seed, index as u64);
        p.num_leaves = log_uniform(&mut rng, self.num_leaves.0 as f64, self.num_leaves.1 as f64)
            .round() as usize;
        p.learning_rate = log_uniform(&mut rng, self.learning_rate.0, self.learning_rate.1);
        p.min_data_in_leaf = log_uniform(
            &mut rng,
            self.min_data_in_leaf.0 as f64,
            self.min_data_in_leaf.1 as f64,
        )
        .round() as usize;
        p.feature_fraction = rng.uniform(self.feature_fraction.0, self.feature_fraction.1);
        p.bagging_fraction = rng.uniform(self.bagging_fraction.0, self.bagging_fraction.1);
        p.bagging_freq = usize::from(p.bagging_fraction < 1.0);
        p.lambda_l2 = log_uniform(&mut rng, self.lambda_l2.0.max(1e-3), self.lambda_l2.1);
        p
    }
}

/// Budget, scoring and log of a search.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// Number of trials (trial 0 = the base parameters).
    pub n_trials: usize,
    /// Seed of the parameter draws.
    pub seed: u64,
    /// Validation metric averaged over folds.
    pub metric: ValidationMetric,
    /// Stop starting new trials after this many seconds (finished trials are kept).
    pub max_seconds: Option<f64>,
    /// Append finished trials here (JSON lines).
    pub log_path: Option<PathBuf>,
    /// Skip trials already in `log_path`.
    pub resume: bool,
    /// Stop with [`ModelError::Interrupted`] after this many trials in this run.
    pub stop_after_trials: Option<usize>,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            n_trials: 20,
            seed: 7,
            metric: ValidationMetric::AveragePrecision,
            max_seconds: None,
            log_path: None,
            resume: false,
            stop_after_trials: None,
        }
    }
}

/// One evaluated parameter set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Trial number.
    pub index: usize,
    /// Parameters tried.
    pub params: GbdtParams,
    /// Metric on each fold's validation rows.
    pub fold_scores: Vec<f64>,
    /// Mean over folds.
    pub mean_score: f64,
    /// Best boosting round on each fold (early stopping).
    pub best_iterations: Vec<usize>,
    /// Wall time (informational).
    pub seconds: f64,
}

/// Outcome of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Best parameters, with `n_rounds` set to the mean best round over folds (for a
    /// refit on all training data without a validation set).
    pub best_params: GbdtParams,
    /// Index of the best trial.
    pub best_trial: usize,
    /// Its mean validation score.
    pub best_score: f64,
    /// The metric.
    pub metric: ValidationMetric,
    /// Every finished trial, by index.
    pub trials: Vec<Trial>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LogHeader {
    format: String,
    key: String,
}

const LOG_FORMAT: &str = "shopsense-search-log-v1";

fn run_key(
    data: &Dataset,
    folds: &[Fold],
    base: &GbdtParams,
    space: &GbdtSpace,
    cfg: &SearchConfig,
) -> Result<String> {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(data.fingerprint().as_bytes());
    for (tr, va) in folds {
        h.update(&(tr.len() as u64).to_le_bytes());
        for &i in tr.iter().chain(va) {
            h.update(&(i as u64).to_le_bytes());
        }
        h.update(&(va.len() as u64).to_le_bytes());
    }
    let cfg_json = serde_json::to_string(&(base, space, cfg.seed, cfg.metric))
        .map_err(|e| ModelError::format("search config", e))?;
    h.update(cfg_json.as_bytes());
    Ok(format!("{:032x}", h.digest128()))
}

fn read_log(path: &PathBuf, key: &str) -> Result<Vec<Trial>> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
    let mut lines = text.lines();
    let header: LogHeader = match lines.next() {
        Some(l) => serde_json::from_str(l).map_err(|e| ModelError::format("search log", e))?,
        None => return Ok(Vec::new()),
    };
    if header.format != LOG_FORMAT || header.key != key {
        return Err(ModelError::CheckpointMismatch {
            path: path.clone(),
            reason: "the search log belongs to other data, folds, space or seed".into(),
        });
    }
    let mut out = Vec::new();
    for l in lines {
        // A line cut by a kill mid-write is ignored (that trial simply runs again).
        if let Ok(t) = serde_json::from_str::<Trial>(l) {
            out.push(t);
        }
    }
    Ok(out)
}

fn append_line(path: &PathBuf, line: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| ModelError::io(path, e))?;
    f.write_all(line.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .and_then(|_| f.sync_data())
        .map_err(|e| ModelError::io(path, e))
}

/// Scores one parameter set on every fold.
pub fn evaluate_params(
    data: &Dataset,
    folds: &[Fold],
    params: &GbdtParams,
    metric: ValidationMetric,
) -> Result<(Vec<f64>, Vec<usize>)> {
    let mut scores = Vec::with_capacity(folds.len());
    let mut iters = Vec::with_capacity(folds.len());
    for (tr, va) in folds {
        let train_set = data.subset(tr)?;
        let valid_set = data.subset(va)?;
        let (model, log) = train(&train_set, Some(&valid_set), params, None)?;
        let p = model.predict_proba(valid_set.x().view())?;
        scores.push(metric.score(valid_set.labels(), &p)?);
        iters.push(log.best_iteration);
    }
    Ok((scores, iters))
}

/// Runs (or resumes) a budgeted random search; see the module docs.
pub fn random_search(
    data: &Dataset,
    folds: &[Fold],
    base: &GbdtParams,
    space: &GbdtSpace,
    cfg: &SearchConfig,
) -> Result<SearchResult> {
    validate_folds(folds, data.n_rows())?;
    space.validate()?;
    base.validate()?;
    if cfg.n_trials == 0 {
        return Err(ModelError::param("n_trials", "must be ≥ 1"));
    }
    let key = run_key(data, folds, base, space, cfg)?;
    let mut trials: Vec<Trial> = Vec::new();
    if let Some(path) = &cfg.log_path {
        if cfg.resume && path.exists() {
            trials = read_log(path, &key)?;
            trials.retain(|t| {
                t.index < cfg.n_trials && t.params == space.sample(base, cfg.seed, t.index)
            });
        } else {
            let header = serde_json::to_string(&LogHeader {
                format: LOG_FORMAT.into(),
                key: key.clone(),
            })
            .map_err(|e| ModelError::format("search log", e))?;
            crate::io::atomic_write(path, format!("{header}\n").as_bytes())?;
        }
    }
    let start = Instant::now();
    let mut ran = 0usize;
    for index in 0..cfg.n_trials {
        if trials.iter().any(|t| t.index == index) {
            continue;
        }
        if cfg
            .max_seconds
            .is_some_and(|m| start.elapsed().as_secs_f64() >= m)
        {
            break;
        }
        if cfg.stop_after_trials.is_some_and(|s| ran >= s) {
            return Err(ModelError::Interrupted {
                rounds_done: trials.len(),
            });
        }
        let params = space.sample(base, cfg.seed, index);
        let t0 = Instant::now();
        let (fold_scores, best_iterations) = evaluate_params(data, folds, &params, cfg.metric)?;
        let mean_score = fold_scores.iter().sum::<f64>() / fold_scores.len() as f64;
        let trial = Trial {
            index,
            params,
            fold_scores,
            mean_score,
            best_iterations,
            seconds: t0.elapsed().as_secs_f64(),
        };
        if let Some(path) = &cfg.log_path {
            let line =
                serde_json::to_string(&trial).map_err(|e| ModelError::format("search log", e))?;
            append_line(path, &line)?;
        }
        trials.push(trial);
        ran += 1;
    }
    trials.sort_by_key(|t| t.index);
    let better = |a: f64, b: f64| {
        if cfg.metric.higher_is_better() {
            a > b
        } else {
            a < b
        }
    };
    let mut best: Option<&Trial> = None;
    for t in &trials {
        if t.mean_score.is_finite() && best.is_none_or(|b| better(t.mean_score, b.mean_score)) {
            best = Some(t);
        }
    }
    let best = best.ok_or_else(|| ModelError::Invalid("no trial finished".into()))?;
    let mut best_params = best.params.clone();
    let mean_iter = best.best_iterations.iter().sum::<usize>() as f64
        / best.best_iterations.len().max(1) as f64;
    best_params.n_rounds = (mean_iter.round() as usize).max(1);
    Ok(SearchResult {
        best_params,
        best_trial: best.index,
        best_score: best.mean_score,
        metric: cfg.metric,
        trials: trials.clone(),
    })
}
