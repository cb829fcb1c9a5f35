//! Metrics against numbers computed once with scikit-learn 1.9.1 on fixed small vectors
//! (the script is in crates/eval/README.md).

use shopsense_eval::*;

const Y: [f32; 20] = [
    0., 1., 1., 0., 1., 0., 0., 1., 1., 0., 0., 0., 1., 0., 1., 0., 0., 1., 0., 0.,
];
const P: [f64; 20] = [
    0.1, 0.8, 0.6, 0.3, 0.6, 0.2, 0.05, 0.9, 0.4, 0.4, 0.6, 0.15, 0.7, 0.35, 0.55, 0.0, 0.3, 0.95,
    0.5, 1.0,
];
const W: [f64; 20] = [
    1., 2., 1., 1., 0.5, 1., 3., 1., 1., 1., 2., 1., 1., 1., 1., 0.5, 1., 1., 1., 2.,
];
const TOL: f64 = 1e-9;

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < TOL, "{a} vs scikit-learn {b}");
}

#[test]
fn ranking_metrics_match_scikit_learn() {
    close(roc_auc(&Y, &P, None).unwrap(), 0.8697916666666667);
    close(roc_auc(&Y, &P, Some(&W)).unwrap(), 0.8178368121442126);
    close(average_precision(&Y, &P, None).unwrap(), 0.7076388888888888);
    close(
        average_precision(&Y, &P, Some(&W)).unwrap(),
        0.5938711316610602,
    );
}

#[test]
fn probability_metrics_match_scikit_learn() {
    // p = 0 and p = 1 on wrong labels exercise the clipping.
    close(log_loss(&Y, &P, None).unwrap(), 2.15613086528023);
    close(log_loss(&Y, &P, Some(&W)).unwrap(), 3.339703281450093);
    close(brier(&Y, &P, None).unwrap(), 0.15862500000000002);
}

#[test]
fn threshold_metrics_match_scikit_learn() {
    let a = AtThreshold::compute(&Y, &P, 0.5).unwrap();
    close(a.precision, 0.7);
    close(a.recall, 0.875);
    close(a.f1, 0.7777777777777778);
    assert_eq!(a.confusion.matrix(), [[9, 3], [1, 7]]);
}

#[test]
fn reliability_curve_matches_calibration_curve() {
    let bins = reliability_curve(&Y, &P, 5).unwrap();
    let t = [0.0, 0.2, 0.6, 1.0, 0.6666666666666666];
    let p = [0.1, 0.35000000000000003, 0.57, 0.75, 0.9500000000000001];
    assert_eq!(bins.len(), 5);
    for (k, b) in bins.iter().enumerate() {
        close(b.fraction_positive, t[k]);
        close(b.mean_predicted, p[k]);
    }
    assert_eq!(bins.iter().map(|b| b.count).sum::<u64>(), 20);
}

#[test]
fn roc_curve_has_one_point_per_distinct_score() {
    // sklearn.roc_curve(drop_intermediate=False) has 17 points: 16 distinct scores + origin.
    let roc = roc_curve(&Y, &P).unwrap();
    assert_eq!(roc.len(), 17);
    assert_eq!((roc[0].fpr, roc[0].tpr), (0.0, 0.0));
    assert_eq!((roc[16].fpr, roc[16].tpr), (1.0, 1.0));
    // Trapezoids over the curve give the AUC.
    let area: f64 = roc
        .windows(2)
        .map(|w| (w[1].fpr - w[0].fpr) * (w[1].tpr + w[0].tpr) / 2.0)
        .sum();
    close(area, 0.8697916666666667);
    let pr = pr_curve(&Y, &P).unwrap();
    assert_eq!(pr.last().unwrap().recall, 1.0);
}

#[test]
fn multiclass_metrics_match_scikit_learn() {
    let y = [0usize, 1, 2, 2, 1, 0, 0, 2, 1, 1, 0, 2, 2, 1, 0];
    let probs = [
        [0.7, 0.2, 0.1],
        [0.2, 0.3, 0.5],
        [0.1, 0.2, 0.7],
        [0.2, 0.5, 0.3],
        [0.1, 0.8, 0.1],
        [0.6, 0.3, 0.1],
        [0.3, 0.4, 0.3],
        [0.05, 0.15, 0.8],
        [0.2, 0.6, 0.2],
        [0.5, 0.4, 0.1],
        [0.9, 0.05, 0.05],
        [0.1, 0.1, 0.8],
        [0.4, 0.3, 0.3],
        [0.3, 0.6, 0.1],
        [0.8, 0.1, 0.1],
    ];
    let flat: Vec<f64> = probs.iter().flatten().copied().collect();
    let m = multiclass_metrics(&y, &flat, 3, None).unwrap();
    assert_eq!(
        m.confusion,
        vec![vec![4, 1, 0], vec![1, 3, 1], vec![1, 1, 3]]
    );
    close(m.macro_f1, 0.6646464646464646);
    let want_p = [0.6666666666666666, 0.6, 0.75];
    let want_r = [0.8, 0.6, 0.6];
    let want_f = [0.7272727272727273, 0.6, 0.6666666666666666];
    for c in 0..3 {
        close(m.per_class[c].precision, want_p[c]);
        close(m.per_class[c].recall, want_r[c]);
        close(m.per_class[c].f1, want_f[c]);
    }
    close(m.log_loss, 0.5983962286178667);
    close(m.accuracy, 10.0 / 15.0);
    assert!(multiclass_metrics(&[3], &[0.2, 0.3, 0.5], 3, None).is_err());
}
