//! `shopsense replay` and `shopsense stream` end to end against a real Kafka-protocol broker
//! (Tansu, started by scripts/services/kafka.sh which exports SHOPSENSE_KAFKA_BROKERS): the
//! Taobao sample is replayed, scored and published; malformed messages reach the dead-letter
//! topic; a consumer killed with SIGKILL mid-run and restarted ends with exactly the state of
//! an uninterrupted consumer (no loss, no double count); the dashboard fills in headless
//! Chromium and /metrics counts every event.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn brokers() -> Option<String> {
    match std::env::var("SHOPSENSE_KAFKA_BROKERS") {
        Ok(b) if !b.is_empty() => Some(b),
        _ => {
            assert!(
                std::env::var("SHOPSENSE_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "SHOPSENSE_KAFKA_BROKERS is not set (scripts/services/kafka.sh starts the broker)"
            );
            eprintln!(
                "skipped: SHOPSENSE_KAFKA_BROKERS not set (source scripts/services/kafka.sh)"
            );
            None
        }
    }
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shopsense"));
    c.env("SHOPSENSE_LOG", "warn");
    c
}

fn taobao() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/taobao/UserBehavior_head.csv")
}

fn ok(c: &mut Command) -> Output {
    let out = c.output().expect("run shopsense");
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ok_json(c: &mut Command) -> serde_json::Value {
    serde_json::from_slice(&ok(c).stdout).expect("JSON on stdout")
}

fn unique(name: &str) -> String {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{name}-{}-{ns}", std::process::id())
}

/// A quick logistic intent bundle trained on the Taobao sample.
fn bundle(dir: &Path) -> PathBuf {
    let b = dir.join("taobao.bundle");
    ok(bin()
        .args(["--quiet", "train", "intent"])
        .arg(taobao())
        .args([
            "--protocol",
            "full",
            "--model",
            "logistic",
            "--bootstrap",
            "0",
        ])
        .arg("--out")
        .arg(&b));
    b
}

fn stream_cmd(brokers: &str, topic: &str, group: &str, bundle: &Path, state: &Path) -> Command {
    let mut c = bin();
    c.args(["stream", "--brokers", brokers, "--topic", topic])
        .args(["--out-topic", &format!("{topic}-scores")])
        .args(["--dlq-topic", &format!("{topic}-dlq")])
        .args(["--group", group, "--checkpoint-every", "5000"])
        .args(["--checkpoint-ms", "200"])
        .arg("--bundle")
        .arg(bundle)
        .arg("--state-dir")
        .arg(state);
    c
}

#[test]
fn replay_stream_kill_restart_and_dead_letters() {
    let Some(brokers) = brokers() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = bundle(dir.path());
    let topic = unique("events");
    let r = ok_json(bin().args(["replay"]).arg(taobao()).args([
        "--brokers",
        &brokers,
        "--topic",
        &topic,
        "--speed",
        "max",
    ]));
    let produced = r["produced"].as_u64().expect("produced");
    let rejected = r["rejected_rows"].as_u64().expect("rejected_rows");
    // The sample has 84,475 rows, all valid.
    assert_eq!(produced + rejected, 84_475, "{r}");
    assert_eq!(rejected, 0, "{r}");
    // Three malformed messages after the log.
    let bad: [&[u8]; 3] = [
        b"not json",
        br#"{"time": 1511544070000, "kind": "pv", "user_id": "1"}"#,
        br#"{"time": 1511544070000, "kind": "", "user_id": "1", "item_id": "2"}"#,
    ];
    let msgs: Vec<(&str, &[u8])> = bad.iter().map(|b| ("bad", *b)).collect();
    shopsense_stream::kafka::produce_raw(&brokers, &topic, &msgs).expect("produce bad");

    // Reference: one uninterrupted consumer.
    let ref_state = dir.path().join("ref-state");
    let reference = ok_json(
        // Scores go to `{topic}-scores`, read below before the second consumer starts.
        stream_cmd(&brokers, &topic, &unique("ref"), &bundle, &ref_state)
            .args(["--idle-exit-secs", "3"]),
    );
    assert_eq!(
        reference["events_total"].as_u64(),
        Some(produced),
        "{reference}"
    );
    assert_eq!(
        reference["dead_letters_total"].as_u64(),
        Some(3),
        "{reference}"
    );
    assert_eq!(reference["duplicates_skipped_total"].as_u64(), Some(0));
    assert!(
        reference["sessions_converted"].as_u64().unwrap_or(0) > 0,
        "{reference}"
    );

    let scores = shopsense_stream::kafka::read_topic(
        &brokers,
        &format!("{topic}-scores"),
        Duration::from_secs(3),
    )
    .expect("read scores");
    assert_eq!(scores.len() as u64, produced);
    let first: serde_json::Value = serde_json::from_slice(&scores[0]).expect("score JSON");
    for k in [
        "session_id",
        "score",
        "decision",
        "model_version",
        "event_time_ms",
        "processing_time_ms",
    ] {
        assert!(first.get(k).is_some(), "{k} missing in {first}");
    }
    let dlq = shopsense_stream::kafka::read_topic(
        &brokers,
        &format!("{topic}-dlq"),
        Duration::from_secs(2),
    )
    .expect("read dlq");
    assert_eq!(dlq.len(), 3);
    let reasons: Vec<String> = dlq
        .iter()
        .map(|d| {
            let v: serde_json::Value = serde_json::from_slice(d).expect("dlq JSON");
            v["reason"].as_str().unwrap_or("").to_string()
        })
        .collect();
    assert!(reasons[0].contains("invalid JSON"), "{reasons:?}");
    assert!(reasons[2].contains("kind"), "{reasons:?}");

    // Killed mid-run (SIGKILL once a checkpoint exists), then restarted.
    let state = dir.path().join("state");
    let group = unique("killed");
    let mut child = stream_cmd(&brokers, &topic, &group, &bundle, &state)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn stream");
    let t0 = Instant::now();
    while !state.join("CURRENT").exists() && t0.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
    child.kill().expect("kill -9");
    let _ = child.wait();
    let restarted = ok_json(
        stream_cmd(&brokers, &topic, &group, &bundle, &state).args(["--idle-exit-secs", "3"]),
    );
    for k in [
        "events_total",
        "by_kind",
        "dead_letters_total",
        "sessions_converted",
        "sessions_timed_out",
    ] {
        assert_eq!(
            restarted[k], reference[k],
            "{k}: {restarted} vs {reference}"
        );
    }
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(s, "GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n").expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|c| {
            let out = Command::new("which").arg(c).output().ok()?;
            out.status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        })
}

#[test]
fn dashboard_fills_from_a_real_replay_in_headless_chromium() {
    let Some(brokers) = brokers() else { return };
    let Some(chrome) = chromium() else {
        assert!(
            std::env::var("SHOPSENSE_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "chromium is not installed (scripts/services/kafka.sh installs it)"
        );
        eprintln!("skipped: no chromium");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = bundle(dir.path());
    let topic = unique("dash");
    let addr = free_addr();
    let mut child = stream_cmd(
        &brokers,
        &topic,
        &unique("dash"),
        &bundle,
        &dir.path().join("s"),
    )
    .args(["--metrics-addr", &addr])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn stream");
    let r = ok_json(bin().args(["replay"]).arg(taobao()).args([
        "--brokers",
        &brokers,
        "--topic",
        &topic,
        "--speed",
        "max",
    ]));
    let produced = r["produced"].as_u64().expect("produced");
    // Wait until the stream has scored everything (its metrics say so).
    let t0 = Instant::now();
    let want = format!("shopsense_stream_events_total {produced}\n");
    let mut metrics = String::new();
    while t0.elapsed() < Duration::from_secs(180) {
        metrics = http_get(&addr, "/metrics");
        if metrics.contains(&want) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(metrics.contains(&want), "{metrics}");
    assert!(metrics.starts_with("HTTP/1.1 200 OK"));
    assert!(metrics.contains("shopsense_stream_end_to_end_latency_seconds_bucket"));
    // The page in a real browser: loads, subscribes to /events, draws.
    let profile = tempfile::tempdir().expect("profile");
    let shot = dir.path().join("dashboard.png");
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        // Not --virtual-time-budget: virtual time never runs out while the page's
        // server-sent-events connection stays open. --timeout stops loading after 6 s of
        // real time and dumps / shoots what the page drew by then.
        "--timeout=6000",
    ];
    let url = format!("http://{addr}/");
    let dom = Command::new(&chrome)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&dom.stdout).to_string();
    assert!(dom.contains("shopsense stream"), "{dom}");
    assert!(
        dom.contains(&format!("data-events=\"{produced}\"")),
        "the page shows every event: {dom}"
    );
    assert!(dom.contains("<tr><td>"), "top items filled: {dom}");
    let profile2 = tempfile::tempdir().expect("profile");
    let out = Command::new(&chrome)
        .args(common)
        .arg(format!("--user-data-dir={}", profile2.path().display()))
        .arg("--window-size=1000,900")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{}",
        png.len()
    );
    // Kept for a look: target/…/stream-dashboard.png next to the test binary's temp dir.
    let keep = std::env::temp_dir().join("shopsense-stream-dashboard.png");
    let _ = std::fs::copy(&shot, &keep);
    eprintln!("dashboard screenshot: {}", keep.display());
    let _ = child.kill();
    let _ = child.wait();
}

/// The delivery contract without a broker: a processor that checkpointed at offset k1, went
/// on to k2 and died, restored and was re-sent everything from an older committed offset k0
/// (a crash between checkpoint and commit) ends with exactly the counters and the scores of
/// an uninterrupted run.
#[test]
fn processor_restart_from_checkpoint_is_exact() {
    use shopsense_stream::{Outcome, Processor, ProcessorConfig};
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = bundle(dir.path());
    let scorer = shopsense_stream::load_scorer(Some(&bundle), None).expect("scorer");
    let (_, out) = shopsense_events::read_file_with(
        &taobao(),
        &shopsense_events::Source::format(None),
        &shopsense_events::ReadOptions::default(),
    )
    .expect("read taobao");
    let mut table = out.table;
    table.sort_by_time();
    let mut msgs: Vec<Vec<u8>> = (0..table.len())
        .map(|i| shopsense_stream::processor::event_json(&table.event(i)).into_bytes())
        .collect();
    msgs.insert(40_000, b"{broken".to_vec());
    let n = msgs.len() as i64;
    let run = |p: &mut Processor, from: i64, to: i64| -> Vec<Outcome> {
        (from..to)
            .map(|o| p.process(0, o, &msgs[o as usize], 0))
            .collect()
    };
    let cfg = ProcessorConfig::default();
    let mut reference = Processor::new(scorer.clone(), cfg);
    let ref_out = run(&mut reference, 0, n);
    assert_eq!(reference.counts().events, table.len() as u64);
    assert_eq!(reference.counts().dead, 1);
    assert!(
        reference.counts().converted > 100,
        "{:?}",
        reference.counts()
    );
    assert!(
        reference.counts().timed_out > 1000,
        "{:?}",
        reference.counts()
    );
    let [online, batch] = reference.quality();
    assert!(online.0.is_some() && batch.0.is_some());

    let (k0, k1, k2) = (20_000, 30_000, 50_000);
    let ckpt = dir.path().join("ckpt");
    let mut first = Processor::new(scorer.clone(), cfg);
    // Three generations: a full one, then two holding only the users changed since the
    // previous one; the restore reads the chain.
    run(&mut first, 0, 10_000);
    first.checkpoint(&ckpt, 1).expect("checkpoint 1");
    run(&mut first, 10_000, 20_000);
    first.checkpoint(&ckpt, 2).expect("checkpoint 2");
    run(&mut first, 20_000, k1);
    first.checkpoint(&ckpt, 3).expect("checkpoint 3");
    let users = |g: u32| -> usize {
        let p = ckpt.join(format!("gen-{g:012}")).join("sessions.json");
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&p).expect("sessions.json")).expect("json");
        v["users"].as_object().expect("users").len()
    };
    let (u1, u2, u3) = (users(1), users(2), users(3));
    assert!(u1 > 100 && u2 > 0 && u3 > 0, "{u1} {u2} {u3}");
    // Generation 3 holds fewer users than all seen so far (it is incremental).
    assert!(u3 < u1 + u2, "{u1} {u2} {u3}");
    run(&mut first, k1, k2);
    drop(first); // killed: the work after the checkpoint is lost
    let mut second = Processor::new(scorer.clone(), cfg);
    assert_eq!(second.restore(&ckpt).expect("restore"), Some(3));
    assert_eq!(second.applied().get(&0), Some(&k1));
    let again = run(&mut second, k0, n);
    let dups = again
        .iter()
        .filter(|o| matches!(o, Outcome::Duplicate))
        .count();
    assert_eq!(dups as i64, k1 - k0);
    let mut c = second.counts().clone();
    assert_eq!(c.duplicates as i64, k1 - k0);
    c.duplicates = 0;
    assert_eq!(&c, reference.counts());
    // The same scores after the restart as without it.
    for (a, b) in again[(k1 - k0) as usize..]
        .iter()
        .zip(&ref_out[k1 as usize..])
    {
        assert_eq!(a, b);
    }
    assert_eq!(second.quality(), reference.quality());
    // A chain with a generation missing is refused, not restored with users lost.
    std::fs::remove_dir_all(ckpt.join(format!("gen-{:012}", 2))).expect("remove gen 2");
    let mut third = Processor::new(scorer, cfg);
    let e = third.restore(&ckpt).expect_err("gap in the chain");
    assert!(e.to_string().contains("gen-000000000002"), "{e}");
}

/// The stream keeps each live session's features incrementally (one push per event); they
/// must equal a rebuild from all the session's events on every event. A scorer without the
/// incremental state (the rebuild path) gives exactly the same outcomes on the Taobao sample.
#[test]
fn incremental_features_equal_a_rebuild_on_every_event() {
    use shopsense_events::Event;
    use shopsense_features::UserHistory;
    use shopsense_serve::{Score, Scorer};
    use shopsense_stream::{Processor, ProcessorConfig};
    use std::sync::Arc;

    /// Delegates everything but the incremental state.
    struct Rebuild(Arc<dyn Scorer>);
    impl Scorer for Rebuild {
        fn version(&self) -> &str {
            self.0.version()
        }
        fn threshold(&self) -> f64 {
            self.0.threshold()
        }
        fn feature_names(&self) -> &[String] {
            self.0.feature_names()
        }
        fn features(&self, events: &[Event], history: &UserHistory) -> Result<Vec<f32>, String> {
            self.0.features(events, history)
        }
        fn score_features(&self, x: &[f32]) -> Result<Score, String> {
            self.0.score_features(x)
        }
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = bundle(dir.path());
    let scorer = shopsense_stream::load_scorer(Some(&bundle), None).expect("scorer");
    assert!(scorer.live_session(&UserHistory::default()).is_some());
    let (_, out) = shopsense_events::read_file_with(
        &taobao(),
        &shopsense_events::Source::format(None),
        &shopsense_events::ReadOptions::default(),
    )
    .expect("read taobao");
    let mut table = out.table;
    table.sort_by_time();
    // A short timeout exercises sessions the store closes and re-creates (where the cached
    // state is out of step and must be rebuilt).
    let cfg = ProcessorConfig {
        session_timeout_ms: 10 * 60 * 1000,
        ..ProcessorConfig::default()
    };
    let mut fast = Processor::new(scorer.clone(), cfg);
    let mut slow = Processor::new(Arc::new(Rebuild(scorer)), cfg);
    for i in 0..table.len() {
        let msg = shopsense_stream::processor::event_json(&table.event(i));
        let a = fast.process(0, i as i64, msg.as_bytes(), 0);
        let b = slow.process(0, i as i64, msg.as_bytes(), 0);
        assert_eq!(a, b, "event {i}");
    }
    assert_eq!(fast.counts(), slow.counts());
    assert_eq!(fast.counts().events, 84_475);
    assert_eq!(fast.quality(), slow.quality());
}
