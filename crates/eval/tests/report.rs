//! Bootstrap, per-period metrics, curve downsampling and the JSON/HTML report.

use shopsense_eval::*;
use shopsense_models::{synth, Estimator, Gbdt, GbdtParams, Model, SplitMix64};

fn noisy(n: usize, seed: u64) -> (Vec<f32>, Vec<f64>) {
    let mut r = SplitMix64::new(seed);
    let mut y = Vec::with_capacity(n);
    let mut p = Vec::with_capacity(n);
    for _ in 0..n {
        let s = r.next_f64();
        y.push(if r.next_f64() < s * 0.6 { 1.0 } else { 0.0 });
        p.push(s);
    }
    (y, p)
}

#[test]
fn bootstrap_interval_is_seeded_and_covers_the_estimate() {
    let (y, p) = noisy(2_000, 1);
    let f = |y: &[f32], p: &[f64]| roc_auc(y, p, None).ok();
    let a = bootstrap_ci(&y, &p, f, 300, 0.95, 5).unwrap();
    let b = bootstrap_ci(&y, &p, f, 300, 0.95, 5).unwrap();
    assert_eq!(a, b, "same seed → same interval");
    assert!(a.lo < a.estimate && a.estimate < a.hi);
    assert!(a.hi - a.lo < 0.1 && a.hi - a.lo > 0.005, "{a:?}");
    assert_eq!(a.n_resamples, 300);
    let c = bootstrap_ci(&y, &p, f, 300, 0.95, 6).unwrap();
    assert_ne!(a.lo, c.lo);
}

#[test]
fn per_period_groups_rows_by_key() {
    let y = [0., 1., 0., 1., 0., 0.];
    let p = [0.2, 0.9, 0.4, 0.3, 0.1, 0.6];
    let keys = [
        "2019-10-02",
        "2019-10-01",
        "2019-10-01",
        "2019-10-02",
        "2019-10-03",
        "2019-10-03",
    ];
    let m = per_period(&y, &p, &keys, 0.5).unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(m[0].period, "2019-10-01");
    assert_eq!((m[0].n, m[0].positives), (2, 1));
    assert_eq!(m[0].roc_auc, Some(1.0));
    assert_eq!(m[1].roc_auc, Some(1.0));
    assert_eq!(m[2].roc_auc, None, "one class only");
    assert_eq!(m[2].pr_auc, None);
    assert_eq!(m[2].f1, 0.0);
    assert!(per_period(&y, &p, &keys[..5], 0.5).is_err());
}

#[test]
fn curves_are_downsampled_keeping_the_ends() {
    let (y, p) = noisy(20_000, 2);
    let roc = roc_curve(&y, &p).unwrap();
    assert!(roc.len() > 1_000);
    let d = metrics::downsample(&roc, 150, |r| (r.fpr, r.tpr));
    assert!(d.len() <= 151 && d.len() > 50, "{}", d.len());
    assert_eq!(d.first(), roc.first());
    assert_eq!(d.last(), roc.last());
    assert!(d.windows(2).all(|w| w[0].fpr <= w[1].fpr));
}

#[test]
fn report_json_round_trips_and_html_is_self_contained() {
    let d = synth::binary(6_000, 8, 0.1, 3).unwrap();
    let tr: Vec<usize> = (0..4_000).collect();
    let te: Vec<usize> = (4_000..6_000).collect();
    let (train, test) = (d.subset(&tr).unwrap(), d.subset(&te).unwrap());
    let params = GbdtParams {
        n_rounds: 60,
        early_stopping_rounds: None,
        ..GbdtParams::default()
    };
    let m = Gbdt::fit(&train, &params).unwrap();
    let p = m.predict_proba(test.x().view()).unwrap();
    let days: Vec<String> = (0..2_000)
        .map(|i| format!("2019-10-{:02}", 1 + i / 200))
        .collect();
    let r = Report::binary(
        "Purchase intent <test>",
        "test",
        test.labels(),
        &p,
        ReportOptions::default(),
    )
    .unwrap()
    .with_model(ModelInfo::of(&m))
    .with_periods(test.labels(), &p, &days, "day")
    .unwrap()
    .with_importance(m.feature_importance())
    .with_comparison("constant", test.labels(), &vec![0.1; 2_000], 0.5)
    .unwrap();
    assert_eq!(r.per_period.len(), 10);
    assert_eq!(r.feature_importance.len(), 8);
    assert!(r
        .feature_importance
        .windows(2)
        .all(|w| w[0].share >= w[1].share));
    assert!(r.metrics.roc_auc.unwrap() > 0.75);
    assert!(r.intervals.contains_key("roc_auc") && r.intervals.contains_key("f1"));
    assert!(r.roc.len() <= 201);

    let json = r.to_json().unwrap();
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);

    let html = r.to_html();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        html.contains("Purchase intent &lt;test&gt;"),
        "title escaped"
    );
    assert_eq!(
        html.matches("<svg").count(),
        6,
        "ROC, PR, reliability, bins, period, importance"
    );
    assert!(!html.contains("<script") && !html.contains("https://"));
    let links = html.matches("http://").count();
    assert_eq!(
        links,
        html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count(),
        "only SVG namespaces"
    );
    let dir = tempfile::tempdir().unwrap();
    r.write_html(&dir.path().join("r.html")).unwrap();
    r.write_json(&dir.path().join("r.json")).unwrap();
    assert!(std::fs::metadata(dir.path().join("r.html")).unwrap().len() > 10_000);
}

#[test]
fn models_crate_metrics_agree_with_eval() {
    // The search and threshold code in shopsense-models use the same implementation.
    let (y, p) = noisy(500, 4);
    assert_eq!(
        shopsense_models::metric::roc_auc(&y, &p, None).unwrap(),
        roc_auc(&y, &p, None).unwrap()
    );
    assert!(brier(&y, &p[..10], None).is_err());
    assert!(reliability_curve(&y, &p, 0).is_err());
}
