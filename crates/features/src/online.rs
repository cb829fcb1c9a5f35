//! The online path: features of a live session's events so far, by the same function as
//! offline ([`crate::build_features`]), so the two agree bit for bit.

use crate::compute::{compute_row, Ctx, Scratch};
use crate::encoders::{find, Buckets, Encoders, Priors};
use crate::history::UserHistory;
use crate::spec::FeatureSpec;
use crate::{FeatureError, Result};
use shopsense_events::kind::FIXED_KINDS;
use shopsense_events::{Event, NONE};
use std::ops::Deref;
use std::sync::Arc;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Borrowed or shared (`Arc`) settings of an [`OnlineSession`].
#[derive(Debug, Clone)]
enum Shared<'a, T: ?Sized> {
    Borrowed(&'a T),
    Owned(Arc<T>),
}

impl<T: ?Sized> Deref for Shared<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self {
            Shared::Borrowed(t) => t,
            Shared::Owned(t) => t,
        }
    }
}

/// The distinct ids (items, categories and brands, told apart by a tag) seen in a live
/// session, numbered per tag in first-seen order: found by their encoder key, confirmed by
/// their bytes (so two ids are one only when their strings are equal, as in an
/// [`EventTable`](shopsense_events::EventTable)'s dictionary). Two buffers for all of them:
/// no allocation per id or per tag.
#[derive(Debug, Clone, Default)]
struct LocalIds {
    /// `(key, tag, number within the tag, end of the bytes)`.
    ids: Vec<(u64, u8, u32, u32)>,
    /// Id `i`'s bytes end at `ids[i].3` and start where id `i - 1`'s end (0 for the first).
    bytes: String,
}

impl LocalIds {
    fn get(&self, i: usize) -> &str {
        let from = if i == 0 {
            0
        } else {
            self.ids[i - 1].3 as usize
        };
        &self.bytes[from..self.ids[i].3 as usize]
    }

    /// The number of `s` (whose key is `key`) among the ids tagged `tag`, and whether it is
    /// new. `count` is how many ids the tag has so far (the number a new one gets).
    fn get_or_add(&mut self, tag: u8, key: u64, s: &str, count: usize) -> (u32, bool) {
        for (i, &(k, t, n, _)) in self.ids.iter().enumerate() {
            if k == key && t == tag && self.get(i) == s {
                return (n, false);
            }
        }
        self.bytes.push_str(s);
        self.ids
            .push((key, tag, count as u32, self.bytes.len() as u32));
        (count as u32, true)
    }
}

/// Tags of [`LocalIds`].
const ITEM: u8 = 0;
const CATEGORY: u8 = 1;
const BRAND: u8 = 2;

thread_local! {
    /// Scratch memory of the feature row, shared by the live sessions of a thread (the row
    /// is written whole on every call).
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::new());
}

/// A live session: events arrive one at a time, features can be asked for at any point.
///
/// A session keeps its own small columns (times, kinds, prices, and its distinct item,
/// category and brand ids numbered in first-seen order, with their priors and hashed codes
/// resolved when an id first appears), in time order (ties: arrival order), exactly as
/// [`shopsense_sessions::Sessions`] orders a session offline; the features come from the
/// same function as offline rows. Live sessions are never training rows, so they use the
/// whole-window encoders.
pub struct OnlineSession<'a> {
    encoders: Shared<'a, Encoders>,
    spec: Shared<'a, FeatureSpec>,
    cols: Shared<'a, [usize]>,
    history: UserHistory,
    time_ms: Vec<i64>,
    kind: Vec<u8>,
    price: Vec<f64>,
    item: Vec<u32>,
    category: Vec<u32>,
    brand: Vec<u32>,
    ids: LocalIds,
    order: Vec<u32>,
    priors: Priors,
    buckets: Buckets,
}

impl<'a> OnlineSession<'a> {
    /// A new, empty session of a user with `history` (what the user did before this
    /// session's first event).
    pub fn new(
        encoders: &'a Encoders,
        spec: &'a FeatureSpec,
        history: UserHistory,
    ) -> Result<Self> {
        spec.validate()?;
        encoders.check_spec(spec)?;
        let cols: Arc<[usize]> = spec.columns()?.into();
        Ok(Self::with(
            Shared::Borrowed(encoders),
            Shared::Borrowed(spec),
            Shared::Owned(cols),
            history,
        ))
    }

    fn with(
        encoders: Shared<'a, Encoders>,
        spec: Shared<'a, FeatureSpec>,
        cols: Shared<'a, [usize]>,
        history: UserHistory,
    ) -> Self {
        // Room for the usual session from the start: growing a dozen small buffers one
        // after another (and the ids' bytes most of all) was a twentieth of a stream
        // consumer's instructions.
        const EVENTS: usize = 8;
        OnlineSession {
            encoders,
            spec,
            cols,
            history,
            time_ms: Vec::with_capacity(EVENTS),
            kind: Vec::with_capacity(EVENTS),
            price: Vec::with_capacity(EVENTS),
            item: Vec::with_capacity(EVENTS),
            category: Vec::with_capacity(EVENTS),
            brand: Vec::with_capacity(EVENTS),
            ids: LocalIds {
                ids: Vec::with_capacity(EVENTS),
                bytes: String::with_capacity(16 * EVENTS),
            },
            order: Vec::with_capacity(EVENTS),
            priors: Priors::default(),
            buckets: Buckets::default(),
        }
    }

    /// Empties the session for a new one of a user with `history`, keeping its settings and
    /// its buffers' memory: afterwards it is exactly a new session of those settings. (The
    /// stream reuses the state of sessions that timed out: a session's state is a dozen
    /// small buffers, and allocating and freeing them was about a tenth of applying an
    /// event.)
    pub fn reset(&mut self, history: UserHistory) {
        self.history = history;
        self.time_ms.clear();
        self.kind.clear();
        self.price.clear();
        self.item.clear();
        self.category.clear();
        self.brand.clear();
        self.ids.ids.clear();
        self.ids.bytes.clear();
        self.order.clear();
        self.priors.item.clear();
        self.priors.category.clear();
        self.priors.brand.clear();
        self.buckets.category.clear();
        self.buckets.brand.clear();
    }

    /// Adds one event.
    pub fn push(&mut self, ev: &Event) {
        let enc = &*self.encoders;
        let spec = &*self.spec;
        let code = |s: &str| {
            (xxh3_64_with_seed(s.as_bytes(), spec.hash_seed) % spec.hash_buckets as u64) as f32
        };
        let row = self.time_ms.len() as u32;
        self.time_ms.push(ev.time_ms);
        // Other kinds only ever count as "other" (codes at or above FIXED_KINDS).
        self.kind.push(ev.kind.fixed_code().unwrap_or(FIXED_KINDS));
        self.price.push(ev.price.unwrap_or(f64::NAN));
        let key = enc.key(&ev.item_id);
        let (id, new) = self
            .ids
            .get_or_add(ITEM, key, &ev.item_id, self.priors.item.len());
        if new {
            self.priors.item.push(enc.prior(find(&enc.items, key)));
        }
        self.item.push(id);
        // Empty strings are missing, as in an EventTable.
        let category = match ev.category_id.as_deref() {
            Some(c) if !c.is_empty() => {
                let key = enc.key(c);
                let (id, new) = self
                    .ids
                    .get_or_add(CATEGORY, key, c, self.priors.category.len());
                if new {
                    self.priors
                        .category
                        .push(enc.prior(find(&enc.categories, key)));
                    self.buckets.category.push(code(c));
                }
                id
            }
            _ => NONE,
        };
        self.category.push(category);
        let brand = match ev.brand.as_deref() {
            Some(b) if !b.is_empty() => {
                let key = enc.key(b);
                let (id, new) = self.ids.get_or_add(BRAND, key, b, self.priors.brand.len());
                if new {
                    self.priors.brand.push(enc.prior(find(&enc.brands, key)));
                    self.buckets.brand.push(code(b));
                }
                id
            }
            _ => NONE,
        };
        self.brand.push(brand);
        let time = &self.time_ms;
        // After every event at or before this time: time order, ties in arrival order.
        let at = self
            .order
            .partition_point(|&r| time[r as usize] <= ev.time_ms);
        self.order.insert(at, row);
    }

    /// Events so far.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True before the first event.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Number of features (the spec's selection).
    pub fn n_features(&self) -> usize {
        self.cols.len()
    }

    /// Writes the features of the events so far into `out` (`n_features()` values).
    pub fn features_into(&mut self, out: &mut [f32]) -> Result<()> {
        if out.len() != self.cols.len() {
            return Err(FeatureError::OutOfRange(format!(
                "output has {} slots for {} features",
                out.len(),
                self.cols.len()
            )));
        }
        let ctx = Ctx {
            time_ms: &self.time_ms,
            kind: &self.kind,
            price: &self.price,
            item: &self.item,
            category: &self.category,
            brand: &self.brand,
            priors: &self.priors,
            buckets: &self.buckets,
            utc_offset_ms: self.spec.utc_offset_minutes as i64 * 60_000,
        };
        let (order, history, cols) = (&self.order, &self.history, &*self.cols);
        SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            let scratch = &mut *scratch;
            let mut full = std::mem::take(&mut scratch.full);
            compute_row(&ctx, order, history, scratch, &mut full);
            for (o, &c) in out.iter_mut().zip(cols.iter()) {
                *o = full[c];
            }
            scratch.full = full;
        });
        Ok(())
    }

    /// The features of the events so far.
    pub fn features(&mut self) -> Vec<f32> {
        let mut out = vec![0.0; self.cols.len()];
        // The length matches by construction.
        let _ = self.features_into(&mut out);
        out
    }
}

/// Settings shared by many live sessions, checked once: the whole-window encoders, the
/// spec and its selected columns. [`SharedFeatures::session`] makes a session that keeps
/// them by `Arc`, so it can be kept across calls (the stream keeps one per live session and
/// pushes each new event instead of recomputing the prefix from all its events).
#[derive(Debug, Clone)]
pub struct SharedFeatures {
    encoders: Arc<Encoders>,
    spec: Arc<FeatureSpec>,
    cols: Arc<[usize]>,
}

impl SharedFeatures {
    /// Checks the spec and that the encoders were fitted with it.
    pub fn new(encoders: Arc<Encoders>, spec: Arc<FeatureSpec>) -> Result<Self> {
        spec.validate()?;
        encoders.check_spec(&spec)?;
        let cols = spec.columns()?.into();
        Ok(SharedFeatures {
            encoders,
            spec,
            cols,
        })
    }

    /// A new, empty session of a user with `history`.
    pub fn session(&self, history: UserHistory) -> OnlineSession<'static> {
        OnlineSession::with(
            Shared::Owned(self.encoders.clone()),
            Shared::Owned(self.spec.clone()),
            Shared::Owned(self.cols.clone()),
            history,
        )
    }
}

/// The features of a live session whose events so far are `events` (any order; ties in
/// time keep slice order), for a user with `history`.
pub fn features_for_events(
    events: &[Event],
    encoders: &Encoders,
    spec: &FeatureSpec,
    history: &UserHistory,
) -> Result<Vec<f32>> {
    let mut s = OnlineSession::new(encoders, spec, *history)?;
    for e in events {
        s.push(e);
    }
    Ok(s.features())
}

#[cfg(test)]
mod tests {
    use super::LocalIds;

    #[test]
    fn local_ids_are_exact_even_when_keys_collide() {
        use super::{BRAND, ITEM};
        let mut ids = LocalIds::default();
        assert_eq!(ids.get_or_add(ITEM, 7, "a", 0), (0, true));
        assert_eq!(ids.get_or_add(ITEM, 9, "", 1), (1, true));
        // Same key, other bytes: another id (a key collision never merges two ids).
        assert_eq!(ids.get_or_add(ITEM, 7, "b", 2), (2, true));
        assert_eq!(ids.get_or_add(ITEM, 7, "a", 3), (0, false));
        assert_eq!(ids.get_or_add(ITEM, 7, "b", 3), (2, false));
        assert_eq!(ids.get_or_add(ITEM, 9, "", 3), (1, false));
        // The same string under another tag is that tag's own id.
        assert_eq!(ids.get_or_add(BRAND, 7, "a", 0), (0, true));
        assert_eq!(ids.get_or_add(BRAND, 7, "a", 1), (0, false));
        assert_eq!(
            (ids.get(0), ids.get(1), ids.get(2), ids.get(3)),
            ("a", "", "b", "a")
        );
    }
}
