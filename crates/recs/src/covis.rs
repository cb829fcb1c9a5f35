//! Item-to-item co-visitation from training sessions.
//!
//! Within a session (consecutive repeats of an item collapsed, keeping the highest level),
//! every pair of items at most `window` positions apart counts. The directed graph weights
//! a pair `a → b` by the level of `b` (view 1, cart 3, purchase 6, see
//! [`LEVEL_WEIGHT`](crate::data::LEVEL_WEIGHT)) and by `1 / distance`; the symmetric graph
//! counts plain co-occurrences (the input of the embeddings).

use hashbrown::HashMap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::LEVEL_WEIGHT;

/// A sparse matrix in compressed rows.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Csr {
    /// Row starts; one more than rows.
    pub offsets: Vec<u32>,
    /// Column of each entry.
    pub cols: Vec<u32>,
    /// Value of each entry.
    pub vals: Vec<f32>,
}

impl Csr {
    /// Columns and values of row `i` (empty for rows past the end).
    pub fn row(&self, i: u32) -> (&[u32], &[f32]) {
        let i = i as usize;
        if i + 1 >= self.offsets.len() {
            return (&[], &[]);
        }
        let (a, b) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
        (&self.cols[a..b], &self.vals[a..b])
    }
    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }
    /// Builds from per-row entry lists, keeping the `top` largest values of each row
    /// (ties by column), sorted by value descending.
    pub fn from_rows(rows: Vec<Vec<(u32, f32)>>, top: usize) -> Csr {
        let mut out = Csr {
            offsets: Vec::with_capacity(rows.len() + 1),
            ..Default::default()
        };
        out.offsets.push(0);
        for mut r in rows {
            r.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            r.truncate(top);
            for (c, v) in r {
                out.cols.push(c);
                out.vals.push(v);
            }
            out.offsets.push(out.cols.len() as u32);
        }
        out
    }
}

/// Collapses consecutive repeats of the same item, keeping the highest level.
pub fn collapse(seq: &[(u32, u8)]) -> Vec<(u32, u8)> {
    let mut out: Vec<(u32, u8)> = Vec::with_capacity(seq.len());
    for &(it, lv) in seq {
        match out.last_mut() {
            Some(last) if last.0 == it => last.1 = last.1.max(lv),
            _ => out.push((it, lv)),
        }
    }
    out
}

/// The directed (level-weighted) and symmetric co-visitation graphs.
pub fn build(
    seqs: &[Vec<(u32, u8)>],
    n_items: usize,
    window: usize,
    top_directed: usize,
    top_symmetric: usize,
) -> (Csr, Csr) {
    let window = window.max(1);
    let maps = seqs
        .par_chunks(4096)
        .map(|chunk| {
            let mut m: HashMap<u64, (f32, f32)> = HashMap::new();
            for seq in chunk {
                let seq = collapse(seq);
                for j in 0..seq.len() {
                    let (b, lb) = seq[j];
                    let lo = j.saturating_sub(window);
                    let hi = (j + window + 1).min(seq.len());
                    for (i, &(a, _)) in seq.iter().enumerate().take(hi).skip(lo) {
                        if i == j || a == b {
                            continue;
                        }
                        let d = i.abs_diff(j) as f32;
                        let e = m.entry(((a as u64) << 32) | b as u64).or_default();
                        e.0 += LEVEL_WEIGHT[lb as usize] / d;
                        e.1 += 1.0;
                    }
                }
            }
            m
        })
        .reduce(HashMap::new, |mut a, b| {
            if a.len() < b.len() {
                return merge(b, a);
            }
            for (k, v) in b {
                let e = a.entry(k).or_default();
                e.0 += v.0;
                e.1 += v.1;
            }
            a
        });
    let mut dir: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n_items];
    let mut sym: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n_items];
    for (k, (w, c)) in maps {
        let (a, b) = ((k >> 32) as u32, k as u32);
        if (a as usize) < n_items && (b as usize) < n_items {
            dir[a as usize].push((b, w));
            sym[a as usize].push((b, c));
        }
    }
    (
        Csr::from_rows(dir, top_directed),
        Csr::from_rows(sym, top_symmetric),
    )
}

fn merge(mut a: HashMap<u64, (f32, f32)>, b: HashMap<u64, (f32, f32)>) -> HashMap<u64, (f32, f32)> {
    for (k, v) in b {
        let e = a.entry(k).or_default();
        e.0 += v.0;
        e.1 += v.1;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapse_and_weights() {
        assert_eq!(
            collapse(&[(1, 1), (1, 2), (2, 1), (1, 1)]),
            vec![(1, 2), (2, 1), (1, 1)]
        );
        let (d, s) = build(&[vec![(0, 1), (1, 3), (2, 1)]], 3, 1, 10, 10);
        // 0 → 1 is weighted by the purchase of 1; 1 → 0 by the view of 0.
        assert_eq!(d.row(0), (&[1u32][..], &[6.0f32][..]));
        assert_eq!(d.row(1).0, &[0, 2]);
        assert_eq!(s.row(1).1, &[1.0, 1.0]);
        assert_eq!(d.row(7), (&[][..], &[][..]));
    }
}
