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
    /// The main job on the bundled real samples, end to end: ingest into a Parquet store,
    /// stats, session export, purchase-intent training with an HTML report, test metrics.
    Demo(DemoArgs),
    /// Train a model (`train intent`: session-level purchase intent).
    #[command(subcommand)]
    Train(Box<TrainCommand>),
    /// Evaluate a saved intent bundle on events: the test part of its split (or --all).
    ///
    /// Sessions and prefixes are rebuilt with the bundle's protocol and features; the
    /// bundle's split fractions pick the test part (the latest sessions by start).
    Eval(EvalArgs),
    /// Score every session prefix under a bundle's protocol; write Parquet or CSV.
    ///
    /// Columns: session_id, user_id, cutoff_time (last visible event), score (calibrated
    /// probability), decision (score >= the bundle's threshold), model_version.
    Predict(PredictArgs),
    /// Write the train / validation / test feature matrices of an intent run (Parquet or CSV)
    /// without training, e.g. to train another library on exactly the same inputs.
    Features(FeaturesArgs),
    /// Consume events from a Kafka-protocol broker, score live, learn online, publish scores.
    Stream(crate::cmd_stream::StreamArgs),
    /// Produce an events file to a broker topic in event-time order (`--speed 60x` or `max`).
    Replay(crate::cmd_stream::ReplayArgs),
    /// Serve purchase-intent decisions over HTTP (JSON API under /v1, /metrics, /readyz).
    Serve(crate::cmd_serve::ServeArgs),
    /// One gated retraining: ingest new files, train a candidate, promote it only when it
    /// beats the promoted model by the margin on the latest window; the run is recorded.
    Retrain(crate::cmd_retrain::RetrainArgs),
    /// Retrain on a cron schedule in process (single machine; the Kubernetes CronJob runs
    /// `retrain` instead); alert metrics at --metrics-addr /metrics.
    Scheduler(crate::cmd_retrain::SchedulerArgs),
    /// Recorded retraining runs: list, show, compare.
    #[command(subcommand)]
    Runs(crate::cmd_retrain::RunsCommand),
    /// The model registry: list, show, add, promote, rollback.
    #[command(subcommand)]
    Models(crate::cmd_serve::ModelsCommand),
    /// Recommend items to a user (with an optional live session) from a recs bundle.
    Recommend(crate::cmd_recs::RecommendArgs),
    /// Items similar to an item, from a recs bundle.
    Similar(crate::cmd_recs::ItemArgs),
    /// Users most likely to cart or buy an item next, from a recs bundle.
    Audience(crate::cmd_recs::ItemArgs),
}

/// `train` subcommands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per run; boxing buys nothing
pub enum TrainCommand {
    /// Session-level purchase intent: prefixes under a protocol, temporal split by session
    /// start (60/15/25), encoders fitted on the training window only, model, calibration and
    /// threshold chosen on validation, metrics on the test part only; writes a bundle.
    Intent(TrainIntentArgs),
    /// Event-type model: P(view / cart / purchase / …) of an interaction given the session
    /// so far; temporal split, priors fitted on training only, metrics vs baselines.
    NextAction(crate::cmd_recs::TrainNextActionArgs),
    /// Recommendations: co-visitation, embeddings, popularity and a LightGBM ranker;
    /// offline evaluation on a temporal split; writes a recs bundle.
    Recs(crate::cmd_recs::TrainRecsArgs),
}

/// The feature definition of an intent run.
#[derive(Debug, Args, Clone)]
pub struct IntentFeatureArgs {
    /// Scoring protocol: full (everything before the first purchase), early-K (the first K
    /// events; early-3 by default for `early`), at-cart (at the first add-to-cart).
    #[arg(long, default_value = "full", value_parser = parse_protocol)]
    pub protocol: shopsense_intent::Protocol,
    /// Model family: auto (train gbdt, logistic, seed-rf and their blend, keep the best
    /// mean PR-AUC over the rolling-origin folds of the training part and the validation
    /// part), gbdt (LightGBM), logistic, seed-rf (the reference baseline), blend (the
    /// equal-weight average of the --blend members in standardised log-odds).
    #[arg(long, default_value = "auto", value_parser = ["auto", "gbdt", "logistic", "seed-rf", "blend"])]
    pub model: String,
    /// Members of the blend (`--model blend`, and the blend `auto` tries).
    #[arg(long, value_delimiter = ',', default_value = "gbdt,logistic,seed-rf", value_parser = ["gbdt", "logistic", "seed-rf"])]
    pub blend: Vec<String>,
    /// Feature columns, comma-separated (default: the model's own set; see the features
    /// crate's README for every name).
    #[arg(long, value_delimiter = ',')]
    pub features: Option<Vec<String>>,
    /// Local time offset from UTC in minutes for hour / weekday features and day keys
    /// (Taobao: 480).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub utc_offset_minutes: i32,
    /// Train, validation and test fractions by session start.
    #[arg(long, value_name = "TRAIN,VALID,TEST", value_delimiter = ',', default_values_t = [0.60, 0.15, 0.25])]
    pub split: Vec<f64>,
}

/// `train intent`.
#[derive(Debug, Args)]
pub struct TrainIntentArgs {
    /// Inputs and session rules.
    #[command(flatten)]
    pub input: InputArgs,
    /// Protocol, model, features.
    #[command(flatten)]
    pub features: IntentFeatureArgs,
    /// The bundle to write (one JSON file).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Also write the test report: HTML (plots), or JSON when the name ends in .json.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Seed of the model, sampling and search.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Random-search trials for gbdt on rolling-origin folds inside the training part
    /// (0 = the default parameters).
    #[arg(long, default_value_t = 0)]
    pub search_trials: usize,
    /// Metric the search optimises on the folds.
    #[arg(long, default_value = "pr-auc", value_parser = ["pr-auc", "roc-auc", "log-loss"])]
    pub search_metric: String,
    /// Rolling-origin folds for the search.
    #[arg(long, default_value_t = 3)]
    pub cv_folds: usize,
    /// Class imbalance: none, weights (balanced class weights) or undersample (1:1).
    #[arg(long, default_value = "none", value_parser = ["none", "weights", "undersample"])]
    pub imbalance: String,
    /// Calibration fitted on validation predictions.
    #[arg(long, default_value = "none", value_parser = ["none", "platt", "isotonic"])]
    pub calibration: String,
    /// Threshold rule on validation predictions.
    #[arg(long, default_value = "max-f1", value_parser = ["max-f1"], conflicts_with = "cost_ratio")]
    pub threshold: String,
    /// Choose the threshold by minimum cost instead: cost of a missed buyer (FN) over the
    /// cost of a false alarm (FP).
    #[arg(long)]
    pub cost_ratio: Option<f64>,
    /// After early stopping, calibration and threshold are chosen on the validation part,
    /// fit the model again on training + validation sessions (rounds scaled by the row
    /// ratio) and save that one; the test part is still never used for any choice.
    #[arg(long)]
    pub refit: bool,
    /// Continue an interrupted run from its checkpoints (same inputs and options).
    #[arg(long)]
    pub resume: bool,
    /// Checkpoint directory (default: BUNDLE.ckpt, removed after a successful run).
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    /// LightGBM parameters patched over the defaults, as JSON (e.g. '{"num_leaves":31}').
    /// Without it, training parts of 500,000 rows or more use the large-data schedule
    /// (learning rate 0.2, up to 60 rounds, 15 leaves) instead of the small-sample one.
    #[arg(long)]
    pub gbdt_params: Option<String>,
    /// Bootstrap resamples for the 95 % intervals of ROC-AUC and PR-AUC (0 = none; fewer
    /// on very large test parts).
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    /// Also write the feature matrices (Parquet, or CSV by extension), as in `features`.
    #[arg(long)]
    pub export_features: Option<PathBuf>,
    /// Stop after this many GBDT chunks, as if killed (testing resume).
    #[arg(long, hide = true)]
    pub stop_after_chunks: Option<usize>,
    /// Stop after this many search trials, as if killed (testing resume).
    #[arg(long, hide = true)]
    pub stop_after_trials: Option<usize>,
}

/// `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Inputs and session rules.
    #[command(flatten)]
    pub input: InputArgs,
    /// The bundle written by `train intent`.
    #[arg(long, short)]
    pub bundle: PathBuf,
    /// Evaluate every prefix (data from a later period) instead of the test part.
    #[arg(long)]
    pub all: bool,
    /// Fail unless the bundle was trained for this protocol.
    #[arg(long, value_parser = parse_protocol)]
    pub protocol: Option<shopsense_intent::Protocol>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the report: HTML, or JSON when the name ends in .json.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Bootstrap resamples for the 95 % intervals (0 = none).
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
}

/// `predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Inputs and session rules.
    #[command(flatten)]
    pub input: InputArgs,
    /// The bundle written by `train intent`.
    #[arg(long, short)]
    pub bundle: PathBuf,
    /// Output: Parquet, or CSV when the name ends in .csv.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Fail unless the bundle was trained for this protocol.
    #[arg(long, value_parser = parse_protocol)]
    pub protocol: Option<shopsense_intent::Protocol>,
    /// Print counts and timings as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `features`.
#[derive(Debug, Args)]
pub struct FeaturesArgs {
    /// Inputs and session rules.
    #[command(flatten)]
    pub input: InputArgs,
    /// Protocol, model (for its default feature set), features.
    #[command(flatten)]
    pub features: IntentFeatureArgs,
    /// Output: Parquet, or CSV when the name ends in .csv.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Where the job runs: `local` (in process) or `sc://host:port` (Apache Spark through
    /// Spark Connect; the input must then be one store made by `shopsense ingest`).
    #[arg(long, default_value = "local")]
    pub engine: String,
}

/// Parses a protocol name.
pub fn parse_protocol(s: &str) -> Result<shopsense_intent::Protocol, String> {
    s.parse::<shopsense_intent::Protocol>()
        .map_err(|e| e.to_string())
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
    /// Where the job runs: `local` (in process) or `sc://host:port` (Apache Spark through
    /// Spark Connect; the input must then be one store made by `shopsense ingest`).
    #[arg(long, default_value = "local")]
    pub engine: String,
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
