//! Writes a sample report (synthetic data): GBDT vs logistic vs seed-rf, isotonic
//! calibration and max-F1 threshold chosen on validation, metrics per day.
//!
//! ```text
//! cargo run -p shopsense-eval --example sample_report -- /tmp/report   # → .html + .json
//! ```

use shopsense_eval::{ModelInfo, Report, ReportOptions};
use shopsense_models::*;

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sample_report".into());
    let d = synth::binary(60_000, 12, 0.06, 42)?;
    // Rows are "in time order": 60 % train, 20 % validation, 20 % test.
    let idx = |a: usize, b: usize| (a..b).collect::<Vec<_>>();
    let (train, valid, test) = (
        d.subset(&idx(0, 36_000))?,
        d.subset(&idx(36_000, 48_000))?,
        d.subset(&idx(48_000, 60_000))?,
    );

    let (gbdt, _) = train_gbdt(&train, Some(&valid), &GbdtParams::default(), None)?;
    let logistic = Logistic::fit(&train, &LogisticParams::default())?;
    let rf = RandomForest::fit(&train, &ForestParams::seed_rf())?;

    let raw_valid = gbdt.predict_proba(valid.x().view())?;
    let cal = Calibrator::fit(CalibrationMethod::Isotonic, &raw_valid, valid.labels())?;
    let choice = choose_threshold(
        &cal.apply_all(&raw_valid),
        valid.labels(),
        ThresholdObjective::MaxF1,
    )?;
    let p = cal.apply_all(&gbdt.predict_proba(test.x().view())?);

    let days: Vec<String> = (0..test.n_rows())
        .map(|i| format!("2019-11-{:02}", 1 + i * 14 / test.n_rows()))
        .collect();
    let own_threshold =
        |m: &dyn Model| -> std::result::Result<(Vec<f64>, f64), Box<dyn std::error::Error>> {
            let pv = m.predict_proba(valid.x().view())?;
            let t = choose_threshold(&pv, valid.labels(), ThresholdObjective::MaxF1)?.threshold;
            Ok((m.predict_proba(test.x().view())?, t))
        };
    let (p_lr, t_lr) = own_threshold(&logistic)?;
    let (p_rf, t_rf) = own_threshold(&rf)?;

    let mut info = ModelInfo::of(&gbdt);
    info.calibration = "isotonic (fitted on validation)".into();
    info.data_fingerprint = train.fingerprint();
    let mut report = Report::binary(
        "Purchase intent — sample report",
        "test (synthetic, 12 000 sessions, 14 days)",
        test.labels(),
        &p,
        ReportOptions {
            threshold: choice.threshold,
            ..ReportOptions::default()
        },
    )?
    .with_model(info)
    .with_periods(test.labels(), &p, &days, "day")?
    .with_importance(gbdt.feature_importance())
    .with_comparison(logistic.name(), test.labels(), &p_lr, t_lr)?
    .with_comparison(rf.name(), test.labels(), &p_rf, t_rf)?;
    report.threshold_choice = Some(choice);
    report.created_at = Some("2026-11-25T00:00:00Z".into());
    report.write_html(std::path::Path::new(&format!("{out}.html")))?;
    report.write_json(std::path::Path::new(&format!("{out}.json")))?;
    println!("wrote {out}.html and {out}.json");
    Ok(())
}
