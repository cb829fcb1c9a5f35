//! `shopsense demo`: the main job on the bundled real samples, run as the same commands a
//! user would type (so the demo can never drift from the CLI).

use crate::cli::{Cli, DemoArgs};
use anyhow::{Context, Result};
use clap::Parser;
use std::io::Write;
use std::path::Path;

/// One bundled sample and how the demo treats it.
struct Sample {
    name: &'static str,
    file: &'static str,
    /// Extra options for every command on it (the documented window for Taobao).
    window: &'static [&'static str],
}

const SAMPLES: &[Sample] = &[
    Sample {
        name: "rees46",
        file: "rees46/2019-Oct_head.csv",
        window: &[],
    },
    Sample {
        name: "taobao",
        file: "taobao/UserBehavior_head.csv",
        window: &[
            "--from",
            "2017-11-25T00:00:00+08:00",
            "--to",
            "2017-12-04T00:00:00+08:00",
        ],
    },
];

fn step(args: &[String], quiet: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n$ shopsense {}", args[1..].join(" "))?;
    drop(out);
    let mut cli = Cli::try_parse_from(args).with_context(|| format!("demo step {args:?}"))?;
    cli.quiet |= quiet;
    crate::commands::run(cli)
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// Runs the main job on each bundled sample: ingest into its own store (a second run finds
/// the files already ingested and skips them), stats, session export, and a purchase-intent
/// model (GBDT, `full` protocol, temporal 60/15/25 split) with its HTML report.
pub fn demo(a: DemoArgs, quiet: bool) -> Result<()> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    for s in SAMPLES {
        let file = a.data.join(s.file);
        if !file.is_file() {
            anyhow::bail!(
                "bundled sample {} is missing (run from the repository root or pass --data)",
                file.display()
            );
        }
        let store = a.out.join(format!("{}.store", s.name));
        let cmd = |parts: &[&str]| -> Vec<String> {
            std::iter::once("shopsense")
                .chain(parts.iter().copied())
                .map(str::to_string)
                .collect()
        };
        let mut o = std::io::stdout().lock();
        writeln!(o, "\n==== {} ({})", s.name, file.display())?;
        drop(o);
        step(
            &cmd(&["ingest", &path(&file), "--store", &path(&store)]),
            quiet,
        )?;
        let mut stats = cmd(&["stats", &path(&store)]);
        stats.extend(s.window.iter().map(|w| w.to_string()));
        step(&stats, quiet)?;
        let sessions = a.out.join(format!("{}-sessions.parquet", s.name));
        let mut sz = cmd(&["sessionize", &path(&store), "--out", &path(&sessions)]);
        sz.extend(s.window.iter().map(|w| w.to_string()));
        step(&sz, quiet)?;
        let bundle = a.out.join(format!("{}-intent.bundle", s.name));
        let report = a.out.join(format!("{}-intent.html", s.name));
        let mut train = cmd(&[
            "train",
            "intent",
            &path(&store),
            "--protocol",
            "full",
            "--out",
            &path(&bundle),
            "--report",
            &path(&report),
            "--bootstrap",
            "200",
        ]);
        train.extend(s.window.iter().map(|w| w.to_string()));
        step(&train, quiet)?;
    }
    let mut o = std::io::stdout().lock();
    writeln!(
        o,
        "\nDone. Reports: {}/*-intent.html; bundles, session tables and stores in {}",
        a.out.display(),
        a.out.display()
    )?;
    Ok(())
}
