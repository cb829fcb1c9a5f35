//! One function per command.

use crate::cli::{
    Cli, Command, EvalArgs, FeaturesArgs, IngestArgs, InputArgs, IntentFeatureArgs, PredictArgs,
    SessionizeArgs, StatsArgs, SynthArgs, TrainCommand, TrainIntentArgs,
};
use crate::progress;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use shopsense_events::formats::Format;
use shopsense_events::read::Columns;
use shopsense_events::reject::{count_by_reason, write_quarantine};
use shopsense_events::time::{format_ms, parse_time_arg};
use shopsense_events::{
    check_bad_ratio, read_file_with, EventTable, ReadOptions, Rejected, Source,
};
use shopsense_sessions::{SessionConfig, SessionTable, Sessions, SummaryOptions};
use shopsense_store::{FileEntry, Store, TimeWindow};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let quiet = cli.quiet;
    match cli.command {
        Command::Ingest(a) => crate::commands::ingest(a, quiet),
        Command::Stats(a) => stats(a, quiet),
        Command::Sessionize(a) => sessionize(a, quiet),
        Command::Synth(a) => synth(a, quiet),
        Command::Demo(a) => crate::cmd_demo::demo(a, quiet),
        Command::Train(t) => match *t {
            TrainCommand::Intent(a) => train_intent(a, quiet),
            TrainCommand::NextAction(a) => crate::cmd_recs::train_next_action(a, quiet),
            TrainCommand::Recs(a) => crate::cmd_recs::train_recs(a, quiet),
        },
        Command::Eval(a) => eval(a, quiet),
        Command::Predict(a) => predict(a, quiet),
        Command::Features(a) => features(a, quiet),
        Command::Stream(a) => crate::cmd_stream::stream(a, quiet),
        Command::Replay(a) => crate::cmd_stream::replay(a, quiet),
        Command::Serve(a) => crate::cmd_serve::serve(a),
        Command::Retrain(a) => crate::cmd_retrain::retrain(a),
        Command::Scheduler(a) => crate::cmd_retrain::scheduler(a),
        Command::Runs(c) => crate::cmd_retrain::runs(c),
        Command::Models(c) => crate::cmd_serve::models(c),
        Command::Recommend(a) => crate::cmd_recs::recommend(a),
        Command::Similar(a) => crate::cmd_recs::similar(a),
        Command::Audience(a) => crate::cmd_recs::audience(a),
    }
}

/// Events loaded from the inputs, with everything that was refused.
pub struct Loaded {
    /// The good events.
    pub table: EventTable,
    /// Rejected rows.
    pub rejects: Vec<Rejected>,
    /// Data lines read.
    #[allow(dead_code)]
    pub lines: u64,
}

fn parse_format(name: Option<&str>, mapping: Option<&Path>) -> Result<Option<Format>> {
    if mapping.is_some() {
        return Ok(Some(Format::Mapped));
    }
    match name {
        None => Ok(None),
        Some(n) => Format::from_name(n)
            .map(Some)
            .with_context(|| format!("unknown format {n:?}")),
    }
}

/// Reads every input into one table, applies the time window, enforces the bad-row ratio
/// and writes the quarantine file when rows were rejected.
pub fn load(
    input: &InputArgs,
    columns: Columns,
    default_quarantine: &Path,
    quiet: bool,
) -> Result<Loaded> {
    let format = parse_format(input.format.as_deref(), input.mapping.as_deref())?;
    let total: u64 = input
        .inputs
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let pb = progress::bytes(total, "reading", quiet);
    let opts = ReadOptions {
        threads: input.threads,
        progress: Some(progress::callback(&pb)),
        columns,
        ..Default::default()
    };
    let mut tables = Vec::with_capacity(input.inputs.len());
    let mut rejects = Vec::new();
    let mut lines = 0;
    let from = input
        .from
        .as_deref()
        .map(|s| parse_time_arg(s).with_context(|| format!("--from: cannot parse time {s:?}")))
        .transpose()?;
    let to = input
        .to
        .as_deref()
        .map(|s| parse_time_arg(s).with_context(|| format!("--to: cannot parse time {s:?}")))
        .transpose()?;
    for path in &input.inputs {
        let part = if path.is_dir() {
            let store = Store::open(path)?;
            store.read_window(TimeWindow::new(from, to))?
        } else {
            let source = Source {
                format,
                mapping: input.mapping.clone(),
            };
            let (_fmt, mut out) = read_file_with(path, &source, &opts)?;
            lines += out.lines;
            rejects.append(&mut out.rejects);
            out.table
        };
        tables.push(part);
    }
    let mut table = EventTable::concat(tables);
    pb.finish_and_clear();
    if from.is_some() || to.is_some() {
        table.retain_time_window(from, to);
    }
    if !rejects.is_empty() {
        let q = input
            .quarantine
            .clone()
            .unwrap_or_else(|| default_quarantine.to_path_buf());
        let _ = std::fs::remove_file(&q);
        write_quarantine(&q, &rejects)
            .with_context(|| format!("writing quarantine {}", q.display()))?;
        eprintln!(
            "{} rows rejected ({}), written to {}",
            rejects.len(),
            reasons_line(&count_by_reason(&rejects)),
            q.display()
        );
    }
    check_bad_ratio(rejects.len() as u64, lines, input.max_bad_ratio)?;
    Ok(Loaded {
        table,
        rejects,
        lines,
    })
}

fn reasons_line(m: &BTreeMap<String, u64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn session_config(input: &InputArgs) -> Result<SessionConfig> {
    if !(input.gap_minutes.is_finite() && input.gap_minutes > 0.0) {
        bail!(
            "--gap-minutes must be a positive number, got {}",
            input.gap_minutes
        );
    }
    Ok(SessionConfig {
        gap_ms: (input.gap_minutes * 60_000.0).round() as i64,
        force_gap: input.force_gap,
    })
}

/// The numbers `stats` prints.
#[derive(Debug, Serialize)]
pub struct Stats {
    /// Events kept.
    pub events: usize,
    /// Sessions.
    pub sessions: usize,
    /// Distinct users.
    pub users: usize,
    /// Distinct items.
    pub items: usize,
    /// Distinct categories.
    pub categories: usize,
    /// Distinct non-empty brands.
    pub brands: usize,
    /// Events per kind.
    pub kinds: BTreeMap<String, u64>,
    /// Sessions with a purchase.
    pub purchase_sessions: usize,
    /// Sessions with an add-to-cart.
    pub cart_sessions: usize,
    /// First event time.
    pub first_event: Option<String>,
    /// Last event time.
    pub last_event: Option<String>,
    /// Rejected rows (see the quarantine file).
    pub quarantined: usize,
    /// Rejected rows by reason.
    pub quarantined_by_reason: BTreeMap<String, u64>,
    /// Exact duplicate rows (kept; counted).
    pub duplicates: usize,
    /// Whether sessions came from the source's ids (`native`) or the inactivity gap (`gap`).
    pub session_source: &'static str,
}

/// Computes [`Stats`].
pub fn compute_stats(t: &EventTable, rejects: &[Rejected], cfg: &SessionConfig) -> Stats {
    let sessions = Sessions::build(t, cfg);
    let table = SessionTable::build(t, &sessions);
    let mut kinds = BTreeMap::new();
    let mut per_code = vec![0u64; 256];
    for &k in &t.kind {
        per_code[k as usize] += 1;
    }
    for (code, &n) in per_code.iter().enumerate() {
        if n > 0 {
            kinds.insert(t.kind_name(code as u8).to_string(), n);
        }
    }
    // Only categories and brands that appear on kept rows count (a time window may drop some).
    let distinct = |col: &[u32], n: usize| {
        let mut seen = vec![false; n];
        for &v in col {
            if v != shopsense_events::NONE {
                seen[v as usize] = true;
            }
        }
        seen.iter().filter(|&&b| b).count()
    };
    Stats {
        events: t.len(),
        sessions: sessions.len(),
        users: distinct(&t.user, t.users.len()),
        items: distinct(&t.item, t.items.len()),
        categories: distinct(&t.category, t.categories.len()),
        brands: distinct(&t.brand, t.brands.len()),
        kinds,
        purchase_sessions: table.purchase_sessions(),
        cart_sessions: table.cart_sessions(),
        first_event: t.time_ms.iter().min().map(|&m| format_ms(m)),
        last_event: t.time_ms.iter().max().map(|&m| format_ms(m)),
        quarantined: rejects.len(),
        quarantined_by_reason: count_by_reason(rejects),
        duplicates: t.duplicate_rows().len(),
        session_source: if !cfg.force_gap && t.has_native_sessions() {
            "native"
        } else {
            "gap"
        },
    }
}

fn stats(a: StatsArgs, quiet: bool) -> Result<()> {
    let cfg = session_config(&a.input)?;
    let q = default_quarantine_for(&a.input.inputs[0]);
    let loaded = load(&a.input, Columns::ALL, &q, quiet)?;
    let s = compute_stats(&loaded.table, &loaded.rejects, &cfg);
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&s)?)?;
    } else {
        print_stats(&mut out, &s)?;
    }
    Ok(())
}

fn print_stats(out: &mut impl Write, s: &Stats) -> std::io::Result<()> {
    writeln!(out, "events              {:>12}", s.events)?;
    writeln!(
        out,
        "sessions            {:>12}  ({})",
        s.sessions, s.session_source
    )?;
    writeln!(out, "users               {:>12}", s.users)?;
    writeln!(out, "items               {:>12}", s.items)?;
    writeln!(out, "categories          {:>12}", s.categories)?;
    writeln!(out, "brands              {:>12}", s.brands)?;
    for (k, v) in &s.kinds {
        writeln!(out, "  {k:<18}{v:>12}")?;
    }
    writeln!(out, "purchase sessions   {:>12}", s.purchase_sessions)?;
    writeln!(out, "cart sessions       {:>12}", s.cart_sessions)?;
    writeln!(
        out,
        "time                {} .. {}",
        s.first_event.as_deref().unwrap_or("-"),
        s.last_event.as_deref().unwrap_or("-")
    )?;
    writeln!(out, "duplicates          {:>12}", s.duplicates)?;
    writeln!(out, "quarantined         {:>12}", s.quarantined)?;
    Ok(())
}

fn default_quarantine_for(p: &Path) -> PathBuf {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "input".into());
    PathBuf::from(format!("{name}.quarantine.jsonl"))
}

fn sessionize(a: SessionizeArgs, quiet: bool) -> Result<()> {
    if a.engine.trim() != "local" {
        return crate::cmd_cluster::sessionize_on_engine(a, quiet);
    }
    let t0 = Instant::now();
    let cfg = session_config(&a.input)?;
    let q = PathBuf::from(format!("{}.quarantine.jsonl", a.out.display()));
    let mut loaded = load(&a.input, Columns::SESSION_EXPORT, &q, quiet)?;
    loaded.table.drop_lookup_indexes();
    let t_read = t0.elapsed();
    tracing::debug!("read in {:.3} s, peak {}", t_read.as_secs_f64(), peak_rss());
    let sp = progress::spinner("sessions", quiet);
    let t1 = Instant::now();
    let sessions = Sessions::build(&loaded.table, &cfg);
    tracing::debug!(
        "sessions built in {:.3} s, peak {}",
        t1.elapsed().as_secs_f64(),
        peak_rss()
    );
    let t1 = Instant::now();
    let sum = shopsense_sessions::session_summaries(
        &loaded.table,
        &sessions,
        &SummaryOptions {
            cut_at_first_purchase: !a.no_cut,
        },
    );
    tracing::debug!(
        "summaries in {:.3} s, peak {}",
        t1.elapsed().as_secs_f64(),
        peak_rss()
    );
    sp.set_message("writing");
    let t1 = Instant::now();
    shopsense_sessions::write_summaries(&a.out, &loaded.table, &sessions, &sum)?;
    tracing::debug!(
        "written in {:.3} s, peak {}",
        t1.elapsed().as_secs_f64(),
        peak_rss()
    );
    sp.finish_and_clear();
    let buyers = sum.label.iter().filter(|&&l| l).count();
    eprintln!(
        "{} events -> {} sessions ({} with a purchase) -> {} in {:.2} s (read {:.2} s)",
        loaded.table.len(),
        sum.len(),
        buyers,
        a.out.display(),
        t0.elapsed().as_secs_f64(),
        t_read.as_secs_f64()
    );
    Ok(())
}

fn synth(a: SynthArgs, quiet: bool) -> Result<()> {
    let input = InputArgs {
        inputs: vec![a.sample.clone()],
        format: a.format.clone(),
        mapping: None,
        from: None,
        to: None,
        gap_minutes: 30.0,
        force_gap: false,
        max_bad_ratio: 1.0,
        quarantine: None,
        threads: 0,
    };
    let q = PathBuf::from(format!("{}.quarantine.jsonl", a.out.display()));
    let loaded = load(&input, Columns::ALL, &q, quiet)?;
    let sessions = Sessions::build(&loaded.table, &SessionConfig::default());
    if sessions.is_empty() {
        bail!("{}: no sessions to copy", a.sample.display());
    }
    let f =
        std::fs::File::create(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let w = std::io::BufWriter::with_capacity(1 << 20, f);
    let pb = progress::count(a.events, "synth", "events", quiet);
    let opts = shopsense_sessions::synth::SynthOptions {
        events: a.events,
        days: a.days,
        seed: a.seed,
        ..Default::default()
    };
    let s =
        shopsense_sessions::synth::synth_rees46(&loaded.table, &sessions, &opts, w, |n| pb.inc(n))
            .with_context(|| format!("writing {}", a.out.display()))?;
    pb.finish_and_clear();
    eprintln!(
        "wrote {} events in {} sessions to {}",
        s.events,
        s.sessions,
        a.out.display()
    );
    Ok(())
}

/// What `ingest` did with one file.
#[derive(Debug, Serialize)]
struct IngestedFile {
    file: String,
    status: &'static str,
    format: Option<String>,
    rows: u64,
    rejected: u64,
    rejects_by_reason: BTreeMap<String, u64>,
    duplicates: u64,
    quarantine: Option<String>,
    message: Option<String>,
}

fn ingest(a: IngestArgs, quiet: bool) -> Result<()> {
    let format = parse_format(a.format.as_deref(), a.mapping.as_deref())?;
    let mut store = Store::open_or_create(&a.store)?;
    let mut report = Vec::new();
    let mut failed = 0;
    for path in &a.files {
        let sp = progress::spinner("hashing", quiet);
        let mut entry = FileEntry::for_file(path, "")?;
        sp.finish_and_clear();
        if let Some(prev) = store.is_ingested(&entry.sha256) {
            report.push(IngestedFile {
                file: path.display().to_string(),
                status: "skipped",
                format: Some(prev.format.clone()),
                rows: 0,
                rejected: 0,
                rejects_by_reason: BTreeMap::new(),
                duplicates: 0,
                quarantine: None,
                message: Some(format!(
                    "already ingested as {} on {} (same sha256)",
                    prev.path, prev.ingested_at
                )),
            });
            continue;
        }
        let pb = progress::bytes(entry.size, "reading", quiet);
        let opts = ReadOptions {
            progress: Some(progress::callback(&pb)),
            ..Default::default()
        };
        let source = Source {
            format,
            mapping: a.mapping.clone(),
        };
        let (fmt, mut out) = read_file_with(path, &source, &opts)?;
        pb.finish_and_clear();
        let dups = out.table.duplicate_rows();
        entry.format = fmt.name().to_string();
        entry.rejected = out.rejects.len() as u64;
        entry.rejects_by_reason = count_by_reason(&out.rejects);
        entry.duplicates = dups.len() as u64;
        let q = store.quarantine_path(&entry);
        if !out.rejects.is_empty() {
            let _ = std::fs::remove_file(&q);
            write_quarantine(&q, &out.rejects)
                .with_context(|| format!("writing quarantine {}", q.display()))?;
        }
        let mut item = IngestedFile {
            file: path.display().to_string(),
            status: "ingested",
            format: Some(entry.format.clone()),
            rows: 0,
            rejected: entry.rejected,
            rejects_by_reason: entry.rejects_by_reason.clone(),
            duplicates: entry.duplicates,
            quarantine: (!out.rejects.is_empty()).then(|| q.display().to_string()),
            message: None,
        };
        if let Err(e) = check_bad_ratio(entry.rejected, out.lines, a.max_bad_ratio) {
            failed += 1;
            item.status = "failed";
            item.message = Some(format!("{}: {e}", path.display()));
            report.push(item);
            continue;
        }
        if a.drop_duplicates && !dups.is_empty() {
            let mut drop = vec![false; out.table.len()];
            for &d in &dups {
                drop[d] = true;
            }
            out.table.retain_rows(|i| !drop[i]);
        }
        let sp = progress::spinner("writing", quiet);
        let written = store.append(&out.table, entry)?;
        sp.finish_and_clear();
        item.rows = written.rows;
        report.push(item);
    }
    let mut w = std::io::stdout().lock();
    if a.json {
        writeln!(w, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        for r in &report {
            writeln!(
                w,
                "{:<9} {}  rows {}  rejected {}  duplicates {}{}{}",
                r.status,
                r.file,
                r.rows,
                r.rejected,
                r.duplicates,
                r.quarantine
                    .as_deref()
                    .map(|q| format!("  quarantine {q}"))
                    .unwrap_or_default(),
                r.message
                    .as_deref()
                    .map(|m| format!("  ({m})"))
                    .unwrap_or_default(),
            )?;
        }
        let m = store.manifest();
        writeln!(
            w,
            "store {}: {} files, {} rows, days {}",
            a.store.display(),
            m.files.len(),
            m.rows(),
            m.days().len()
        )?;
    }
    if failed > 0 {
        bail!(
            "{failed} file(s) over --max-bad-ratio {} were not ingested; see the quarantine files",
            a.max_bad_ratio
        );
    }
    Ok(())
}

/// Peak resident memory so far (Linux `VmHWM`), for debug logs.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The intent pipeline's progress as spinners (steps) and count bars with rate.
struct Bars {
    quiet: bool,
    current: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl Bars {
    fn new(quiet: bool) -> Self {
        Bars {
            quiet,
            current: std::sync::Mutex::new(None),
        }
    }

    fn replace(&self, pb: indicatif::ProgressBar) {
        if let Ok(mut cur) = self.current.lock() {
            if let Some(old) = cur.replace(pb) {
                old.finish_and_clear();
            }
        }
    }
}

impl shopsense_intent::Progress for Bars {
    fn step(&self, name: &str) {
        self.replace(progress::spinner(name, self.quiet));
    }
    fn bar(&self, name: &str, total: u64, unit: &str) {
        self.replace(progress::count(total, name, unit, self.quiet));
    }
    fn inc(&self, n: u64) {
        if let Ok(cur) = self.current.lock() {
            if let Some(pb) = cur.as_ref() {
                pb.inc(n);
            }
        }
    }
    fn done(&self) {
        if let Ok(mut cur) = self.current.lock() {
            if let Some(pb) = cur.take() {
                pb.finish_and_clear();
            }
        }
    }
}

/// The columns the intent features read (category and brand priors, no paths or orders).
const INTENT_COLUMNS: Columns = Columns {
    category: true,
    category_path: false,
    brand: true,
    order: false,
    numeric_users: false,
};

/// Events and sessions of the inputs, for the intent commands.
fn load_sessions(
    input: &InputArgs,
    out_hint: &Path,
    quiet: bool,
) -> Result<(EventTable, Sessions, SessionConfig)> {
    let cfg = session_config(input)?;
    let q = PathBuf::from(format!("{}.quarantine.jsonl", out_hint.display()));
    let loaded = load(input, INTENT_COLUMNS, &q, quiet)?;
    let sp = progress::spinner("sessions", quiet);
    let sessions = Sessions::build(&loaded.table, &cfg);
    sp.finish_and_clear();
    if sessions.is_empty() {
        bail!("no events in the inputs (after the --from/--to window)");
    }
    Ok((loaded.table, sessions, cfg))
}

fn intent_config(
    f: &IntentFeatureArgs,
    input: &InputArgs,
) -> Result<shopsense_intent::TrainConfig> {
    let split = match f.split.as_slice() {
        &[a, b, c] => (a, b, c),
        _ => bail!("--split needs three fractions: TRAIN,VALID,TEST"),
    };
    Ok(shopsense_intent::TrainConfig {
        protocol: f.protocol,
        model: f.model.parse()?,
        blend: f
            .blend
            .iter()
            .map(|m| m.parse())
            .collect::<std::result::Result<_, _>>()?,
        features: f.features.clone(),
        utc_offset_minutes: f.utc_offset_minutes,
        split,
        sessions: shopsense_intent::SessionSettings {
            gap_minutes: input.gap_minutes,
            force_gap: input.force_gap,
        },
        ..Default::default()
    })
}

fn patch_json<T: Serialize + serde::de::DeserializeOwned>(base: &T, patch: &str) -> Result<T> {
    let mut v = serde_json::to_value(base)?;
    let p: serde_json::Value =
        serde_json::from_str(patch).context("--gbdt-params is not valid JSON")?;
    let (Some(b), Some(p)) = (v.as_object_mut(), p.as_object()) else {
        bail!("--gbdt-params must be a JSON object, e.g. '{{\"num_leaves\":31}}'");
    };
    for (k, val) in p {
        if !b.contains_key(k) {
            bail!(
                "--gbdt-params: unknown parameter {k:?} (known: {})",
                b.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        b.insert(k.clone(), val.clone());
    }
    serde_json::from_value(v).context("--gbdt-params: a value has the wrong type")
}

fn threads(input: &InputArgs) -> usize {
    if input.threads > 0 {
        input.threads
    } else {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }
}

fn write_report(report: &shopsense_intent::Report, path: &Path) -> Result<()> {
    let json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if json {
        report.write_json(path)
    } else {
        report.write_html(path)
    }
    .with_context(|| format!("writing report {}", path.display()))
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.4}"))
}

fn fmt_ci(s: &shopsense_intent::EvalSummary, key: &str) -> String {
    s.intervals
        .get(key)
        .map(|iv| format!(" [{:.4}, {:.4}]", iv.lo, iv.hi))
        .unwrap_or_default()
}

fn print_eval(out: &mut impl Write, label: &str, s: &shopsense_intent::EvalSummary) -> Result<()> {
    let m = &s.metrics;
    writeln!(
        out,
        "{label:<11} {} prefixes, {} buyers ({} .. {})",
        m.n, m.positives, s.period.0, s.period.1
    )?;
    writeln!(
        out,
        "            ROC-AUC {}{}  PR-AUC {}{}  log-loss {:.4}  Brier {:.4}",
        fmt_opt(m.roc_auc),
        fmt_ci(s, "roc_auc"),
        fmt_opt(m.pr_auc),
        fmt_ci(s, "pr_auc"),
        m.log_loss,
        m.brier
    )?;
    writeln!(
        out,
        "            at threshold {:.4}: precision {:.4} recall {:.4} F1 {:.4}  (tp {} fp {} fn {} tn {})",
        m.threshold, m.precision, m.recall, m.f1, m.confusion.tp, m.confusion.fp, m.confusion.fn_,
        m.confusion.tn
    )?;
    if !s.per_period.is_empty() {
        writeln!(out, "per {}:", s.period_unit)?;
        for p in &s.per_period {
            writeln!(
                out,
                "  {:<14} n {:>7}  buyers {:>6}  ROC-AUC {}  PR-AUC {}  F1 {:.4}",
                p.period,
                p.n,
                p.positives,
                fmt_opt(p.roc_auc),
                fmt_opt(p.pr_auc),
                p.f1
            )?;
        }
    }
    if !s.top_features.is_empty() {
        let top: Vec<String> = s
            .top_features
            .iter()
            .take(8)
            .map(|f| format!("{} {:.0}%", f.feature, f.share * 100.0))
            .collect();
        writeln!(out, "top features: {}", top.join(", "))?;
    }
    Ok(())
}

fn train_intent(a: TrainIntentArgs, quiet: bool) -> Result<()> {
    let t0 = Instant::now();
    let mut cfg = intent_config(&a.features, &a.input)?;
    cfg.seed = a.seed;
    cfg.search_trials = a.search_trials;
    cfg.search_metric = match a.search_metric.as_str() {
        "roc-auc" => shopsense_intent::ValidationMetric::Auc,
        "log-loss" => shopsense_intent::ValidationMetric::LogLoss,
        _ => shopsense_intent::ValidationMetric::AveragePrecision,
    };
    cfg.cv_folds = a.cv_folds;
    cfg.imbalance = a.imbalance.parse()?;
    cfg.calibration = a.calibration.parse()?;
    cfg.threshold = match a.cost_ratio {
        Some(ratio) => shopsense_intent::ThresholdRule::CostRatio { ratio },
        None => shopsense_intent::ThresholdRule::MaxF1,
    };
    cfg.threads = threads(&a.input);
    cfg.bootstrap_resamples = a.bootstrap;
    cfg.refit = a.refit;
    if let Some(p) = &a.gbdt_params {
        cfg.gbdt = patch_json(&cfg.gbdt, p)?;
        cfg.large_data_rows = None;
    }
    let ck_dir = a
        .checkpoint_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.ckpt", a.out.display())));
    cfg.checkpoint = Some(shopsense_intent::CheckpointConfig {
        dir: ck_dir.clone(),
        resume: a.resume,
        stop_after_trials: a.stop_after_trials,
        stop_after_chunks: a.stop_after_chunks,
    });
    cfg.validate()?;
    if a.resume && !ck_dir.exists() {
        eprintln!(
            "--resume: no checkpoints in {} yet, starting from the beginning",
            ck_dir.display()
        );
    }

    let (t, sessions, _) = load_sessions(&a.input, &a.out, quiet)?;
    let t_read = t0.elapsed().as_secs_f64();
    let bars = Bars::new(quiet);
    let t1 = Instant::now();
    let spec = cfg.feature_spec()?;
    let prep = shopsense_intent::prepare(&t, &sessions, &spec, &bars)?;
    let t_prep = t1.elapsed().as_secs_f64();
    if let Some(path) = &a.export_features {
        let sp = progress::spinner("writing features", quiet);
        let n = shopsense_intent::write_features(path, &prep)?;
        sp.finish_and_clear();
        eprintln!("{n} feature rows -> {}", path.display());
    }
    let mut outcome = shopsense_intent::fit(&t, &sessions, &cfg, prep, &bars)?;
    outcome.summary.seconds.insert("read".into(), t_read);
    outcome.summary.seconds.insert("prepare".into(), t_prep);
    let sp = progress::spinner("writing bundle", quiet);
    outcome
        .bundle
        .save(&a.out)
        .with_context(|| format!("writing bundle {}", a.out.display()))?;
    if let Some(r) = &a.report {
        write_report(&outcome.report, r)?;
    }
    sp.finish_and_clear();
    if a.checkpoint_dir.is_none() {
        // The default checkpoint directory has served its purpose.
        let _ = std::fs::remove_dir_all(&ck_dir);
    }
    outcome.summary.test.bundle = a.out.display().to_string();
    outcome
        .summary
        .seconds
        .insert("total".into(), t0.elapsed().as_secs_f64());
    let s = &outcome.summary;
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(s)?)?;
        return Ok(());
    }
    let sp_ = &s.split;
    writeln!(
        out,
        "train intent: {} · {} · {} features · {} events, {} sessions",
        s.model,
        s.protocol,
        s.n_features,
        t.len(),
        sessions.len()
    )?;
    writeln!(
        out,
        "split       train {} ({} buyers) | validation {} ({}) | test {} ({}) from {}",
        sp_.train_rows,
        sp_.train_positives,
        sp_.valid_rows,
        sp_.valid_positives,
        sp_.test_rows,
        sp_.test_positives,
        format_ms(sp_.test_start_ms)
    )?;
    if let Some(au) = &s.auto {
        let c: Vec<String> = au
            .candidates
            .iter()
            .map(|c| {
                let (pr, roc) = c.selection_score();
                format!(
                    "{} {}/{} (validation {}/{}, {} folds; {:.1} s)",
                    c.model,
                    fmt_opt(Some(pr).filter(|x| x.is_finite())),
                    fmt_opt(Some(roc).filter(|x| x.is_finite())),
                    fmt_opt(c.validation.pr_auc),
                    fmt_opt(c.validation.roc_auc),
                    c.folds.len(),
                    c.seconds
                )
            })
            .collect();
        writeln!(
            out,
            "auto        chose {} by mean PR-AUC/ROC-AUC over folds + validation: {}",
            au.chosen,
            c.join(", ")
        )?;
    }
    if let Some(se) = &s.search {
        writeln!(
            out,
            "search      {} trials × {} folds: best trial {} {:?} {:.4} (defaults {})",
            se.trials,
            se.folds,
            se.best_trial,
            se.metric,
            se.best_score,
            fmt_opt(se.base_score)
        )?;
    }
    writeln!(
        out,
        "model       {}{}; calibration {}; threshold {:.4} ({} on validation)",
        outcome.bundle.model_name,
        if cfg.refit {
            " (refitted on training + validation)"
        } else {
            ""
        },
        format!("{:?}", outcome.bundle.calibrator.method()).to_lowercase(),
        s.threshold.threshold,
        cfg.threshold
    )?;
    writeln!(
        out,
        "validation  ROC-AUC {}  PR-AUC {}  F1 {:.4}",
        fmt_opt(s.validation.roc_auc),
        fmt_opt(s.validation.pr_auc),
        s.validation.f1
    )?;
    print_eval(&mut out, "test", &s.test)?;
    writeln!(out, "bundle      {} ({})", a.out.display(), s.model_version)?;
    if let Some(r) = &a.report {
        writeln!(out, "report      {}", r.display())?;
    }
    writeln!(
        out,
        "time        {}",
        s.seconds
            .iter()
            .map(|(k, v)| format!("{k} {v:.2} s"))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    Ok(())
}

/// Loads a bundle and checks the session rules and protocol against it.
fn load_bundle(
    path: &Path,
    protocol: Option<shopsense_intent::Protocol>,
    input: &InputArgs,
) -> Result<shopsense_intent::IntentModel> {
    let model = shopsense_intent::IntentModel::load(path)?;
    if let Some(p) = protocol {
        model.check_protocol(p)?;
    }
    let s = model.params.sessions;
    if s.gap_minutes != input.gap_minutes || s.force_gap != input.force_gap {
        eprintln!(
            "warning: the bundle was trained on sessions with --gap-minutes {}{}; these use {}{}",
            s.gap_minutes,
            if s.force_gap { " --force-gap" } else { "" },
            input.gap_minutes,
            if input.force_gap { " --force-gap" } else { "" },
        );
    }
    Ok(model)
}

fn eval(a: EvalArgs, quiet: bool) -> Result<()> {
    let model = load_bundle(&a.bundle, a.protocol, &a.input)?;
    let (t, sessions, _) = load_sessions(&a.input, &a.bundle, quiet)?;
    let which = if a.all {
        shopsense_intent::EvalRows::All
    } else {
        shopsense_intent::EvalRows::Test
    };
    let bars = Bars::new(quiet);
    let outcome = shopsense_intent::evaluate(&model, &t, &sessions, which, a.bootstrap, &bars)?;
    if let Some(r) = &a.report {
        write_report(&outcome.report, r)?;
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&outcome.summary)?)?;
    } else {
        writeln!(
            out,
            "eval: {} ({}) · {} · {} rows",
            a.bundle.display(),
            outcome.summary.model_version,
            outcome.summary.protocol,
            outcome.summary.rows
        )?;
        print_eval(&mut out, outcome.summary.rows.as_str(), &outcome.summary)?;
    }
    Ok(())
}

fn predict(a: PredictArgs, quiet: bool) -> Result<()> {
    let t0 = Instant::now();
    let model = load_bundle(&a.bundle, a.protocol, &a.input)?;
    let (t, sessions, _) = load_sessions(&a.input, &a.out, quiet)?;
    let t_read = t0.elapsed().as_secs_f64();
    let bars = Bars::new(quiet);
    let t1 = Instant::now();
    let scored = shopsense_intent::score_all(&model, &t, &sessions, &bars)?;
    let t_score = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let sp = progress::spinner("writing", quiet);
    shopsense_intent::write_scores(
        &a.out,
        &t,
        &sessions,
        &scored.prefixes,
        &scored.probs,
        model.threshold(),
        model.version(),
    )?;
    sp.finish_and_clear();
    let t_write = t2.elapsed().as_secs_f64();
    let flagged = scored
        .probs
        .iter()
        .filter(|&&p| p >= model.threshold())
        .count();
    let st = scored.times;
    let n = scored.prefixes.len();
    if a.json {
        let v = serde_json::json!({
            "events": t.len(),
            "sessions": sessions.len(),
            "prefixes": n,
            "protocol": model.spec.protocol.to_string(),
            "model_version": model.version(),
            "threshold": model.threshold(),
            "flagged": flagged,
            "out": a.out.display().to_string(),
            "seconds": {
                "read": t_read,
                "score": t_score,
                "priors_and_histories": st.prepare_s,
                "features": st.features_s,
                "model": st.model_s,
                "write": t_write,
                "total": t0.elapsed().as_secs_f64(),
            },
            "prefixes_per_second": {
                "score": n as f64 / t_score.max(1e-9),
                "features_and_model": n as f64 / (st.features_s + st.model_s).max(1e-9),
                "model": n as f64 / st.model_s.max(1e-9),
            },
        });
        writeln!(
            std::io::stdout().lock(),
            "{}",
            serde_json::to_string_pretty(&v)?
        )?;
        return Ok(());
    }
    eprintln!(
        "{} events -> {} sessions -> {} prefixes ({}) scored in {:.2} s ({:.0} prefixes/s: \
         priors and histories {:.2} s, features {:.2} s, model {:.2} s = {:.0} prefixes/s); \
         read {:.2} s; {} flagged at {:.4} -> {}; total {:.2} s",
        t.len(),
        sessions.len(),
        n,
        model.spec.protocol,
        t_score,
        n as f64 / t_score.max(1e-9),
        st.prepare_s,
        st.features_s,
        st.model_s,
        n as f64 / st.model_s.max(1e-9),
        t_read,
        flagged,
        model.threshold(),
        a.out.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn features(a: FeaturesArgs, quiet: bool) -> Result<()> {
    let cfg = intent_config(&a.features, &a.input)?;
    let spec = cfg.feature_spec()?;
    if a.engine.trim() != "local" {
        return crate::cmd_cluster::features_on_engine(&a, &spec, quiet);
    }
    let (t, sessions, _) = load_sessions(&a.input, &a.out, quiet)?;
    let bars = Bars::new(quiet);
    let prep = shopsense_intent::prepare(&t, &sessions, &spec, &bars)?;
    let sp = progress::spinner("writing", quiet);
    let n = shopsense_intent::write_features(&a.out, &prep)?;
    sp.finish_and_clear();
    eprintln!(
        "{n} prefixes ({} train, {} validation, {} test) × {} features -> {}",
        prep.train.n_rows,
        prep.valid.n_rows,
        prep.test.n_rows,
        spec.features.len(),
        a.out.display()
    );
    Ok(())
}
