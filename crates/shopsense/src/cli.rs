//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// shopsense — turn a shop's clickstream (views, carts, purchases) into decisions.
///
/// Reads REES46, Retailrocket, Taobao, OTTO and Diginetica logs (plain or gzip) or any CSV
/// through a mapping file, keeps them in a Parquet store, builds sessions without leaking
/// the future, and scores purchase intent.
#[derive(Debug, Parser)]
#[command(name = "shopsense", version, propagate_version = true)]
pub struct Cli {
    /// No progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Debug logging (or set SHOPSENSE_LOG=debug).
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read event files into a Parquet store (partitioned by day), quarantining bad rows.
    ///
    /// Files already in the store (same sha256) are skipped. Each rejected row is written to
    /// STORE/quarantine/ with its file, line, raw text and reason.
    Ingest(IngestArgs),
    /// Print counts for events files or a store: events, sessions, users, items, kinds, …
    Stats(StatsArgs),
    /// Build sessions and write one row per session (cut at the first purchase) to Parquet or CSV.
    ///
    /// Per session: events, views, carts, purchase label, duration in seconds, mean and max
    /// price, distinct items, and more. Events after the first purchase are not counted
    /// (events at the same timestamp as the first purchase are).
    Sessionize(SessionizeArgs),
    /// Scale a real sample up to N events by copying whole real sessions with new ids and
    /// times (REES46 CSV, time order). For scale tests only, never for model quality.
    Synth(SynthArgs),
    /// The main job on the bundled real samples: ingest, stats and session export.
    Demo(DemoArgs),
}

/// Where events come from and how to cut them into sessions.
#[derive(Debug, Args, Clone)]
pub struct InputArgs {
    /// Events files (plain or .gz), or a store directory made by `shopsense ingest`.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Input format; detected from the first line when omitted.
    #[arg(long, value_parser = ["rees46", "retailrocket", "taobao", "otto", "diginetica", "mapped"])]
    pub format: Option<String>,
    /// TOML file mapping the columns of any other CSV (implies --format mapped).
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// Keep events at or after this time (RFC 3339, `YYYY-MM-DD HH:MM:SS` UTC, or a date).
    #[arg(long)]
    pub from: Option<String>,
    /// Keep events before this time (same forms as --from).
    #[arg(long)]
    pub to: Option<String>,
    /// Inactivity gap in minutes that starts a new session (sources without session ids).
    #[arg(long, default_value_t = 30.0)]
    pub gap_minutes: f64,
    /// Cut sessions by the gap even when the source has session ids.
    #[arg(long)]
    pub force_gap: bool,
    /// Fail when more than this share of rows is rejected.
    #[arg(long, default_value_t = 0.05)]
    pub max_bad_ratio: f64,
    /// Where to write rejected rows (JSON lines); default: next to the output.
    #[arg(long)]
    pub quarantine: Option<PathBuf>,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// `ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Events files (plain or .gz).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The store directory (created when missing).
    #[arg(long, default_value = "shopsense-store")]
    pub store: PathBuf,
    /// Input format; detected from each file's first line when omitted.
    #[arg(long, value_parser = ["rees46", "retailrocket", "taobao", "otto", "diginetica", "mapped"])]
    pub format: Option<String>,
    /// TOML file mapping the columns of any other CSV.
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// Fail a file (and write nothing for it) when more than this share of its rows is rejected.
    #[arg(long, default_value_t = 0.05)]
    pub max_bad_ratio: f64,
    /// Drop exact duplicate rows (they are always counted).
    #[arg(long)]
    pub drop_duplicates: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Inputs and session rules.
    #[command(flatten)]
    pub input: InputArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `sessionize`.
#[derive(Debug, Args)]
pub struct SessionizeArgs {
    /// Inputs and session rules.
    #[command(flatten)]
    pub input: InputArgs,
    /// Output file: Parquet, or CSV when the name ends in .csv.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Keep whole sessions (the session table) instead of cutting at the first purchase.
    #[arg(long)]
    pub no_cut: bool,
}

/// `synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// A real sample (any supported format) whose sessions are copied.
    pub sample: PathBuf,
    /// Output CSV (REES46 layout).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Events to write (accepts 10M, 500k).
    #[arg(long, short = 'n', value_parser = parse_count)]
    pub events: u64,
    /// Days over which session starts are spread.
    #[arg(long, default_value_t = 31)]
    pub days: u32,
    /// Random seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Input format of the sample; detected when omitted.
    #[arg(long)]
    pub format: Option<String>,
}

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output directory.
    #[arg(long, default_value = "out/demo")]
    pub out: PathBuf,
    /// Folder holding the bundled samples.
    #[arg(long, default_value = "data")]
    pub data: PathBuf,
}

/// Parses counts like `10M`, `500k`, `1_000_000`.
pub fn parse_count(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "");
    let (num, mul) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1_000f64),
        Some('m' | 'M') => (&t[..t.len() - 1], 1_000_000f64),
        Some('g' | 'G' | 'b' | 'B') => (&t[..t.len() - 1], 1_000_000_000f64),
        _ => (&t[..], 1f64),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("not a count: {s:?} (use e.g. 10M, 500k, 1000)"))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("not a count: {s:?}"));
    }
    Ok((v * mul).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(parse_count("10M"), Ok(10_000_000));
        assert_eq!(parse_count("500k"), Ok(500_000));
        assert_eq!(parse_count("1_000"), Ok(1000));
        assert!(parse_count("ten").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
