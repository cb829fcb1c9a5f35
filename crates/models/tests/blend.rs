//! The blend: its score is the mean standardised log-odds of its members, it survives a
//! round trip through bytes and bundles bit for bit, and bad members or bytes are refused.

use shopsense_models::metric::roc_auc;
use shopsense_models::synth;
use shopsense_models::*;

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-7, 1.0 - 1e-7);
    (p / (1.0 - p)).ln()
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
    (m, var.sqrt())
}

/// Training rows, held-out rows, and three members: LightGBM on every column, logistic on
/// three of them, the forest on two (in another order).
fn setup() -> (Dataset, Dataset, Vec<AnyModel>) {
    let all = synth::binary(6_000, 6, 0.2, 7).unwrap();
    let idx: Vec<usize> = (0..4_000).collect();
    let rest: Vec<usize> = (4_000..6_000).collect();
    let train = all.subset(&idx).unwrap();
    let test = all.subset(&rest).unwrap();
    let names = train.feature_names().to_vec();
    let gbdt = train_gbdt(
        &train,
        None,
        &GbdtParams {
            n_rounds: 40,
            num_leaves: 7,
            learning_rate: 0.1,
            early_stopping_rounds: None,
            threads: 2,
            ..GbdtParams::default()
        },
        None,
    )
    .unwrap()
    .0;
    let lr_cols = vec![names[0].clone(), names[2].clone(), names[4].clone()];
    let logistic = Logistic::fit(
        &train.select_features(&lr_cols).unwrap(),
        &LogisticParams::default(),
    )
    .unwrap();
    let rf_cols = vec![names[3].clone(), names[1].clone()];
    let forest = RandomForest::fit(
        &train.select_features(&rf_cols).unwrap(),
        &ForestParams::seed_rf(),
    )
    .unwrap();
    (
        train,
        test,
        vec![gbdt.into(), logistic.into(), forest.into()],
    )
}

#[test]
fn blend_is_the_mean_standardised_log_odds_of_its_members() {
    let (train, test, members) = setup();
    let names = train.feature_names().to_vec();
    // Each member's own predictions, on its own columns.
    let own = |m: &AnyModel, d: &Dataset| -> Vec<f64> {
        let sub = d.select_features(m.feature_names()).unwrap();
        m.predict_proba(sub.x().view()).unwrap()
    };
    let stats: Vec<(f64, f64)> = members
        .iter()
        .map(|m| {
            let z: Vec<f64> = own(m, &train).into_iter().map(logit).collect();
            mean_sd(&z)
        })
        .collect();
    let per_member: Vec<Vec<f64>> = members.iter().map(|m| own(m, &test)).collect();
    let blend = Blend::new(names.clone(), members, train.x().view()).unwrap();
    assert_eq!(blend.kind(), ModelKind::Blend);
    assert_eq!(blend.members().count(), 3);
    assert!(blend.name().starts_with("blend(gbdt("), "{}", blend.name());
    let got = blend.predict_proba(test.x().view()).unwrap();
    for (r, g) in got.iter().enumerate() {
        let z: f64 = per_member
            .iter()
            .zip(&stats)
            .map(|(p, (m, s))| (logit(p[r]) - m) / s)
            .sum::<f64>()
            / 3.0;
        let want = 1.0 / (1.0 + (-z).exp());
        assert!((g - want).abs() < 1e-12, "row {r}: {g} vs {want}");
    }
    // Every member learned something, and so did the blend.
    let auc = roc_auc(test.labels(), &got, None).unwrap();
    assert!(auc > 0.7, "blend ROC-AUC {auc}");
    // Importance: each member's shares sum to 1, averaged over three members.
    let imp = blend.feature_importance();
    assert_eq!(imp.len(), names.len());
    let total: f64 = imp.iter().map(|(_, v)| v).sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");
    // Column 5 is read by the GBDT alone.
    assert!(imp[5].1 <= 1.0 / 3.0 + 1e-12);
}

#[test]
fn a_blend_of_one_model_ranks_like_it() {
    let (train, test, mut members) = setup();
    let lr = members.remove(1);
    let sub = test.select_features(lr.feature_names()).unwrap();
    let alone = lr.predict_proba(sub.x().view()).unwrap();
    let blend = Blend::new(train.feature_names().to_vec(), vec![lr], train.x().view()).unwrap();
    let b = blend.predict_proba(test.x().view()).unwrap();
    let order = |v: &[f64]| {
        let mut i: Vec<usize> = (0..v.len()).collect();
        i.sort_by(|&a, &c| v[a].total_cmp(&v[c]).then(a.cmp(&c)));
        i
    };
    assert_eq!(order(&alone), order(&b));
}

#[test]
fn blend_round_trips_through_bytes_and_bundles_exactly() {
    let (train, test, members) = setup();
    let blend = Blend::new(train.feature_names().to_vec(), members, train.x().view()).unwrap();
    let p = blend.predict_proba(test.x().view()).unwrap();
    let any: AnyModel = blend.into();
    let bytes = any.to_bytes().unwrap();
    let back = AnyModel::from_kind_bytes(ModelKind::Blend, &bytes).unwrap();
    let q = back.predict_proba(test.x().view()).unwrap();
    assert!(p.iter().zip(&q).all(|(a, b)| a.to_bits() == b.to_bits()));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blend.bundle.json");
    let bundle = Bundle::new(&any, "fp").unwrap();
    bundle.save(&path).unwrap();
    let loaded = LoadedBundle::load(&path).unwrap();
    assert_eq!(loaded.bundle.model_kind, ModelKind::Blend);
    let r = loaded.model.predict_proba(test.x().view()).unwrap();
    assert!(p.iter().zip(&r).all(|(a, b)| a.to_bits() == b.to_bits()));
    assert_eq!("blend".parse::<ModelKind>().unwrap(), ModelKind::Blend);
}

#[test]
fn bad_members_and_bytes_are_refused() {
    let (train, _, members) = setup();
    let names = train.feature_names().to_vec();
    // No members.
    assert!(Blend::new(names.clone(), vec![], train.x().view()).is_err());
    // A member reading a column the blend lacks.
    let short: Vec<String> = names[..3].to_vec();
    let x = train.select_features(&short).unwrap();
    let e = Blend::new(short, members, x.x().view()).unwrap_err();
    assert!(e.to_string().contains(&names[3]), "{e}");
    // The wrong number of reference columns.
    let (train, _, members) = setup();
    let sub = train.select_features(&names[..2]).unwrap();
    assert!(Blend::new(names.clone(), members, sub.x().view()).is_err());
    // Corrupted bytes: a nested blend, a zero scale, not JSON.
    let (train, _, members) = setup();
    let blend = Blend::new(names, members, train.x().view()).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&blend.to_bytes().unwrap()).unwrap();
    let mut nested = v.clone();
    nested["members"][0]["kind"] = "blend".into();
    let e = Blend::from_bytes(&serde_json::to_vec(&nested).unwrap()).unwrap_err();
    assert!(e.to_string().contains("nested"), "{e}");
    let mut zero = v.clone();
    zero["members"][1]["scale"] = 0.0.into();
    let e = Blend::from_bytes(&serde_json::to_vec(&zero).unwrap()).unwrap_err();
    assert!(e.to_string().contains("standardisation"), "{e}");
    let mut moved = v;
    moved["members"][2]["columns"] = serde_json::json!([0, 1]);
    assert!(Blend::from_bytes(&serde_json::to_vec(&moved).unwrap()).is_err());
    assert!(Blend::from_bytes(b"{\"feature_names\": [").is_err());
}

/// `predict_one` of a row gives the bits `predict_proba` gives that row in a matrix, for
/// every family (logistic overrides it; the others go through a one-row matrix), with a
/// missing value too; a row of the wrong length is refused.
#[test]
fn predict_one_equals_predict_proba_to_the_bit() {
    let (_, test, members) = setup();
    for m in &members {
        let data = test.select_features(m.feature_names()).unwrap();
        let x = data.x().view();
        let all = m.predict_proba(x).unwrap();
        for (i, &p) in all.iter().enumerate().take(300) {
            let one = m.predict_one(x.row(i)).unwrap();
            assert_eq!(one.to_bits(), p.to_bits(), "{} row {i}", m.name());
        }
        let mut row = x.row(0).to_vec();
        row[0] = f32::NAN;
        let matrix = Matrix::new(row.clone(), 1, row.len()).unwrap();
        let p = m.predict_proba(matrix.view()).unwrap()[0];
        assert_eq!(m.predict_one(&row).unwrap().to_bits(), p.to_bits());
        row.push(1.0);
        let err = m.predict_one(&row).unwrap_err().to_string();
        assert!(err.contains("features"), "{err}");
    }
}
