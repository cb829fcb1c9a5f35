//! The recommendation commands: `train next-action`, `train recs`, `recommend`, `similar`,
//! `audience`. Argument types live here so that cli.rs only names them.

use crate::cli::InputArgs;
use crate::progress;
use anyhow::{bail, Context, Result};
use clap::Args;
use shopsense_events::read::Columns;
use shopsense_events::{read_file, ReadOptions};
use shopsense_recs::next_action::{Family, Rebalance};
use shopsense_recs::{
    evaluate, export_split, NextActionModel, NextActionParams, RecsModel, RecsParams, SessionEvent,
};
use shopsense_sessions::{SessionConfig, Sessions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

const COLUMNS: Columns = Columns {
    category: true,
    category_path: false,
    brand: true,
    order: false,
    numeric_users: false,
};

/// `train recs`.
#[derive(Debug, Args)]
pub struct TrainRecsArgs {
    /// Inputs and session rules.
    #[command(flatten)]
    pub input: InputArgs,
    /// The bundle to write (one JSON file).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Share of sessions (latest by start) held out for the offline evaluation.
    #[arg(long, default_value_t = 0.25)]
    pub test_fraction: f64,
    /// Evaluation queries per task at most (sampled, seeded).
    #[arg(long, default_value_t = 20_000)]
    pub eval_queries: usize,
    /// Skip the offline evaluation (training only).
    #[arg(long)]
    pub no_eval: bool,
    /// Write the evaluation: HTML (plots), or JSON when the name ends in .json.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write the split (train.csv, queries.csv) to this directory for outside libraries.
    #[arg(long)]
    pub export_split: Option<PathBuf>,
    /// Embedding dimension.
    #[arg(long, default_value_t = 32)]
    pub dim: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// `train next-action`.
#[derive(Debug, Args)]
pub struct TrainNextActionArgs {
    /// Inputs and session rules.
    #[command(flatten)]
    pub input: InputArgs,
    /// The bundle to write (one JSON file).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Class imbalance: none, weights (n / (K·n_c)) or undersample (each class at most 3×
    /// the smallest).
    #[arg(long, default_value = "weights", value_parser = ["none", "weights", "undersample"])]
    pub imbalance: String,
    /// Learner: gbdt (LightGBM multiclass), forest (one-vs-rest seed-style forests), blend
    /// (the mean of both), or auto (the best validation macro-F1 of the three).
    #[arg(long, default_value = "auto", value_parser = ["auto", "gbdt", "forest", "blend"])]
    pub family: String,
    /// Also write the test report: HTML (tables and plots), or JSON when the name ends in
    /// .json.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// `recommend`.
#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// The recs bundle (from `train recs`).
    pub bundle: PathBuf,
    /// The user.
    #[arg(long)]
    pub user: String,
    /// The user's live session: an events file (any supported format); only this user's
    /// events are used, in time order.
    #[arg(long)]
    pub session_events: Option<PathBuf>,
    /// Items to return.
    #[arg(short, long, default_value_t = 20)]
    pub k: usize,
    /// Keep items the user already bought.
    #[arg(long)]
    pub include_bought: bool,
    /// Instead of printing, time this many recommendation lists (bundle users in turn)
    /// and print the latency distribution.
    #[arg(long)]
    pub bench: Option<usize>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `similar` and `audience`.
#[derive(Debug, Args)]
pub struct ItemArgs {
    /// The recs bundle (from `train recs`).
    pub bundle: PathBuf,
    /// The item.
    #[arg(long)]
    pub item: String,
    /// How many to return.
    #[arg(short, long, default_value_t = 20)]
    pub k: usize,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

fn load_sessions(
    input: &InputArgs,
    out: &Path,
    quiet: bool,
) -> Result<(shopsense_events::EventTable, Sessions)> {
    if !(input.gap_minutes.is_finite() && input.gap_minutes > 0.0) {
        bail!(
            "--gap-minutes must be a positive number, got {}",
            input.gap_minutes
        );
    }
    let cfg = SessionConfig {
        gap_ms: (input.gap_minutes * 60_000.0).round() as i64,
        force_gap: input.force_gap,
    };
    let q = PathBuf::from(format!("{}.quarantine.jsonl", out.display()));
    let loaded = crate::commands::load(input, COLUMNS, &q, quiet)?;
    let sp = progress::spinner("sessions", quiet);
    let s = Sessions::build(&loaded.table, &cfg);
    sp.finish_and_clear();
    if s.is_empty() {
        bail!("no events in the inputs (after the --from/--to window)");
    }
    Ok((loaded.table, s))
}

fn load_recs(path: &Path) -> Result<RecsModel> {
    RecsModel::load(path).with_context(|| format!("loading recs bundle {}", path.display()))
}

/// `train recs`.
pub fn train_recs(a: TrainRecsArgs, quiet: bool) -> Result<()> {
    let t0 = Instant::now();
    let (t, s) = load_sessions(&a.input, &a.out, quiet)?;
    let load_s = t0.elapsed().as_secs_f64();
    let mut p = RecsParams::default();
    p.stats.dim = a.dim;
    p.seed = a.seed;
    p.stats.seed = a.seed;
    let sp = progress::spinner("training recs", quiet);
    let t1 = Instant::now();
    let (m, split) = RecsModel::train_split(&t, &s, a.test_fraction, &p)?;
    let train_s = t1.elapsed().as_secs_f64();
    sp.finish_and_clear();
    m.save(&a.out)?;
    let total_train_s = t0.elapsed().as_secs_f64();
    let eval = if a.no_eval {
        None
    } else {
        let sp = progress::spinner("evaluating", quiet);
        let e = evaluate(&m, &t, &s, &split.test, a.eval_queries, a.seed)?;
        sp.finish_and_clear();
        Some(e)
    };
    if let Some(dir) = &a.export_split {
        export_split(
            dir,
            &t,
            &s,
            &split.train,
            &split.test,
            &m,
            a.eval_queries,
            a.seed,
        )?;
    }
    let summary = serde_json::json!({
        "bundle": a.out,
        "events": t.len(),
        "sessions": s.len(),
        "train_sessions": split.train.len(),
        "test_sessions": split.test.len(),
        "cutoff": shopsense_events::time::format_ms(split.cutoff_ms),
        "model": m.info,
        "seconds_load": load_s,
        "seconds_train": train_s,
        "seconds_load_train_save": total_train_s,
        "evaluation": eval,
    });
    if let (Some(r), Some(e)) = (&a.report, &eval) {
        let text = if r.extension().is_some_and(|x| x == "json") {
            serde_json::to_string_pretty(&summary)?
        } else {
            shopsense_recs::eval::html(
                e,
                "shopsense recommendations — offline evaluation",
                &format!(
                    "<pre>{}</pre>",
                    shopsense_eval::html::escape(&serde_json::to_string_pretty(&m.info)?)
                ),
            )
        };
        std::fs::write(r, text).with_context(|| format!("writing {}", r.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "recs bundle {}: {} events, {} sessions ({} train / {} test, cutoff {}), {} items, {} users; load {:.2}s, train {:.2}s",
        a.out.display(),
        t.len(),
        s.len(),
        split.train.len(),
        split.test.len(),
        shopsense_events::time::format_ms(split.cutoff_ms),
        m.stats.items.len(),
        m.stats.users.len(),
        load_s,
        train_s
    )?;
    if let Some(e) = &eval {
        for task in &e.tasks {
            writeln!(out, "{} ({} queries):", task.task, task.total_queries)?;
            for r in &task.methods {
                writeln!(
                    out,
                    "  {:<11} HR@10 {:.4} HR@20 {:.4} MRR@20 {:.4} NDCG@10 {:.4} NDCG@20 {:.4} coverage@20 {:.4}",
                    r.method, r.hr10, r.hr20, r.mrr20, r.ndcg10, r.ndcg20, r.coverage20
                )?;
            }
        }
    }
    Ok(())
}

/// `train next-action`.
pub fn train_next_action(a: TrainNextActionArgs, quiet: bool) -> Result<()> {
    let (t, s) = load_sessions(&a.input, &a.out, quiet)?;
    let p = NextActionParams {
        rebalance: a.imbalance.parse::<Rebalance>()?,
        family: a.family.parse::<Family>()?,
        seed: a.seed,
        ..NextActionParams::default()
    };
    let sp = progress::spinner("training next-action", quiet);
    let m = NextActionModel::train(&t, &s, &p)?;
    sp.finish_and_clear();
    m.save(&a.out)?;
    let r = m.report.as_ref().context("no report")?;
    if let Some(path) = &a.report {
        let text = if path.extension().is_some_and(|x| x == "json") {
            serde_json::to_string_pretty(r)?
        } else {
            r.html("shopsense next action — test report")
        };
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(r)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "next-action bundle {}: classes {:?}; rows train/valid/test {:?}; {} rounds",
        a.out.display(),
        r.classes,
        r.rows,
        r.rounds
    )?;
    let mut rows = vec![("model", &r.model)];
    if let Some(m) = &r.model_argmax {
        rows.push(("argmax", m));
    }
    rows.extend([("majority", &r.majority), ("seed-rf", &r.seed_rf)]);
    if let Some(m) = &r.forest_argmax {
        rows.push(("forest", m));
    }
    writeln!(
        out,
        "  learner {} (validation macro-F1, out of sample: {}); decision weights (validation): {:?}",
        r.family.name(),
        r.validation_macro_f1
            .iter()
            .map(|(f, v)| format!("{} {v:.4}", f.name()))
            .collect::<Vec<_>>()
            .join(", "),
        r.decision_weights
    )?;
    for (name, mm) in rows {
        writeln!(
            out,
            "  {name:<9} macro-F1 {:.4} accuracy {:.4} log-loss {:.4}",
            mm.macro_f1, mm.accuracy, mm.log_loss
        )?;
    }
    for c in &r.model.per_class {
        writeln!(
            out,
            "  {:<17} P {:.4} R {:.4} F1 {:.4} support {}",
            c.name.as_deref().unwrap_or("?"),
            c.precision,
            c.recall,
            c.f1,
            c.support
        )?;
    }
    writeln!(
        out,
        "  confusion (rows true, columns predicted): {:?}",
        r.model.confusion
    )?;
    Ok(())
}

fn session_of(path: &Path, user: &str) -> Result<Vec<SessionEvent>> {
    let (_, out) = read_file(path, None, &ReadOptions::default())
        .with_context(|| format!("reading session events {}", path.display()))?;
    let t = out.table;
    let mut rows: Vec<usize> = (0..t.len())
        .filter(|&i| t.users.get(t.user[i]) == user)
        .collect();
    rows.sort_by_key(|&i| (t.time_ms[i], i));
    Ok(rows
        .into_iter()
        .map(|i| SessionEvent {
            item: t.items.get(t.item[i]).to_string(),
            kind: t.kind_name(t.kind[i]).to_string(),
        })
        .collect())
}

/// `recommend`.
pub fn recommend(a: RecommendArgs) -> Result<()> {
    let m = load_recs(&a.bundle)?;
    if let Some(n) = a.bench {
        let users = m.stats.users.len().max(1);
        let mut times = Vec::with_capacity(n);
        for i in 0..n {
            let u = if m.stats.users.is_empty() {
                "cold".to_string()
            } else {
                m.stats.users.name((i % users) as u32).to_string()
            };
            let t = Instant::now();
            let r = m.recommend(&u, &[], a.k, a.include_bought)?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(r);
        }
        times.sort_by(f64::total_cmp);
        let q = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
        let v = serde_json::json!({
            "lists": n, "k": a.k,
            "mean_ms": times.iter().sum::<f64>() / n.max(1) as f64,
            "p50_ms": q(0.5), "p99_ms": q(0.99), "max_ms": q(1.0),
        });
        println!(
            "{}",
            if a.json {
                serde_json::to_string_pretty(&v)?
            } else {
                v.to_string()
            }
        );
        return Ok(());
    }
    let session = match &a.session_events {
        Some(p) => session_of(p, &a.user)?,
        None => Vec::new(),
    };
    let r = m.recommend(&a.user, &session, a.k, a.include_bought)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
    } else {
        writeln!(
            out,
            "user {}{}:",
            r.user,
            if r.cold_start {
                " (cold start: popular items)"
            } else {
                ""
            }
        )?;
        for (i, s) in r.items.iter().enumerate() {
            writeln!(out, "{:>3}. {}  {:.4}", i + 1, s.id, s.score)?;
        }
    }
    Ok(())
}

fn print_scored(json: bool, what: &str, item: &str, v: &[shopsense_recs::Scored]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "item": item, what: v }))?
        )?;
    } else {
        writeln!(out, "{what} for item {item}:")?;
        for (i, s) in v.iter().enumerate() {
            writeln!(out, "{:>3}. {}  {:.4}", i + 1, s.id, s.score)?;
        }
    }
    Ok(())
}

/// `similar`.
pub fn similar(a: ItemArgs) -> Result<()> {
    let m = load_recs(&a.bundle)?;
    let v = m.similar(&a.item, a.k)?;
    print_scored(a.json, "similar", &a.item, &v)
}

/// `audience`.
pub fn audience(a: ItemArgs) -> Result<()> {
    let m = load_recs(&a.bundle)?;
    let v = m.audience(&a.item, a.k)?;
    print_scored(a.json, "audience", &a.item, &v)
}
