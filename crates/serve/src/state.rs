//! Online session state in memory: events per live session, TTL eviction, a cap on sessions
//! and on events per session, snapshot to disk and restore.
//!
//! A session's user history is taken when the session is first seen, as offline
//! ([`shopsense_features::user_histories`]): the user's closed sessions (folded into counts when
//! they close) plus, from the user's other live sessions, their events strictly before the new
//! session's first event and those sessions that started strictly before it.

use crate::error::ServeError;
use serde::{Deserialize, Serialize};
use shopsense_events::{Event, EventKind};
use shopsense_features::UserHistory;
/// Maps keyed by ids on the per-event path: foldhash (hashbrown's default) instead of SipHash.
type HashMap<K, V> = std::collections::HashMap<K, V, hashbrown::DefaultHashBuilder>;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Snapshot file format tag.
pub const SNAPSHOT_FORMAT: &str = "shopsense-serve-state";

/// One live session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveSession {
    /// User id.
    pub user_id: String,
    /// History of the user before the session.
    pub history: UserHistory,
    /// Events so far, in arrival order.
    pub events: Vec<Event>,
    /// Wall-clock time of the last update (UTC ms).
    pub touched_ms: i64,
}

impl LiveSession {
    /// A session of `user_id` with no events yet, touched at `now_ms`.
    fn empty(user_id: String, now_ms: i64) -> Self {
        LiveSession {
            user_id,
            history: UserHistory::default(),
            events: Vec::new(),
            touched_ms: now_ms,
        }
    }
}

/// Closed-session summaries by user. Keys are shared strings: the change log of a tracked
/// store (and the mirror its checkpoint writer keeps) holds the same keys.
type Users = hashbrown::HashMap<Arc<str>, UserHistory>;

/// Users whose history changed, each with its history after the change, in the order of the
/// changes: a user may appear more than once, and the last entry is current. Appending to it
/// is all a closing session costs a tracked store; sorting it out is left to whoever writes
/// the copy.
type ChangeLog = Vec<(Arc<str>, UserHistory)>;

/// A set of user ids.
type UserSet = std::collections::HashSet<Arc<str>, hashbrown::DefaultHashBuilder>;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Inner {
    sessions: HashMap<String, LiveSession>,
    users: Users,
    /// Live session keys per user (rebuilt on restore).
    #[serde(skip)]
    by_user: HashMap<String, Vec<String>>,
    /// The user histories changed since the last copy, when tracked
    /// ([`SessionStore::track_changes`]).
    #[serde(skip)]
    changed: Option<ChangeLog>,
    /// In a copy of [`SessionStore::copy_changes`]: the changes its snapshot writes (its
    /// `users` is empty).
    #[serde(skip)]
    only: Option<ChangeLog>,
}

impl Inner {
    fn remove(&mut self, key: &str) -> Option<LiveSession> {
        let s = self.sessions.remove(key)?;
        self.unindex(key, &s.user_id);
        Some(s)
    }

    /// Drops session `key` from its user's list of live sessions.
    fn unindex(&mut self, key: &str, user_id: &str) {
        if let Some(v) = self.by_user.get_mut(user_id) {
            v.retain(|k| k != key);
            if v.is_empty() {
                self.by_user.remove(user_id);
            }
        }
    }

    fn rebuild_index(&mut self) {
        self.by_user.clear();
        for (k, s) in &self.sessions {
            self.by_user
                .entry(s.user_id.clone())
                .or_default()
                .push(k.clone());
        }
    }

    /// The history of `user` before a session starting at `start_ms`.
    fn history_for(&self, user: &str, start_ms: i64) -> UserHistory {
        let mut h = self.users.get(user).copied().unwrap_or_default();
        for key in self.by_user.get(user).map(Vec::as_slice).unwrap_or(&[]) {
            let Some(s) = self.sessions.get(key) else {
                continue;
            };
            let first = s.events.iter().map(|e| e.time_ms).min();
            if first.is_some_and(|t| t < start_ms) {
                h.sessions = h.sessions.saturating_add(1);
            }
            let mut bought = false;
            for e in s.events.iter().filter(|e| e.time_ms < start_ms) {
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
        h
    }
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    format: String,
    version: u32,
    written_at_ms: i64,
    #[serde(flatten)]
    inner: Inner,
}

/// The user histories of a change-tracked store, kept by whoever writes its checkpoints off
/// the store's thread: each change copy's users are applied to it
/// ([`SessionStore::update_mirror`]), and a full checkpoint writes it
/// ([`SessionStore::write_copy_with`]), so the store's own thread never copies every user.
/// Up to date only if every change copy is applied, in order.
#[derive(Debug, Default)]
pub struct UserMirror {
    users: Users,
}

impl UserMirror {
    /// Users with a history.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether no user has a history.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// Limits of the state.
#[derive(Debug, Clone, Copy)]
pub struct StateLimits {
    /// A session untouched for this long (ms) is closed.
    pub ttl_ms: i64,
    /// At most this many live sessions (new sessions beyond it evict the oldest).
    pub max_sessions: usize,
    /// At most this many events kept per session (the oldest are dropped beyond it).
    pub max_events_per_session: usize,
}

/// The online state (thread-safe).
#[derive(Debug)]
pub struct SessionStore {
    inner: Mutex<Inner>,
    limits: StateLimits,
}

/// Folds a closed session into its user's history (and logs the change, when tracked).
fn close_into(inner: &mut Inner, s: &LiveSession) {
    let uid: &str = &s.user_id;
    // One lookup finds the history and the key the change log shares.
    let (k, h) = match inner.users.get_key_value_mut(uid) {
        Some((k, h)) => {
            fold_session(h, s);
            (k.clone(), *h)
        }
        None => {
            let k: Arc<str> = Arc::from(uid);
            let mut h = UserHistory::default();
            fold_session(&mut h, s);
            inner.users.insert(k.clone(), h);
            (k, h)
        }
    };
    if let Some(log) = &mut inner.changed {
        log.push((k, h));
        // Never copied (a store tracked but not checkpointed): kept at most about twice the
        // users, each user's last change only.
        if log.len() > 2 * inner.users.len() + 4096 {
            let users = &inner.users;
            let mut seen = UserSet::default();
            log.retain(|(u, _)| seen.insert(u.clone()));
            for (u, h) in log.iter_mut() {
                if let Some(now) = users.get(&**u) {
                    *h = *now;
                }
            }
        }
    }
}

/// The latest entry of each user in `log`, in the order of those entries.
fn latest_changes(log: &ChangeLog) -> Vec<&(Arc<str>, UserHistory)> {
    let mut seen: std::collections::HashSet<&str, hashbrown::DefaultHashBuilder> =
        Default::default();
    let mut out: Vec<_> = log
        .iter()
        .rev()
        .filter(|(u, _)| seen.insert(&**u))
        .collect();
    out.reverse();
    out
}

/// Serialises `g`'s sessions with `users` (by default `g`'s own: all of them, or the
/// changes of a change copy) as a snapshot into `w`.
fn write_snapshot<W: Write>(
    g: &Inner,
    users: Option<&Users>,
    w: W,
    now_ms: i64,
) -> serde_json::Result<()> {
    #[derive(Serialize)]
    struct SnapshotRef<'a> {
        format: &'a str,
        version: u32,
        written_at_ms: i64,
        sessions: &'a HashMap<String, LiveSession>,
        users: UsersRef<'a>,
    }
    /// All users of a map, or the latest of each user in a change log.
    enum UsersRef<'a> {
        All(&'a Users),
        Changes(&'a ChangeLog),
    }
    impl Serialize for UsersRef<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self {
                UsersRef::All(u) => u.serialize(s),
                UsersRef::Changes(log) => {
                    s.collect_map(latest_changes(log).into_iter().map(|(u, h)| (u, h)))
                }
            }
        }
    }
    let users = match (users, &g.only) {
        (Some(u), _) => UsersRef::All(u),
        (None, Some(log)) => UsersRef::Changes(log),
        (None, None) => UsersRef::All(&g.users),
    };
    serde_json::to_writer(
        w,
        &SnapshotRef {
            format: SNAPSHOT_FORMAT,
            version: 1,
            written_at_ms: now_ms,
            sessions: &g.sessions,
            users,
        },
    )
}

/// Writes `path` through a temporary file next to it (created with its directory), renamed
/// into place once `fill` succeeded.
fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), ServeError> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)
                .map_err(|e| ServeError::io(format!("creating {}", dir.display()), e))?;
        }
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)
        .map_err(|e| ServeError::io(format!("writing {}", tmp.display()), e))?;
    fill(&mut f).map_err(|e| ServeError::io(format!("writing {}", tmp.display()), e))?;
    drop(f);
    std::fs::rename(&tmp, path)
        .map_err(|e| ServeError::io(format!("renaming to {}", path.display()), e))
}

/// Adds closed session `s` to its user's history `h`.
fn fold_session(h: &mut UserHistory, s: &LiveSession) {
    h.sessions = h.sessions.saturating_add(1);
    let mut bought = false;
    for e in &s.events {
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

/// Parses and checks a snapshot file's bytes.
fn parse_snapshot(bytes: &[u8], path: &Path) -> Result<Snapshot, ServeError> {
    let snap: Snapshot = serde_json::from_slice(bytes)
        .map_err(|e| ServeError::Snapshot(format!("{}: {e}", path.display())))?;
    if snap.format != SNAPSHOT_FORMAT || snap.version != 1 {
        return Err(ServeError::Snapshot(format!(
            "{}: not a version-1 {SNAPSHOT_FORMAT} file",
            path.display()
        )));
    }
    Ok(snap)
}

impl SessionStore {
    /// An empty store.
    pub fn new(limits: StateLimits) -> Self {
        SessionStore {
            inner: Mutex::new(Inner::default()),
            limits,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere never leaves the maps half-updated (all updates are single
        // inserts/removes), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends events of one session and returns a copy of the session afterwards.
    pub fn append(&self, session_id: &str, events: Vec<Event>, now_ms: i64) -> LiveSession {
        self.append_with(session_id, events, now_ms, LiveSession::clone)
    }

    /// Appends events of one session and calls `f` on the session afterwards (under the
    /// store's lock, without copying its events). A new session's user is its first
    /// event's.
    pub fn append_with<R>(
        &self,
        session_id: &str,
        events: Vec<Event>,
        now_ms: i64,
        f: impl FnOnce(&LiveSession) -> R,
    ) -> R {
        let mut g = self.lock();
        let inner = &mut *g;
        if !inner.sessions.contains_key(session_id) {
            let user_id = events.first().map_or("", |e| e.user_id.as_str());
            let start = events.iter().map(|e| e.time_ms).min().unwrap_or(i64::MAX);
            self.open(inner, session_id, user_id, start, now_ms);
        }
        // Present: opened just above when it was new (looked up by `&str`: no key copy on
        // the per-event path).
        let s = match inner.sessions.get_mut(session_id) {
            Some(s) => s,
            None => inner
                .sessions
                .entry(session_id.to_string())
                .or_insert_with(|| LiveSession::empty(String::new(), now_ms)),
        };
        s.events.extend(events);
        self.cap(s, now_ms);
        f(s)
    }

    /// Appends one event of session `session_id` of user `user_id` (used only when the
    /// session is new) and calls `f` on the session afterwards: one map lookup for a known
    /// session, no allocation besides the event's place. The stored event's own
    /// `session_id` and `user_id` are not read by the store (a session has one of each), so
    /// a caller that needs those strings may move them out first.
    pub fn append_one<R>(
        &self,
        session_id: &str,
        user_id: &str,
        event: Event,
        now_ms: i64,
        f: impl FnOnce(&LiveSession) -> R,
    ) -> R {
        let mut g = self.lock();
        let inner = &mut *g;
        if let Some(s) = inner.sessions.get_mut(session_id) {
            s.events.push(event);
            self.cap(s, now_ms);
            return f(s);
        }
        let s = self.open(inner, session_id, user_id, event.time_ms, now_ms);
        s.events.push(event);
        self.cap(s, now_ms);
        f(s)
    }

    /// Opens session `session_id` of `user_id` whose first event is at `start_ms` (evicting
    /// the least recently touched session when the store is full).
    fn open<'a>(
        &self,
        inner: &'a mut Inner,
        session_id: &str,
        user_id: &str,
        start_ms: i64,
        now_ms: i64,
    ) -> &'a mut LiveSession {
        if inner.sessions.len() >= self.limits.max_sessions {
            // Evict the least recently touched session.
            if let Some(old) = inner
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.touched_ms)
                .map(|(k, _)| k.clone())
            {
                if let Some(s) = inner.remove(&old) {
                    close_into(inner, &s);
                }
            }
        }
        let history = inner.history_for(user_id, start_ms);
        match inner.by_user.get_mut(user_id) {
            Some(v) => v.push(session_id.to_string()),
            None => {
                inner
                    .by_user
                    .insert(user_id.to_string(), vec![session_id.to_string()]);
            }
        }
        let mut s = LiveSession::empty(user_id.to_string(), now_ms);
        s.history = history;
        inner.sessions.entry(session_id.to_string()).or_insert(s)
    }

    /// Drops a session's oldest events beyond the cap and marks it touched.
    fn cap(&self, s: &mut LiveSession, now_ms: i64) {
        let max = self.limits.max_events_per_session;
        if s.events.len() > max {
            let extra = s.events.len() - max;
            s.events.drain(..extra);
        }
        s.touched_ms = now_ms;
    }

    /// A copy of the sessions and user summaries (for writing a snapshot on another thread
    /// while this store goes on changing): O(sessions + users). Starts a new round of change
    /// tracking, if tracked.
    pub fn copy(&self) -> SessionStore {
        let mut g = self.lock();
        if let Some(c) = &mut g.changed {
            c.clear();
        }
        self.copy_of(&g, g.users.clone(), None)
    }

    /// A store holding `g`'s sessions and `users` (untracked), writing `only` if given.
    fn copy_of(&self, g: &Inner, users: Users, only: Option<ChangeLog>) -> SessionStore {
        SessionStore {
            inner: Mutex::new(Inner {
                sessions: g.sessions.clone(),
                users,
                by_user: HashMap::default(),
                changed: None,
                only,
            }),
            limits: self.limits,
        }
    }

    /// Tracks the users whose history changes from now on, for [`SessionStore::copy_changes`].
    pub fn track_changes(&self) {
        let mut g = self.lock();
        if g.changed.is_none() {
            g.changed = Some(Default::default());
        }
    }

    /// Like [`SessionStore::copy`], but with only the users whose history changed since the
    /// last copy (all live sessions are included): what an incremental snapshot needs, in
    /// O(sessions) — the changes are moved, not looked up. Without
    /// [`SessionStore::track_changes`] this is a full copy.
    pub fn copy_changes(&self) -> SessionStore {
        let mut g = self.lock();
        let Some(changed) = g.changed.as_mut().map(std::mem::take) else {
            drop(g);
            return self.copy();
        };
        self.copy_of(&g, Users::default(), Some(changed))
    }

    /// All user histories, as a [`UserMirror`] to keep up to date from change copies: O(users),
    /// once (after a restore), instead of at every full checkpoint.
    pub fn user_mirror(&self) -> UserMirror {
        UserMirror {
            users: self.lock().users.clone(),
        }
    }

    /// Applies a change copy's users to `mirror` (a full copy's replace all of it).
    pub fn update_mirror(&self, mirror: &mut UserMirror) {
        let g = self.lock();
        match &g.only {
            Some(log) => {
                for (u, h) in log {
                    mirror.users.insert(u.clone(), *h);
                }
            }
            None => mirror.users.clone_from(&g.users),
        }
    }

    /// The session, if live.
    pub fn get(&self, session_id: &str) -> Option<LiveSession> {
        self.lock().sessions.get(session_id).cloned()
    }

    /// The most recently touched live session of a user, if any.
    pub fn latest_of_user(&self, user_id: &str) -> Option<(String, LiveSession)> {
        let g = self.lock();
        g.by_user
            .get(user_id)?
            .iter()
            .filter_map(|k| Some((k, g.sessions.get(k)?)))
            .max_by_key(|(_, s)| s.touched_ms)
            .map(|(k, s)| (k.clone(), s.clone()))
    }

    /// Closes sessions untouched for longer than the TTL; returns how many.
    pub fn evict_expired(&self, now_ms: i64) -> usize {
        let mut closed = Vec::new();
        self.evict_expired_into(now_ms, &mut closed)
    }

    /// Like [`SessionStore::evict_expired`], appending the closed sessions to `closed`
    /// instead of dropping them: a caller whose thread is busy can free their events
    /// elsewhere (dropping them was a quarter of closing sessions).
    pub fn evict_expired_into(&self, now_ms: i64, closed: &mut Vec<LiveSession>) -> usize {
        let mut g = self.lock();
        let inner = &mut *g;
        let cutoff = now_ms.saturating_sub(self.limits.ttl_ms);
        // Taken out in one walk, without copying their keys.
        let old: Vec<(String, LiveSession)> = inner
            .sessions
            .extract_if(|_, s| s.touched_ms < cutoff)
            .collect();
        let n = old.len();
        closed.reserve(n);
        for (k, s) in old {
            inner.unindex(&k, &s.user_id);
            close_into(inner, &s);
            closed.push(s);
        }
        n
    }

    /// (live sessions, events in them, users with a history).
    pub fn sizes(&self) -> (usize, usize, usize) {
        let g = self.lock();
        let events = g.sessions.values().map(|s| s.events.len()).sum();
        (g.sessions.len(), events, g.users.len())
    }

    /// Writes a snapshot to `path` atomically (temporary file, then rename). The state is
    /// serialised under the lock into memory and written after it is released, so requests
    /// wait only for the serialising, never for the disk.
    pub fn snapshot(&self, path: &Path, now_ms: i64) -> Result<(), ServeError> {
        let bytes = {
            let g = self.lock();
            let mut bytes = Vec::new();
            write_snapshot(&g, None, &mut bytes, now_ms)
                .map_err(|e| ServeError::Snapshot(e.to_string()))?;
            bytes
        };
        write_atomically(path, |f| f.write_all(&bytes))
    }

    /// Like [`SessionStore::snapshot`], but serialised straight into the file (and synced),
    /// holding the lock throughout: for a store nobody else uses (a [`SessionStore::copy`] being
    /// checkpointed on its own thread). A stream's full checkpoint is hundreds of megabytes;
    /// built in memory first, most of its writer's time went to growing that buffer (the
    /// kernel zeroing fresh pages, copies at every doubling).
    pub fn write_copy(&self, path: &Path, now_ms: i64) -> Result<(), ServeError> {
        self.write_copy_of(None, path, now_ms)
    }

    /// Like [`SessionStore::write_copy`], with all of `mirror`'s users instead of this
    /// copy's: a full snapshot written from a change copy (after
    /// [`SessionStore::update_mirror`]).
    pub fn write_copy_with(
        &self,
        mirror: &UserMirror,
        path: &Path,
        now_ms: i64,
    ) -> Result<(), ServeError> {
        self.write_copy_of(Some(&mirror.users), path, now_ms)
    }

    fn write_copy_of(
        &self,
        users: Option<&Users>,
        path: &Path,
        now_ms: i64,
    ) -> Result<(), ServeError> {
        let g = self.lock();
        write_atomically(path, |f| {
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            write_snapshot(&g, users, &mut w, now_ms).map_err(std::io::Error::other)?;
            w.flush()?;
            // On disk before the checkpoint that names it can become current.
            w.get_ref().sync_all()
        })
    }

    /// Restores a chain of snapshots: a full one, then snapshots of
    /// [`SessionStore::copy_changes`] in the order written. Users are merged (a later
    /// snapshot's history wins), live sessions come from the last one; then as
    /// [`SessionStore::restore`]. Every file must exist.
    pub fn restore_chain(&self, paths: &[PathBuf], now_ms: i64) -> Result<usize, ServeError> {
        let mut merged: Option<Inner> = None;
        for path in paths {
            let bytes = std::fs::read(path)
                .map_err(|e| ServeError::io(format!("reading {}", path.display()), e))?;
            let snap = parse_snapshot(&bytes, path)?;
            merged = Some(match merged {
                None => snap.inner,
                Some(mut m) => {
                    m.sessions = snap.inner.sessions;
                    for (u, h) in snap.inner.users {
                        m.users.insert(u, h);
                    }
                    m
                }
            });
        }
        let mut inner = merged.unwrap_or_default();
        inner.rebuild_index();
        {
            let mut g = self.lock();
            inner.changed = g.changed.take().map(|_| Default::default());
            *g = inner;
        }
        self.evict_expired(now_ms);
        Ok(self.sizes().0)
    }

    /// Restores a snapshot written by [`SessionStore::snapshot`] (replacing the state);
    /// sessions already past the TTL at `now_ms` are closed at once. A missing file is an
    /// empty state. Returns the number of live sessions restored.
    pub fn restore(&self, path: &Path, now_ms: i64) -> Result<usize, ServeError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(ServeError::io(format!("reading {}", path.display()), e)),
        };
        let snap = parse_snapshot(&bytes, path)?;
        let mut inner = snap.inner;
        inner.rebuild_index();
        {
            let mut g = self.lock();
            inner.changed = g.changed.take().map(|_| Default::default());
            *g = inner;
        }
        self.evict_expired(now_ms);
        Ok(self.sizes().0)
    }
}
