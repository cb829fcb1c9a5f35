//! One function per command.

use crate::cli::{
    Cli, Command, DemoArgs, IngestArgs, InputArgs, SessionizeArgs, StatsArgs, SynthArgs,
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
        Command::Demo(a) => demo(a, quiet),
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

fn session_config(input: &InputArgs) -> Result<SessionConfig> {
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
    let t0 = Instant::now();
    let cfg = session_config(&a.input)?;
    let q = PathBuf::from(format!("{}.quarantine.jsonl", a.out.display()));
    let mut loaded = load(&a.input, Columns::CORE, &q, quiet)?;
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

fn demo(a: DemoArgs, quiet: bool) -> Result<()> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    for (name, file) in [
        ("rees46", "rees46/2019-Oct_head.csv"),
        ("taobao", "taobao/UserBehavior_head.csv"),
    ] {
        let path = a.data.join(file);
        let input = InputArgs {
            inputs: vec![path.clone()],
            format: None,
            mapping: None,
            from: None,
            to: None,
            gap_minutes: 30.0,
            force_gap: false,
            max_bad_ratio: 0.05,
            quarantine: None,
            threads: 0,
        };
        let loaded = load(
            &input,
            Columns::ALL,
            &a.out.join(format!("{name}.quarantine.jsonl")),
            quiet,
        )?;
        let cfg = SessionConfig::default();
        let st = compute_stats(&loaded.table, &loaded.rejects, &cfg);
        let mut out = std::io::stdout().lock();
        writeln!(out, "== {name}: {}", path.display())?;
        print_stats(&mut out, &st)?;
        let sessions = Sessions::build(&loaded.table, &cfg);
        let sum = shopsense_sessions::session_summaries(
            &loaded.table,
            &sessions,
            &SummaryOptions::default(),
        );
        let out = a.out.join(format!("{name}-sessions.parquet"));
        shopsense_sessions::write_summaries(&out, &loaded.table, &sessions, &sum)?;
        writeln!(std::io::stdout(), "session table -> {}\n", out.display())?;
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
