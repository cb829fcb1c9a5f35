//! Logistic regression (checked against scikit-learn) and the seed-rf reference forest.

use shopsense_models::metric::roc_auc;
use shopsense_models::synth;
use shopsense_models::*;

/// The 80 × 3 deterministic data set also built in Python for the reference numbers.
fn lr_data() -> Dataset {
    let n = 80;
    let mut x = Vec::new();
    let mut y = Vec::new();
    for k in 0..n {
        let kf = k as f64;
        let x1 = kf.sin() as f32;
        let x2 = ((2.0 * kf).cos() * 3.0 + 1.0) as f32;
        let x3 = ((k % 7) as f32) - 3.0;
        x.extend_from_slice(&[x1, x2, x3]);
        let s = (kf * 1.3).sin() + 0.8 * f64::from(x1) - 0.3 * f64::from(x3);
        y.push(if s > 0.1 { 1.0 } else { 0.0 });
    }
    Dataset::new(
        Matrix::new(x, n, 3).unwrap(),
        vec!["a".into(), "b".into(), "c".into()],
        y,
        None,
    )
    .unwrap()
}

#[test]
fn logistic_matches_scikit_learn() {
    let d = lr_data();
    assert_eq!(d.n_positive(), 36, "same labels as the Python reference");
    // sklearn: LogisticRegression(C = 1 / (l2 · n)) on (X − mean) / std.
    let params = LogisticParams {
        l2: 0.05,
        ..LogisticParams::default()
    };
    let m = Logistic::fit(&d, &params).unwrap();
    let (b, w) = m.coefficients();
    let want = [0.863827644428526, -0.18319338395194126, -1.0301547520870835];
    for (g, e) in w.iter().zip(want) {
        assert!((g - e).abs() < 1e-6, "{g} vs {e}");
    }
    assert!((b - -0.2630416189723308).abs() < 1e-6, "{b}");

    let balanced = Logistic::fit(
        &d,
        &LogisticParams {
            l2: 0.05,
            class_weight: ClassWeight::Balanced,
            ..LogisticParams::default()
        },
    )
    .unwrap();
    let (b, w) = balanced.coefficients();
    let want = [
        0.8665957712093483,
        -0.17990015753802557,
        -1.0361549985044998,
    ];
    for (g, e) in w.iter().zip(want) {
        assert!((g - e).abs() < 1e-6, "{g} vs {e}");
    }
    assert!((b - -0.08361333077024401).abs() < 1e-6, "{b}");
}

#[test]
fn logistic_learns_and_reloads_bit_identically() {
    let d = synth::binary(8_000, 10, 0.2, 11).unwrap();
    let m = Logistic::fit(&d, &LogisticParams::default()).unwrap();
    let p = m.predict_proba(d.x().view()).unwrap();
    let auc = roc_auc(d.labels(), &p, None).unwrap();
    assert!(auc > 0.7, "auc {auc}");
    let back = Logistic::from_bytes(&m.to_bytes().unwrap()).unwrap();
    let q = back.predict_proba(d.x().view()).unwrap();
    assert!(p.iter().zip(&q).all(|(a, b)| a.to_bits() == b.to_bits()));
    assert_eq!(m.feature_importance().len(), 10);
    assert_eq!(m.kind(), ModelKind::Logistic);
}

#[test]
fn seed_rf_is_the_reference_configuration() {
    let d = synth::binary(10_000, 12, 0.05, 12).unwrap();
    let params = ForestParams::seed_rf();
    assert_eq!(
        (
            params.n_trees,
            params.max_depth,
            params.bootstrap,
            params.undersample_ratio
        ),
        (20, 5, true, Some(1.0))
    );
    let m = RandomForest::fit(&d, &params).unwrap();
    assert_eq!(m.n_trees(), 20);
    assert!(m.depth() <= 5 && m.depth() >= 3, "depth {}", m.depth());
    let p = m.predict_proba(d.x().view()).unwrap();
    // Trained on 1:1 data: scores are centred far above the 5 % base rate.
    let mean = p.iter().sum::<f64>() / p.len() as f64;
    assert!(mean > 0.25, "mean {mean}");
    let auc = roc_auc(d.labels(), &p, None).unwrap();
    assert!(auc > 0.7, "auc {auc}");
    let imp = m.feature_importance();
    assert!((imp.iter().map(|v| v.1).sum::<f64>() - 1.0).abs() < 1e-9);

    let again = RandomForest::fit(&d, &params).unwrap();
    assert_eq!(again, m, "seeded → identical forest");
    let back = RandomForest::from_bytes(&m.to_bytes().unwrap()).unwrap();
    let q = back.predict_proba(d.x().view()).unwrap();
    assert!(p.iter().zip(&q).all(|(a, b)| a.to_bits() == b.to_bits()));
    assert_eq!(m.name(), "seed-rf(20 trees, depth 5)");
}

#[test]
fn any_model_dispatches_by_kind() {
    let d = synth::binary(2_000, 5, 0.3, 13).unwrap();
    let models: Vec<AnyModel> = vec![
        Logistic::fit(&d, &LogisticParams::default())
            .unwrap()
            .into(),
        RandomForest::fit(&d, &ForestParams::seed_rf())
            .unwrap()
            .into(),
    ];
    for m in &models {
        let bytes = m.to_bytes().unwrap();
        let back = AnyModel::from_kind_bytes(m.kind(), &bytes).unwrap();
        let a = m.predict_proba(d.x().view()).unwrap();
        let b = back.predict_proba(d.x().view()).unwrap();
        assert_eq!(a, b);
        let multi = m.predict_proba_multi(d.x().view()).unwrap();
        assert_eq!(multi.len(), 2 * d.n_rows());
        assert_eq!(multi[1], a[0]);
    }
    assert!("seed-rf".parse::<ModelKind>().is_ok());
    assert!("xgboost".parse::<ModelKind>().is_err());
}
