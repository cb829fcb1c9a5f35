//! The model registry, and a server following promotions with no failed request.

mod common;

use common::*;
use serde_json::{json, Value};
use shopsense_serve::{Registry, ServeConfig};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Two versions of the fixture bundle (thresholds 0.2 and 0.3).
fn two_versions(dir: &Path) -> Registry {
    let reg = Registry::open(dir.join("registry")).unwrap();
    let f = fixture();
    assert_eq!(reg.add(&f.bundle_path).unwrap(), "v0001");
    let mut b = f.bundle.clone();
    b.threshold = 0.3;
    let p = dir.join("second.bundle.json");
    b.save(&p).unwrap();
    assert_eq!(reg.add(&p).unwrap(), "v0002");
    reg
}

#[test]
fn add_list_show_promote_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let reg = two_versions(dir.path());
    assert_eq!(reg.promoted().unwrap(), None);
    let list = reg.list().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].model_kind, "logistic");
    assert_eq!(list[1].threshold, 0.3);
    assert!(list.iter().all(|v| !v.promoted));

    reg.promote("v0001").unwrap();
    let p = reg.promote("v0002").unwrap();
    assert_eq!(p.current.as_deref(), Some("v0002"));
    assert_eq!(p.previous, vec!["v0001".to_string()]);
    assert!(reg.show("v0002").unwrap().promoted);
    assert!(!reg.show("v0001").unwrap().promoted);

    let p = reg.rollback().unwrap();
    assert_eq!(p.current.as_deref(), Some("v0001"));
    assert!(reg.rollback().is_err());
    for bad in ["v0003", "v1", "../v0001", ""] {
        assert!(reg.promote(bad).is_err(), "{bad}");
        assert!(reg.show(bad).is_err(), "{bad}");
    }
    // Not a bundle: refused.
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, b"{}").unwrap();
    assert!(reg.add(&junk).is_err());
    assert_eq!(reg.versions().unwrap().len(), 2);
}

async fn version(a: std::net::SocketAddr) -> String {
    let (_, body) = get(a, "/readyz").await;
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    v["model_version"].as_str().unwrap_or("").to_string()
}

async fn wait_for(a: std::net::SocketAddr, prefix: &str) -> String {
    for _ in 0..1000 {
        let v = version(a).await;
        if v.starts_with(prefix) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the server never served {prefix}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_follows_promotions_without_failing_requests() {
    let dir = tempfile::tempdir().unwrap();
    let reg = two_versions(dir.path());
    reg.promote("v0001").unwrap();
    let cfg = ServeConfig {
        registry: Some(reg.dir().to_path_buf()),
        watch_interval: Duration::from_millis(50),
        ..config()
    };
    let server = shopsense_serve::start(cfg).await.unwrap();
    let a = server.addr();
    wait_for(a, "v0001+").await;

    // Requests all along while the model is swapped twice.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let f = fixture();
            let si = (0..f.s.len()).find(|&i| f.s.events(i).len() >= 2).unwrap();
            let events: Vec<Value> = f.s.events(si)[..2]
                .iter()
                .map(|&r| event_json(&f.t.event(r as usize)))
                .collect();
            let body = json!({ "events": events });
            let mut out = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (st, v) = post_json(a, "/v1/intent", &body, false).await;
                out.push((st, v["threshold"].as_f64()));
            }
            out
        })
    };
    reg.promote("v0002").unwrap();
    wait_for(a, "v0002+").await;
    reg.rollback().unwrap();
    wait_for(a, "v0001+").await;
    stop.store(true, Ordering::Relaxed);
    let seen = load.await.unwrap();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|(st, _)| *st == 200), "{seen:?}");
    assert!(seen.iter().all(|(_, t)| *t == Some(0.2) || *t == Some(0.3)));

    let (_, text) = get(a, "/metrics").await;
    assert!(
        text.contains("shopsense_model_reloads_total{result=\"ok\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("shopsense_model_info{version=\"v0001+"),
        "{text}"
    );
    server.shutdown().await.unwrap();
}
