//! Measures building the features of every prefix of a large REES46-format file (not a test).
//!
//! ```text
//! export CARGO_TARGET_DIR=/root/.cache/shopsense-target
//! cargo build --release -p shopsense-features --example feature_speed
//! /usr/bin/time -v $CARGO_TARGET_DIR/release/examples/feature_speed [/root/bench/syn10m.csv] [full|early-3|at-cart]
//! ```

use shopsense_events::{read_file, ReadOptions};
use shopsense_features::{
    fit_encoders, fit_oof_encoders, prefixes, temporal_split, FeatureBuilder, FeatureSpec, Prefix,
    Protocol,
};
use shopsense_sessions::{SessionConfig, Sessions};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "/root/bench/syn10m.csv".to_string()),
    );
    let protocol: Protocol = args.next().as_deref().unwrap_or("full").parse()?;
    let spec = FeatureSpec::with_protocol(protocol);
    let all = Instant::now();
    let mut lap = Instant::now();
    let mut step = |what: &str| {
        eprintln!("{what:<28} {:>8.2} s", lap.elapsed().as_secs_f64());
        lap = Instant::now();
    };

    let (_, out) = read_file(&path, None, &ReadOptions::default())?;
    let t = out.table;
    step("read");
    let s = Sessions::build(&t, &SessionConfig::default());
    step("sessions");
    let ps = prefixes(&t, &s, protocol)?;
    let sp = temporal_split(&ps, spec.split)?;
    step("prefixes + split");
    let train: Vec<Prefix> = sp.train.iter().map(|&i| ps[i]).collect();
    let enc = fit_encoders(&t, &s, &train, &spec)?;
    step("fit encoders");
    let oof = fit_oof_encoders(&t, &s, &train, &spec)?;
    step("fit out-of-fold encoders");
    let builder = FeatureBuilder::new(&t, &s, &enc, &spec, Some(&oof))?;
    step("prepare (priors, histories)");
    let feat = Instant::now();
    let mut rows = 0;
    let mut cells = 0;
    for part in [&sp.train, &sp.valid, &sp.test] {
        let m = builder.build(&ps, part)?;
        rows += m.n_rows;
        cells += m.data.len();
        std::hint::black_box(&m.data);
    }
    step("build matrices");
    let feat_s = feat.elapsed().as_secs_f64();
    eprintln!(
        "{} events, {} sessions, protocol {protocol}: {} prefixes ({} train / {} valid / {} test), {} columns, {:.1} M cells",
        t.len(),
        s.len(),
        ps.len(),
        sp.train.len(),
        sp.valid.len(),
        sp.test.len(),
        spec.features.len(),
        cells as f64 / 1e6
    );
    eprintln!(
        "matrices: {:.0} rows/s; total {:.2} s on {} threads",
        rows as f64 / feat_s,
        all.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    Ok(())
}
