//! `shopsense models …` and `shopsense serve` as processes, with bundles trained by
//! `shopsense train intent` on the bundled REES46 sample: the registry round trip
//! (add / promote / rollback / list / show, table and JSON), and a real server following the
//! registry: ready, scoring posted events with the promoted version, PSI drift from the
//! freshly trained bundle at /metrics, and SIGTERM → drain → snapshot written.

use serde_json::Value;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shopsense"));
    c.arg("--quiet");
    c
}

fn rees46() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/rees46/2019-Oct_head.csv")
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

fn ok_json(c: &mut Command) -> Value {
    let out = ok(c);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn fails_with(c: &mut Command, needle: &str) {
    let out = c.output().expect("run shopsense");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "should fail: {needle}");
    assert!(matches!(out.status.code(), Some(1 | 2)), "{err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

/// Two bundles trained once by the CLI: (logistic, gbdt).
fn bundles() -> (&'static PathBuf, &'static PathBuf) {
    static B: OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> = OnceLock::new();
    let b = B.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for model in ["logistic", "gbdt"] {
            let p = dir.path().join(format!("{model}.bundle"));
            ok(bin()
                .args(["train", "intent"])
                .arg(rees46())
                .args(["--model", model, "--bootstrap", "50", "--out"])
                .arg(&p));
            paths.push(p);
        }
        let g = paths.pop().unwrap();
        let l = paths.pop().unwrap();
        (dir, l, g)
    });
    (&b.1, &b.2)
}

fn models(reg: &Path, args: &[&str]) -> Command {
    let mut c = bin();
    c.arg("models").args(args).arg("--registry").arg(reg);
    c
}

#[test]
fn models_add_promote_rollback_list_round_trip() {
    let (logistic, gbdt) = bundles();
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("registry");
    let empty = ok(&mut models(&reg, &["list"]));
    assert!(String::from_utf8_lossy(&empty.stdout).contains("no versions"));

    let a = ok_json(models(&reg, &["add", "--json"]).arg(logistic));
    assert_eq!(a["version"], "v0001");
    assert!(a["promotion"].is_null());
    let b = ok_json(models(&reg, &["add", "--promote", "--json"]).arg(gbdt));
    assert_eq!(b["version"], "v0002");
    assert_eq!(b["promotion"]["current"], "v0002");

    let list = ok_json(&mut models(&reg, &["list", "--json"]));
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["version"], "v0001");
    assert_eq!(rows[0]["model_kind"], "logistic");
    assert_eq!(rows[0]["promoted"], false);
    assert_eq!(rows[1]["model_kind"], "gbdt");
    assert_eq!(rows[1]["promoted"], true);

    let p = ok_json(&mut models(&reg, &["promote", "v0001", "--json"]));
    assert_eq!(p["current"], "v0001");
    assert_eq!(p["previous"], serde_json::json!(["v0002"]));
    let table = String::from_utf8(ok(&mut models(&reg, &["list"])).stdout).unwrap();
    let marked: Vec<&str> = table.lines().filter(|l| l.starts_with('*')).collect();
    assert_eq!(marked.len(), 1, "{table}");
    assert!(
        marked[0].contains("v0001") && marked[0].contains("logistic"),
        "{table}"
    );

    let r = ok_json(&mut models(&reg, &["rollback", "--json"]));
    assert_eq!(r["current"], "v0002");
    let s = ok_json(&mut models(&reg, &["show", "v0002", "--json"]));
    assert_eq!(s["promoted"], true);
    assert_eq!(s["model_kind"], "gbdt");
    // The stored bundle is the trained file, byte for byte.
    assert_eq!(
        std::fs::read(s["path"].as_str().unwrap()).unwrap(),
        std::fs::read(gbdt).unwrap()
    );
    let shown = String::from_utf8(ok(&mut models(&reg, &["show", "v0001"])).stdout).unwrap();
    assert!(
        shown.contains("v0001") && shown.contains("bundle:"),
        "{shown}"
    );

    // Clear refusals.
    fails_with(&mut models(&reg, &["promote", "v0009"]), "v0009");
    fails_with(
        models(&reg, &["add"]).arg(rees46()),
        "not a loadable bundle",
    );
    fails_with(&mut models(&reg, &["rollback"]), "nothing to roll back");
    let after = ok_json(&mut models(&reg, &["list", "--json"]));
    assert_eq!(
        after[1]["promoted"], true,
        "a refused rollback changes nothing"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request; (status, body).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> (u16, String) {
    use std::io::Write;
    let Ok(mut c) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    if let Some(k) = key {
        req.push_str(&format!("x-api-key: {k}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
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

struct Killer(std::process::Child);
impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_process_scores_events_and_snapshots_on_sigterm() {
    let (logistic, gbdt) = bundles();
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("registry");
    ok(models(&reg, &["add"]).arg(logistic));
    ok(models(&reg, &["add", "--promote"]).arg(gbdt));
    let snapshot = dir.path().join("state/online.json");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_shopsense"))
        .args(["serve", "--registry"])
        .arg(&reg)
        .args(["--addr", &addr.to_string(), "--snapshot"])
        .arg(&snapshot)
        .env("SHOPSENSE_API_KEY", "k-123")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Killer(child);
    let mut ready = None;
    for _ in 0..600 {
        let (st, body) = http(addr, "GET", "/readyz", None, "");
        if st == 200 {
            ready = Some(body);
            break;
        }
        if let Ok(Some(s)) = child.0.try_wait() {
            panic!("serve exited early: {s}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let ready: Value = serde_json::from_str(&ready.expect("never ready")).unwrap();
    let version = ready["model_version"].as_str().unwrap().to_string();
    assert!(version.starts_with("v0002+gbdt-"), "{version}");

    let events = r#"[
      {"event_time": "2019-10-01 00:00:00 UTC", "event_type": "view", "product_id": 1004237, "category_id": 2053013555631882655, "category_code": "electronics.smartphone", "brand": "apple", "price": 1081.98, "user_id": 535871217, "user_session": "sess-a"},
      {"event_time": "2019-10-01 00:01:00 UTC", "event_type": "cart", "product_id": 1004237, "category_id": 2053013555631882655, "category_code": "electronics.smartphone", "brand": "apple", "price": 1081.98, "user_id": 535871217, "user_session": "sess-a"},
      {"event_time": "2019-10-01 00:00:30 UTC", "event_type": "view", "product_id": 5, "price": 3.5, "user_id": 7, "user_session": "sess-b"}
    ]"#;
    let (st, body) = http(addr, "POST", "/v1/events", None, events);
    assert_eq!(st, 401, "{body}");
    let (st, body) = http(addr, "POST", "/v1/events", Some("k-123"), events);
    assert_eq!(st, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["accepted"], 3);
    let s = v["sessions"].as_array().unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0]["session_id"], "sess-a");
    assert_eq!(s[0]["user_id"], "535871217");
    assert_eq!(s[0]["events"], 2);
    assert_eq!(s[1]["session_id"], "sess-b");
    assert_eq!(s[1]["events"], 1);
    for x in s {
        let p = x["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p), "{x}");
        assert_eq!(
            x["decision"].as_bool().unwrap(),
            p >= x["threshold"].as_f64().unwrap()
        );
        assert_eq!(x["model_version"], version.as_str());
    }
    // The freshly trained bundle carries its training distribution: PSI at /metrics.
    let (st, m) = http(addr, "GET", "/metrics", None, "");
    assert_eq!(st, 200);
    assert!(m.contains("shopsense_score_psi "), "{m}");
    assert!(m.contains("shopsense_feature_psi{feature="), "{m}");
    assert!(m.contains("shopsense_online_sessions 2"), "{m}");

    // SIGTERM: graceful drain, snapshot written, exit 0.
    let pid = child.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut status = None;
    for _ in 0..400 {
        if let Some(s) = child.0.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = status.expect("serve did not stop on SIGTERM");
    let mut err = String::new();
    if let Some(mut e) = child.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "{status}: {err}");
    let snap: Value = serde_json::from_slice(&std::fs::read(&snapshot).unwrap()).unwrap();
    assert_eq!(snap["format"], "shopsense-serve-state");
    assert_eq!(
        snap["sessions"]["sess-a"]["events"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(snap["sessions"]["sess-b"]["user_id"], "7");
}

#[test]
fn serve_refuses_bad_flags() {
    fails_with(
        bin().args(["serve", "--bundle", "/no/such.bundle"]),
        "does not exist",
    );
    fails_with(
        bin().args(["serve", "--bundle", "a", "--registry", "b"]),
        "cannot be used with",
    );
    fails_with(
        bin().args(["serve", "--bundle", "a", "--state", "postgres://x"]),
        "redis://",
    );
    fails_with(
        bin().args(["serve", "--bundle", "a", "--timeout-secs", "0"]),
        "seconds",
    );
}
