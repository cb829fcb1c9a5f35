//! Hyperparameter search (resume = uninterrupted) and the saved bundle (load → predict
//! reproduces the saved predictions exactly).

use serde_json::json;
use shopsense_models::*;

#[test]
fn search_resume_gives_the_same_result() {
    let d = synth::binary(4_000, 6, 0.2, 31).unwrap();
    let folds = rolling_origin_folds(d.n_rows(), 2).unwrap();
    let base = GbdtParams {
        n_rounds: 40,
        early_stopping_rounds: Some(10),
        ..GbdtParams::default()
    };
    let space = GbdtSpace {
        num_leaves: (4, 31),
        min_data_in_leaf: (10, 100),
        ..GbdtSpace::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = |log: &str, stop: Option<usize>, resume: bool| SearchConfig {
        n_trials: 5,
        seed: 3,
        metric: ValidationMetric::AveragePrecision,
        max_seconds: None,
        log_path: Some(dir.path().join(log)),
        resume,
        stop_after_trials: stop,
    };
    let full = random_search(&d, &folds, &base, &space, &cfg("a.jsonl", None, false)).unwrap();
    assert_eq!(full.trials.len(), 5);
    assert_eq!(full.trials[0].params, base, "trial 0 is the base");
    let best = full
        .trials
        .iter()
        .map(|t| t.mean_score)
        .fold(f64::MIN, f64::max);
    assert_eq!(full.best_score, best);
    assert!(full.best_params.n_rounds >= 1 && full.best_params.n_rounds <= 40);

    let err =
        random_search(&d, &folds, &base, &space, &cfg("b.jsonl", Some(2), false)).unwrap_err();
    assert!(
        matches!(err, ModelError::Interrupted { rounds_done: 2 }),
        "{err}"
    );
    let resumed = random_search(&d, &folds, &base, &space, &cfg("b.jsonl", None, true)).unwrap();
    let strip = |r: &SearchResult| {
        let mut r = r.clone();
        r.trials.iter_mut().for_each(|t| t.seconds = 0.0);
        r
    };
    assert_eq!(strip(&resumed), strip(&full));
    // The log holds a header and one line per trial.
    let log = std::fs::read_to_string(dir.path().join("b.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 6);

    // Another seed must not reuse this log.
    let mut other = cfg("b.jsonl", None, true);
    other.seed = 4;
    let err = random_search(&d, &folds, &base, &space, &other).unwrap_err();
    assert!(
        matches!(err, ModelError::CheckpointMismatch { .. }),
        "{err}"
    );
}

#[test]
fn bundle_round_trip_reproduces_predictions_exactly() {
    let d = synth::binary(6_000, 8, 0.15, 32).unwrap();
    let tr: Vec<usize> = (0..4_000).collect();
    let va: Vec<usize> = (4_000..6_000).collect();
    let (train_set, valid_set) = (d.subset(&tr).unwrap(), d.subset(&va).unwrap());
    let params = GbdtParams {
        n_rounds: 80,
        ..GbdtParams::default()
    };
    let (model, log) = train_gbdt(&train_set, Some(&valid_set), &params, None).unwrap();
    let raw = model.predict_proba(valid_set.x().view()).unwrap();
    let cal = Calibrator::fit(CalibrationMethod::Isotonic, &raw, valid_set.labels()).unwrap();
    let calibrated = cal.apply_all(&raw);
    let choice =
        choose_threshold(&calibrated, valid_set.labels(), ThresholdObjective::MaxF1).unwrap();

    let mut b = Bundle::new(&model, train_set.fingerprint()).unwrap();
    b.feature_spec = json!({"columns": d.feature_names()});
    b.encoders = json!({"category": {"a": 0, "b": 1}});
    b.params = serde_json::to_value(&params).unwrap();
    b.metrics = json!({"best_iteration": log.best_iteration});
    b.calibrator = cal;
    b.threshold = choice.threshold;
    b.threshold_choice = Some(choice);
    let b = b.with_probe(valid_set.x().view(), 32).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.bundle.json");
    b.save(&path).unwrap();
    let loaded = LoadedBundle::load(&path).unwrap();
    assert_eq!(loaded.bundle, b, "every field survives");
    loaded.verify_probe().unwrap();
    let again = loaded.predict(valid_set.x().view()).unwrap();
    assert_eq!(again.len(), calibrated.len());
    assert!(again
        .iter()
        .zip(&calibrated)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    let decisions = loaded.decide(valid_set.x().view()).unwrap();
    assert_eq!(
        decisions.iter().filter(|&&x| x).count() as f64,
        loaded
            .bundle
            .threshold_choice
            .as_ref()
            .unwrap()
            .n_predicted_positive
    );
    assert_eq!(loaded.bundle.model_kind, ModelKind::Gbdt);
    assert!(loaded.bundle.data_fingerprint.starts_with("xxh3-128:"));

    // Same for the baselines.
    for m in [
        AnyModel::from(Logistic::fit(&train_set, &LogisticParams::default()).unwrap()),
        AnyModel::from(RandomForest::fit(&train_set, &ForestParams::seed_rf()).unwrap()),
    ] {
        let mut b = Bundle::new(&m, train_set.fingerprint()).unwrap();
        b.calibrator = Calibrator::Platt { a: 0.9, b: -0.1 };
        let b = b.with_probe(valid_set.x().view(), 16).unwrap();
        b.save(&path).unwrap();
        let l = LoadedBundle::load(&path).unwrap();
        l.verify_probe().unwrap();
        assert_eq!(l.bundle.model_kind, m.kind());
    }

    // A tampered probe is detected; garbage is refused.
    let mut bad = b.clone();
    if let Some(p) = bad.probe.as_mut() {
        p.predictions[0] += 1e-12;
    }
    assert!(LoadedBundle::from_bundle(bad)
        .unwrap()
        .verify_probe()
        .is_err());
    std::fs::write(&path, b"{}").unwrap();
    assert!(matches!(
        Bundle::load(&path),
        Err(ModelError::Format { .. })
    ));
}

#[test]
fn dataset_validation_and_fingerprint() {
    let x = Matrix::new(vec![1.0, 2.0, 3.0, 4.0], 2, 2).unwrap();
    assert!(Matrix::new(vec![1.0; 5], 2, 2).is_err());
    assert!(Dataset::new(x.clone(), vec!["a".into()], vec![0.0, 1.0], None).is_err());
    assert!(Dataset::new(x.clone(), vec!["a".into(), "b".into()], vec![0.0], None).is_err());
    assert!(Dataset::new(
        x.clone(),
        vec!["a".into(), "b".into()],
        vec![0.0, f32::NAN],
        None
    )
    .is_err());
    let d = Dataset::new(
        x.clone(),
        vec!["a".into(), "b".into()],
        vec![0.0, 1.0],
        None,
    )
    .unwrap();
    let e = Dataset::new(x, vec!["a".into(), "c".into()], vec![0.0, 1.0], None).unwrap();
    assert_ne!(d.fingerprint(), e.fingerprint());
    assert_eq!(d.fingerprint(), d.clone().fingerprint());
    let cm = Matrix::from_col_major(&[1.0, 3.0, 2.0, 4.0], 2, 2).unwrap();
    assert_eq!(cm.as_slice(), d.x().as_slice());
}
