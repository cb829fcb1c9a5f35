//! Alerting metrics of the retraining runs, in the Prometheus text format.
//!
//! The one-shot command writes them to a file (node-exporter textfile-collector style) and
//! the scheduler also serves them over HTTP. Everything is derived from the runs directory,
//! so the counters are cumulative across processes and CronJob pods.

use crate::error::Result;
use crate::record::{atomic_write, Outcome, RunRecord, RunStore};
use std::fmt::Write as _;
use std::path::Path;

fn epoch_seconds(rfc3339: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
}

/// Renders the metrics of `runs` (oldest first).
pub fn render(runs: &[RunRecord]) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, kind: &str, lines: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, v) in lines {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let last = runs.last();
    let ts = |r: Option<&RunRecord>| {
        r.and_then(|r| epoch_seconds(&r.ended_at))
            .map(|t| vec![(String::new(), t)])
            .unwrap_or_default()
    };
    gauge(
        "shopsense_retrain_last_run_timestamp_seconds",
        "End of the latest retraining run (Unix seconds).",
        "gauge",
        ts(last),
    );
    gauge(
        "shopsense_retrain_last_success_timestamp_seconds",
        "End of the latest retraining run that did not fail (Unix seconds).",
        "gauge",
        ts(runs.iter().rev().find(|r| r.outcome != Outcome::Failed)),
    );
    gauge(
        "shopsense_retrain_last_outcome",
        "1 for the outcome of the latest retraining run, 0 for the others.",
        "gauge",
        match last {
            Some(l) => Outcome::ALL
                .iter()
                .map(|o| {
                    (
                        format!("{{outcome=\"{o}\"}}"),
                        f64::from(u8::from(l.outcome == *o)),
                    )
                })
                .collect(),
            None => Vec::new(),
        },
    );
    gauge(
        "shopsense_retrain_runs_total",
        "Recorded retraining runs by outcome.",
        "counter",
        Outcome::ALL
            .iter()
            .map(|o| {
                let n = runs.iter().filter(|r| r.outcome == *o).count();
                (format!("{{outcome=\"{o}\"}}"), n as f64)
            })
            .collect(),
    );
    let consecutive = runs
        .iter()
        .rev()
        .take_while(|r| r.outcome == Outcome::Failed)
        .count();
    gauge(
        "shopsense_retrain_consecutive_failures",
        "Failed retraining runs since the last one that did not fail (alert when > 0).",
        "gauge",
        vec![(String::new(), consecutive as f64)],
    );
    gauge(
        "shopsense_retrain_last_duration_seconds",
        "Wall-clock seconds of the latest retraining run.",
        "gauge",
        last.map(|r| vec![(String::new(), r.duration_s)])
            .unwrap_or_default(),
    );
    out
}

/// Renders the metrics of every run in `store`.
pub fn render_store(store: &RunStore) -> Result<String> {
    Ok(render(&store.list()?))
}

/// Writes the metrics of `store` to `path` atomically (temporary file + rename).
pub fn write_file(store: &RunStore, path: &Path) -> Result<()> {
    atomic_write(path, render_store(store)?.as_bytes())
}
