//! Run records: one pretty JSON file per run, `RUNS/<id>.json`.
//!
//! JSON files rather than SQLite: a record is written once and never updated, the runs
//! directory is a plain volume in the Kubernetes CronJob (no locking, no C build, readable
//! with `cat`/`jq`), and listing a few thousand small files is instant. Writes are atomic
//! (temporary file + rename), so a crashed run never leaves half a record.

use crate::error::{Result, RetrainError};
use serde::{Deserialize, Serialize};
use shopsense_intent::Metrics;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The candidate was added to the registry and promoted.
    Promoted,
    /// The champion stays (the candidate was not better by the margin).
    Kept,
    /// The run failed; nothing was promoted.
    Failed,
}

impl Outcome {
    /// `promoted`, `kept` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Promoted => "promoted",
            Outcome::Kept => "kept",
            Outcome::Failed => "failed",
        }
    }

    /// Every outcome, in metric order.
    pub const ALL: [Outcome; 3] = [Outcome::Promoted, Outcome::Kept, Outcome::Failed];
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One file found in the incoming directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    /// The file.
    pub path: String,
    /// SHA-256 of its bytes (empty when it could not be read).
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// `ingested`, `skipped` (already in the store) or `failed`.
    pub status: String,
    /// Detected format.
    pub format: Option<String>,
    /// Rows stored.
    pub rows: u64,
    /// Rows rejected (quarantined).
    pub rejected: u64,
    /// Why it was skipped or failed.
    pub message: Option<String>,
}

/// The data a run trained and evaluated on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    /// Source files in the store.
    pub store_files: usize,
    /// Events.
    pub events: usize,
    /// Sessions.
    pub sessions: usize,
    /// First event time (UTC).
    pub first_event: Option<String>,
    /// Last event time (UTC).
    pub last_event: Option<String>,
}

/// The held-out window both models were scored on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowInfo {
    /// First session start of the window (UTC): the latest sessions, never used to train or
    /// tune the candidate.
    pub start: String,
    /// Same, in ms since the epoch.
    pub start_ms: i64,
    /// Prefixes scored.
    pub rows: usize,
    /// Prefixes whose session buys.
    pub positives: usize,
}

/// One model's result on the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    /// Content hash of the bundle.
    pub model_version: String,
    /// Registry version (`v0003`) when it is in the registry.
    pub registry_version: Option<String>,
    /// Model family and name.
    pub model: String,
    /// Metrics on the window at the model's own threshold.
    pub metrics: Metrics,
}

/// Everything recorded about one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Run id (UTC start time, sortable).
    pub id: String,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    /// End, RFC 3339 UTC.
    pub ended_at: String,
    /// Wall-clock seconds.
    pub duration_s: f64,
    /// How it ended.
    pub outcome: Outcome,
    /// Why (the decision, or the error).
    pub reason: String,
    /// The gate metric (`roc_auc`, `pr_auc`, `log_loss`).
    pub metric: String,
    /// Required improvement of the gate metric.
    pub margin: f64,
    /// Settings of the run (store, registry, protocol, model, training options).
    pub params: serde_json::Value,
    /// SHA-256 over the sorted SHA-256s of the store's source files.
    pub data_fingerprint: Option<String>,
    /// Events and sessions used.
    pub data: Option<DataInfo>,
    /// Files found in the incoming directory.
    pub inputs: Vec<InputFile>,
    /// The held-out window.
    pub window: Option<WindowInfo>,
    /// The candidate on the window.
    pub candidate: Option<ModelResult>,
    /// The promoted model before this run, on the same window.
    pub champion: Option<ModelResult>,
    /// The registry's promoted version after the run.
    pub promoted_after: Option<String>,
    /// Things worth knowing that did not stop the run.
    pub warnings: Vec<String>,
    /// Seconds per step.
    pub seconds: BTreeMap<String, f64>,
}

impl RunRecord {
    /// The gate metric of the candidate, if measured.
    pub fn candidate_score(&self) -> Option<f64> {
        self.candidate
            .as_ref()
            .and_then(|c| crate::GateMetric::parse(&self.metric).ok()?.of(&c.metrics))
    }

    /// The gate metric of the champion, if measured.
    pub fn champion_score(&self) -> Option<f64> {
        self.champion
            .as_ref()
            .and_then(|c| crate::GateMetric::parse(&self.metric).ok()?.of(&c.metrics))
    }
}

/// The runs directory.
#[derive(Debug, Clone)]
pub struct RunStore {
    dir: PathBuf,
}

impl RunStore {
    /// Opens (creating when missing) a runs directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| RetrainError::io(&dir, e))?;
        Ok(RunStore { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The record file of run `id`.
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// A new run id from `now` (`20261204T200102.123Z`), unique in this directory.
    pub fn new_id(&self, now: chrono::DateTime<chrono::Utc>) -> String {
        let base = now.format("%Y%m%dT%H%M%S%.3fZ").to_string();
        let mut id = base.clone();
        let mut n = 1;
        while self.path(&id).exists() {
            n += 1;
            id = format!("{base}-{n}");
        }
        id
    }

    /// Writes a record atomically.
    pub fn save(&self, r: &RunRecord) -> Result<PathBuf> {
        let path = self.path(&r.id);
        let bytes = serde_json::to_vec_pretty(r).map_err(|e| RetrainError::Record {
            path: path.clone(),
            message: e.to_string(),
        })?;
        atomic_write(&path, &bytes)?;
        Ok(path)
    }

    /// Ids of every run, oldest first.
    pub fn ids(&self) -> Result<Vec<String>> {
        let rd = std::fs::read_dir(&self.dir).map_err(|e| RetrainError::io(&self.dir, e))?;
        let mut ids: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                let id = name.strip_suffix(".json")?;
                (!id.starts_with('.')).then(|| id.to_string())
            })
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Loads run `id`; `latest` is the newest run, and a unique prefix of an id is enough.
    pub fn load(&self, id: &str) -> Result<RunRecord> {
        let ids = self.ids()?;
        let chosen = if id == "latest" {
            ids.last().cloned()
        } else if ids.iter().any(|i| i == id) {
            Some(id.to_string())
        } else {
            let m: Vec<&String> = ids.iter().filter(|i| i.starts_with(id)).collect();
            if m.len() > 1 {
                return Err(RetrainError::Config(format!(
                    "run {id:?} is ambiguous: {} runs start with it",
                    m.len()
                )));
            }
            m.first().map(|s| s.to_string())
        };
        let Some(chosen) = chosen else {
            return Err(RetrainError::Config(format!(
                "no run {id:?} in {}",
                self.dir.display()
            )));
        };
        read_record(&self.path(&chosen))
    }

    /// Every record, oldest first.
    pub fn list(&self) -> Result<Vec<RunRecord>> {
        self.ids()?
            .iter()
            .map(|id| read_record(&self.path(id)))
            .collect()
    }
}

fn read_record(path: &Path) -> Result<RunRecord> {
    let bytes = std::fs::read(path).map_err(|e| RetrainError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| RetrainError::Record {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Writes `bytes` to a temporary file next to `path`, then renames it over `path`.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| RetrainError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| RetrainError::io(path, e))
}
