//! `sessionize --engine sc://…`: the session export on Apache Spark (Spark Connect).

use crate::cli::SessionizeArgs;
use anyhow::{bail, Result};

/// Runs `sessionize` on the engine named by `--engine` (anything but `local`).
#[cfg(feature = "spark")]
pub fn sessionize_on_engine(a: SessionizeArgs, quiet: bool) -> Result<()> {
    use anyhow::Context;
    use shopsense_cluster::{Engine, JobConfig};
    use shopsense_sessions::SummaryOptions;
    let remote = match Engine::parse(&a.engine)? {
        Engine::Spark(r) => r,
        Engine::Local => bail!("--engine local runs in process"),
    };
    let [store] = a.input.inputs.as_slice() else {
        bail!("--engine {remote}: give exactly one store directory (made by `shopsense ingest`)");
    };
    if !store.join("manifest.json").is_file() {
        bail!(
            "--engine {remote}: {} is not a store made by `shopsense ingest` (CSV inputs: ingest them first)",
            store.display()
        );
    }
    let time = |flag: &str, v: &Option<String>| -> Result<Option<i64>> {
        v.as_deref()
            .map(|s| {
                shopsense_events::time::parse_time_arg(s)
                    .with_context(|| format!("{flag}: cannot parse time {s:?}"))
            })
            .transpose()
    };
    let cfg = JobConfig {
        sessions: crate::commands::session_config(&a.input)?,
        summary: SummaryOptions {
            cut_at_first_purchase: !a.no_cut,
        },
        from_ms: time("--from", &a.input.from)?,
        to_ms: time("--to", &a.input.to)?,
    };
    let t0 = std::time::Instant::now();
    let sp = crate::progress::spinner("spark job", quiet);
    let res = shopsense_cluster::run_spark(&remote, store, &cfg)?;
    sp.set_message("writing");
    res.write(&a.out)?;
    sp.finish_and_clear();
    let buyers = res.sum.label.iter().filter(|&&l| l).count();
    let events: u64 = res.sum.session_events.iter().map(|&e| e as u64).sum();
    eprintln!(
        "{} events -> {} sessions ({} with a purchase) -> {} in {:.2} s on {remote}",
        events,
        res.len(),
        buyers,
        a.out.display(),
        t0.elapsed().as_secs_f64(),
    );
    Ok(())
}

/// Without the `spark` feature only `--engine local` exists.
#[cfg(not(feature = "spark"))]
pub fn sessionize_on_engine(a: SessionizeArgs, _quiet: bool) -> Result<()> {
    bail!(
        "--engine {}: this build has no Spark support (build with --features spark)",
        a.engine
    )
}
