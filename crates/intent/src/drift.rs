//! The training distribution a bundle carries for drift monitoring: decile bins of every
//! feature and of the calibrated scores on the validation part (the rows nearest in time to
//! serving that the model was not fitted on), stored under the bundle's
//! `metrics.drift_reference` as `{"score": {"edges", "fractions"}, "features": {name: {…}}}`
//! — the shape the serve crate's `DriftReference` reads to export PSI at `/metrics`.

use serde_json::{json, Map, Value};
use shopsense_models::MatrixRef;

/// Quantile bins of `values` (NaN ignored): `edges` are the inclusive upper bounds of every
/// bin but the last (deduplicated), `fractions` the share of values per bin. `None` when no
/// value is a number.
pub fn binned(values: &[f64], bins: usize) -> Option<Value> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() || bins < 2 {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mut edges: Vec<f64> = (1..bins)
        .map(|i| v[(i * v.len() / bins).min(v.len() - 1)])
        .collect();
    edges.dedup();
    let mut counts = vec![0u64; edges.len() + 1];
    for x in &v {
        counts[edges.partition_point(|e| e < x)] += 1;
    }
    let n = v.len() as f64;
    let fractions: Vec<f64> = counts.iter().map(|&c| c as f64 / n).collect();
    Some(json!({ "edges": edges, "fractions": fractions }))
}

/// The drift reference of feature rows `x` (columns named `names`) and their `scores`, in
/// `bins` quantile bins each.
pub fn drift_reference(x: MatrixRef<'_>, names: &[String], scores: &[f64], bins: usize) -> Value {
    let mut features = Map::new();
    let n = x.n_rows();
    for (j, name) in names.iter().enumerate().take(x.n_cols()) {
        let col: Vec<f64> = (0..n).map(|i| f64::from(x.row(i)[j])).collect();
        if let Some(b) = binned(&col, bins) {
            features.insert(name.clone(), b);
        }
    }
    json!({ "score": binned(scores, bins), "features": features })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deciles_of_a_uniform_column() {
        let v: Vec<f64> = (0..100).map(f64::from).collect();
        let b = binned(&v, 10).unwrap();
        assert_eq!(b["edges"].as_array().unwrap().len(), 9);
        assert_eq!(b["edges"][0], json!(10.0));
        let f: Vec<f64> = b["fractions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(f.len(), 10);
        assert!((f.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(f[0], 0.11);
        // A constant column has one edge, everything in the first bin.
        let c = binned(&[2.0; 7], 10).unwrap();
        assert_eq!(c, json!({"edges": [2.0], "fractions": [1.0, 0.0]}));
        assert!(binned(&[f64::NAN], 10).is_none());
    }
}
