//! `train recs`, `recommend`, `similar`, `audience` end to end on the REES46 sample.

use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shopsense"));
    c.arg("--quiet");
    c
}

fn data(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(p)
}

fn json(c: &mut Command) -> serde_json::Value {
    let out = c.output().expect("run shopsense");
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn train_recommend_similar_audience() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("recs.json");
    let report = dir.path().join("recs.html");
    let v = json(
        bin()
            .args(["train", "recs"])
            .arg(data("rees46/2019-Oct_head.csv"))
            .arg("--out")
            .arg(&bundle)
            .arg("--report")
            .arg(&report)
            .args(["--eval-queries", "2000", "--json"]),
    );
    assert_eq!(v["events"], 17_434);
    assert_eq!(v["sessions"], 5_066);
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<svg") && html.contains("NDCG@20"));
    let tasks = v["evaluation"]["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);

    // A cold user gets the popularity list.
    let r = json(
        bin()
            .arg("recommend")
            .arg(&bundle)
            .args(["--user", "nobody", "-k", "5", "--json"]),
    );
    assert_eq!(r["cold_start"], true);
    assert_eq!(r["items"].as_array().unwrap().len(), 5);
    let top = r["items"][0]["id"].as_str().unwrap().to_string();

    let s = json(
        bin()
            .arg("similar")
            .arg(&bundle)
            .args(["--item", &top, "-k", "5", "--json"]),
    );
    assert!(!s["similar"].as_array().unwrap().is_empty());
    let a = json(
        bin()
            .arg("audience")
            .arg(&bundle)
            .args(["--item", &top, "-k", "5", "--json"]),
    );
    assert!(!a["audience"].as_array().unwrap().is_empty());

    // An unknown item: exit 1 with a clear message, no panic.
    let out = bin()
        .arg("similar")
        .arg(&bundle)
        .args(["--item", "no-such-item"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown item `no-such-item`") && !err.contains("panicked"),
        "{err}"
    );
}

/// One HTTP/1.1 request; (status, body).
fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut c) = std::net::TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    if c.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut buf = String::new();
    let _ = c.read_to_string(&mut buf);
    let (head, rest) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, rest.to_string())
}

fn get_json(addr: &str, path: &str) -> (u16, serde_json::Value) {
    let (st, body) = http(addr, "GET", path, "");
    (
        st,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")),
    )
}

struct Killer(std::process::Child);
impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `serve --recs-bundle --next-action-bundle`: the recommendation, similar-items, audience
/// and next-action endpoints answer from real bundles, use the live session posted through
/// `/v1/events`, and answer unknown ids without errors.
#[test]
fn serve_answers_recommendations_similar_audience_and_next_action() {
    let dir = tempfile::tempdir().unwrap();
    let events = data("rees46/2019-Oct_head.csv");
    let (intent, recs, na) = (
        dir.path().join("intent.bundle"),
        dir.path().join("recs.json"),
        dir.path().join("na.json"),
    );
    json(
        bin()
            .args(["train", "intent"])
            .arg(&events)
            .args(["--model", "logistic", "--json", "--out"])
            .arg(&intent),
    );
    json(
        bin()
            .args(["train", "recs"])
            .arg(&events)
            .args(["--no-eval", "--json", "--out"])
            .arg(&recs),
    );
    let na_report = dir.path().join("na.html");
    let r = json(
        bin()
            .args(["train", "next-action"])
            .arg(&events)
            .args(["--json", "--out"])
            .arg(&na)
            .arg("--report")
            .arg(&na_report),
    );
    // The HTML report: the model against both baselines, charts and the confusion matrix.
    let html = std::fs::read_to_string(&na_report).unwrap();
    for needle in [
        "seed-style (reference inputs)",
        "majority class",
        "Confusion matrix",
        "<svg",
        "Test F1 per class",
    ] {
        assert!(html.contains(needle), "{needle} missing from the report");
    }
    assert_eq!(
        html.matches("<svg").count(),
        3,
        "macro-F1, per-class F1 and importance charts"
    );
    let classes: Vec<String> = r["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    // A known item: the top of the popularity list.
    let cold = json(
        bin()
            .arg("recommend")
            .arg(&recs)
            .args(["--user", "nobody", "-k", "3", "--json"]),
    );
    let item = cold["items"][0]["id"].as_str().unwrap().to_string();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_shopsense"))
        .arg("serve")
        .arg("--bundle")
        .arg(&intent)
        .arg("--recs-bundle")
        .arg(&recs)
        .arg("--next-action-bundle")
        .arg(&na)
        .args(["--addr", &addr])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Killer(child);
    let mut ready = false;
    for _ in 0..600 {
        if http(&addr, "GET", "/readyz", "").0 == 200 {
            ready = true;
            break;
        }
        if let Ok(Some(s)) = child.0.try_wait() {
            panic!("serve exited early: {s}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(ready, "never ready");

    // Cold user: popularity, the same list as the CLI.
    let (st, v) = get_json(&addr, "/v1/recommendations?user_id=nobody&k=3");
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["cold_start"], true);
    assert_eq!(v["items"], cold["items"], "{v}");
    // A live session with the item carted: no longer cold, the session is used.
    let evs = format!(
        r#"[{{"time": 1569888000000, "kind": "view", "user_id": "u-live", "session_id": "s-live", "item_id": "{item}"}},
            {{"time": 1569888060000, "kind": "cart", "user_id": "u-live", "session_id": "s-live", "item_id": "{item}"}}]"#
    );
    let (st, body) = http(&addr, "POST", "/v1/events", &evs);
    assert_eq!(st, 200, "{body}");
    let (st, v) = get_json(&addr, "/v1/recommendations?user_id=u-live&k=5");
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["cold_start"], false, "{v}");
    assert_eq!(v["session_id"], "s-live");
    assert_eq!(v["session_events"], 2);
    assert_eq!(v["items"].as_array().unwrap().len(), 5);
    let (st, v) = get_json(&addr, "/v1/recommendations?user_id=u-live&k=0");
    assert_eq!((st, v["error"]["field"].as_str()), (422, Some("k")), "{v}");

    // Similar items and audience of a known item; unknown ids are not errors.
    let (st, v) = get_json(&addr, &format!("/v1/items/{item}/similar?k=4"));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["cold_start"], false);
    let sim = v["items"].as_array().unwrap();
    assert!(!sim.is_empty() && sim.len() <= 4, "{v}");
    assert!(sim.iter().all(|s| s["id"] != item.as_str()), "{v}");
    let (st, v) = get_json(&addr, "/v1/items/no-such-item/similar?k=4");
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["cold_start"], true);
    assert_eq!(v["items"].as_array().unwrap().len(), 4);
    let (st, v) = get_json(&addr, &format!("/v1/items/{item}/audience?k=5"));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["known_item"], true);
    assert!(!v["users"].as_array().unwrap().is_empty(), "{v}");
    let (st, v) = get_json(&addr, "/v1/items/no-such-item/audience");
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["known_item"], false);
    assert_eq!(v["users"].as_array().unwrap().len(), 0);

    // Next action in the live session: probabilities over the bundle's classes.
    let (st, body) = http(
        &addr,
        "POST",
        "/v1/next-action",
        &format!(
            r#"{{"user_id": "u-live", "item_id": "{item}", "session_id": "s-live", "time": 1569888120000}}"#
        ),
    );
    assert_eq!(st, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["session_events"], 2, "{v}");
    let probs = v["probabilities"].as_array().unwrap();
    let kinds: Vec<&str> = probs.iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        classes.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let sum: f64 = probs
        .iter()
        .map(|p| p["probability"].as_f64().unwrap())
        .sum();
    assert!((sum - 1.0).abs() < 1e-6, "{v}");
    assert!(classes.contains(&v["decision"].as_str().unwrap().to_string()));
    // Unknown user and item, no session: still an answer.
    let (st, body) = http(
        &addr,
        "POST",
        "/v1/next-action",
        r#"{"user_id": "nobody", "item_id": "no-such-item"}"#,
    );
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("\"known_user\":false"), "{body}");
    let (st, body) = http(
        &addr,
        "POST",
        "/v1/next-action",
        r#"{"user_id": "u", "item_id": "i", "price": -1}"#,
    );
    assert_eq!(st, 422, "{body}");
    assert!(body.contains("\"field\":\"price\""), "{body}");
}

/// `shopsense retrain` twice on the REES46 sample, then `runs list` and `runs show`: the first
/// run promotes, the second keeps the champion; a failed run exits 1.
#[test]
fn retrain_cli_promotes_then_keeps_and_lists_runs() {
    let dir = tempfile::tempdir().unwrap();
    let incoming = dir.path().join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    std::fs::copy(
        data("rees46/2019-Oct_head.csv"),
        incoming.join("2019-Oct_head.csv"),
    )
    .unwrap();
    let retrain = || {
        let mut c = bin();
        c.arg("retrain")
            .arg("--store")
            .arg(dir.path().join("store"))
            .arg("--incoming")
            .arg(&incoming)
            .arg("--registry")
            .arg(dir.path().join("registry"))
            .arg("--runs")
            .arg(dir.path().join("runs"))
            .args(["--model", "logistic", "--json"]);
        c
    };
    let first = json(&mut retrain());
    assert_eq!(first["outcome"], "promoted", "{first}");
    let second = json(&mut retrain());
    assert_eq!(second["outcome"], "kept", "{second}");
    let list = json(
        bin()
            .args(["runs", "list", "--json", "--runs"])
            .arg(dir.path().join("runs")),
    );
    let outcomes: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["promoted", "kept"]);
    let id = list[0]["id"].as_str().unwrap();
    let shown = json(
        bin()
            .args(["runs", "show", id, "--runs"])
            .arg(dir.path().join("runs")),
    );
    assert_eq!(shown["id"], id);
    // Compare: JSON with deltas against the first run, a table, and an unknown id named.
    let id2 = list[1]["id"].as_str().unwrap();
    let cmp = json(
        bin()
            .args(["runs", "compare", id, id2, "--json", "--runs"])
            .arg(dir.path().join("runs")),
    );
    assert_eq!(cmp["ids"], serde_json::json!([id, id2]), "{cmp}");
    assert_eq!(cmp["outcomes"], serde_json::json!(["promoted", "kept"]));
    assert_eq!(cmp["same_data"], true, "{cmp}");
    let auc = cmp["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "roc_auc")
        .unwrap();
    assert_eq!(auc["deltas"][0], 0.0, "{auc}");
    assert!(auc["deltas"][1].is_number(), "{auc}");
    let table = bin()
        .args(["runs", "compare", id, "latest", "--runs"])
        .arg(dir.path().join("runs"))
        .output()
        .unwrap();
    assert!(table.status.success());
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("roc_auc") && table.contains(id2) && table.contains("duration_s"),
        "{table}"
    );
    let unknown = bin()
        .args(["runs", "compare", id, "nosuchrun", "--runs"])
        .arg(dir.path().join("runs"))
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(err.contains("nosuchrun"), "{err}");
    // A corrupt file: the run fails, exit 1, the champion stays.
    std::fs::write(
        incoming.join("broken.csv"),
        "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n\
         not a time,view,1,2,,,1.0,3,s\n",
    )
    .unwrap();
    let prom = dir.path().join("retrain.prom");
    let out = retrain().arg("--metrics-file").arg(&prom).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.csv") && !err.contains("panicked"),
        "{err}"
    );
    // The alert metrics show the failure; the counters include the earlier runs.
    let m = std::fs::read_to_string(&prom).unwrap();
    for line in [
        "shopsense_retrain_last_outcome{outcome=\"failed\"} 1",
        "shopsense_retrain_last_outcome{outcome=\"promoted\"} 0",
        "shopsense_retrain_runs_total{outcome=\"promoted\"} 1",
        "shopsense_retrain_runs_total{outcome=\"kept\"} 1",
        "shopsense_retrain_runs_total{outcome=\"failed\"} 1",
        "shopsense_retrain_consecutive_failures 1",
    ] {
        assert!(m.lines().any(|l| l == line), "{line} not in\n{m}");
    }
    assert!(
        m.contains("shopsense_retrain_last_success_timestamp_seconds "),
        "{m}"
    );
    assert!(
        m.contains("shopsense_retrain_last_duration_seconds "),
        "{m}"
    );
    // Nothing was promoted by the failed run.
    let after = json(
        bin()
            .args(["runs", "show", "latest", "--runs"])
            .arg(dir.path().join("runs")),
    );
    assert_eq!(after["outcome"], "failed");
    assert_eq!(after["promoted_after"], first["promoted_after"], "{after}");
}

/// `shopsense scheduler` every second with `--max-runs 2` records two runs (never
/// overlapping), serves nothing unless asked, and exits 0; a bad cron expression is an
/// error naming `--cron`.
#[test]
fn scheduler_runs_on_a_cron_and_rejects_bad_expressions() {
    let dir = tempfile::tempdir().unwrap();
    let incoming = dir.path().join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    std::fs::copy(
        data("rees46/2019-Oct_head.csv"),
        incoming.join("2019-Oct_head.csv"),
    )
    .unwrap();
    let sched = |cron: &str| {
        let mut c = bin();
        c.args(["scheduler", "--cron", cron, "--max-runs", "2"])
            .arg("--store")
            .arg(dir.path().join("store"))
            .arg("--incoming")
            .arg(&incoming)
            .arg("--registry")
            .arg(dir.path().join("registry"))
            .arg("--runs")
            .arg(dir.path().join("runs"))
            .arg("--metrics-file")
            .arg(dir.path().join("retrain.prom"))
            .args(["--model", "logistic"]);
        c
    };
    let out = sched("*/1 * * * * *").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("next run at"), "{err}");
    let list = json(
        bin()
            .args(["runs", "list", "--json", "--runs"])
            .arg(dir.path().join("runs")),
    );
    let outcomes: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["promoted", "kept"]);
    // Never overlapping: the second run started after the first ended.
    assert!(
        list[1]["started_at"].as_str().unwrap() >= list[0]["ended_at"].as_str().unwrap(),
        "{list}"
    );
    let m = std::fs::read_to_string(dir.path().join("retrain.prom")).unwrap();
    assert!(
        m.lines()
            .any(|l| l == "shopsense_retrain_consecutive_failures 0"),
        "{m}"
    );
    let bad = sched("every night").output().unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("--cron") && err.contains("every night") && !err.contains("panicked"),
        "{err}"
    );
}

/// A scheduler whose runs fail exits 1 after `--max-runs` and promotes nothing; one waiting
/// for a far fire time serves the alert metrics at `--metrics-addr` and stops on SIGTERM.
#[test]
fn scheduler_failures_exit_nonzero_and_metrics_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let incoming = dir.path().join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    std::fs::write(
        incoming.join("broken.csv"),
        "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n\
         not a time,view,1,2,,,1.0,3,s\n",
    )
    .unwrap();
    let sched = |cron: &str| {
        let mut c = bin();
        c.args(["scheduler", "--cron", cron])
            .arg("--store")
            .arg(dir.path().join("store"))
            .arg("--incoming")
            .arg(&incoming)
            .arg("--registry")
            .arg(dir.path().join("registry"))
            .arg("--runs")
            .arg(dir.path().join("runs"))
            .args(["--model", "logistic"]);
        c
    };
    let out = sched("*/1 * * * * *")
        .args(["--max-runs", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 of 2 scheduled runs failed"), "{err}");
    let list = json(
        bin()
            .args(["runs", "list", "--json", "--runs"])
            .arg(dir.path().join("runs")),
    );
    for r in list.as_array().unwrap() {
        assert_eq!(r["outcome"], "failed", "{r}");
        assert!(r["promoted_after"].is_null(), "nothing promoted: {r}");
    }
    assert_eq!(list.as_array().unwrap().len(), 2);
    // Serve the metrics while waiting for a fire time far away, then SIGTERM.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = sched("0 0 0 1 1 *")
        .arg("--metrics-addr")
        .arg(format!("127.0.0.1:{port}"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut body = String::new();
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            continue;
        };
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        s.read_to_string(&mut body).unwrap();
        break;
    }
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "stops cleanly on SIGTERM: {status:?}");
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    for line in [
        "shopsense_retrain_runs_total{outcome=\"failed\"} 2",
        "shopsense_retrain_consecutive_failures 2",
        "shopsense_retrain_last_outcome{outcome=\"failed\"} 1",
    ] {
        assert!(body.lines().any(|l| l == line), "{line} not in\n{body}");
    }
}
