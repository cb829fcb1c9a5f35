//! A native scorer for LightGBM model text: the same arithmetic as LightGBM's own
//! predictor (same thresholds parsed exactly, same decision rules for missing and zero
//! values, tree outputs summed in the same order, same sigmoid/softmax), so its results are
//! **bit-identical** to `LGBM_BoosterPredictForMat` — but without LightGBM's two heap
//! allocations per row, blocked over rows so each tree stays in cache, and parallel with
//! rayon. Models it does not cover (categorical splits, linear trees, `rf` averaging,
//! objectives other than binary/multiclass) return `None` and are scored by LightGBM.

use crate::data::MatrixRef;
use rayon::prelude::*;

/// LightGBM's `kZeroThreshold` (`1e-35f` widened to double).
const K_ZERO: f64 = 1e-35f32 as f64;
const MISSING_ZERO: u8 = 1;
const MISSING_NAN: u8 = 2;
const BLOCK: usize = 256;

/// A node; leaves are nodes too (both children point to themselves), so several rows can
/// walk a tree in lockstep with branch-free steps.
///
/// Features are compared as `f32`: for an `f32` value `v` and LightGBM's `f64` threshold `t`,
/// `v as f64 <= t` ⇔ `v <= t↓` where `t↓` is the largest `f32` not above `t` — exact, and
/// half the memory traffic.
#[derive(Debug, Clone, Copy)]
struct Node {
    threshold: f32,
    /// Feature index in the low 29 bits; bit 29-30 missing type; bit 31 default-left.
    feature: u32,
    left: u32,
    right: u32,
}

const FEATURE_MASK: u32 = (1 << 29) - 1;

/// Largest `f32` that is `<= t` (t not NaN).
fn f32_at_or_below(t: f64) -> f32 {
    let c = t as f32;
    if f64::from(c) <= t {
        return c;
    }
    // c rounded up: step one f32 towards -inf.
    if c == 0.0 {
        -f32::from_bits(1)
    } else if c > 0.0 {
        f32::from_bits(c.to_bits() - 1)
    } else {
        f32::from_bits(c.to_bits() + 1)
    }
}

/// Rows walking one tree together.
const LANES: usize = 8;

#[derive(Debug, Clone)]
struct Tree {
    nodes: Vec<Node>,
    /// Index of the first leaf node (= number of internal nodes).
    first_leaf: usize,
    leaves: Vec<f64>,
}

impl Tree {
    /// One step from node `i` for feature row `f` — LightGBM's `NumericalDecision`.
    ///
    /// Rows are pre-processed per feature ([`NativeForest::prepare`]) so that a value is NaN
    /// exactly when LightGBM would send it the node's default way (missing type `NaN`: NaN;
    /// `Zero`: zero or NaN; `None`: never — NaN became 0). Then the rule is one comparison
    /// (false for NaN) or-ed with "NaN and default-left".
    #[inline(always)]
    fn step(&self, i: u32, f: &[f32]) -> u32 {
        let n = &self.nodes[i as usize];
        let v = f[(n.feature & FEATURE_MASK) as usize];
        let go_left = (v <= n.threshold) | (v.is_nan() & (n.feature >> 31 != 0));
        if go_left {
            n.left
        } else {
            n.right
        }
    }

    /// Adds this tree's output for each of `rows` feature rows to `acc[r * stride]`.
    ///
    /// `LANES` rows walk the tree together with branch-free steps (a leaf steps to itself)
    /// until all of them sit on a leaf: independent rows overlap their memory latency and
    /// the only data-dependent branch is the group's "all done?".
    #[inline]
    fn add_block(&self, feats: &[f32], p: usize, acc: &mut [f64], stride: usize, rows: usize) {
        let first_leaf = self.first_leaf as u32;
        let mut r0 = 0;
        while r0 < rows {
            let cnt = LANES.min(rows - r0);
            let mut base = [0usize; LANES];
            for (j, b) in base.iter_mut().enumerate() {
                *b = (r0 + j.min(cnt - 1)) * p;
            }
            let mut idx = [0u32; LANES];
            if first_leaf > 0 {
                loop {
                    let mut active = false;
                    for j in 0..LANES {
                        let ni = self.step(idx[j], &feats[base[j]..base[j] + p]);
                        idx[j] = ni;
                        active |= ni < first_leaf;
                    }
                    if !active {
                        break;
                    }
                }
            }
            for j in 0..cnt {
                acc[(r0 + j) * stride] += self.leaves[(idx[j] - first_leaf) as usize];
            }
            r0 += cnt;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Output {
    Sigmoid(f64),
    Softmax,
}

/// A parsed LightGBM model for fast exact scoring.
#[derive(Debug, Clone)]
pub(crate) struct NativeForest {
    n_features: usize,
    /// Missing type of each feature (LightGBM's is per feature; every node on a feature
    /// agrees, checked when parsing): 0 none, [`MISSING_ZERO`], [`MISSING_NAN`].
    missing: Vec<u8>,
    k: usize,
    output: Output,
    trees: Vec<Tree>,
    /// The same trees in QuickScorer form, when every tree has at most 64 leaves.
    qs: Option<QuickScorer>,
}

/// The trees in QuickScorer form (Lucchese et al., SIGIR 2015): for each feature, every
/// node that tests it, sorted by threshold, with a mask of the leaves (in left-to-right
/// order) its left subtree holds. A row goes right at exactly the nodes whose threshold is
/// below its value, so scanning a feature's sorted nodes until the first threshold at or
/// above the value and clearing those nodes' left-subtree leaves leaves the exit leaf as the
/// lowest bit still set of each tree's mask. No dependent loads, no unpredictable branches
/// per node: the tree walk's latency chain is gone.
#[derive(Debug, Clone)]
struct QuickScorer {
    /// The features some node tests, with where their nodes are.
    used: Vec<UsedFeature>,
    /// Nodes by feature, each feature's by threshold.
    nodes: Vec<QsNode>,
    /// For a value bound for the default direction: the nodes that send it right (not
    /// default-left), by feature.
    nan_tree: Vec<u32>,
    nan_mask: Vec<u64>,
    /// Leaf value by left-to-right position, per tree.
    leaves: Vec<Vec<f64>>,
}

/// One node of [`QuickScorer`]: its threshold, its tree and the mask of the leaves it rules
/// out when a row goes right.
#[derive(Debug, Clone, Copy)]
struct QsNode {
    threshold: f32,
    tree: u32,
    mask: u64,
}

/// A feature [`QuickScorer`] visits: its nodes are `nodes[start..end]`, those that send its
/// default-direction values right `nan_tree[nan_start..nan_end]`.
#[derive(Debug, Clone, Copy)]
struct UsedFeature {
    feature: u32,
    missing: u8,
    start: u32,
    end: u32,
    nan_start: u32,
    nan_end: u32,
}

impl QuickScorer {
    fn build(trees: &[Tree], n_features: usize, missing: &[u8]) -> Option<QuickScorer> {
        let mut by_feature: Vec<Vec<(f32, u32, u64)>> = vec![Vec::new(); n_features];
        let mut nan_by_feature: Vec<Vec<(u32, u64)>> = vec![Vec::new(); n_features];
        let mut leaves = Vec::with_capacity(trees.len());
        for (t, tree) in trees.iter().enumerate() {
            let n_leaves = tree.leaves.len();
            if n_leaves > 64 || n_leaves == 0 {
                return None;
            }
            // Left-to-right position of each leaf, and the positions under each node.
            let mut pos_of_leaf = vec![u32::MAX; n_leaves];
            let mut span = vec![(0u32, 0u32); tree.first_leaf];
            let mut next = 0u32;
            Self::order(tree, 0, &mut pos_of_leaf, &mut span, &mut next);
            if next as usize != n_leaves || pos_of_leaf.contains(&u32::MAX) {
                return None;
            }
            let mut by_pos = vec![0.0; n_leaves];
            for (l, &p) in pos_of_leaf.iter().enumerate() {
                by_pos[p as usize] = tree.leaves[l];
            }
            leaves.push(by_pos);
            for n in &tree.nodes[..tree.first_leaf] {
                // Leaves of the left subtree: positions span[left].0 .. span[left].1.
                let (a, b) = Self::node_span(tree, n.left, &span, &pos_of_leaf);
                let left_bits = if b - a >= 64 {
                    u64::MAX
                } else {
                    ((1u64 << (b - a)) - 1) << a
                };
                let mask = !left_bits;
                let f = (n.feature & FEATURE_MASK) as usize;
                by_feature.get_mut(f)?.push((n.threshold, t as u32, mask));
                if n.feature >> 31 == 0 {
                    nan_by_feature[f].push((t as u32, mask));
                }
            }
        }
        let mut qs = QuickScorer {
            used: Vec::new(),
            nodes: Vec::new(),
            nan_tree: Vec::new(),
            nan_mask: Vec::new(),
            leaves,
        };
        for (f, (mut nodes, nan)) in by_feature.into_iter().zip(nan_by_feature).enumerate() {
            if nodes.is_empty() {
                continue;
            }
            // Stable: nodes with equal thresholds keep tree order (any order is correct).
            nodes.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (start, nan_start) = (qs.nodes.len() as u32, qs.nan_tree.len() as u32);
            qs.nodes
                .extend(nodes.into_iter().map(|(threshold, tree, mask)| QsNode {
                    threshold,
                    tree,
                    mask,
                }));
            for (t, m) in nan {
                qs.nan_tree.push(t);
                qs.nan_mask.push(m);
            }
            qs.used.push(UsedFeature {
                feature: f as u32,
                missing: missing.get(f).copied().unwrap_or(0),
                start,
                end: qs.nodes.len() as u32,
                nan_start,
                nan_end: qs.nan_tree.len() as u32,
            });
        }
        Some(qs)
    }

    /// Numbers the leaves under node `i` left to right; records each internal node's span.
    fn order(tree: &Tree, i: u32, pos: &mut [u32], span: &mut [(u32, u32)], next: &mut u32) {
        let i = i as usize;
        if i >= tree.first_leaf {
            if let Some(p) = pos.get_mut(i - tree.first_leaf) {
                *p = *next;
                *next += 1;
            }
            return;
        }
        let start = *next;
        let n = tree.nodes[i];
        Self::order(tree, n.left, pos, span, next);
        Self::order(tree, n.right, pos, span, next);
        span[i] = (start, *next);
    }

    fn node_span(tree: &Tree, i: u32, span: &[(u32, u32)], pos: &[u32]) -> (u32, u32) {
        let i = i as usize;
        if i >= tree.first_leaf {
            let p = pos[i - tree.first_leaf];
            (p, p + 1)
        } else {
            span[i]
        }
    }

    /// Adds every tree's output for the raw input row `row` to `acc[t % k]`, in tree order.
    ///
    /// Only the features some node tests are visited, and the row is read as given: the
    /// rules of [`NativeForest::prepare`] (LightGBM's zero band, the missing type of each
    /// feature) are applied to those values here.
    #[inline]
    fn add_row(&self, row: &[f32], masks: &mut [u64], acc: &mut [f64], k: usize) {
        masks.fill(u64::MAX);
        for u in &self.used {
            // A column the input lacks reads as a plain 0 (as `prepare` leaves it).
            let (v, nan, zero) = match row.get(u.feature as usize) {
                Some(&v) => (v, v.is_nan(), !v.is_nan() && f64::from(v).abs() <= K_ZERO),
                None => (0.0, false, false),
            };
            let default_way = match u.missing {
                MISSING_NAN => nan,
                MISSING_ZERO => nan | zero,
                _ => false,
            };
            if default_way {
                let (a, b) = (u.nan_start as usize, u.nan_end as usize);
                for (&t, &m) in self.nan_tree[a..b].iter().zip(&self.nan_mask[a..b]) {
                    if let Some(x) = masks.get_mut(t as usize) {
                        *x &= m;
                    }
                }
            } else {
                let v = if nan | zero { 0.0 } else { v };
                for e in &self.nodes[u.start as usize..u.end as usize] {
                    if e.threshold >= v {
                        break;
                    }
                    if let Some(m) = masks.get_mut(e.tree as usize) {
                        *m &= e.mask;
                    }
                }
            }
        }
        if k == 1 {
            // One running sum in a register (the same additions in the same order as
            // `acc[0] += …` per tree, which would chain every tree through memory).
            let mut sum = acc[0];
            for (m, l) in masks.iter().zip(&self.leaves) {
                sum += l[m.trailing_zeros() as usize];
            }
            acc[0] = sum;
        } else {
            for (t, (m, l)) in masks.iter().zip(&self.leaves).enumerate() {
                acc[t % k] += l[m.trailing_zeros() as usize];
            }
        }
    }
}

fn field<'a>(block: &'a str, key: &str) -> Option<&'a str> {
    block
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
}

fn nums<T: std::str::FromStr>(block: &str, key: &str) -> Option<Vec<T>> {
    let v = field(block, key)?;
    if v.is_empty() {
        return Some(Vec::new());
    }
    v.split(' ').map(|s| s.parse().ok()).collect()
}

impl NativeForest {
    /// Parses model text; `None` if anything is outside what this scorer reproduces.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let head_end = text.find("\nTree=")?;
        let head = &text[..head_end];
        let k: usize = field(head, "num_tree_per_iteration")?.parse().ok()?;
        let n_features = field(head, "max_feature_idx")?.parse::<usize>().ok()? + 1;
        if head.lines().any(|l| l.starts_with("average_output"))
            || k == 0
            || n_features > FEATURE_MASK as usize
        {
            return None;
        }
        let objective = field(head, "objective")?;
        let output = match objective.split(' ').next()? {
            "binary" if k == 1 => {
                let s = objective
                    .split(' ')
                    .find_map(|t| t.strip_prefix("sigmoid:"))?
                    .parse()
                    .ok()?;
                Output::Sigmoid(s)
            }
            "multiclass" if k > 1 => Output::Softmax,
            _ => return None,
        };
        let body_end = text.find("\nend of trees").unwrap_or(text.len());
        let body = &text[head_end + 1..body_end];
        let mut trees = Vec::new();
        let mut missing_of: Vec<Option<u8>> = vec![None; n_features];
        for block in body.split("\nTree=").map(|b| b.trim_start_matches("Tree=")) {
            if block.trim().is_empty() {
                continue;
            }
            let num_leaves: usize = field(block, "num_leaves")?.parse().ok()?;
            if field(block, "num_cat")?.trim() != "0" {
                return None;
            }
            if field(block, "is_linear").is_some_and(|v| v.trim() != "0") {
                return None;
            }
            let leaves: Vec<f64> = nums(block, "leaf_value")?;
            if leaves.len() != num_leaves || num_leaves == 0 {
                return None;
            }
            let m = num_leaves - 1;
            let mut nodes = Vec::with_capacity(m + num_leaves);
            if num_leaves > 1 {
                let feat: Vec<u32> = nums(block, "split_feature")?;
                let thr: Vec<f64> = nums(block, "threshold")?;
                let dt: Vec<i32> = nums(block, "decision_type")?;
                let left: Vec<i32> = nums(block, "left_child")?;
                let right: Vec<i32> = nums(block, "right_child")?;
                if [feat.len(), thr.len(), dt.len(), left.len(), right.len()] != [m; 5] {
                    return None;
                }
                // LightGBM child encoding: c >= 0 internal node, c < 0 leaf !c.
                let child = |c: i32, parent: usize| -> Option<u32> {
                    if c >= 0 {
                        // Internal children come after their parent (no cycles).
                        ((c as usize) < m && c as usize > parent).then_some(c as u32)
                    } else {
                        (((!c) as usize) < num_leaves).then_some((m + (!c) as usize) as u32)
                    }
                };
                for i in 0..m {
                    let d = dt[i];
                    if d & 1 != 0 {
                        return None; // categorical
                    }
                    let missing = ((d >> 2) & 3) as u8;
                    if missing > MISSING_NAN || feat[i] as usize >= n_features || thr[i].is_nan() {
                        return None;
                    }
                    match &mut missing_of[feat[i] as usize] {
                        Some(m) if *m != missing => return None,
                        m => *m = Some(missing),
                    }
                    nodes.push(Node {
                        threshold: f32_at_or_below(thr[i]),
                        feature: feat[i]
                            | (u32::from(missing) << 29)
                            | (u32::from(d & 2 != 0) << 31),
                        left: child(left[i], i)?,
                        right: child(right[i], i)?,
                    });
                }
            }
            for l in 0..num_leaves {
                let me = (m + l) as u32;
                nodes.push(Node {
                    threshold: 0.0,
                    feature: 0,
                    left: me,
                    right: me,
                });
            }
            trees.push(Tree {
                nodes,
                first_leaf: m,
                leaves,
            });
        }
        if trees.is_empty() || trees.len() % k != 0 {
            return None;
        }
        let missing: Vec<u8> = missing_of.into_iter().map(|m| m.unwrap_or(0)).collect();
        let qs = QuickScorer::build(&trees, n_features, &missing);
        Some(NativeForest {
            n_features,
            missing,
            k,
            output,
            trees,
            qs,
        })
    }

    /// Copies one input row into `f` the way the trees read it: LightGBM's predictor drops
    /// |v| <= kZeroThreshold (it becomes 0); then per feature's missing type, values bound
    /// for the default direction become NaN and all other NaN become 0 (see [`Tree::step`]).
    #[inline]
    fn prepare(&self, row: &[f32], f: &mut [f32], cols: usize) {
        for (j, (&v, &m)) in row
            .iter()
            .take(self.n_features.min(cols))
            .zip(&self.missing)
            .enumerate()
        {
            let nan = v.is_nan();
            let zero = !nan && f64::from(v).abs() <= K_ZERO;
            f[j] = match m {
                MISSING_NAN if nan => f32::NAN,
                MISSING_ZERO if nan | zero => f32::NAN,
                _ if nan | zero => 0.0,
                _ => v,
            };
        }
    }

    /// `"quickscorer"` or `"tree-walk"`.
    pub(crate) fn scorer_name(&self) -> &'static str {
        if self.qs.is_some() {
            "quickscorer"
        } else {
            "tree-walk"
        }
    }

    /// Scores every row: `n_rows × k` values, row-major (raw scores or probabilities).
    pub(crate) fn predict(&self, x: MatrixRef<'_>, raw: bool) -> Vec<f64> {
        let (k, p) = (self.k, self.n_features);
        let cols = x.n_cols();
        let mut out = vec![0f64; x.n_rows() * k];
        out.par_chunks_mut(BLOCK * k)
            .enumerate()
            .for_each(|(b, dst)| {
                let nb = dst.len() / k;
                match &self.qs {
                    Some(qs) => {
                        let mut masks = vec![0u64; self.trees.len()];
                        for (r, acc) in dst.chunks_mut(k).enumerate() {
                            qs.add_row(x.row(b * BLOCK + r), &mut masks, acc, k);
                        }
                    }
                    None => {
                        let mut feats = vec![0f32; nb * p];
                        for r in 0..nb {
                            let row = x.row(b * BLOCK + r);
                            let f = &mut feats[r * p..(r + 1) * p];
                            self.prepare(row, f, cols);
                        }
                        for (t, tree) in self.trees.iter().enumerate() {
                            let c = t % k;
                            tree.add_block(&feats, p, &mut dst[c..], k, nb);
                        }
                    }
                }
                if !raw {
                    for o in dst.chunks_mut(k) {
                        match self.output {
                            Output::Sigmoid(s) => o[0] = 1.0 / (1.0 + (-s * o[0]).exp()),
                            Output::Softmax => {
                                let wmax = o
                                    .iter()
                                    .skip(1)
                                    .fold(o[0], |m, &v| if v > m { v } else { m });
                                let mut wsum = 0.0;
                                for v in o.iter_mut() {
                                    *v = (*v - wmax).exp();
                                    wsum += *v;
                                }
                                for v in o.iter_mut() {
                                    *v /= wsum;
                                }
                            }
                        }
                    }
                }
            });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn f32_threshold_comparison_is_exact() {
        let mut r = SplitMix64::new(3);
        let specials = [
            0.0,
            -0.0,
            1e-40,
            -1e-40,
            1e-35,
            f64::MAX,
            -f64::MAX,
            3.4e38,
            -3.5e38,
        ];
        for k in 0..200_000 {
            let t = if k < specials.len() {
                specials[k]
            } else {
                (r.next_f64() - 0.5) * 10f64.powi((r.below(80) as i32) - 40)
            };
            let down = f32_at_or_below(t);
            assert!(f64::from(down) <= t);
            // The candidates closest to t on both sides and t's own rounding.
            let c = t as f32;
            for v in [
                c,
                down,
                f32::from_bits(c.to_bits().wrapping_add(1)),
                f32::from_bits(c.to_bits().wrapping_sub(1)),
            ] {
                if v.is_nan() {
                    continue;
                }
                assert_eq!(f64::from(v) <= t, v <= down, "v {v:e} t {t:e}");
            }
        }
    }
}
