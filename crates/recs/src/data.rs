//! Temporal splits of sessions, string vocabularies and kind levels.

use crate::error::{RecsError, Result};
use serde::{Deserialize, Serialize};
use shopsense_events::kind::{CART, PURCHASE, REMOVE_FROM_CART, VIEW, WISHLIST};
use shopsense_events::EventTable;
use shopsense_sessions::Sessions;
use std::collections::HashMap;

/// The funnel level of an event kind, used to weight interactions: view-like 1, wishlist /
/// cart 2, purchase 3 (remove-from-cart and other kinds 1).
pub fn kind_level(code: u8) -> u8 {
    match code {
        VIEW | REMOVE_FROM_CART => 1,
        CART | WISHLIST => 2,
        PURCHASE => 3,
        _ => 1,
    }
}

/// Weight of an interaction of level 1..=3 (view < cart < purchase) in co-visitation and
/// popularity counts.
pub const LEVEL_WEIGHT: [f32; 4] = [0.0, 1.0, 3.0, 6.0];

/// A temporal split of sessions by start time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Split {
    /// Sessions starting before this time (ms) are training sessions.
    pub cutoff_ms: i64,
    /// Training session indices, in session order.
    pub train: Vec<u32>,
    /// Test session indices, in session order.
    pub test: Vec<u32>,
}

/// Start time (ms) of session `s`.
pub fn session_start(t: &EventTable, s: &Sessions, i: usize) -> i64 {
    s.events(i)
        .first()
        .map_or(i64::MIN, |&e| t.time_ms[e as usize])
}

/// Splits sessions by start: the latest `test_fraction` of session starts are the test part.
/// All sessions with the same start time fall on the same side.
pub fn temporal_split(t: &EventTable, s: &Sessions, test_fraction: f64) -> Result<Split> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(RecsError::Invalid(format!(
            "test fraction {test_fraction} is not in (0, 1)"
        )));
    }
    if s.len() < 2 {
        return Err(RecsError::NotEnoughData(format!(
            "{} sessions; a split needs at least 2",
            s.len()
        )));
    }
    let mut starts: Vec<i64> = (0..s.len()).map(|i| session_start(t, s, i)).collect();
    starts.sort_unstable();
    let k = ((s.len() as f64) * (1.0 - test_fraction)).floor() as usize;
    let cutoff_ms = starts[k.clamp(1, s.len() - 1)];
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for i in 0..s.len() {
        if session_start(t, s, i) < cutoff_ms {
            train.push(i as u32);
        } else {
            test.push(i as u32);
        }
    }
    if train.is_empty() || test.is_empty() {
        return Err(RecsError::NotEnoughData(
            "all sessions start at the same time; no temporal split possible".into(),
        ));
    }
    Ok(Split {
        cutoff_ms,
        train,
        test,
    })
}

/// Strings with dense ids (the bundle's items, users, categories, brands).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Vocab {
    /// The strings, by id.
    pub names: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

impl Vocab {
    /// Id of `s`, adding it when new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
    /// Id of `s` if known.
    pub fn get(&self, s: &str) -> Option<u32> {
        self.index.get(s).copied()
    }
    /// The string of id `i`.
    pub fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }
    /// Number of strings.
    pub fn len(&self) -> usize {
        self.names.len()
    }
    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
    /// Rebuilds the lookup index after deserialisation.
    pub fn reindex(&mut self) {
        self.index = self
            .names
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
    }
}
