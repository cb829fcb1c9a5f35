//! `train intent`, `eval`, `predict` and `features` end to end on the bundled REES46 sample:
//! documented JSON keys, eval reproducing training's test metrics exactly, one scored row
//! per prefix (counts from the features crate's pandas-checked tests), resume through the
//! CLI, and clear errors (never a panic) on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

fn rees46() -> PathBuf {
    data("rees46/2019-Oct_head.csv")
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

/// Runs a command that must fail cleanly: exit code 1 or 2 (clap), a message containing
/// `needle`, no panic.
fn fails_with(c: &mut Command, needle: &str) {
    let out = c.output().expect("run shopsense");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "should fail: {needle}");
    assert!(
        matches!(out.status.code(), Some(1 | 2)),
        "exit {:?}: {err}",
        out.status.code()
    );
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

fn train(protocol: &str, model: &str, out: &Path, extra: &[&str]) -> serde_json::Value {
    ok_json(
        bin()
            .args(["train", "intent"])
            .arg(rees46())
            .args(["--protocol", protocol, "--model", model, "--json"])
            .args(["--bootstrap", "100"])
            .arg("--out")
            .arg(out)
            .args(extra),
    )
}

fn parquet_rows(path: &Path) -> i64 {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let r = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    r.metadata().file_metadata().num_rows()
}

#[test]
fn train_eval_predict_full_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("full.bundle");
    let report = dir.path().join("train.html");
    let t = ok_json(
        bin()
            .args(["train", "intent"])
            .arg(rees46())
            .args(["--protocol", "full", "--model", "gbdt", "--json"])
            .args(["--calibration", "isotonic", "--bootstrap", "100"])
            .arg("--out")
            .arg(&bundle)
            .arg("--report")
            .arg(&report),
    );
    for k in [
        "model",
        "model_version",
        "protocol",
        "n_features",
        "split",
        "threshold",
        "validation",
        "test",
        "rounds",
        "seconds",
    ] {
        assert!(t.get(k).is_some(), "train --json lacks {k}");
    }
    assert_eq!(t["split"]["test_rows"], 1_269);
    assert_eq!(t["n_features"], 65);
    assert!(
        !dir.path().join("full.bundle.ckpt").exists(),
        "default checkpoints removed"
    );
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<svg") && html.contains("ROC"));

    // eval --json: the documented keys, and exactly training's test metrics.
    let e = ok_json(
        bin()
            .arg("eval")
            .arg(rees46())
            .arg("--bundle")
            .arg(&bundle)
            .args(["--json", "--bootstrap", "100"]),
    );
    for k in [
        "bundle",
        "model",
        "model_version",
        "protocol",
        "rows",
        "period",
        "metrics",
        "intervals",
        "period_unit",
        "per_period",
        "top_features",
    ] {
        assert!(e.get(k).is_some(), "eval --json lacks {k}");
    }
    for k in [
        "n",
        "positives",
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
        "threshold",
        "precision",
        "recall",
        "f1",
        "accuracy",
        "confusion",
    ] {
        assert!(e["metrics"].get(k).is_some(), "metrics lack {k}");
    }
    for k in ["tp", "fp", "tn", "fn"] {
        assert!(
            e["metrics"]["confusion"].get(k).is_some(),
            "confusion lacks {k}"
        );
    }
    for k in ["roc_auc", "pr_auc"] {
        let iv = &e["intervals"][k];
        assert!(iv["lo"].as_f64().unwrap() <= iv["hi"].as_f64().unwrap());
    }
    assert_eq!(e["rows"], "test");
    assert_eq!(e["protocol"], "full");
    assert_eq!(e["period_unit"], "hour");
    assert_eq!(e["model_version"], t["model_version"]);
    assert_eq!(
        e["metrics"], t["test"]["metrics"],
        "eval = training's test part, exactly"
    );
    assert_eq!(e["intervals"], t["test"]["intervals"]);

    // --all: every prefix.
    let all = ok_json(
        bin()
            .arg("eval")
            .arg(rees46())
            .arg("--bundle")
            .arg(&bundle)
            .args(["--json", "--all", "--bootstrap", "0"]),
    );
    assert_eq!(all["rows"], "all");
    assert_eq!(all["metrics"]["n"], 5_065);
    assert_eq!(all["metrics"]["positives"], 199);

    // eval --report writes HTML; plain output is readable text.
    let er = dir.path().join("eval.html");
    let text = ok(bin()
        .arg("eval")
        .arg(rees46())
        .arg("--bundle")
        .arg(&bundle)
        .arg("--report")
        .arg(&er));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("ROC-AUC") && text.contains("per hour"),
        "{text}"
    );
    assert!(std::fs::read_to_string(&er).unwrap().contains("<svg"));

    // predict: one row per prefix (5,065 under full), Parquet and CSV.
    let pq = dir.path().join("scores.parquet");
    let p = ok_json(
        bin()
            .arg("predict")
            .arg(rees46())
            .arg("--bundle")
            .arg(&bundle)
            .arg("--out")
            .arg(&pq)
            .arg("--json"),
    );
    assert_eq!(p["prefixes"], 5_065);
    assert_eq!(parquet_rows(&pq), 5_065);
    let csv = dir.path().join("scores.csv");
    ok(bin()
        .arg("predict")
        .arg(rees46())
        .arg("--bundle")
        .arg(&bundle)
        .arg("--out")
        .arg(&csv));
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("session_id,user_id,cutoff_time,score,decision,model_version")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 5_065);
    let threshold = t["threshold"]["threshold"].as_f64().unwrap();
    let version = t["model_version"].as_str().unwrap();
    let mut flagged = 0;
    for r in &rows {
        let f: Vec<&str> = r.split(',').collect();
        let score: f64 = f[3].parse().unwrap();
        assert!((0.0..=1.0).contains(&score));
        assert_eq!(f[4] == "true", score >= threshold);
        flagged += usize::from(f[4] == "true");
        assert_eq!(f[5], version);
        assert!(f[2].starts_with("2019-10-01T"), "{r}");
    }
    assert_eq!(p["flagged"], flagged);
}

#[test]
fn predict_counts_at_cart_and_features_export() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("cart.bundle");
    let t = train("at-cart", "seed-rf", &bundle, &[]);
    assert_eq!(t["n_features"], 6);
    let out = dir.path().join("cart.csv");
    ok(bin()
        .arg("predict")
        .arg(rees46())
        .arg("--bundle")
        .arg(&bundle)
        .arg("--out")
        .arg(&out));
    // 117 at-cart prefixes (features crate, pandas-checked) + header.
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 118);

    let f = dir.path().join("features.parquet");
    ok(bin()
        .arg("features")
        .arg(rees46())
        .args(["--split", "0.5,0.2,0.3", "--out"])
        .arg(&f));
    assert_eq!(parquet_rows(&f), 5_065);
    let fc = dir.path().join("features.csv");
    ok(bin()
        .arg("features")
        .arg(rees46())
        .args(["--protocol", "early-3", "--model", "seed-rf", "--out"])
        .arg(&fc));
    let text = std::fs::read_to_string(&fc).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("part,session,start_ms,label,n_view,n_cart,duration_s,price_mean,price_max,distinct_items")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1_973);
    // Parts 0/1/2 in the split sizes of the features crate's tests.
    let count = |p: &str| rows.iter().filter(|r| r.starts_with(p)).count();
    assert_eq!((count("0,"), count("1,"), count("2,")), (1_184, 295, 494));
}

#[test]
fn resume_through_the_cli_gives_the_uninterrupted_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let params = r#"{"n_rounds":30,"chunk_rounds":10,"early_stopping_rounds":null}"#;
    let a = dir.path().join("a.bundle");
    train("full", "gbdt", &a, &["--gbdt-params", params]);
    let b = dir.path().join("b.bundle");
    let ck = dir.path().join("ck-b");
    let mut first = bin();
    first
        .args(["train", "intent"])
        .arg(rees46())
        .args(["--model", "gbdt", "--gbdt-params", params])
        .args(["--stop-after-chunks", "1"])
        .arg("--checkpoint-dir")
        .arg(&ck)
        .arg("--out")
        .arg(&b);
    fails_with(&mut first, "interrupted after 10");
    assert!(ck.join("gbdt.json").exists());
    assert!(!b.exists());
    ok(bin()
        .args(["train", "intent"])
        .arg(rees46())
        .args(["--model", "gbdt", "--gbdt-params", params, "--resume"])
        .arg("--checkpoint-dir")
        .arg(&ck)
        .arg("--out")
        .arg(&b));
    let load = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let (ja, jb) = (load(&a), load(&b));
    assert_eq!(ja["model"], jb["model"], "same LightGBM model text");
    assert_eq!(ja["threshold"], jb["threshold"]);
    assert_eq!(ja["params"]["model_version"], jb["params"]["model_version"]);
}

#[test]
fn bad_input_gives_clear_errors_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.bundle");
    fails_with(
        bin()
            .arg("eval")
            .arg(rees46())
            .arg("--bundle")
            .arg(&missing),
        "not found",
    );
    fails_with(
        bin()
            .arg("predict")
            .arg(rees46())
            .arg("--bundle")
            .arg(&missing)
            .arg("--out")
            .arg(dir.path().join("x.csv")),
        "not found",
    );
    // Not a bundle at all.
    fails_with(
        bin()
            .arg("eval")
            .arg(rees46())
            .arg("--bundle")
            .arg(rees46()),
        "bundle",
    );
    // Unknown model, protocol, imbalance: clap names the valid values.
    fails_with(
        bin()
            .args(["train", "intent"])
            .arg(rees46())
            .args(["--model", "xgboost", "--out", "x.bundle"]),
        "seed-rf",
    );
    fails_with(
        bin().args(["train", "intent"]).arg(rees46()).args([
            "--protocol",
            "late-3",
            "--out",
            "x.bundle",
        ]),
        "unknown protocol",
    );
    fails_with(
        bin().args(["train", "intent"]).arg(rees46()).args([
            "--gbdt-params",
            r#"{"num_leafs":7}"#,
            "--out",
            "x.bundle",
        ]),
        "num_leafs",
    );
    fails_with(
        bin().args(["train", "intent"]).arg(rees46()).args([
            "--model",
            "logistic",
            "--search-trials",
            "3",
            "--out",
            "x.bundle",
        ]),
        "gbdt model only",
    );
    fails_with(
        bin()
            .args(["train", "intent"])
            .arg(rees46())
            .args(["--split", "0.5,0.5", "--out", "x.bundle"]),
        "three fractions",
    );
    fails_with(
        bin().args(["train", "intent"]).arg(rees46()).args([
            "--split",
            "0.7,0.2,0.2",
            "--out",
            "x.bundle",
        ]),
        "sum to 1",
    );

    // A real bundle of the `full` protocol …
    let bundle = dir.path().join("full.bundle");
    train("full", "logistic", &bundle, &[]);
    fails_with(
        bin()
            .arg("predict")
            .arg(rees46())
            .arg("--bundle")
            .arg(&bundle)
            .args(["--protocol", "at-cart", "--out"])
            .arg(dir.path().join("x.csv")),
        "trained for protocol full, not at-cart",
    );
    // … and the same bundle with another feature version, or another intent format.
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    v["feature_spec"]["version"] = 2.into();
    let other = dir.path().join("v2.bundle");
    std::fs::write(&other, serde_json::to_vec(&v).unwrap()).unwrap();
    fails_with(
        bin().arg("eval").arg(rees46()).arg("--bundle").arg(&other),
        "version 2",
    );
    v["feature_spec"]["version"] = 1.into();
    v["params"]["format"] = "shopsense-intent-v2".into();
    std::fs::write(&other, serde_json::to_vec(&v).unwrap()).unwrap();
    fails_with(
        bin().arg("eval").arg(rees46()).arg("--bundle").arg(&other),
        "not a purchase-intent bundle",
    );
    // Truncated file.
    let bytes = std::fs::read(&bundle).unwrap();
    std::fs::write(&other, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(
        bin().arg("eval").arg(rees46()).arg("--bundle").arg(&other),
        "v2.bundle",
    );
    // Empty window: no events.
    fails_with(
        bin()
            .arg("eval")
            .arg(rees46())
            .arg("--bundle")
            .arg(&bundle)
            .args(["--from", "2030-01-01"]),
        "no events",
    );
}

#[test]
fn auto_is_the_default_and_eval_reproduces_it() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("auto.bundle");
    // No --model: auto.
    let t = ok_json(
        bin()
            .args(["train", "intent"])
            .arg(rees46())
            .args(["--protocol", "early-3", "--json", "--bootstrap", "0"])
            .arg("--out")
            .arg(&bundle),
    );
    let auto = &t["auto"];
    let cands = auto["candidates"].as_array().expect("candidates");
    let names: Vec<&str> = cands.iter().map(|c| c["model"].as_str().unwrap()).collect();
    assert_eq!(names, ["gbdt", "logistic", "seed-rf", "blend"]);
    // The chosen family is the argmax of the mean (PR-AUC, ROC-AUC) over the recorded
    // rolling-origin folds and the validation part.
    let key = |c: &serde_json::Value| {
        let mean = |m: &str| {
            let folds = c["folds"].as_array().map_or(&[][..], |f| f.as_slice());
            let s: f64 = folds.iter().map(|f| f[m].as_f64().unwrap()).sum::<f64>()
                + c["validation"][m].as_f64().unwrap();
            s / (1 + folds.len()) as f64
        };
        (mean("pr_auc"), mean("roc_auc"))
    };
    let best = cands
        .iter()
        .fold(&cands[0], |b, c| if key(c) > key(b) { c } else { b });
    assert_eq!(auto["chosen"], best["model"]);
    assert_eq!(t["model"], auto["chosen"]);
    assert_eq!(t["validation"], best["validation"]);
    // The bundle records the choice; eval on its test part reproduces training's metrics.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    assert_eq!(saved["params"]["auto"], *auto);
    assert_eq!(saved["params"]["model"], auto["chosen"]);
    let e = ok_json(
        bin()
            .arg("eval")
            .arg(rees46())
            .arg("--bundle")
            .arg(&bundle)
            .args(["--json", "--bootstrap", "0"]),
    );
    assert_eq!(e["metrics"], t["test"]["metrics"]);
}
