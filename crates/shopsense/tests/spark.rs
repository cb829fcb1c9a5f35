//! `sessionize --engine sc://…` and `features --engine sc://…` on a real Spark standalone
//! cluster (one master, two workers, a Spark Connect driver; started by
//! scripts/services/spark.sh) against the local path, row for row, on the real samples and on
//! synthetic data; and with one executor JVM killed mid-job.
#![cfg(feature = "spark")]

use std::path::{Path, PathBuf};
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

fn remote() -> Option<String> {
    match std::env::var("SHOPSENSE_SPARK_REMOTE") {
        Ok(r) if !r.is_empty() => Some(r),
        _ => {
            assert!(
                std::env::var("SHOPSENSE_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "SHOPSENSE_SPARK_REMOTE is not set (source scripts/services/spark.sh)"
            );
            eprintln!("skipped: SHOPSENSE_SPARK_REMOTE not set (scripts/services/spark.sh)");
            None
        }
    }
}

fn ok(c: &mut Command) -> String {
    let out = c.output().expect("run shopsense");
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ingest(store: &Path, files: &[PathBuf]) {
    ok(bin()
        .arg("ingest")
        .args(files)
        .arg("--store")
        .arg(store)
        .arg("--json"));
}

/// Runs sessionize locally and on Spark with `extra` args; asserts equal outputs row for row
/// (floats within 1e-9); returns the number of sessions.
fn compare(store: &Path, remote: &str, extra: &[&str], tag: &str) -> usize {
    compare_cmd("sessionize", store, remote, extra, tag)
}

/// Runs `cmd` (sessionize or features) locally and on Spark with `extra` args; asserts equal
/// CSV outputs row for row (floats within 1e-9); returns the number of rows.
fn compare_cmd(cmd: &str, store: &Path, remote: &str, extra: &[&str], tag: &str) -> usize {
    let dir = store.parent().unwrap();
    let a = dir.join(format!("{tag}-local.csv"));
    let b = dir.join(format!("{tag}-spark.csv"));
    ok(bin().arg(cmd).arg(store).args(extra).arg("--out").arg(&a));
    let msg = ok(bin()
        .arg(cmd)
        .arg(store)
        .args(extra)
        .arg("--engine")
        .arg(remote)
        .arg("--out")
        .arg(&b));
    eprintln!("{tag}: {}", msg.trim());
    let la = std::fs::read_to_string(&a).unwrap();
    let lb = std::fs::read_to_string(&b).unwrap();
    let (ra, rb): (Vec<&str>, Vec<&str>) = (la.lines().collect(), lb.lines().collect());
    assert_eq!(ra.len(), rb.len(), "{tag}: row counts differ");
    for (i, (x, y)) in ra.iter().zip(&rb).enumerate() {
        if x == y {
            continue;
        }
        let (fx, fy): (Vec<&str>, Vec<&str>) = (x.split(',').collect(), y.split(',').collect());
        assert_eq!(fx.len(), fy.len(), "{tag} row {i}: {x} vs {y}");
        for (u, v) in fx.iter().zip(&fy) {
            if u == v {
                continue;
            }
            let (pu, pv) = (u.parse::<f64>(), v.parse::<f64>());
            match (pu, pv) {
                (Ok(p), Ok(q)) => assert!(
                    (p - q).abs() <= 1e-9 * p.abs().max(1.0),
                    "{tag} row {i}: {x} vs {y}"
                ),
                _ => panic!("{tag} row {i}: local {x}\n spark {y}"),
            }
        }
    }
    ra.len() - 1
}

/// A store of the REES46 and Taobao samples in a fresh temporary directory.
fn samples_store() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    ingest(
        &store,
        &[
            data("rees46/2019-Oct_head.csv"),
            data("taobao/UserBehavior_head.csv"),
        ],
    );
    (dir, store)
}

#[test]
fn spark_equals_local_on_the_real_samples() {
    let Some(remote) = remote() else { return };
    let (_dir, store) = samples_store();
    // REES46 has native session ids, Taobao gets gap sessions.
    assert_eq!(compare(&store, &remote, &[], "samples"), 5_066 + 14_122);
    assert_eq!(
        compare(&store, &remote, &["--no-cut"], "samples-nocut"),
        5_066 + 14_122
    );
    let n = compare(
        &store,
        &remote,
        &["--force-gap", "--gap-minutes", "10"],
        "samples-gap10",
    );
    assert!(n > 5_066 + 14_122, "{n}");
    // The time window applies before sessions are built: Taobao's documented window keeps
    // 14,097 of its sessions and none of REES46's (October 2019).
    let n = compare(
        &store,
        &remote,
        &[
            "--from",
            "2017-11-25T00:00:00+08:00",
            "--to",
            "2017-12-04T00:00:00+08:00",
        ],
        "samples-window",
    );
    assert_eq!(n, 14_097);
}

/// The intent feature job (sessions, prefixes, temporal split, encoders with out-of-fold
/// priors, user histories, all 65 features) on Spark equals the local matrices.
#[test]
fn spark_features_equal_local_on_the_real_samples() {
    let Some(remote) = remote() else { return };
    let (dir, store) = samples_store();
    let header = |tag: &str| {
        let f = dir.path().join(format!("{tag}-spark.csv"));
        let s = std::fs::read_to_string(f).unwrap();
        s.lines().next().unwrap().split(',').count()
    };
    assert_eq!(
        compare_cmd("features", &store, &remote, &[], "f-full"),
        18_685
    );
    assert_eq!(header("f-full"), 4 + 65);
    assert_eq!(
        compare_cmd(
            "features",
            &store,
            &remote,
            &["--protocol", "early-3"],
            "f-early3"
        ),
        9_363
    );
    assert_eq!(
        compare_cmd(
            "features",
            &store,
            &remote,
            &[
                "--protocol",
                "at-cart",
                "--features",
                "top_brand_hash,hour,item_buy_rate_mean,user_prev_purchase_rate"
            ],
            "f-atcart"
        ),
        2_733
    );
    assert_eq!(header("f-atcart"), 4 + 4);
    // Gap sessions everywhere, China time, Taobao's documented window, another split.
    assert_eq!(
        compare_cmd(
            "features",
            &store,
            &remote,
            &[
                "--force-gap",
                "--gap-minutes",
                "10",
                "--utc-offset-minutes",
                "480",
                "--from",
                "2017-11-25T00:00:00+08:00",
                "--to",
                "2017-12-04T00:00:00+08:00",
                "--split",
                "0.5,0.2,0.3",
            ],
            "f-window"
        ),
        16_848
    );
}

#[test]
fn spark_equals_local_on_synthetic_data() {
    let Some(remote) = remote() else { return };
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("synth.csv");
    ok(bin()
        .arg("synth")
        .arg(data("rees46/2019-Oct_head.csv"))
        .args(["-n", "200k", "--days", "5", "--out"])
        .arg(&csv));
    let store = dir.path().join("store");
    ingest(&store, &[csv]);
    let n = compare(&store, &remote, &[], "synth");
    assert!(n > 40_000, "{n}");
    compare(&store, &remote, &["--force-gap"], "synth-gap");
    let n = compare_cmd(
        "features",
        &store,
        &remote,
        &["--protocol", "early-2"],
        "synth-features",
    );
    assert!(n > 10_000, "{n}");
}

fn get(url: &str) -> String {
    let out = Command::new("curl").args(["-s", url]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Executor JVMs (CoarseGrainedExecutorBackend) of the app `app`: (pid, executor id).
fn executors(app: &str) -> Vec<(u32, String)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmd
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args
            .iter()
            .any(|a| a.contains("CoarseGrainedExecutorBackend"))
            && args.iter().any(|a| a == app)
        {
            let id = args
                .iter()
                .position(|a| a == "--executor-id")
                .and_then(|i| args.get(i + 1))
                .cloned()
                .unwrap_or_default();
            v.push((pid, id));
        }
    }
    v
}

/// Runs `cmd` on `store` locally, then on Spark while SIGKILLing one executor JVM of `app` as
/// soon as a job of ours runs; asserts the Spark run still succeeds, the driver noticed the
/// loss, and the output equals the local one (floats within 1e-9).
fn kill_one_executor_during(
    cmd: &str,
    store: &Path,
    extra: &[&str],
    remote: &str,
    ui: &str,
    app: &str,
) {
    let dir = store.parent().unwrap();
    let a = dir.join(format!("{cmd}-local.csv"));
    ok(bin().arg(cmd).arg(store).args(extra).arg("--out").arg(&a));
    let b = dir.join(format!("{cmd}-spark.csv"));
    let mut child = bin()
        .arg(cmd)
        .arg(store)
        .args(extra)
        .arg("--engine")
        .arg(remote)
        .arg("--out")
        .arg(&b)
        .spawn()
        .unwrap();
    // Wait until a job of ours is running, then SIGKILL one executor JVM.
    let mut killed = None;
    for _ in 0..600 {
        let jobs = get(&format!(
            "{ui}/api/v1/applications/{app}/jobs?status=running"
        ));
        if jobs.contains("\"jobId\"") {
            let ex = executors(app);
            if let Some((pid, id)) = ex.first() {
                let st = Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .status()
                    .unwrap();
                assert!(st.success());
                eprintln!(
                    "{cmd}: killed executor {id} (pid {pid}) of {app} while a job was running; executors were {ex:?}"
                );
                killed = Some(id.clone());
                break;
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "spark {cmd} failed after the kill");
    let killed = killed.expect("the job ended before an executor could be killed");
    let all = get(&format!("{ui}/api/v1/applications/{app}/allexecutors"));
    let removed = all
        .split("\"id\"")
        .find(|s| s.contains(&format!(": \"{killed}\"")))
        .map(|s| s.contains("\"isActive\" : false"))
        .unwrap_or(false);
    let stages = get(&format!("{ui}/api/v1/applications/{app}/stages"));
    let failed: u64 = stages
        .split("\"numFailedTasks\" : ")
        .skip(1)
        .filter_map(|s| {
            s.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    eprintln!("{cmd}: executor {killed} removed by the driver: {removed}; failed tasks (all stages so far): {failed}");
    assert!(removed, "the driver did not notice the killed executor");
    let (la, lb) = (
        std::fs::read_to_string(&a).unwrap(),
        std::fs::read_to_string(&b).unwrap(),
    );
    assert_eq!(la.lines().count(), lb.lines().count());
    for (i, (x, y)) in la.lines().zip(lb.lines()).enumerate() {
        if x != y {
            let fx: Vec<&str> = x.split(',').collect();
            let fy: Vec<&str> = y.split(',').collect();
            assert_eq!(fx.len(), fy.len(), "row {i}: {x} vs {y}");
            for (u, v) in fx.iter().zip(&fy) {
                if u != v {
                    let (p, q): (f64, f64) = (u.parse().unwrap(), v.parse().unwrap());
                    assert!(
                        (p - q).abs() <= 1e-9 * p.abs().max(1.0),
                        "{cmd} row {i}: {x} vs {y}"
                    );
                }
            }
        }
    }
}

/// The session export (1M events) and then the feature job (200k events), each with one
/// executor killed mid-job, still complete with the local result.
#[test]
fn killing_an_executor_mid_job_still_completes_with_the_same_result() {
    let Some(remote) = remote() else { return };
    let ui = std::env::var("SHOPSENSE_SPARK_UI").expect("SHOPSENSE_SPARK_UI with the remote");
    let apps = get(&format!("{ui}/api/v1/applications"));
    let app = apps
        .split('"')
        .skip_while(|s| *s != "id")
        .nth(2)
        .expect("application id from the driver's REST API")
        .to_string();
    let synth_store = |n: &str, days: &str| {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("synth.csv");
        ok(bin()
            .arg("synth")
            .arg(data("rees46/2019-Oct_head.csv"))
            .args(["-n", n, "--days", days, "--out"])
            .arg(&csv));
        let store = dir.path().join("store");
        ingest(&store, &[csv]);
        (dir, store)
    };
    let (_d1, store) = synth_store("1M", "10");
    kill_one_executor_during("sessionize", &store, &[], &remote, &ui, &app);
    let (_d2, store) = synth_store("200k", "5");
    kill_one_executor_during(
        "features",
        &store,
        &["--protocol", "early-2"],
        &remote,
        &ui,
        &app,
    );
}
