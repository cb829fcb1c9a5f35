//! Sessions and the session export on the real bundled samples. Expected numbers were
//! computed independently with Polars/pandas (see BENCHMARKS.md and the shared peers script)
//! on the same files.

use shopsense_events::read::Columns;
use shopsense_events::{read_file, ReadOptions, NONE};
use shopsense_sessions::{
    session_summaries, write_summaries, SessionConfig, SessionTable, Sessions, SummaryOptions,
};
use std::path::PathBuf;

fn data(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(p)
}

/// Reads a bundled sample; the samples are clean, so nothing may be rejected.
fn load(p: &str) -> shopsense_events::EventTable {
    let (_, out) = read_file(&data(p), None, &ReadOptions::default()).unwrap();
    assert!(out.rejects.is_empty(), "{p}: {} rejects", out.rejects.len());
    out.table
}

#[test]
fn rees46_sessions_and_cut_summaries_match_polars() {
    let t = load("rees46/2019-Oct_head.csv");
    let s = Sessions::build(&t, &SessionConfig::default());
    assert_eq!(s.len(), 5_066);
    let table = SessionTable::build(&t, &s);
    assert_eq!(table.purchase_sessions(), 200);
    assert_eq!(table.cart_sessions(), 118);
    assert_eq!(
        table.rows.events.iter().map(|&e| e as u64).sum::<u64>(),
        17_434
    );

    let sum = session_summaries(&t, &s, &SummaryOptions::default());
    let total = |v: &[u32]| v.iter().map(|&x| x as u64).sum::<u64>();
    // Polars on the same file: 5066 17174 16819 155 200 673163 1578634.563061 1939912.15 12208
    assert_eq!(sum.len(), 5_066);
    assert_eq!(total(&sum.events), 17_174);
    assert_eq!(total(&sum.views), 16_819);
    assert_eq!(total(&sum.carts), 155);
    assert_eq!(sum.label.iter().filter(|&&l| l).count(), 200);
    let dur: f64 = (0..sum.len()).map(|i| sum.duration_s(i)).sum();
    assert_eq!(dur, 673_163.0);
    let mean: f64 = sum.mean_price.iter().filter(|p| !p.is_nan()).sum();
    assert!((mean - 1_578_634.563061).abs() < 1e-4, "{mean}");
    let max: f64 = sum.max_price.iter().filter(|p| !p.is_nan()).sum();
    assert!((max - 1_939_912.15).abs() < 1e-6, "{max}");
    assert_eq!(total(&sum.distinct_items), 12_208);
    // Every purchase session keeps its first purchase and nothing after it.
    for i in 0..sum.len() {
        if sum.label[i] {
            assert!(sum.purchases[i] >= 1);
            assert!(sum.events[i] <= sum.session_events[i]);
        } else {
            assert_eq!(sum.events[i], sum.session_events[i]);
        }
    }
}

#[test]
fn taobao_gap_sessions_match_pandas() {
    let mut t = load("taobao/UserBehavior_head.csv");
    let s = Sessions::build(&t, &SessionConfig::default());
    assert_eq!(s.len(), 14_122);
    let table = SessionTable::build(&t, &s);
    assert_eq!(table.purchase_sessions(), 1_345);
    assert_eq!(table.cart_sessions(), 2_716);
    // pandas: 14122 79441 71436 4254 2264 1487 1345 8975197 70274
    let sum = session_summaries(&t, &s, &SummaryOptions::default());
    let total = |v: &[u32]| v.iter().map(|&x| x as u64).sum::<u64>();
    assert_eq!(total(&sum.events), 79_441);
    assert_eq!(total(&sum.views), 71_436);
    assert_eq!(total(&sum.carts), 4_254);
    assert_eq!(total(&sum.wishlists), 2_264);
    assert_eq!(total(&sum.purchases), 1_487);
    let dur: f64 = (0..sum.len()).map(|i| sum.duration_s(i)).sum();
    assert_eq!(dur, 8_975_197.0);
    assert_eq!(total(&sum.distinct_items), 70_274);

    // The documented window: 2017-11-25 .. 2017-12-04 China time.
    t.retain_time_window(Some(1_511_539_200_000), Some(1_512_316_800_000));
    assert_eq!(t.len(), 84_440);
    let s = Sessions::build(&t, &SessionConfig::default());
    assert_eq!(s.len(), 14_097);
    assert_eq!(SessionTable::build(&t, &s).purchase_sessions(), 1_345);

    // A longer gap merges sessions; a gap of 0 splits every distinct timestamp.
    let s60 = Sessions::build(
        &t,
        &SessionConfig {
            gap_ms: 60 * 60 * 1000,
            force_gap: false,
        },
    );
    assert!(s60.len() < 14_097);
}

#[test]
fn export_writes_parquet_and_csv() {
    let t = load("rees46/2019-Oct_head.csv");
    let s = Sessions::build(&t, &SessionConfig::default());
    let sum = session_summaries(&t, &s, &SummaryOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("s.parquet");
    write_summaries(&pq, &t, &s, &sum).unwrap();
    let f = std::fs::File::open(&pq).unwrap();
    let r = parquet::file::reader::SerializedFileReader::new(f).unwrap();
    use parquet::file::reader::FileReader;
    assert_eq!(r.metadata().file_metadata().num_rows(), 5_066);
    let csv = dir.path().join("s.csv");
    write_summaries(&csv, &t, &s, &sum).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 5_067);
    assert!(text.starts_with("session_id,user_id,start_time"));
}

#[test]
fn synth_copies_whole_sessions_in_time_order() {
    let t = load("rees46/2019-Oct_head.csv");
    let s = Sessions::build(&t, &SessionConfig::default());
    let mut buf = Vec::new();
    let opts = shopsense_sessions::synth::SynthOptions {
        events: 50_000,
        ..Default::default()
    };
    let sum = shopsense_sessions::synth::synth_rees46(&t, &s, &opts, &mut buf, |_| {}).unwrap();
    assert_eq!(sum.events, 50_000);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("syn.csv");
    std::fs::write(&p, &buf).unwrap();
    let (_, back) = read_file(&p, None, &ReadOptions::default()).unwrap();
    assert!(back.rejects.is_empty());
    assert_eq!(back.table.len(), 50_000);
    assert!(back.table.time_ms.windows(2).all(|w| w[0] <= w[1]));
    let s2 = Sessions::build(&back.table, &SessionConfig::default());
    assert_eq!(s2.len() as u64, sum.sessions);
    // Same seed, same bytes.
    let mut again = Vec::new();
    shopsense_sessions::synth::synth_rees46(&t, &s, &opts, &mut again, |_| {}).unwrap();
    assert_eq!(buf, again);
}

/// Reads `path` cut into three parallel byte ranges with the given columns.
fn load_ranges(path: &std::path::Path, columns: Columns) -> shopsense_events::EventTable {
    let opts = ReadOptions {
        columns,
        threads: 3,
        parallel_min_bytes: Some(1 << 12),
        ..Default::default()
    };
    let (_, out) = read_file(path, None, &opts).unwrap();
    assert!(out.rejects.is_empty(), "{}", path.display());
    out.table
}

/// Asserts that `num` (read with numeric users kept as numbers) gives the same sessions
/// and the same export, byte for byte, as `plain`, and turns into `plain` when interned.
fn assert_numeric_users_change_nothing(
    plain: &shopsense_events::EventTable,
    mut num: shopsense_events::EventTable,
    cfg: &SessionConfig,
    what: &str,
) {
    assert!(num.has_numeric_users(), "{what}");
    assert!(!plain.has_numeric_users(), "{what}");
    let users = |t: &shopsense_events::EventTable| {
        (0..t.len())
            .map(|i| t.user_id(i).into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(users(&num), users(plain), "{what}: user ids");
    let (sp, sn) = (Sessions::build(plain, cfg), Sessions::build(&num, cfg));
    assert_eq!(sp.offsets, sn.offsets, "{what}");
    assert_eq!(sp.order, sn.order, "{what}");
    assert_eq!(sp.native, sn.native, "{what}");
    assert_eq!(sp.gap_seq, sn.gap_seq, "{what}");
    for s in 0..sp.len() {
        assert_eq!(sp.id(plain, s), sn.id(&num, s), "{what}: session {s}");
        assert_eq!(
            sp.user_id(plain, s),
            sn.user_id(&num, s),
            "{what}: session {s}"
        );
    }
    let opts = SummaryOptions::default();
    let dir = tempfile::tempdir().unwrap();
    for ext in ["csv", "parquet"] {
        let (a, b) = (
            dir.path().join(format!("plain.{ext}")),
            dir.path().join(format!("num.{ext}")),
        );
        write_summaries(&a, plain, &sp, &session_summaries(plain, &sp, &opts)).unwrap();
        write_summaries(&b, &num, &sn, &session_summaries(&num, &sn, &opts)).unwrap();
        assert_eq!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "{what}: .{ext} export"
        );
    }
    num.intern_numeric_users();
    assert!(!num.has_numeric_users());
    assert_eq!(num.user, plain.user, "{what}: interned");
    assert!(
        num.users.iter().eq(plain.users.iter()),
        "{what}: dictionary"
    );
}

/// Reading numeric user ids as numbers (what `sessionize` does) changes nothing: the same
/// sessions on both paths (native ids; inactivity gaps), the same export, over parallel byte
/// ranges, on the real samples.
#[test]
fn numeric_users_change_no_session_or_export_on_real_samples() {
    for (p, force_gap) in [
        ("rees46/2019-Oct_head.csv", false),
        ("rees46/2019-Oct_head.csv", true),
        ("taobao/UserBehavior_head.csv", false),
    ] {
        let plain = load_ranges(&data(p), Columns::CORE);
        let num = load_ranges(&data(p), Columns::SESSION_EXPORT);
        // Every user id in these samples is a plain number: none is interned.
        assert!(num.user.iter().all(|&u| u == NONE), "{p}");
        assert_eq!(num.users.len(), 0, "{p}");
        let cfg = SessionConfig {
            force_gap,
            ..Default::default()
        };
        assert_numeric_users_change_nothing(&plain, num, &cfg, p);
    }
}

/// User ids that are not plain numbers (leading zeros, 20 digits) are interned as before and keep their exact text, mixed with numeric ones in one session.
#[test]
fn numeric_users_keep_other_ids_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.csv");
    let mut text = String::from(
        "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n",
    );
    let users = [
        "12",
        "012",
        "0007",
        "12345678901234567890",
        "18446744073709551615",
        "9999999999999999999",
        "0",
    ];
    for i in 0..400 {
        let u = users[i % users.len()];
        // Sessions shared by two users, and users without a session id.
        let s = if i % 5 == 0 {
            String::new()
        } else {
            format!("s{}", i % 37)
        };
        text.push_str(&format!(
            "2019-10-01 00:{:02}:{:02} UTC,{},{},1,,,{}.5,{u},{s}\n",
            (i / 60) % 60,
            i % 60,
            if i % 11 == 0 { "purchase" } else { "view" },
            100 + i % 13,
            i % 50
        ));
    }
    std::fs::write(&path, text).unwrap();
    let plain = load_ranges(&path, Columns::CORE);
    let num = load_ranges(&path, Columns::SESSION_EXPORT);
    assert_eq!(plain.len(), 400);
    // "12", "0" and the 19-digit number are kept as numbers; the rest interned.
    let kept: std::collections::BTreeSet<String> = (0..num.len())
        .filter(|&i| num.user[i] == NONE)
        .map(|i| num.user_id(i).into_owned())
        .collect();
    assert_eq!(
        kept.into_iter().collect::<Vec<_>>(),
        ["0", "12", "9999999999999999999"]
    );
    assert_eq!(num.users.len(), 4);
    for force_gap in [false, true] {
        let cfg = SessionConfig {
            force_gap,
            ..Default::default()
        };
        assert_numeric_users_change_nothing(&plain, num.clone(), &cfg, "mixed");
    }
}

/// A table read with numeric users joined to an ordinary one (a store plus a CSV given to
/// `sessionize` together) comes out ordinary with every user id intact; two numeric tables
/// stay numeric. Both by `concat` and by `append`.
#[test]
fn numeric_and_ordinary_tables_join_without_losing_users() {
    use shopsense_events::EventTable;
    let (r, t) = (
        data("rees46/2019-Oct_head.csv"),
        data("taobao/UserBehavior_head.csv"),
    );
    let (r_plain, r_num) = (
        load_ranges(&r, Columns::CORE),
        load_ranges(&r, Columns::SESSION_EXPORT),
    );
    let (t_plain, t_num) = (
        load_ranges(&t, Columns::CORE),
        load_ranges(&t, Columns::SESSION_EXPORT),
    );
    let want = EventTable::concat(vec![r_plain.clone(), t_plain.clone()]);
    let users = |x: &EventTable| {
        (0..x.len())
            .map(|i| x.user_id(i).into_owned())
            .collect::<Vec<_>>()
    };
    let want_users = users(&want);
    assert_eq!(want.len(), 17_434 + 84_475);
    for (a, b, numeric) in [
        (&r_num, &t_plain, false),
        (&r_plain, &t_num, false),
        (&r_num, &t_num, true),
    ] {
        let joined = EventTable::concat(vec![a.clone(), b.clone()]);
        assert_eq!(joined.has_numeric_users(), numeric);
        assert_eq!(users(&joined), want_users);
        if !numeric {
            assert_eq!(joined.user, want.user);
            assert!(joined.users.iter().eq(want.users.iter()));
        }
        let mut appended = a.clone();
        appended.append(b);
        assert_eq!(appended.has_numeric_users(), numeric);
        assert_eq!(users(&appended), want_users);
        assert_eq!(
            appended.user_num.len(),
            if numeric { appended.len() } else { 0 }
        );
    }
}
