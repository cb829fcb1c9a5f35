//! The purchase-intent bundle: a models-crate [`Bundle`] whose opaque parts are filled with
//! the exact feature definition, the training-window encoders and the run's settings
//! ([`IntentParams`]); [`IntentModel`] loads one and checks that it can be used.

use crate::config::{ImbalanceChoice, ModelChoice, SessionSettings, ThresholdRule};
use crate::error::{IntentError, Result};
use serde::{Deserialize, Serialize};
use shopsense_features::{Encoders, FeatureSpec, Protocol};
use shopsense_models::{
    Bundle, CalibrationMethod, GbdtParams, LoadedBundle, ModelError, TrainLog, ValidationMetric,
};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::Xxh3;

/// Format tag of [`IntentParams`]; a bundle with another tag is refused.
pub const INTENT_FORMAT: &str = "shopsense-intent-v1";

/// Sizes and cut times of the temporal split used in training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SplitInfo {
    /// Train / validation / test fractions.
    pub fractions: (f64, f64, f64),
    /// First session start of the validation part (UTC ms).
    pub valid_start_ms: i64,
    /// First session start of the test part (UTC ms).
    pub test_start_ms: i64,
    /// Training prefixes.
    pub train_rows: usize,
    /// Validation prefixes.
    pub valid_rows: usize,
    /// Test prefixes.
    pub test_rows: usize,
    /// Training prefixes with a purchase.
    pub train_positives: usize,
    /// Validation prefixes with a purchase.
    pub valid_positives: usize,
    /// Test prefixes with a purchase.
    pub test_positives: usize,
}

/// What the hyperparameter search did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchInfo {
    /// Trials run (trial 0 = the base parameters).
    pub trials: usize,
    /// Rolling-origin folds inside the training part.
    pub folds: usize,
    /// Metric averaged over the folds.
    pub metric: ValidationMetric,
    /// The winning trial.
    pub best_trial: usize,
    /// Its mean fold score.
    pub best_score: f64,
    /// Mean fold score of trial 0 (the base parameters).
    pub base_score: Option<f64>,
    /// The winning parameters (before the final fit with early stopping).
    pub best_params: GbdtParams,
}

/// The run's settings, stored as the bundle's `params`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentParams {
    /// Always [`INTENT_FORMAT`].
    pub format: String,
    /// The model family.
    pub model: ModelChoice,
    /// Content hash of model, calibration, threshold and feature definition.
    pub model_version: String,
    /// The scoring protocol (also in the feature spec).
    pub protocol: Protocol,
    /// The final model's parameters (GBDT, logistic or forest).
    pub model_params: serde_json::Value,
    /// Class imbalance treatment.
    pub imbalance: ImbalanceChoice,
    /// Calibration method.
    pub calibration: CalibrationMethod,
    /// Threshold rule.
    pub threshold_rule: ThresholdRule,
    /// Seed of the run.
    pub seed: u64,
    /// How the sessions were formed.
    pub sessions: SessionSettings,
    /// The temporal split.
    pub split: SplitInfo,
    /// The search, if one ran.
    pub search: Option<SearchInfo>,
    /// GBDT training log (rounds, best iteration, validation curve).
    pub train_log: Option<TrainLog>,
    /// Whether the saved model was refitted on training + validation rows (its encoders then
    /// cover that window); `refit_rounds` are its GBDT rounds.
    #[serde(default)]
    pub refit: bool,
    /// GBDT rounds of the refitted model.
    #[serde(default)]
    pub refit_rounds: Option<usize>,
    /// With `--model auto`: the family chosen and every candidate's validation metrics
    /// (`model` is the family chosen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<crate::train::AutoChoice>,
}

/// A stable content hash naming a trained model: `<kind>-<16 hex digits>` over the model
/// text, the calibrator, the threshold and the feature definition.
pub fn model_version(bundle: &Bundle) -> Result<String> {
    let mut h = Xxh3::new();
    h.update(b"shopsense-intent-model");
    h.update(bundle.model_kind.as_str().as_bytes());
    h.update(bundle.model.as_bytes());
    h.update(serde_json::to_string(&bundle.calibrator)?.as_bytes());
    h.update(&bundle.threshold.to_bits().to_le_bytes());
    h.update(serde_json::to_string(&bundle.feature_spec)?.as_bytes());
    if let Some(end) = bundle.encoders.get("end_ms") {
        h.update(end.to_string().as_bytes());
    }
    Ok(format!(
        "{}-{:016x}",
        bundle.model_kind.as_str(),
        h.digest()
    ))
}

/// A loaded, checked purchase-intent bundle, ready to score.
#[derive(Debug)]
pub struct IntentModel {
    /// Where it was loaded from.
    pub path: PathBuf,
    /// The bundle with its model restored.
    pub loaded: LoadedBundle,
    /// The feature definition.
    pub spec: FeatureSpec,
    /// The training-window encoders.
    pub encoders: Encoders,
    /// The run's settings.
    pub params: IntentParams,
}

impl IntentModel {
    /// Loads a bundle file and checks everything scoring relies on: the file exists and is a
    /// bundle, it carries intent settings of this format, its feature definition is one this
    /// build computes (same version and feature names), its encoders match the definition,
    /// and its probe rows score bit-identically here. Every failure is a clear error.
    pub fn load(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(IntentError::BundleNotFound(path.to_path_buf()));
        }
        let bad = |reason: String| IntentError::IncompatibleBundle {
            path: path.to_path_buf(),
            reason,
        };
        let bundle = match Bundle::load(path) {
            Ok(b) => b,
            Err(ModelError::Io { path, source }) => return Err(IntentError::io(path, source)),
            Err(e) => return Err(bad(e.to_string())),
        };
        Self::from_bundle(bundle, path)
    }

    /// Checks an in-memory bundle (see [`IntentModel::load`]); `path` is only for messages.
    pub fn from_bundle(bundle: Bundle, path: &Path) -> Result<Self> {
        let bad = |reason: String| IntentError::IncompatibleBundle {
            path: path.to_path_buf(),
            reason,
        };
        let params: IntentParams = match &bundle.params {
            serde_json::Value::Object(m)
                if m.get("format").and_then(|f| f.as_str()) != Some(INTENT_FORMAT) =>
            {
                return Err(bad(format!(
                    "not a purchase-intent bundle of format {INTENT_FORMAT} (found {})",
                    m.get("format")
                        .map_or("no format tag".into(), |f| f.to_string())
                )))
            }
            serde_json::Value::Object(_) => serde_json::from_value(bundle.params.clone())
                .map_err(|e| bad(format!("intent settings cannot be read: {e}")))?,
            _ => {
                return Err(bad(
                    "not a purchase-intent bundle (no intent settings)".into()
                ))
            }
        };
        let spec: FeatureSpec =
            serde_json::from_value(bundle.feature_spec.clone()).map_err(|e| {
                bad(format!(
                    "its feature definition cannot be read by this build (feature version {}): {e}",
                    bundle
                        .feature_spec
                        .get("version")
                        .map_or("unknown".into(), |v| v.to_string())
                ))
            })?;
        spec.validate().map_err(|e| {
            bad(format!(
                "its feature definition (version {}) is not supported by this build: {e}",
                spec.version
            ))
        })?;
        if spec.features != bundle.feature_names {
            return Err(bad(
                "its model columns differ from its feature definition".into()
            ));
        }
        if spec.protocol != params.protocol {
            return Err(bad(format!(
                "settings say protocol {} but the feature definition says {}",
                params.protocol, spec.protocol
            )));
        }
        let encoders: Encoders = serde_json::from_value(bundle.encoders.clone())
            .map_err(|e| bad(format!("its encoders cannot be read: {e}")))?;
        encoders
            .check_spec(&spec)
            .map_err(|e| bad(format!("its encoders do not match its features: {e}")))?;
        let loaded = LoadedBundle::from_bundle(bundle).map_err(|e| bad(e.to_string()))?;
        loaded
            .verify_probe()
            .map_err(|e| bad(format!("it does not reproduce on this machine: {e}")))?;
        Ok(IntentModel {
            path: path.to_path_buf(),
            loaded,
            spec,
            encoders,
            params,
        })
    }

    /// Fails unless the bundle was trained for `protocol`.
    pub fn check_protocol(&self, protocol: Protocol) -> Result<()> {
        if protocol != self.spec.protocol {
            return Err(IntentError::IncompatibleBundle {
                path: self.path.clone(),
                reason: format!(
                    "it was trained for protocol {}, not {protocol}",
                    self.spec.protocol
                ),
            });
        }
        Ok(())
    }

    /// The decision threshold (on calibrated scores).
    pub fn threshold(&self) -> f64 {
        self.loaded.bundle.threshold
    }

    /// The model version.
    pub fn version(&self) -> &str {
        &self.params.model_version
    }
}
