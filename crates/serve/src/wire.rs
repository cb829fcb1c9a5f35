//! Request and response bodies, and strict decoding of request bodies.

use crate::error::ApiError;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shopsense_events::{Event, EventKind};
use shopsense_features::UserHistory;
use utoipa::{IntoParams, ToSchema};

/// Longest accepted id or name, in bytes.
pub const MAX_ID_LEN: usize = 256;

/// An id given as a JSON string or integer (REES46 ids are numbers).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Id {
    /// A string id.
    Str(String),
    /// An integer id.
    Int(i64),
}

impl Id {
    fn into_string(self) -> String {
        match self {
            Id::Str(s) => s,
            Id::Int(i) => i.to_string(),
        }
    }
}

/// An event time: UTC milliseconds since the epoch, or text (RFC 3339,
/// `YYYY-MM-DD HH:MM:SS[ UTC]`, as in REES46).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Time {
    /// UTC milliseconds.
    Ms(i64),
    /// Text.
    Text(String),
}

/// A JSON string or integer, read straight from the input (serde's derived untagged enums
/// buffer every value first: that was a visible share of a stream consumer's time).
enum StrOrInt {
    Str(String),
    Int(i64),
}

impl<'de> Deserialize<'de> for StrOrInt {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = StrOrInt;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StrOrInt, E> {
                Ok(StrOrInt::Str(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<StrOrInt, E> {
                Ok(StrOrInt::Str(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<StrOrInt, E> {
                Ok(StrOrInt::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<StrOrInt, E> {
                i64::try_from(v)
                    .map(StrOrInt::Int)
                    .map_err(|_| E::custom(format!("integer {v} is too large")))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match StrOrInt::deserialize(d)? {
            StrOrInt::Str(s) => Id::Str(s),
            StrOrInt::Int(i) => Id::Int(i),
        })
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match StrOrInt::deserialize(d)? {
            StrOrInt::Str(s) => Time::Text(s),
            StrOrInt::Int(i) => Time::Ms(i),
        })
    }
}

/// One raw event: the canonical fields of ingest (REES46 column names accepted as aliases).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// Event time (alias `event_time`).
    #[serde(alias = "event_time", alias = "time_ms")]
    pub time: Time,
    /// Kind: `view`, `cart`, `remove_from_cart`, `purchase`, `wishlist`, or another name
    /// (alias `event_type`).
    #[serde(alias = "event_type")]
    pub kind: String,
    /// User id.
    pub user_id: Id,
    /// Session id (alias `user_session`); when absent the user id is the session.
    #[serde(default, alias = "user_session")]
    pub session_id: Option<Id>,
    /// Item id (alias `product_id`).
    #[serde(alias = "product_id")]
    pub item_id: Id,
    /// Category id.
    #[serde(default)]
    pub category_id: Option<Id>,
    /// Category path such as `electronics.smartphone` (alias `category_code`).
    #[serde(default, alias = "category_code")]
    pub category_path: Option<String>,
    /// Brand.
    #[serde(default)]
    pub brand: Option<String>,
    /// Price (finite, ≥ 0).
    #[serde(default)]
    pub price: Option<f64>,
    /// Order id.
    #[serde(default)]
    pub order_id: Option<Id>,
}

/// `field` names the field in an error; it is only built when there is one (this runs for
/// every id of every event a stream consumes).
fn check_id(
    field: impl Fn() -> String,
    s: String,
    required: bool,
) -> Result<Option<String>, ApiError> {
    if s.is_empty() {
        return if required {
            Err(ApiError::invalid(field(), "must not be empty"))
        } else {
            Ok(None)
        };
    }
    if s.len() > MAX_ID_LEN {
        return Err(ApiError::invalid(
            field(),
            format!("longer than {MAX_ID_LEN} bytes"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(ApiError::invalid(field(), "contains control characters"));
    }
    Ok(Some(s))
}

impl EventIn {
    /// Validates into a canonical event; `at` is the field path prefix (`events[3]`).
    pub fn into_event(self, at: &str) -> Result<Event, ApiError> {
        let f = |name: &str| {
            if at.is_empty() {
                name.to_string()
            } else {
                format!("{at}.{name}")
            }
        };
        let time_ms = time_ms_of(self.time, || f("time"))?;
        let kind_name = check_id(|| f("kind"), self.kind, true)?.unwrap_or_default();
        let kind = EventKind::from_name(&kind_name);
        let user_id =
            check_id(|| f("user_id"), self.user_id.into_string(), true)?.unwrap_or_default();
        let item_id =
            check_id(|| f("item_id"), self.item_id.into_string(), true)?.unwrap_or_default();
        let opt = |name: &str, v: Option<String>| match v {
            Some(s) => check_id(|| f(name), s, false),
            None => Ok(None),
        };
        let session_id = opt("session_id", self.session_id.map(Id::into_string))?;
        let category_id = opt("category_id", self.category_id.map(Id::into_string))?;
        let category_path = opt("category_path", self.category_path)?;
        let brand = opt("brand", self.brand)?;
        let order_id = opt("order_id", self.order_id.map(Id::into_string))?;
        if let Some(p) = self.price {
            if !p.is_finite() || p < 0.0 {
                return Err(ApiError::invalid(f("price"), "must be finite and ≥ 0"));
            }
        }
        Ok(Event {
            time_ms,
            user_id,
            session_id,
            item_id,
            category_id,
            category_path,
            brand,
            price: self.price,
            kind,
            order_id,
            source_file: None,
            source_line: 0,
        })
    }
}

/// A batch of events.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    /// The events (1 ..= the batch limit).
    pub events: Vec<EventIn>,
}

/// What is known about the user before the session (all counts default to 0).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryIn {
    /// Earlier sessions.
    pub sessions: u32,
    /// Earlier events.
    pub events: u32,
    /// Earlier add-to-carts.
    pub carts: u32,
    /// Earlier purchases.
    pub purchases: u32,
    /// Earlier sessions with a purchase.
    pub purchase_sessions: u32,
    /// Time of the user's last earlier event (UTC ms).
    pub last_event_ms: Option<i64>,
}

impl From<HistoryIn> for UserHistory {
    fn from(h: HistoryIn) -> Self {
        UserHistory {
            sessions: h.sessions,
            events: h.events,
            carts: h.carts,
            purchases: h.purchases,
            purchase_sessions: h.purchase_sessions,
            last_event_ms: h.last_event_ms,
        }
    }
}

/// `POST /v1/intent`: a session's events (no server state involved).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentIn {
    /// The session's events so far (1 ..= the batch limit), any order.
    pub events: Vec<EventIn>,
    /// The user's history before the session (default: a new user).
    #[serde(default)]
    pub history: Option<HistoryIn>,
}

/// The intent of one session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionScore {
    /// Session id.
    pub session_id: String,
    /// User id.
    pub user_id: String,
    /// Calibrated purchase probability.
    pub score: f64,
    /// `score >= threshold`.
    pub decision: bool,
    /// The threshold used.
    pub threshold: f64,
    /// Version of the model that scored.
    pub model_version: String,
    /// Events of the session so far.
    pub events: usize,
}

/// `POST /v1/events` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventsOut {
    /// Events accepted.
    pub accepted: usize,
    /// The updated sessions, in order of first appearance in the request.
    pub sessions: Vec<SessionScore>,
}

/// `POST /v1/intent` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IntentOut {
    /// Calibrated purchase probability.
    pub score: f64,
    /// `score >= threshold`.
    pub decision: bool,
    /// The threshold used.
    pub threshold: f64,
    /// Version of the model that scored.
    pub model_version: String,
    /// Events scored.
    pub events: usize,
}

/// `POST /v1/next-action` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NextActionIn {
    /// User id.
    pub user_id: Id,
    /// Item id (alias `product_id`).
    #[serde(alias = "product_id")]
    pub item_id: Id,
    /// Live session id: its events so far are the session context. When absent, the user's
    /// most recent live session is used, if any.
    #[serde(default, alias = "user_session")]
    pub session_id: Option<Id>,
    /// Category id of the item, if known.
    #[serde(default)]
    pub category_id: Option<Id>,
    /// Brand of the item, if known.
    #[serde(default)]
    pub brand: Option<String>,
    /// Price of the item, if known (finite, ≥ 0).
    #[serde(default)]
    pub price: Option<f64>,
    /// Time of the interaction (default: now).
    #[serde(default, alias = "event_time", alias = "time_ms")]
    pub time: Option<Time>,
}

/// A validated [`NextActionIn`].
#[derive(Debug, Clone)]
pub struct NextActionQuery {
    /// User id.
    pub user_id: String,
    /// Item id.
    pub item_id: String,
    /// Session id, if given.
    pub session_id: Option<String>,
    /// Category id.
    pub category_id: Option<String>,
    /// Brand.
    pub brand: Option<String>,
    /// Price.
    pub price: Option<f64>,
    /// Time (UTC ms), if given.
    pub time_ms: Option<i64>,
}

fn time_ms_of(t: Time, field: impl Fn() -> String) -> Result<i64, ApiError> {
    let ms = match t {
        Time::Ms(ms) => ms,
        Time::Text(s) => {
            if !s.is_ascii() || s.len() > 64 {
                return Err(ApiError::invalid(field(), "not a valid time"));
            }
            shopsense_events::time::parse_time_arg(&s).ok_or_else(|| {
                ApiError::invalid(
                    field(),
                    "not a valid time (RFC 3339, `YYYY-MM-DD HH:MM:SS[ UTC]` or UTC ms)",
                )
            })?
        }
    };
    if !(0..=253_402_300_799_999).contains(&ms) {
        return Err(ApiError::invalid(field(), "out of range"));
    }
    Ok(ms)
}

impl NextActionIn {
    /// Validates the fields (ids non-empty and short, price finite and ≥ 0, time valid).
    pub fn validate(self) -> Result<NextActionQuery, ApiError> {
        let user_id =
            check_id(|| "user_id".into(), self.user_id.into_string(), true)?.unwrap_or_default();
        let item_id =
            check_id(|| "item_id".into(), self.item_id.into_string(), true)?.unwrap_or_default();
        let session_id = match self.session_id {
            Some(s) => check_id(|| "session_id".into(), s.into_string(), false)?,
            None => None,
        };
        let category_id = match self.category_id {
            Some(s) => check_id(|| "category_id".into(), s.into_string(), false)?,
            None => None,
        };
        let brand = match self.brand {
            Some(s) => check_id(|| "brand".into(), s, false)?,
            None => None,
        };
        if let Some(p) = self.price {
            if !p.is_finite() || p < 0.0 {
                return Err(ApiError::invalid("price", "must be a finite number ≥ 0"));
            }
        }
        let time_ms = self
            .time
            .map(|t| time_ms_of(t, || "time".into()))
            .transpose()?;
        Ok(NextActionQuery {
            user_id,
            item_id,
            session_id,
            category_id,
            brand,
            price: self.price,
            time_ms,
        })
    }
}

/// Probability of one kind.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KindProbability {
    /// Kind name (`view`, `cart`, `purchase`, …).
    pub kind: String,
    /// Probability.
    pub probability: f64,
}

/// `POST /v1/next-action` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NextActionOut {
    /// User id.
    pub user_id: String,
    /// Item id.
    pub item_id: String,
    /// Kind probabilities in the model's class order (they sum to 1).
    pub probabilities: Vec<KindProbability>,
    /// The decided kind (largest validation-tuned weight × probability).
    pub decision: String,
    /// Live session used as context, if any.
    pub session_id: Option<String>,
    /// Events of that session used.
    pub session_events: usize,
    /// Whether the bundle knows the user's history.
    pub known_user: bool,
}

/// An item or user with its score.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScoredId {
    /// Item or user id.
    pub id: String,
    /// Score (higher is better).
    pub score: f64,
}

/// `GET /v1/recommendations` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecommendationsOut {
    /// User id.
    pub user_id: String,
    /// True when nothing is known of the user or the session (recent popularity list).
    pub cold_start: bool,
    /// Live session used as context, if any.
    pub session_id: Option<String>,
    /// Events of that session used.
    pub session_events: usize,
    /// Items, best first.
    pub items: Vec<ScoredId>,
}

/// `GET /v1/items/{id}/similar` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SimilarOut {
    /// Item id.
    pub item_id: String,
    /// True when the item is unknown to the bundle: the list is then recent popularity.
    pub cold_start: bool,
    /// Items, most similar first.
    pub items: Vec<ScoredId>,
}

/// `GET /v1/items/{id}/audience` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AudienceOut {
    /// Item id.
    pub item_id: String,
    /// False when the item is unknown to the bundle (no audience can be scored: empty list).
    pub known_item: bool,
    /// Users, most likely first.
    pub users: Vec<ScoredId>,
}

/// `?k=` of the item endpoints.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct KQuery {
    /// How many (1 ..= 1000, default 10).
    pub k: Option<u32>,
}

/// `GET /v1/recommendations` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RecQuery {
    /// User id.
    pub user_id: String,
    /// How many (1 ..= 1000, default 10).
    pub k: Option<u32>,
    /// Live session to use as context (default: the user's most recent live session).
    pub session_id: Option<String>,
    /// Keep items the user already bought (default false).
    pub include_bought: Option<bool>,
}

/// `GET /healthz`, `GET /readyz` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`, `ready` or `not_ready`.
    pub status: String,
    /// Version of the loaded intent model, if any.
    pub model_version: Option<String>,
}

/// `POST /v1/admin/reload` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReloadOut {
    /// Intent model version now serving (empty when the server has no intent model).
    pub model_version: String,
    /// The recommendation / next-action bundles reloaded too.
    #[serde(default)]
    pub also_loaded: Vec<String>,
}

/// Checks `k` (default 10, 1..=1000).
pub fn check_k(k: Option<u32>) -> Result<usize, ApiError> {
    match k {
        None => Ok(10),
        Some(k @ 1..=1000) => Ok(k as usize),
        Some(_) => Err(ApiError::invalid("k", "must be between 1 and 1000")),
    }
}

/// Parses a body as JSON: malformed JSON → 400 `invalid_json`.
pub fn parse_json(bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON: {e}"),
        )
    })
}

/// Reads a parsed body as `T`: the wrong shape (missing field, wrong type, unknown field) →
/// 422 `invalid_field` naming the field's path, prefixed by `at` (may be empty).
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value, at: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.inner().to_string();
        let missing = msg
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
            .map(str::to_string);
        let parts: Vec<&str> = [at, path.as_str(), missing.as_deref().unwrap_or("")]
            .into_iter()
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        let field = if parts.is_empty() {
            "body".to_string()
        } else {
            parts.join(".")
        };
        ApiError::invalid(field, msg)
    })
}

/// Decodes a JSON body strictly ([`parse_json`] then [`from_value`]).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    from_value(parse_json(bytes)?, "")
}

/// Decodes the body of `POST /v1/events`: `{"events": [...]}`, a bare array, or one event.
/// Returns the events and, for error paths, the name of their array (`events`, empty for a
/// bare array, `None` for a single event).
pub fn decode_events(
    bytes: &[u8],
    max_batch: usize,
) -> Result<(Vec<EventIn>, Option<&'static str>), ApiError> {
    let v = parse_json(bytes)?;
    let items = match v {
        serde_json::Value::Object(mut m) if m.contains_key("events") => {
            if m.len() > 1 {
                let other = m
                    .keys()
                    .find(|k| *k != "events")
                    .cloned()
                    .unwrap_or_default();
                return Err(ApiError::invalid(other, "unknown field; expected `events`"));
            }
            match m.remove("events") {
                Some(serde_json::Value::Array(a)) => (a, "events"),
                _ => return Err(ApiError::invalid("events", "must be an array of events")),
            }
        }
        serde_json::Value::Array(a) => (a, ""),
        one => return Ok((vec![from_value(one, "")?], None)),
    };
    let (items, name) = items;
    check_batch(
        items.len(),
        max_batch,
        if name.is_empty() { "body" } else { name },
    )?;
    let items = items
        .into_iter()
        .enumerate()
        .map(|(i, v)| from_value(v, &format!("{name}[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((items, Some(name)))
}

/// Checks a batch size (1 ..= `max`).
pub fn check_batch(n: usize, max: usize, field: &str) -> Result<(), ApiError> {
    if n == 0 {
        return Err(ApiError::invalid(field, "must hold at least one event"));
    }
    if n > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("{n} events; at most {max} per request"),
        )
        .with_field(field));
    }
    Ok(())
}

#[cfg(test)]
mod id_time_tests {
    use super::*;

    /// Ids and times read as the derived untagged enums read them: strings and integers,
    /// anything else refused with what was expected.
    #[test]
    fn ids_and_times_are_strings_or_integers() {
        let id = |j: &str| serde_json::from_str::<Id>(j).map_err(|e| e.to_string());
        assert_eq!(id("\"a-1\""), Ok(Id::Str("a-1".into())));
        assert_eq!(id("\"esc\\\"aped\""), Ok(Id::Str("esc\"aped".into())));
        assert_eq!(id("512386086"), Ok(Id::Int(512_386_086)));
        assert_eq!(id("-7"), Ok(Id::Int(-7)));
        assert_eq!(id("9223372036854775807"), Ok(Id::Int(i64::MAX)));
        let e = id("9223372036854775808").unwrap_err();
        assert!(e.contains("too large"), "{e}");
        for bad in ["1.5", "true", "null", "[1]", "{}"] {
            let e = id(bad).unwrap_err();
            assert!(e.contains("expected a string or an integer"), "{bad}: {e}");
        }
        let time = |j: &str| serde_json::from_str::<Time>(j).map_err(|e| e.to_string());
        assert_eq!(time("1569888000000"), Ok(Time::Ms(1_569_888_000_000)));
        assert_eq!(
            time("\"2019-10-01 00:00:00 UTC\""),
            Ok(Time::Text("2019-10-01 00:00:00 UTC".into()))
        );
        assert!(time("1.5e12").is_err());
        // Inside an event the same message comes back (the HTTP decoder adds the field path).
        let ev: Result<EventIn, _> =
            serde_json::from_str(r#"{"time": 1, "kind": "view", "user_id": 2.5, "item_id": "i"}"#);
        let e = ev.unwrap_err().to_string();
        assert!(e.contains("expected a string or an integer"), "{e}");
    }
}
