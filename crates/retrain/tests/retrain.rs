//! The champion/challenger retraining run on the real REES46 sample: the first run promotes,
//! a rerun on the same data keeps the champion (not better by the margin), a corrupt incoming
//! file fails the run without promoting, and every run is recorded.

use shopsense_intent::{ModelChoice, Silent, TrainConfig};
use shopsense_models::registry::Registry;
use shopsense_retrain::{run, GateMetric, Outcome, RetrainConfig, RunStore, Sanity};
use shopsense_sessions::SessionConfig;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/rees46/2019-Oct_head.csv")
}

fn config(dir: &Path) -> RetrainConfig {
    RetrainConfig {
        store: dir.join("store"),
        incoming: dir.join("incoming"),
        registry: dir.join("registry"),
        runs: dir.join("runs"),
        margin: 0.005,
        metric: GateMetric::RocAuc,
        sanity: Sanity::default(),
        format: None,
        max_bad_ratio: 0.05,
        sessions: SessionConfig::default(),
        train: TrainConfig {
            model: ModelChoice::Logistic,
            ..TrainConfig::default()
        },
        extra_params: BTreeMap::new(),
    }
}

#[test]
fn promote_then_keep_then_fail_and_every_run_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    std::fs::create_dir_all(&cfg.incoming).unwrap();
    std::fs::copy(sample(), cfg.incoming.join("2019-Oct_head.csv")).unwrap();

    // 1. Empty registry: the candidate passes the sanity bounds and is promoted.
    let first = run(&cfg, &Silent).unwrap();
    assert_eq!(first.outcome, Outcome::Promoted, "{}", first.reason);
    assert_eq!(first.inputs.len(), 1);
    assert_eq!(first.inputs[0].rows, 17_434);
    let fp = first.data_fingerprint.clone().expect("fingerprint");
    let auc = first.candidate_score().expect("candidate ROC-AUC");
    assert!(auc > 0.6, "{auc}");
    let reg = Registry::open(&cfg.registry).unwrap();
    let (v1, _) = reg.promoted().unwrap().expect("promoted");
    assert_eq!(first.promoted_after.as_deref(), Some(v1.as_str()));

    // 2. Same data again: the file is skipped, the candidate equals the champion on the same
    //    window, so it is not better by the margin and the champion stays.
    let second = run(&cfg, &Silent).unwrap();
    assert_eq!(second.outcome, Outcome::Kept, "{}", second.reason);
    assert!(second.reason.contains("margin"), "{}", second.reason);
    assert_eq!(second.inputs[0].status, "skipped");
    assert_eq!(second.data_fingerprint.as_deref(), Some(fp.as_str()));
    assert!(second.champion.is_some());
    let (v2, _) = reg.promoted().unwrap().expect("promoted");
    assert_eq!(v2, v1);

    // 3. A corrupt file over the bad-row ratio fails the run; nothing is promoted.
    std::fs::write(
        cfg.incoming.join("broken.csv"),
        "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n\
         not a time,view,1,2,,,1.0,3,s\nnot a time,view,1,2,,,1.0,3,s\n",
    )
    .unwrap();
    let third = run(&cfg, &Silent).unwrap();
    assert_eq!(third.outcome, Outcome::Failed);
    assert!(third.reason.contains("broken.csv"), "{}", third.reason);
    assert_eq!(reg.promoted().unwrap().expect("promoted").0, v1);

    // Every run is on record, oldest first.
    let runs = RunStore::open(&cfg.runs).unwrap().list().unwrap();
    let outcomes: Vec<Outcome> = runs.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Promoted, Outcome::Kept, Outcome::Failed]
    );
    assert!(runs
        .iter()
        .all(|r| r.duration_s > 0.0 && !r.ended_at.is_empty()));
}
