//! The online path: features of a live session's events so far, by the same function as
//! offline ([`crate::build_features`]), so the two agree bit for bit.

use crate::compute::{compute_row, Ctx, Scratch};
use crate::encoders::{Buckets, Encoders, Priors};
use crate::history::UserHistory;
use crate::spec::FeatureSpec;
use crate::{FeatureError, Result};
use shopsense_events::{Event, EventTable};
use std::ops::Deref;
use std::sync::Arc;

/// Borrowed or shared (`Arc`) settings of an [`OnlineSession`].
#[derive(Debug, Clone)]
enum Shared<'a, T> {
    Borrowed(&'a T),
    Owned(Arc<T>),
}

impl<T> Deref for Shared<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self {
            Shared::Borrowed(t) => t,
            Shared::Owned(t) => t,
        }
    }
}

/// A live session: events arrive one at a time, features can be asked for at any point.
///
/// Events are kept in a small [`EventTable`] of their own (ids interned there, priors and
/// hashed codes resolved as new ids appear) and in time order (ties: arrival order), exactly
/// as [`shopsense_sessions::Sessions`] orders a session offline. Live sessions are never
/// training rows, so they use the whole-window encoders.
pub struct OnlineSession<'a> {
    encoders: Shared<'a, Encoders>,
    spec: Shared<'a, FeatureSpec>,
    cols: Vec<usize>,
    history: UserHistory,
    table: EventTable,
    order: Vec<u32>,
    priors: Priors,
    buckets: Buckets,
    scratch: Scratch,
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
        Ok(OnlineSession {
            encoders: Shared::Borrowed(encoders),
            spec: Shared::Borrowed(spec),
            cols: spec.columns()?,
            history,
            table: EventTable::small(),
            order: Vec::new(),
            priors: Priors::default(),
            buckets: Buckets::default(),
            scratch: Scratch::new(),
        })
    }

    /// Adds one event.
    pub fn push(&mut self, ev: &Event) {
        self.table.push_event(ev);
        let row = (self.table.len() - 1) as u32;
        let time = &self.table.time_ms;
        // After every event at or before this time: time order, ties in arrival order.
        let at = self
            .order
            .partition_point(|&r| time[r as usize] <= ev.time_ms);
        self.order.insert(at, row);
        self.priors.extend(&self.table, &self.encoders);
        self.buckets.extend(&self.table, &self.spec);
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
            t: &self.table,
            priors: &self.priors,
            buckets: &self.buckets,
            utc_offset_ms: self.spec.utc_offset_minutes as i64 * 60_000,
        };
        let mut full = std::mem::take(&mut self.scratch.full);
        compute_row(
            &ctx,
            &self.order,
            &self.history,
            &mut self.scratch,
            &mut full,
        );
        for (o, &c) in out.iter_mut().zip(&self.cols) {
            *o = full[c];
        }
        self.scratch.full = full;
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
    cols: Vec<usize>,
}

impl SharedFeatures {
    /// Checks the spec and that the encoders were fitted with it.
    pub fn new(encoders: Arc<Encoders>, spec: Arc<FeatureSpec>) -> Result<Self> {
        spec.validate()?;
        encoders.check_spec(&spec)?;
        let cols = spec.columns()?;
        Ok(SharedFeatures {
            encoders,
            spec,
            cols,
        })
    }

    /// A new, empty session of a user with `history`.
    pub fn session(&self, history: UserHistory) -> OnlineSession<'static> {
        OnlineSession {
            encoders: Shared::Owned(self.encoders.clone()),
            spec: Shared::Owned(self.spec.clone()),
            cols: self.cols.clone(),
            history,
            table: EventTable::small(),
            order: Vec::new(),
            priors: Priors::default(),
            buckets: Buckets::default(),
            scratch: Scratch::new(),
        }
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
