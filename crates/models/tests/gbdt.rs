//! LightGBM GBDT: learning, determinism, bit-identical reload, early stopping, class
//! weighting, multi-class, and checkpoint/resume equivalence.

use shopsense_models::metric::roc_auc;
use shopsense_models::synth;
use shopsense_models::*;

fn split(d: &Dataset, n_train: usize) -> (Dataset, Dataset) {
    let tr: Vec<usize> = (0..n_train).collect();
    let va: Vec<usize> = (n_train..d.n_rows()).collect();
    (d.subset(&tr).unwrap(), d.subset(&va).unwrap())
}

fn small_params() -> GbdtParams {
    GbdtParams {
        n_rounds: 60,
        num_leaves: 15,
        learning_rate: 0.1,
        early_stopping_rounds: None,
        ..GbdtParams::default()
    }
}

#[test]
fn gbdt_learns_and_beats_chance() {
    let d = synth::binary(12_000, 10, 0.2, 1).unwrap();
    let (tr, va) = split(&d, 9_000);
    let m = Gbdt::fit(&tr, &small_params()).unwrap();
    let p = m.predict_proba(va.x().view()).unwrap();
    assert_eq!(p.len(), 3_000);
    assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
    let auc = roc_auc(va.labels(), &p, None).unwrap();
    assert!(auc > 0.75, "auc {auc}");
    assert_eq!(m.n_iterations(), 60);
    let imp = m.feature_importance();
    assert_eq!(imp.len(), 10);
    // Column 0 carries the strongest signal.
    let top = imp.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    assert_eq!(top.0, "f0");
}

#[test]
fn gbdt_is_deterministic_and_reload_is_bit_identical() {
    let d = synth::binary(5_000, 8, 0.3, 2).unwrap();
    let params = GbdtParams {
        bagging_fraction: 0.8,
        bagging_freq: 1,
        feature_fraction: 0.7,
        ..small_params()
    };
    let a = Gbdt::fit(&d, &params).unwrap();
    let b = Gbdt::fit(&d, &params).unwrap();
    assert_eq!(
        a.text(),
        b.text(),
        "same seed and threads → same model text"
    );

    let pa = a.predict_proba(d.x().view()).unwrap();
    let back = Gbdt::from_bytes(&a.to_bytes().unwrap()).unwrap();
    let pb = back.predict_proba(d.x().view()).unwrap();
    assert!(pa.iter().zip(&pb).all(|(x, y)| x.to_bits() == y.to_bits()));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.txt");
    a.save(&path).unwrap();
    let loaded = Gbdt::load(&path).unwrap();
    let pc = loaded.predict_proba(d.x().view()).unwrap();
    assert!(pa.iter().zip(&pc).all(|(x, y)| x.to_bits() == y.to_bits()));
    assert_eq!(loaded.feature_names(), d.feature_names());
}

#[test]
fn gbdt_early_stopping_keeps_best_round() {
    let d = synth::binary(6_000, 8, 0.2, 3).unwrap();
    let (tr, va) = split(&d, 4_000);
    let params = GbdtParams {
        n_rounds: 400,
        learning_rate: 0.3,
        num_leaves: 63,
        min_data_in_leaf: 5,
        early_stopping_rounds: Some(10),
        ..GbdtParams::default()
    };
    let (m, log) = train_gbdt(&tr, Some(&va), &params, None).unwrap();
    assert!(
        log.rounds_trained < 400,
        "overfitting setup must stop early"
    );
    assert_eq!(log.rounds_trained, log.best_iteration + 10);
    assert_eq!(m.n_iterations(), log.best_iteration);
    assert_eq!(log.valid_history.len(), log.rounds_trained);
    let best = log.valid_history[log.best_iteration - 1];
    assert_eq!(Some(best), log.best_score);
    assert!(log.valid_history.iter().all(|&v| v >= best));
}

#[test]
fn gbdt_class_weighting_raises_positive_scores() {
    let d = synth::binary(5_000, 8, 0.1, 4).unwrap();
    let plain = Gbdt::fit(&d, &small_params()).unwrap();
    let weighted = Gbdt::fit(
        &d,
        &GbdtParams {
            class_weighting: ClassWeighting::ScalePosWeight(9.0),
            ..small_params()
        },
    )
    .unwrap();
    let unb = Gbdt::fit(
        &d,
        &GbdtParams {
            class_weighting: ClassWeighting::IsUnbalance,
            ..small_params()
        },
    )
    .unwrap();
    let mean = |m: &Gbdt| {
        let p = m.predict_proba(d.x().view()).unwrap();
        p.iter().sum::<f64>() / p.len() as f64
    };
    let (a, b, c) = (mean(&plain), mean(&weighted), mean(&unb));
    assert!(a < 0.15 && b > 2.0 * a && c > 2.0 * a, "{a} {b} {c}");
}

#[test]
fn gbdt_multiclass_probabilities_sum_to_one() {
    let d = synth::multiclass(4_000, 6, 3, 5).unwrap();
    let params = GbdtParams {
        n_classes: 3,
        ..small_params()
    };
    let m = Gbdt::fit(&d, &params).unwrap();
    assert_eq!(m.n_classes(), 3);
    let p = m.predict_proba_multi(d.x().view()).unwrap();
    assert_eq!(p.len(), 4_000 * 3);
    for row in p.chunks(3) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }
    assert!(matches!(
        m.predict_proba(d.x().view()),
        Err(ModelError::Unsupported(_))
    ));
    // Accuracy well above the 1/3 of chance.
    let acc = p
        .chunks(3)
        .zip(d.labels())
        .filter(|(r, &l)| {
            let arg = (0..3).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap();
            arg as f32 == l
        })
        .count() as f64
        / 4_000.0;
    assert!(acc > 0.5, "accuracy {acc}");
}

#[test]
fn gbdt_rejects_bad_input() {
    let d = synth::binary(200, 4, 0.3, 6).unwrap();
    let bad = GbdtParams {
        learning_rate: -1.0,
        ..small_params()
    };
    assert!(matches!(Gbdt::fit(&d, &bad), Err(ModelError::Param { .. })));
    let m = Gbdt::fit(&d, &small_params()).unwrap();
    let wrong = Matrix::new(vec![0.0; 10], 2, 5).unwrap();
    assert!(matches!(
        m.predict_proba(wrong.view()),
        Err(ModelError::Shape(_))
    ));
    assert!(Gbdt::from_bytes(b"not a model").is_err());
}

#[test]
fn gbdt_checkpoint_resume_gives_the_same_model() {
    let d = synth::binary(6_000, 8, 0.2, 7).unwrap();
    let (tr, va) = split(&d, 4_500);
    let params = GbdtParams {
        n_rounds: 50,
        chunk_rounds: Some(10),
        early_stopping_rounds: Some(20),
        bagging_fraction: 0.8,
        bagging_freq: 1,
        feature_fraction: 0.8,
        ..small_params()
    };
    let dir = tempfile::tempdir().unwrap();
    let ck = |name: &str, stop: Option<usize>, resume: bool| Checkpointing {
        path: dir.path().join(name),
        resume,
        stop_after_chunks: stop,
    };

    let (full, full_log) =
        train_gbdt(&tr, Some(&va), &params, Some(&ck("a.json", None, false))).unwrap();

    // "Kill" after 2 chunks (20 rounds), then again after 1 more, then finish.
    let err = train_gbdt(&tr, Some(&va), &params, Some(&ck("b.json", Some(2), true))).unwrap_err();
    assert!(
        matches!(err, ModelError::Interrupted { rounds_done: 20 }),
        "{err}"
    );
    let err = train_gbdt(&tr, Some(&va), &params, Some(&ck("b.json", Some(1), true))).unwrap_err();
    assert!(
        matches!(err, ModelError::Interrupted { rounds_done: 30 }),
        "{err}"
    );
    let (resumed, log) =
        train_gbdt(&tr, Some(&va), &params, Some(&ck("b.json", None, true))).unwrap();
    assert_eq!(log.resumed_rounds, 30);
    assert_eq!(resumed.text(), full.text());
    assert_eq!(log.valid_history, full_log.valid_history);
    let p1 = full.predict_proba(va.x().view()).unwrap();
    let p2 = resumed.predict_proba(va.x().view()).unwrap();
    assert!(p1.iter().zip(&p2).all(|(a, b)| a.to_bits() == b.to_bits()));

    // Chunked training still learns like one-shot training.
    let auc = roc_auc(va.labels(), &p1, None).unwrap();
    assert!(auc > 0.75, "auc {auc}");

    // A checkpoint of other parameters is refused.
    let other = GbdtParams {
        num_leaves: 7,
        ..params.clone()
    };
    let err = train_gbdt(&tr, Some(&va), &other, Some(&ck("b.json", None, true))).unwrap_err();
    assert!(
        matches!(err, ModelError::CheckpointMismatch { .. }),
        "{err}"
    );
}

/// Rows with the awkward values: NaN, ±0, values inside LightGBM's zero band, huge.
fn awkward(d: &Dataset) -> Matrix {
    let p = d.n_features();
    let mut v = d.x().as_slice()[..2_000 * p].to_vec();
    for (i, x) in v.iter_mut().enumerate() {
        match i % 17 {
            0 => *x = f32::NAN,
            3 => *x = 0.0,
            5 => *x = -0.0,
            7 => *x = 1e-36,
            11 => *x = -1e-38,
            13 => *x = 3e38,
            _ => {}
        }
    }
    Matrix::new(v, 2_000, p).unwrap()
}

#[test]
fn native_scorer_is_bit_identical_to_lightgbm() {
    let d = synth::binary(6_000, 9, 0.2, 8).unwrap();
    let mut zero_missing = small_params();
    zero_missing
        .extra
        .insert("zero_as_missing".into(), "true".into());
    // 15 leaves: the QuickScorer path; 100 leaves (more than its 64-bit masks hold): the
    // lockstep tree walk.
    let wide = GbdtParams {
        num_leaves: 100,
        n_rounds: 20,
        min_data_in_leaf: 5,
        ..small_params()
    };
    for (params, scorer) in [
        (small_params(), "quickscorer"),
        (zero_missing, "quickscorer"),
        (wide, "tree-walk"),
    ] {
        let m = Gbdt::fit(&d, &params).unwrap();
        assert_eq!(m.native_scorer(), Some(scorer));
        for x in [d.x().clone(), awkward(&d)] {
            let native = m.predict_proba(x.view()).unwrap();
            let lgbm = m.predict_lightgbm(x.view()).unwrap();
            assert_eq!(native.len(), lgbm.len());
            for (i, (a, b)) in native.iter().zip(&lgbm).enumerate() {
                assert_eq!(a.to_bits(), b.to_bits(), "row {i}: {a} vs {b}");
            }
        }
    }
    let mc = synth::multiclass(3_000, 6, 3, 9).unwrap();
    let m = Gbdt::fit(
        &mc,
        &GbdtParams {
            n_classes: 3,
            ..small_params()
        },
    )
    .unwrap();
    assert!(m.uses_native_scorer());
    let x = awkward(&synth::multiclass(2_000, 6, 3, 10).unwrap());
    let native = m.predict_proba_multi(x.view()).unwrap();
    let lgbm = m.predict_lightgbm(x.view()).unwrap();
    assert!(native
        .iter()
        .zip(&lgbm)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
}
