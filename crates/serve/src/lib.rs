//! shopsense serving: purchase-intent decisions over HTTP.
//!
//! An axum server with a JSON API under `/v1` (OpenAPI document at `/openapi.json`),
//! `/healthz`, `/readyz`, Prometheus metrics at `/metrics`, online session state in memory
//! (TTL eviction, snapshot on shutdown, restore on start), API keys on write endpoints, body
//! and batch limits, timeouts and graceful shutdown. Scoring goes through [`Scorer`];
//! [`BundleScorer`] scores with a `shopsense-models` bundle and the features crate's online
//! path (the same feature code as training).
//!
//! Wiring into a binary: [`run`] with a [`ServeConfig`] (blocks until Ctrl-C / SIGTERM);
//! tests and embedders use [`start`], which returns a [`Server`] handle.

#![warn(missing_docs)]

mod api;
pub mod error;
pub mod metrics;
pub mod online;
pub mod scorer;
pub mod state;
pub mod wire;

pub use api::{openapi_json, ApiDoc};
pub use error::{ApiError, ServeError};
pub use metrics::{BinnedReference, DriftMonitor, DriftReference, Metrics};
pub use online::{OnlineState, RedisState, StateSizes};
pub use scorer::{BundleScorer, Score, Scorer};
/// The model registry lives in the models crate; re-exported for the server's callers.
pub use shopsense_models::registry::{Promotion, Registry, VersionInfo};
pub use state::{LiveSession, SessionStore, StateLimits, UserMirror};

use shopsense_recs::{NextActionModel, RecsModel};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Everything the server needs; [`ServeConfig::default`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on (default `127.0.0.1:8080`; port 0 picks a free port).
    pub addr: SocketAddr,
    /// The intent bundle to load at start and on `POST /v1/admin/reload`.
    pub bundle: Option<PathBuf>,
    /// A recommendation bundle (`shopsense train recs`) for `/v1/recommendations`,
    /// `/v1/items/{id}/similar` and `/v1/items/{id}/audience`; loaded at start and on reload.
    pub recs_bundle: Option<PathBuf>,
    /// A next-action bundle (`shopsense train next-action`) for `/v1/next-action`.
    pub next_action_bundle: Option<PathBuf>,
    /// A model registry (instead of `bundle`): the server loads the promoted version and
    /// follows promotions and rollbacks, hot-swapping the model.
    pub registry: Option<PathBuf>,
    /// How often the registry's promoted version is checked (default 2 s).
    pub watch_interval: Duration,
    /// Snapshot file of the online state: restored at start, written at shutdown (memory
    /// state only).
    pub state_path: Option<PathBuf>,
    /// `redis://host:port[/db]`: keep the online state in Redis (shared by replicas) instead
    /// of in memory.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key (default `shopsense`); replicas sharing sessions share it.
    pub redis_prefix: String,
    /// API key required by write endpoints (`POST /v1/events`, `POST /v1/admin/reload`) in
    /// the `x-api-key` header or as `authorization: Bearer <key>`. `None`: no key needed.
    pub api_key: Option<String>,
    /// Largest accepted request body in bytes (default 1 MiB); larger → 413.
    pub body_limit_bytes: usize,
    /// Most events per request (default 1000); more → 413.
    pub max_batch: usize,
    /// Requests taking longer are answered 503 `timeout` (default 2 s).
    pub request_timeout: Duration,
    /// A live session untouched this long is closed (default 30 min).
    pub session_ttl: Duration,
    /// Most live sessions (default 1,000,000; beyond, the least recently touched is closed).
    pub max_sessions: usize,
    /// Most events kept per live session (default 1000; the oldest are dropped beyond).
    pub max_events_per_session: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            bundle: None,
            recs_bundle: None,
            next_action_bundle: None,
            registry: None,
            watch_interval: Duration::from_secs(2),
            state_path: None,
            redis_url: None,
            redis_prefix: "shopsense".into(),
            api_key: None,
            body_limit_bytes: 1 << 20,
            max_batch: 1000,
            request_timeout: Duration::from_secs(2),
            session_ttl: Duration::from_secs(30 * 60),
            max_sessions: 1_000_000,
            max_events_per_session: 1000,
        }
    }
}

/// The model serving now, swapped whole on reload (in-flight requests keep the old one).
pub(crate) struct Loaded {
    pub(crate) scorer: Arc<dyn Scorer>,
    pub(crate) drift: Option<DriftMonitor>,
}

/// Shared state of the handlers.
pub(crate) struct AppState {
    pub(crate) config: ServeConfig,
    pub(crate) model: RwLock<Option<Arc<Loaded>>>,
    /// The recommendation model, when configured and loaded.
    pub(crate) recs: RwLock<Option<Arc<RecsModel>>>,
    /// The next-action model, when configured and loaded.
    pub(crate) next_action: RwLock<Option<Arc<NextActionModel>>>,
    pub(crate) store: Arc<dyn OnlineState>,
    /// The same store when it is the in-memory one (snapshots).
    pub(crate) memory: Option<Arc<SessionStore>>,
    pub(crate) metrics: Metrics,
    /// The registry version loaded, or last tried and failed (not retried until it changes).
    pub(crate) registry_seen: std::sync::Mutex<Option<String>>,
}

impl AppState {
    pub(crate) fn model(&self) -> Option<Arc<Loaded>> {
        self.model.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn recs(&self) -> Option<Arc<RecsModel>> {
        self.recs.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn next_action(&self) -> Option<Arc<NextActionModel>> {
        self.next_action
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Readiness: every configured model is loaded, and at least one model is.
    pub(crate) fn all_loaded(&self) -> bool {
        let intent = self.model().is_some();
        let intent_configured = self.config.bundle.is_some() || self.config.registry.is_some();
        (intent || !intent_configured)
            && (self.config.recs_bundle.is_none() || self.recs().is_some())
            && (self.config.next_action_bundle.is_none() || self.next_action().is_some())
            && (intent || self.recs().is_some() || self.next_action().is_some())
    }

    /// Loads the configured recommendation and next-action bundles (blocking) and swaps them
    /// in; on failure the old ones keep serving. Returns what was loaded.
    pub(crate) fn load_side_models(&self) -> Result<Vec<String>, ServeError> {
        let mut done = Vec::new();
        if let Some(p) = &self.config.recs_bundle {
            let r = RecsModel::load(p).map_err(|e| ServeError::Config(e.to_string()));
            self.metrics.reload(r.is_ok());
            *self.recs.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(r?));
            tracing::info!(path = %p.display(), "recommendation model loaded");
            done.push(format!("recs:{}", p.display()));
        }
        if let Some(p) = &self.config.next_action_bundle {
            let r = NextActionModel::load(p).map_err(|e| ServeError::Config(e.to_string()));
            self.metrics.reload(r.is_ok());
            *self.next_action.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(r?));
            tracing::info!(path = %p.display(), "next-action model loaded");
            done.push(format!("next-action:{}", p.display()));
        }
        Ok(done)
    }

    /// Loads the configured bundle, or the registry's promoted version (blocking), and swaps
    /// it in; on failure the old model keeps serving.
    pub(crate) fn load_model(&self) -> Result<String, ServeError> {
        let r = self.load_scorer();
        self.metrics.reload(r.is_ok());
        let (scorer, path) = r?;
        self.install(Arc::new(scorer), drift_reference(&path));
        Ok(self
            .model()
            .map(|m| m.scorer.version().to_string())
            .unwrap_or_default())
    }

    fn load_scorer(&self) -> Result<(BundleScorer, PathBuf), ServeError> {
        if let Some(dir) = &self.config.registry {
            let reg = Registry::open(dir)?;
            let (version, path) = reg
                .promoted()?
                .ok_or_else(|| ServeError::Config("no version is promoted".into()))?;
            *self.registry_seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(version.clone());
            let s = BundleScorer::load(&path)?.with_version_prefix(&version);
            return Ok((s, path));
        }
        let path = self
            .config
            .bundle
            .as_ref()
            .ok_or_else(|| ServeError::Config("no bundle configured".into()))?;
        Ok((BundleScorer::load(path)?, path.clone()))
    }

    /// Reloads when the registry's promoted version differs from the one last seen.
    fn follow_registry(&self) {
        let Some(dir) = &self.config.registry else {
            return;
        };
        let current = Registry::open(dir)
            .and_then(|r| r.promotion())
            .map(|p| p.current);
        let Ok(Some(current)) = current else {
            return;
        };
        let seen = self
            .registry_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if seen.as_deref() != Some(current.as_str()) {
            match self.load_model() {
                Ok(v) => tracing::info!(version = %v, "promoted model swapped in"),
                Err(e) => {
                    tracing::error!(error = %e, "promoted model not loaded; the old one keeps serving")
                }
            }
        }
    }

    /// Serves `scorer` from now on.
    pub(crate) fn install(&self, scorer: Arc<dyn Scorer>, reference: Option<DriftReference>) {
        let drift = reference.and_then(|r| DriftMonitor::new(r, scorer.feature_names()));
        self.metrics.set_model(scorer.version());
        tracing::info!(version = scorer.version(), "intent model loaded");
        *self.model.write().unwrap_or_else(|p| p.into_inner()) =
            Some(Arc::new(Loaded { scorer, drift }));
    }
}

/// The drift reference under `metrics.drift_reference` of a bundle file, if any.
fn drift_reference(path: &std::path::Path) -> Option<DriftReference> {
    let b = shopsense_models::Bundle::load(path).ok()?;
    serde_json::from_value(b.metrics.get("drift_reference")?.clone()).ok()
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
    state: Arc<AppState>,
}

impl Server {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `scorer` from now on (the same hot swap as a reload; for embedding and tests).
    pub fn install_scorer(&self, scorer: Arc<dyn Scorer>, reference: Option<DriftReference>) {
        self.state.install(scorer, reference);
    }

    /// Stops accepting, drains in-flight requests, writes the state snapshot.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.wait().await
    }

    /// Waits until the server stops (after [`Server::shutdown`] or a failure).
    pub async fn wait(self) -> Result<(), ServeError> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(ServeError::Config(format!("server task failed: {e}"))),
        }
    }
}

/// Starts the server: binds, restores the state snapshot, starts loading the bundle in the
/// background (`/readyz` answers 503 until it is loaded) and serves until
/// [`Server::shutdown`].
pub async fn start(config: ServeConfig) -> Result<Server, ServeError> {
    if config.bundle.is_some() && config.registry.is_some() {
        return Err(ServeError::Config(
            "give either a bundle or a registry, not both".into(),
        ));
    }
    if config.max_batch == 0 || config.body_limit_bytes == 0 || config.max_sessions == 0 {
        return Err(ServeError::Config(
            "limits (body, batch, sessions) must be positive".into(),
        ));
    }
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|e| ServeError::io(format!("binding {}", config.addr), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServeError::io("local address", e))?;
    let limits = StateLimits {
        ttl_ms: config.session_ttl.as_millis().min(i64::MAX as u128) as i64,
        max_sessions: config.max_sessions,
        max_events_per_session: config.max_events_per_session.max(1),
    };
    let (store, memory): (Arc<dyn OnlineState>, Option<Arc<SessionStore>>) = match &config.redis_url
    {
        Some(url) => {
            if config.state_path.is_some() {
                return Err(ServeError::Config(
                    "a snapshot file is for the in-memory state; Redis keeps its own".into(),
                ));
            }
            let r = RedisState::connect(url, &config.redis_prefix, limits).await?;
            tracing::info!(url = %url, "online state in Redis");
            (Arc::new(r), None)
        }
        None => {
            let m = Arc::new(SessionStore::new(limits));
            if let Some(p) = &config.state_path {
                let n = m.restore(p, now_ms())?;
                tracing::info!(sessions = n, path = %p.display(), "online state restored");
            }
            (m.clone(), Some(m))
        }
    };
    let state = Arc::new(AppState {
        config,
        model: RwLock::new(None),
        recs: RwLock::new(None),
        next_action: RwLock::new(None),
        store,
        memory,
        metrics: Metrics::new(),
        registry_seen: std::sync::Mutex::new(None),
    });
    // A registry is loaded by its watch (first check at once), a bundle here.
    if state.config.bundle.is_some() {
        let st = state.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = st.load_model() {
                tracing::error!(error = %e, "intent model not loaded");
            }
        });
    }
    if state.config.recs_bundle.is_some() || state.config.next_action_bundle.is_some() {
        let st = state.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = st.load_side_models() {
                tracing::error!(error = %e, "recommendation / next-action model not loaded");
            }
        });
    }
    // TTL eviction.
    let ttl = state.config.session_ttl;
    let tick = (ttl / 10).clamp(Duration::from_millis(100), Duration::from_secs(60));
    let evict = {
        let st = state.clone();
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(tick);
            loop {
                iv.tick().await;
                if let Err(e) = st.store.evict_expired(now_ms()).await {
                    tracing::warn!(error = %e, "evicting expired sessions failed");
                }
            }
        })
    };
    // Registry watch.
    let watch = {
        let st = state.clone();
        let every = st.config.watch_interval.max(Duration::from_millis(10));
        tokio::spawn(async move {
            if st.config.registry.is_none() {
                return;
            }
            let mut iv = tokio::time::interval(every);
            loop {
                iv.tick().await;
                let st2 = st.clone();
                let _ = tokio::task::spawn_blocking(move || st2.follow_registry()).await;
            }
        })
    };
    let (tx, rx) = oneshot::channel::<()>();
    let app = api::router(state.clone());
    let st = state.clone();
    let task = tokio::spawn(async move {
        let r = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
            .map_err(|e| ServeError::io("serving", e));
        evict.abort();
        watch.abort();
        if let (Some(p), Some(m)) = (&st.config.state_path, &st.memory) {
            m.snapshot(p, now_ms())?;
            tracing::info!(path = %p.display(), "online state written");
        }
        r
    });
    Ok(Server {
        addr,
        stop: Some(tx),
        task,
        state,
    })
}

/// Runs the server until Ctrl-C or SIGTERM, then drains requests and writes the state
/// snapshot. Builds its own multi-threaded tokio runtime: call it from a plain `main`.
pub fn run(config: ServeConfig) -> Result<(), ServeError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ServeError::io("starting the runtime", e))?;
    rt.block_on(async move {
        let server = start(config).await?;
        tracing::info!(addr = %server.addr(), "serving");
        shutdown_signal().await;
        tracing::info!("shutting down: draining requests");
        server.shutdown().await
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
