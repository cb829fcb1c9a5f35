//! Scoring protocols: which events of a session a model may see, and what it predicts.
//!
//! Positions are positions in the session's time order ([`Sessions::events`]: by time, ties in
//! input order). Every protocol drops what lies at or after the first purchase, so no
//! visible prefix ever contains a purchase and the label is never visible.

use crate::{FeatureError, Result};
use serde::{Deserialize, Serialize};
use shopsense_events::kind::{CART, PURCHASE};
use shopsense_events::EventTable;
use shopsense_sessions::Sessions;
use std::fmt;
use std::str::FromStr;

/// When a session is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Protocol {
    /// `full`: everything before the first purchase.
    ///
    /// Visible: the events strictly before the first purchase (by position); the whole session
    /// when it has no purchase. Sessions whose first event is a purchase have nothing to see
    /// and are dropped. Label: the session has a purchase.
    #[default]
    Full,
    /// `early-k`: the first `k` events (`k >= 1`, default 3).
    ///
    /// Only sessions with at least `k` events before any purchase (all events when there is
    /// none). Visible: the first `k` events. Label: the session has a purchase (necessarily
    /// later than the visible events).
    EarlyK(u32),
    /// `at-cart`: scored at the first add-to-cart.
    ///
    /// Only sessions with an add-to-cart before any purchase. Visible: the events up to and
    /// including the first add-to-cart. Label: a purchase happens (necessarily after it).
    AtCart,
}

impl Protocol {
    /// The default `k` of `early-k`.
    pub const DEFAULT_K: u32 = 3;
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Full => f.write_str("full"),
            Protocol::EarlyK(k) => write!(f, "early-{k}"),
            Protocol::AtCart => f.write_str("at-cart"),
        }
    }
}

impl FromStr for Protocol {
    type Err = FeatureError;

    /// Parses `full`, `early-<k>` (`k >= 1`; plain `early` means `early-3`) or `at-cart`
    /// (also `at_cart`), ignoring ASCII case and surrounding blanks.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "full" => return Ok(Protocol::Full),
            "at-cart" | "at_cart" | "atcart" => return Ok(Protocol::AtCart),
            "early" => return Ok(Protocol::EarlyK(Protocol::DEFAULT_K)),
            _ => {}
        }
        if let Some(k) = t
            .strip_prefix("early-")
            .or_else(|| t.strip_prefix("early_"))
        {
            if let Ok(k) = k.parse::<u32>() {
                if k >= 1 {
                    return Ok(Protocol::EarlyK(k));
                }
            }
        }
        Err(FeatureError::Protocol(s.to_string()))
    }
}

impl TryFrom<String> for Protocol {
    type Error = FeatureError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Protocol> for String {
    fn from(p: Protocol) -> String {
        p.to_string()
    }
}

/// One scoring point: the first `len` events (time order) of session `session`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Prefix {
    /// Session index in [`Sessions`].
    pub session: u32,
    /// Number of events of the session, in time order, that the model may see (`>= 1`).
    pub len: u32,
    /// What the model predicts: the session buys (see [`Protocol`]).
    pub label: bool,
    /// Time of the session's first event (UTC ms).
    pub start_ms: i64,
    /// Time of the last visible event (UTC ms): the moment of scoring.
    pub cutoff_ms: i64,
}

/// The scoring points of every session under `protocol`, in session order (at most one per
/// session). See [`Protocol`] for the exact rules.
///
/// Fails for `EarlyK(0)` (nothing to see) and when `sessions` was not built from `t`.
pub fn prefixes(t: &EventTable, sessions: &Sessions, protocol: Protocol) -> Result<Vec<Prefix>> {
    if let Protocol::EarlyK(0) = protocol {
        return Err(FeatureError::Protocol("early-0".into()));
    }
    crate::check_sessions(t, sessions)?;
    let kinds = &t.kind;
    let times = &t.time_ms;
    let mut out = Vec::with_capacity(sessions.len());
    for s in 0..sessions.len() {
        let rows = sessions.events(s);
        if rows.is_empty() {
            continue;
        }
        let mut first_purchase = None;
        let mut first_cart = None;
        for (p, &r) in rows.iter().enumerate() {
            match kinds[r as usize] {
                PURCHASE => {
                    first_purchase = Some(p);
                    break;
                }
                CART if first_cart.is_none() => first_cart = Some(p),
                _ => {}
            }
        }
        let before = first_purchase.unwrap_or(rows.len());
        let label = first_purchase.is_some();
        let len = match protocol {
            Protocol::Full => before,
            Protocol::EarlyK(k) => {
                if before >= k as usize {
                    k as usize
                } else {
                    0
                }
            }
            // `first_cart` is only ever set before the first purchase.
            Protocol::AtCart => first_cart.map_or(0, |c| c + 1),
        };
        if len == 0 {
            continue;
        }
        out.push(Prefix {
            session: s as u32,
            len: len as u32,
            label,
            start_ms: times[rows[0] as usize],
            cutoff_ms: times[rows[len - 1] as usize],
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!("full".parse::<Protocol>().unwrap(), Protocol::Full);
        assert_eq!("early-3".parse::<Protocol>().unwrap(), Protocol::EarlyK(3));
        assert_eq!(
            " Early-10 ".parse::<Protocol>().unwrap(),
            Protocol::EarlyK(10)
        );
        assert_eq!("early".parse::<Protocol>().unwrap(), Protocol::EarlyK(3));
        assert_eq!("at-cart".parse::<Protocol>().unwrap(), Protocol::AtCart);
        for bad in ["early-0", "early-", "early-x", "cart", ""] {
            assert!(bad.parse::<Protocol>().is_err(), "{bad}");
        }
        for p in [Protocol::Full, Protocol::EarlyK(5), Protocol::AtCart] {
            assert_eq!(p.to_string().parse::<Protocol>().unwrap(), p);
            let j = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<Protocol>(&j).unwrap(), p);
        }
    }
}
