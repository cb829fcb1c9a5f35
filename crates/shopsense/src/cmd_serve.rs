//! `shopsense serve` and `shopsense models list|show|add|promote|rollback`.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use shopsense_serve::{Registry, ServeConfig, VersionInfo};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default listen address of `shopsense serve` (the deployment manifests use its port).
pub const DEFAULT_ADDR: &str = "0.0.0.0:8080";

/// `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Intent bundle to serve (written by `shopsense train intent`).
    #[arg(
        long,
        conflicts_with = "registry",
        required_unless_present = "registry"
    )]
    pub bundle: Option<PathBuf>,
    /// Model registry: serve its promoted version and hot-swap on promote / rollback.
    #[arg(long)]
    pub registry: Option<PathBuf>,
    /// How often the registry's promoted version is checked, in seconds.
    #[arg(long, default_value_t = 2.0, value_parser = parse_secs)]
    pub watch_secs: f64,
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = DEFAULT_ADDR)]
    pub addr: SocketAddr,
    /// Online session state: `memory`, or `redis://host:port[/db]` (shared by replicas).
    #[arg(long, default_value = "memory", value_parser = parse_state)]
    pub state: String,
    /// Prefix of the Redis keys (replicas sharing sessions use the same one).
    #[arg(long, default_value = "shopsense")]
    pub redis_prefix: String,
    /// Snapshot file of the in-memory state: restored at start, written at shutdown.
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    /// API key for the write endpoints (POST /v1/events, /v1/admin/reload); better given
    /// through the environment variable SHOPSENSE_API_KEY (used when this flag is absent).
    /// Without either the write endpoints are open.
    #[arg(long)]
    pub api_key: Option<String>,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub body_limit: usize,
    /// Most events per request.
    #[arg(long, default_value_t = 1000)]
    pub max_batch: usize,
    /// Request timeout in seconds (answered 503 `timeout`).
    #[arg(long, default_value_t = 2.0, value_parser = parse_secs)]
    pub timeout_secs: f64,
    /// A live session untouched this many seconds is closed.
    #[arg(long, default_value_t = 1800.0, value_parser = parse_secs)]
    pub session_ttl_secs: f64,
    /// Most live sessions (in memory; the least recently touched is closed beyond).
    #[arg(long, default_value_t = 1_000_000)]
    pub max_sessions: usize,
    /// Most events kept per live session (the oldest are dropped beyond).
    #[arg(long, default_value_t = 1000)]
    pub max_events_per_session: usize,
}

fn parse_secs(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v < 1e9 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number of seconds")),
    }
}

fn parse_state(s: &str) -> std::result::Result<String, String> {
    if s == "memory" || s.starts_with("redis://") || s.starts_with("rediss://") {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?}: expected `memory` or `redis://host:port`"))
    }
}

impl ServeArgs {
    /// The server configuration these flags describe.
    pub fn config(&self) -> ServeConfig {
        ServeConfig {
            addr: self.addr,
            bundle: self.bundle.clone(),
            registry: self.registry.clone(),
            watch_interval: Duration::from_secs_f64(self.watch_secs),
            state_path: self.snapshot.clone(),
            redis_url: (self.state != "memory").then(|| self.state.clone()),
            redis_prefix: self.redis_prefix.clone(),
            api_key: self
                .api_key
                .clone()
                .or_else(|| std::env::var("SHOPSENSE_API_KEY").ok())
                .filter(|k| !k.is_empty()),
            body_limit_bytes: self.body_limit,
            max_batch: self.max_batch,
            request_timeout: Duration::from_secs_f64(self.timeout_secs),
            session_ttl: Duration::from_secs_f64(self.session_ttl_secs),
            max_sessions: self.max_sessions,
            max_events_per_session: self.max_events_per_session,
        }
    }
}

/// Runs the server until Ctrl-C / SIGTERM (then drains requests and writes the snapshot).
pub fn serve(a: ServeArgs) -> Result<()> {
    let cfg = a.config();
    if let Some(b) = &cfg.bundle {
        if !b.exists() {
            bail!("bundle {} does not exist", b.display());
        }
    }
    if cfg.redis_url.is_some() && cfg.state_path.is_some() {
        bail!("--snapshot is for --state memory (Redis keeps the state itself)");
    }
    eprintln!(
        "shopsense serve: listening on {} ({} state{})",
        cfg.addr,
        if cfg.redis_url.is_some() {
            "redis"
        } else {
            "memory"
        },
        if cfg.api_key.is_some() {
            ", API key required on writes"
        } else {
            ""
        }
    );
    shopsense_serve::run(cfg).context("serve")
}

/// `models` subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List the registry's versions (the promoted one is marked).
    List(ModelsListArgs),
    /// Show one version.
    Show(ModelsVersionArgs),
    /// Add a bundle file as the next version (not promoted).
    Add(ModelsAddArgs),
    /// Promote a version: servers following the registry swap it in.
    Promote(ModelsVersionArgs),
    /// Go back to the previously promoted version.
    Rollback(ModelsListArgs),
}

/// The registry and output flags shared by every `models` subcommand.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// The registry directory (created when missing).
    #[arg(long)]
    pub registry: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `models list` / `models rollback`.
#[derive(Debug, Args)]
pub struct ModelsListArgs {
    /// Registry and output.
    #[command(flatten)]
    pub reg: RegistryArgs,
}

/// `models show` / `models promote`.
#[derive(Debug, Args)]
pub struct ModelsVersionArgs {
    /// Version name (`v0001`).
    #[arg(value_name = "VERSION")]
    pub name: String,
    /// Registry and output.
    #[command(flatten)]
    pub reg: RegistryArgs,
}

/// `models add`.
#[derive(Debug, Args)]
pub struct ModelsAddArgs {
    /// The bundle file.
    pub bundle: PathBuf,
    /// Promote it at once.
    #[arg(long)]
    pub promote: bool,
    /// Registry and output.
    #[command(flatten)]
    pub reg: RegistryArgs,
}

fn open(r: &RegistryArgs) -> Result<Registry> {
    Registry::open(&r.registry).with_context(|| format!("registry {}", r.registry.display()))
}

fn print_table(rows: &[VersionInfo]) {
    println!(
        "{:<2} {:<7} {:<10} {:<24} {:<26} {:>9}  fingerprint",
        "", "version", "kind", "name", "created", "threshold"
    );
    for v in rows {
        println!(
            "{:<2} {:<7} {:<10} {:<24} {:<26} {:>9.4}  {}",
            if v.promoted { "*" } else { "" },
            v.version,
            v.model_kind,
            v.model_name,
            v.created_at,
            v.threshold,
            v.data_fingerprint
        );
    }
}

fn print_promotion(p: &shopsense_serve::Promotion, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(p)?);
    } else {
        println!(
            "promoted: {}  (previous: {})",
            p.current.as_deref().unwrap_or("none"),
            if p.previous.is_empty() {
                "none".to_string()
            } else {
                p.previous.join(", ")
            }
        );
    }
    Ok(())
}

/// Runs a `models` subcommand.
pub fn models(c: ModelsCommand) -> Result<()> {
    match c {
        ModelsCommand::List(a) => {
            let rows = open(&a.reg)?.list()?;
            if a.reg.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("no versions in {}", a.reg.registry.display());
            } else {
                print_table(&rows);
            }
        }
        ModelsCommand::Show(a) => {
            let v = open(&a.reg)?.show(&a.name)?;
            if a.reg.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_table(std::slice::from_ref(&v));
                println!("bundle: {}", v.path.display());
            }
        }
        ModelsCommand::Add(a) => {
            let reg = open(&a.reg)?;
            let version = reg
                .add(&a.bundle)
                .with_context(|| format!("adding {}", a.bundle.display()))?;
            let promotion = if a.promote {
                Some(reg.promote(&version)?)
            } else {
                None
            };
            if a.reg.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "version": version,
                        "promotion": promotion,
                    }))?
                );
            } else {
                println!("added {version}");
                if let Some(p) = &promotion {
                    print_promotion(p, false)?;
                }
            }
        }
        ModelsCommand::Promote(a) => print_promotion(&open(&a.reg)?.promote(&a.name)?, a.reg.json)?,
        ModelsCommand::Rollback(a) => print_promotion(&open(&a.reg)?.rollback()?, a.reg.json)?,
    }
    Ok(())
}
