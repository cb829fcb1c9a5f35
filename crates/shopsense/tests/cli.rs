//! The `shopsense` binary end to end on the bundled real samples: exact counts, outputs,
//! re-ingest detection, quarantine and error exits.

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

fn run(c: &mut Command) -> Output {
    c.output().expect("run shopsense")
}

fn ok_json(c: &mut Command) -> serde_json::Value {
    let out = run(c);
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn stats_json_rees46_exact() {
    let v = ok_json(
        bin()
            .arg("stats")
            .arg(data("rees46/2019-Oct_head.csv"))
            .arg("--json"),
    );
    assert_eq!(v["events"], 17_434);
    assert_eq!(v["sessions"], 5_066);
    assert_eq!(v["users"], 4_504);
    assert_eq!(v["items"], 6_493);
    assert_eq!(v["categories"], 434);
    assert_eq!(v["brands"], 864);
    assert_eq!(v["kinds"]["view"], 17_055);
    assert_eq!(v["kinds"]["cart"], 165);
    assert_eq!(v["kinds"]["purchase"], 214);
    assert_eq!(v["purchase_sessions"], 200);
    assert_eq!(v["first_event"], "2019-10-01T00:00:00.000Z");
    assert_eq!(v["last_event"], "2019-10-01T02:50:00.000Z");
    assert_eq!(v["quarantined"], 0);
    assert_eq!(v["duplicates"], 5);
}

#[test]
fn stats_json_taobao_exact_with_and_without_window() {
    let file = data("taobao/UserBehavior_head.csv");
    let v = ok_json(bin().arg("stats").arg(&file).arg("--json"));
    assert_eq!(v["events"], 84_475);
    assert_eq!(v["users"], 815);
    assert_eq!(v["items"], 55_368);
    assert_eq!(v["categories"], 2_914);
    assert_eq!(v["kinds"]["view"], 75_872);
    assert_eq!(v["kinds"]["cart"], 4_497);
    assert_eq!(v["kinds"]["wishlist"], 2_356);
    assert_eq!(v["kinds"]["purchase"], 1_750);
    assert_eq!(v["sessions"], 14_122);
    assert_eq!(v["purchase_sessions"], 1_345);
    assert_eq!(v["cart_sessions"], 2_716);
    assert_eq!(v["session_source"], "gap");
    let w = ok_json(bin().arg("stats").arg(&file).arg("--json").args([
        "--from",
        "2017-11-25T00:00:00+08:00",
        "--to",
        "2017-12-04T00:00:00+08:00",
    ]));
    assert_eq!(w["events"], 84_440);
    assert_eq!(w["sessions"], 14_097);
    assert_eq!(w["purchase_sessions"], 1_345);
}

#[test]
fn stats_json_otto_exact() {
    let v = ok_json(
        bin()
            .arg("stats")
            .arg(data("otto/train_fixture_20_sessions.jsonl"))
            .arg("--json"),
    );
    assert_eq!(v["sessions"], 20);
    assert_eq!(v["events"], 862);
    assert_eq!(v["kinds"]["view"], 800);
    assert_eq!(v["kinds"]["cart"], 52);
    assert_eq!(v["kinds"]["purchase"], 10);
    assert_eq!(v["purchase_sessions"], 3);
}

#[test]
fn ingest_store_then_stats_and_sessionize_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let v = ok_json(
        bin()
            .arg("ingest")
            .arg(data("rees46/2019-Oct_head.csv"))
            .arg(data("taobao/UserBehavior_head.csv"))
            .arg("--store")
            .arg(&store)
            .arg("--json"),
    );
    assert_eq!(v[0]["status"], "ingested");
    assert_eq!(v[0]["rows"], 17_434);
    assert_eq!(v[0]["duplicates"], 5);
    assert_eq!(v[1]["rows"], 84_475);
    // The same bytes again: skipped, nothing added.
    let again = ok_json(
        bin()
            .arg("ingest")
            .arg(data("rees46/2019-Oct_head.csv"))
            .arg("--store")
            .arg(&store)
            .arg("--json"),
    );
    assert_eq!(again[0]["status"], "skipped");
    let st = ok_json(bin().arg("stats").arg(&store).arg("--json"));
    assert_eq!(st["events"], 17_434 + 84_475);
    assert_eq!(st["sessions"], 5_066 + 14_122);
    // Sessionize from the store equals sessionize from the file.
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    let out = run(bin()
        .arg("sessionize")
        .arg(data("rees46/2019-Oct_head.csv"))
        .arg("--out")
        .arg(&a));
    assert!(out.status.success());
    let st2 = dir.path().join("store2");
    assert!(run(bin()
        .arg("ingest")
        .arg(data("rees46/2019-Oct_head.csv"))
        .arg("--store")
        .arg(&st2))
    .status
    .success());
    assert!(run(bin().arg("sessionize").arg(&st2).arg("--out").arg(&b))
        .status
        .success());
    let sorted = |p: &Path| {
        let mut l: Vec<String> = std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        l.sort();
        l
    };
    let (la, lb) = (sorted(&a), sorted(&b));
    assert_eq!(la.len(), 5_067);
    assert_eq!(la, lb);
}

#[test]
fn corrupted_input_quarantines_exactly_the_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(data("rees46/2019-Oct_head.csv")).unwrap();
    let mut lines: Vec<String> = src.lines().map(str::to_string).collect();
    // Lines are 1-based in files: index i is line i+1.
    lines[10] = lines[10][..20].to_string(); // truncated
    lines[20] = lines[20].replace(",view,", ",view,123,"); // an extra column
    lines[30] = lines[30].replacen("2019-10-01", "2019-13-01", 1); // bad time
    let mut bytes = lines.join("\n").into_bytes();
    bytes.extend_from_slice(b"\n\x00\xff\xfebinary blob\n");
    let f = dir.path().join("bad.csv");
    std::fs::write(&f, bytes).unwrap();
    let store = dir.path().join("s");
    let v = ok_json(
        bin()
            .arg("ingest")
            .arg(&f)
            .arg("--store")
            .arg(&store)
            .arg("--json"),
    );
    assert_eq!(v[0]["rows"], 17_434 - 3);
    assert_eq!(v[0]["rejected"], 4);
    assert_eq!(v[0]["rejects_by_reason"]["field_count"], 2);
    assert_eq!(v[0]["rejects_by_reason"]["bad_time"], 1);
    assert_eq!(v[0]["rejects_by_reason"]["invalid_utf8"], 1);
    let q = v[0]["quarantine"].as_str().unwrap();
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(q)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(u64, String)> = rows
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (11, "field_count".to_string()),
            (21, "field_count".to_string()),
            (31, "bad_time".to_string()),
            (17_436, "invalid_utf8".to_string()),
        ]
    );
    // Over the limit: the run fails, says why, and stores nothing for the file.
    let store2 = dir.path().join("s2");
    let out = run(bin()
        .arg("ingest")
        .arg(&f)
        .arg("--store")
        .arg(&store2)
        .args(["--max-bad-ratio", "0.0001"]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max-bad-ratio"), "{err}");
}

#[test]
fn clear_errors_and_no_panics_on_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("mystery.csv");
    std::fs::write(&f, "a,b,c\n1,2,3\n").unwrap();
    let out = run(bin().arg("stats").arg(&f));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mystery.csv") && err.contains("--format"),
        "{err}"
    );

    let out = run(bin().arg("stats").arg(dir.path().join("missing.csv")));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.csv"));

    let out = run(bin()
        .arg("stats")
        .arg(data("rees46/2019-Oct_head.csv"))
        .args(["--from", "yesterday"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from"));

    let out = run(bin()
        .arg("stats")
        .arg(data("rees46/2019-Oct_head.csv"))
        .args(["--gap-minutes=-5"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--gap-minutes"));
    // Usage errors exit with 2 and name the argument.
    let out = run(bin().arg("stats"));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn synth_then_sessionize_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let syn = dir.path().join("syn.csv");
    let out = run(bin()
        .arg("synth")
        .arg(data("rees46/2019-Oct_head.csv"))
        .arg("--out")
        .arg(&syn)
        .args(["-n", "100k"]));
    assert!(out.status.success());
    let v = ok_json(bin().arg("stats").arg(&syn).arg("--json"));
    assert_eq!(v["events"], 100_000);
    assert_eq!(v["quarantined"], 0);
    let pq = dir.path().join("s.parquet");
    let out = run(bin().arg("sessionize").arg(&syn).arg("--out").arg(&pq));
    assert!(out.status.success());
    assert!(std::fs::metadata(&pq).unwrap().len() > 1000);
}

#[test]
fn demo_runs_the_main_job_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("demo");
    // Without --quiet: the demo's output is what a user reads.
    let o = run(Command::new(env!("CARGO_BIN_EXE_shopsense"))
        .arg("demo")
        .arg("--out")
        .arg(&out_dir)
        .arg("--data")
        .arg(data("")));
    assert!(
        o.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Summaries go to stdout, the per-command status lines to stderr.
    let first = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // Exact counts of both samples (Taobao in its documented window).
    assert!(
        first.contains("17434 events -> 5066 sessions (200 with a purchase)"),
        "{first}"
    );
    assert!(
        first.contains("84440 events -> 14097 sessions (1345 with a purchase)"),
        "{first}"
    );
    assert!(first.contains("rows 17434  rejected 0"), "{first}");
    assert!(first.contains("rows 84475  rejected 0"), "{first}");
    for name in ["rees46", "taobao"] {
        let html = std::fs::read_to_string(out_dir.join(format!("{name}-intent.html"))).unwrap();
        assert!(html.contains("<svg"), "{name} report has no plots");
        assert!(out_dir.join(format!("{name}-intent.bundle")).is_file());
        assert!(out_dir.join(format!("{name}-sessions.parquet")).is_file());
    }
    // The test part is scored: one test ROC-AUC line per sample, above chance.
    let aucs: Vec<f64> = first
        .lines()
        .filter(|l| l.trim_start().starts_with("ROC-AUC") && l.contains("PR-AUC"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    assert_eq!(aucs.len(), 2, "{first}");
    assert!(aucs.iter().all(|&a| a > 0.6), "{aucs:?}");
}
