//! Online learning: a hashed-feature logistic regression trained by SGD as session outcomes
//! become known, and prequential (score first, then learn) quality over a rolling window.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Whole numbers `0 ..` this have their `ln(1+x)` in a table.
const SQUASH_TABLE: usize = 4096;

/// `ln(1+a)` for `a >= 0`, in single precision (the features are `f32`): glibc's `logf` of
/// `1+a` took 5.7 ns here against 14.3 ns for `log1p` in double precision, and its error
/// (a relative 1e-7, and 0 for `a` below 6e-8) is far below what SGD on hashed features
/// can tell apart.
#[inline]
fn ln1(a: f32) -> f64 {
    f64::from((1.0f32 + a).ln())
}

/// [`ln1`]`(k)` for `k < SQUASH_TABLE`, computed once.
fn squash_table() -> &'static [f64; SQUASH_TABLE] {
    static T: std::sync::OnceLock<Box<[f64; SQUASH_TABLE]>> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let mut t = Box::new([0f64; SQUASH_TABLE]);
        for (k, v) in t.iter_mut().enumerate() {
            *v = ln1(k as f32);
        }
        t
    })
}

/// Hashed logistic regression: feature `i` with value `x` goes to bucket
/// `xxh3(name_i) mod dim` with the value `sign(x)·ln(1+|x|)`; a bias weight is kept apart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OnlineLogit {
    /// Weights (`dim` buckets).
    pub weights: Vec<f64>,
    /// Bias.
    pub bias: f64,
    /// Learning rate.
    pub lr: f64,
    /// L2 penalty per update.
    pub l2: f64,
    /// Updates so far.
    pub updates: u64,
}

impl OnlineLogit {
    /// A zero model with `dim` buckets (at least 1).
    pub fn new(dim: usize, lr: f64, l2: f64) -> Self {
        OnlineLogit {
            weights: vec![0.0; dim.max(1)],
            bias: 0.0,
            lr,
            l2,
            updates: 0,
        }
    }

    /// Bucket indexes of feature names (computed once per feature layout).
    pub fn buckets(&self, names: &[String]) -> Vec<usize> {
        let dim = self.weights.len() as u64;
        names
            .iter()
            .map(|n| (xxhash_rust::xxh3::xxh3_64(n.as_bytes()) % dim) as usize)
            .collect()
    }

    /// `sign(x)·ln(1+|x|)` (by [`ln1`]), 0 for a non-finite `x`. Whole numbers below
    /// [`SQUASH_TABLE`] (counts, hours, hashed codes: most features) come from a table
    /// computed with the same expression, so the value is the same to the bit; the logarithm
    /// was a tenth of a stream consumer's instructions.
    #[cfg(test)]
    fn squash(x: f32) -> f64 {
        Self::squash_with(squash_table(), x)
    }

    /// [`OnlineLogit::squash`] with the table at hand.
    ///
    /// Written for the per-event path (a tenth of the consumer's applying thread): NaN and
    /// the infinities fail the table's range test and are caught on the slower path, and the
    /// whole-number test converts through `i32` (exact below the table's end) — `as usize`
    /// of a float compiled to a dozen instructions of saturating conversion.
    #[inline]
    fn squash_with(table: &[f64; SQUASH_TABLE], x: f32) -> f64 {
        let a = x.abs();
        let sign = f64::from(x.signum());
        if a < SQUASH_TABLE as f32 {
            let k = a as i32;
            if k as f32 == a {
                return sign * table.get(k as usize).copied().unwrap_or(0.0);
            }
        } else if !a.is_finite() {
            return 0.0;
        }
        sign * ln1(a)
    }

    /// The margin of the squashed features `sq` (one per bucket).
    fn margin(&self, buckets: &[usize], sq: impl Iterator<Item = f64>) -> f64 {
        let mut z = self.bias;
        for (&b, v) in buckets.iter().zip(sq) {
            z += self.weights.get(b).copied().unwrap_or(0.0) * v;
        }
        z
    }

    /// Probability of a purchase.
    pub fn predict(&self, buckets: &[usize], x: &[f32]) -> f64 {
        let t = squash_table();
        let mut z = self.bias;
        for (&b, &v) in buckets.iter().zip(x) {
            // A zero feature adds nothing: its weight is not even read (the weights are
            // 512 KiB; most features of a short session are zero). A missing one (NaN)
            // adds ±0, as in the full margin.
            if v == 0.0 {
                continue;
            }
            z += self.weights.get(b).copied().unwrap_or(0.0) * Self::squash_with(t, v);
        }
        1.0 / (1.0 + (-z.clamp(-35.0, 35.0)).exp())
    }

    /// One SGD step on the log-loss towards `label`.
    pub fn learn(&mut self, buckets: &[usize], x: &[f32], label: bool) {
        // Squashed once, for the prediction and the update.
        let t = squash_table();
        // On the stack for the usual feature counts.
        let mut stack = [0f64; 128];
        let mut heap = Vec::new();
        let sq: &mut [f64] = if x.len() <= stack.len() {
            &mut stack[..x.len()]
        } else {
            heap.resize(x.len(), 0.0);
            &mut heap
        };
        for (o, &v) in sq.iter_mut().zip(x) {
            *o = Self::squash_with(t, v);
        }
        let sq: &[f64] = sq;
        let z = self.margin(buckets, sq.iter().copied());
        let p = 1.0 / (1.0 + (-z.clamp(-35.0, 35.0)).exp());
        let g = p - if label { 1.0 } else { 0.0 };
        let lr = self.lr / (1.0 + self.updates as f64 * 1e-5).sqrt();
        for (&b, &v) in buckets.iter().zip(sq) {
            if let Some(w) = self.weights.get_mut(b) {
                *w -= lr * (g * v + self.l2 * *w);
            }
        }
        self.bias -= lr * g;
        self.updates += 1;
    }
}

/// Rolling prequential quality of one model: the last `window` (score, label) pairs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Rolling {
    window: usize,
    pairs: VecDeque<(f64, bool)>,
    /// Pairs ever seen.
    pub seen: u64,
}

impl Rolling {
    /// An empty window of `window` pairs.
    pub fn new(window: usize) -> Self {
        Rolling {
            window: window.max(1),
            pairs: VecDeque::new(),
            seen: 0,
        }
    }

    /// Adds one scored outcome.
    pub fn push(&mut self, score: f64, label: bool) {
        if self.pairs.len() == self.window {
            self.pairs.pop_front();
        }
        self.pairs.push_back((score, label));
        self.seen += 1;
    }

    /// Pairs in the window.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// ROC-AUC over the window (ties count half); `None` without both classes.
    pub fn auc(&self) -> Option<f64> {
        let mut v: Vec<(f64, bool)> = self
            .pairs
            .iter()
            .map(|&(s, l)| (if s.is_finite() { s } else { 0.0 }, l))
            .collect();
        let pos = v.iter().filter(|p| p.1).count() as f64;
        let neg = v.len() as f64 - pos;
        if pos == 0.0 || neg == 0.0 {
            return None;
        }
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Mann-Whitney U with average ranks for ties.
        let mut rank_sum = 0.0;
        let mut i = 0;
        while i < v.len() {
            let mut j = i;
            while j < v.len() && v[j].0 == v[i].0 {
                j += 1;
            }
            let avg = (i + j + 1) as f64 / 2.0;
            rank_sum += avg * v[i..j].iter().filter(|p| p.1).count() as f64;
            i = j;
        }
        Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
    }

    /// Mean log-loss over the window (scores clipped to [1e-15, 1-1e-15]).
    pub fn log_loss(&self) -> Option<f64> {
        if self.pairs.is_empty() {
            return None;
        }
        let s: f64 = self
            .pairs
            .iter()
            .map(|&(p, l)| {
                let p = if p.is_finite() { p } else { 0.5 }.clamp(1e-15, 1.0 - 1e-15);
                if l {
                    -p.ln()
                } else {
                    -(1.0 - p).ln()
                }
            })
            .sum();
        Some(s / self.pairs.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_and_reversed_rankings() {
        let mut r = Rolling::new(10);
        for (s, l) in [(0.1, false), (0.2, false), (0.8, true), (0.9, true)] {
            r.push(s, l);
        }
        assert_eq!(r.auc(), Some(1.0));
        let mut r = Rolling::new(10);
        for (s, l) in [(0.1, true), (0.9, false)] {
            r.push(s, l);
        }
        assert_eq!(r.auc(), Some(0.0));
        let ll = r.log_loss().unwrap_or(0.0);
        assert!((ll - (-(0.1f64).ln())).abs() < 1e-12);
    }

    #[test]
    fn sgd_separates_a_separable_feature() {
        let mut m = OnlineLogit::new(1 << 10, 0.5, 0.0);
        let names = vec!["carts".to_string()];
        let b = m.buckets(&names);
        for i in 0..2000 {
            let pos = i % 2 == 0;
            m.learn(&b, &[if pos { 5.0 } else { 0.0 }], pos);
        }
        assert!(m.predict(&b, &[5.0]) > 0.9);
        assert!(m.predict(&b, &[0.0]) < 0.1);
    }
}

#[cfg(test)]
mod squash_tests {
    use super::*;

    /// The single-precision logarithm stays within a relative 1e-6 (plus 1e-7 absolute, for
    /// values that vanish next to 1) of `ln_1p` in double precision, from 1e-9 to 1e12.
    #[test]
    fn ln1_is_close_to_ln_1p() {
        let mut a = 1e-9f32;
        while a < 1e12 {
            let exact = f64::from(a).ln_1p();
            let err = (ln1(a) - exact).abs();
            assert!(
                err <= 1e-6 * exact + 1e-7,
                "ln1({a}) = {} vs {exact}",
                ln1(a)
            );
            a *= 1.37;
        }
    }

    /// The table gives the bits of the plain expression for every value it covers, and the
    /// values around it still take the plain path.
    #[test]
    fn squash_equals_the_plain_expression_to_the_bit() {
        let plain = |x: f32| {
            if x.is_finite() {
                f64::from(x.signum()) * f64::from((1.0f32 + x.abs()).ln())
            } else {
                0.0
            }
        };
        let mut xs: Vec<f32> = (0..SQUASH_TABLE as i32 + 10)
            .flat_map(|k| [k as f32, -(k as f32), k as f32 + 0.5, k as f32 - 0.25])
            .collect();
        xs.extend([
            0.0,
            -0.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e-30,
            3.0e9,
            -7.5e12,
            f32::MAX,
            f32::MIN_POSITIVE,
        ]);
        for x in xs {
            assert_eq!(
                OnlineLogit::squash(x).to_bits(),
                plain(x).to_bits(),
                "squash({x})"
            );
        }
    }
}

#[cfg(test)]
mod predict_tests {
    use super::*;

    /// Skipping zero and missing features gives the probability of the full sum over every
    /// feature (their terms are ±0), to the bit.
    #[test]
    fn predict_equals_the_full_margin() {
        let names: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
        let mut m = OnlineLogit::new(1 << 8, 0.3, 1e-4);
        let b = m.buckets(&names);
        let row = |i: usize| -> Vec<f32> {
            (0..names.len())
                .map(|j| match (i * 7 + j * 13) % 9 {
                    0..=2 => 0.0,
                    3 => f32::NAN,
                    4 => -((i + j) as f32) * 0.37,
                    _ => ((i * j) % 50) as f32 + 0.25,
                })
                .collect()
        };
        for i in 0..300 {
            m.learn(&b, &row(i), i % 3 == 0);
        }
        let t = squash_table();
        for i in 300..400 {
            let x = row(i);
            let z = m.margin(&b, x.iter().map(|&v| OnlineLogit::squash_with(t, v)));
            let full = 1.0 / (1.0 + (-z.clamp(-35.0, 35.0)).exp());
            assert_eq!(m.predict(&b, &x).to_bits(), full.to_bits(), "row {i}");
        }
    }
}
