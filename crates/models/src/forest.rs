//! The reference method `seed-rf`: a random forest of 20 trees of depth 5, bootstrap
//! samples, `sqrt(p)` candidate features per split, Gini impurity, trained on 1:1
//! undersampled data — written here (≈ scikit-learn's `RandomForestClassifier(
//! n_estimators=20, max_depth=5, max_features="sqrt")` after `RandomUnderSampler`).
//!
//! Why hand-written rather than LightGBM `boosting=rf`: LightGBM's RF mode samples rows
//! *without* replacement and picks features per tree or per node by fraction, not the
//! bootstrap + `sqrt` per split the reference describes; the forest is tiny, so a faithful
//! implementation is cheap. Split candidates are up to 254 quantile cut points per feature
//! (exact for features with ≤ 254 distinct values). A row goes left when `x <= threshold`;
//! `NaN` goes right. Trees are built in parallel, each from its own seeded stream, so the
//! result does not depend on the thread count.

use crate::data::{Dataset, MatrixRef};
use crate::error::{ModelError, Result};
use crate::estimator::{Estimator, Model, ModelKind};
use crate::imbalance::undersample_indices;
use crate::rng::SplitMix64;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Hyperparameters of [`RandomForest`]; the defaults are the `seed-rf` reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ForestParams {
    /// Number of trees.
    pub n_trees: usize,
    /// Maximum depth (root = depth 0; a depth-5 tree has at most 32 leaves).
    pub max_depth: usize,
    /// Draw a bootstrap sample (with replacement) per tree.
    pub bootstrap: bool,
    /// Candidate features per split; `None` = `floor(sqrt(p))` (at least 1).
    pub max_features: Option<usize>,
    /// Minimum rows (bootstrap-weighted count) to split a node.
    pub min_samples_split: usize,
    /// Minimum rows in each child.
    pub min_samples_leaf: usize,
    /// Undersample negatives to this many per positive before fitting (`Some(1.0)` = 1:1).
    pub undersample_ratio: Option<f64>,
    /// Seed of sampling, bootstrap and feature choice.
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            n_trees: 20,
            max_depth: 5,
            bootstrap: true,
            max_features: None,
            min_samples_split: 2,
            min_samples_leaf: 1,
            undersample_ratio: Some(1.0),
            seed: 42,
        }
    }
}

impl ForestParams {
    /// The `seed-rf` reference configuration (the defaults).
    pub fn seed_rf() -> Self {
        ForestParams::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Node {
    /// Split feature, or `u32::MAX` for a leaf.
    f: u32,
    /// Threshold (`x <= t` goes left).
    t: f64,
    l: u32,
    r: u32,
    /// P(class 1) at a leaf.
    v: f64,
}

const LEAF: u32 = u32::MAX;
const MAX_CUTS: usize = 254;

/// A fitted random forest (binary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomForest {
    format: String,
    feature_names: Vec<String>,
    trees: Vec<Vec<Node>>,
    importance: Vec<f64>,
    params: ForestParams,
}

const FORMAT: &str = "shopsense-forest-v1";

/// Quantile cut points of one column and its bin codes (bin `k` ⇔ `x <= cuts[k]`,
/// `cuts.len()` ⇔ above every cut or `NaN`).
fn bin_column(values: impl Iterator<Item = f32> + Clone) -> (Vec<f32>, Vec<u8>) {
    let mut uniq: Vec<f32> = values.clone().filter(|v| !v.is_nan()).collect();
    uniq.sort_unstable_by(|a, b| a.total_cmp(b));
    uniq.dedup();
    let cuts: Vec<f32> = if uniq.len() <= MAX_CUTS + 1 {
        // Every distinct value except the largest is a cut: exact splits.
        uniq[..uniq.len().saturating_sub(1)].to_vec()
    } else {
        let mut c: Vec<f32> = (1..=MAX_CUTS)
            .map(|k| uniq[k * (uniq.len() - 1) / (MAX_CUTS + 1)])
            .collect();
        c.dedup();
        c
    };
    let codes = values
        .map(|v| {
            if v.is_nan() {
                cuts.len() as u8
            } else {
                cuts.partition_point(|&c| c < v) as u8
            }
        })
        .collect();
    (cuts, codes)
}

struct Binned {
    cuts: Vec<Vec<f32>>,
    /// Column-major codes.
    codes: Vec<Vec<u8>>,
}

fn gini(neg: f64, pos: f64) -> f64 {
    let t = neg + pos;
    if t <= 0.0 {
        0.0
    } else {
        let p = pos / t;
        2.0 * p * (1.0 - p)
    }
}

struct TreeBuilder<'a> {
    binned: &'a Binned,
    labels: &'a [f32],
    weights: &'a [f64],
    params: &'a ForestParams,
    mtry: usize,
    rng: SplitMix64,
    nodes: Vec<Node>,
    importance: Vec<f64>,
    total_w: f64,
}

impl TreeBuilder<'_> {
    fn build(&mut self, rows: Vec<usize>, depth: usize) -> u32 {
        let (mut neg, mut pos, mut cnt) = (0.0, 0.0, 0.0);
        for &i in &rows {
            let w = self.weights[i];
            cnt += w;
            if self.labels[i] == 1.0 {
                pos += w;
            } else {
                neg += w;
            }
        }
        let id = self.nodes.len() as u32;
        let value = if neg + pos > 0.0 {
            pos / (neg + pos)
        } else {
            0.0
        };
        self.nodes.push(Node {
            f: LEAF,
            t: 0.0,
            l: 0,
            r: 0,
            v: value,
        });
        if depth >= self.params.max_depth
            || neg == 0.0
            || pos == 0.0
            || cnt < self.params.min_samples_split as f64
        {
            return id;
        }
        let parent = gini(neg, pos);
        let p = self.binned.cuts.len();
        let mut order: Vec<usize> = (0..p).collect();
        self.rng.shuffle(&mut order);
        let min_leaf = self.params.min_samples_leaf as f64;
        let mut best: Option<(f64, usize, usize)> = None; // (gain, feature, bin)
        let mut hist = vec![[0f64; 3]; MAX_CUTS + 2];
        for (tried, &f) in order.iter().enumerate() {
            if tried >= self.mtry && best.is_some() {
                break;
            }
            let n_bins = self.binned.cuts[f].len() + 1;
            if n_bins < 2 {
                continue;
            }
            hist[..n_bins].iter_mut().for_each(|h| *h = [0.0; 3]);
            let codes = &self.binned.codes[f];
            for &i in &rows {
                let w = self.weights[i];
                let h = &mut hist[codes[i] as usize];
                h[usize::from(self.labels[i] == 1.0)] += w;
                h[2] += w;
            }
            let (mut ln, mut lp, mut lc) = (0.0, 0.0, 0.0);
            for (b, h) in hist.iter().enumerate().take(n_bins - 1) {
                ln += h[0];
                lp += h[1];
                lc += h[2];
                let rc = cnt - lc;
                if lc < min_leaf || rc < min_leaf || lc == 0.0 || rc == 0.0 {
                    continue;
                }
                let (rn, rp) = (neg - ln, pos - lp);
                let child = ((ln + lp) * gini(ln, lp) + (rn + rp) * gini(rn, rp)) / (neg + pos);
                let gain = parent - child;
                if gain > 1e-12 && best.is_none_or(|(g, _, _)| gain > g) {
                    best = Some((gain, f, b));
                }
            }
        }
        let Some((gain, f, b)) = best else {
            return id;
        };
        self.importance[f] += gain * (neg + pos) / self.total_w;
        let codes = &self.binned.codes[f];
        let (left, right): (Vec<usize>, Vec<usize>) =
            rows.into_iter().partition(|&i| codes[i] as usize <= b);
        let l = self.build(left, depth + 1);
        let r = self.build(right, depth + 1);
        let node = &mut self.nodes[id as usize];
        node.f = f as u32;
        node.t = f64::from(self.binned.cuts[f][b]);
        node.l = l;
        node.r = r;
        id
    }
}

fn tree_predict(tree: &[Node], row: &[f32]) -> f64 {
    let mut k = 0usize;
    loop {
        let n = &tree[k];
        if n.f == LEAF {
            return n.v;
        }
        // NaN compares false → right.
        k = if f64::from(row[n.f as usize]) <= n.t {
            n.l as usize
        } else {
            n.r as usize
        };
    }
}

impl RandomForest {
    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }
    /// Maximum depth actually reached.
    pub fn depth(&self) -> usize {
        fn d(t: &[Node], k: usize) -> usize {
            if t[k].f == LEAF {
                0
            } else {
                1 + d(t, t[k].l as usize).max(d(t, t[k].r as usize))
            }
        }
        self.trees.iter().map(|t| d(t, 0)).max().unwrap_or(0)
    }
}

impl Model for RandomForest {
    fn kind(&self) -> ModelKind {
        ModelKind::SeedRf
    }
    fn name(&self) -> String {
        format!(
            "seed-rf({} trees, depth {})",
            self.params.n_trees, self.params.max_depth
        )
    }
    fn feature_names(&self) -> &[String] {
        &self.feature_names
    }
    fn predict_proba(&self, x: MatrixRef<'_>) -> Result<Vec<f64>> {
        x.expect_cols(self.feature_names.len())?;
        let mut out = vec![0f64; x.n_rows()];
        let n_trees = self.trees.len().max(1) as f64;
        out.par_chunks_mut(4096).enumerate().for_each(|(b, dst)| {
            for (r, o) in dst.iter_mut().enumerate() {
                let row = x.row(b * 4096 + r);
                let s: f64 = self.trees.iter().map(|t| tree_predict(t, row)).sum();
                *o = s / n_trees;
            }
        });
        Ok(out)
    }
    fn feature_importance(&self) -> Vec<(String, f64)> {
        self.feature_names
            .iter()
            .cloned()
            .zip(self.importance.iter().copied())
            .collect()
    }
    fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| ModelError::format("forest model", e))
    }
}

impl Estimator for RandomForest {
    type Params = ForestParams;
    const KIND: ModelKind = ModelKind::SeedRf;

    fn fit(data: &Dataset, params: &ForestParams) -> Result<Self> {
        data.check_binary()?;
        if params.n_trees == 0 {
            return Err(ModelError::param("n_trees", "must be ≥ 1"));
        }
        if params.min_samples_leaf == 0 {
            return Err(ModelError::param("min_samples_leaf", "must be ≥ 1"));
        }
        let idx: Vec<usize> = match params.undersample_ratio {
            Some(r) => undersample_indices(data.labels(), r, params.seed)?,
            None => (0..data.n_rows()).collect(),
        };
        let p = data.n_features();
        let x = data.x();
        let labels: Vec<f32> = idx.iter().map(|&i| data.labels()[i]).collect();
        let sample_w: Vec<f64> = idx.iter().map(|&i| data.weight(i)).collect();
        let cols: Vec<(Vec<f32>, Vec<u8>)> = (0..p)
            .into_par_iter()
            .map(|j| bin_column(idx.iter().map(|&i| x.row(i)[j])))
            .collect();
        let (cuts, codes) = cols.into_iter().unzip();
        let binned = Binned { cuts, codes };
        let n = idx.len();
        let mtry = params
            .max_features
            .unwrap_or_else(|| (p as f64).sqrt().floor() as usize)
            .clamp(1, p.max(1));
        let results: Vec<(Vec<Node>, Vec<f64>)> = (0..params.n_trees)
            .into_par_iter()
            .map(|t| {
                let mut rng = SplitMix64::with_stream(params.seed, 1000 + t as u64);
                let mut w = sample_w.clone();
                if params.bootstrap {
                    let mut counts = vec![0u32; n];
                    for _ in 0..n {
                        counts[rng.below(n)] += 1;
                    }
                    for (wi, c) in w.iter_mut().zip(&counts) {
                        *wi *= f64::from(*c);
                    }
                }
                let rows: Vec<usize> = (0..n).filter(|&i| w[i] > 0.0).collect();
                let total_w: f64 = rows.iter().map(|&i| w[i]).sum();
                let mut tb = TreeBuilder {
                    binned: &binned,
                    labels: &labels,
                    weights: &w,
                    params,
                    mtry,
                    rng,
                    nodes: Vec::new(),
                    importance: vec![0.0; p],
                    total_w: total_w.max(f64::MIN_POSITIVE),
                };
                tb.build(rows, 0);
                let s: f64 = tb.importance.iter().sum();
                if s > 0.0 {
                    tb.importance.iter_mut().for_each(|v| *v /= s);
                }
                (tb.nodes, tb.importance)
            })
            .collect();
        let mut importance = vec![0f64; p];
        let mut trees = Vec::with_capacity(results.len());
        for (nodes, imp) in results {
            for (a, b) in importance.iter_mut().zip(&imp) {
                *a += b / params.n_trees as f64;
            }
            trees.push(nodes);
        }
        Ok(RandomForest {
            format: FORMAT.to_string(),
            feature_names: data.feature_names().to_vec(),
            trees,
            importance,
            params: params.clone(),
        })
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let m: RandomForest =
            serde_json::from_slice(bytes).map_err(|e| ModelError::format("forest model", e))?;
        if m.format != FORMAT || m.importance.len() != m.feature_names.len() {
            return Err(ModelError::format("forest model", "inconsistent fields"));
        }
        let p = m.feature_names.len() as u32;
        for t in &m.trees {
            let len = t.len() as u32;
            // Children always follow their parent (pre-order), which also rules out cycles.
            let bad = t.iter().enumerate().any(|(k, n)| {
                let k = k as u32;
                n.f != LEAF && (n.f >= p || n.l >= len || n.r >= len || n.l <= k || n.r <= k)
            });
            if t.is_empty() || bad {
                return Err(ModelError::format(
                    "forest model",
                    "tree references out of range",
                ));
            }
        }
        Ok(m)
    }
}
