//! Temporal splits: train / validation / test by session start time, and rolling-origin
//! (expanding window) folds on the training part.

use crate::protocol::Prefix;
use crate::{invalid, FeatureError, Result};
use serde::{Deserialize, Serialize};

/// Indices into a prefix list, by part. Each part is sorted by `(start_ms, session)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// Training prefixes (earliest sessions).
    pub train: Vec<usize>,
    /// Validation prefixes.
    pub valid: Vec<usize>,
    /// Test prefixes (latest sessions).
    pub test: Vec<usize>,
    /// First start time of the validation part: every training session starts strictly
    /// before it (`i64::MAX` when validation and test are empty).
    pub valid_start_ms: i64,
    /// First start time of the test part: every training and validation session starts
    /// strictly before it (`i64::MAX` when the test part is empty).
    pub test_start_ms: i64,
}

impl Split {
    /// The default fractions: 60 % train, 15 % validation, 25 % test.
    pub const DEFAULT_FRACTIONS: (f64, f64, f64) = (0.60, 0.15, 0.25);

    /// The training prefixes themselves (what [`crate::fit_encoders`] takes).
    pub fn train_prefixes(&self, prefixes: &[Prefix]) -> Vec<Prefix> {
        self.train
            .iter()
            .filter_map(|&i| prefixes.get(i).copied())
            .collect()
    }
}

/// A `(train, valid)` pair of prefix indices.
pub type Fold = (Vec<usize>, Vec<usize>);

/// Splits `prefixes` into train / validation / test by session start time.
///
/// The prefixes are ordered by `(start_ms, session)` (ties in start time: stable by session
/// index). With `n` prefixes the cut positions are `c1 = round(n·f_train)` and
/// `c2 = round(n·(f_train + f_valid))` in that order, and the cut *times* are the start times
/// found there: `T1 = start[c1]`, `T2 = max(start[c2], T1)`. A prefix goes to train when it
/// starts before `T1`, to validation when `T1 <= start < T2`, to test when `start >= T2`.
/// **Ties at a cut go to the later part**, so a later part never holds a session that starts
/// at or before one of an earlier part (`max train start < min valid start < min test
/// start`), and part sizes may differ from the fractions by the number of tied starts.
///
/// Fractions must be finite, non-negative and sum to 1 (within 1e-6).
pub fn temporal_split(prefixes: &[Prefix], fractions: (f64, f64, f64)) -> Result<Split> {
    let (a, b, c) = fractions;
    if [a, b, c].iter().any(|f| !f.is_finite() || *f < 0.0) || ((a + b + c) - 1.0).abs() > 1e-6 {
        return Err(invalid(
            "fractions",
            format!("({a}, {b}, {c}) must be non-negative and sum to 1"),
        ));
    }
    let mut order: Vec<usize> = (0..prefixes.len()).collect();
    order.sort_by_key(|&i| (prefixes[i].start_ms, prefixes[i].session));
    let n = order.len();
    let cut = |f: f64| ((n as f64 * f).round() as usize).min(n);
    let time_at = |c: usize| {
        if c < n {
            prefixes[order[c]].start_ms
        } else {
            i64::MAX
        }
    };
    let t1 = time_at(cut(a));
    let t2 = time_at(cut(a + b)).max(t1);
    let mut split = Split {
        valid_start_ms: t1,
        test_start_ms: t2,
        ..Default::default()
    };
    for i in order {
        let st = prefixes[i].start_ms;
        if st < t1 {
            split.train.push(i);
        } else if st < t2 {
            split.valid.push(i);
        } else {
            split.test.push(i);
        }
    }
    Ok(split)
}

/// Rolling-origin (expanding window) folds over `train_idx`, which must already be sorted by
/// session start time (as [`Split::train`] is).
///
/// The indices are cut into `k + 1` contiguous blocks of (nearly) equal size (block `b` holds
/// positions `b·n/(k+1) .. (b+1)·n/(k+1)`); fold `i` (0-based) trains on blocks `0..=i` and
/// validates on block `i + 1`, so validation never starts before training. Blocks are cut by
/// count, so sessions with the same start time can fall on both sides of a block boundary.
/// Returned values are the elements of `train_idx` (prefix indices), not positions.
pub fn rolling_origin_folds(train_idx: &[usize], k: usize) -> Result<Vec<Fold>> {
    if k == 0 {
        return Err(invalid("k", "needs at least one fold"));
    }
    let n = train_idx.len();
    if n < k + 1 {
        return Err(FeatureError::Empty(format!(
            "{n} training prefixes cannot make {k} rolling-origin folds"
        )));
    }
    let bound = |b: usize| b * n / (k + 1);
    Ok((0..k)
        .map(|i| {
            let cut = bound(i + 1);
            (
                train_idx[..cut].to_vec(),
                train_idx[cut..bound(i + 2)].to_vec(),
            )
        })
        .collect())
}

/// Like [`rolling_origin_folds`], but block boundaries move forward past ties in start time,
/// so every fold's validation block starts **strictly** after its training blocks (an encoder
/// fitted on a fold's training part then cannot see any event of its validation sessions).
/// `train_idx` must be sorted by `(start_ms, session)`, as [`Split::train`] is. Fails when
/// ties leave a block empty.
pub fn rolling_origin_folds_by_time(
    prefixes: &[Prefix],
    train_idx: &[usize],
    k: usize,
) -> Result<Vec<Fold>> {
    if k == 0 {
        return Err(invalid("k", "needs at least one fold"));
    }
    let n = train_idx.len();
    let start = |pos: usize| -> Result<i64> {
        let i = train_idx[pos];
        prefixes.get(i).map(|p| p.start_ms).ok_or_else(|| {
            FeatureError::OutOfRange(format!("index {i} but {} prefixes", prefixes.len()))
        })
    };
    let mut bounds = Vec::with_capacity(k + 2);
    bounds.push(0);
    for b in 1..=k {
        let mut c = (b * n / (k + 1)).max(bounds[b - 1] + 1).min(n);
        while c > 0 && c < n && start(c)? == start(c - 1)? {
            c += 1;
        }
        bounds.push(c);
    }
    bounds.push(n);
    let mut folds = Vec::with_capacity(k);
    for i in 0..k {
        let (cut, end) = (bounds[i + 1], bounds[i + 2]);
        if cut == 0 || cut >= end {
            return Err(FeatureError::Empty(format!(
                "{n} training prefixes cannot make {k} rolling-origin folds without splitting ties"
            )));
        }
        folds.push((train_idx[..cut].to_vec(), train_idx[cut..end].to_vec()));
    }
    Ok(folds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(session: u32, start_ms: i64) -> Prefix {
        Prefix {
            session,
            len: 1,
            label: false,
            start_ms,
            cutoff_ms: start_ms,
        }
    }

    #[test]
    fn ties_at_the_cut_go_to_the_later_part() {
        // Start times by prefix; sorted: 0 1 2 3 3 3 4 5 6 7.
        let ps: Vec<Prefix> = [3, 0, 1, 2, 3, 3, 4, 5, 6, 7]
            .iter()
            .enumerate()
            .map(|(i, &s)| p(i as u32, s))
            .collect();
        let sp = temporal_split(&ps, (0.5, 0.2, 0.3)).unwrap();
        // c1 = 5 -> sorted starts [0,1,2,3,3,3,4,5,6,7][5] = 3: all three 3s go to valid.
        assert_eq!(sp.valid_start_ms, 3);
        assert_eq!(sp.train, vec![1, 2, 3]);
        assert_eq!(sp.valid, vec![0, 4, 5, 6]);
        assert_eq!(sp.test_start_ms, 5);
        assert_eq!(sp.test, vec![7, 8, 9]);
        assert!(temporal_split(&ps, (0.5, 0.5, 0.5)).is_err());
        assert!(temporal_split(&ps, (1.2, -0.2, 0.0)).is_err());
        let all_train = temporal_split(&ps, (1.0, 0.0, 0.0)).unwrap();
        assert_eq!(all_train.train.len(), 10);
        assert_eq!(all_train.valid_start_ms, i64::MAX);
    }

    #[test]
    fn expanding_folds() {
        let idx: Vec<usize> = (100..110).collect();
        let f = rolling_origin_folds(&idx, 4).unwrap();
        assert_eq!(f.len(), 4);
        assert_eq!(f[0], (vec![100, 101], vec![102, 103]));
        assert_eq!(f[3].0, (100..108).collect::<Vec<_>>());
        assert_eq!(f[3].1, vec![108, 109]);
        assert!(rolling_origin_folds(&idx, 0).is_err());
        assert!(rolling_origin_folds(&idx[..3], 3).is_err());
    }

    #[test]
    fn folds_by_time_do_not_split_ties() {
        // starts 0 1 1 1 2 3 3 4: plain blocks of 2 would split the 1s and the 3s.
        let ps: Vec<Prefix> = [0, 1, 1, 1, 2, 3, 3, 4]
            .iter()
            .enumerate()
            .map(|(i, &s)| p(i as u32, s))
            .collect();
        let idx: Vec<usize> = (0..8).collect();
        let f = rolling_origin_folds_by_time(&ps, &idx, 3).unwrap();
        assert_eq!(f[0], (vec![0, 1, 2, 3], vec![4]));
        assert_eq!(f[1], (vec![0, 1, 2, 3, 4], vec![5, 6]));
        assert_eq!(f[2], (vec![0, 1, 2, 3, 4, 5, 6], vec![7]));
        let same: Vec<Prefix> = (0..6).map(|i| p(i, 7)).collect();
        assert!(rolling_origin_folds_by_time(&same, &(0..6).collect::<Vec<_>>(), 2).is_err());
    }
}
