//! The saved bundle: everything serving needs in one file.
//!
//! Format: one UTF-8 JSON document (atomic write), `format = "shopsense-bundle"`,
//! `version = 1`. The model is stored as its own text (`model`: LightGBM model text for
//! GBDT, JSON for the others) next to its `model_kind`; floats are written shortest-exact
//! and read back exactly, so a loaded bundle scores **bit-identically**. A `probe` (a few
//! input rows as `f32` bit patterns plus their final probabilities) lets
//! [`LoadedBundle::verify_probe`] prove that on any machine.

use crate::calibration::Calibrator;
use crate::data::{Matrix, MatrixRef};
use crate::error::{ModelError, Result};
use crate::estimator::{AnyModel, Model, ModelKind};
use crate::threshold::ThresholdChoice;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// Format tag of a bundle file.
pub const BUNDLE_FORMAT: &str = "shopsense-bundle";
/// Current bundle version.
pub const BUNDLE_VERSION: u32 = 1;

/// Input rows and the bundle's final (calibrated) probabilities for them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Columns per row.
    pub n_features: usize,
    /// Row-major `f32` values as bit patterns (exact, `NaN`-safe).
    pub rows_bits: Vec<u32>,
    /// Final probabilities (after calibration) for each row.
    pub predictions: Vec<f64>,
}

/// A saved model with its context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// Always [`BUNDLE_FORMAT`].
    pub format: String,
    /// Bundle format version.
    pub version: u32,
    /// Version of `shopsense-models` that wrote it.
    pub writer: String,
    /// Creation time, RFC 3339 UTC.
    pub created_at: String,
    /// Model family.
    pub model_kind: ModelKind,
    /// Human-readable model name.
    pub model_name: String,
    /// The model's bytes (UTF-8 text: LightGBM text or JSON).
    pub model: String,
    /// Feature names in column order.
    pub feature_names: Vec<String>,
    /// Feature specification, filled in by the features crate (opaque here).
    pub feature_spec: Value,
    /// Fitted encoders, filled in by the features crate (opaque here).
    pub encoders: Value,
    /// Hyperparameters and training options (opaque here).
    pub params: Value,
    /// Calibration applied after the model.
    pub calibrator: Calibrator,
    /// Decision threshold on calibrated probabilities (positive iff `p >= threshold`).
    pub threshold: f64,
    /// How the threshold was chosen, if it was.
    pub threshold_choice: Option<ThresholdChoice>,
    /// Metrics (e.g. an eval report), opaque here.
    pub metrics: Value,
    /// Fingerprint of the training data.
    pub data_fingerprint: String,
    /// Reproducibility probe.
    pub probe: Option<Probe>,
}

impl Bundle {
    /// A bundle for `model` trained on data with `data_fingerprint`; threshold 0.5, no
    /// calibration, empty spec/encoders/metrics — set the public fields as needed.
    pub fn new(model: &dyn Model, data_fingerprint: impl Into<String>) -> Result<Self> {
        let bytes = model.to_bytes()?;
        let text = String::from_utf8(bytes).map_err(|e| ModelError::format("model bytes", e))?;
        Ok(Bundle {
            format: BUNDLE_FORMAT.into(),
            version: BUNDLE_VERSION,
            writer: env!("CARGO_PKG_VERSION").into(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            model_kind: model.kind(),
            model_name: model.name(),
            model: text,
            feature_names: model.feature_names().to_vec(),
            feature_spec: Value::Null,
            encoders: Value::Null,
            params: Value::Null,
            calibrator: Calibrator::Identity,
            threshold: 0.5,
            threshold_choice: None,
            metrics: Value::Null,
            data_fingerprint: data_fingerprint.into(),
            probe: None,
        })
    }

    /// Stores the first `n` rows of `x` and the bundle's final probabilities for them
    /// (call after setting the calibrator).
    pub fn with_probe(mut self, x: MatrixRef<'_>, n: usize) -> Result<Self> {
        let part = x.rows(0, n);
        let loaded = LoadedBundle::from_bundle(self.clone())?;
        let predictions = loaded.predict(part)?;
        self.probe = Some(Probe {
            n_features: part.n_cols(),
            rows_bits: part.as_slice().iter().map(|v| v.to_bits()).collect(),
            predictions,
        });
        Ok(self)
    }

    /// Serialises to JSON bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| ModelError::format("bundle", e))
    }

    /// Parses JSON bytes, checking the format tag and version.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let b: Bundle =
            serde_json::from_slice(bytes).map_err(|e| ModelError::format("bundle", e))?;
        if b.format != BUNDLE_FORMAT {
            return Err(ModelError::format("bundle", "not a shopsense bundle"));
        }
        if b.version > BUNDLE_VERSION {
            return Err(ModelError::format(
                "bundle",
                format!(
                    "version {} is newer than this reader ({BUNDLE_VERSION})",
                    b.version
                ),
            ));
        }
        Ok(b)
    }

    /// Writes the bundle to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::io::atomic_write(path, &self.to_bytes()?)
    }

    /// Reads a bundle file.
    pub fn load(path: &Path) -> Result<Self> {
        Self::from_bytes(&crate::io::read(path)?)
    }

    /// Restores the model.
    pub fn model(&self) -> Result<AnyModel> {
        AnyModel::from_kind_bytes(self.model_kind, self.model.as_bytes())
    }
}

/// A bundle with its model restored, ready to score.
#[derive(Debug)]
pub struct LoadedBundle {
    /// The bundle.
    pub bundle: Bundle,
    /// The restored model.
    pub model: AnyModel,
}

impl LoadedBundle {
    /// Restores the model of `bundle`.
    pub fn from_bundle(bundle: Bundle) -> Result<Self> {
        let model = bundle.model()?;
        if model.feature_names().len() != bundle.feature_names.len() {
            return Err(ModelError::format(
                "bundle",
                "model and bundle disagree on the number of features",
            ));
        }
        Ok(LoadedBundle { bundle, model })
    }

    /// Loads and restores a bundle file.
    pub fn load(path: &Path) -> Result<Self> {
        Self::from_bundle(Bundle::load(path)?)
    }

    /// Final probabilities: model, then calibrator.
    pub fn predict(&self, x: MatrixRef<'_>) -> Result<Vec<f64>> {
        let mut p = self.model.predict_proba(x)?;
        if self.bundle.calibrator != Calibrator::Identity {
            p.iter_mut()
                .for_each(|v| *v = self.bundle.calibrator.apply(*v));
        }
        Ok(p)
    }

    /// The calibrated probability of one row: the same bits as [`LoadedBundle::predict`] of
    /// a one-row matrix, without its allocations where the model family allows.
    pub fn predict_one(&self, row: &[f32]) -> Result<f64> {
        let p = self.model.predict_one(row)?;
        Ok(if self.bundle.calibrator != Calibrator::Identity {
            self.bundle.calibrator.apply(p)
        } else {
            p
        })
    }

    /// Decisions at the bundle's threshold.
    pub fn decide(&self, x: MatrixRef<'_>) -> Result<Vec<bool>> {
        let t = self.bundle.threshold;
        Ok(self.predict(x)?.into_iter().map(|p| p >= t).collect())
    }

    /// Re-scores the probe rows and fails unless every probability is bit-identical.
    pub fn verify_probe(&self) -> Result<()> {
        let Some(probe) = &self.bundle.probe else {
            return Ok(());
        };
        let n_features = probe.n_features.max(1);
        let rows: Vec<f32> = probe.rows_bits.iter().map(|&b| f32::from_bits(b)).collect();
        let x = Matrix::new(rows, probe.rows_bits.len() / n_features, probe.n_features)?;
        let p = self.predict(x.view())?;
        let same = p.len() == probe.predictions.len()
            && p.iter()
                .zip(&probe.predictions)
                .all(|(a, b)| a.to_bits() == b.to_bits());
        if same {
            Ok(())
        } else {
            Err(ModelError::format(
                "bundle",
                "probe predictions differ from the saved ones",
            ))
        }
    }
}
