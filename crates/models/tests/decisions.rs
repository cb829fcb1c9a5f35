//! Imbalance helpers, calibration (checked against scikit-learn), thresholds and folds.

use shopsense_models::metric::log_loss;
use shopsense_models::*;

const Y: [f32; 20] = [
    0., 1., 1., 0., 1., 0., 0., 1., 1., 0., 0., 0., 1., 0., 1., 0., 0., 1., 0., 0.,
];
const P: [f64; 20] = [
    0.1, 0.8, 0.6, 0.3, 0.6, 0.2, 0.05, 0.9, 0.4, 0.4, 0.6, 0.15, 0.7, 0.35, 0.55, 0.0, 0.3, 0.95,
    0.5, 1.0,
];

#[test]
fn undersample_keeps_every_positive_and_one_negative_each() {
    let d = synth::binary(10_000, 4, 0.05, 21).unwrap();
    let pos = d.n_positive();
    let u = undersample(&d, 1.0, 9).unwrap();
    assert_eq!(u.n_positive(), pos);
    assert_eq!(u.n_rows(), 2 * pos);
    assert_eq!(undersample(&d, 1.0, 9).unwrap(), u, "seeded");
    assert_ne!(
        undersample(&d, 1.0, 10).unwrap(),
        u,
        "another seed, another sample"
    );
    let idx = imbalance::undersample_indices(d.labels(), 3.0, 9).unwrap();
    assert_eq!(idx.len(), 4 * pos);
    assert!(idx.windows(2).all(|w| w[0] < w[1]), "time order kept");
    assert!(undersample(&d, 0.0, 1).is_err());
}

#[test]
fn class_weights_are_balanced_like_scikit_learn() {
    // 8 positives, 12 negatives → n / (2 n_c).
    let (w0, w1) = balanced_class_weights(&Y).unwrap();
    assert!((w0 - 20.0 / 24.0).abs() < 1e-12 && (w1 - 20.0 / 16.0).abs() < 1e-12);
    let d = Dataset::new(
        Matrix::new(P.iter().map(|&v| v as f32).collect(), 20, 1).unwrap(),
        vec!["p".into()],
        Y.to_vec(),
        None,
    )
    .unwrap();
    let wd = apply_class_weights(&d, ClassWeight::Balanced).unwrap();
    let total: f64 = (0..20).map(|i| wd.weight(i)).sum();
    assert!((total - 20.0).abs() < 1e-5);
    match (Imbalance::Undersample {
        ratio: 1.0,
        seed: 1,
    })
    .apply(&d)
    .unwrap()
    {
        std::borrow::Cow::Owned(u) => assert_eq!(u.n_rows(), 16),
        std::borrow::Cow::Borrowed(_) => panic!("undersampling must copy"),
    }
}

#[test]
fn isotonic_matches_scikit_learn() {
    let c = Calibrator::fit_isotonic(&P, &Y).unwrap();
    let q = [0.0, 0.12, 0.33, 0.45, 0.58, 0.65, 0.85, 1.0, -0.5, 1.5];
    let want = [
        0.0,
        0.0,
        0.0,
        0.3333333333333333,
        0.75,
        0.775,
        0.8,
        0.8,
        0.0,
        0.8,
    ];
    for (x, e) in q.iter().zip(want) {
        let g = c.apply(*x);
        assert!((g - e).abs() < 1e-12, "iso({x}) = {g}, sklearn {e}");
    }
    let all = c.apply_all(&P);
    let mut sorted: Vec<(f64, f64)> = P.iter().copied().zip(all).collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(sorted.windows(2).all(|w| w[0].1 <= w[1].1), "monotone");
}

#[test]
fn platt_matches_scikit_learn_and_reduces_log_loss() {
    // sklearn.calibration._sigmoid_calibration on logit(clip(p, 1e-15)), sign-flipped.
    let Calibrator::Platt { a, b } = Calibrator::fit_platt(&P, &Y).unwrap() else {
        panic!("platt expected");
    };
    assert!((a - 0.013007971682359346).abs() < 1e-5, "a {a}");
    assert!((b - -0.39381929520096065).abs() < 1e-5, "b {b}");

    // Over-confident scores get better log-loss after calibration.
    let d = synth::binary(4_000, 6, 0.2, 22).unwrap();
    let raw: Vec<f64> = (0..4_000)
        .map(|i| if d.labels()[i] == 1.0 { 0.7 } else { 0.3 } * 0.5 + if i % 3 == 0 { 0.5 } else { 0.0 })
        .collect();
    let cal = Calibrator::fit(CalibrationMethod::Platt, &raw, d.labels()).unwrap();
    let before = log_loss(d.labels(), &raw, None).unwrap();
    let after = log_loss(d.labels(), &cal.apply_all(&raw), None).unwrap();
    assert!(after < before, "{after} !< {before}");
    let json = serde_json::to_string(&cal).unwrap();
    assert_eq!(serde_json::from_str::<Calibrator>(&json).unwrap(), cal);
}

#[test]
fn threshold_max_f1_and_cost_ratio() {
    let c = choose_threshold(&P, &Y, ThresholdObjective::MaxF1).unwrap();
    // Brute force over every candidate threshold.
    let f1_at = |t: f64| {
        let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
        for (p, y) in P.iter().zip(Y) {
            match (*p >= t, y == 1.0) {
                (true, true) => tp += 1.0,
                (true, false) => fp += 1.0,
                (false, true) => fn_ += 1.0,
                _ => {}
            }
        }
        2.0 * tp / (2.0 * tp + fp + fn_)
    };
    let best = P.iter().map(|&t| f1_at(t)).fold(0.0, f64::max);
    assert!((c.f1 - best).abs() < 1e-12);
    assert!((f1_at(c.threshold) - best).abs() < 1e-12);
    assert_eq!(c.threshold, 0.55);

    let cheap = choose_threshold(&P, &Y, ThresholdObjective::MinCost { fn_fp_ratio: 0.2 }).unwrap();
    let dear = choose_threshold(&P, &Y, ThresholdObjective::MinCost { fn_fp_ratio: 20.0 }).unwrap();
    assert!(dear.threshold < cheap.threshold);
    assert_eq!(dear.recall, 1.0, "missing a buyer costs 20× an alert");
    assert!(choose_threshold(&P, &Y, ThresholdObjective::MinCost { fn_fp_ratio: -1.0 }).is_err());
}

#[test]
fn rolling_origin_folds_move_forward_in_time() {
    let folds = rolling_origin_folds(100, 4).unwrap();
    assert_eq!(folds.len(), 4);
    for (i, (tr, va)) in folds.iter().enumerate() {
        assert_eq!(tr.len(), 20 * (i + 1));
        assert_eq!(va.len(), 20);
        assert_eq!(
            *tr.last().unwrap() + 1,
            va[0],
            "validation follows training"
        );
    }
    assert_eq!(*folds[3].1.last().unwrap(), 99);
    assert!(rolling_origin_folds(3, 5).is_err());
}
