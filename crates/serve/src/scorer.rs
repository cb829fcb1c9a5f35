//! The [`Scorer`] abstraction: a session's events in, (score, decision, model version) out.
//!
//! [`BundleScorer`] builds it from a `shopsense-models` [`Bundle`] whose `feature_spec` and
//! `encoders` hold the features crate's [`FeatureSpec`] and [`Encoders`], and computes the
//! features with the features crate's online path ([`features_for_events`]) — the same code
//! as training, so there is no train/serve skew. Another implementation (e.g. the intent
//! crate's bundle) only has to implement [`Scorer`].

use crate::error::ServeError;
use serde_json::Value;
use shopsense_events::Event;
use shopsense_features::{
    features_for_events, Encoders, FeatureSpec, OnlineSession, SharedFeatures, UserHistory,
};
use shopsense_models::{Bundle, LoadedBundle};
use std::path::Path;
use std::sync::Arc;

/// The score of one session.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Calibrated purchase probability.
    pub score: f64,
    /// `score >= threshold`.
    pub decision: bool,
}

/// Scores sessions. Implementations must be cheap to share (`Arc`) and never panic on input.
pub trait Scorer: Send + Sync {
    /// Version of the model (stable for the same bundle bytes).
    fn version(&self) -> &str;
    /// The decision threshold.
    fn threshold(&self) -> f64;
    /// Feature names in column order.
    fn feature_names(&self) -> &[String];
    /// The features of a session with `events` (any order) of a user with `history`.
    fn features(&self, events: &[Event], history: &UserHistory) -> Result<Vec<f32>, String>;
    /// The score of feature rows.
    fn score_features(&self, x: &[f32]) -> Result<Score, String>;
    /// An empty incremental feature state for a new live session of a user with `history`:
    /// pushing a session's events into it one by one gives the same vector as
    /// [`Scorer::features`] of all of them (the stream keeps one per session). `None` when
    /// the scorer has no such state; callers then use [`Scorer::features`].
    fn live_session(&self, history: &UserHistory) -> Option<OnlineSession<'static>> {
        let _ = history;
        None
    }
    /// Features then score.
    fn score(&self, events: &[Event], history: &UserHistory) -> Result<Score, String> {
        let x = self.features(events, history)?;
        self.score_features(&x)
    }
}

/// A [`Scorer`] from a saved bundle.
pub struct BundleScorer {
    loaded: LoadedBundle,
    spec: FeatureSpec,
    encoders: Encoders,
    live: SharedFeatures,
    version: String,
}

fn json_field<T: serde::de::DeserializeOwned>(v: &Value, what: &str) -> Result<T, ServeError> {
    let r = match v {
        // Either the object itself or its JSON text.
        Value::String(s) => serde_json::from_str(s),
        other => serde_json::from_value(other.clone()),
    };
    r.map_err(|e| ServeError::Model(format!("the bundle's {what} cannot be read: {e}")))
}

impl BundleScorer {
    /// From a bundle: restores the model and the feature definition, and checks that they
    /// agree (same number of features) and that the probe re-scores bit-identically.
    pub fn from_bundle(bundle: Bundle) -> Result<Self, ServeError> {
        let spec: FeatureSpec = json_field(&bundle.feature_spec, "feature_spec")?;
        let encoders: Encoders = json_field(&bundle.encoders, "encoders")?;
        let cols = spec
            .columns()
            .map_err(|e| ServeError::Model(format!("feature_spec: {e}")))?;
        encoders
            .check_spec(&spec)
            .map_err(|e| ServeError::Model(format!("encoders: {e}")))?;
        if cols.len() != bundle.feature_names.len() {
            return Err(ServeError::Model(format!(
                "the feature spec selects {} features, the model has {}",
                cols.len(),
                bundle.feature_names.len()
            )));
        }
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(bundle.model.as_bytes());
        h.update(bundle.feature_spec.to_string().as_bytes());
        h.update(bundle.encoders.to_string().as_bytes());
        h.update(&bundle.threshold.to_bits().to_le_bytes());
        h.update(
            serde_json::to_string(&bundle.calibrator)
                .unwrap_or_default()
                .as_bytes(),
        );
        let version = format!("{}-{:016x}", bundle.model_kind.as_str(), h.digest());
        let loaded =
            LoadedBundle::from_bundle(bundle).map_err(|e| ServeError::Model(e.to_string()))?;
        loaded
            .verify_probe()
            .map_err(|e| ServeError::Model(e.to_string()))?;
        let live = SharedFeatures::new(Arc::new(encoders.clone()), Arc::new(spec.clone()))
            .map_err(|e| ServeError::Model(format!("feature_spec: {e}")))?;
        Ok(BundleScorer {
            loaded,
            spec,
            encoders,
            live,
            version,
        })
    }

    /// Loads a bundle file.
    pub fn load(path: &Path) -> Result<Self, ServeError> {
        let b = Bundle::load(path)
            .map_err(|e| ServeError::Model(format!("{}: {e}", path.display())))?;
        Self::from_bundle(b)
    }

    /// Prefixes the version (e.g. with the registry's version name: `v0002+gbdt-…`).
    pub fn with_version_prefix(mut self, prefix: &str) -> Self {
        self.version = format!("{prefix}+{}", self.version);
        self
    }

    /// The bundle.
    pub fn bundle(&self) -> &Bundle {
        &self.loaded.bundle
    }
}

impl Scorer for BundleScorer {
    fn version(&self) -> &str {
        &self.version
    }

    fn threshold(&self) -> f64 {
        self.loaded.bundle.threshold
    }

    fn feature_names(&self) -> &[String] {
        &self.loaded.bundle.feature_names
    }

    fn features(&self, events: &[Event], history: &UserHistory) -> Result<Vec<f32>, String> {
        features_for_events(events, &self.encoders, &self.spec, history).map_err(|e| e.to_string())
    }

    fn live_session(&self, history: &UserHistory) -> Option<OnlineSession<'static>> {
        Some(self.live.session(*history))
    }

    fn score_features(&self, x: &[f32]) -> Result<Score, String> {
        let score = self.loaded.predict_one(x).map_err(|e| e.to_string())?;
        Ok(Score {
            score,
            decision: score >= self.loaded.bundle.threshold,
        })
    }
}
