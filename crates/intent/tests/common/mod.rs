#![allow(dead_code)]

use shopsense_events::{read_file, EventTable, ReadOptions};
use shopsense_intent::{Protocol, Silent, TrainConfig, TrainOutcome};
use shopsense_sessions::{SessionConfig, Sessions};
use std::path::PathBuf;

pub fn data(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(p)
}

/// REES46 head: 17,434 events, 5,066 sessions (native ids).
pub fn rees46() -> (EventTable, Sessions) {
    let (_, out) = read_file(
        &data("rees46/2019-Oct_head.csv"),
        None,
        &ReadOptions::default(),
    )
    .unwrap();
    let t = out.table;
    let s = Sessions::build(&t, &SessionConfig::default());
    (t, s)
}

/// Taobao head in its documented window (2017-11-25 .. 2017-12-04, UTC+8), 30-minute gap:
/// 84,440 events, 14,097 sessions.
pub fn taobao() -> (EventTable, Sessions) {
    let (_, out) = read_file(
        &data("taobao/UserBehavior_head.csv"),
        None,
        &ReadOptions::default(),
    )
    .unwrap();
    let mut t = out.table;
    t.retain_time_window(Some(1_511_539_200_000), Some(1_512_316_800_000));
    let s = Sessions::build(&t, &SessionConfig::default());
    (t, s)
}

/// A quick configuration: the defaults, fewer bootstrap resamples.
pub fn quick(protocol: &str, model: &str) -> TrainConfig {
    TrainConfig {
        protocol: protocol.parse::<Protocol>().unwrap(),
        model: model.parse().unwrap(),
        bootstrap_resamples: 100,
        ..TrainConfig::default()
    }
}

pub fn train(t: &EventTable, s: &Sessions, cfg: &TrainConfig) -> TrainOutcome {
    shopsense_intent::train(t, s, cfg, &Silent).unwrap()
}

/// Bit patterns, so that equality is exact.
pub fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}
