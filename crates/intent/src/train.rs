//! The training pipeline: search (GBDT, on rolling-origin folds inside the training part),
//! final fit with early stopping on the validation part, calibration and threshold on
//! validation predictions, evaluation on the test part only, and the bundle.

use crate::bundle::{model_version, IntentParams, SearchInfo, SplitInfo, INTENT_FORMAT};
use crate::config::{
    ImbalanceChoice, ModelChoice, TrainConfig, LOGISTIC_EXCLUDED, SEED_RF_FEATURES,
};
use crate::data::{fold_data, into_dataset, matrix_ref, positives, prepare, refit_data, Prepared};
use crate::error::{IntentError, Result};
use crate::progress::Progress;
use crate::report::{
    build_report, metrics, period_unit, summarize, EvalSummary, Metrics, ReportInput,
};
use serde::{Deserialize, Serialize};
use shopsense_eval::{ModelInfo, Report};
use shopsense_events::EventTable;
use shopsense_models::imbalance::undersample_indices;
use shopsense_models::{
    apply_class_weights, choose_threshold, random_search, train_gbdt, undersample, AnyModel, Blend,
    Bundle, Calibrator, Checkpointing, ClassWeight, Dataset, Estimator, Fold, ForestParams,
    GbdtParams, GbdtSpace, Logistic, Model, ModelError, RandomForest, SearchConfig, SearchResult,
    ThresholdChoice, TrainLog,
};
use shopsense_sessions::Sessions;
use std::collections::BTreeMap;
use std::time::Instant;

/// Rows stored in the bundle's reproducibility probe.
pub const PROBE_ROWS: usize = 16;

/// What `train` prints (`--json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Model family.
    pub model: ModelChoice,
    /// Model version (content hash).
    pub model_version: String,
    /// Protocol.
    pub protocol: String,
    /// Number of features.
    pub n_features: usize,
    /// The split.
    pub split: SplitInfo,
    /// How the threshold was chosen (on validation).
    pub threshold: ThresholdChoice,
    /// Metrics of the validation part (calibrated scores, chosen threshold).
    pub validation: Metrics,
    /// The test part: metrics, intervals, per period, importance.
    pub test: EvalSummary,
    /// The search, if one ran.
    pub search: Option<SearchInfo>,
    /// Boosting rounds kept (GBDT).
    pub rounds: Option<usize>,
    /// Seconds per step.
    pub seconds: BTreeMap<String, f64>,
    /// With `--model auto`: the choice and every candidate's validation metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<AutoChoice>,
}

/// One candidate of `--model auto`, measured on the validation part only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoCandidate {
    /// The family.
    pub model: ModelChoice,
    /// Its feature columns.
    pub n_features: usize,
    /// Metrics of its (calibrated) validation predictions at its own threshold.
    pub validation: Metrics,
    /// Wall seconds of its data preparation (when it needed its own), its rolling-origin
    /// folds and its fit up to the validation metrics.
    #[serde(default)]
    pub seconds: f64,
    /// Its scores on the rolling-origin folds inside the training part (empty when the
    /// training part is too small for `cv_folds` folds with both outcomes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folds: Vec<FoldScore>,
}

/// One candidate's score on one rolling-origin fold: fitted on the fold's earlier training
/// sessions (encoders refitted on that window), scored on the block after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldScore {
    /// Rows the fold scores.
    pub rows: usize,
    /// Positive rows among them.
    pub positives: usize,
    /// PR-AUC (average precision) of the uncalibrated scores.
    pub pr_auc: Option<f64>,
    /// ROC-AUC of the uncalibrated scores.
    pub roc_auc: Option<f64>,
}

impl AutoCandidate {
    /// The means [`choose_auto`] ranks by: `(PR-AUC, ROC-AUC)`, each averaged over the
    /// rolling-origin folds and the validation part (one value per block; a missing or
    /// `NaN` metric counts as absent, and a candidate with none ranks lowest).
    pub fn selection_score(&self) -> (f64, f64) {
        let mean = |vals: Vec<Option<f64>>| {
            let v: Vec<f64> = vals.into_iter().flatten().filter(|x| !x.is_nan()).collect();
            if v.is_empty() {
                f64::NEG_INFINITY
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        let pr = std::iter::once(self.validation.pr_auc)
            .chain(self.folds.iter().map(|f| f.pr_auc))
            .collect();
        let roc = std::iter::once(self.validation.roc_auc)
            .chain(self.folds.iter().map(|f| f.roc_auc))
            .collect();
        (mean(pr), mean(roc))
    }
}

/// What `--model auto` chose and why (stored in the summary and the bundle's params).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoChoice {
    /// The family kept.
    pub chosen: ModelChoice,
    /// The rule: `max validation PR-AUC, ties by validation ROC-AUC, then candidate order`.
    pub rule: String,
    /// Every candidate, in [`ModelChoice::CANDIDATES`] order.
    pub candidates: Vec<AutoCandidate>,
}

/// The rule of [`choose_auto`], as recorded.
pub const AUTO_RULE: &str =
    "max mean PR-AUC over the rolling-origin folds of the training part and the validation part, \
     ties by the same mean of ROC-AUC, then candidate order (gbdt, logistic, seed-rf, blend; \
     the blend only below the large-data row count)";

/// Index of the candidate `auto` keeps: the largest [`AutoCandidate::selection_score`] (mean
/// PR-AUC over the rolling-origin folds and the validation part), ties broken by the mean
/// ROC-AUC, then by the earlier candidate. `None` for no candidates.
///
/// The folds make the choice steadier than the validation part alone: on the small real
/// samples the validation part holds a few dozen buyers, and which family wins there moved
/// with the seed.
pub fn choose_auto(candidates: &[AutoCandidate]) -> Option<usize> {
    let key = AutoCandidate::selection_score;
    let mut best: Option<usize> = None;
    for (i, c) in candidates.iter().enumerate() {
        match best {
            Some(b) if key(c) <= key(&candidates[b]) => {}
            _ => best = Some(i),
        }
    }
    best
}

/// Everything a training run produces.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The bundle, ready to save.
    pub bundle: Bundle,
    /// The test report (HTML / JSON).
    pub report: Report,
    /// The printed numbers.
    pub summary: TrainSummary,
    /// Final (calibrated) probabilities of the test rows, in the order of `test_sessions`.
    pub test_probs: Vec<f64>,
    /// Session index of each test row.
    pub test_sessions: Vec<u32>,
    /// Final probabilities of the validation rows.
    pub valid_probs: Vec<f64>,
}

fn interrupted(e: ModelError) -> IntentError {
    match e {
        ModelError::Interrupted { rounds_done } => IntentError::Interrupted { done: rounds_done },
        other => other.into(),
    }
}

/// The search space of the intent model: smaller trees and larger leaves than the models
/// crate's generic space, for training parts of a few thousand sessions up to millions.
pub fn search_space() -> GbdtSpace {
    GbdtSpace {
        num_leaves: (4, 63),
        learning_rate: (0.01, 0.1),
        min_data_in_leaf: (10, 400),
        feature_fraction: (0.3, 1.0),
        bagging_fraction: (0.5, 1.0),
        lambda_l2: (1e-3, 30.0),
    }
}

/// Prepares the data and trains (see [`prepare`] and [`fit`]).
pub fn train(
    t: &EventTable,
    sessions: &Sessions,
    cfg: &TrainConfig,
    progress: &dyn Progress,
) -> Result<TrainOutcome> {
    cfg.validate()?;
    let t0 = Instant::now();
    let prep = prepare(t, sessions, &cfg.feature_spec()?, progress)?;
    let prepare_s = t0.elapsed().as_secs_f64();
    let mut out = fit(t, sessions, cfg, prep, progress)?;
    out.summary.seconds.insert("prepare".into(), prepare_s);
    Ok(out)
}

fn apply_imbalance(d: &Dataset, choice: ImbalanceChoice, seed: u64) -> Result<Dataset> {
    Ok(match choice {
        ImbalanceChoice::None => d.clone(),
        ImbalanceChoice::Weights => apply_class_weights(d, ClassWeight::Balanced)?,
        ImbalanceChoice::Undersample => undersample(d, 1.0, seed)?,
    })
}

/// Runs the search, one trial per call when there is a log (progress, resume).
fn run_search(
    data: &Dataset,
    folds: &[Fold],
    base: &GbdtParams,
    cfg: &TrainConfig,
    progress: &dyn Progress,
) -> Result<SearchResult> {
    let space = search_space();
    let mut sc = SearchConfig {
        n_trials: cfg.search_trials,
        seed: cfg.seed,
        metric: cfg.search_metric,
        ..SearchConfig::default()
    };
    let Some(ck) = &cfg.checkpoint else {
        progress.step(&format!("search ({} trials)", cfg.search_trials));
        let r = random_search(data, folds, base, &space, &sc)?;
        progress.done();
        return Ok(r);
    };
    sc.log_path = Some(ck.search_log());
    progress.bar("search", cfg.search_trials as u64, "trials");
    let mut resume = ck.resume;
    let (mut ran, mut shown) = (0usize, 0usize);
    loop {
        if ck.stop_after_trials.is_some_and(|s| ran >= s) {
            progress.done();
            return Err(IntentError::Interrupted { done: shown });
        }
        sc.resume = resume;
        sc.stop_after_trials = Some(1);
        match random_search(data, folds, base, &space, &sc) {
            Ok(r) => {
                progress.inc(cfg.search_trials.saturating_sub(shown) as u64);
                progress.done();
                return Ok(r);
            }
            Err(ModelError::Interrupted { rounds_done }) => {
                progress.inc(rounds_done.saturating_sub(shown) as u64);
                shown = rounds_done.max(shown);
                resume = true;
                ran += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Fits the configured model family on `train` (imbalance treatment applied here; seed-rf
/// has its own 1:1 undersampling) with `valid` for GBDT early stopping.
fn fit_model(
    cfg: &TrainConfig,
    train: &Dataset,
    valid: Option<&Dataset>,
    params: &GbdtParams,
    ck: Option<&Checkpointing>,
    progress: &dyn Progress,
) -> Result<(AnyModel, serde_json::Value, Option<TrainLog>)> {
    match cfg.model {
        ModelChoice::Gbdt => {
            let fit_ds = apply_imbalance(train, cfg.imbalance, cfg.seed)?;
            progress.step(&format!(
                "training gbdt ({} rows × {} features)",
                fit_ds.n_rows(),
                fit_ds.n_features()
            ));
            let res = train_gbdt(&fit_ds, valid, params, ck);
            progress.done();
            let (m, log) = res.map_err(interrupted)?;
            Ok((AnyModel::Gbdt(m), serde_json::to_value(params)?, Some(log)))
        }
        ModelChoice::Logistic => {
            let fit_ds = apply_imbalance(train, cfg.imbalance, cfg.seed)?;
            progress.step("training logistic");
            let m = Logistic::fit(&fit_ds, &cfg.logistic);
            progress.done();
            Ok((
                AnyModel::Logistic(m?),
                serde_json::to_value(&cfg.logistic)?,
                None,
            ))
        }
        ModelChoice::SeedRf => {
            let p = ForestParams {
                seed: cfg.seed,
                ..ForestParams::seed_rf()
            };
            progress.step("training seed-rf");
            let m = RandomForest::fit(train, &p);
            progress.done();
            Ok((AnyModel::SeedRf(m?), serde_json::to_value(&p)?, None))
        }
        ModelChoice::Blend => {
            let mut models = Vec::with_capacity(cfg.blend.len());
            let mut members = Vec::with_capacity(cfg.blend.len());
            let mut log = None;
            for &m in &cfg.blend {
                let c = cfg.candidate(m);
                let names = member_features(m, train.feature_names())?;
                let tr = train.select_features(&names)?;
                let va = valid.map(|v| v.select_features(&names)).transpose()?;
                let member_ck = if m == ModelChoice::Gbdt { ck } else { None };
                let (model, p, l) = fit_model(&c, &tr, va.as_ref(), params, member_ck, progress)?;
                if l.is_some() {
                    log = l;
                }
                members.push(serde_json::json!({ "model": m, "params": p }));
                models.push(model);
            }
            let names = train.feature_names().to_vec();
            let blend = Blend::new(names, models, train.x().view())?;
            Ok((
                AnyModel::Blend(blend),
                serde_json::json!({ "members": members }),
                log,
            ))
        }
        ModelChoice::Auto => Err(IntentError::config(
            "--model auto trains one candidate family at a time",
        )),
    }
}

/// The columns of `available` blend member `m` reads: gbdt all of them, logistic all but
/// the hashed codes ([`LOGISTIC_EXCLUDED`]), seed-rf its six ([`SEED_RF_FEATURES`], which
/// must all be there).
fn member_features(m: ModelChoice, available: &[String]) -> Result<Vec<String>> {
    match m {
        ModelChoice::Logistic => Ok(available
            .iter()
            .filter(|f| !LOGISTIC_EXCLUDED.contains(&f.as_str()))
            .cloned()
            .collect()),
        ModelChoice::SeedRf => SEED_RF_FEATURES
            .iter()
            .map(|(_, col)| {
                available
                    .iter()
                    .find(|f| f.as_str() == *col)
                    .cloned()
                    .ok_or_else(|| {
                        IntentError::config(format!(
                            "the seed-rf blend member needs the feature `{col}`"
                        ))
                    })
            })
            .collect(),
        _ => Ok(available.to_vec()),
    }
}

/// Fits the model on prepared data: search (GBDT, optional), final fit with early stopping
/// on validation, calibration and threshold on validation predictions, evaluation on the
/// test rows, bundle. The matrices are moved into the model's datasets, not copied.
///
/// With [`ModelChoice::Auto`], every candidate family goes through the steps up to the
/// validation metrics (`prep` serves the candidates whose feature definition it matches;
/// the others prepare their own), the one [`choose_auto`] picks is evaluated on the test
/// part and bundled, and the others never see the test rows.
pub fn fit(
    t: &EventTable,
    sessions: &Sessions,
    cfg: &TrainConfig,
    prep: Prepared,
    progress: &dyn Progress,
) -> Result<TrainOutcome> {
    cfg.validate()?;
    if cfg.model != ModelChoice::Auto {
        let cfg = &cfg.effective();
        let v = fit_validate(t, sessions, cfg, prep, progress)?;
        return finish(t, sessions, cfg, v, None, progress);
    }
    let large = cfg.large_data_rows.is_some_and(|n| prep.train.n_rows >= n);
    let mut prep = Some(prep);
    let mut done = Vec::with_capacity(ModelChoice::CANDIDATES.len());
    for m in ModelChoice::CANDIDATES {
        if m == ModelChoice::Blend && large {
            // The blend averages away the variance of small training parts; on large ones a
            // single GBDT has little of it, outranks the others by far, and the blend (which
            // refits every member) only dilutes it (10M synthetic events: validation PR-AUC
            // 0.83 against the GBDT's 0.93, and 83 s of 170).
            tracing::info!("--model auto: large training part, blend not tried");
            continue;
        }
        let clock = Instant::now();
        let c = cfg.candidate(m);
        let spec = c.feature_spec()?;
        let p = match prep.take() {
            Some(p) if p.spec == spec => p,
            other => {
                prep = other;
                prepare(t, sessions, &spec, progress)?
            }
        };
        // The folds are built before the prepared data moves into the fit; they are scored
        // after it, with the rounds the fit chose on the validation part.
        let folds = if c.cv_folds >= 2 {
            progress.step(&format!("{} folds", c.model));
            let all_rows = |y: &[f32]| -> Result<Vec<usize>> { Ok((0..y.len()).collect()) };
            let f = fold_data(t, sessions, &p, c.cv_folds, &all_rows);
            progress.done();
            f.map_err(|e| tracing::info!(model = %c.model, "--model auto without folds: {e}"))
                .ok()
        } else {
            None
        };
        let v = fit_validate(t, sessions, &c, p, progress)?;
        let scores = match folds {
            Some((ds, folds)) => fold_scores(&c, &ds, &folds, &v, progress)
                .map_err(|e| tracing::info!(model = %c.model, "--model auto without folds: {e}"))
                .unwrap_or_default(),
            None => Vec::new(),
        };
        done.push((c, v, scores, clock.elapsed().as_secs_f64()));
    }
    drop(prep);
    // Folds count only when every candidate has them (a training part too small for the
    // folds leaves the choice to the validation part alone, as for every candidate).
    if done.iter().any(|d| d.2.is_empty()) {
        for d in &mut done {
            d.2.clear();
        }
    }
    let candidates: Vec<AutoCandidate> = done
        .iter_mut()
        .map(|(c, v, scores, secs)| AutoCandidate {
            model: c.model,
            n_features: v.spec.features.len(),
            validation: v.validation.clone(),
            seconds: *secs,
            folds: std::mem::take(scores),
        })
        .collect();
    let best = choose_auto(&candidates)
        .ok_or_else(|| IntentError::config("--model auto: no candidate model"))?;
    let auto = AutoChoice {
        chosen: candidates[best].model,
        rule: AUTO_RULE.into(),
        candidates,
    };
    tracing::info!(chosen = %auto.chosen, "--model auto");
    let (c, mut v, _, _) = done.swap_remove(best);
    let all: f64 = auto.candidates.iter().map(|c| c.seconds).sum();
    v.seconds.insert("auto_candidates".into(), all);
    drop(done);
    finish(t, sessions, &c, v, Some(auto), progress)
}

/// Scores `cfg`'s family on each rolling-origin fold of `ds` (see [`fold_data`]): fitted on
/// the fold's training rows with the settings of the validated fit `v` (a GBDT keeps its
/// validation-chosen rounds, scaled to the fold's training rows, without early stopping
/// on the scored block), scored on the block after them.
fn fold_scores(
    cfg: &TrainConfig,
    ds: &Dataset,
    folds: &[Fold],
    v: &Validated,
    progress: &dyn Progress,
) -> Result<Vec<FoldScore>> {
    use shopsense_models::metric::{average_precision, roc_auc};
    let mut out = Vec::with_capacity(folds.len());
    for (tr, va) in folds {
        let tr_ds = ds.subset(tr)?;
        let va_ds = ds.subset(va)?;
        let mut p = v.params.clone();
        if let Some(log) = &v.train_log {
            let scale = tr.len() as f64 / v.train_rows.max(1) as f64;
            p.n_rounds = ((log.best_iteration as f64 * scale).round() as usize).max(1);
            p.early_stopping_rounds = None;
        }
        let (m, _, _) = fit_model(cfg, &tr_ds, None, &p, None, progress)?;
        let probs = m.predict_proba(va_ds.x().view())?;
        let y = va_ds.labels();
        out.push(FoldScore {
            rows: y.len(),
            positives: y.iter().filter(|&&l| l == 1.0).count(),
            pr_auc: average_precision(y, &probs, None).ok(),
            roc_auc: roc_auc(y, &probs, None).ok(),
        });
    }
    Ok(out)
}

/// A model fitted, calibrated and thresholded on validation; the test part untouched.
struct Validated {
    seconds: BTreeMap<String, f64>,
    search_info: Option<SearchInfo>,
    params: GbdtParams,
    spec: shopsense_features::FeatureSpec,
    prefixes: Vec<shopsense_features::Prefix>,
    parts: shopsense_features::Split,
    encoders: shopsense_features::Encoders,
    test: shopsense_features::FeatureMatrix,
    train_rows: usize,
    train_positives: usize,
    valid_rows: usize,
    valid_positives: usize,
    fingerprint: String,
    model: AnyModel,
    model_params: serde_json::Value,
    train_log: Option<TrainLog>,
    calibrator: Calibrator,
    choice: ThresholdChoice,
    validation: Metrics,
    drift_reference: serde_json::Value,
    valid_probs: Vec<f64>,
}

/// The steps of [`fit`] that use training and validation rows only.
fn fit_validate(
    t: &EventTable,
    sessions: &Sessions,
    cfg: &TrainConfig,
    prep: Prepared,
    progress: &dyn Progress,
) -> Result<Validated> {
    cfg.validate()?;
    let mut seconds = BTreeMap::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str, seconds: &mut BTreeMap<String, f64>| {
        seconds.insert(name.to_string(), clock.elapsed().as_secs_f64());
        clock = Instant::now();
    };
    if let Some(ck) = &cfg.checkpoint {
        std::fs::create_dir_all(&ck.dir).map_err(|e| IntentError::io(&ck.dir, e))?;
    }
    let mut search_info = None;
    let large = matches!(cfg.model, ModelChoice::Gbdt | ModelChoice::Blend)
        && cfg.search_trials == 0
        && cfg.large_data_rows.is_some_and(|n| prep.train.n_rows >= n);
    let mut params = if large {
        tracing::info!(
            rows = prep.train.n_rows,
            "large training part: GBDT uses the large-data schedule (set --gbdt-params to choose)"
        );
        crate::config::large_data_gbdt_params(&cfg.gbdt)
    } else {
        cfg.gbdt.clone()
    };
    params.seed = cfg.seed;
    params.threads = cfg.threads;
    if cfg.model == ModelChoice::Gbdt && cfg.search_trials > 0 {
        progress.step("search folds");
        let seed = cfg.seed;
        let keep = |y: &[f32]| -> Result<Vec<usize>> {
            match cfg.imbalance {
                ImbalanceChoice::Undersample => Ok(undersample_indices(y, 1.0, seed)?),
                _ => Ok((0..y.len()).collect()),
            }
        };
        let (mut fold_ds, folds) = fold_data(t, sessions, &prep, cfg.cv_folds, &keep)?;
        if cfg.imbalance == ImbalanceChoice::Weights {
            // Class weights on each fold's training rows; validation rows weigh 1.
            let mut w = vec![1f32; fold_ds.n_rows()];
            for (tr, _) in &folds {
                let y: Vec<f32> = tr.iter().map(|&i| fold_ds.labels()[i]).collect();
                let (w0, w1) = ClassWeight::Balanced.weights(&y)?;
                for &i in tr {
                    w[i] = if fold_ds.labels()[i] == 1.0 { w1 } else { w0 } as f32;
                }
            }
            fold_ds = fold_ds.with_weights(Some(w))?;
        }
        progress.done();
        lap("search_folds", &mut seconds);
        let r = run_search(&fold_ds, &folds, &params, cfg, progress)?;
        lap("search", &mut seconds);
        let mut best = r.best_params.clone();
        // The final fit stops early on the validation part instead of using the folds'
        // mean best round.
        best.n_rounds = params.n_rounds;
        best.early_stopping_rounds = params.early_stopping_rounds;
        search_info = Some(SearchInfo {
            trials: r.trials.len(),
            folds: folds.len(),
            metric: r.metric,
            best_trial: r.best_trial,
            best_score: r.best_score,
            base_score: r.trials.iter().find(|t| t.index == 0).map(|t| t.mean_score),
            best_params: r.best_params.clone(),
        });
        params = best;
    }
    let Prepared {
        spec,
        prefixes,
        split: parts,
        encoders,
        train,
        valid,
        test,
        ..
    } = prep;
    let train_rows = train.n_rows;
    let train_positives = positives(&train);
    let valid_rows = valid.n_rows;
    let valid_positives = positives(&valid);
    let train_ds = into_dataset(train)?;
    let valid_ds = into_dataset(valid)?;
    let fingerprint = train_ds.fingerprint();
    let ck = cfg.checkpoint.as_ref().map(|c| Checkpointing {
        path: c.gbdt_path(),
        resume: c.resume,
        stop_after_chunks: c.stop_after_chunks,
    });
    let (model, model_params, train_log) = fit_model(
        cfg,
        &train_ds,
        Some(&valid_ds),
        &params,
        ck.as_ref(),
        progress,
    )?;
    lap("fit", &mut seconds);
    progress.step("calibration and threshold");
    let raw_valid = model.predict_proba(valid_ds.x().view())?;
    let calibrator = Calibrator::fit(cfg.calibration, &raw_valid, valid_ds.labels())?;
    let valid_probs = calibrator.apply_all(&raw_valid);
    let choice = choose_threshold(&valid_probs, valid_ds.labels(), cfg.threshold.objective())?;
    let validation = metrics(valid_ds.labels(), &valid_probs, choice.threshold)?;
    let drift_reference = crate::drift::drift_reference(
        valid_ds.x().view(),
        valid_ds.feature_names(),
        &valid_probs,
        10,
    );
    progress.done();
    drop(valid_ds);
    drop(train_ds);
    Ok(Validated {
        seconds,
        search_info,
        params,
        spec,
        prefixes,
        parts,
        encoders,
        test,
        train_rows,
        train_positives,
        valid_rows,
        valid_positives,
        fingerprint,
        model,
        model_params,
        train_log,
        calibrator,
        choice,
        validation,
        drift_reference,
        valid_probs,
    })
}

/// The rest of [`fit`]: optional refit, the test part, the bundle.
fn finish(
    t: &EventTable,
    sessions: &Sessions,
    cfg: &TrainConfig,
    v: Validated,
    auto: Option<AutoChoice>,
    progress: &dyn Progress,
) -> Result<TrainOutcome> {
    let Validated {
        mut seconds,
        search_info,
        params,
        spec,
        prefixes,
        parts,
        encoders,
        test,
        train_rows,
        train_positives,
        valid_rows,
        valid_positives,
        fingerprint,
        model,
        model_params,
        train_log,
        calibrator,
        choice,
        validation,
        drift_reference,
        valid_probs,
    } = v;
    let mut clock = Instant::now();
    let mut lap = |name: &str, seconds: &mut BTreeMap<String, f64>| {
        seconds.insert(name.to_string(), clock.elapsed().as_secs_f64());
        clock = Instant::now();
    };
    // Optional refit on training + validation rows: same rounds per row, same calibration
    // and threshold, encoders of the longer window.
    let mut refit_rounds = None;
    let (model, model_params, encoders, test, fingerprint) = if cfg.refit {
        drop(test);
        progress.step("refit data");
        let (enc, both, test_m) = refit_data(t, sessions, &spec, &prefixes, &parts)?;
        let both_rows = both.n_rows;
        let both_ds = into_dataset(both)?;
        progress.done();
        let mut p = params.clone();
        if let Some(log) = &train_log {
            let scale = both_rows as f64 / train_rows.max(1) as f64;
            p.n_rounds = ((log.best_iteration as f64 * scale).round() as usize).max(1);
            p.early_stopping_rounds = None;
            refit_rounds = Some(p.n_rounds);
        }
        let ck = cfg.checkpoint.as_ref().map(|c| Checkpointing {
            path: c.refit_path(),
            resume: c.resume,
            stop_after_chunks: c.stop_after_chunks,
        });
        let (m, mp, _) = fit_model(cfg, &both_ds, None, &p, ck.as_ref(), progress)?;
        lap("refit", &mut seconds);
        (m, mp, enc, test_m, both_ds.fingerprint())
    } else {
        (model, model_params, encoders, test, fingerprint)
    };

    progress.step("evaluating on the test part");
    let test_x = matrix_ref(&test)?;
    let test_probs = calibrator.apply_all(&model.predict_proba(test_x)?);
    let all_starts: Vec<i64> = prefixes.iter().map(|p| p.start_ms).collect();
    let test_labels: Vec<f32> = test.labels.iter().map(|&l| f32::from(l)).collect();
    let mut info = ModelInfo::of(&model);
    info.data_fingerprint = fingerprint.clone();
    info.calibration = format!("{:?}", cfg.calibration).to_lowercase();
    let mut report = build_report(ReportInput {
        title: format!("Purchase intent — {} · {}", cfg.model, spec.protocol),
        split: format!(
            "test: last {:.0} % of sessions by start ({} prefixes from {})",
            spec.split.2 * 100.0,
            test.n_rows,
            shopsense_events::time::format_ms(parts.test_start_ms)
        ),
        labels: &test_labels,
        probs: &test_probs,
        start_ms: &test.start_ms,
        threshold: choice.threshold,
        period_unit: period_unit(&all_starts),
        utc_offset_minutes: spec.utc_offset_minutes,
        bootstrap: cfg.bootstrap_resamples,
        seed: 17,
        model: info,
        importance: model.feature_importance(),
    })?;
    report.threshold_choice = Some(choice.clone());
    report.created_at = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    progress.done();
    lap("evaluate", &mut seconds);

    let split = SplitInfo {
        fractions: spec.split,
        valid_start_ms: parts.valid_start_ms,
        test_start_ms: parts.test_start_ms,
        train_rows,
        valid_rows,
        test_rows: test.n_rows,
        train_positives,
        valid_positives,
        test_positives: positives(&test),
    };
    let mut bundle = Bundle::new(&model, fingerprint)?;
    bundle.feature_spec = serde_json::to_value(&spec)?;
    bundle.encoders = serde_json::to_value(&encoders)?;
    bundle.calibrator = calibrator;
    bundle.threshold = choice.threshold;
    bundle.threshold_choice = Some(choice.clone());
    let version = model_version(&bundle)?;
    let test_summary = summarize(
        &report,
        String::new(),
        version.clone(),
        spec.protocol.to_string(),
        "test".into(),
        &test.start_ms,
    );
    bundle.metrics = serde_json::json!({
        "validation": validation,
        "test": test_summary,
        "drift_reference": drift_reference,
    });
    bundle.params = serde_json::to_value(IntentParams {
        format: INTENT_FORMAT.into(),
        model: cfg.model,
        model_version: version.clone(),
        protocol: spec.protocol,
        model_params,
        imbalance: cfg.imbalance,
        calibration: cfg.calibration,
        threshold_rule: cfg.threshold,
        seed: cfg.seed,
        sessions: cfg.sessions,
        split: split.clone(),
        search: search_info.clone(),
        train_log: train_log.clone(),
        refit: cfg.refit,
        refit_rounds,
        auto: auto.clone(),
    })?;
    let bundle = bundle.with_probe(test_x, PROBE_ROWS)?;
    lap("bundle", &mut seconds);
    let summary = TrainSummary {
        model: cfg.model,
        model_version: version,
        protocol: spec.protocol.to_string(),
        n_features: spec.features.len(),
        split,
        threshold: choice,
        validation,
        test: test_summary,
        search: search_info,
        rounds: train_log.as_ref().map(|l| l.best_iteration),
        seconds,
        auto,
    };
    Ok(TrainOutcome {
        bundle,
        report,
        summary,
        test_probs,
        test_sessions: test.session,
        valid_probs,
    })
}
