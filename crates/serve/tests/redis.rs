//! Two replicas sharing one real Redis (`--state redis://…`): events of one session split
//! between them score exactly as offline and as all events sent to one replica; re-sent events
//! are appended once; the online-state size metric counts the shared sessions.
//!
//! Needs `SHOPSENSE_REDIS_URL` (scripts/services/redis.sh starts a server and exports it).

mod common;

use common::*;
use serde_json::Value;
use shopsense_features::{build_features, Prefix};
use shopsense_models::{LoadedBundle, Matrix};
use shopsense_serve::{ServeConfig, Server};
use std::collections::HashSet;

fn redis_url() -> Option<String> {
    match std::env::var("SHOPSENSE_REDIS_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("SHOPSENSE_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("SHOPSENSE_REDIS_URL is not set (scripts/services/redis.sh starts Redis)");
            }
            eprintln!(
                "skipping: SHOPSENSE_REDIS_URL is not set (source scripts/services/redis.sh)"
            );
            None
        }
    }
}

async fn replica(url: &str, prefix: &str) -> Server {
    start_ready(ServeConfig {
        redis_url: Some(url.to_string()),
        redis_prefix: prefix.to_string(),
        ..config()
    })
    .await
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_sessions_through_redis() {
    let Some(url) = redis_url() else { return };
    let f = fixture();
    // Sessions of first-time users with 4..=12 distinct events (exact duplicates would be
    // appended once by design).
    let ids: Vec<usize> = (0..f.s.len())
        .filter(|&i| {
            let ev = f.s.events(i);
            let distinct: HashSet<String> = ev
                .iter()
                .map(|&r| event_json(&f.t.event(r as usize)).to_string())
                .collect();
            (4..=12).contains(&ev.len())
                && distinct.len() == ev.len()
                && f.hist[i] == Default::default()
        })
        .take(6)
        .collect();
    assert_eq!(ids.len(), 6);
    let prefixes: Vec<Prefix> = ids
        .iter()
        .flat_map(|&si| (1..=f.s.events(si).len()).map(move |len| (si, len)))
        .map(|(si, len)| prefix_of(&f.t, &f.s, si, len))
        .collect();
    let rows: Vec<usize> = (0..prefixes.len()).collect();
    let m = build_features(&f.t, &f.s, &prefixes, &rows, &f.enc, &f.spec, None).unwrap();
    let offline = LoadedBundle::from_bundle(f.bundle.clone())
        .unwrap()
        .predict(
            Matrix::new(m.data.clone(), m.n_rows, m.n_cols)
                .unwrap()
                .view(),
        )
        .unwrap();

    let tag = format!(
        "t{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let r1 = replica(&url, &format!("{tag}-shared")).await;
    let r2 = replica(&url, &format!("{tag}-shared")).await;
    let single = replica(&url, &format!("{tag}-single")).await;
    let (a1, a2, a3) = (r1.addr(), r2.addr(), single.addr());

    let mut k = 0;
    let mut total_events = 0;
    for &si in &ids {
        let evs: Vec<Value> =
            f.s.events(si)
                .iter()
                .map(|&r| event_json(&f.t.event(r as usize)))
                .collect();
        for (i, e) in evs.iter().enumerate() {
            // Alternate replicas: event i goes to replica i % 2.
            let to = if i.is_multiple_of(2) { a1 } else { a2 };
            let (st, v) = post_json(to, "/v1/events", e, true).await;
            assert_eq!(st, 200, "{v}");
            let split = &v["sessions"][0];
            assert_eq!(split["events"], i + 1, "{v}");
            let (st, w) = post_json(a3, "/v1/events", e, true).await;
            assert_eq!(st, 200, "{w}");
            let one = &w["sessions"][0];
            let (s_split, s_one) = (
                split["score"].as_f64().unwrap(),
                one["score"].as_f64().unwrap(),
            );
            assert_eq!(
                s_split.to_bits(),
                s_one.to_bits(),
                "session {si}, event {i}"
            );
            assert_eq!(
                s_split.to_bits(),
                offline[k + i].to_bits(),
                "session {si}, event {i}"
            );
            assert_eq!(split["decision"], one["decision"]);
            assert_eq!(split["model_version"], one["model_version"]);
        }
        // The last event again, through the other replica: appended once, same score.
        let last = evs.last().unwrap();
        let to = if evs.len().is_multiple_of(2) { a1 } else { a2 };
        let (st, v) = post_json(to, "/v1/events", last, true).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["sessions"][0]["events"], evs.len(), "{v}");
        assert_eq!(
            v["sessions"][0]["score"].as_f64().unwrap().to_bits(),
            offline[k + evs.len() - 1].to_bits()
        );
        k += evs.len();
        total_events += evs.len();
    }

    // Both replicas see the whole shared state.
    for a in [a1, a2] {
        let (st, text) = get(a, "/metrics").await;
        assert_eq!(st, 200);
        assert_eq!(
            metric(&text, "shopsense_online_sessions"),
            Some(ids.len() as f64),
            "{text}"
        );
        assert_eq!(
            metric(&text, "shopsense_online_events"),
            Some(total_events as f64),
            "{text}"
        );
    }
    let (_, text) = get(a3, "/metrics").await;
    assert_eq!(
        metric(&text, "shopsense_online_sessions"),
        Some(ids.len() as f64)
    );
    for s in [r1, r2, single] {
        s.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_in_redis_and_fold_into_the_user_history() {
    let Some(url) = redis_url() else { return };
    let f = fixture();
    let tag = format!("e{}-{}", std::process::id(), shopsense_serve_now());
    let server = start_ready(ServeConfig {
        redis_url: Some(url.clone()),
        redis_prefix: tag,
        session_ttl: std::time::Duration::from_millis(300),
        ..config()
    })
    .await;
    let a = server.addr();
    let si = (0..f.s.len()).find(|&i| f.s.events(i).len() >= 3).unwrap();
    let mut e0 = event_json(&f.t.event(f.s.events(si)[0] as usize));
    e0["session_id"] = "first".into();
    e0["user_id"] = "redis-ttl-user".into();
    let (st, v) = post_json(a, "/v1/events", &e0, true).await;
    assert_eq!(st, 200, "{v}");
    let (_, text) = get(a, "/metrics").await;
    assert_eq!(
        metric(&text, "shopsense_online_sessions"),
        Some(1.0),
        "{text}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    let (_, text) = get(a, "/metrics").await;
    assert_eq!(
        metric(&text, "shopsense_online_sessions"),
        Some(0.0),
        "{text}"
    );
    // The next session of the user carries the expired one in its history: the score
    // equals /v1/intent with that history.
    let mut e1 = e0.clone();
    e1["session_id"] = "second".into();
    e1["time"] = (e0["time"].as_i64().unwrap() + 3_600_000).into();
    let (st, v) = post_json(a, "/v1/events", &e1, true).await;
    assert_eq!(st, 200, "{v}");
    let kind = e0["kind"].as_str().unwrap();
    let history = serde_json::json!({
        "sessions": 1, "events": 1,
        "carts": u32::from(kind == "cart"), "purchases": u32::from(kind == "purchase"),
        "purchase_sessions": u32::from(kind == "purchase"),
        "last_event_ms": e0["time"],
    });
    let (st, w) = post_json(
        a,
        "/v1/intent",
        &serde_json::json!({"events": [e1], "history": history}),
        false,
    )
    .await;
    assert_eq!(st, 200, "{w}");
    assert_eq!(v["sessions"][0]["score"], w["score"], "{v} {w}");
    let (_, cold) = post_json(a, "/v1/intent", &serde_json::json!({"events": [e1]}), false).await;
    assert_ne!(
        v["sessions"][0]["score"], cold["score"],
        "history made no difference"
    );
    server.shutdown().await.unwrap();
}

fn shopsense_serve_now() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
