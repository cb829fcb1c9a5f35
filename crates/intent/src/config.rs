//! What a training run does: protocol, model, imbalance, search, calibration, threshold,
//! checkpoints. Every choice is recorded in the bundle ([`crate::IntentParams`]).

use crate::error::{IntentError, Result};
use serde::{Deserialize, Serialize};
use shopsense_features::{FeatureSpec, Protocol, Split};
use shopsense_models::{
    CalibrationMethod, ClassWeighting, GbdtParams, LogisticParams, StopMetric, ThresholdObjective,
    ValidationMetric,
};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The model family of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelChoice {
    /// LightGBM gradient-boosted trees on the full feature set.
    Gbdt,
    /// L2 logistic regression on the numeric features (hashed codes left out).
    Logistic,
    /// The reference baseline: 20 trees of depth 5 on 1:1 undersampled training rows, on the
    /// six reference features only ([`SEED_RF_FEATURES`]).
    SeedRf,
    /// An equal-weight blend (standardised log-odds) of the families in
    /// [`TrainConfig::blend`], each fitted as it would be alone and reading its own columns
    /// of the full feature set ([`shopsense_models::Blend`]).
    Blend,
    /// Train every family in [`ModelChoice::CANDIDATES`] and keep the one with the best
    /// mean PR-AUC over the rolling-origin folds of the training part and the validation
    /// part (ties: the same mean of ROC-AUC, then candidate order). The test part plays no
    /// role in the choice; the bundle records the family chosen and every candidate's scores.
    /// The blend is tried only when the training part is below
    /// [`TrainConfig::large_data_rows`]: it is there to steady small samples.
    Auto,
}

impl ModelChoice {
    /// The families `auto` chooses among, in tie-break order.
    pub const CANDIDATES: [ModelChoice; 4] = [
        ModelChoice::Gbdt,
        ModelChoice::Logistic,
        ModelChoice::SeedRf,
        ModelChoice::Blend,
    ];

    /// Every single family, by name.
    pub const ALL: [ModelChoice; 4] = [
        ModelChoice::Gbdt,
        ModelChoice::Logistic,
        ModelChoice::SeedRf,
        ModelChoice::Blend,
    ];

    /// The families a blend may hold.
    pub const BLEND_MEMBERS: [ModelChoice; 3] = [
        ModelChoice::Gbdt,
        ModelChoice::Logistic,
        ModelChoice::SeedRf,
    ];

    /// Stable name (`gbdt`, `logistic`, `seed-rf`, `blend`, `auto`).
    pub fn as_str(self) -> &'static str {
        match self {
            ModelChoice::Gbdt => "gbdt",
            ModelChoice::Logistic => "logistic",
            ModelChoice::SeedRf => "seed-rf",
            ModelChoice::Blend => "blend",
            ModelChoice::Auto => "auto",
        }
    }

    /// The feature columns this model uses by default.
    /// (`auto`: the GBDT set; each candidate then uses its own.)
    pub fn default_features(self) -> Vec<String> {
        match self {
            ModelChoice::Gbdt | ModelChoice::Blend | ModelChoice::Auto => {
                FeatureSpec::default().features
            }
            ModelChoice::Logistic => FeatureSpec::default()
                .features
                .into_iter()
                .filter(|f| !LOGISTIC_EXCLUDED.contains(&f.as_str()))
                .collect(),
            ModelChoice::SeedRf => SEED_RF_FEATURES
                .iter()
                .map(|(_, ours)| ours.to_string())
                .collect(),
        }
    }
}

impl fmt::Display for ModelChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModelChoice {
    type Err = IntentError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "gbdt" | "lightgbm" | "lgbm" => Ok(ModelChoice::Gbdt),
            "logistic" | "lr" => Ok(ModelChoice::Logistic),
            "seed-rf" | "seed_rf" | "rf" => Ok(ModelChoice::SeedRf),
            "blend" => Ok(ModelChoice::Blend),
            "auto" => Ok(ModelChoice::Auto),
            _ => Err(IntentError::config(format!(
                "unknown model {s:?} (expected gbdt, logistic, seed-rf, blend or auto)"
            ))),
        }
    }
}

/// The reference baseline's six features and the features-crate columns they map to:
/// `(reference name, column)`.
pub const SEED_RF_FEATURES: [(&str, &str); 6] = [
    ("view_count", "n_view"),
    ("cart_count", "n_cart"),
    ("session_duration", "duration_s"),
    ("avg_price", "price_mean"),
    ("max_price", "price_max"),
    ("unique_items", "distinct_items"),
];

/// Columns the logistic model leaves out: hashed ids and the hour × weekday code are
/// labels, not quantities, and mean nothing to a linear model.
pub const LOGISTIC_EXCLUDED: [&str; 5] = [
    "hour_dow",
    "last_cat_hash",
    "last_brand_hash",
    "top_cat_hash",
    "top_brand_hash",
];

/// How class imbalance is treated before fitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImbalanceChoice {
    /// Fit on the training rows as they are.
    #[default]
    None,
    /// Balanced class weights (`n / (2·n_c)`) as sample weights.
    Weights,
    /// Keep every positive and as many negatives, drawn at random (seeded).
    Undersample,
}

impl ImbalanceChoice {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ImbalanceChoice::None => "none",
            ImbalanceChoice::Weights => "weights",
            ImbalanceChoice::Undersample => "undersample",
        }
    }
}

impl FromStr for ImbalanceChoice {
    type Err = IntentError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(ImbalanceChoice::None),
            "weights" | "class-weights" | "balanced" => Ok(ImbalanceChoice::Weights),
            "undersample" => Ok(ImbalanceChoice::Undersample),
            _ => Err(IntentError::config(format!(
                "unknown imbalance treatment {s:?} (expected none, weights or undersample)"
            ))),
        }
    }
}

/// How the decision threshold is chosen on the validation part.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case", tag = "rule")]
pub enum ThresholdRule {
    /// The threshold with the highest F1 on validation.
    #[default]
    MaxF1,
    /// The threshold with the lowest `FP + ratio·FN` on validation.
    CostRatio {
        /// Cost of a missed buyer (false negative) over the cost of a false alarm.
        ratio: f64,
    },
}

impl ThresholdRule {
    /// The models-crate objective.
    pub fn objective(self) -> ThresholdObjective {
        match self {
            ThresholdRule::MaxF1 => ThresholdObjective::MaxF1,
            ThresholdRule::CostRatio { ratio } => {
                ThresholdObjective::MinCost { fn_fp_ratio: ratio }
            }
        }
    }

    /// Fails on a cost ratio that is not a positive finite number.
    pub fn validate(self) -> Result<()> {
        match self {
            ThresholdRule::CostRatio { ratio } if !(ratio.is_finite() && ratio > 0.0) => Err(
                IntentError::config(format!("cost ratio must be a positive number, got {ratio}")),
            ),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for ThresholdRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThresholdRule::MaxF1 => f.write_str("max-f1"),
            ThresholdRule::CostRatio { ratio } => write!(f, "cost-ratio {ratio}"),
        }
    }
}

/// How sessions were formed from the events (recorded so that scoring rebuilds them the
/// same way).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SessionSettings {
    /// Inactivity gap in minutes (sources without session ids).
    pub gap_minutes: f64,
    /// Whether the gap was used even when the source has session ids.
    pub force_gap: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            gap_minutes: 30.0,
            force_gap: false,
        }
    }
}

/// Where checkpoints go, and whether to continue from them.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointConfig {
    /// Directory of the search log (`search.jsonl`) and the GBDT checkpoint (`gbdt.json`).
    pub dir: PathBuf,
    /// Continue from what the directory holds (it must belong to the same data and settings).
    pub resume: bool,
    /// Stop (as if killed) after this many search trials in this run — for tests and
    /// time-sliced runs.
    pub stop_after_trials: Option<usize>,
    /// Stop (as if killed) after this many GBDT chunks in this run.
    pub stop_after_chunks: Option<usize>,
}

impl CheckpointConfig {
    /// Checkpoints in `dir`, resuming when `resume`.
    pub fn new(dir: impl Into<PathBuf>, resume: bool) -> Self {
        CheckpointConfig {
            dir: dir.into(),
            resume,
            stop_after_trials: None,
            stop_after_chunks: None,
        }
    }
    /// The GBDT checkpoint file.
    pub fn gbdt_path(&self) -> PathBuf {
        self.dir.join("gbdt.json")
    }
    /// The GBDT checkpoint file of the refit on training + validation rows.
    pub fn refit_path(&self) -> PathBuf {
        self.dir.join("gbdt-refit.json")
    }
    /// The search log.
    pub fn search_log(&self) -> PathBuf {
        self.dir.join("search.jsonl")
    }
}

/// The default LightGBM settings of the intent model (chosen on validation folds of the
/// training part, see BENCHMARKS.md).
pub fn default_gbdt_params() -> GbdtParams {
    GbdtParams {
        num_leaves: 15,
        learning_rate: 0.03,
        n_rounds: 1000,
        min_data_in_leaf: 40,
        feature_fraction: 0.7,
        bagging_fraction: 0.8,
        bagging_freq: 1,
        lambda_l2: 10.0,
        max_bin: 255,
        early_stopping_rounds: Some(60),
        stop_metric: StopMetric::LogLoss,
        class_weighting: ClassWeighting::None,
        threads: 2,
        seed: 42,
        chunk_rounds: Some(DEFAULT_CHUNK_ROUNDS),
        // Random split thresholds: the steadiest gain on the folds and validation parts of
        // both samples (BENCHMARKS.md).
        extra: [("extra_trees".to_string(), "true".to_string())].into(),
        ..GbdtParams::default()
    }
}

/// Rounds per GBDT training chunk (a checkpoint is written after each). The models crate
/// carries the raw scores from chunk to chunk (only the new chunk's trees are scored), so a
/// chunk boundary costs one pass of 250 trees over the training and validation rows.
pub const DEFAULT_CHUNK_ROUNDS: usize = 250;

/// Training parts with at least this many rows get [`large_data_gbdt_params`] instead of the
/// small-sample schedule, unless the caller fixed the parameters (`large_data_rows = None`).
pub const LARGE_DATA_ROWS: usize = 500_000;

/// The GBDT schedule for large training parts: a faster learning rate and fewer, equally
/// small trees. The small-sample defaults (rate 0.03, up to 1000 rounds) never stop early on
/// millions of rows and take minutes; on 1.74 M training prefixes of 10 M events this schedule
/// fits in about 12 s and loses 0.002 validation ROC-AUC (BENCHMARKS.md), and its 60 trees
/// score about 3× faster.
pub fn large_data_gbdt_params(base: &GbdtParams) -> GbdtParams {
    GbdtParams {
        learning_rate: 0.2,
        n_rounds: 60,
        num_leaves: 15,
        early_stopping_rounds: Some(10),
        ..base.clone()
    }
}

/// Everything a training run needs besides the data.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// When sessions are scored.
    pub protocol: Protocol,
    /// The model family.
    pub model: ModelChoice,
    /// Feature columns; `None` = the model's default ([`ModelChoice::default_features`]).
    pub features: Option<Vec<String>>,
    /// Class imbalance treatment.
    pub imbalance: ImbalanceChoice,
    /// Calibration fitted on validation predictions.
    pub calibration: CalibrationMethod,
    /// Threshold rule applied on (calibrated) validation predictions.
    pub threshold: ThresholdRule,
    /// Random-search trials for GBDT (0 = the base parameters, no search).
    pub search_trials: usize,
    /// Metric the search maximises (or minimises) over the folds.
    pub search_metric: ValidationMetric,
    /// Rolling-origin folds inside the training part for the search.
    pub cv_folds: usize,
    /// Seed of the model, the sampling and the search.
    pub seed: u64,
    /// Train / validation / test fractions (by session start).
    pub split: (f64, f64, f64),
    /// Offset of local time from UTC for hour / weekday features and day keys.
    pub utc_offset_minutes: i32,
    /// Base LightGBM parameters (seed and threads are set from this config).
    pub gbdt: GbdtParams,
    /// Logistic-regression parameters.
    pub logistic: LogisticParams,
    /// Worker threads for LightGBM (the rest uses rayon's pool).
    pub threads: usize,
    /// After choosing rounds, calibration and threshold on the validation part, fit the
    /// model again on training + validation rows (encoders refitted on that window; GBDT
    /// rounds scaled by the row ratio) and use it for the test part and the bundle.
    pub refit: bool,
    /// Checkpoints and resume; `None` keeps everything in memory.
    pub checkpoint: Option<CheckpointConfig>,
    /// Bootstrap resamples for the test intervals (0 = none).
    pub bootstrap_resamples: usize,
    /// Use [`large_data_gbdt_params`] when the training part has at least this many rows
    /// (`None`: always train with `gbdt` as given, e.g. when the user set parameters).
    pub large_data_rows: Option<usize>,
    /// How the sessions were formed (recorded in the bundle).
    pub sessions: SessionSettings,
    /// The members of `--model blend` (and of the blend `auto` tries), from
    /// [`ModelChoice::BLEND_MEMBERS`].
    pub blend: Vec<ModelChoice>,
}

/// The members of a blend unless the user names others.
pub const DEFAULT_BLEND: [ModelChoice; 3] = [
    ModelChoice::Gbdt,
    ModelChoice::Logistic,
    ModelChoice::SeedRf,
];

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            protocol: Protocol::Full,
            model: ModelChoice::Gbdt,
            features: None,
            imbalance: ImbalanceChoice::None,
            calibration: CalibrationMethod::None,
            threshold: ThresholdRule::MaxF1,
            search_trials: 0,
            search_metric: ValidationMetric::AveragePrecision,
            cv_folds: 3,
            seed: 42,
            split: Split::DEFAULT_FRACTIONS,
            utc_offset_minutes: 0,
            gbdt: default_gbdt_params(),
            logistic: LogisticParams {
                l2: 1e-3,
                ..LogisticParams::default()
            },
            threads: 2,
            refit: false,
            checkpoint: None,
            bootstrap_resamples: 1000,
            large_data_rows: Some(LARGE_DATA_ROWS),
            sessions: SessionSettings::default(),
            blend: DEFAULT_BLEND.to_vec(),
        }
    }
}

impl TrainConfig {
    /// The feature definition of this run.
    pub fn feature_spec(&self) -> Result<FeatureSpec> {
        let features = self
            .features
            .clone()
            .unwrap_or_else(|| self.model.default_features());
        let spec = FeatureSpec {
            features,
            protocol: self.protocol,
            split: self.split,
            cv_folds: self.cv_folds,
            utc_offset_minutes: self.utc_offset_minutes,
            ..FeatureSpec::default()
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Checks the settings that do not depend on the data.
    pub fn validate(&self) -> Result<()> {
        self.threshold.validate()?;
        if self.threads == 0 {
            return Err(IntentError::config("threads must be at least 1"));
        }
        if self.search_trials > 0 && !matches!(self.model, ModelChoice::Gbdt | ModelChoice::Auto) {
            return Err(IntentError::config(format!(
                "--search-trials applies to the gbdt model only, not {}",
                self.model
            )));
        }
        if matches!(self.model, ModelChoice::Blend | ModelChoice::Auto) {
            if self.blend.is_empty() {
                return Err(IntentError::config("a blend needs at least one member"));
            }
            if let Some(m) = self
                .blend
                .iter()
                .find(|m| !ModelChoice::BLEND_MEMBERS.contains(m))
            {
                return Err(IntentError::config(format!(
                    "{m} cannot be a blend member (gbdt, logistic, seed-rf)"
                )));
            }
        }
        if self.search_trials > 0 && self.cv_folds == 0 {
            return Err(IntentError::config("the search needs at least one fold"));
        }
        if self.model == ModelChoice::SeedRf && self.imbalance == ImbalanceChoice::Weights {
            return Err(IntentError::config(
                "seed-rf is the fixed reference (1:1 undersampling built in); \
                 --imbalance weights does not apply to it",
            ));
        }
        self.feature_spec().map(|_| ())
    }

    /// This configuration as it is trained: a blend's score ranks but is not a probability
    /// (the logistic of a mean of standardised log-odds), so a blend without calibration is
    /// calibrated with Platt scaling on the validation part (monotone: ranks, ROC-AUC and
    /// PR-AUC are unchanged; log-loss and Brier become meaningful).
    pub fn effective(&self) -> TrainConfig {
        let mut c = self.clone();
        if c.model == ModelChoice::Blend && c.calibration == CalibrationMethod::None {
            c.calibration = CalibrationMethod::Platt;
        }
        c
    }

    /// The configuration of one `auto` candidate: this one with `model` set (seed-rf keeps its
    /// built-in 1:1 undersampling, so a class-weight setting does not apply to it) and, unless
    /// the user chose columns, the candidate's own default features.
    pub fn candidate(&self, model: ModelChoice) -> TrainConfig {
        let mut c = self.clone();
        c.model = model;
        if model == ModelChoice::SeedRf && c.imbalance == ImbalanceChoice::Weights {
            c.imbalance = ImbalanceChoice::None;
        }
        if model != ModelChoice::Gbdt {
            c.search_trials = 0;
        }
        c.effective()
    }
}
