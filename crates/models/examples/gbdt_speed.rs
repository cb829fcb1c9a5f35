//! Speed check (not a test): GBDT on synthetic rows, then scoring them.
//!
//! ```text
//! cargo run --release -p shopsense-models --example gbdt_speed -- [rows] [features] [rounds]
//! ```
//! Defaults: 3 000 000 rows × 40 features, 200 rounds, 31 leaves, 2 threads.

use shopsense_models::{synth, train_gbdt, GbdtParams, HistogramLayout, Model};
use std::time::Instant;

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (n, p, rounds) = (arg(1, 3_000_000), arg(2, 40), arg(3, 200));
    let t = Instant::now();
    let d = synth::binary(n, p, 0.05, 1)?;
    println!("synthetic {n} × {p}: {:.2} s", t.elapsed().as_secs_f64());

    let mut params = GbdtParams {
        n_rounds: rounds,
        early_stopping_rounds: None,
        ..GbdtParams::default()
    };
    if let Ok(v) = std::env::var("GBDT_PARAMS") {
        // e.g. GBDT_PARAMS='{"histogram":"row_wise","max_bin":63}'
        let mut base = serde_json::to_value(&params)?;
        let patch: serde_json::Value = serde_json::from_str(&v)?;
        if let (Some(b), Some(p)) = (base.as_object_mut(), patch.as_object()) {
            for (k, v) in p {
                b.insert(k.clone(), v.clone());
            }
        }
        params = serde_json::from_value(base)?;
    }
    let _ = HistogramLayout::ColWise;
    println!("params: {}", serde_json::to_string(&params)?);
    let t = Instant::now();
    let (model, log) = train_gbdt(&d, None, &params, None)?;
    let fit = t.elapsed().as_secs_f64();
    println!("fit: {fit:.2} s for {} rounds", log.rounds_trained);

    let x = d.x().view();
    let _ = model.predict_proba(x.rows(0, 10_000))?; // warm-up
                                                     // Best of 3, native and LightGBM's predictor alternating (fair on a noisy machine).
    let (mut best_native, mut best_lgbm) = (f64::MAX, f64::MAX);
    let mut probs = Vec::new();
    let mut same = true;
    for _ in 0..3 {
        let t = Instant::now();
        probs = model.predict_proba(x)?;
        best_native = best_native.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let lgbm = model.predict_lightgbm(x)?;
        best_lgbm = best_lgbm.min(t.elapsed().as_secs_f64());
        same &= probs
            .iter()
            .zip(&lgbm)
            .all(|(a, b)| a.to_bits() == b.to_bits());
    }
    println!(
        "score (native, best of 3): {n} rows in {best_native:.2} s = {:.0} rows/s (mean p {:.4})",
        n as f64 / best_native,
        probs.iter().sum::<f64>() / n as f64
    );
    println!(
        "score (LightGBM predictor, best of 3): {:.0} rows/s; bit-identical: {same}; native used: {}",
        n as f64 / best_lgbm,
        model.uses_native_scorer()
    );
    let auc = shopsense_models::metric::roc_auc(d.labels(), &probs, None)?;
    println!("train AUC {auc:.4}");
    Ok(())
}
