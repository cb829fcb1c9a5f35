//! # shopsense-models
//!
//! Purchase-intent models behind one estimator interface, on plain numeric matrices (this
//! crate knows nothing of events, sessions or features):
//!
//! * data: [`Matrix`] / [`MatrixRef`] (dense, **row-major `f32`**, `NaN` = missing) and
//!   [`Dataset`] (matrix + feature names + labels + optional sample weights);
//! * the interface: [`Model`] (predict, importance, bytes — object safe) and [`Estimator`]
//!   (fit, from bytes), [`AnyModel`] for any kind; multi-class models report
//!   [`Model::n_classes`] and answer [`Model::predict_proba_multi`];
//! * models: [`Gbdt`] (LightGBM), [`Logistic`] (standardised, L2, class weights) and the
//!   reference baseline `seed-rf` ([`RandomForest`] with [`ForestParams::seed_rf`]), and
//!   [`Blend`], their equal-weight average in standardised log-odds;
//! * imbalance: [`undersample`], [`ClassWeight`], selectable through [`Imbalance`];
//! * tuning and decisions: [`rolling_origin_folds`], [`random_search`] (budgeted,
//!   resumable), [`Calibrator`] (Platt / isotonic), [`choose_threshold`] (max F1 or cost
//!   ratio);
//! * persistence: [`Bundle`] (model + spec + encoders + calibrator + threshold + metrics +
//!   fingerprint, atomic JSON file) and GBDT [`Checkpointing`] with resume.

#![warn(missing_docs)]

pub mod blend;
pub mod bundle;
pub mod calibration;
pub mod data;
pub mod error;
pub mod estimator;
pub mod folds;
pub mod forest;
pub mod gbdt;
pub mod imbalance;
pub mod io;
pub mod logistic;
pub mod metric;
pub mod registry;
pub mod rng;
pub mod search;
pub mod synth;
pub mod threshold;

pub use blend::Blend;
pub use bundle::{Bundle, LoadedBundle, Probe};
pub use calibration::{CalibrationMethod, Calibrator};
pub use data::{Dataset, Matrix, MatrixRef};
pub use error::{ModelError, Result};
pub use estimator::{AnyModel, Estimator, Model, ModelKind};
pub use folds::{rolling_origin_folds, Fold};
pub use forest::{ForestParams, RandomForest};
pub use gbdt::{
    train as train_gbdt, Checkpointing, ClassWeighting, Gbdt, GbdtParams, HistogramLayout,
    StopMetric, TrainLog,
};
pub use imbalance::{
    apply_class_weights, balanced_class_weights, undersample, ClassWeight, Imbalance,
};
pub use logistic::{Logistic, LogisticParams};
pub use metric::ValidationMetric;
pub use registry::{Promotion, Registry, VersionInfo};
pub use rng::SplitMix64;
pub use search::{random_search, GbdtSpace, SearchConfig, SearchResult, Trial};
pub use threshold::{choose_threshold, ThresholdChoice, ThresholdObjective};
