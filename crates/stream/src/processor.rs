//! The broker-independent core: one message in → state update, scores out, or a dead letter.
//!
//! Idempotence: the processor remembers, per partition, the next offset it has applied; a
//! message below it (redelivered after a crash between checkpoint and commit) is skipped.
//! The offsets are saved in the same checkpoint as the session state, so the state after a
//! restart is exactly the state after the last applied message of the checkpoint.

use crate::online::{OnlineLogit, Rolling};
use crate::StreamError;
use serde::{Deserialize, Serialize};
use shopsense_events::{Event, EventKind};
use shopsense_features::OnlineSession;
use shopsense_serve::wire::EventIn;
use shopsense_serve::{Scorer, SessionStore, StateLimits, UserMirror};
use std::collections::BTreeMap;

/// Maps keyed by ids on the per-event path: foldhash (hashbrown's default) instead of SipHash.
type HashMap<K, V> = std::collections::HashMap<K, V, hashbrown::DefaultHashBuilder>;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Processor settings.
#[derive(Debug, Clone, Copy)]
pub struct ProcessorConfig {
    /// A session with no event for this long (event time, ms) is closed as not converted.
    pub session_timeout_ms: i64,
    /// Events older than the watermark minus this (ms) are dead-lettered as too late.
    pub lateness_ms: i64,
    /// Window of the rolling prequential metrics (closed sessions).
    pub eval_window: usize,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            session_timeout_ms: 30 * 60 * 1000,
            lateness_ms: 5 * 60 * 1000,
            eval_window: 5000,
        }
    }
}

/// The message published for each scored event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScoreOut {
    /// Session key (the session id, or the user id when the event has none).
    pub session_id: String,
    /// User id.
    pub user_id: String,
    /// Batch model's calibrated purchase probability.
    pub score: f64,
    /// `score >= threshold`.
    pub decision: bool,
    /// Batch model version (shared by every message of a processor).
    pub model_version: Arc<str>,
    /// Online model's probability.
    pub online_score: f64,
    /// Event time (UTC ms).
    pub event_time_ms: i64,
    /// Processing time (UTC ms, wall clock).
    pub processing_time_ms: i64,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
}

impl ScoreOut {
    /// Appends the message's JSON to `out`: the same bytes as `serde_json::to_vec(self)`
    /// (tested), with the keys written as they are instead of escaped one by one, and ids
    /// that need no escaping copied in one piece — the score's JSON was a tenth of the
    /// consumer's instructions.
    pub fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        out.extend_from_slice(b"{\"session_id\":");
        json_str(out, &self.session_id)?;
        out.extend_from_slice(b",\"user_id\":");
        json_str(out, &self.user_id)?;
        out.extend_from_slice(b",\"score\":");
        serde_json::to_writer(&mut *out, &self.score)?;
        out.extend_from_slice(if self.decision {
            b",\"decision\":true,\"model_version\":"
        } else {
            b",\"decision\":false,\"model_version\":"
        });
        json_str(out, &self.model_version)?;
        out.extend_from_slice(b",\"online_score\":");
        serde_json::to_writer(&mut *out, &self.online_score)?;
        out.extend_from_slice(b",\"event_time_ms\":");
        serde_json::to_writer(&mut *out, &self.event_time_ms)?;
        out.extend_from_slice(b",\"processing_time_ms\":");
        serde_json::to_writer(&mut *out, &self.processing_time_ms)?;
        out.extend_from_slice(b",\"partition\":");
        serde_json::to_writer(&mut *out, &self.partition)?;
        out.extend_from_slice(b",\"offset\":");
        serde_json::to_writer(&mut *out, &self.offset)?;
        out.push(b'}');
        Ok(())
    }
}

/// A JSON string: copied between quotes when nothing in it needs escaping, else serde_json's.
fn json_str(out: &mut Vec<u8>, s: &str) -> Result<(), serde_json::Error> {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(out, s)
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Scored.
    Scored(Box<ScoreOut>),
    /// Already applied before (redelivery); nothing changed.
    Duplicate,
    /// Not applied; to the dead-letter topic with this reason.
    Dead(String),
}

/// `Vec<f32>` with NaN as JSON `null` (JSON has no NaN; serde_json writes it as `null` and
/// then refuses to read `null` back as a float).
mod nan_f32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &[f32], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(x.iter().map(|v| (!v.is_nan()).then_some(*v)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        let v: Vec<Option<f32>> = Vec::deserialize(d)?;
        Ok(v.into_iter().map(|x| x.unwrap_or(f32::NAN)).collect())
    }
}

/// A session waiting for its outcome (purchase or timeout).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    last_ms: i64,
    /// Features; NaN (missing) is written as JSON `null`.
    #[serde(with = "nan_f32")]
    x: Vec<f32>,
    batch: f64,
    online: f64,
    scored: bool,
}

/// Counters kept in the checkpoint (exact across restarts).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    /// Events applied and scored.
    pub events: u64,
    /// Events by kind name.
    pub by_kind: BTreeMap<String, u64>,
    /// Dead letters.
    pub dead: u64,
    /// Redeliveries skipped.
    pub duplicates: u64,
    /// Sessions closed by a purchase.
    pub converted: u64,
    /// Sessions closed by timeout.
    pub timed_out: u64,
    /// Score histogram (10 buckets of width 0.1).
    pub score_hist: [u64; 10],
}

/// A full checkpoint at least every this many generations; those between hold only the
/// users whose history changed (restore reads at most this many generations).
pub const FULL_CHECKPOINT_EVERY: u64 = 32;

#[derive(Serialize, Deserialize)]
struct Saved {
    format: String,
    /// The full generation this one's user histories build on (`None`: this one is full).
    #[serde(default)]
    base: Option<u64>,
    applied: BTreeMap<i32, i64>,
    watermark_ms: i64,
    #[serde(default)]
    last_sweep_ms: i64,
    pending: HashMap<String, Pending>,
    online: OnlineLogit,
    eval_online: Rolling,
    eval_batch: Rolling,
    counts: Counts,
    items: HashMap<String, u64>,
}

/// The incremental features of one live session (not checkpointed: rebuilt from the
/// session's events when missing or out of step with the session store).
struct LiveFeatures {
    state: OnlineSession<'static>,
    /// Events pushed into `state`: the session store's first `n` events of the session.
    n: usize,
    /// Event time of the latest push (for eviction).
    last_ms: i64,
}

/// What the processor keeps per live session key, besides the store's session: one map
/// lookup per event finds both.
#[derive(Default)]
struct Slot {
    /// The feature cache (`None`: rebuilt from the store's events when next needed). Boxed:
    /// every sweep walks all slots, and with the state inline each slot was six times
    /// larger (a longer stall of the applying thread at each sweep).
    features: Option<Box<LiveFeatures>>,
    /// The session's latest scores, waiting for its outcome.
    pending: Option<Pending>,
}

/// Writes the features of `live` after its newest event into `x`: pushed into the cached
/// state when that holds exactly the events before it, otherwise rebuilt from all of them
/// (and cached). Either way `x` equals `scorer.features(&live.events, &live.history)` bit
/// for bit.
#[allow(clippy::vec_box)]
fn live_features(
    scorer: &dyn Scorer,
    cache: &mut Option<Box<LiveFeatures>>,
    spare: &mut Vec<Box<LiveFeatures>>,
    live: &shopsense_serve::LiveSession,
    time_ms: i64,
    x: &mut Vec<f32>,
) -> Result<(), String> {
    let n = live.events.len();
    if let (Some(st), Some(ev)) = (cache.as_mut(), live.events.last()) {
        // A session the store re-created (eviction) or trimmed (event cap) is out of step:
        // its length is not one more than what was pushed.
        if st.n + 1 == n {
            st.state.push(ev);
            st.n = n;
            st.last_ms = time_ms;
            return write_features(&mut st.state, x);
        }
    }
    // A state from a closed session is emptied and reused (spares only ever come from
    // this scorer's states); otherwise a new one.
    let mut st = match spare.pop() {
        Some(mut st) => {
            st.state.reset(live.history);
            st
        }
        None => match scorer.live_session(&live.history) {
            Some(state) => Box::new(LiveFeatures {
                state,
                n: 0,
                last_ms: time_ms,
            }),
            None => {
                *x = scorer.features(&live.events, &live.history)?;
                return Ok(());
            }
        },
    };
    for e in &live.events {
        st.state.push(e);
    }
    st.n = n;
    st.last_ms = time_ms;
    write_features(&mut st.state, x)?;
    // A cache out of step is replaced; its state becomes a spare.
    if let Some(old) = cache.replace(st) {
        keep_spare(spare, old);
    }
    Ok(())
}

/// At most this many closed sessions wait for [`Processor::take_closed`].
pub const MAX_CLOSED: usize = 1 << 16;

/// At most this many emptied feature states are kept for new sessions.
const SPARES: usize = 1024;

/// A state that held more events than this is freed, not kept (a spare keeps its buffers'
/// memory: the pool stays small).
const SPARE_MAX_EVENTS: usize = 64;

/// Keeps a closed session's feature state for reuse, unless there are enough already or it
/// grew large.
// Boxed in the pool as in a slot: a state moves between them without being copied.
#[allow(clippy::vec_box)]
fn keep_spare(spare: &mut Vec<Box<LiveFeatures>>, st: Box<LiveFeatures>) {
    if spare.len() < SPARES && st.n <= SPARE_MAX_EVENTS {
        spare.push(st);
    }
}

/// `state`'s features into `x` (resized; its buffer is reused from event to event).
fn write_features(state: &mut OnlineSession<'static>, x: &mut Vec<f32>) -> Result<(), String> {
    x.resize(state.n_features(), 0.0);
    state.features_into(x).map_err(|e| e.to_string())
}

/// The `n` keys with the largest counts, largest first (ties: the smaller key first).
///
/// One pass keeping the best `n` by reference (a heap), then only those are copied: the
/// dashboard asks twice a second on the consuming thread, which should not copy and sort
/// every item the stream has seen each time.
fn top_n(counts: &HashMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    if n == 0 {
        return Vec::new();
    }
    // Ordered so that the heap's top is the worst kept: fewer events, then larger key.
    let mut heap: BinaryHeap<(Reverse<u64>, &str)> = BinaryHeap::with_capacity(n + 1);
    for (k, &c) in counts {
        let e = (Reverse(c), k.as_str());
        if heap.len() < n {
            heap.push(e);
        } else if heap.peek().is_some_and(|w| e < *w) {
            heap.pop();
            heap.push(e);
        }
    }
    heap.into_sorted_vec()
        .into_iter()
        .map(|(Reverse(c), k)| (k.to_string(), c))
        .collect()
}

/// Streaming state and scoring.
pub struct Processor {
    scorer: Arc<dyn Scorer>,
    /// `scorer.version()`, shared by every score message.
    version: Arc<str>,
    cfg: ProcessorConfig,
    store: SessionStore,
    buckets: Vec<usize>,
    applied: BTreeMap<i32, i64>,
    watermark_ms: i64,
    last_sweep_ms: i64,
    /// Feature caches and pending outcomes by session key.
    slots: HashMap<String, Slot>,
    online: OnlineLogit,
    eval_online: Rolling,
    eval_batch: Rolling,
    counts: Counts,
    items: HashMap<String, u64>,
    live_swept_ms: i64,
    /// The features of the event being applied (kept as a pending session's, or reused).
    x: Vec<f32>,
    /// Feature states of closed sessions, to be emptied and reused by new ones (boxed, as
    /// in a slot: a state moves between them without being copied).
    #[allow(clippy::vec_box)]
    spare: Vec<Box<LiveFeatures>>,
    /// Feature buffers of closed sessions' outcomes, for new pending outcomes.
    spare_x: Vec<Vec<f32>>,
    /// The full checkpoint generation the next incremental one builds on.
    chain_base: Option<u64>,
    /// Sessions closed by timeout since [`Processor::take_closed`] (dropped here beyond
    /// [`MAX_CLOSED`]).
    closed: Vec<shopsense_serve::LiveSession>,
    /// All user histories as of the last checkpoint copy, kept up to date by the checkpoint
    /// writers from each copy's changes (written whole in a full generation).
    mirror: Arc<Mutex<UserMirror>>,
}

fn limits(cfg: &ProcessorConfig) -> StateLimits {
    StateLimits {
        ttl_ms: cfg.session_timeout_ms,
        max_sessions: 2_000_000,
        max_events_per_session: 1000,
    }
}

impl Processor {
    /// A fresh processor scoring with `scorer`.
    pub fn new(scorer: Arc<dyn Scorer>, cfg: ProcessorConfig) -> Self {
        let online = OnlineLogit::new(1 << 16, 0.05, 1e-6);
        let buckets = online.buckets(scorer.feature_names());
        Processor {
            version: Arc::from(scorer.version()),
            scorer,
            store: SessionStore::new(limits(&cfg)),
            cfg,
            buckets,
            applied: BTreeMap::new(),
            watermark_ms: i64::MIN,
            last_sweep_ms: i64::MIN,
            slots: HashMap::default(),
            online,
            eval_online: Rolling::new(cfg.eval_window),
            eval_batch: Rolling::new(cfg.eval_window),
            counts: Counts::default(),
            items: HashMap::default(),
            live_swept_ms: i64::MIN,
            x: Vec::new(),
            spare: Vec::new(),
            spare_x: Vec::new(),
            chain_base: None,
            closed: Vec::new(),
            mirror: Arc::default(),
        }
        .tracking()
    }

    /// Turns on the store's change tracking (incremental checkpoints).
    fn tracking(self) -> Self {
        self.store.track_changes();
        self
    }

    /// The next offset to apply per partition (what to commit to the broker).
    pub fn applied(&self) -> &BTreeMap<i32, i64> {
        &self.applied
    }

    /// Exact counters.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// The sessions closed by timeout since the last call, for the caller to free off the
    /// applying thread (their events were allocated one string at a time). Up to
    /// [`MAX_CLOSED`] are kept between calls; beyond that they are dropped here.
    pub fn take_closed(&mut self) -> Vec<shopsense_serve::LiveSession> {
        std::mem::take(&mut self.closed)
    }

    /// Live sessions.
    pub fn active_sessions(&self) -> usize {
        self.store.sizes().0
    }

    /// Batch model version.
    pub fn model_version(&self) -> &str {
        self.scorer.version()
    }

    /// (online, batch) rolling quality: (AUC, log-loss, window size).
    pub fn quality(&self) -> [(Option<f64>, Option<f64>, usize); 2] {
        [
            (
                self.eval_online.auc(),
                self.eval_online.log_loss(),
                self.eval_online.len(),
            ),
            (
                self.eval_batch.auc(),
                self.eval_batch.log_loss(),
                self.eval_batch.len(),
            ),
        ]
    }

    /// The `n` most frequent items so far (ties: the smaller id first).
    pub fn top_items(&self, n: usize) -> Vec<(String, u64)> {
        top_n(&self.items, n)
    }

    /// Applies one message from `partition` at `offset`.
    pub fn process(&mut self, partition: i32, offset: i64, payload: &[u8], now_ms: i64) -> Outcome {
        // A redelivered message is not even parsed.
        if self.skip_duplicate(partition, offset) {
            return Outcome::Duplicate;
        }
        self.apply(partition, offset, parse(payload), now_ms)
    }

    /// Whether the message at `offset` of `partition` was applied already (then counted
    /// as a skipped duplicate).
    fn skip_duplicate(&mut self, partition: i32, offset: i64) -> bool {
        let dup = self
            .applied
            .get(&partition)
            .is_some_and(|&next| offset < next);
        self.counts.duplicates += u64::from(dup);
        dup
    }

    /// Like [`Processor::process`], with the payload already read by [`parse`] (the
    /// consumer parses on its polling thread, while this one applies the previous messages).
    pub fn process_parsed(
        &mut self,
        partition: i32,
        offset: i64,
        parsed: Result<Event, String>,
        now_ms: i64,
    ) -> Outcome {
        if self.skip_duplicate(partition, offset) {
            return Outcome::Duplicate;
        }
        self.apply(partition, offset, parsed, now_ms)
    }

    /// Applies a message that is not a redelivery.
    fn apply(
        &mut self,
        partition: i32,
        offset: i64,
        parsed: Result<Event, String>,
        now_ms: i64,
    ) -> Outcome {
        // Inserted in place when the partition is known (the per-message path).
        match self.applied.get_mut(&partition) {
            Some(next) => *next = offset + 1,
            None => {
                self.applied.insert(partition, offset + 1);
            }
        }
        let mut ev = match parsed {
            Ok(ev) => ev,
            Err(reason) => {
                self.counts.dead += 1;
                return Outcome::Dead(reason);
            }
        };
        if self.watermark_ms != i64::MIN && ev.time_ms < self.watermark_ms - self.cfg.lateness_ms {
            self.counts.dead += 1;
            return Outcome::Dead(format!(
                "late event: time {} ms is {} ms behind the watermark (tolerance {} ms)",
                ev.time_ms,
                self.watermark_ms - ev.time_ms,
                self.cfg.lateness_ms
            ));
        }
        if ev.time_ms > self.watermark_ms {
            self.watermark_ms = ev.time_ms;
            self.close_timed_out();
        }
        // The session key and user id move into the score message: the stored event's own
        // copies are never read (the store keeps one user per session).
        let user_id = std::mem::take(&mut ev.user_id);
        let key = match ev.session_id.take() {
            Some(s) => s,
            None => user_id.clone(),
        };
        let kind = ev.kind.clone();
        let time_ms = ev.time_ms;
        // Counted without allocating a key once it is known.
        match self.items.get_mut(ev.item_id.as_str()) {
            Some(n) => *n += 1,
            None => {
                self.items.insert(ev.item_id.clone(), 1);
            }
        }
        match self.counts.by_kind.get_mut(kind.name()) {
            Some(n) => *n += 1,
            None => {
                self.counts.by_kind.insert(kind.name().to_string(), 1);
            }
        }
        self.counts.events += 1;
        // One lookup finds the session's feature cache and pending outcome.
        let slot = match self.slots.get_mut(key.as_str()) {
            Some(s) => s,
            None => self.slots.entry(key.clone()).or_default(),
        };
        let (scorer, cache, spare, x) = (
            &*self.scorer,
            &mut slot.features,
            &mut self.spare,
            &mut self.x,
        );
        let (built, other_user) = self.store.append_one(&key, &user_id, ev, time_ms, |live| {
            (
                live_features(scorer, cache, spare, live, time_ms, x),
                // The message names the session's user (its first event's), as before.
                (live.user_id != user_id).then(|| live.user_id.clone()),
            )
        });
        let user_id = other_user.unwrap_or(user_id);
        let score = match built.and_then(|()| self.scorer.score_features(&self.x)) {
            Ok(s) => s,
            Err(e) => {
                self.counts.dead += 1;
                return Outcome::Dead(format!("scoring failed: {e}"));
            }
        };
        let online = self.online.predict(&self.buckets, &self.x);
        let b = ((score.score * 10.0).floor().clamp(0.0, 9.0)) as usize;
        self.counts.score_hist[b] += 1;
        if kind == EventKind::Purchase {
            // Prequential: the scores before the purchase was seen are evaluated, then learnt.
            if let Some(p) = slot.pending.take() {
                if p.scored {
                    self.eval_online.push(p.online, true);
                    self.eval_batch.push(p.batch, true);
                    self.online.learn(&self.buckets, &p.x, true);
                    self.counts.converted += 1;
                }
            }
        } else {
            // A session that converted earlier and shows activity again starts a new
            // outcome. A pending session takes this event's features by swapping buffers:
            // the next event writes into the previous ones.
            match &mut slot.pending {
                Some(p) => {
                    p.last_ms = time_ms;
                    std::mem::swap(&mut p.x, &mut self.x);
                    p.batch = score.score;
                    p.online = online;
                    p.scored = true;
                }
                None => {
                    // A closed session's buffer when there is one.
                    let x = match self.spare_x.pop() {
                        Some(mut v) => {
                            v.clear();
                            v.extend_from_slice(&self.x);
                            v
                        }
                        None => self.x.clone(),
                    };
                    slot.pending = Some(Pending {
                        last_ms: time_ms,
                        x,
                        batch: score.score,
                        online,
                        scored: true,
                    });
                }
            }
        }
        Outcome::Scored(Box::new(ScoreOut {
            session_id: key,
            user_id,
            score: score.score,
            decision: score.decision,
            model_version: self.version.clone(),
            online_score: online,
            event_time_ms: time_ms,
            processing_time_ms: now_ms,
            partition,
            offset,
        }))
    }

    fn close_timed_out(&mut self) {
        let cutoff = self
            .watermark_ms
            .saturating_sub(self.cfg.session_timeout_ms);
        // Sweeping on every event would be quadratic: sweep when the watermark moved by a
        // thirtieth of the timeout (60 s for 30 minutes; at least 1 s), so a session closes
        // at most that late. A sweep walks every live and pending session: with dense event
        // time (a replay at full speed) a 10 s step had it take 7 % of the consumer's time.
        let step = (self.cfg.session_timeout_ms / 30).max(1_000);
        if self.watermark_ms < self.last_sweep_ms.saturating_add(step) {
            return;
        }
        self.last_sweep_ms = self.watermark_ms;
        // Taken out in one walk, keys and all. A timed-out session's feature cache goes
        // with it: its last event touched both (a cache is only a shortcut, rebuilt when
        // missing).
        let spare = &mut self.spare;
        let mut old: Vec<(i64, String, Pending)> = self
            .slots
            .extract_if(|_, s| s.pending.as_ref().is_some_and(|p| p.last_ms < cutoff))
            .filter_map(|(k, s)| {
                if let Some(f) = s.features {
                    keep_spare(spare, f);
                }
                s.pending.map(|p| (p.last_ms, k, p))
            })
            .collect();
        // Deterministic learning order (the map's order differs between processes).
        old.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        for (_, _, p) in old {
            self.eval_online.push(p.online, false);
            self.eval_batch.push(p.batch, false);
            self.online.learn(&self.buckets, &p.x, false);
            self.counts.timed_out += 1;
            if self.spare_x.len() < SPARES {
                // (All of one length: the feature count.)
                self.spare_x.push(p.x);
            }
        }
        // A caller that never takes the closed sessions has them dropped here.
        if self.closed.len() >= MAX_CLOSED {
            self.closed.clear();
        }
        self.store
            .evict_expired_into(self.watermark_ms, &mut self.closed);
        // The feature caches are only a shortcut (a missing one is rebuilt): trimmed every
        // half timeout of event time, not on every sweep.
        if self.watermark_ms
            >= self
                .live_swept_ms
                .saturating_add(self.cfg.session_timeout_ms / 2)
        {
            self.live_swept_ms = self.watermark_ms;
            let spare = &mut self.spare;
            self.slots.retain(|_, s| {
                if s.features.as_ref().is_some_and(|f| f.last_ms < cutoff) {
                    if let Some(f) = s.features.take() {
                        keep_spare(spare, f);
                    }
                }
                s.features.is_some() || s.pending.is_some()
            });
        }
    }

    /// Writes the state into `dir` as a new generation, then points `dir/CURRENT` at it.
    pub fn checkpoint(&mut self, dir: &Path, generation: u64) -> Result<(), StreamError> {
        self.snapshot_for(generation).write(dir, generation)
    }

    /// A copy of the state to be written as `generation` ([`Checkpoint::write`]), possibly on
    /// another thread while this processor goes on: full every [`FULL_CHECKPOINT_EVERY`]
    /// generations (and first after a start or restore), otherwise with only the user
    /// histories changed since the previous copy. Either way the copy holds only the live
    /// state and the changed users — a full generation's users come from the writers' mirror
    /// — so it costs O(live sessions + changed users), never O(users ever seen). Generations
    /// must be written in order, each one before the next copy, and every copy must be
    /// written (a failed write ends the stream: the next copies lack its changes).
    pub fn snapshot_for(&mut self, generation: u64) -> Checkpoint {
        let full = self
            .chain_base
            .is_none_or(|b| generation <= b || generation - b >= FULL_CHECKPOINT_EVERY);
        let base = if full {
            self.chain_base = Some(generation);
            None
        } else {
            self.chain_base
        };
        Checkpoint {
            store: self.store.copy_changes(),
            mirror: self.mirror.clone(),
            saved: Saved {
                format: "shopsense-stream-state".into(),
                base,
                applied: self.applied.clone(),
                watermark_ms: self.watermark_ms,
                last_sweep_ms: self.last_sweep_ms,
                pending: self
                    .slots
                    .iter()
                    .filter_map(|(k, s)| Some((k.clone(), s.pending.clone()?)))
                    .collect(),
                online: self.online.clone(),
                eval_online: self.eval_online.clone(),
                eval_batch: self.eval_batch.clone(),
                counts: self.counts.clone(),
                items: self.items.clone(),
            },
        }
    }

    /// Restores the last checkpoint in `dir`; returns its generation (`None`: no checkpoint).
    pub fn restore(&mut self, dir: &Path) -> Result<Option<u64>, StreamError> {
        let cur = match std::fs::read_to_string(dir.join("CURRENT")) {
            Ok(s) => s.trim().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StreamError::Checkpoint(format!("CURRENT: {e}"))),
        };
        let generation: u64 = cur
            .strip_prefix("gen-")
            .and_then(|g| g.parse().ok())
            .ok_or_else(|| StreamError::Checkpoint(format!("CURRENT names {cur:?}")))?;
        let gen_dir = dir.join(&cur);
        let p = gen_dir.join("stream.json");
        let text = std::fs::read(&p)
            .map_err(|e| StreamError::Checkpoint(format!("{}: {e}", p.display())))?;
        let saved: Saved = serde_json::from_slice(&text)
            .map_err(|e| StreamError::Checkpoint(format!("{}: {e}", p.display())))?;
        let store = SessionStore::new(limits(&self.cfg));
        store.track_changes();
        // An incremental generation: the users of its full base and of every generation
        // after it, in order; the live sessions of this one.
        let first = saved.base.unwrap_or(generation);
        if first > generation {
            return Err(StreamError::Checkpoint(format!(
                "{}: base generation {first} is after {generation}",
                p.display()
            )));
        }
        let chain: Vec<PathBuf> = (first..=generation)
            .map(|g| dir.join(format!("gen-{g:012}")).join("sessions.json"))
            .collect();
        store
            .restore_chain(&chain, saved.watermark_ms)
            .map_err(|e| StreamError::Checkpoint(e.to_string()))?;
        // The writers' mirror starts from the restored users (the store's change log starts
        // empty here).
        self.mirror = Arc::new(Mutex::new(store.user_mirror()));
        self.store = store;
        self.chain_base = None;
        self.applied = saved.applied;
        self.watermark_ms = saved.watermark_ms;
        self.last_sweep_ms = saved.last_sweep_ms;
        // Feature caches are rebuilt from the restored sessions' events when next needed.
        self.slots = saved
            .pending
            .into_iter()
            .map(|(k, p)| {
                let slot = Slot {
                    features: None,
                    pending: Some(p),
                };
                (k, slot)
            })
            .collect();
        self.online = saved.online;
        self.buckets = self.online.buckets(self.scorer.feature_names());
        self.eval_online = saved.eval_online;
        self.eval_batch = saved.eval_batch;
        self.counts = saved.counts;
        self.items = saved.items;
        Ok(Some(generation))
    }
}

/// A copy of a [`Processor`]'s state at one point ([`Processor::snapshot_for`]).
pub struct Checkpoint {
    /// Live sessions and the users changed since the previous copy.
    store: SessionStore,
    /// The processor's mirror of all users (updated with this copy's changes when written).
    mirror: Arc<Mutex<UserMirror>>,
    saved: Saved,
}

impl Checkpoint {
    /// The next offset to apply per partition, as of this copy (what may be committed once
    /// it is written).
    pub fn applied(&self) -> &BTreeMap<i32, i64> {
        &self.saved.applied
    }

    /// Writes the state into `dir` as a new generation (synced), then points `dir/CURRENT`
    /// at it and removes the generations it no longer needs (all before its full base).
    pub fn write(&self, dir: &Path, generation: u64) -> Result<(), StreamError> {
        let io = |what: &str, e: std::io::Error| StreamError::Checkpoint(format!("{what}: {e}"));
        let gen_dir = dir.join(format!("gen-{generation:012}"));
        std::fs::create_dir_all(&gen_dir).map_err(|e| io(&gen_dir.display().to_string(), e))?;
        {
            // (A writer that panicked left the mirror as it was or fully updated: every
            // update is a plain insert of a user's latest history.)
            let mut mirror = self.mirror.lock().unwrap_or_else(|p| p.into_inner());
            self.store.update_mirror(&mut mirror);
            let path = gen_dir.join("sessions.json");
            let wm = self.saved.watermark_ms;
            match self.saved.base {
                None => self.store.write_copy_with(&mirror, &path, wm),
                Some(_) => self.store.write_copy(&path, wm),
            }
            .map_err(|e| StreamError::Checkpoint(e.to_string()))?;
        }
        let saved = &self.saved;
        let p = gen_dir.join("stream.json");
        let f = std::fs::File::create(&p).map_err(|e| io(&p.display().to_string(), e))?;
        let mut w = std::io::BufWriter::new(f);
        serde_json::to_writer(&mut w, saved)
            .map_err(|e| StreamError::Checkpoint(format!("{}: {e}", p.display())))?;
        let f = w
            .into_inner()
            .map_err(|e| StreamError::Checkpoint(format!("{}: {e}", p.display())))?;
        f.sync_all().map_err(|e| io(&p.display().to_string(), e))?;
        let tmp = dir.join("CURRENT.tmp");
        std::fs::write(&tmp, format!("gen-{generation:012}"))
            .map_err(|e| io(&tmp.display().to_string(), e))?;
        std::fs::rename(&tmp, dir.join("CURRENT")).map_err(|e| io("CURRENT", e))?;
        // Generations outside this one's chain (its full base up to it) are no longer needed.
        let keep = self.saved.base.unwrap_or(generation)..=generation;
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let Some(g) = name.strip_prefix("gen-") else {
                    continue;
                };
                if !g.parse::<u64>().is_ok_and(|g| keep.contains(&g)) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        Ok(())
    }
}

/// Parses one message (a JSON event as the server's `POST /v1/events` takes it).
pub fn parse(payload: &[u8]) -> Result<Event, String> {
    // The plain form most producers write takes the fast path; anything else (and every
    // error message) is serde_json's.
    let v: EventIn = match crate::fastjson::parse(payload) {
        Some(v) => v,
        None => serde_json::from_slice(payload).map_err(|e| format!("invalid JSON event: {e}"))?,
    };
    v.into_event("").map_err(|e| {
        format!(
            "invalid event: {}{}",
            e.detail.message,
            e.detail
                .field
                .map(|f| format!(" (field {f})"))
                .unwrap_or_default()
        )
    })
}

/// The JSON message of an event (what `replay` produces and [`parse`] reads).
pub fn event_json(e: &Event) -> String {
    let mut m = serde_json::Map::new();
    m.insert("time".into(), e.time_ms.into());
    m.insert("kind".into(), e.kind.name().into());
    m.insert("user_id".into(), e.user_id.clone().into());
    if let Some(s) = &e.session_id {
        m.insert("session_id".into(), s.clone().into());
    }
    m.insert("item_id".into(), e.item_id.clone().into());
    if let Some(s) = &e.category_id {
        m.insert("category_id".into(), s.clone().into());
    }
    if let Some(s) = &e.category_path {
        m.insert("category_path".into(), s.clone().into());
    }
    if let Some(s) = &e.brand {
        m.insert("brand".into(), s.clone().into());
    }
    if let Some(p) = e.price.filter(|p| p.is_finite()) {
        m.insert("price".into(), p.into());
    }
    if let Some(s) = &e.order_id {
        m.insert("order_id".into(), s.clone().into());
    }
    serde_json::Value::Object(m).to_string()
}

#[cfg(test)]
mod top_tests {
    use super::{top_n, HashMap};

    /// The heap selection equals sorting everything, ties included.
    #[test]
    fn top_n_equals_a_full_sort() {
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        for round in 0..200 {
            let mut m: HashMap<String, u64> = HashMap::default();
            let size = round % 60;
            for i in 0..size {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                // Few distinct counts: many ties.
                m.insert(
                    format!("item{}", (rng >> 20) % 100 + i as u64 * 100),
                    rng % 5,
                );
            }
            for n in [0, 1, 3, 10, 100] {
                let mut all: Vec<(String, u64)> = m.iter().map(|(k, c)| (k.clone(), *c)).collect();
                all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                all.truncate(n);
                assert_eq!(top_n(&m, n), all, "round {round}, n {n}");
            }
        }
    }
}

#[cfg(test)]
mod score_json_tests {
    use super::*;

    /// `write_json` writes exactly what serde_json writes for the same message: plain ids,
    /// ids that need escaping, non-ASCII, non-finite and extreme numbers.
    #[test]
    fn write_json_equals_serde_json() {
        let base = ScoreOut {
            session_id: "3f2a-b".into(),
            user_id: "512386086".into(),
            score: 0.123_456_789,
            decision: true,
            model_version: "logistic-0a1b2c3d".into(),
            online_score: 1e-300,
            event_time_ms: 1_569_888_000_000,
            processing_time_ms: -1,
            partition: 3,
            offset: i64::MAX,
        };
        let odd = [
            "",
            "quote\"inside",
            "back\\slash",
            "tab\tnew\nline\u{1}\u{1f}",
            "ünïcödé 中文 \u{7f}",
            "/slash/",
        ];
        let mut cases = vec![base.clone()];
        for s in odd {
            cases.push(ScoreOut {
                session_id: s.into(),
                user_id: s.into(),
                model_version: s.into(),
                ..base.clone()
            });
        }
        for (score, online) in [
            (f64::NAN, f64::INFINITY),
            (0.0, -0.0),
            (1.0, 0.5),
            (f64::MIN_POSITIVE, f64::MAX),
        ] {
            cases.push(ScoreOut {
                score,
                online_score: online,
                decision: false,
                partition: i32::MIN,
                offset: 0,
                ..base.clone()
            });
        }
        for c in &cases {
            let mut got = Vec::new();
            c.write_json(&mut got).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&serde_json::to_vec(c).unwrap())
            );
        }
    }
}

#[cfg(test)]
mod closed_tests {
    use super::outcome_tests::Counting;
    use super::{Outcome, Processor, ProcessorConfig, MAX_CLOSED};
    use std::sync::Arc;

    /// A caller that never takes the closed sessions does not keep them all: at most
    /// `MAX_CLOSED` wait, and every one is still folded into its user's history.
    #[test]
    fn closed_sessions_not_taken_are_bounded() {
        let mut p = Processor::new(
            Arc::new(Counting(vec!["n".into(), "t".into()])),
            ProcessorConfig::default(),
        );
        let n = MAX_CLOSED + 5_000;
        // One session a minute: each closes 30 minutes later, swept every minute.
        for i in 0..n + 40 {
            let m = format!(
                r#"{{"time":{},"kind":"view","user_id":"u{}","session_id":"s{i}","item_id":"i"}}"#,
                i as i64 * 60_000,
                i % 7
            );
            assert!(matches!(
                p.process(0, i as i64, m.as_bytes(), 0),
                Outcome::Scored(_)
            ));
        }
        let timed_out = p.counts().timed_out as usize;
        assert!(timed_out > n, "{timed_out}");
        let kept = p.take_closed().len();
        assert!(kept <= MAX_CLOSED && kept > 0, "{kept}");
        assert!(kept < timed_out, "{kept} of {timed_out}");
    }
}

#[cfg(test)]
mod outcome_tests {
    use super::{OnlineLogit, Outcome, Processor, ProcessorConfig};
    use shopsense_events::Event;
    use shopsense_features::UserHistory;
    use shopsense_serve::{Score, Scorer};
    use std::sync::Arc;

    /// Features: the session's event count and its latest event time (seconds).
    pub(super) struct Counting(pub(super) Vec<String>);
    impl Scorer for Counting {
        fn version(&self) -> &str {
            "counting"
        }
        fn threshold(&self) -> f64 {
            0.5
        }
        fn feature_names(&self) -> &[String] {
            &self.0
        }
        fn features(&self, events: &[Event], _: &UserHistory) -> Result<Vec<f32>, String> {
            let last = events.iter().map(|e| e.time_ms).max().unwrap_or(0);
            Ok(vec![events.len() as f32, (last / 1000) as f32])
        }
        fn score_features(&self, x: &[f32]) -> Result<Score, String> {
            Ok(Score {
                score: f64::from(x[0]) / 10.0,
                decision: false,
            })
        }
    }

    fn msg(session: &str, kind: &str, secs: i64) -> Vec<u8> {
        format!(
            r#"{{"time":{},"kind":"{kind}","user_id":"u-{session}","session_id":"{session}","item_id":"i"}}"#,
            secs * 1000
        )
        .into_bytes()
    }

    /// Prequential learning uses the features of a session's last event before its outcome:
    /// the purchase learns from the second view's row, the timeout from the only view's,
    /// in that order — and the pending outcome survives a checkpoint round trip.
    #[test]
    fn the_online_model_learns_the_last_row_before_each_outcome() {
        let names = vec!["n".to_string(), "t".to_string()];
        let scorer: Arc<dyn Scorer> = Arc::new(Counting(names.clone()));
        let mut p = Processor::new(scorer.clone(), ProcessorConfig::default());
        let stream = [
            msg("s", "view", 1),
            msg("s", "view", 2),
            msg("t", "view", 4),
            msg("s", "purchase", 3),
        ];
        for (i, m) in stream.iter().enumerate() {
            assert!(matches!(p.process(0, i as i64, m, 0), Outcome::Scored(_)));
        }
        // A checkpoint and a restore in between: "t" stays pending with its row.
        let dir = tempfile::tempdir().expect("tempdir");
        p.checkpoint(dir.path(), 1).expect("checkpoint");
        let mut q = Processor::new(scorer, ProcessorConfig::default());
        assert_eq!(q.restore(dir.path()).expect("restore"), Some(1));
        // 31 minutes later "t" has timed out.
        assert!(matches!(
            q.process(0, 4, &msg("w", "view", 4 + 31 * 60), 0),
            Outcome::Scored(_)
        ));
        assert_eq!((q.counts().converted, q.counts().timed_out), (1, 1));

        // The closed sessions wait for the caller: "s" and "t" (restored, then timed out).
        let mut closed: Vec<(String, usize)> = q
            .take_closed()
            .into_iter()
            .map(|s| (s.user_id, s.events.len()))
            .collect();
        closed.sort();
        assert_eq!(closed, [("u-s".to_string(), 3), ("u-t".to_string(), 1)]);
        assert!(q.take_closed().is_empty());

        let mut expect = OnlineLogit::new(1 << 16, 0.05, 1e-6);
        let buckets = expect.buckets(&names);
        expect.learn(&buckets, &[2.0, 2.0], true);
        expect.learn(&buckets, &[1.0, 4.0], false);
        assert_eq!(q.online.bias, expect.bias);
        assert_eq!(q.online.weights, expect.weights);
        assert_eq!(q.online.updates, 2);
    }
}
