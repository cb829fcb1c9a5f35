//! `shopsense stream` and `shopsense replay`: live scoring from a Kafka-protocol broker and
//! producing event logs to it (the work is in the `shopsense-stream` crate).

use anyhow::{Context, Result};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `shopsense stream`.
#[derive(Debug, Args)]
pub struct StreamArgs {
    /// Broker addresses (`host:port[,…]`); default $SHOPSENSE_KAFKA_BROKERS.
    #[arg(long)]
    pub brokers: Option<String>,
    /// Events topic.
    #[arg(long, default_value = "events")]
    pub topic: String,
    /// Scores topic.
    #[arg(long, default_value = "scores")]
    pub out_topic: String,
    /// Dead-letter topic (malformed or too-late events, with the reason).
    #[arg(long, default_value = "events-dlq")]
    pub dlq_topic: String,
    /// Consumer group.
    #[arg(long, default_value = "shopsense-stream")]
    pub group: String,
    /// Intent bundle to score with.
    #[arg(
        long,
        conflicts_with = "registry",
        required_unless_present = "registry"
    )]
    pub bundle: Option<PathBuf>,
    /// Model registry: score with its promoted version.
    #[arg(long)]
    pub registry: Option<PathBuf>,
    /// Checkpoint directory (state + applied offsets; restored at start).
    #[arg(long, default_value = "out/stream-state")]
    pub state_dir: PathBuf,
    /// Checkpoint and commit after this many messages (or `--checkpoint-ms`, whichever
    /// comes first: under a second's worth at full speed, so the time bound usually rules;
    /// each checkpoint copies the live sessions on the applying thread).
    #[arg(long, default_value_t = 250_000)]
    pub checkpoint_every: u64,
    /// …or after this many milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub checkpoint_ms: u64,
    /// Exit after this many seconds without messages (default: run until killed).
    #[arg(long)]
    pub idle_exit_secs: Option<f64>,
    /// Serve /metrics and the dashboard here (e.g. 127.0.0.1:9100).
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
    /// Close a session after this many minutes without events (event time).
    #[arg(long, default_value_t = 30.0)]
    pub session_timeout_min: f64,
    /// Accept events up to this many seconds behind the newest event time.
    #[arg(long, default_value_t = 300.0)]
    pub lateness_secs: f64,
    /// Longest time the broker may hold a fetch waiting for data (fetch.wait.max.ms): lower
    /// means lower latency on brokers that hold every fetch this long, and more fetches.
    #[arg(long, default_value_t = 10)]
    pub fetch_wait_ms: u64,
}

/// Arguments of `shopsense replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Events file (any format ingest reads).
    pub events: PathBuf,
    /// Broker addresses; default $SHOPSENSE_KAFKA_BROKERS.
    #[arg(long)]
    pub brokers: Option<String>,
    /// Topic.
    #[arg(long, default_value = "events")]
    pub topic: String,
    /// Event-time speed-up such as `60x`, or `max`.
    #[arg(long, default_value = "max")]
    pub speed: String,
    /// Produce at most this many events.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Producer batching delay in ms (linger.ms): events wait at most this long to be sent
    /// together; fewer, larger batches keep brokers that store one object per batch fast.
    #[arg(long, default_value_t = 20)]
    pub linger_ms: u64,
}

fn brokers(given: Option<String>) -> Result<String> {
    given
        .or_else(|| std::env::var("SHOPSENSE_KAFKA_BROKERS").ok())
        .filter(|b| !b.trim().is_empty())
        .context("no broker: give --brokers or set SHOPSENSE_KAFKA_BROKERS")
}

/// Runs `shopsense stream`.
pub fn stream(a: StreamArgs, quiet: bool) -> Result<()> {
    let scorer = shopsense_stream::load_scorer(a.bundle.as_deref(), a.registry.as_deref())?;
    let cfg = shopsense_stream::StreamConfig {
        brokers: brokers(a.brokers)?,
        topic: a.topic,
        out_topic: a.out_topic,
        dlq_topic: a.dlq_topic,
        group: a.group,
        scorer,
        checkpoint_dir: a.state_dir,
        checkpoint_every: a.checkpoint_every.max(1),
        checkpoint_interval: Duration::from_millis(a.checkpoint_ms),
        idle_exit: a
            .idle_exit_secs
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64),
        metrics_addr: a.metrics_addr,
        fetch_wait_ms: a.fetch_wait_ms,
        processor: shopsense_stream::ProcessorConfig {
            session_timeout_ms: (a.session_timeout_min * 60_000.0) as i64,
            lateness_ms: (a.lateness_secs * 1000.0) as i64,
            ..Default::default()
        },
    };
    let r = shopsense_stream::run_stream(cfg).context("stream")?;
    if !quiet {
        let c = &r.counts;
        println!(
            "{}",
            serde_json::json!({
                "events_total": c.events,
                "by_kind": c.by_kind,
                "dead_letters_total": c.dead,
                "duplicates_skipped_total": c.duplicates,
                "sessions_converted": c.converted,
                "sessions_timed_out": c.timed_out,
                "messages_this_run": r.messages_this_run,
                "busy_seconds": r.busy_seconds,
                "events_per_second": if r.busy_seconds > 0.0 { r.messages_this_run as f64 / r.busy_seconds } else { 0.0 },
                "checkpoints": r.checkpoints,
                "checkpoint_max_seconds": r.checkpoint_max_seconds,
                "checkpoint_seconds": r.checkpoint_seconds,
                "delivery_failures": r.delivery_failures,
            })
        );
    }
    Ok(())
}

/// Runs `shopsense replay`.
pub fn replay(a: ReplayArgs, quiet: bool) -> Result<()> {
    let speed = shopsense_stream::kafka::parse_speed(&a.speed).map_err(anyhow::Error::msg)?;
    let r = shopsense_stream::replay(
        &a.events,
        &shopsense_stream::ReplayConfig {
            brokers: brokers(a.brokers)?,
            topic: a.topic,
            speed,
            limit: a.limit,
            linger_ms: a.linger_ms,
        },
    )
    .with_context(|| format!("replay {}", a.events.display()))?;
    if !quiet {
        println!(
            "{}",
            serde_json::json!({
                "produced": r.produced,
                "rejected_rows": r.rejected,
                "seconds": r.seconds,
                "events_per_second": if r.seconds > 0.0 { r.produced as f64 / r.seconds } else { 0.0 },
            })
        );
    }
    Ok(())
}
