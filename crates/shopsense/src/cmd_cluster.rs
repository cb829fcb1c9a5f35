//! `sessionize --engine sc://…` and `features --engine sc://…`: the session export and the
//! intent feature job on Apache Spark (Spark Connect).

#[cfg(feature = "spark")]
use crate::cli::InputArgs;
use crate::cli::{FeaturesArgs, SessionizeArgs};
use anyhow::{bail, Result};

/// The Spark Connect address and the store of a `--engine sc://…` run.
#[cfg(feature = "spark")]
fn remote_and_store<'a>(
    engine: &str,
    input: &'a InputArgs,
) -> Result<(String, &'a std::path::Path)> {
    use shopsense_cluster::Engine;
    let remote = match Engine::parse(engine)? {
        Engine::Spark(r) => r,
        Engine::Local => bail!("--engine local runs in process"),
    };
    let [store] = input.inputs.as_slice() else {
        bail!("--engine {remote}: give exactly one store directory (made by `shopsense ingest`)");
    };
    if !store.join("manifest.json").is_file() {
        bail!(
            "--engine {remote}: {} is not a store made by `shopsense ingest` (CSV inputs: ingest them first)",
            store.display()
        );
    }
    Ok((remote, store))
}

/// The job settings shared by every engine run: sessions and the time window.
#[cfg(feature = "spark")]
fn job_config(input: &InputArgs, cut: bool) -> Result<shopsense_cluster::JobConfig> {
    use anyhow::Context;
    let time = |flag: &str, v: &Option<String>| -> Result<Option<i64>> {
        v.as_deref()
            .map(|s| {
                shopsense_events::time::parse_time_arg(s)
                    .with_context(|| format!("{flag}: cannot parse time {s:?}"))
            })
            .transpose()
    };
    Ok(shopsense_cluster::JobConfig {
        sessions: crate::commands::session_config(input)?,
        summary: shopsense_sessions::SummaryOptions {
            cut_at_first_purchase: cut,
        },
        from_ms: time("--from", &input.from)?,
        to_ms: time("--to", &input.to)?,
    })
}

/// Runs `sessionize` on the engine named by `--engine` (anything but `local`).
#[cfg(feature = "spark")]
pub fn sessionize_on_engine(a: SessionizeArgs, quiet: bool) -> Result<()> {
    let (remote, store) = remote_and_store(&a.engine, &a.input)?;
    let cfg = job_config(&a.input, !a.no_cut)?;
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

/// Runs `features` on the engine named by `--engine` (anything but `local`): the same three
/// matrices as the local run, written in the same format.
#[cfg(feature = "spark")]
pub fn features_on_engine(
    a: &FeaturesArgs,
    spec: &shopsense_intent::FeatureSpec,
    quiet: bool,
) -> Result<()> {
    let (remote, store) = remote_and_store(&a.engine, &a.input)?;
    let cfg = job_config(&a.input, true)?;
    let t0 = std::time::Instant::now();
    let sp = crate::progress::spinner("spark job", quiet);
    let res = shopsense_cluster::run_spark_features(&remote, store, &cfg, spec)?;
    if res.train.n_rows + res.valid.n_rows + res.test.n_rows == 0 {
        bail!(
            "no session qualifies for protocol {} on {remote}",
            spec.protocol
        );
    }
    shopsense_intent::check_parts(&res.train, &res.valid, &res.test)?;
    sp.set_message("writing");
    let n = shopsense_intent::write_feature_parts(&a.out, [&res.train, &res.valid, &res.test])?;
    sp.finish_and_clear();
    eprintln!(
        "{n} prefixes ({} train, {} validation, {} test) × {} features -> {} in {:.2} s on {remote}",
        res.train.n_rows,
        res.valid.n_rows,
        res.test.n_rows,
        spec.features.len(),
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

/// Without the `spark` feature only `--engine local` exists.
#[cfg(not(feature = "spark"))]
pub fn features_on_engine(
    a: &FeaturesArgs,
    _spec: &shopsense_intent::FeatureSpec,
    _quiet: bool,
) -> Result<()> {
    bail!(
        "--engine {}: this build has no Spark support (build with --features spark)",
        a.engine
    )
}
