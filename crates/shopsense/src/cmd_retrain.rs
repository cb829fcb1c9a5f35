//! `shopsense retrain` (one gated champion/challenger run) and `shopsense runs list|show|compare`.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use shopsense_intent::{ModelChoice, Silent, TrainConfig};
use shopsense_retrain::{
    compare, metrics, run, GateMetric, Outcome, RetrainConfig, RunStore, Sanity,
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

/// Runs one retraining; exits non-zero when the run failed (nothing is promoted then).
pub fn retrain(a: RetrainArgs) -> Result<()> {
    let metric = GateMetric::parse(&a.metric).map_err(|e| anyhow::anyhow!("--metric: {e}"))?;
    let model: ModelChoice = a
        .model
        .parse()
        .map_err(|e| anyhow::anyhow!("--model: {e}"))?;
    let runs_dir = a.runs.clone();
    let cfg = RetrainConfig {
        store: a.store,
        incoming: a.incoming,
        registry: a.registry,
        runs: a.runs,
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
    let rec = run(&cfg, &Silent).context("recording the run");
    if let Some(path) = &a.metrics_file {
        let store = RunStore::open(&runs_dir)?;
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
    if rec.outcome == Outcome::Failed {
        bail!("retraining failed: {}", rec.reason);
    }
    Ok(())
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
