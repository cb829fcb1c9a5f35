//! The broker side: the consumer loop ([`run_stream`]) and the producer of event logs
//! ([`replay`]), with rdkafka (bundled librdkafka).

use crate::dashboard::Live;
use crate::processor::{event_json, parse, Outcome, Processor, ProcessorConfig};
use crate::StreamError;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message, Timestamp};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use shopsense_events::Event;
use shopsense_serve::Scorer;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Wall-clock UTC milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Counts delivery failures; for score messages it records the end-to-end latency
/// (source event produced → score acknowledged by the broker) in the live metrics. Every
/// message gets a sequence number when it is enqueued; `acked` tracks the prefix of them
/// whose delivery was reported, so a checkpoint can wait for exactly the messages sent
/// before it without flushing (and blocking on) everything sent since.
struct Ctx {
    failed: AtomicU64,
    delivered: AtomicU64,
    /// Sequence numbers handed out so far.
    sent: AtomicU64,
    acked: std::sync::Mutex<Acked>,
    live: Option<Arc<Live>>,
}

/// Delivery reports received, as a prefix plus the out-of-order ones above it.
#[derive(Default)]
struct Acked {
    /// Every sequence number below this one was reported.
    prefix: u64,
    above: std::collections::BTreeSet<u64>,
}

impl Ctx {
    fn new(live: Option<Arc<Live>>) -> Self {
        Ctx {
            failed: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            acked: std::sync::Mutex::new(Acked::default()),
            live,
        }
    }

    /// Records that message `seq` is done (delivered, failed, or never enqueued).
    fn ack(&self, seq: u64) {
        let mut a = self.acked.lock().unwrap_or_else(|e| e.into_inner());
        if seq == a.prefix {
            a.prefix += 1;
            loop {
                let next = a.prefix;
                if !a.above.remove(&next) {
                    break;
                }
                a.prefix += 1;
            }
        } else if seq > a.prefix {
            a.above.insert(seq);
        }
    }

    /// Whether every message with a sequence number below `seq` was reported.
    fn acked_below(&self, seq: u64) -> bool {
        self.acked.lock().unwrap_or_else(|e| e.into_inner()).prefix >= seq
    }
}

impl ClientContext for Ctx {}

impl ProducerContext for Ctx {
    /// `(source event time in ms, 0 for none; sequence number)`.
    type DeliveryOpaque = Box<(i64, u64)>;
    fn delivery(&self, r: &DeliveryResult<'_>, opaque: Self::DeliveryOpaque) {
        let (source_ms, seq) = *opaque;
        match r {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                if let Some(l) = &self.live {
                    if source_ms > 0 {
                        l.observe_latency((now_ms() - source_ms).max(0) as f64 / 1000.0);
                    }
                }
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("delivery failed: {e}");
            }
        }
        self.ack(seq);
    }
}

/// Output producer's batching delay: scores wait at most this long for company.
const OUT_LINGER_MS: u64 = 2;

fn producer(
    brokers: &str,
    live: Option<Arc<Live>>,
    linger_ms: u64,
) -> Result<ThreadedProducer<Ctx>, StreamError> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", linger_ms.to_string())
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("compression.type", "lz4")
        .create_with_context(Ctx::new(live))?)
}

/// Enqueues one message, waiting while the local queue is full.
fn send(
    p: &ThreadedProducer<Ctx>,
    topic: &str,
    key: &str,
    payload: &[u8],
    source_ms: i64,
) -> Result<(), StreamError> {
    let seq = p.context().sent.fetch_add(1, Ordering::Relaxed);
    let mut rec = BaseRecord::with_opaque_to(topic, Box::new((source_ms, seq)))
        .key(key)
        .payload(payload);
    loop {
        match p.send(rec) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                rec = r;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => {
                // Never enqueued: no delivery report will come for it.
                p.context().ack(seq);
                return Err(e.into());
            }
        }
    }
}

/// Settings of [`run_stream`].
#[derive(Clone)]
pub struct StreamConfig {
    /// `host:port[,…]` of the broker.
    pub brokers: String,
    /// Events topic.
    pub topic: String,
    /// Scores topic.
    pub out_topic: String,
    /// Dead-letter topic.
    pub dlq_topic: String,
    /// Consumer group.
    pub group: String,
    /// The batch model.
    pub scorer: Arc<dyn Scorer>,
    /// Where the state is checkpointed (restored at start).
    pub checkpoint_dir: PathBuf,
    /// Checkpoint + commit after this many messages…
    pub checkpoint_every: u64,
    /// …or this long after the first uncommitted message.
    pub checkpoint_interval: Duration,
    /// Stop (after a last checkpoint) when no message came for this long; `None`: run forever.
    pub idle_exit: Option<Duration>,
    /// Address of `/metrics` and the dashboard (`None`: none).
    pub metrics_addr: Option<SocketAddr>,
    /// Longest time the broker may hold a fetch while waiting for data (librdkafka
    /// `fetch.wait.max.ms`; Tansu 0.6 holds every fetch this long, data or not).
    pub fetch_wait_ms: u64,
    /// Processor settings.
    pub processor: ProcessorConfig,
}

/// What a [`run_stream`] did (the counts are the checkpointed totals, across restarts).
#[derive(Debug, Clone)]
pub struct StreamReport {
    /// Counters.
    pub counts: crate::processor::Counts,
    /// Messages handled by this run (including duplicates and dead letters).
    pub messages_this_run: u64,
    /// Seconds this run spent from its first message to its last.
    pub busy_seconds: f64,
    /// Checkpoints written by this run.
    pub checkpoints: u64,
    /// Longest time this run's consumer was held up by a checkpoint, in seconds: copying
    /// the state, and committing once its background write is done (the write itself does
    /// not hold the consumer up).
    pub checkpoint_max_seconds: f64,
    /// Time the consumer was held up by checkpoints in this run, in seconds.
    pub checkpoint_seconds: f64,
    /// Output deliveries that failed.
    pub delivery_failures: u64,
}

/// The high watermark of `partition` as last reported by a fetch response (librdkafka's
/// cached value: no broker round trip, unlike `fetch_watermarks`, which stalled the consumer
/// for up to its timeout when the broker was busy). `None` before the first fetch.
fn cached_high_watermark(
    consumer: &BaseConsumer,
    topic: &std::ffi::CStr,
    partition: i32,
) -> Option<i64> {
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is valid while `consumer` lives, `topic` is a valid
    // NUL-terminated string, and the two out-pointers point to live i64s; the call only
    // reads librdkafka's cached offsets under its own lock.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
        .then_some(high)
}

/// A checkpoint being written on its own thread; its offsets are committed once it is on
/// disk.
struct InFlight {
    handle: std::thread::JoinHandle<Result<(), StreamError>>,
    applied: std::collections::BTreeMap<i32, i64>,
    /// Output messages enqueued before the snapshot (sequence numbers below this).
    sent_before: u64,
}

impl InFlight {
    /// Whether the state is on disk and every output message sent before the snapshot
    /// was reported by the broker, so the offsets can be committed without waiting.
    fn ready(&self, producer: &ThreadedProducer<Ctx>) -> bool {
        self.handle.is_finished() && producer.context().acked_below(self.sent_before)
    }
}

/// Starts writing a copy of the state as `generation` on another thread: the consumer is
/// held up only for the copy, not for serialising and syncing it.
///
/// `sent_before` is the number of output messages emitted before the copy: the output
/// thread enqueues them in emission order, each with the next sequence number.
fn start_checkpoint(
    proc_: &mut Processor,
    cfg: &StreamConfig,
    sent_before: u64,
    generation: u64,
) -> InFlight {
    let snap = proc_.snapshot_for(generation);
    let applied = snap.applied().clone();
    let dir = cfg.checkpoint_dir.clone();
    InFlight {
        handle: std::thread::spawn(move || snap.write(&dir, generation)),
        applied,
        sent_before,
    }
}

/// Waits for a checkpoint to be written, then commits its offsets. The scores and dead
/// letters of the applied messages are flushed to the broker first (at-least-once output).
///
/// While consuming, `mode` is [`CommitMode::Async`] and the call comes only once
/// [`InFlight::ready`] (nothing blocks the consumer; a commit lost with a crash only means
/// re-reading more, which the processor's idempotence absorbs); at the end it is
/// [`CommitMode::Sync`] after a full flush.
fn finish_checkpoint(
    f: InFlight,
    cfg: &StreamConfig,
    consumer: &BaseConsumer,
    producer: &ThreadedProducer<Ctx>,
    mode: CommitMode,
) -> Result<(), StreamError> {
    f.handle
        .join()
        .map_err(|_| StreamError::Checkpoint("the checkpoint writer panicked".into()))??;
    if !producer.context().acked_below(f.sent_before) {
        producer.flush(Duration::from_secs(30))?;
    }
    let mut tpl = TopicPartitionList::new();
    for (&p, &o) in &f.applied {
        tpl.add_partition_offset(&cfg.topic, p, Offset::Offset(o))?;
    }
    if tpl.count() > 0 {
        consumer.commit(&tpl, mode)?;
    }
    Ok(())
}

/// How far before the restored applied offset a (re)assigned partition is re-read. Some
/// Kafka-protocol brokers (seen with Tansu 0.6.0) answer a fetch that starts inside a
/// record batch with the *next* batch, silently skipping the rest of the batch; starting well
/// before the offset and skipping what was applied (the processor's idempotence) is exact on
/// any broker. Larger than any producer batch (librdkafka sends at most 10,000 per batch by
/// default, ours too).
const REWIND: i64 = 100_000;

/// Longest wait for a partition assignment before the idle exit applies anyway.
const ASSIGNMENT_WAIT: Duration = Duration::from_secs(120);

/// Seeks every newly assigned partition with an applied offset to [`REWIND`] before it (not
/// below the log start); retried on the next poll until the seek succeeds.
fn rewind_new_partitions(
    consumer: &BaseConsumer,
    topic: &str,
    applied: &BTreeMap<i32, i64>,
    rewound: &mut std::collections::BTreeSet<i32>,
) {
    let Ok(a) = consumer.assignment() else {
        return;
    };
    for e in a.elements() {
        let p = e.partition();
        if rewound.contains(&p) {
            continue;
        }
        let Some(&next) = applied.get(&p) else {
            rewound.insert(p);
            continue;
        };
        let low = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(2))
            .map(|w| w.0)
            .unwrap_or(0);
        let to = (next - REWIND).max(low).max(0);
        match consumer.seek(topic, p, Offset::Offset(to), Duration::from_secs(2)) {
            Ok(()) => {
                tracing::info!("partition {p}: re-reading from offset {to} (applied up to {next})");
                rewound.insert(p);
            }
            Err(e) => tracing::debug!("partition {p}: seek not possible yet: {e}"),
        }
    }
}

/// Messages handed from the polling thread to the applying one at most this many at a time
/// (fewer when the consumer's queue runs dry: nothing waits for a batch to fill).
const BATCH: usize = 512;

/// One polled message, its payload already parsed.
struct Polled {
    partition: i32,
    offset: i64,
    /// When the source message was produced (UTC ms; 0: unknown).
    source_ms: i64,
    parsed: Result<Event, String>,
    /// The raw payload in [`Batch::bytes`] (for the dead-letter topic).
    payload: std::ops::Range<usize>,
}

/// Messages in poll order, with their raw payloads in one buffer.
#[derive(Default)]
struct Batch {
    msgs: Vec<Polled>,
    bytes: Vec<u8>,
}

/// The polling thread: polls the consumer, rewinds newly assigned partitions, parses each
/// payload and hands the messages over in batches, until idle (`idle_exit`), `stop`, or the
/// applying thread is gone. `applied` is the applying thread's latest view of the applied
/// offsets (for rewinds).
fn poll_loop(
    consumer: &BaseConsumer,
    topic: &str,
    idle_exit: Option<Duration>,
    applied: &std::sync::Mutex<BTreeMap<i32, i64>>,
    stop: &AtomicBool,
    live: &Live,
    tx: std::sync::mpsc::SyncSender<Batch>,
) {
    let applied_now = || applied.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let since_start = Instant::now();
    let mut last_msg = Instant::now();
    let mut rewound: std::collections::BTreeSet<i32> = Default::default();
    // A message of a partition not yet rewound is not applied (see `Some(Ok(m))` below);
    // while one was dropped that way, every poll retries the rewind.
    let mut rewind_pending = true;
    let mut batch = Batch::default();
    while !stop.load(Ordering::Relaxed) {
        // `assignment()` is a round trip to librdkafka's main thread: done while a rewind is
        // pending, not before every poll (it was most of the consumer's time).
        if rewind_pending {
            rewind_new_partitions(consumer, topic, &applied_now(), &mut rewound);
            rewind_pending = false;
        }
        // With messages batched, only what is already fetched is taken: the batch goes to
        // the applying thread as soon as the local queue is empty.
        let wait = if batch.msgs.is_empty() {
            Duration::from_millis(50)
        } else {
            Duration::ZERO
        };
        match consumer.poll(wait) {
            None if !batch.msgs.is_empty() => {
                last_msg = Instant::now();
                if tx.send(std::mem::take(&mut batch)).is_err() {
                    return;
                }
            }
            None => {
                rewind_pending = true;
                if let Some(idle) = idle_exit {
                    // Idle counts only once partitions are assigned: a consumer restarted after
                    // a kill -9 waits for the group to drop the dead member first.
                    let assigned = consumer
                        .assignment()
                        .map(|a| a.count() > 0)
                        .unwrap_or(false);
                    if !assigned && since_start.elapsed() < ASSIGNMENT_WAIT {
                        last_msg = Instant::now();
                    } else if last_msg.elapsed() >= idle {
                        return;
                    }
                }
            }
            Some(Err(e)) => {
                live.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("consume error: {e}");
            }
            Some(Ok(m)) => {
                let p = m.partition();
                if !rewound.contains(&p) {
                    // First message of a newly assigned partition: rewind it before applying
                    // anything from it, or the records the broker skipped would later count
                    // as duplicates. A seek drops what was fetched, so after one this message
                    // is not applied now: it comes again from the rewound position.
                    let applied = applied_now();
                    rewind_new_partitions(consumer, topic, &applied, &mut rewound);
                    if rewound.contains(&p) && applied.contains_key(&p) {
                        continue;
                    }
                    rewind_pending = !rewound.contains(&p);
                }
                let source_ms = match m.timestamp() {
                    Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => t,
                    Timestamp::NotAvailable => 0,
                };
                let payload = m.payload().unwrap_or(&[]);
                let from = batch.bytes.len();
                batch.bytes.extend_from_slice(payload);
                batch.msgs.push(Polled {
                    partition: p,
                    offset: m.offset(),
                    source_ms,
                    parsed: parse(payload),
                    payload: from..batch.bytes.len(),
                });
                if batch.msgs.len() >= BATCH {
                    last_msg = Instant::now();
                    if tx.send(std::mem::take(&mut batch)).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Consumes `cfg.topic` until idle (or forever): scores, dead letters, checkpoints, metrics.
///
/// Three threads: one polls the broker and parses the messages, this one applies them in
/// order and checkpoints, and one serialises and enqueues the scores and dead letters.
pub fn run_stream(cfg: StreamConfig) -> Result<StreamReport, StreamError> {
    ensure_topics(
        &cfg.brokers,
        &[&cfg.topic, &cfg.out_topic, &cfg.dlq_topic],
        1,
    )?;
    std::fs::create_dir_all(&cfg.checkpoint_dir)
        .map_err(|e| StreamError::Io(format!("{}: {e}", cfg.checkpoint_dir.display())))?;
    let mut proc_ = Processor::new(cfg.scorer.clone(), cfg.processor);
    let generation = proc_.restore(&cfg.checkpoint_dir)?.unwrap_or(0);
    if generation > 0 {
        tracing::info!(
            "restored checkpoint {generation}: {} events applied",
            proc_.counts().events
        );
    }
    let live = Arc::new(Live::new(cfg.scorer.version()));
    if let Some(addr) = cfg.metrics_addr {
        let bound = crate::dashboard::serve(addr, live.clone())
            .map_err(|e| StreamError::Io(format!("metrics server on {addr}: {e}")))?;
        tracing::info!("metrics and dashboard on http://{bound}/");
    }
    let consumer: Arc<BaseConsumer> = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", &cfg.brokers)
            .set("group.id", &cfg.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // The broker's usual minimum: a killed member leaves the group within 6 s.
            .set("session.timeout.ms", "6000")
            .set("fetch.wait.max.ms", cfg.fetch_wait_ms.max(1).to_string())
            .set("queued.min.messages", "200000")
            // With that much queued, librdkafka postpones the next fetch by this much (1 s
            // by default: about as long as the queue lasts at full speed, so the consumer
            // ran dry once a second, then waited for a fetch).
            .set("fetch.queue.backoff.ms", "20")
            // Bigger fetches: fewer broker round trips when catching up.
            .set("max.partition.fetch.bytes", "16777216")
            .set("fetch.max.bytes", "67108864")
            .create()?,
    );
    consumer.subscribe(&[cfg.topic.as_str()])?;
    let producer = producer(&cfg.brokers, Some(live.clone()), OUT_LINGER_MS)?;
    let applied = Arc::new(std::sync::Mutex::new(proc_.applied().clone()));
    let stop = Arc::new(AtomicBool::new(false));
    // A few batches in flight: the poller runs ahead while this thread applies.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(8);
    let poller = {
        let (consumer, applied, stop, live) = (
            consumer.clone(),
            applied.clone(),
            stop.clone(),
            live.clone(),
        );
        let (topic, idle_exit) = (cfg.topic.clone(), cfg.idle_exit);
        std::thread::Builder::new()
            .name("poll".into())
            .spawn(move || poll_loop(&consumer, &topic, idle_exit, &applied, &stop, &live, tx))
            .map_err(|e| StreamError::Io(format!("starting the polling thread: {e}")))?
    };
    let res = apply_loop(
        &cfg, &mut proc_, generation, &consumer, &producer, &live, rx, &applied,
    );
    stop.store(true, Ordering::Relaxed);
    if poller.join().is_err() {
        return Err(StreamError::Io("the polling thread panicked".into()));
    }
    res
}

/// A message for the output thread, in emission order.
enum Out {
    /// A score (serialised and sent to the scores topic), with its source's produce time.
    Score(Box<crate::processor::ScoreOut>, i64),
    /// A dead letter's JSON.
    Dead(String),
    /// Not a message: sessions closed while applying, dropped on the output thread (freeing
    /// their events was a twentieth of the applying thread's time).
    Closed(Vec<shopsense_serve::LiveSession>),
}

/// The output thread of [`run_stream`]: serialises the scores and enqueues every output
/// message with the producer, in the order received, until the channel closes.
fn output_loop(
    producer: &ThreadedProducer<Ctx>,
    cfg: &StreamConfig,
    rx: std::sync::mpsc::Receiver<Vec<Out>>,
) -> Result<(), StreamError> {
    // The score message, serialised into one reused buffer (librdkafka copies it).
    let mut body: Vec<u8> = Vec::with_capacity(512);
    for batch in rx {
        for out in batch {
            match out {
                Out::Score(s, source_ms) => {
                    body.clear();
                    s.write_json(&mut body)
                        .map_err(|e| StreamError::Io(format!("score JSON: {e}")))?;
                    send(producer, &cfg.out_topic, &s.session_id, &body, source_ms)?;
                }
                Out::Dead(body) => send(producer, &cfg.dlq_topic, "", body.as_bytes(), 0)?,
                Out::Closed(sessions) => drop(sessions),
            }
        }
    }
    Ok(())
}

/// The applying thread of [`run_stream`]: applies the polled batches until the poller
/// stops, then writes a last checkpoint and commits it.
#[allow(clippy::too_many_arguments)]
fn apply_loop(
    cfg: &StreamConfig,
    proc_: &mut Processor,
    generation: u64,
    consumer: &BaseConsumer,
    producer: &ThreadedProducer<Ctx>,
    live: &Arc<Live>,
    rx: std::sync::mpsc::Receiver<Batch>,
    applied_view: &std::sync::Mutex<BTreeMap<i32, i64>>,
) -> Result<StreamReport, StreamError> {
    // Scores are serialised and enqueued on a third thread, batch by batch.
    let (out_tx, out_rx) = std::sync::mpsc::sync_channel::<Vec<Out>>(8);
    std::thread::scope(|sc| {
        let output = std::thread::Builder::new()
            .name("output".into())
            .spawn_scoped(sc, move || output_loop(producer, cfg, out_rx))
            .map_err(|e| StreamError::Io(format!("starting the output thread: {e}")))?;
        let res = apply_batches(
            cfg,
            proc_,
            generation,
            consumer,
            producer,
            live,
            rx,
            applied_view,
            out_tx,
        );
        // The output thread ends once the channel closes (`out_tx` was moved into
        // `apply_batches`): its error, if any, is the cause of a failed hand-over.
        let out = output
            .join()
            .map_err(|_| StreamError::Io("the output thread panicked".into()))?;
        match (res, out) {
            (Err(e), Ok(())) | (_, Err(e)) => Err(e),
            (Ok(r), Ok(())) => finish(cfg, proc_, consumer, producer, live, r),
        }
    })
}

/// What [`apply_batches`] leaves to do once every output message is enqueued: the last
/// checkpoint, written, flushed and committed synchronously.
struct Unfinished {
    report: StreamReport,
    in_flight: Option<InFlight>,
    /// Messages applied since the last checkpoint started.
    since_ckpt: u64,
    generation: u64,
    /// Output messages emitted in all.
    emitted: u64,
}

fn finish(
    cfg: &StreamConfig,
    proc_: &mut Processor,
    consumer: &BaseConsumer,
    producer: &ThreadedProducer<Ctx>,
    live: &Live,
    u: Unfinished,
) -> Result<StreamReport, StreamError> {
    let mut report = u.report;
    if let Some(f) = u.in_flight {
        finish_checkpoint(f, cfg, consumer, producer, CommitMode::Sync)?;
    }
    if u.since_ckpt > 0 {
        let generation = u.generation + 1;
        finish_checkpoint(
            start_checkpoint(proc_, cfg, u.emitted, generation),
            cfg,
            consumer,
            producer,
            CommitMode::Sync,
        )?;
        report.checkpoints += 1;
    }
    live.publish(proc_);
    report.counts = proc_.counts().clone();
    report.delivery_failures = producer.context().failed.load(Ordering::Relaxed);
    Ok(report)
}

/// The body of [`apply_loop`]: applies batches until the poller stops.
#[allow(clippy::too_many_arguments)]
fn apply_batches(
    cfg: &StreamConfig,
    proc_: &mut Processor,
    mut generation: u64,
    consumer: &BaseConsumer,
    producer: &ThreadedProducer<Ctx>,
    live: &Arc<Live>,
    rx: std::sync::mpsc::Receiver<Batch>,
    applied_view: &std::sync::Mutex<BTreeMap<i32, i64>>,
    out_tx: std::sync::mpsc::SyncSender<Vec<Out>>,
) -> Result<Unfinished, StreamError> {
    let mut emitted = 0u64;
    let mut since_ckpt = 0u64;
    let mut first_uncommitted: Option<Instant> = None;
    let mut started: Option<Instant> = None;
    let mut ended = Instant::now();
    let mut messages = 0u64;
    let mut checkpoints = 0u64;
    let (mut ckpt_max, mut ckpt_total) = (0f64, 0f64);
    let mut in_flight: Option<InFlight> = None;
    let topic_c = std::ffi::CString::new(cfg.topic.as_str())
        .map_err(|_| StreamError::Io(format!("topic {:?} contains a NUL byte", cfg.topic)))?;
    let mut last_publish = Instant::now();
    let mut last_lag = Instant::now() - Duration::from_secs(10);
    loop {
        let got = match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(b) => Some(b),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut tick = Instant::now();
        if let Some(batch) = got {
            // Processing time: one clock read per batch (a batch is applied within
            // milliseconds).
            let now = now_ms();
            started.get_or_insert(tick);
            first_uncommitted.get_or_insert(tick);
            let mut outs = Vec::with_capacity(batch.msgs.len());
            for m in batch.msgs {
                messages += 1;
                since_ckpt += 1;
                match proc_.process_parsed(m.partition, m.offset, m.parsed, now) {
                    Outcome::Scored(s) => {
                        live.events.fetch_add(1, Ordering::Relaxed);
                        outs.push(Out::Score(s, m.source_ms));
                    }
                    Outcome::Dead(reason) => {
                        live.dead.fetch_add(1, Ordering::Relaxed);
                        let payload = batch.bytes.get(m.payload).unwrap_or(&[]);
                        let body = serde_json::json!({
                            "reason": reason,
                            "topic": cfg.topic,
                            "partition": m.partition,
                            "offset": m.offset,
                            "payload": String::from_utf8_lossy(payload),
                        })
                        .to_string();
                        outs.push(Out::Dead(body));
                    }
                    Outcome::Duplicate => {
                        live.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            emitted += outs.len() as u64;
            // Not a message (after the count): the sessions this batch closed, freed by the
            // output thread.
            let closed = proc_.take_closed();
            if !closed.is_empty() {
                outs.push(Out::Closed(closed));
            }
            if !outs.is_empty() && out_tx.send(outs).is_err() {
                // The output thread stopped on an error, which the caller reports.
                return Err(StreamError::Io("the output thread stopped".into()));
            }
            tick = Instant::now();
            ended = tick;
            let mut view = applied_view.lock().unwrap_or_else(|e| e.into_inner());
            if *view != *proc_.applied() {
                view.clone_from(proc_.applied());
            }
        }
        if in_flight.as_ref().is_some_and(|f| f.ready(producer)) {
            if let Some(f) = in_flight.take() {
                let t = Instant::now();
                finish_checkpoint(f, cfg, consumer, producer, CommitMode::Async)?;
                let secs = t.elapsed().as_secs_f64();
                ckpt_max = ckpt_max.max(secs);
                ckpt_total += secs;
            }
        }
        let due = since_ckpt >= cfg.checkpoint_every
            || first_uncommitted
                .is_some_and(|t| tick.saturating_duration_since(t) >= cfg.checkpoint_interval);
        // One checkpoint at a time: a due one waits until the previous one is committed.
        if due && since_ckpt > 0 && in_flight.is_none() {
            generation += 1;
            let t = Instant::now();
            in_flight = Some(start_checkpoint(proc_, cfg, emitted, generation));
            let secs = t.elapsed().as_secs_f64();
            tracing::debug!("checkpoint {generation}: state copied in {secs:.3} s");
            ckpt_max = ckpt_max.max(secs);
            ckpt_total += secs;
            checkpoints += 1;
            since_ckpt = 0;
            first_uncommitted = None;
        }
        if tick.saturating_duration_since(last_lag) >= Duration::from_secs(2) {
            last_lag = tick;
            let mut lag = 0i64;
            for (&p, &o) in proc_.applied() {
                // The high watermarks the fetches brought back (no broker round trip).
                if let Some(high) = cached_high_watermark(consumer, &topic_c, p) {
                    lag += (high - o).max(0);
                }
            }
            live.lag.store(lag as u64, Ordering::Relaxed);
        }
        if tick.saturating_duration_since(last_publish) >= Duration::from_millis(500) {
            last_publish = tick;
            live.publish(proc_);
        }
    }
    Ok(Unfinished {
        report: StreamReport {
            counts: Default::default(),
            messages_this_run: messages,
            busy_seconds: started.map_or(0.0, |s| (ended - s).as_secs_f64()),
            checkpoints,
            checkpoint_max_seconds: ckpt_max,
            checkpoint_seconds: ckpt_total,
            delivery_failures: 0,
        },
        in_flight,
        since_ckpt,
        generation,
        emitted,
    })
}

/// Settings of [`replay`].
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// `host:port[,…]` of the broker.
    pub brokers: String,
    /// Topic to produce to.
    pub topic: String,
    /// Event-time speed-up (60 = one hour of events per minute); `None`: as fast as possible.
    pub speed: Option<f64>,
    /// Produce at most this many events.
    pub limit: Option<usize>,
    /// Producer batching delay (librdkafka `linger.ms`). Larger batches mean fewer of
    /// them: a broker that keeps one object per batch and lists them on every fetch (Tansu
    /// 0.6 in memory) stays fast; the events wait at most this long before they are sent.
    pub linger_ms: u64,
}

/// What a [`replay`] did.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    /// Events produced (acknowledged by the broker).
    pub produced: u64,
    /// Rows the reader rejected (not produced).
    pub rejected: u64,
    /// Seconds from the first send to the last acknowledgement.
    pub seconds: f64,
}

/// Parses `60x`, `60`, `max`.
pub fn parse_speed(s: &str) -> Result<Option<f64>, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("max") {
        return Ok(None);
    }
    let n = t.strip_suffix(['x', 'X']).unwrap_or(t);
    match n.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(Some(v)),
        _ => Err(format!("speed {s:?}: expected e.g. `60x` or `max`")),
    }
}

/// Produces the events of `path` (any format the events crate reads) to the topic in
/// event-time order, keyed by session (or user), paced by `speed`.
pub fn replay(path: &Path, cfg: &ReplayConfig) -> Result<ReplayReport, StreamError> {
    let opts = shopsense_events::ReadOptions::default();
    let (_fmt, out) =
        shopsense_events::read_file_with(path, &shopsense_events::Source::format(None), &opts)
            .map_err(|e| StreamError::Events(format!("{}: {e}", path.display())))?;
    let mut table = out.table;
    table.sort_by_time();
    let n = cfg.limit.map_or(table.len(), |l| l.min(table.len()));
    ensure_topics(&cfg.brokers, &[&cfg.topic], 1)?;
    let producer = producer(&cfg.brokers, None, cfg.linger_ms)?;
    let start = Instant::now();
    let t0 = if n > 0 { table.event(0).time_ms } else { 0 };
    for i in 0..n {
        let e = table.event(i);
        if let Some(speed) = cfg.speed {
            let due = Duration::from_secs_f64(((e.time_ms - t0).max(0) as f64 / 1000.0) / speed);
            let el = start.elapsed();
            if due > el {
                std::thread::sleep(due - el);
            }
        }
        let key = e.session_id.clone().unwrap_or_else(|| e.user_id.clone());
        send(&producer, &cfg.topic, &key, event_json(&e).as_bytes(), 0)?;
    }
    producer.flush(Duration::from_secs(120))?;
    let ctx = producer.context();
    let failed = ctx.failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(StreamError::Kafka(format!(
            "{failed} of {n} events were not delivered"
        )));
    }
    Ok(ReplayReport {
        produced: ctx.delivered.load(Ordering::Relaxed),
        rejected: out.rejects.len() as u64,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Creates the topics that do not exist yet (`partitions` each); existing ones are kept.
pub fn ensure_topics(brokers: &str, topics: &[&str], partitions: i32) -> Result<(), StreamError> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions.max(1), TopicReplication::Fixed(1)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StreamError::Io(format!("runtime: {e}")))?;
    let res = rt.block_on(admin.create_topics(
        new.iter(),
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
    ))?;
    for r in res {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => return Err(StreamError::Kafka(format!("create topic {t}: {e}"))),
        }
    }
    Ok(())
}

/// Produces raw `(key, payload)` messages and waits until the broker has them all.
pub fn produce_raw(brokers: &str, topic: &str, msgs: &[(&str, &[u8])]) -> Result<(), StreamError> {
    let p = producer(brokers, None, OUT_LINGER_MS)?;
    for (k, v) in msgs {
        send(&p, topic, k, v, 0)?;
    }
    p.flush(Duration::from_secs(60))?;
    let failed = p.context().failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(StreamError::Kafka(format!(
            "{failed} messages not delivered"
        )));
    }
    Ok(())
}

/// Reads a topic from the beginning (a throw-away consumer group) until nothing new came
/// for `idle`; returns the payloads in (partition, offset) order.
pub fn read_topic(brokers: &str, topic: &str, idle: Duration) -> Result<Vec<Vec<u8>>, StreamError> {
    let group = format!("shopsense-read-{}-{}", std::process::id(), now_ms());
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    c.subscribe(&[topic])?;
    let mut out: Vec<(i32, i64, Vec<u8>)> = Vec::new();
    let mut last = Instant::now();
    while last.elapsed() < idle {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                out.push((
                    m.partition(),
                    m.offset(),
                    m.payload().unwrap_or(&[]).to_vec(),
                ));
                last = Instant::now();
            }
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
    }
    out.sort_by_key(|(p, o, _)| (*p, *o));
    Ok(out.into_iter().map(|(_, _, v)| v).collect())
}
