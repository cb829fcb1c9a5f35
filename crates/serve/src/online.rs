//! The online state behind one trait, [`OnlineState`]: in memory ([`SessionStore`]) or in
//! Redis ([`RedisState`], shared by any number of replicas).
//!
//! Both keep, per live session, the user id, the user's history before the session (taken when
//! the session is first seen) and the session's events; both close a session untouched for the
//! TTL. In Redis:
//!
//! | key | type | content |
//! |---|---|---|
//! | `P:sess:{session}` | hash | `user`, `history` (JSON), written once (`HSETNX`: the first replica wins, the others read it) |
//! | `P:ev:{session}` | list | the session's events as JSON, in arrival order (at most `max_events_per_session`) |
//! | `P:seen:{session}` | set | xxh3 of every event appended: an event sent twice (a retry, or the same event through two replicas) is appended once |
//! | `P:user:{user}` | hash | per session of the user: first event time and counts, for the histories of the user's next sessions |
//! | `P:live` | sorted set | live sessions by last update (the online-state size; expired members are dropped by the eviction tick) |
//!
//! Every key of a session carries a Redis expiry of the TTL, renewed on each update (so a
//! session untouched for the TTL disappears with no server involved); user summaries live
//! [`USER_TTL_FACTOR`] × the TTL. Appends run as one Lua script (atomic across replicas).

use crate::error::ServeError;
use crate::state::{LiveSession, SessionStore, StateLimits};
use serde::{Deserialize, Serialize};
use shopsense_events::{Event, EventKind};
use shopsense_features::UserHistory;
use std::future::Future;
use std::pin::Pin;

/// A boxed future (the trait is object-safe: the server holds an `Arc<dyn OnlineState>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Size of the online state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StateSizes {
    /// Live sessions.
    pub sessions: usize,
    /// Events in them.
    pub events: usize,
}

/// Online session state shared by the handlers.
pub trait OnlineState: Send + Sync {
    /// `"memory"` or `"redis"`.
    fn kind(&self) -> &'static str;
    /// Appends events of one session (creating it with the user's history when new) and
    /// returns the session afterwards.
    fn append<'a>(
        &'a self,
        session_id: &'a str,
        events: Vec<Event>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<LiveSession, ServeError>>;
    /// Live sessions and their events.
    fn sizes(&self) -> BoxFuture<'_, Result<StateSizes, ServeError>>;
    /// Closes sessions untouched for longer than the TTL; returns how many.
    fn evict_expired(&self, now_ms: i64) -> BoxFuture<'_, Result<usize, ServeError>>;
}

impl OnlineState for SessionStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn append<'a>(
        &'a self,
        session_id: &'a str,
        events: Vec<Event>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<LiveSession, ServeError>> {
        let s = SessionStore::append(self, session_id, events, now_ms);
        Box::pin(std::future::ready(Ok(s)))
    }

    fn sizes(&self) -> BoxFuture<'_, Result<StateSizes, ServeError>> {
        let (sessions, events, _) = SessionStore::sizes(self);
        Box::pin(std::future::ready(Ok(StateSizes { sessions, events })))
    }

    fn evict_expired(&self, now_ms: i64) -> BoxFuture<'_, Result<usize, ServeError>> {
        let n = SessionStore::evict_expired(self, now_ms);
        Box::pin(std::future::ready(Ok(n)))
    }
}

/// User summaries live this many TTLs after their last session's update.
pub const USER_TTL_FACTOR: i64 = 48;

/// What a user's session contributes to the histories of the user's later sessions.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
struct SessionSummary {
    first_ms: i64,
    last_ms: i64,
    events: u32,
    carts: u32,
    purchases: u32,
}

impl SessionSummary {
    fn of(events: &[Event]) -> Self {
        let mut s = SessionSummary {
            first_ms: i64::MAX,
            last_ms: i64::MIN,
            ..Default::default()
        };
        for e in events {
            s.first_ms = s.first_ms.min(e.time_ms);
            s.last_ms = s.last_ms.max(e.time_ms);
            s.events = s.events.saturating_add(1);
            match e.kind {
                EventKind::Cart => s.carts = s.carts.saturating_add(1),
                EventKind::Purchase => s.purchases = s.purchases.saturating_add(1),
                _ => {}
            }
        }
        s
    }

    /// Folds a closed session into `h` (as the memory store does on close).
    fn fold_closed(&self, h: &mut UserHistory) {
        if self.events == 0 {
            return;
        }
        h.sessions = h.sessions.saturating_add(1);
        h.events = h.events.saturating_add(self.events);
        h.carts = h.carts.saturating_add(self.carts);
        h.purchases = h.purchases.saturating_add(self.purchases);
        if self.purchases > 0 {
            h.purchase_sessions = h.purchase_sessions.saturating_add(1);
        }
        h.last_event_ms = Some(
            h.last_event_ms
                .map_or(self.last_ms, |t| t.max(self.last_ms)),
        );
    }
}

/// Folds a live session's events strictly before `start_ms` into `h` (as the memory store).
fn fold_live(events: &[Event], start_ms: i64, h: &mut UserHistory) {
    if events
        .iter()
        .map(|e| e.time_ms)
        .min()
        .is_some_and(|t| t < start_ms)
    {
        h.sessions = h.sessions.saturating_add(1);
    }
    let mut bought = false;
    for e in events.iter().filter(|e| e.time_ms < start_ms) {
        h.events = h.events.saturating_add(1);
        match e.kind {
            EventKind::Cart => h.carts = h.carts.saturating_add(1),
            EventKind::Purchase => {
                h.purchases = h.purchases.saturating_add(1);
                bought = true;
            }
            _ => {}
        }
        h.last_event_ms = Some(h.last_event_ms.map_or(e.time_ms, |t| t.max(e.time_ms)));
    }
    if bought {
        h.purchase_sessions = h.purchase_sessions.saturating_add(1);
    }
}

/// Appends events once each, trims, renews expiries, records the session as live.
/// KEYS: ev, seen, live. ARGV: ttl_ms, max_events, now_ms, session, then (hash, json) pairs.
const APPEND_LUA: &str = r#"
local ttl = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local added = 0
for i = 5, #ARGV, 2 do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    redis.call('RPUSH', KEYS[1], ARGV[i + 1])
    added = added + 1
  end
end
redis.call('LTRIM', KEYS[1], -max, -1)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[3], tonumber(ARGV[3]), ARGV[4])
return redis.call('LRANGE', KEYS[1], 0, -1)
"#;

/// Online state in Redis, shared by every replica pointing at the same server and prefix.
pub struct RedisState {
    con: redis::aio::MultiplexedConnection,
    prefix: String,
    limits: StateLimits,
    append: redis::Script,
}

fn redis_err(what: &str, e: redis::RedisError) -> ServeError {
    ServeError::State(format!("redis {what}: {e}"))
}

fn event_json(e: &Event) -> Result<String, ServeError> {
    serde_json::to_string(e).map_err(|e| ServeError::State(format!("encoding an event: {e}")))
}

impl RedisState {
    /// Connects to `url` (`redis://host:port[/db]`); keys start with `prefix:`.
    pub async fn connect(url: &str, prefix: &str, limits: StateLimits) -> Result<Self, ServeError> {
        let client = redis::Client::open(url)
            .map_err(|e| ServeError::Config(format!("state URL {url}: {e}")))?;
        let con = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| redis_err(&format!("connecting to {url}"), e))?;
        Ok(RedisState {
            con,
            prefix: prefix.to_string(),
            limits,
            append: redis::Script::new(APPEND_LUA),
        })
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}:{kind}:{id}", self.prefix)
    }

    fn ttl_ms(&self) -> i64 {
        self.limits.ttl_ms.max(1)
    }

    /// The history of `user` before a session `session_id` starting at `start_ms`: the user's
    /// closed sessions whole, the live ones' events strictly before `start_ms`.
    async fn history_for(
        &self,
        user: &str,
        session_id: &str,
        start_ms: i64,
    ) -> Result<UserHistory, ServeError> {
        let mut con = self.con.clone();
        let all: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(self.key("user", user))
            .query_async(&mut con)
            .await
            .map_err(|e| redis_err("reading a user", e))?;
        let mut h = UserHistory::default();
        for (sid, summary) in all {
            if sid == session_id {
                continue;
            }
            let Ok(summary) = serde_json::from_str::<SessionSummary>(&summary) else {
                continue;
            };
            let live: Vec<String> = redis::cmd("LRANGE")
                .arg(self.key("ev", &sid))
                .arg(0)
                .arg(-1)
                .query_async(&mut con)
                .await
                .map_err(|e| redis_err("reading a session", e))?;
            if live.is_empty() {
                summary.fold_closed(&mut h);
            } else {
                let evs: Vec<Event> = live
                    .iter()
                    .filter_map(|j| serde_json::from_str(j).ok())
                    .collect();
                fold_live(&evs, start_ms, &mut h);
            }
        }
        Ok(h)
    }

    async fn append_inner(
        &self,
        session_id: &str,
        events: Vec<Event>,
        now_ms: i64,
    ) -> Result<LiveSession, ServeError> {
        let mut con = self.con.clone();
        let sess_key = self.key("sess", session_id);
        let meta: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&sess_key)
            .arg("user")
            .arg("history")
            .query_async(&mut con)
            .await
            .map_err(|e| redis_err("reading a session", e))?;
        let (user_id, history) = match (
            meta.first().cloned().flatten(),
            meta.get(1).cloned().flatten(),
        ) {
            (Some(u), Some(h)) => (
                u,
                serde_json::from_str::<UserHistory>(&h).map_err(|e| {
                    ServeError::State(format!("stored history of {session_id}: {e}"))
                })?,
            ),
            _ => {
                let user = events
                    .first()
                    .map(|e| e.user_id.clone())
                    .unwrap_or_default();
                let start = events.iter().map(|e| e.time_ms).min().unwrap_or(i64::MAX);
                let h = self.history_for(&user, session_id, start).await?;
                let hj = serde_json::to_string(&h)
                    .map_err(|e| ServeError::State(format!("encoding a history: {e}")))?;
                // The first replica to create the session wins; the others read its values.
                let (_, _, got): ((), (), Vec<Option<String>>) = redis::pipe()
                    .atomic()
                    .cmd("HSETNX")
                    .arg(&sess_key)
                    .arg("user")
                    .arg(&user)
                    .cmd("HSETNX")
                    .arg(&sess_key)
                    .arg("history")
                    .arg(&hj)
                    .cmd("HMGET")
                    .arg(&sess_key)
                    .arg("user")
                    .arg("history")
                    .query_async(&mut con)
                    .await
                    .map_err(|e| redis_err("creating a session", e))?;
                let u = got.first().cloned().flatten().unwrap_or(user);
                let h = match got.get(1).cloned().flatten() {
                    Some(j) => serde_json::from_str(&j).unwrap_or(h),
                    None => h,
                };
                (u, h)
            }
        };
        let mut inv = self.append.prepare_invoke();
        inv.key(self.key("ev", session_id))
            .key(self.key("seen", session_id))
            .key(self.key("live", "sessions"))
            .arg(self.ttl_ms())
            .arg(self.limits.max_events_per_session.max(1))
            .arg(now_ms)
            .arg(session_id);
        for e in &events {
            let j = event_json(e)?;
            let h = xxhash_rust::xxh3::xxh3_64(j.as_bytes());
            inv.arg(format!("{h:016x}")).arg(j);
        }
        let stored: Vec<String> = inv
            .invoke_async(&mut con)
            .await
            .map_err(|e| redis_err("appending events", e))?;
        let mut all = Vec::with_capacity(stored.len());
        for (i, j) in stored.iter().enumerate() {
            all.push(serde_json::from_str::<Event>(j).map_err(|e| {
                ServeError::State(format!("stored event {i} of session {session_id}: {e}"))
            })?);
        }
        let summary = SessionSummary::of(&all);
        let sj = serde_json::to_string(&summary)
            .map_err(|e| ServeError::State(format!("encoding a summary: {e}")))?;
        let user_key = self.key("user", &user_id);
        let _: ((), (), ()) = redis::pipe()
            .cmd("PEXPIRE")
            .arg(&sess_key)
            .arg(self.ttl_ms())
            .cmd("HSET")
            .arg(&user_key)
            .arg(session_id)
            .arg(sj)
            .cmd("PEXPIRE")
            .arg(&user_key)
            .arg(self.ttl_ms().saturating_mul(USER_TTL_FACTOR))
            .query_async(&mut con)
            .await
            .map_err(|e| redis_err("updating a user", e))?;
        Ok(LiveSession {
            user_id,
            history,
            events: all,
            touched_ms: now_ms,
        })
    }

    async fn sizes_inner(&self) -> Result<StateSizes, ServeError> {
        let mut con = self.con.clone();
        let live: Vec<String> = redis::cmd("ZRANGE")
            .arg(self.key("live", "sessions"))
            .arg(0)
            .arg(-1)
            .query_async(&mut con)
            .await
            .map_err(|e| redis_err("reading live sessions", e))?;
        if live.is_empty() {
            return Ok(StateSizes::default());
        }
        let mut p = redis::pipe();
        for s in &live {
            p.cmd("LLEN").arg(self.key("ev", s));
        }
        let lens: Vec<usize> = p
            .query_async(&mut con)
            .await
            .map_err(|e| redis_err("sizing sessions", e))?;
        Ok(StateSizes {
            sessions: lens.iter().filter(|&&n| n > 0).count(),
            events: lens.iter().sum(),
        })
    }

    async fn evict_inner(&self, now_ms: i64) -> Result<usize, ServeError> {
        // Redis expires the session keys itself; this only drops them from the live index.
        let mut con = self.con.clone();
        let n: usize = redis::cmd("ZREMRANGEBYSCORE")
            .arg(self.key("live", "sessions"))
            .arg("-inf")
            .arg(format!("({}", now_ms.saturating_sub(self.ttl_ms())))
            .query_async(&mut con)
            .await
            .map_err(|e| redis_err("evicting", e))?;
        Ok(n)
    }
}

impl OnlineState for RedisState {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn append<'a>(
        &'a self,
        session_id: &'a str,
        events: Vec<Event>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<LiveSession, ServeError>> {
        Box::pin(self.append_inner(session_id, events, now_ms))
    }

    fn sizes(&self) -> BoxFuture<'_, Result<StateSizes, ServeError>> {
        Box::pin(self.sizes_inner())
    }

    fn evict_expired(&self, now_ms: i64) -> BoxFuture<'_, Result<usize, ServeError>> {
        Box::pin(self.evict_inner(now_ms))
    }
}
