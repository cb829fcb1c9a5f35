//! Side-by-side comparison of recorded runs (`shopsense runs compare A B …`).

use crate::record::RunRecord;
use serde::Serialize;
use std::collections::BTreeMap;

/// Candidate metrics compared between runs, in display order.
pub const COMPARED_METRICS: [&str; 7] = [
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "precision",
    "recall",
    "f1",
];

/// One compared value across the runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRow {
    /// Metric name (`roc_auc`, …).
    pub name: String,
    /// The candidate's value per run (`None` when the run measured nothing).
    pub values: Vec<Option<f64>>,
    /// Value minus the first run's value, per run (`None` when either is missing).
    pub deltas: Vec<Option<f64>>,
}

/// One setting across the runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamRow {
    /// Setting name (flattened with dots, e.g. `train.model`).
    pub name: String,
    /// Its value per run (JSON text; `None` when the run did not record it).
    pub values: Vec<Option<String>>,
    /// Whether the runs disagree.
    pub differs: bool,
}

/// Runs side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Run ids, in the order asked (the first is the baseline of the deltas).
    pub ids: Vec<String>,
    /// Outcome per run.
    pub outcomes: Vec<String>,
    /// Reason per run.
    pub reasons: Vec<String>,
    /// Wall-clock seconds per run.
    pub durations_s: Vec<f64>,
    /// Data fingerprint per run.
    pub data_fingerprints: Vec<Option<String>>,
    /// Whether all runs saw the same data.
    pub same_data: bool,
    /// Gate metric per run.
    pub gate_metrics: Vec<String>,
    /// Candidate metrics on each run's held-out window.
    pub metrics: Vec<MetricRow>,
    /// Settings, differing ones first.
    pub params: Vec<ParamRow>,
}

fn metric_value(r: &RunRecord, name: &str) -> Option<f64> {
    let m = &r.candidate.as_ref()?.metrics;
    let v = match name {
        "roc_auc" => m.roc_auc?,
        "pr_auc" => m.pr_auc?,
        "log_loss" => m.log_loss,
        "brier" => m.brier,
        "precision" => m.precision,
        "recall" => m.recall,
        "f1" => m.f1,
        _ => return None,
    };
    v.is_finite().then_some(v)
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// Compares `runs` (at least one); deltas are against the first.
pub fn compare(runs: &[RunRecord]) -> Comparison {
    let first = runs.first();
    let metrics = COMPARED_METRICS
        .iter()
        .map(|name| {
            let values: Vec<Option<f64>> = runs.iter().map(|r| metric_value(r, name)).collect();
            let base = first.and_then(|r| metric_value(r, name));
            let deltas = values.iter().map(|v| Some(v.as_ref()? - base?)).collect();
            MetricRow {
                name: name.to_string(),
                values,
                deltas,
            }
        })
        .collect();
    let mut flat: Vec<BTreeMap<String, String>> = Vec::new();
    for r in runs {
        let mut m = BTreeMap::new();
        flatten("", &r.params, &mut m);
        flat.push(m);
    }
    let mut names: Vec<&String> = flat.iter().flat_map(|m| m.keys()).collect();
    names.sort();
    names.dedup();
    let mut params: Vec<ParamRow> = names
        .into_iter()
        .map(|n| {
            let values: Vec<Option<String>> = flat.iter().map(|m| m.get(n).cloned()).collect();
            let differs = values.windows(2).any(|w| w[0] != w[1]);
            ParamRow {
                name: n.clone(),
                values,
                differs,
            }
        })
        .collect();
    params.sort_by_key(|p| !p.differs);
    let data_fingerprints: Vec<Option<String>> =
        runs.iter().map(|r| r.data_fingerprint.clone()).collect();
    Comparison {
        ids: runs.iter().map(|r| r.id.clone()).collect(),
        outcomes: runs
            .iter()
            .map(|r| r.outcome.as_str().to_string())
            .collect(),
        reasons: runs.iter().map(|r| r.reason.clone()).collect(),
        durations_s: runs.iter().map(|r| r.duration_s).collect(),
        same_data: data_fingerprints.windows(2).all(|w| w[0] == w[1]),
        data_fingerprints,
        gate_metrics: runs.iter().map(|r| r.metric.clone()).collect(),
        metrics,
        params,
    }
}

impl Comparison {
    /// A plain-text table: one column per run, deltas in brackets.
    pub fn table(&self) -> String {
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut head = vec!["run".to_string()];
        head.extend(self.ids.iter().cloned());
        rows.push(head);
        let mut row = |name: &str, cells: Vec<String>| {
            let mut r = vec![name.to_string()];
            r.extend(cells);
            rows.push(r);
        };
        row("outcome", self.outcomes.clone());
        row(
            "duration_s",
            self.durations_s.iter().map(|d| format!("{d:.1}")).collect(),
        );
        row(
            "data",
            self.data_fingerprints
                .iter()
                .map(|f| {
                    f.as_deref()
                        .map(|s| s.chars().take(12).collect())
                        .unwrap_or_else(|| "-".into())
                })
                .collect(),
        );
        row("gate_metric", self.gate_metrics.clone());
        for m in &self.metrics {
            let cells = m
                .values
                .iter()
                .zip(&m.deltas)
                .enumerate()
                .map(|(i, (v, d))| match (v, d) {
                    (None, _) => "-".to_string(),
                    (Some(v), Some(d)) if i > 0 => format!("{v:.4} ({d:+.4})"),
                    (Some(v), _) => format!("{v:.4}"),
                })
                .collect();
            row(&m.name, cells);
        }
        for p in &self.params {
            let cells = p
                .values
                .iter()
                .map(|v| v.clone().unwrap_or_else(|| "-".into()))
                .collect();
            let name = if p.differs {
                format!("* {}", p.name)
            } else {
                p.name.clone()
            };
            row(&name, cells);
        }
        let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                rows.iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count().min(60))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for r in &rows {
            let line: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(c, s)| format!("{s:<w$}", w = widths[c]))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        if !self.same_data {
            out.push_str("note: the runs saw different data (fingerprints differ)\n");
        }
        out.push_str("(* = setting differs; metric deltas are against the first run)\n");
        out
    }
}
