//! The real server on an ephemeral loopback port: status codes and JSON bodies.

mod common;

use common::*;
use serde_json::{json, Value};
use shopsense_features::build_features;
use shopsense_models::{LoadedBundle, Matrix};
use shopsense_serve::{BundleScorer, ServeConfig};
use std::sync::Arc;

fn field(v: &Value) -> &str {
    v["error"]["field"].as_str().unwrap_or("")
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// Events of the first `len` events (time order) of session `si`.
fn session_events(si: usize, len: usize) -> Vec<Value> {
    let f = fixture();
    f.s.events(si)[..len]
        .iter()
        .map(|&r| event_json(&f.t.event(r as usize)))
        .collect()
}

/// Sessions with at least `n` events.
fn sessions_with(n: usize, take: usize) -> Vec<usize> {
    let f = fixture();
    (0..f.s.len())
        .filter(|&i| f.s.events(i).len() >= n)
        .take(take)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_before_a_model_and_200_after() {
    let server = shopsense_serve::start(config()).await.unwrap();
    let a = server.addr();
    let (st, body) = get(a, "/readyz").await;
    assert_eq!(st, 503, "{body}");
    assert_eq!(get(a, "/healthz").await.0, 200);
    let ev = session_events(sessions_with(1, 1)[0], 1);
    let (st, v) = post_json(a, "/v1/intent", &json!({ "events": ev }), false).await;
    assert_eq!(st, 503);
    assert_eq!(code(&v), "model_not_loaded");
    // Reload without a configured bundle: 409.
    let (st, v) = post_json(a, "/v1/admin/reload", &json!({}), true).await;
    assert_eq!(st, 409, "{v}");

    let scorer = BundleScorer::load(&fixture().bundle_path).unwrap();
    server.install_scorer(Arc::new(scorer), None);
    let (st, body) = get(a, "/readyz").await;
    assert_eq!(st, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v["model_version"]
        .as_str()
        .unwrap()
        .starts_with("logistic-"));
    let (st, _) = post_json(a, "/v1/intent", &json!({ "events": ev }), false).await;
    assert_eq!(st, 200);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_needs_the_key_and_hot_swaps() {
    let server = start_ready(config()).await;
    let a = server.addr();
    let (st, v) = post_json(a, "/v1/admin/reload", &json!({}), false).await;
    assert_eq!(st, 401, "{v}");
    assert_eq!(code(&v), "unauthorized");
    let (st, v) = post_json(a, "/v1/admin/reload", &json!({}), true).await;
    assert_eq!(st, 200, "{v}");
    let (_, body) = get(a, "/readyz").await;
    let r: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(r["model_version"], v["model_version"]);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_batch_returns_a_score_per_session() {
    let server = start_ready(config()).await;
    let a = server.addr();
    let ids = sessions_with(3, 2);
    let mut events = session_events(ids[0], 2);
    events.extend(session_events(ids[1], 3));
    let (st, v) = post_json(a, "/v1/events", &json!({ "events": events }), true).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["accepted"], 5);
    let sessions = v["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["events"], 2);
    assert_eq!(sessions[1]["events"], 3);
    for s in sessions {
        let p = s["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p), "{p}");
        assert_eq!(s["decision"].as_bool().unwrap(), p >= 0.2);
        assert!(s["model_version"]
            .as_str()
            .unwrap()
            .starts_with("logistic-"));
    }
    // One more event of the first session, as a single object (REES46 names accepted too).
    let mut e = session_events(ids[0], 3)[2].clone();
    let m = e.as_object_mut().unwrap();
    let sid = m.remove("session_id").unwrap();
    m.insert("user_session".into(), sid.clone());
    let (st, v) = post_json(a, "/v1/events", &e, true).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["sessions"][0]["events"], 3);
    assert_eq!(v["sessions"][0]["session_id"], sid);
    server.shutdown().await.unwrap();
}

/// Offline (the feature matrix of training + the bundle) and online (the API) give the same
/// features and bit-identical scores for the same events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_scores_equal_offline_scores() {
    let f = fixture();
    let loaded = LoadedBundle::from_bundle(f.bundle.clone()).unwrap();
    let scorer = BundleScorer::load(&f.bundle_path).unwrap();
    // Late sessions of several lengths, every prefix.
    let mut ids: Vec<usize> = (0..f.s.len())
        .filter(|&i| f.s.events(i).len() >= 3)
        .collect();
    ids.reverse();
    ids.truncate(25);
    let mut all = Vec::new();
    for &si in &ids {
        for len in 1..=f.s.events(si).len().min(12) {
            all.push(prefix_of(&f.t, &f.s, si, len));
        }
    }
    let rows: Vec<usize> = (0..all.len()).collect();
    let m = build_features(&f.t, &f.s, &all, &rows, &f.enc, &f.spec, None).unwrap();
    let x = Matrix::new(m.data.clone(), m.n_rows, m.n_cols).unwrap();
    let offline = loaded.predict(x.view()).unwrap();

    // Features through the serving scorer: identical bits.
    use shopsense_serve::Scorer;
    for (k, p) in all.iter().enumerate() {
        let si = p.session as usize;
        let evs: Vec<_> = f.s.events(si)[..p.len as usize]
            .iter()
            .map(|&r| f.t.event(r as usize))
            .collect();
        let v = scorer.features(&evs, &f.hist[si]).unwrap();
        let a: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
        let b: Vec<u32> = m.row(k).iter().map(|x| x.to_bits()).collect();
        assert_eq!(a, b, "session {si}, {} events", p.len);
    }

    // Scores through HTTP: /v1/intent with the offline history.
    let server = start_ready(config()).await;
    let a = server.addr();
    for (k, p) in all.iter().enumerate() {
        let si = p.session as usize;
        let body = json!({
            "events": session_events(si, p.len as usize),
            "history": history_json(&f.hist[si]),
        });
        let (st, v) = post_json(a, "/v1/intent", &body, false).await;
        assert_eq!(st, 200, "{v}");
        let online = v["score"].as_f64().unwrap();
        assert_eq!(
            online.to_bits(),
            offline[k].to_bits(),
            "session {si}, {} events",
            p.len
        );
        assert_eq!(
            v["decision"].as_bool().unwrap(),
            offline[k] >= f.bundle.threshold
        );
        assert_eq!(v["events"], p.len);
    }
    // And through the online state, one event at a time, for sessions of first-time users.
    let mut k = 0;
    let mut compared = 0;
    for &si in &ids {
        let n = f.s.events(si).len().min(12);
        if f.hist[si] == Default::default() {
            for (len, e) in session_events(si, n).into_iter().enumerate() {
                let (st, v) = post_json(a, "/v1/events", &e, true).await;
                assert_eq!(st, 200, "{v}");
                let online = v["sessions"][0]["score"].as_f64().unwrap();
                assert_eq!(online.to_bits(), offline[k + len].to_bits(), "session {si}");
                compared += 1;
            }
        }
        k += n;
    }
    assert!(compared > 10, "{compared}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_4xx_naming_the_field() {
    let server = start_ready(config()).await;
    let a = server.addr();
    let good = session_events(sessions_with(1, 1)[0], 1).remove(0);

    let (st, v) = post_raw(a, "/v1/events", b"{\"events\": [", true).await;
    assert_eq!((st, code(&v)), (400, "invalid_json"), "{v}");

    let mut e = good.clone();
    e["price"] = json!("abc");
    let (st, v) = post_json(a, "/v1/events", &json!({ "events": [good, e] }), true).await;
    assert_eq!((st, field(&v)), (422, "events[1].price"), "{v}");

    let mut e = good.clone();
    e.as_object_mut().unwrap().remove("user_id");
    let (st, v) = post_json(a, "/v1/events", &json!({ "events": [e] }), true).await;
    assert_eq!((st, field(&v)), (422, "events[0].user_id"), "{v}");

    let mut e = good.clone();
    e.as_object_mut().unwrap().remove("item_id");
    let (st, v) = post_json(a, "/v1/events", &e, true).await;
    assert_eq!((st, field(&v)), (422, "item_id"), "{v}");

    let mut e = good.clone();
    e["colour"] = json!("red");
    let (st, v) = post_json(a, "/v1/intent", &json!({ "events": [e] }), false).await;
    assert_eq!((st, field(&v)), (422, "events[0].colour"), "{v}");

    let mut e = good.clone();
    e["price"] = json!(-3.0);
    let (st, v) = post_json(a, "/v1/intent", &json!({ "events": [e] }), false).await;
    assert_eq!((st, field(&v)), (422, "events[0].price"), "{v}");

    let mut e = good.clone();
    e["time"] = json!("yesterday");
    let (st, v) = post_json(a, "/v1/intent", &json!({ "events": [e] }), false).await;
    assert_eq!((st, field(&v)), (422, "events[0].time"), "{v}");

    let mut e = good.clone();
    e["user_id"] = json!("");
    let (st, v) = post_json(a, "/v1/intent", &json!({ "events": [e] }), false).await;
    assert_eq!((st, field(&v)), (422, "events[0].user_id"), "{v}");

    let (st, v) = post_json(a, "/v1/intent", &json!({ "events": [] }), false).await;
    assert_eq!((st, field(&v)), (422, "events"), "{v}");

    let (st, v) = post_json(a, "/v1/intent", &json!({}), false).await;
    assert_eq!((st, field(&v)), (422, "events"), "{v}");

    let (st, v) = post_json(a, "/v1/intent", &json!({ "events": 5 }), false).await;
    assert_eq!((st, field(&v)), (422, "events"), "{v}");

    let (st, v) = post_json(a, "/v1/next-action", &json!({ "user_id": [1] }), false).await;
    assert_eq!((st, field(&v)), (422, "user_id"), "{v}");

    let (st, body) = get(a, "/v1/items/42/similar?k=0").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((st, field(&v)), (422, "k"), "{v}");
    let (st, body) = get(a, "/v1/items/42/audience?k=abc").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((st, field(&v)), (422, "k"), "{v}");
    let (st, body) = get(a, "/v1/recommendations?k=3").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((st, field(&v)), (422, "user_id"), "{v}");

    let (st, body) = get(a, "/v2/nothing").await;
    assert_eq!(st, 404, "{body}");
    let (st, body) = get(a, "/v1/events").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((st, code(&v)), (405, "method_not_allowed"), "{v}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_large_bodies_and_batches_are_413() {
    let cfg = ServeConfig {
        body_limit_bytes: 4096,
        max_batch: 3,
        ..config()
    };
    let server = start_ready(cfg).await;
    let a = server.addr();
    let big = vec![b' '; 10_000];
    let (st, v) = post_raw(a, "/v1/events", &big, true).await;
    assert_eq!((st, code(&v)), (413, "body_too_large"), "{v}");
    let (st, v) = post_raw(a, "/v1/intent", &big, false).await;
    assert_eq!(st, 413, "{v}");
    let ev = session_events(sessions_with(4, 1)[0], 4);
    let (st, v) = post_json(a, "/v1/events", &json!({ "events": ev }), true).await;
    assert_eq!((st, code(&v)), (413, "batch_too_large"), "{v}");
    let (st, v) = post_json(a, "/v1/intent", &json!({ "events": ev }), false).await;
    assert_eq!((st, code(&v)), (413, "batch_too_large"), "{v}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_endpoints_need_the_api_key() {
    let server = start_ready(config()).await;
    let a = server.addr();
    let ev = session_events(sessions_with(1, 1)[0], 1);
    let body = serde_json::to_vec(&json!({ "events": ev })).unwrap();
    let (st, v) = post_raw(a, "/v1/events", &body, false).await;
    assert_eq!((st, code(&v)), (401, "unauthorized"), "{v}");
    let (st, _) = request(
        a,
        "POST",
        "/v1/events",
        &[("x-api-key", "wrong-key-123")],
        &body,
    )
    .await;
    assert_eq!(st, 401);
    let auth = format!("Bearer {KEY}");
    let (st, _) = request(a, "POST", "/v1/events", &[("authorization", &auth)], &body).await;
    assert_eq!(st, 200);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_get_a_cold_start_answer() {
    let server = start_ready(config()).await;
    let a = server.addr();
    let e = json!({
        "time": "2019-10-05 10:00:00 UTC", "kind": "view", "user_id": "never-seen-user",
        "session_id": "never-seen-session", "item_id": 999_999_999_999i64,
        "category_id": "no-such-category", "brand": "no-such-brand", "price": 12.5
    });
    let (st, v) = post_json(a, "/v1/intent", &json!({ "events": [e] }), false).await;
    assert_eq!(st, 200, "{v}");
    assert!(v["score"].as_f64().unwrap().is_finite());
    let (st, v) = post_json(a, "/v1/events", &e, true).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["sessions"][0]["events"], 1);
    assert_eq!(v["sessions"][0]["session_id"], "never-seen-session");
    // Endpoints whose models are not configured on this server: a JSON 503, never a 500.
    for path in [
        "/v1/recommendations?user_id=never-seen-user&k=5",
        "/v1/items/never-seen-item/similar?k=5",
        "/v1/items/never-seen-item/audience",
    ] {
        let (st, body) = get(a, path).await;
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!((st, code(&v)), (503, "model_not_loaded"), "{path}: {v}");
    }
    let (st, v) = post_json(
        a,
        "/v1/next-action",
        &json!({ "user_id": "u", "item_id": 5 }),
        false,
    )
    .await;
    assert_eq!((st, code(&v)), (503, "model_not_loaded"), "{v}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_expose_the_documented_names() {
    let server = start_ready(config()).await;
    let a = server.addr();
    let ev = session_events(sessions_with(2, 1)[0], 2);
    let (st, _) = post_json(a, "/v1/events", &json!({ "events": ev }), true).await;
    assert_eq!(st, 200);
    let (st, _) = post_json(a, "/v1/intent", &json!({ "events": ev }), false).await;
    assert_eq!(st, 200);
    let _ = post_raw(a, "/v1/intent", b"nope", false).await;
    let (st, text) = get(a, "/metrics").await;
    assert_eq!(st, 200);
    for name in [
        "shopsense_http_requests_total{",
        "route=\"/v1/intent\"",
        "status=\"400\"",
        "shopsense_http_request_duration_seconds_bucket{",
        "shopsense_model_info{version=\"logistic-",
        "shopsense_model_loaded 1",
        "shopsense_model_reloads_total{result=\"ok\"} 1",
        "shopsense_intent_score_bucket{",
        "shopsense_events_ingested_total 2",
        "shopsense_online_sessions 1",
        "shopsense_online_events 2",
        "shopsense_feature_psi{feature=",
        "shopsense_score_psi ",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_documents_every_route() {
    let server = shopsense_serve::start(config()).await.unwrap();
    let (st, body) = get(server.addr(), "/openapi.json").await;
    assert_eq!(st, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    for p in [
        "/v1/events",
        "/v1/intent",
        "/v1/next-action",
        "/v1/recommendations",
        "/v1/items/{id}/similar",
        "/v1/items/{id}/audience",
        "/v1/admin/reload",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(v["paths"][p].is_object(), "{p} missing");
    }
    assert!(v["paths"]["/v1/recommendations"]["get"]["responses"]["503"].is_object());
    assert!(v["components"]["schemas"]["ErrorBody"].is_object());
    assert_eq!(
        v["components"]["securitySchemes"]["api_key"]["name"],
        "x-api-key"
    );
    assert!(v["paths"]["/v1/events"]["post"]["security"].is_array());
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_is_snapshotted_on_shutdown_and_restored_on_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let cfg = ServeConfig {
        state_path: Some(path.clone()),
        ..config()
    };
    let si = sessions_with(3, 1)[0];
    let ev = session_events(si, 3);
    let server = start_ready(cfg.clone()).await;
    let (st, v) = post_json(
        a_of(&server),
        "/v1/events",
        &json!({ "events": ev[..2] }),
        true,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    server.shutdown().await.unwrap();
    assert!(path.exists());

    let server = start_ready(cfg).await;
    let (_, text) = get(server.addr(), "/metrics").await;
    assert!(text.contains("shopsense_online_sessions 1"), "{text}");
    let (st, v) = post_json(server.addr(), "/v1/events", &ev[2], true).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["sessions"][0]["events"], 3);
    // Same score as the whole prefix scored at once.
    let (_, w) = post_json(server.addr(), "/v1/intent", &json!({ "events": ev }), false).await;
    assert_eq!(v["sessions"][0]["score"], w["score"]);
    server.shutdown().await.unwrap();
}

fn a_of(s: &shopsense_serve::Server) -> std::net::SocketAddr {
    s.addr()
}

/// Shutdown waits for a request in flight (its body still arriving) and answers it, then
/// writes the state snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_requests_in_flight() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let cfg = ServeConfig {
        state_path: Some(path.clone()),
        ..config()
    };
    let server = start_ready(cfg).await;
    let a = server.addr();
    let ev = session_events(sessions_with(2, 1)[0], 2);
    let body = serde_json::to_vec(&json!({ "events": ev })).unwrap();
    let mut c = tokio::net::TcpStream::connect(a).await.unwrap();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nhost: x\r\nx-api-key: {KEY}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).await.unwrap();
    c.write_all(&body[..10]).await.unwrap();
    c.flush().await.unwrap();
    // Let the server read the head before shutting down.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let stopping = tokio::spawn(server.shutdown());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !stopping.is_finished(),
        "shutdown did not wait for the request"
    );
    c.write_all(&body[10..]).await.unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    stopping.await.unwrap().unwrap();
    let snap = std::fs::read_to_string(&path).unwrap();
    assert!(snap.contains("\"sessions\""), "{snap}");
}

/// Returning users: sessions posted to the online state in order of start get the same user
/// history as offline (earlier live sessions count), hence the offline score.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returning_users_score_as_offline() {
    let f = fixture();
    let loaded = LoadedBundle::from_bundle(f.bundle.clone()).unwrap();
    let start = |i: usize| f.t.time_ms[f.s.events(i)[0] as usize];
    let mut by_user: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
    for i in 0..f.s.len() {
        by_user.entry(f.s.user[i]).or_default().push(i);
    }
    let users: Vec<Vec<usize>> = by_user
        .into_values()
        .filter(|v| v.len() >= 2 && v.iter().all(|&i| f.s.events(i).len() <= 200))
        .map(|mut v| {
            v.sort_by_key(|&i| (start(i), i));
            v
        })
        .take(15)
        .collect();
    assert!(users.len() >= 10, "{}", users.len());
    let server = start_ready(config()).await;
    let a = server.addr();
    let mut returning = 0;
    for sessions in &users {
        for &si in sessions {
            let n = f.s.events(si).len();
            let p = prefix_of(&f.t, &f.s, si, n);
            let m = build_features(&f.t, &f.s, &[p], &[0], &f.enc, &f.spec, None).unwrap();
            let x = Matrix::new(m.data.clone(), 1, m.n_cols).unwrap();
            let offline = loaded.predict(x.view()).unwrap()[0];
            let body = json!({ "events": session_events(si, n) });
            let (st, v) = post_json(a, "/v1/events", &body, true).await;
            assert_eq!(st, 200, "{v}");
            let online = v["sessions"][0]["score"].as_f64().unwrap();
            assert_eq!(online.to_bits(), offline.to_bits(), "session {si}");
            if f.hist[si].sessions > 0 {
                returning += 1;
            }
        }
    }
    assert!(returning >= 10, "{returning}");
    server.shutdown().await.unwrap();
}

/// A body larger than the limit sent without a length (chunked) is 413 too; a request whose
/// body stalls is answered 503 `timeout` after the request timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_overflow_is_413_and_stalled_requests_time_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cfg = ServeConfig {
        body_limit_bytes: 1024,
        request_timeout: std::time::Duration::from_millis(300),
        ..config()
    };
    let server = start_ready(cfg).await;
    let a = server.addr();

    let mut c = tokio::net::TcpStream::connect(a).await.unwrap();
    let mut req = b"POST /v1/intent HTTP/1.1\r\nhost: x\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        req.extend_from_slice(b"200\r\n");
        req.extend_from_slice(&[b' '; 0x200]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    c.write_all(&req).await.unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("body_too_large"), "{text}");

    let mut c = tokio::net::TcpStream::connect(a).await.unwrap();
    c.write_all(b"POST /v1/intent HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 100\r\n\r\n{\"ev")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("\"timeout\""), "{text}");
    server.shutdown().await.unwrap();
}
