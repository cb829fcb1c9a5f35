//! The purchase-intent pipeline on the bundled real samples: quality bounds, exact split
//! sizes, bit-exact bundle round trips, resume = uninterrupted, choices made on validation
//! only, prefix counts of batch scoring, and clear refusals of bad bundles and settings.
//!
//! Quality bounds come from `bench/intent.sh` (5 seeds, BENCHMARKS.md): Taobao full gbdt
//! test ROC-AUC 0.671 ± 0.003 and PR-AUC 0.134 ± 0.002 (bootstrap 95 % interval of ROC-AUC
//! [0.633, 0.713]); REES46 full 0.698 ± 0.003 / 0.363 ± 0.014. The data are fixed, so seeds
//! and platforms move these by thousandths; the lower bounds sit ≈ 10 seed-sd below the
//! means and still above the reference baselines, the upper bounds catch a label leak (a
//! leak of the purchase into the features gives ROC-AUC ≈ 1).

mod common;

use common::{bits, quick, rees46, taobao, train};
use shopsense_intent::{
    evaluate, fit, prepare, score_all, write_scores, CalibrationMethod, CheckpointConfig, EvalRows,
    ImbalanceChoice, IntentError, IntentModel, ModelChoice, Protocol, Silent, ThresholdRule,
    TrainConfig,
};
use shopsense_models::{choose_threshold, GbdtParams, ThresholdObjective};
use std::collections::HashMap;

#[test]
fn taobao_full_gbdt_quality_bounds_and_exact_split() {
    let (t, s) = taobao();
    let cfg = TrainConfig {
        utc_offset_minutes: 480,
        ..quick("full", "gbdt")
    };
    let out = train(&t, &s, &cfg);
    let sp = &out.summary.split;
    // The features crate's split of the same prefixes (its pandas-checked counts).
    assert_eq!(
        (sp.train_rows, sp.valid_rows, sp.test_rows),
        (8_157, 2_039, 3_399)
    );
    assert_eq!(
        (sp.train_positives, sp.valid_positives, sp.test_positives),
        (527, 123, 193)
    );
    let m = &out.summary.test.metrics;
    let (roc, pr) = (m.roc_auc.unwrap(), m.pr_auc.unwrap());
    assert!((0.64..=0.80).contains(&roc), "test ROC-AUC {roc}");
    assert!((0.11..=0.30).contains(&pr), "test PR-AUC {pr}");
    assert_eq!((m.n, m.positives), (3_399, 193));
    let c = &m.confusion;
    assert_eq!(c.tp + c.fp + c.tn + c.fn_, 3_399);
    assert_eq!(c.tp + c.fn_, 193);
    // Intervals contain their estimate.
    for k in ["roc_auc", "pr_auc"] {
        let iv = &out.summary.test.intervals[k];
        assert!(iv.lo <= iv.estimate && iv.estimate <= iv.hi, "{k}: {iv:?}");
        assert_eq!(iv.n_resamples, 100);
    }
    // Nine days of data: metrics per day, covering every test row.
    assert_eq!(out.summary.test.period_unit, "day");
    let per: u64 = out.summary.test.per_period.iter().map(|p| p.n).sum();
    assert_eq!(per, 3_399);
    assert!(!out.summary.test.top_features.is_empty());

    // The reference baseline on its six features, same rows: clearly below.
    let rf = train(
        &t,
        &s,
        &TrainConfig {
            model: ModelChoice::SeedRf,
            ..cfg.clone()
        },
    );
    let rf_roc = rf.summary.test.metrics.roc_auc.unwrap();
    assert_eq!(rf.summary.n_features, 6);
    assert!(roc > rf_roc + 0.03, "gbdt {roc} vs seed-rf {rf_roc}");
}

#[test]
fn rees46_full_gbdt_quality_bounds_hourly_periods() {
    let (t, s) = rees46();
    let out = train(&t, &s, &quick("full", "gbdt"));
    let sp = &out.summary.split;
    assert_eq!(
        (sp.train_rows, sp.valid_rows, sp.test_rows),
        (3_039, 757, 1_269)
    );
    let roc = out.summary.test.metrics.roc_auc.unwrap();
    assert!((0.62..=0.85).contains(&roc), "test ROC-AUC {roc}");
    // Less than three hours of data: metrics per hour.
    assert_eq!(out.summary.test.period_unit, "hour");
    assert!(!out.summary.test.per_period.is_empty());
}

#[test]
fn bundle_round_trips_bit_for_bit() {
    let (t, s) = rees46();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("gbdt", CalibrationMethod::Isotonic, false),
        ("gbdt", CalibrationMethod::Platt, true),
        ("logistic", CalibrationMethod::Platt, false),
        ("seed-rf", CalibrationMethod::None, false),
        ("blend", CalibrationMethod::Platt, true),
    ];
    for (model, calibration, refit) in cases {
        let cfg = TrainConfig {
            calibration,
            refit,
            bootstrap_resamples: 0,
            ..quick("full", model)
        };
        let out = train(&t, &s, &cfg);
        let path = dir.path().join(format!("{model}-{refit}.bundle"));
        out.bundle.save(&path).unwrap();
        let m = IntentModel::load(&path).unwrap();
        assert_eq!(m.version(), out.summary.model_version);
        assert_eq!(m.params.refit, refit);
        // eval on the same data rebuilds the test rows and reproduces every bit.
        let ev = evaluate(&m, &t, &s, EvalRows::Test, 0, &Silent).unwrap();
        assert_eq!(
            bits(&ev.probs),
            bits(&out.test_probs),
            "{model} refit={refit}"
        );
        assert_eq!(ev.summary.metrics, out.summary.test.metrics);
        // Batch scoring: one row per prefix; the test sessions get the same bits.
        let sc = score_all(&m, &t, &s, &Silent).unwrap();
        assert_eq!(sc.prefixes.len(), 5_065);
        let by_session: HashMap<u32, f64> = sc
            .prefixes
            .iter()
            .zip(&sc.probs)
            .map(|(p, &v)| (p.session, v))
            .collect();
        for (sess, p) in out.test_sessions.iter().zip(&out.test_probs) {
            assert_eq!(by_session[sess].to_bits(), p.to_bits());
        }
    }
}

#[test]
fn batch_scoring_counts_one_row_per_prefix() {
    let (t, s) = rees46();
    let dir = tempfile::tempdir().unwrap();
    // Counts of the features crate's tests (pandas-checked): early-3 1,973, at-cart 117.
    for (protocol, n) in [("early-3", 1_973), ("at-cart", 117)] {
        let out = train(
            &t,
            &s,
            &TrainConfig {
                bootstrap_resamples: 0,
                ..quick(protocol, "gbdt")
            },
        );
        let path = dir.path().join(format!("{protocol}.bundle"));
        out.bundle.save(&path).unwrap();
        let m = IntentModel::load(&path).unwrap();
        let sc = score_all(&m, &t, &s, &Silent).unwrap();
        assert_eq!(sc.prefixes.len(), n, "{protocol}");
        // CSV: a header and one line per prefix; decision = score >= threshold.
        let csv = dir.path().join(format!("{protocol}.csv"));
        write_scores(
            &csv,
            &t,
            &s,
            &sc.prefixes,
            &sc.probs,
            m.threshold(),
            m.version(),
        )
        .unwrap();
        let text = std::fs::read_to_string(&csv).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "session_id,user_id,cutoff_time,score,decision,model_version"
        );
        assert_eq!(lines.len(), n + 1);
        for (line, p) in lines[1..].iter().zip(&sc.probs) {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 6, "{line}");
            let score: f64 = f[3].parse().unwrap();
            assert_eq!(score.to_bits(), p.to_bits(), "scores are written exactly");
            assert_eq!(f[4] == "true", *p >= m.threshold());
            assert_eq!(f[5], m.version());
        }
    }
}

fn resumable(dir: &std::path::Path) -> TrainConfig {
    TrainConfig {
        gbdt: GbdtParams {
            n_rounds: 40,
            chunk_rounds: Some(10),
            early_stopping_rounds: None,
            ..shopsense_intent::default_gbdt_params()
        },
        search_trials: 2,
        cv_folds: 2,
        bootstrap_resamples: 0,
        checkpoint: Some(CheckpointConfig::new(dir, false)),
        ..quick("full", "gbdt")
    }
}

#[test]
fn resume_after_interruptions_gives_the_uninterrupted_model() {
    let (t, s) = rees46();
    let dir = tempfile::tempdir().unwrap();
    let a = train(&t, &s, &resumable(&dir.path().join("a")));
    assert_eq!(a.summary.search.as_ref().unwrap().trials, 2);

    // Killed during the search (after one trial) …
    let mut cfg = resumable(&dir.path().join("b"));
    cfg.checkpoint.as_mut().unwrap().stop_after_trials = Some(1);
    let e = shopsense_intent::train(&t, &s, &cfg, &Silent).unwrap_err();
    assert!(matches!(e, IntentError::Interrupted { .. }), "{e}");
    // … then during training (after two chunks of ten rounds) …
    let ck = cfg.checkpoint.as_mut().unwrap();
    ck.resume = true;
    ck.stop_after_trials = None;
    ck.stop_after_chunks = Some(2);
    let e = shopsense_intent::train(&t, &s, &cfg, &Silent).unwrap_err();
    assert!(matches!(e, IntentError::Interrupted { done: 20 }), "{e}");
    assert!(dir.path().join("b/gbdt.json").exists());
    // … and resumed to the end.
    cfg.checkpoint.as_mut().unwrap().stop_after_chunks = None;
    let b = shopsense_intent::train(&t, &s, &cfg, &Silent).unwrap();
    assert_eq!(b.bundle.model, a.bundle.model, "same LightGBM model text");
    assert_eq!(b.bundle.threshold.to_bits(), a.bundle.threshold.to_bits());
    assert_eq!(bits(&b.test_probs), bits(&a.test_probs));
    assert_eq!(b.summary.search, a.summary.search);
    assert_eq!(b.summary.model_version, a.summary.model_version);
}

#[test]
fn choices_are_made_on_validation_never_on_test() {
    let (t, s) = rees46();
    let cfg = TrainConfig {
        calibration: CalibrationMethod::Platt,
        bootstrap_resamples: 0,
        ..quick("full", "gbdt")
    };
    let prep = prepare(&t, &s, &cfg.feature_spec().unwrap(), &Silent).unwrap();
    let a = fit(&t, &s, &cfg, prep.clone(), &Silent).unwrap();
    // The threshold is the max-F1 threshold of the calibrated validation predictions.
    let valid_labels: Vec<f32> = prep.valid.labels.iter().map(|&l| f32::from(l)).collect();
    let c = choose_threshold(&a.valid_probs, &valid_labels, ThresholdObjective::MaxF1).unwrap();
    assert_eq!(c.threshold.to_bits(), a.bundle.threshold.to_bits());

    // Every test label flipped: model, calibration, threshold and scores are unchanged;
    // only the test metrics see the labels.
    let mut flipped = prep.clone();
    flipped.test.labels.iter_mut().for_each(|l| *l = 1 - *l);
    let b = fit(&t, &s, &cfg, flipped, &Silent).unwrap();
    assert_eq!(b.bundle.model, a.bundle.model);
    assert_eq!(b.bundle.calibrator, a.bundle.calibrator);
    assert_eq!(b.bundle.threshold.to_bits(), a.bundle.threshold.to_bits());
    assert_eq!(bits(&b.test_probs), bits(&a.test_probs));
    let (ra, rb) = (
        a.summary.test.metrics.roc_auc.unwrap(),
        b.summary.test.metrics.roc_auc.unwrap(),
    );
    assert!((ra + rb - 1.0).abs() < 1e-9, "{ra} + {rb}");

    // Validation labels flipped: the threshold moves (it is chosen there).
    let mut vflipped = prep.clone();
    vflipped.valid.labels.iter_mut().for_each(|l| *l = 1 - *l);
    let v = fit(&t, &s, &cfg, vflipped, &Silent).unwrap();
    assert_ne!(v.bundle.threshold.to_bits(), a.bundle.threshold.to_bits());

    // A cost ratio instead of max F1: a missed buyer costing 20 false alarms flags more.
    let costly = TrainConfig {
        threshold: ThresholdRule::CostRatio { ratio: 20.0 },
        ..cfg.clone()
    };
    let d = fit(&t, &s, &costly, prep, &Silent).unwrap();
    assert!(d.bundle.threshold <= a.bundle.threshold);
}

#[test]
fn bad_bundles_and_settings_are_refused_clearly() {
    let (t, s) = rees46();
    let dir = tempfile::tempdir().unwrap();
    let out = train(
        &t,
        &s,
        &TrainConfig {
            bootstrap_resamples: 0,
            ..quick("full", "logistic")
        },
    );
    let path = dir.path().join("ok.bundle");
    let msg = |e: IntentError| e.to_string();

    let missing = dir.path().join("nope.bundle");
    let e = IntentModel::load(&missing).unwrap_err();
    assert!(matches!(e, IntentError::BundleNotFound(_)));
    assert!(msg(e).contains("not found"));

    std::fs::write(&path, "session_id,score\n").unwrap();
    let e = msg(IntentModel::load(&path).unwrap_err());
    assert!(e.contains("ok.bundle") && e.contains("bundle"), "{e}");

    let refused = |edit: &dyn Fn(&mut shopsense_models::Bundle), needle: &str| {
        let mut b = out.bundle.clone();
        edit(&mut b);
        b.save(&path).unwrap();
        let e = msg(IntentModel::load(&path).unwrap_err());
        assert!(e.contains(needle), "expected {needle:?} in: {e}");
    };
    refused(
        &|b| b.params = serde_json::Value::Null,
        "no intent settings",
    );
    refused(
        &|b| b.params["format"] = "shopsense-intent-v9".into(),
        "shopsense-intent-v1",
    );
    refused(&|b| b.feature_spec["version"] = 2.into(), "version 2");
    refused(
        &|b| b.feature_spec["features"][0] = "n_teleports".into(),
        "n_teleports",
    );
    refused(&|b| b.feature_spec["colour"] = "blue".into(), "colour");
    refused(&|b| b.encoders["smoothing"] = 3.0.into(), "smoothing");
    refused(
        &|b| {
            if let Some(p) = b.probe.as_mut() {
                p.predictions[0] += 1e-9;
            }
        },
        "reproduce",
    );
    refused(
        &|b| b.format = "something-else".into(),
        "not a shopsense bundle",
    );

    out.bundle.save(&path).unwrap();
    let m = IntentModel::load(&path).unwrap();
    m.check_protocol(Protocol::Full).unwrap();
    let e = msg(m.check_protocol(Protocol::AtCart).unwrap_err());
    assert!(e.contains("full") && e.contains("at-cart"), "{e}");

    let e = msg("xgboost".parse::<ModelChoice>().unwrap_err());
    assert!(e.contains("xgboost") && e.contains("seed-rf"), "{e}");
    let bad = |cfg: TrainConfig, needle: &str| {
        let e = msg(shopsense_intent::train(&t, &s, &cfg, &Silent).unwrap_err());
        assert!(e.contains(needle), "expected {needle:?} in: {e}");
    };
    bad(
        TrainConfig {
            search_trials: 3,
            ..quick("full", "logistic")
        },
        "gbdt model only",
    );
    bad(
        TrainConfig {
            imbalance: ImbalanceChoice::Weights,
            ..quick("full", "seed-rf")
        },
        "seed-rf",
    );
    bad(
        TrainConfig {
            threshold: ThresholdRule::CostRatio { ratio: -1.0 },
            ..quick("full", "gbdt")
        },
        "cost ratio",
    );
    // A blend: no members, a member that is not a single family, a seed-rf member without
    // its columns.
    bad(
        TrainConfig {
            blend: vec![],
            ..quick("full", "blend")
        },
        "at least one member",
    );
    bad(
        TrainConfig {
            blend: vec![ModelChoice::Gbdt, ModelChoice::Auto],
            ..quick("full", "blend")
        },
        "auto cannot be a blend member",
    );
    bad(
        TrainConfig {
            features: Some(vec!["n_view".into(), "duration_s".into()]),
            ..quick("full", "blend")
        },
        "needs the feature `n_cart`",
    );
    bad(
        TrainConfig {
            features: Some(vec!["n_view".into(), "warp_speed".into()]),
            ..quick("full", "gbdt")
        },
        "warp_speed",
    );
    // Too little data for a split with both outcomes in training and validation.
    let mut tiny = t.clone();
    tiny.retain_rows(|i| i < 200);
    let ts = shopsense_sessions::Sessions::build(&tiny, &Default::default());
    let e = msg(shopsense_intent::train(&tiny, &ts, &quick("full", "gbdt"), &Silent).unwrap_err());
    assert!(e.contains("both outcomes") || e.contains("empty"), "{e}");
}

/// `--model auto` chooses without the test part: every candidate's recorded validation
/// metrics equal those of that family trained alone, every candidate is scored on the same
/// rolling-origin folds of the training part, the choice is the argmax of the mean PR-AUC
/// over folds and validation (ties: ROC-AUC), the test part and the bundle are exactly the
/// chosen family's alone run, and the bundle round-trips bit for bit.
#[test]
fn auto_chooses_on_validation_only_and_round_trips() {
    let (t, s) = rees46();
    let dir = tempfile::tempdir().unwrap();
    for protocol in ["full", "early-3"] {
        let cfg = TrainConfig {
            bootstrap_resamples: 0,
            ..quick(protocol, "auto")
        };
        let out = train(&t, &s, &cfg);
        let auto = out.summary.auto.clone().expect("auto choice recorded");
        let names: Vec<ModelChoice> = auto.candidates.iter().map(|c| c.model).collect();
        assert_eq!(names, ModelChoice::CANDIDATES.to_vec());
        // Three folds, the same blocks for every candidate, each with buyers.
        let blocks = |c: &shopsense_intent::AutoCandidate| -> Vec<(usize, usize)> {
            c.folds.iter().map(|f| (f.rows, f.positives)).collect()
        };
        let first = blocks(&auto.candidates[0]);
        assert_eq!(first.len(), cfg.cv_folds, "{protocol}: {auto:?}");
        assert!(first.iter().all(|&(n, p)| p > 0 && p < n), "{first:?}");
        for c in &auto.candidates {
            assert_eq!(blocks(c), first, "{protocol} {}", c.model);
        }
        // The argmax of the recorded metrics, computed here independently.
        let key = |c: &shopsense_intent::AutoCandidate| {
            let k = 1.0 + c.folds.len() as f64;
            let pr: f64 = c.folds.iter().map(|f| f.pr_auc.unwrap()).sum::<f64>();
            let roc: f64 = c.folds.iter().map(|f| f.roc_auc.unwrap()).sum::<f64>();
            (
                (pr + c.validation.pr_auc.unwrap()) / k,
                (roc + c.validation.roc_auc.unwrap()) / k,
            )
        };
        let mut best = &auto.candidates[0];
        for c in &auto.candidates[1..] {
            if key(c) > key(best) {
                best = c;
            }
        }
        assert_eq!(auto.chosen, best.model, "{protocol}: {auto:?}");
        assert_eq!(out.summary.model, auto.chosen);
        assert_eq!(out.summary.validation, best.validation);
        // Each candidate's validation numbers are those of the family trained alone, and the
        // chosen run is the alone run to the bit: nothing of the test part went into it.
        for c in &auto.candidates {
            let alone = train(&t, &s, &cfg.candidate(c.model));
            assert_eq!(
                alone.summary.validation, c.validation,
                "{protocol} {}",
                c.model
            );
            assert_eq!(alone.summary.n_features, c.n_features);
            assert!(c.seconds > 0.0);
            if c.model == auto.chosen {
                assert_eq!(bits(&alone.test_probs), bits(&out.test_probs));
                assert_eq!(alone.summary.model_version, out.summary.model_version);
                assert_eq!(alone.summary.test.metrics, out.summary.test.metrics);
            }
        }
        // The bundle records the choice and reproduces the saved predictions.
        let path = dir.path().join(format!("auto-{protocol}.bundle"));
        out.bundle.save(&path).unwrap();
        let m = IntentModel::load(&path).unwrap();
        assert_eq!(m.params.model, auto.chosen);
        assert_eq!(m.params.auto.as_ref(), Some(&auto));
        assert_eq!(m.version(), out.summary.model_version);
        let ev = evaluate(&m, &t, &s, EvalRows::Test, 0, &Silent).unwrap();
        assert_eq!(bits(&ev.probs), bits(&out.test_probs), "{protocol}");
    }
}

/// When the training part cannot make the folds (here: 60 folds of REES46 early-3, some
/// without a buyer), `auto` still trains and chooses on the validation part alone, for
/// every candidate alike.
#[test]
fn auto_without_folds_chooses_on_validation() {
    let (t, s) = rees46();
    let cfg = TrainConfig {
        bootstrap_resamples: 0,
        cv_folds: 60,
        ..quick("early-3", "auto")
    };
    let out = train(&t, &s, &cfg);
    let auto = out.summary.auto.expect("auto choice recorded");
    assert!(
        auto.candidates.iter().all(|c| c.folds.is_empty()),
        "{auto:?}"
    );
    let key = |c: &shopsense_intent::AutoCandidate| {
        (c.validation.pr_auc.unwrap(), c.validation.roc_auc.unwrap())
    };
    let best = auto
        .candidates
        .iter()
        .reduce(|a, b| if key(b) > key(a) { b } else { a })
        .unwrap();
    assert_eq!(auto.chosen, best.model);
}

#[test]
fn auto_choice_rule_breaks_ties_by_roc_auc_then_order() {
    use shopsense_intent::{choose_auto, AutoCandidate, Metrics};
    let (t, s) = rees46();
    let base = train(
        &t,
        &s,
        &TrainConfig {
            bootstrap_resamples: 0,
            ..quick("full", "logistic")
        },
    )
    .summary
    .validation;
    let cand = |model, pr: Option<f64>, roc: Option<f64>| AutoCandidate {
        model,
        n_features: 1,
        seconds: 1.0,
        validation: Metrics {
            pr_auc: pr,
            roc_auc: roc,
            ..base.clone()
        },
        folds: Vec::new(),
    };
    let (g, l, r) = (
        ModelChoice::Gbdt,
        ModelChoice::Logistic,
        ModelChoice::SeedRf,
    );
    let c = [
        cand(g, Some(0.2), Some(0.7)),
        cand(l, Some(0.3), Some(0.6)),
        cand(r, Some(0.25), Some(0.9)),
    ];
    assert_eq!(choose_auto(&c), Some(1));
    let c = [
        cand(g, Some(0.3), Some(0.7)),
        cand(l, Some(0.3), Some(0.8)),
        cand(r, Some(0.3), Some(0.8)),
    ];
    assert_eq!(choose_auto(&c), Some(1));
    let c = [
        cand(g, None, None),
        cand(l, Some(0.01), None),
        cand(r, Some(f64::NAN), Some(0.9)),
    ];
    assert_eq!(choose_auto(&c), Some(1));
    assert_eq!(choose_auto(&[]), None);
    // Fold scores count as much as the validation part: the best validation PR-AUC (gbdt,
    // 0.4) loses to a steadier candidate (logistic: mean of 0.3, 0.3, 0.3 = 0.3 against
    // gbdt's mean of 0.4, 0.1, 0.1 = 0.2); a missing fold metric is left out of the mean.
    let fold = |pr: Option<f64>| shopsense_intent::FoldScore {
        rows: 100,
        positives: 5,
        pr_auc: pr,
        roc_auc: Some(0.5),
    };
    let mut g_ = cand(g, Some(0.4), Some(0.7));
    g_.folds = vec![fold(Some(0.1)), fold(Some(0.1))];
    let mut l_ = cand(l, Some(0.3), Some(0.7));
    l_.folds = vec![fold(Some(0.3)), fold(None), fold(Some(0.3))];
    assert!((g_.selection_score().0 - 0.2).abs() < 1e-12);
    assert!((l_.selection_score().0 - 0.3).abs() < 1e-12);
    assert_eq!(choose_auto(&[g_.clone(), l_]), Some(1));
    assert_eq!(choose_auto(&[g_]), Some(0));
}

/// The blend on REES46 early-3 (the row where no single family beat the published seed-rf
/// with every seed): it holds its three members, is calibrated (Platt) even when no
/// calibration was asked for — its raw score is a ranking, which gave a test log-loss of 0.74
/// — and scores within the bounds of `bench/intent.sh` (5 seeds: ROC-AUC 0.661 – 0.695,
/// PR-AUC 0.255 – 0.348; bounds ≈ 3 sd around them, above the published 0.650 / 0.173 only
/// in the mean, as the 16-buyer test part allows).
#[test]
fn blend_on_rees46_early_3_is_calibrated_and_within_bounds() {
    let (t, s) = rees46();
    let cfg = TrainConfig {
        bootstrap_resamples: 0,
        ..quick("early-3", "blend")
    };
    assert_eq!(cfg.calibration, CalibrationMethod::None);
    let out = train(&t, &s, &cfg);
    assert_eq!(out.bundle.model_kind, shopsense_models::ModelKind::Blend);
    assert!(
        out.bundle.model_name.starts_with("blend(gbdt(")
            && out.bundle.model_name.contains("logistic(")
            && out.bundle.model_name.contains("seed-rf("),
        "{}",
        out.bundle.model_name
    );
    assert_eq!(
        out.bundle.calibrator.method(),
        CalibrationMethod::Platt,
        "a blend is always calibrated"
    );
    let m = &out.summary.test.metrics;
    assert_eq!((m.n, m.positives), (494, 16));
    let (roc, pr) = (m.roc_auc.unwrap(), m.pr_auc.unwrap());
    assert!((0.62..=0.75).contains(&roc), "test ROC-AUC {roc}");
    assert!((0.18..=0.45).contains(&pr), "test PR-AUC {pr}");
    // 16 buyers in 494: always predicting the base rate gives log-loss ≈ 0.142.
    assert!(m.log_loss < 0.2, "test log-loss {}", m.log_loss);
}
