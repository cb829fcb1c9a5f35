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
