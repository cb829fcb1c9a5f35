//! Prometheus metrics (OpenMetrics text at `GET /metrics`), and feature/score drift as the
//! population stability index (PSI) against the training distribution.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `shopsense_http_requests_total` | counter | `route`, `method`, `status` |
//! | `shopsense_http_request_duration_seconds` | histogram | `route`, `method` |
//! | `shopsense_model_info` | gauge (1) | `version` |
//! | `shopsense_model_loaded` | gauge | |
//! | `shopsense_model_reloads_total` | counter | `result` |
//! | `shopsense_intent_score` | histogram | |
//! | `shopsense_events_ingested_total` | counter | |
//! | `shopsense_online_sessions` | gauge | |
//! | `shopsense_online_events` | gauge | |
//! | `shopsense_feature_psi` | gauge | `feature` |
//! | `shopsense_score_psi` | gauge | |

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Labels of a request count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Route template (`/v1/items/{id}/similar`), `unmatched` for unknown paths.
    pub route: String,
    /// HTTP method.
    pub method: String,
    /// HTTP status code.
    pub status: u16,
}

/// Labels of a request latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Route template.
    pub route: String,
    /// HTTP method.
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FeatureLabel {
    feature: String,
}

fn latency_histogram() -> Histogram {
    // 100 µs .. ~3.3 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0001, 2.0, 16,
    ))
}

/// All metrics of one server.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    model_info: Family<VersionLabel, Gauge>,
    model_loaded: Gauge,
    reloads: Family<ResultLabel, Counter>,
    score: Histogram,
    events: Counter,
    sessions: Gauge,
    session_events: Gauge,
    feature_psi: Family<FeatureLabel, Gauge<f64, AtomicU64>>,
    score_psi: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        let model_info = Family::<VersionLabel, Gauge>::default();
        let model_loaded = Gauge::default();
        let reloads = Family::<ResultLabel, Counter>::default();
        let score = Histogram::new((1..=20).map(|i| f64::from(i) * 0.05));
        let events = Counter::default();
        let sessions = Gauge::default();
        let session_events = Gauge::default();
        let feature_psi = Family::<FeatureLabel, Gauge<f64, AtomicU64>>::default();
        let score_psi = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "shopsense_http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        registry.register(
            "shopsense_http_request_duration_seconds",
            "HTTP request latency in seconds by route and method",
            latency.clone(),
        );
        registry.register(
            "shopsense_model_info",
            "The intent model version serving (value 1)",
            model_info.clone(),
        );
        registry.register(
            "shopsense_model_loaded",
            "1 once an intent model is loaded",
            model_loaded.clone(),
        );
        registry.register(
            "shopsense_model_reloads",
            "Model (re)loads by result",
            reloads.clone(),
        );
        registry.register(
            "shopsense_intent_score",
            "Distribution of served purchase-intent scores",
            score.clone(),
        );
        registry.register(
            "shopsense_events_ingested",
            "Events appended to the online state",
            events.clone(),
        );
        registry.register(
            "shopsense_online_sessions",
            "Live sessions in the online state",
            sessions.clone(),
        );
        registry.register(
            "shopsense_online_events",
            "Events held in live sessions",
            session_events.clone(),
        );
        registry.register(
            "shopsense_feature_psi",
            "Population stability index of a key feature of served sessions against training",
            feature_psi.clone(),
        );
        registry.register(
            "shopsense_score_psi",
            "Population stability index of served scores against training",
            score_psi.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            model_info,
            model_loaded,
            reloads,
            score,
            events,
            sessions,
            session_events,
            feature_psi,
            score_psi,
        }
    }

    /// Counts one request and its latency.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                method: method.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_string(),
                method: method.to_string(),
            })
            .observe(seconds);
    }

    /// Records the model now serving.
    pub fn set_model(&self, version: &str) {
        self.model_info.clear();
        self.model_info
            .get_or_create(&VersionLabel {
                version: version.to_string(),
            })
            .set(1);
        self.model_loaded.set(1);
    }

    /// Counts a (re)load attempt.
    pub fn reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.reloads
            .get_or_create(&ResultLabel {
                result: result.into(),
            })
            .inc();
    }

    /// Records a served score.
    pub fn observe_score(&self, score: f64) {
        if score.is_finite() {
            self.score.observe(score);
        }
    }

    /// Counts events appended.
    pub fn events_ingested(&self, n: usize) {
        self.events.inc_by(n as u64);
    }

    /// Sets the online state sizes.
    pub fn set_state(&self, sessions: usize, events: usize) {
        self.sessions.set(sessions as i64);
        self.session_events.set(events as i64);
    }

    /// The OpenMetrics text, after refreshing the drift gauges from `drift`.
    pub fn encode(&self, drift: Option<&DriftMonitor>) -> String {
        if let Some(d) = drift {
            for (name, psi) in d.feature_psi() {
                self.feature_psi
                    .get_or_create(&FeatureLabel { feature: name })
                    .set(psi);
            }
            if let Some(p) = d.score_psi() {
                self.score_psi.set(p);
            }
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Reference distribution of one quantity: bin edges (ascending upper bounds of all bins but
/// the last) and the training share of each bin (`edges.len() + 1` shares summing to 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinnedReference {
    /// Upper bounds (inclusive) of every bin but the last.
    pub edges: Vec<f64>,
    /// Training share per bin; `NaN` values are not counted.
    pub fractions: Vec<f64>,
}

impl BinnedReference {
    /// Deciles (at most `bins` quantile bins) of `values` (NaN ignored); `None` when empty.
    pub fn from_values(values: &[f64], bins: usize) -> Option<Self> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() || bins < 2 {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let mut edges: Vec<f64> = (1..bins)
            .map(|i| v[(i * v.len() / bins).min(v.len() - 1)])
            .collect();
        edges.dedup();
        let mut counts = vec![0u64; edges.len() + 1];
        for x in &v {
            counts[edges.partition_point(|e| e < x)] += 1;
        }
        let n = v.len() as f64;
        Some(BinnedReference {
            edges,
            fractions: counts.iter().map(|&c| c as f64 / n).collect(),
        })
    }

    fn bin(&self, x: f64) -> usize {
        self.edges.partition_point(|e| *e < x)
    }

    fn valid(&self) -> bool {
        self.fractions.len() == self.edges.len() + 1
            && self.edges.windows(2).all(|w| w[0] <= w[1])
            && self.fractions.iter().all(|f| f.is_finite() && *f >= 0.0)
    }
}

/// The training distributions a bundle may carry under `metrics.drift_reference`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DriftReference {
    /// Scores of training rows.
    pub score: Option<BinnedReference>,
    /// Key features by name.
    pub features: BTreeMap<String, BinnedReference>,
}

struct Live {
    reference: BinnedReference,
    counts: Vec<AtomicU64>,
}

impl Live {
    fn new(reference: BinnedReference) -> Self {
        let counts = (0..reference.fractions.len())
            .map(|_| AtomicU64::new(0))
            .collect();
        Live { reference, counts }
    }

    fn observe(&self, x: f64) {
        if !x.is_nan() {
            if let Some(c) = self.counts.get(self.reference.bin(x)) {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn psi(&self) -> Option<f64> {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let n: u64 = counts.iter().sum();
        if n == 0 {
            return None;
        }
        const EPS: f64 = 1e-4;
        Some(
            counts
                .iter()
                .zip(&self.reference.fractions)
                .map(|(&c, &e)| {
                    let a = (c as f64 / n as f64).max(EPS);
                    let e = e.max(EPS);
                    (a - e) * (a / e).ln()
                })
                .sum(),
        )
    }
}

/// Live histograms of served features and scores against a [`DriftReference`].
pub struct DriftMonitor {
    score: Option<Live>,
    /// (column index in the model's features, name, live histogram)
    features: Vec<(usize, String, Live)>,
}

impl DriftMonitor {
    /// Tracks the reference's features found in `feature_names`; `None` when nothing is
    /// trackable.
    pub fn new(reference: DriftReference, feature_names: &[String]) -> Option<Self> {
        let score = reference
            .score
            .filter(BinnedReference::valid)
            .map(Live::new);
        let features: Vec<(usize, String, Live)> = reference
            .features
            .into_iter()
            .filter(|(_, r)| r.valid())
            .filter_map(|(name, r)| {
                let j = feature_names.iter().position(|n| *n == name)?;
                Some((j, name, Live::new(r)))
            })
            .collect();
        if score.is_none() && features.is_empty() {
            None
        } else {
            Some(DriftMonitor { score, features })
        }
    }

    /// Records one served row and its score.
    pub fn observe(&self, x: &[f32], score: f64) {
        if let Some(s) = &self.score {
            s.observe(score);
        }
        for (j, _, live) in &self.features {
            if let Some(v) = x.get(*j) {
                live.observe(f64::from(*v));
            }
        }
    }

    /// PSI per tracked feature (features with no served rows yet are left out).
    pub fn feature_psi(&self) -> Vec<(String, f64)> {
        self.features
            .iter()
            .filter_map(|(_, n, l)| Some((n.clone(), l.psi()?)))
            .collect()
    }

    /// PSI of scores, once a score was served.
    pub fn score_psi(&self) -> Option<f64> {
        self.score.as_ref().and_then(Live::psi)
    }
}
