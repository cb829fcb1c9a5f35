//! One retraining run: ingest → sessions → candidate → champion/challenger gate → record.

use crate::error::{Result, RetrainError};
use crate::record::{DataInfo, InputFile, ModelResult, Outcome, RunRecord, RunStore, WindowInfo};
use serde::Serialize;
use sha2::{Digest, Sha256};
use shopsense_events::reject::write_quarantine;
use shopsense_events::time::format_ms;
use shopsense_events::{check_bad_ratio, read_file_with, EventTable, ReadOptions, Source};
use shopsense_intent::{IntentModel, Metrics, Progress, TrainConfig};
use shopsense_models::registry::Registry;
use shopsense_sessions::{SessionConfig, Sessions};
use shopsense_store::{FileEntry, Store};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The metric the gate compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GateMetric {
    /// ROC-AUC (higher is better).
    RocAuc,
    /// PR-AUC / average precision (higher is better).
    PrAuc,
    /// Log-loss (lower is better).
    LogLoss,
}

impl GateMetric {
    /// Parses `roc_auc`, `pr_auc` or `log_loss` (dashes accepted).
    pub fn parse(s: &str) -> Result<Self> {
        match s.replace('-', "_").as_str() {
            "roc_auc" => Ok(GateMetric::RocAuc),
            "pr_auc" => Ok(GateMetric::PrAuc),
            "log_loss" => Ok(GateMetric::LogLoss),
            _ => Err(RetrainError::Config(format!(
                "unknown metric {s:?} (roc_auc, pr_auc, log_loss)"
            ))),
        }
    }

    /// The name used in records and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            GateMetric::RocAuc => "roc_auc",
            GateMetric::PrAuc => "pr_auc",
            GateMetric::LogLoss => "log_loss",
        }
    }

    /// The value in `m` (`None` when undefined, e.g. one class).
    pub fn of(self, m: &Metrics) -> Option<f64> {
        match self {
            GateMetric::RocAuc => m.roc_auc,
            GateMetric::PrAuc => m.pr_auc,
            GateMetric::LogLoss => Some(m.log_loss),
        }
        .filter(|v| v.is_finite())
    }

    /// How much better `candidate` is than `champion` (positive = better).
    pub fn improvement(self, candidate: f64, champion: f64) -> f64 {
        match self {
            GateMetric::LogLoss => champion - candidate,
            _ => candidate - champion,
        }
    }
}

/// Bounds a candidate must pass to be promoted at all (in particular on an empty registry).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sanity {
    /// Minimum ROC-AUC on the window.
    pub min_roc_auc: f64,
    /// Minimum buyers in the window (fewer cannot measure anything).
    pub min_window_positives: usize,
}

impl Default for Sanity {
    fn default() -> Self {
        Sanity {
            min_roc_auc: 0.55,
            min_window_positives: 5,
        }
    }
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RetrainConfig {
    /// The event store (created when missing).
    pub store: PathBuf,
    /// Directory whose files are ingested (each once, by SHA-256).
    pub incoming: PathBuf,
    /// The model registry.
    pub registry: PathBuf,
    /// Where run records go.
    pub runs: PathBuf,
    /// Required improvement of the gate metric over the champion.
    pub margin: f64,
    /// The gate metric.
    pub metric: GateMetric,
    /// Sanity bounds.
    pub sanity: Sanity,
    /// Input format name (`None` = detected per file).
    pub format: Option<String>,
    /// Maximum share of rejected rows per incoming file.
    pub max_bad_ratio: f64,
    /// How sessions are cut.
    pub sessions: SessionConfig,
    /// Training settings of the candidate (protocol, model, split, …).
    pub train: TrainConfig,
    /// Extra settings to record (e.g. the command line).
    pub extra_params: BTreeMap<String, serde_json::Value>,
}

impl RetrainConfig {
    /// Checks what does not depend on the data.
    pub fn validate(&self) -> Result<()> {
        if !(self.margin.is_finite() && self.margin >= 0.0) {
            return Err(RetrainError::Config(format!(
                "--margin must be a non-negative number, got {}",
                self.margin
            )));
        }
        if !(0.0..=1.0).contains(&self.max_bad_ratio) {
            return Err(RetrainError::Config(format!(
                "--max-bad-ratio must be within 0..1, got {}",
                self.max_bad_ratio
            )));
        }
        if self.sessions.gap_ms <= 0 {
            return Err(RetrainError::Config(
                "the session gap must be positive".into(),
            ));
        }
        self.train.validate()?;
        Ok(())
    }

    /// The settings recorded with each run.
    pub fn params(&self) -> serde_json::Value {
        let t = &self.train;
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: serde_json::Value| {
            m.insert(k.to_string(), v);
        };
        put("store", self.store.display().to_string().into());
        put("incoming", self.incoming.display().to_string().into());
        put("registry", self.registry.display().to_string().into());
        put("runs", self.runs.display().to_string().into());
        put("margin", self.margin.into());
        put("metric", self.metric.as_str().into());
        put("min_roc_auc", self.sanity.min_roc_auc.into());
        put(
            "min_window_positives",
            self.sanity.min_window_positives.into(),
        );
        put("format", self.format.clone().into());
        put("max_bad_ratio", self.max_bad_ratio.into());
        put("gap_ms", self.sessions.gap_ms.into());
        put("force_gap", self.sessions.force_gap.into());
        put("protocol", t.protocol.to_string().into());
        put("model", t.model.to_string().into());
        put("features", serde_json::json!(t.features));
        put("imbalance", serde_json::json!(t.imbalance));
        put("calibration", serde_json::json!(t.calibration));
        put("threshold", serde_json::json!(t.threshold));
        put("search_trials", t.search_trials.into());
        put("cv_folds", t.cv_folds.into());
        put("seed", t.seed.into());
        put(
            "split",
            serde_json::json!([t.split.0, t.split.1, t.split.2]),
        );
        put("utc_offset_minutes", t.utc_offset_minutes.into());
        put("gbdt", serde_json::to_value(&t.gbdt).unwrap_or_default());
        put("refit", t.refit.into());
        for (k, v) in &self.extra_params {
            m.insert(k.clone(), v.clone());
        }
        serde_json::Value::Object(m)
    }
}

/// Runs one retraining and records it in `cfg.runs`, whatever happens. Returns the record;
/// `Err` only when the record itself cannot be written. A failed run never promotes.
pub fn run(cfg: &RetrainConfig, progress: &dyn Progress) -> Result<RunRecord> {
    let t0 = Instant::now();
    let start = chrono::Utc::now();
    let runs = RunStore::open(&cfg.runs)?;
    let id = runs.new_id(start);
    let mut rec = RunRecord {
        id,
        started_at: rfc3339(start),
        ended_at: String::new(),
        duration_s: 0.0,
        outcome: Outcome::Failed,
        reason: String::new(),
        metric: cfg.metric.as_str().into(),
        margin: cfg.margin,
        params: cfg.params(),
        data_fingerprint: None,
        data: None,
        inputs: Vec::new(),
        window: None,
        candidate: None,
        champion: None,
        promoted_after: None,
        warnings: Vec::new(),
        seconds: BTreeMap::new(),
    };
    let scratch = runs
        .dir()
        .join(format!(".{}.candidate.bundle.json", rec.id));
    match steps(cfg, &mut rec, &scratch, progress) {
        Ok((outcome, reason)) => {
            rec.outcome = outcome;
            rec.reason = reason;
        }
        Err(e) => {
            rec.outcome = Outcome::Failed;
            rec.reason = e.to_string();
        }
    }
    let _ = std::fs::remove_file(&scratch);
    if let Ok(reg) = Registry::open(&cfg.registry) {
        rec.promoted_after = reg.promoted().ok().flatten().map(|(v, _)| v);
    }
    let end = chrono::Utc::now();
    rec.ended_at = rfc3339(end);
    rec.duration_s = t0.elapsed().as_secs_f64();
    runs.save(&rec)?;
    Ok(rec)
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn timed<T>(rec: &mut RunRecord, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let t = Instant::now();
    let out = f();
    rec.seconds.insert(name.into(), t.elapsed().as_secs_f64());
    out
}

/// The run's steps; returns the outcome and its reason.
fn steps(
    cfg: &RetrainConfig,
    rec: &mut RunRecord,
    scratch: &Path,
    progress: &dyn Progress,
) -> Result<(Outcome, String)> {
    cfg.validate()?;
    // The registry first: a broken registry must fail before any work.
    let registry = Registry::open(&cfg.registry)?;
    let champion_entry = registry.promoted()?;

    progress.step("ingest");
    let mut store = Store::open_or_create(&cfg.store)?;
    let t0 = Instant::now();
    let inputs = ingest(cfg, &mut store);
    rec.seconds
        .insert("ingest".into(), t0.elapsed().as_secs_f64());
    progress.done();
    match inputs {
        Ok(files) => rec.inputs = files,
        Err((files, e)) => {
            rec.inputs = files;
            return Err(e);
        }
    }
    rec.data_fingerprint = Some(fingerprint(&store));

    progress.step("read store");
    let (table, sessions) = timed(rec, "read", || {
        let t = store.read_all()?;
        let s = Sessions::build(&t, &cfg.sessions);
        Ok((t, s))
    })?;
    progress.done();
    if sessions.is_empty() {
        return Err(RetrainError::Data(format!(
            "the store {} has no events",
            cfg.store.display()
        )));
    }
    rec.data = Some(data_info(&store, &table, &sessions));

    // The candidate: the intent pipeline (split by session start, the latest sessions are
    // the test part, never used for fitting, early stopping, calibration or threshold).
    let outcome = timed(rec, "train", || {
        Ok(shopsense_intent::train(
            &table, &sessions, &cfg.train, progress,
        )?)
    })?;
    outcome
        .bundle
        .save(scratch)
        .map_err(|e| RetrainError::Data(format!("writing the candidate bundle: {e}")))?;
    let candidate = IntentModel::load(scratch)?;

    // The held-out window: the candidate's test part.
    let spec = cfg.train.feature_spec()?;
    let (ps, split) = shopsense_intent::prefixes_and_split(&table, &sessions, &spec)?;
    let rows = split.test.clone();
    let labels: Vec<f32> = rows
        .iter()
        .map(|&i| f32::from(u8::from(ps[i].label)))
        .collect();
    let positives = labels.iter().filter(|&&l| l > 0.5).count();
    rec.window = Some(WindowInfo {
        start: format_ms(split.test_start_ms),
        start_ms: split.test_start_ms,
        rows: rows.len(),
        positives,
    });
    if rows.is_empty() {
        return Err(RetrainError::Data("the held-out window is empty".into()));
    }

    let (cand_metrics, champ) = timed(rec, "evaluate", || {
        let probs =
            shopsense_intent::score_rows(&candidate, &table, &sessions, &ps, &rows, progress)?;
        let cm = shopsense_intent::report::metrics(&labels, &probs, candidate.threshold())?;
        let champ = match &champion_entry {
            None => None,
            Some((version, path)) => {
                let model = IntentModel::load(path)?;
                let probs =
                    shopsense_intent::score_rows(&model, &table, &sessions, &ps, &rows, progress)?;
                let m = shopsense_intent::report::metrics(&labels, &probs, model.threshold())?;
                Some((version.clone(), model, m))
            }
        };
        Ok((cm, champ))
    })?;
    rec.candidate = Some(ModelResult {
        model_version: candidate.version().to_string(),
        registry_version: None,
        model: candidate.loaded.bundle.model_name.clone(),
        metrics: cand_metrics.clone(),
    });
    if let Some((version, model, m)) = &champ {
        if model.params.protocol != cfg.train.protocol {
            rec.warnings.push(format!(
                "the champion {version} was trained under protocol {}, the candidate under {}; \
                 both were scored on the candidate's prefixes",
                model.params.protocol, cfg.train.protocol
            ));
        }
        if model.params.split.test_start_ms > split.test_start_ms {
            rec.warnings.push(format!(
                "the champion {version} was trained or tuned on sessions up to {}, inside the \
                 held-out window (from {}); its score there is optimistic",
                format_ms(model.params.split.test_start_ms),
                format_ms(split.test_start_ms)
            ));
        }
        rec.champion = Some(ModelResult {
            model_version: model.version().to_string(),
            registry_version: Some(version.clone()),
            model: model.loaded.bundle.model_name.clone(),
            metrics: m.clone(),
        });
    }

    // Sanity bounds.
    let metric = cfg.metric;
    let Some(cand_score) = metric.of(&cand_metrics) else {
        return Err(RetrainError::Sanity(format!(
            "the candidate's {} is undefined on the window ({} rows, {} buyers)",
            metric.as_str(),
            rows.len(),
            positives
        )));
    };
    let sanity = sanity_problem(&cfg.sanity, &cand_metrics, positives);
    if let Some(problem) = sanity {
        return match &champ {
            None => Err(RetrainError::Sanity(format!(
                "{problem}; the registry is empty and nothing was promoted"
            ))),
            Some((version, _, _)) => Ok((
                Outcome::Kept,
                format!("candidate rejected: {problem}; {version} stays promoted"),
            )),
        };
    }

    // The gate.
    let promote_reason = match &champ {
        None => format!(
            "first model: the registry had no promoted version; candidate {} {:.4} passes the \
             sanity bounds (ROC-AUC >= {})",
            metric.as_str(),
            cand_score,
            cfg.sanity.min_roc_auc
        ),
        Some((version, _, m)) => {
            let champ_score = metric.of(m);
            match champ_score {
                Some(cs) => {
                    let gain = metric.improvement(cand_score, cs);
                    if gain < cfg.margin || gain.is_nan() {
                        return Ok((
                            Outcome::Kept,
                            format!(
                                "not better by the margin: candidate {m_} {cand_score:.4} vs \
                                 champion {version} {cs:.4} ({gain:+.4} < margin {margin}) on \
                                 the same {n} held-out prefixes from {from}",
                                m_ = metric.as_str(),
                                margin = cfg.margin,
                                n = rows.len(),
                                from = format_ms(split.test_start_ms)
                            ),
                        ));
                    }
                    format!(
                        "better by the margin: candidate {m_} {cand_score:.4} vs champion \
                         {version} {cs:.4} ({gain:+.4} >= margin {margin})",
                        m_ = metric.as_str(),
                        margin = cfg.margin
                    )
                }
                None => format!(
                    "the champion {version}'s {} is undefined on the window; the candidate \
                     passes the sanity bounds",
                    metric.as_str()
                ),
            }
        }
    };
    let version = registry.add(scratch)?;
    registry.promote(&version)?;
    if let Some(c) = rec.candidate.as_mut() {
        c.registry_version = Some(version.clone());
    }
    Ok((
        Outcome::Promoted,
        format!("promoted {version}: {promote_reason}"),
    ))
}

fn sanity_problem(s: &Sanity, m: &Metrics, positives: usize) -> Option<String> {
    if positives < s.min_window_positives {
        return Some(format!(
            "only {positives} buyers in the held-out window (at least {} needed)",
            s.min_window_positives
        ));
    }
    match m.roc_auc {
        Some(a) if a >= s.min_roc_auc => None,
        Some(a) => Some(format!(
            "candidate ROC-AUC {a:.4} is below the sanity bound {}",
            s.min_roc_auc
        )),
        None => Some("candidate ROC-AUC is undefined".into()),
    }
}

/// Reads every new file of the incoming directory (sorted by name; hidden files ignored),
/// checks all of them, then appends them to the store. A file over the bad-row ratio fails
/// the run before anything of this run is written.
fn ingest(
    cfg: &RetrainConfig,
    store: &mut Store,
) -> std::result::Result<Vec<InputFile>, (Vec<InputFile>, RetrainError)> {
    let mut files = Vec::new();
    let rd = match std::fs::read_dir(&cfg.incoming) {
        Ok(rd) => rd,
        Err(e) => return Err((files, RetrainError::io(&cfg.incoming, e))),
    };
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.'))
        })
        .collect();
    paths.sort();
    let format = match cfg.format.as_deref() {
        None => None,
        Some(n) => match shopsense_events::Format::from_name(n) {
            Some(f) => Some(f),
            None => return Err((files, RetrainError::Config(format!("unknown format {n:?}")))),
        },
    };
    let mut pending: Vec<(usize, EventTable, FileEntry)> = Vec::new();
    let mut failure = None;
    for path in &paths {
        let mut item = InputFile {
            path: path.display().to_string(),
            sha256: String::new(),
            size: 0,
            status: "failed".into(),
            format: None,
            rows: 0,
            rejected: 0,
            message: None,
        };
        let mut entry = match FileEntry::for_file(path, "") {
            Ok(e) => e,
            Err(e) => {
                item.message = Some(e.to_string());
                files.push(item);
                failure.get_or_insert(RetrainError::from(e));
                continue;
            }
        };
        item.sha256 = entry.sha256.clone();
        item.size = entry.size;
        if let Some(prev) = store.is_ingested(&entry.sha256) {
            item.status = "skipped".into();
            item.format = Some(prev.format.clone());
            item.message = Some(format!(
                "already ingested as {} on {} (same sha256)",
                prev.path, prev.ingested_at
            ));
            files.push(item);
            continue;
        }
        if pending.iter().any(|(_, _, e)| e.sha256 == entry.sha256) {
            item.status = "skipped".into();
            item.message = Some("same bytes as another incoming file".into());
            files.push(item);
            continue;
        }
        let source = Source {
            format,
            mapping: None,
        };
        let read = read_file_with(path, &source, &ReadOptions::default());
        let (fmt, out) = match read {
            Ok(r) => r,
            Err(e) => {
                item.message = Some(e.to_string());
                files.push(item);
                failure.get_or_insert(RetrainError::Input {
                    path: path.clone(),
                    message: e.to_string(),
                });
                continue;
            }
        };
        entry.format = fmt.name().to_string();
        entry.rejected = out.rejects.len() as u64;
        entry.rejects_by_reason = shopsense_events::reject::count_by_reason(&out.rejects);
        item.format = Some(entry.format.clone());
        item.rejected = entry.rejected;
        if !out.rejects.is_empty() {
            let q = store.quarantine_path(&entry);
            if let Some(parent) = q.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            let _ = write_quarantine(&q, &out.rejects);
        }
        if let Err(e) = check_bad_ratio(entry.rejected, out.lines, cfg.max_bad_ratio) {
            item.message = Some(e.to_string());
            files.push(item);
            failure.get_or_insert(RetrainError::Input {
                path: path.clone(),
                message: format!(
                    "{e} (rows quarantined in {})",
                    store.quarantine_path(&entry).display()
                ),
            });
            continue;
        }
        if out.table.is_empty() {
            item.message = Some("no events".into());
            files.push(item);
            failure.get_or_insert(RetrainError::Input {
                path: path.clone(),
                message: "no events in the file".into(),
            });
            continue;
        }
        files.push(item);
        pending.push((files.len() - 1, out.table, entry));
    }
    if let Some(e) = failure {
        for (i, _, _) in &pending {
            files[*i].status = "not ingested".into();
            files[*i].message = Some("another incoming file failed".into());
        }
        return Err((files, e));
    }
    for (i, table, entry) in pending {
        match store.append(&table, entry) {
            Ok(written) => {
                files[i].status = "ingested".into();
                files[i].rows = written.rows;
            }
            Err(e) => {
                files[i].message = Some(e.to_string());
                return Err((files, e.into()));
            }
        }
    }
    Ok(files)
}

/// SHA-256 over the sorted SHA-256s of the store's source files (first 16 hex digits).
pub fn fingerprint(store: &Store) -> String {
    let mut shas: Vec<&str> = store
        .manifest()
        .files
        .iter()
        .map(|f| f.sha256.as_str())
        .collect();
    shas.sort_unstable();
    let mut h = Sha256::new();
    for s in shas {
        h.update(s.as_bytes());
        h.update(b"\n");
    }
    let d = h.finalize();
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn data_info(store: &Store, t: &EventTable, s: &Sessions) -> DataInfo {
    let first = t.time_ms.iter().min().map(|&m| format_ms(m));
    let last = t.time_ms.iter().max().map(|&m| format_ms(m));
    DataInfo {
        store_files: store.manifest().files.len(),
        events: t.len(),
        sessions: s.len(),
        first_event: first,
        last_event: last,
    }
}
