//! Fitted encoders: item / category / brand view→cart and view→purchase rates.
//!
//! **Training window.** Encoders are fitted on the events of the table whose time is before
//! the end of the training window, `end_ms = (latest start among the training prefixes) + 1`.
//! These are exactly the events of the sessions that start in the training window, cut at
//! `end_ms`; it includes sessions the protocol drops (for example sessions without a cart
//! under `at-cart`: their views still say how often an item is carted) and excludes every
//! event at or after `end_ms` — in particular everything of the validation and test parts,
//! which by [`crate::temporal_split`] start at or after the window's end.
//!
//! **Smoothing.** With `views`, `carts`, `purchases` counted per id (events of kind view /
//! cart / purchase), the rates are `(carts + m·g_cart) / (views + m)` and
//! `(purchases + m·g_buy) / (views + m)`, where `g` is the global rate over the window
//! (`carts / views`, `purchases / views`; 0 without views) and `m` is
//! [`FeatureSpec::smoothing`]. An id never seen in the window gets exactly `g` plus an
//! "unseen" flag. Rates are event ratios, so a source that logs carts without views can give
//! values above 1; smoothing keeps them bounded for rare ids.
//!
//! **Out of fold.** A training row's own session is in the window, so in-sample priors would
//! contain its own future (the item it later buys). [`fit_oof_encoders`] assigns every
//! session of the window to one of `K` groups by an xxh3 hash of the session index (or of the
//! user, [`OofBy::User`]) and fits, for each group `f`, encoders on the window's events of the
//! other groups. A training row uses the encoders of its own group; validation, test and
//! online rows use the encoders of the whole window ([`fit_encoders`]).
//!
//! Ids are stored under a 64-bit xxh3 hash of their string ([`FeatureSpec::key_seed`]), not
//! under a table's interned numbers, so that encoders fitted on one table serve any other
//! table or a live session.

use crate::protocol::Prefix;
use crate::spec::{FeatureSpec, OofBy};
use crate::{FeatureError, Result};
use serde::{Deserialize, Serialize};
use shopsense_events::kind::{CART, PURCHASE, VIEW};
use shopsense_events::{EventTable, Interner, NONE};
use shopsense_sessions::Sessions;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Event counts of one id (or of the whole window).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// View events.
    pub views: u64,
    /// Add-to-cart events.
    pub carts: u64,
    /// Purchase events.
    pub purchases: u64,
}

impl Counts {
    fn add_kind(&mut self, kind: u8) {
        match kind {
            VIEW => self.views += 1,
            CART => self.carts += 1,
            PURCHASE => self.purchases += 1,
            _ => {}
        }
    }

    fn is_zero(&self) -> bool {
        self.views == 0 && self.carts == 0 && self.purchases == 0
    }

    fn minus(&self, o: &Counts) -> Counts {
        Counts {
            views: self.views - o.views,
            carts: self.carts - o.carts,
            purchases: self.purchases - o.purchases,
        }
    }

    fn plus(&mut self, o: &Counts) {
        self.views += o.views;
        self.carts += o.carts;
        self.purchases += o.purchases;
    }
}

/// The counts of one id, stored under the xxh3 hash of its string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCounts {
    /// `xxh3_64_with_seed(id, key_seed)`.
    pub key: u64,
    /// The id's counts in the window.
    pub counts: Counts,
}

/// Fitted priors over one training window (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encoders {
    /// End of the training window (exclusive, UTC ms): only events before it were counted.
    pub end_ms: i64,
    /// Prior strength `m` used for the rates.
    pub smoothing: f64,
    /// Seed of the id keys.
    pub key_seed: u64,
    /// Events counted.
    pub events: u64,
    /// Counts over the whole window.
    pub global: Counts,
    /// Per item, sorted by key.
    pub items: Vec<KeyCounts>,
    /// Per category id, sorted by key.
    pub categories: Vec<KeyCounts>,
    /// Per brand, sorted by key.
    pub brands: Vec<KeyCounts>,
}

/// One encoder per out-of-fold group (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OofEncoders {
    /// `folds[f]` is fitted on the window's events of every group but `f`.
    pub folds: Vec<Encoders>,
    /// What the groups are made of.
    pub by: OofBy,
    /// Seed of the group assignment.
    pub seed: u64,
    /// End of the training window (exclusive, UTC ms); rows whose session starts at or after
    /// it are not training rows and use the whole-window encoders.
    pub end_ms: i64,
}

/// A resolved prior of one id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Prior {
    pub cart: f32,
    pub buy: f32,
    pub pop: f32,
    pub seen: bool,
}

/// The counts stored under `key` in `v` (sorted by key).
///
/// The keys are xxh3 hashes, spread evenly over `u64`, so a key's place is close to
/// `key / 2^64 · len`: the search starts there and gallops outwards to bracket the key, then
/// binary-searches the bracket. A plain binary search took about a dozen dependent loads
/// scattered over the whole table for every new id of a live session (half of the
/// stream's time adding an event to a session); this takes a few, close together. Any
/// order of keys is still searched exactly (only the speed depends on the spread).
pub(crate) fn find(v: &[KeyCounts], key: u64) -> Option<Counts> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    // < n, since key < 2^64.
    let g = ((u128::from(key) * n as u128) >> 64) as usize;
    let at = v[g].key;
    let (lo, hi) = if at == key {
        return Some(v[g].counts);
    } else if at < key {
        // In (g, n): probe g+1, g+2, g+4, … until a key ≥ `key` or the end.
        let (mut lo, mut step) = (g + 1, 1usize);
        loop {
            let probe = g.saturating_add(step);
            if probe >= n {
                break (lo, n);
            }
            if v[probe].key >= key {
                break (lo, probe + 1);
            }
            lo = probe + 1;
            step = step.saturating_mul(2);
        }
    } else {
        // In [0, g): probe g-1, g-2, g-4, … until a key ≤ `key` or the start.
        let (mut hi, mut step) = (g, 1usize);
        loop {
            if step > g {
                break (0, hi);
            }
            let probe = g - step;
            if v[probe].key <= key {
                break (probe, hi);
            }
            hi = probe;
            step = step.saturating_mul(2);
        }
    };
    v[lo..hi]
        .binary_search_by_key(&key, |k| k.key)
        .ok()
        .map(|i| v[lo + i].counts)
}

impl Encoders {
    /// The key an id string is stored under.
    pub fn key(&self, id: &str) -> u64 {
        xxh3_64_with_seed(id.as_bytes(), self.key_seed)
    }

    /// Counts of an item id, if it occurs in the window.
    pub fn item(&self, id: &str) -> Option<Counts> {
        find(&self.items, self.key(id))
    }

    /// Counts of a category id, if it occurs in the window.
    pub fn category(&self, id: &str) -> Option<Counts> {
        find(&self.categories, self.key(id))
    }

    /// Counts of a brand, if it occurs in the window.
    pub fn brand(&self, id: &str) -> Option<Counts> {
        find(&self.brands, self.key(id))
    }

    /// Global view→cart rate of the window (0 without views).
    pub fn global_cart_rate(&self) -> f64 {
        ratio(self.global.carts, self.global.views)
    }

    /// Global view→purchase rate of the window (0 without views).
    pub fn global_buy_rate(&self) -> f64 {
        ratio(self.global.purchases, self.global.views)
    }

    /// Smoothed view→cart rate of counts `c` (`None`: unseen, the global rate).
    pub fn cart_rate(&self, c: Option<Counts>) -> f64 {
        let c = c.unwrap_or_default();
        let m = self.smoothing;
        (c.carts as f64 + m * self.global_cart_rate()) / (c.views as f64 + m)
    }

    /// Smoothed view→purchase rate of counts `c` (`None`: unseen, the global rate).
    pub fn buy_rate(&self, c: Option<Counts>) -> f64 {
        let c = c.unwrap_or_default();
        let m = self.smoothing;
        (c.purchases as f64 + m * self.global_buy_rate()) / (c.views as f64 + m)
    }

    pub(crate) fn prior(&self, c: Option<Counts>) -> Prior {
        Prior {
            cart: self.cart_rate(c) as f32,
            buy: self.buy_rate(c) as f32,
            pop: (c.map_or(0, |c| c.views) as f64).ln_1p() as f32,
            seen: c.is_some(),
        }
    }

    /// Fails when the encoders were fitted with other settings than `spec`.
    pub fn check_spec(&self, spec: &FeatureSpec) -> Result<()> {
        if self.smoothing.to_bits() != spec.smoothing.to_bits() {
            return Err(FeatureError::SpecMismatch {
                name: "smoothing",
                fitted: self.smoothing.to_string(),
                spec: spec.smoothing.to_string(),
            });
        }
        if self.key_seed != spec.key_seed {
            return Err(FeatureError::SpecMismatch {
                name: "key_seed",
                fitted: self.key_seed.to_string(),
                spec: spec.key_seed.to_string(),
            });
        }
        Ok(())
    }

    /// The encoders as JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string(self)?)
    }

    /// Reads encoders from JSON.
    pub fn from_json(s: &str) -> Result<Self> {
        Ok(serde_json::from_str(s)?)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Priors of a table's interned ids, resolved once (offline) or as ids appear (online).
#[derive(Debug, Clone, Default)]
pub(crate) struct Priors {
    pub item: Vec<Prior>,
    pub category: Vec<Prior>,
    pub brand: Vec<Prior>,
}

impl Priors {
    /// Resolves the ids of `t` not resolved yet.
    pub fn extend(&mut self, t: &EventTable, enc: &Encoders) {
        fn ext(out: &mut Vec<Prior>, dict: &Interner, v: &[KeyCounts], enc: &Encoders) {
            for id in out.len()..dict.len() {
                out.push(enc.prior(find(v, enc.key(dict.get(id as u32)))));
            }
        }
        ext(&mut self.item, &t.items, &enc.items, enc);
        ext(&mut self.category, &t.categories, &enc.categories, enc);
        ext(&mut self.brand, &t.brands, &enc.brands, enc);
    }

    pub fn resolve(t: &EventTable, enc: &Encoders) -> Priors {
        let mut p = Priors::default();
        p.extend(t, enc);
        p
    }
}

/// Hashed category / brand codes of a table's interned ids.
#[derive(Debug, Clone, Default)]
pub(crate) struct Buckets {
    pub category: Vec<f32>,
    pub brand: Vec<f32>,
}

impl Buckets {
    pub fn extend(&mut self, t: &EventTable, spec: &FeatureSpec) {
        let code = |s: &str| {
            (xxh3_64_with_seed(s.as_bytes(), spec.hash_seed) % spec.hash_buckets as u64) as f32
        };
        for id in self.category.len()..t.categories.len() {
            self.category.push(code(t.categories.get(id as u32)));
        }
        for id in self.brand.len()..t.brands.len() {
            self.brand.push(code(t.brands.get(id as u32)));
        }
    }
}

/// End of the training window of `train`: its latest session start + 1 ms.
pub fn train_window_end(train: &[Prefix]) -> Result<i64> {
    train
        .iter()
        .map(|p| p.start_ms)
        .max()
        .map(|m| m.saturating_add(1))
        .ok_or_else(|| FeatureError::Empty("no training prefixes to fit encoders on".into()))
}

/// The out-of-fold group of every session.
pub(crate) fn fold_assignment(
    t: &EventTable,
    s: &Sessions,
    by: OofBy,
    seed: u64,
    k: u32,
) -> Vec<u8> {
    let k = k.max(1) as u64;
    match by {
        OofBy::Session => (0..s.len() as u32)
            .map(|i| (xxh3_64_with_seed(&i.to_le_bytes(), seed) % k) as u8)
            .collect(),
        OofBy::User => {
            let per_user: Vec<u8> = t
                .users
                .iter()
                .map(|u| (xxh3_64_with_seed(u.as_bytes(), seed) % k) as u8)
                .collect();
            s.user
                .iter()
                .map(|&u| per_user.get(u as usize).copied().unwrap_or(0))
                .collect()
        }
    }
}

/// Counts per interned id (items, categories, brands) and overall, for one group.
#[derive(Clone)]
struct Tally {
    items: Vec<Counts>,
    categories: Vec<Counts>,
    brands: Vec<Counts>,
    global: Counts,
    events: u64,
}

impl Tally {
    fn new(t: &EventTable) -> Tally {
        Tally {
            items: vec![Counts::default(); t.items.len()],
            categories: vec![Counts::default(); t.categories.len()],
            brands: vec![Counts::default(); t.brands.len()],
            global: Counts::default(),
            events: 0,
        }
    }

    fn add(&mut self, t: &EventTable, r: usize) {
        let k = t.kind[r];
        self.events += 1;
        self.global.add_kind(k);
        self.items[t.item[r] as usize].add_kind(k);
        let c = t.category[r];
        if c != NONE {
            self.categories[c as usize].add_kind(k);
        }
        let b = t.brand[r];
        if b != NONE {
            self.brands[b as usize].add_kind(k);
        }
    }

    fn minus(&self, o: &Tally) -> Tally {
        let sub = |a: &[Counts], b: &[Counts]| a.iter().zip(b).map(|(x, y)| x.minus(y)).collect();
        Tally {
            items: sub(&self.items, &o.items),
            categories: sub(&self.categories, &o.categories),
            brands: sub(&self.brands, &o.brands),
            global: self.global.minus(&o.global),
            events: self.events - o.events,
        }
    }

    fn plus(&mut self, o: &Tally) {
        let add = |a: &mut [Counts], b: &[Counts]| a.iter_mut().zip(b).for_each(|(x, y)| x.plus(y));
        add(&mut self.items, &o.items);
        add(&mut self.categories, &o.categories);
        add(&mut self.brands, &o.brands);
        self.global.plus(&o.global);
        self.events += o.events;
    }

    fn into_encoders(self, t: &EventTable, end_ms: i64, spec: &FeatureSpec) -> Encoders {
        let keyed = |v: &[Counts], dict: &Interner| -> Vec<KeyCounts> {
            let mut out: Vec<KeyCounts> = v
                .iter()
                .enumerate()
                .filter(|(_, c)| !c.is_zero())
                .map(|(id, c)| KeyCounts {
                    key: xxh3_64_with_seed(dict.get(id as u32).as_bytes(), spec.key_seed),
                    counts: *c,
                })
                .collect();
            out.sort_unstable_by_key(|k| k.key);
            // Two strings with one 64-bit key (practically never): merge their counts.
            out.dedup_by(|b, a| {
                if a.key == b.key {
                    a.counts.plus(&b.counts);
                    true
                } else {
                    false
                }
            });
            out
        };
        Encoders {
            end_ms,
            smoothing: spec.smoothing,
            key_seed: spec.key_seed,
            events: self.events,
            global: self.global,
            items: keyed(&self.items, &t.items),
            categories: keyed(&self.categories, &t.categories),
            brands: keyed(&self.brands, &t.brands),
        }
    }
}

/// Counts the events before `end_ms`, each into the group `group(row)`.
fn tally(t: &EventTable, groups: usize, end_ms: i64, group: impl Fn(usize) -> usize) -> Vec<Tally> {
    let mut out = vec![Tally::new(t); groups];
    for (r, &time) in t.time_ms.iter().enumerate() {
        if time < end_ms {
            out[group(r)].add(t, r);
        }
    }
    out
}

/// Fits encoders on the training window of `train` (the events before its latest session
/// start + 1 ms; see the [module docs](self)).
pub fn fit_encoders(
    t: &EventTable,
    sessions: &Sessions,
    train: &[Prefix],
    spec: &FeatureSpec,
) -> Result<Encoders> {
    spec.validate()?;
    crate::check_sessions(t, sessions)?;
    let end = train_window_end(train)?;
    let mut v = tally(t, 1, end, |_| 0);
    let one = v.pop().unwrap_or_else(|| Tally::new(t));
    Ok(one.into_encoders(t, end, spec))
}

/// Fits the out-of-fold encoders of the training window of `train`: `spec.oof_folds` groups
/// of sessions, group `f`'s encoders fitted on the other groups (see the [module docs](self)).
pub fn fit_oof_encoders(
    t: &EventTable,
    sessions: &Sessions,
    train: &[Prefix],
    spec: &FeatureSpec,
) -> Result<OofEncoders> {
    spec.validate()?;
    crate::check_sessions(t, sessions)?;
    let end = train_window_end(train)?;
    let k = spec.oof_folds as usize;
    let fold = fold_assignment(t, sessions, spec.oof_by, spec.oof_seed, spec.oof_folds);
    let of_event = &sessions.of_event;
    let groups = tally(t, k, end, |r| {
        of_event
            .get(r)
            .and_then(|&s| fold.get(s as usize))
            .map_or(0, |&f| f as usize)
    });
    let mut total = Tally::new(t);
    for g in &groups {
        total.plus(g);
    }
    let folds = groups
        .iter()
        .map(|g| total.minus(g).into_encoders(t, end, spec))
        .collect();
    Ok(OofEncoders {
        folds,
        by: spec.oof_by,
        seed: spec.oof_seed,
        end_ms: end,
    })
}

#[cfg(test)]
mod find_tests {
    use super::{find, Counts, KeyCounts};
    use proptest::prelude::*;

    fn table(keys: &[u64]) -> Vec<KeyCounts> {
        let mut keys = keys.to_vec();
        keys.sort_unstable();
        keys.dedup();
        keys.iter()
            .map(|&key| KeyCounts {
                key,
                counts: Counts {
                    views: key.rotate_left(7),
                    carts: key % 97,
                    purchases: key % 5,
                },
            })
            .collect()
    }

    fn plain(v: &[KeyCounts], key: u64) -> Option<Counts> {
        v.binary_search_by_key(&key, |k| k.key)
            .ok()
            .map(|i| v[i].counts)
    }

    #[test]
    fn edges_and_empty() {
        assert_eq!(find(&[], 5), None);
        let v = table(&[0, 1, u64::MAX - 1, u64::MAX]);
        for k in [0, 1, 2, u64::MAX / 2, u64::MAX - 2, u64::MAX - 1, u64::MAX] {
            assert_eq!(find(&v, k), plain(&v, k), "key {k}");
        }
        assert_eq!(find(&v, u64::MAX).map(|c| c.carts), Some(u64::MAX % 97));
    }

    proptest! {
        /// Evenly spread keys (as xxh3 gives), keys crowded at either end (the worst case for
        /// the first guess), present and absent: the same answer as a plain binary search.
        #[test]
        fn finds_what_a_binary_search_finds(
            spread in proptest::collection::vec(any::<u64>(), 0..300),
            low in proptest::collection::vec(0u64..1000, 0..300),
            high in proptest::collection::vec((u64::MAX - 1000)..=u64::MAX, 0..300),
            probes in proptest::collection::vec(any::<u64>(), 0..50),
        ) {
            for keys in [spread.clone(), low.clone(), high.clone(), [spread, low, high].concat()] {
                let v = table(&keys);
                for &k in keys.iter().chain(&probes) {
                    prop_assert_eq!(find(&v, k), plain(&v, k));
                    prop_assert_eq!(find(&v, k.wrapping_add(1)), plain(&v, k.wrapping_add(1)));
                }
            }
        }
    }
}
