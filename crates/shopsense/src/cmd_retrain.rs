//! `shopsense retrain` (one gated champion/challenger run) and `shopsense runs list|show|compare`.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use shopsense_intent::{ModelChoice, Silent, TrainConfig};
use shopsense_retrain::{
    compare, metrics, run, CronSchedule, GateMetric, Outcome, RetrainConfig, RunRecord, RunStore,
    Sanity,
};
use shopsense_sessions::SessionConfig;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `retrain`.
#[derive(Debug, Args)]
pub struct RetrainArgs {
    /// The event store new files are folded into (created when missing).
    #[arg(long)]
    pub store: PathBuf,
    /// Directory of incoming event files (each ingested once, by SHA-256).
    #[arg(long)]
    pub incoming: PathBuf,
    /// The model registry the servers follow.
    #[arg(long)]
    pub registry: PathBuf,
    /// Where run records are written (`shopsense runs list --runs DIR`).
    #[arg(long)]
    pub runs: PathBuf,
    /// Required improvement of the gate metric over the promoted model.
    #[arg(long, default_value_t = 0.005)]
    pub margin: f64,
    /// Gate metric: roc_auc, pr_auc or log_loss.
    #[arg(long, default_value = "roc_auc")]
    pub metric: String,
    /// Candidate model family: gbdt, logistic, seed-rf.
    #[arg(long, default_value = "gbdt", value_parser = ["gbdt", "logistic", "seed-rf"])]
    pub model: String,
    /// Fail an incoming file with more than this share of rejected rows.
    #[arg(long, default_value_t = 0.05)]
    pub max_bad_ratio: f64,
    /// Print the run record as JSON.
    #[arg(long)]
    pub json: bool,
    /// After the run, write the alerting metrics (Prometheus text format, for the
    /// node-exporter textfile collector) to this file, atomically.
    #[arg(long)]
    pub metrics_file: Option<PathBuf>,
}

/// `runs`.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Every recorded run, oldest first.
    List {
        /// The runs directory.
        #[arg(long)]
        runs: PathBuf,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One run record (JSON).
    Show {
        /// Run id (from `runs list`).
        id: String,
        /// The runs directory.
        #[arg(long)]
        runs: PathBuf,
    },
    /// Runs side by side: params, metrics (deltas vs the first), data, durations, outcomes.
    Compare {
        /// Two or more run ids (or unique prefixes, or `latest`); the first is the baseline.
        #[arg(required = true, num_args = 2..)]
        ids: Vec<String>,
        /// The runs directory.
        #[arg(long)]
        runs: PathBuf,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `scheduler`.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// When to retrain (UTC): `sec min hour day month weekday`, e.g. "0 0 3 * * *", or the
    /// five-field form of the CronJob ("0 3 * * *").
    #[arg(long)]
    pub cron: String,
    /// Stop after this many runs (exit 1 when any of them failed); default: run until
    /// SIGINT/SIGTERM.
    #[arg(long)]
    pub max_runs: Option<u64>,
    /// Serve the alert metrics over HTTP at http://ADDR/metrics (e.g. 0.0.0.0:9187).
    #[arg(long)]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The retraining settings (same flags as `shopsense retrain`).
    #[command(flatten)]
    pub retrain: RetrainArgs,
}

fn config(a: &RetrainArgs) -> Result<RetrainConfig> {
    let metric = GateMetric::parse(&a.metric).map_err(|e| anyhow::anyhow!("--metric: {e}"))?;
    let model: ModelChoice = a
        .model
        .parse()
        .map_err(|e| anyhow::anyhow!("--model: {e}"))?;
    let cfg = RetrainConfig {
        store: a.store.clone(),
        incoming: a.incoming.clone(),
        registry: a.registry.clone(),
        runs: a.runs.clone(),
        margin: a.margin,
        metric,
        sanity: Sanity::default(),
        format: None,
        max_bad_ratio: a.max_bad_ratio,
        sessions: SessionConfig::default(),
        train: TrainConfig {
            model,
            ..TrainConfig::default()
        },
        extra_params: BTreeMap::new(),
    };
    cfg.validate()?;
    Ok(cfg)
}

/// One run: train, record, write the metrics file, print. `Ok(outcome)` unless the run
/// could not even be recorded.
fn run_once(a: &RetrainArgs, cfg: &RetrainConfig) -> Result<RunRecord> {
    let rec = run(cfg, &Silent).context("recording the run");
    if let Some(path) = &a.metrics_file {
        let store = RunStore::open(&a.runs)?;
        metrics::write_file(&store, path)
            .with_context(|| format!("--metrics-file {}", path.display()))?;
    }
    let rec = rec?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rec)?);
    } else {
        println!(
            "run {}: {} ({}) in {:.1} s; candidate {} {:?}, champion {:?}; promoted now: {}",
            rec.id,
            rec.outcome.as_str(),
            rec.reason,
            rec.duration_s,
            rec.metric,
            rec.candidate_score(),
            rec.champion_score(),
            rec.promoted_after.as_deref().unwrap_or("none")
        );
    }
    Ok(rec)
}

/// Runs one retraining; exits non-zero when the run failed (nothing is promoted then).
pub fn retrain(a: RetrainArgs) -> Result<()> {
    let cfg = config(&a)?;
    let rec = run_once(&a, &cfg)?;
    if rec.outcome == Outcome::Failed {
        bail!("retraining failed: {}", rec.reason);
    }
    Ok(())
}

async fn stop_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
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
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Retrains on a cron schedule in process until SIGINT/SIGTERM or `--max-runs`; runs never
/// overlap (a fire time missed during a run is skipped). Exits non-zero at the end when any
/// run failed.
pub fn scheduler(a: SchedulerArgs) -> Result<()> {
    let schedule = CronSchedule::parse(&a.cron)?;
    if a.max_runs == Some(0) {
        bail!("--max-runs must be at least 1");
    }
    let cfg = config(&a.retrain)?;
    let store = RunStore::open(&a.retrain.runs)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        if let Some(addr) = a.metrics_addr {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("--metrics-addr {addr}"))?;
            let st = store.clone();
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let st = st.clone();
                    async move {
                        let body = tokio::task::spawn_blocking(move || metrics::render_store(&st))
                            .await
                            .map_err(|e| e.to_string())
                            .and_then(|r| r.map_err(|e| e.to_string()));
                        match body {
                            Ok(b) => (
                                axum::http::StatusCode::OK,
                                [("content-type", "text/plain; version=0.0.4")],
                                b,
                            ),
                            Err(e) => (
                                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                                [("content-type", "text/plain; version=0.0.4")],
                                e,
                            ),
                        }
                    }
                }),
            );
            eprintln!("shopsense scheduler: metrics on http://{addr}/metrics");
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    eprintln!("shopsense scheduler: metrics server stopped: {e}");
                }
            });
        }
        let stop = stop_signal();
        tokio::pin!(stop);
        let (mut done, mut failed) = (0u64, 0u64);
        loop {
            let now = chrono::Utc::now();
            let Some(next) = schedule.next_after(now) else {
                eprintln!("shopsense scheduler: {:?} fires no more", schedule.expr());
                break;
            };
            eprintln!(
                "shopsense scheduler: next run at {} ({:?})",
                next.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                schedule.expr()
            );
            let wait = (next - now).to_std().unwrap_or_default();
            tokio::select! {
                _ = &mut stop => {
                    eprintln!("shopsense scheduler: stopping (signal)");
                    break;
                }
                _ = tokio::time::sleep(wait) => {}
            }
            // The run is awaited before the next fire time is computed: runs never overlap.
            let (ra, rc) = (clone_args(&a.retrain), cfg.clone());
            let res = tokio::task::spawn_blocking(move || run_once(&ra, &rc))
                .await
                .context("the run panicked")?;
            done += 1;
            match res {
                Ok(rec) if rec.outcome != Outcome::Failed => {}
                Ok(rec) => {
                    failed += 1;
                    eprintln!("shopsense scheduler: run {} failed: {}", rec.id, rec.reason);
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("shopsense scheduler: run failed: {e:#}");
                }
            }
            if a.max_runs.is_some_and(|m| done >= m) {
                break;
            }
        }
        if failed > 0 {
            bail!("{failed} of {done} scheduled runs failed");
        }
        Ok(())
    })
}

fn clone_args(a: &RetrainArgs) -> RetrainArgs {
    RetrainArgs {
        store: a.store.clone(),
        incoming: a.incoming.clone(),
        registry: a.registry.clone(),
        runs: a.runs.clone(),
        margin: a.margin,
        metric: a.metric.clone(),
        model: a.model.clone(),
        max_bad_ratio: a.max_bad_ratio,
        json: a.json,
        metrics_file: a.metrics_file.clone(),
    }
}

/// `runs list|show|compare`.
pub fn runs(c: RunsCommand) -> Result<()> {
    match c {
        RunsCommand::List { runs, json } => {
            let store = RunStore::open(&runs)?;
            let list = store
                .list()
                .with_context(|| format!("reading {}", runs.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            for r in &list {
                println!(
                    "{}  {:<8}  {:>7.1} s  {} {:?} vs {:?}  {}",
                    r.id,
                    r.outcome.as_str(),
                    r.duration_s,
                    r.metric,
                    r.candidate_score(),
                    r.champion_score(),
                    r.reason
                );
            }
            Ok(())
        }
        RunsCommand::Show { id, runs } => {
            let r = RunStore::open(&runs)?
                .load(&id)
                .with_context(|| format!("run {id} in {}", runs.display()))?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(())
        }
        RunsCommand::Compare { ids, runs, json } => {
            let store = RunStore::open(&runs)?;
            let mut recs = Vec::with_capacity(ids.len());
            for id in &ids {
                recs.push(
                    store
                        .load(id)
                        .with_context(|| format!("runs compare: unknown run {id:?}"))?,
                );
            }
            let c = compare(&recs);
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                print!("{}", c.table());
            }
            Ok(())
        }
    }
}
