#![allow(dead_code)]

use shopsense_events::{read_file, EventTable, ReadOptions};
use shopsense_features::Prefix;
use shopsense_sessions::{SessionConfig, Sessions};
use std::path::PathBuf;

pub fn data(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(p)
}

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

/// The prefix of the first `len` events of session `s` (label: the session buys).
pub fn prefix_of(t: &EventTable, s: &Sessions, session: usize, len: usize) -> Prefix {
    let ev = s.events(session);
    Prefix {
        session: session as u32,
        len: len as u32,
        label: s.first_purchase(t, session).is_some(),
        start_ms: t.time_ms[ev[0] as usize],
        cutoff_ms: t.time_ms[ev[len - 1] as usize],
    }
}

/// Bit patterns, so that NaN == NaN.
pub fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}
