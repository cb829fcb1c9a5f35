//! Property tests: no input makes a reader panic; parallel byte ranges agree with a single
//! pass on any input; generated valid REES46, Taobao and OTTO rows parse back to their values.

mod common;

use common::assert_same_table;
use proptest::prelude::*;
use shopsense_events::formats::diginetica::{Purchases, Views};
use shopsense_events::formats::mapped::{MappedParser, Mapping};
use shopsense_events::formats::otto::Otto;
use shopsense_events::formats::rees46::Rees46;
use shopsense_events::formats::retailrocket::Retailrocket;
use shopsense_events::formats::taobao::Taobao;
use shopsense_events::kind::{KindRef, CART, PURCHASE, REMOVE_FROM_CART, VIEW, WISHLIST};
use shopsense_events::read::{read_lines, LineParser, Scratch};
use shopsense_events::{RawEvent, ReadOptions};
use std::path::Path;

/// An owned copy of a [`RawEvent`].
#[derive(Debug, Clone, PartialEq)]
struct Owned {
    time_ms: i64,
    user: String,
    session: Option<String>,
    item: String,
    category: Option<String>,
    category_path: Option<String>,
    brand: Option<String>,
    price: Option<f64>,
    kind: String,
    order: Option<String>,
}

fn own(e: &RawEvent<'_>) -> Owned {
    let s = |v: Option<&str>| v.map(str::to_string);
    Owned {
        time_ms: e.time_ms,
        user: e.user.into(),
        session: s(e.session),
        item: e.item.into(),
        category: s(e.category),
        category_path: s(e.category_path),
        brand: s(e.brand),
        price: e.price,
        kind: match e.kind {
            KindRef::Fixed(c) => format!("#{c}"),
            KindRef::Other(n) => n.to_string(),
        },
        order: s(e.order),
    }
}

/// Parses one line; checks that a refused line emitted nothing.
fn parse(p: &dyn LineParser, line: &str) -> Result<Vec<Owned>, String> {
    let mut out = Vec::new();
    let r = p.parse_line(line, &mut Scratch::default(), &mut |e| out.push(own(e)));
    match r {
        Ok(()) => Ok(out),
        Err(e) => {
            assert!(out.is_empty(), "a rejected line emitted events: {line:?}");
            Err(e.code().to_string())
        }
    }
}

fn headerless_mapping() -> MappedParser {
    let m = Mapping::from_toml(
        "header = false\n[columns]\ntime = 0\nuser = 1\nitem = 2\nkind = 3\nprice = 4\n\
         session = 5\n[time]\nformat = \"%Y-%m-%dT%H:%M:%S\"\noffset = \"-03:30\"\n",
        Path::new("inline.toml"),
    )
    .unwrap();
    MappedParser::new(&m, "", Path::new("inline.toml"), Path::new("data.csv")).unwrap()
}

fn parsers() -> Vec<Box<dyn LineParser>> {
    vec![
        Box::new(Rees46),
        Box::new(Taobao),
        Box::new(Otto),
        Box::new(Retailrocket::new(None, None)),
        Box::new(Views { categories: None }),
        Box::new(Purchases { categories: None }),
        Box::new(headerless_mapping()),
    ]
}

const REES46_ROW: &str = "2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c";

/// Lines that are sometimes valid, sometimes nearly valid, sometimes junk.
fn line_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(REES46_ROW.as_bytes().to_vec()),
        Just(b"1,2268318,2520377,pv,1511544070".to_vec()),
        Just(br#"{"session":3,"events":[{"aid":9,"ts":1659304800025,"type":"carts"}]}"#.to_vec()),
        "[0-9a-z,;\"{}:. -]{0,80}".prop_map(String::into_bytes),
        ".{0,60}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..60)
            .prop_map(|v| v.into_iter().filter(|&b| b != b'\n').collect()),
        (0usize..REES46_ROW.len()).prop_map(|k| REES46_ROW.as_bytes()[..k].to_vec()),
    ]
}

fn file_strategy() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec((line_strategy(), any::<bool>()), 0..40),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(lines, bom, last_newline)| {
            let mut out = Vec::new();
            if bom {
                out.extend_from_slice(b"\xEF\xBB\xBF");
            }
            let n = lines.len();
            for (i, (l, crlf)) in lines.into_iter().enumerate() {
                out.extend_from_slice(&l);
                if i + 1 < n || last_newline {
                    out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
                }
            }
            out
        })
}

fn seq() -> ReadOptions {
    ReadOptions {
        threads: 1,
        ..ReadOptions::default()
    }
}

fn par(threads: usize) -> ReadOptions {
    ReadOptions {
        threads,
        parallel_min_bytes: Some(1),
        ..ReadOptions::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_files_never_panic_and_parallel_agrees(
        bytes in prop_oneof![file_strategy(), proptest::collection::vec(any::<u8>(), 0..400)],
        threads in 2usize..5,
    ) {
        prop_assume!(!bytes.starts_with(&[0x1f, 0x8b]));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("input.txt");
        std::fs::write(&path, &bytes).unwrap();
        for p in parsers() {
            let a = read_lines(&path, p.as_ref(), &seq()).unwrap();
            let b = read_lines(&path, p.as_ref(), &par(threads)).unwrap();
            assert_same_table(&a.table, &b.table, true);
            prop_assert_eq!(&a.rejects, &b.rejects);
            prop_assert_eq!(a.lines, b.lines);
            prop_assert_eq!(a.blank_lines, b.blank_lines);
            // Every data line is either rejected or gave its events.
            let mut ok_lines = a.table.line.clone();
            ok_lines.dedup();
            prop_assert!(ok_lines.len() + a.rejects.len() <= a.lines as usize);
            for r in &a.rejects {
                prop_assert!(!ok_lines.contains(&r.line));
            }
        }
        // Detection and the generic entry point never panic either.
        let _ = shopsense_events::read_file(&path, None, &seq());
    }

    #[test]
    fn arbitrary_lines_never_panic(line in prop_oneof![".{0,200}", "[0-9a-z,;\"{}:\\[\\]. \\\\-]{0,200}"]) {
        for p in parsers() {
            let _ = parse(p.as_ref(), &line);
        }
    }

    #[test]
    fn valid_rees46_rows_round_trip(
        secs in 0i64..4_102_444_800,
        millis in proptest::option::of(0i64..1000),
        kind in prop_oneof![
            Just("view".to_string()),
            Just("cart".to_string()),
            Just("remove_from_cart".to_string()),
            Just("purchase".to_string()),
            "[a-z][a-z_-]{0,12}",
        ],
        product in 0u64..u64::MAX / 2,
        category in proptest::option::of(0u64..u64::MAX / 2),
        code in proptest::option::of("[a-z]{1,8}(\\.[a-z_]{1,8}){0,3}"),
        brand in proptest::option::of("[a-z0-9 ,&'-]{1,12}"),
        quote_brand in any::<bool>(),
        cents in proptest::option::of(0u64..100_000_000),
        user in 0u64..u64::MAX / 2,
        session in "([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?",
    ) {
        let t = chrono::DateTime::from_timestamp(secs, 0).unwrap();
        let mut time = t.format("%Y-%m-%d %H:%M:%S").to_string();
        if let Some(ms) = millis {
            time.push_str(&format!(".{ms:03}"));
        }
        time.push_str(" UTC");
        let price = cents.map(|c| format!("{}.{:02}", c / 100, c % 100));
        let brand_field = match &brand {
            Some(b) if quote_brand || b.contains(',') => format!("\"{b}\""),
            Some(b) => b.clone(),
            None => String::new(),
        };
        let line = format!(
            "{time},{kind},{product},{},{},{brand_field},{},{user},{session}",
            category.map(|c| c.to_string()).unwrap_or_default(),
            code.clone().unwrap_or_default(),
            price.clone().unwrap_or_default(),
        );
        let got = parse(&Rees46, &line).unwrap();
        let want_kind = match kind.as_str() {
            "view" => format!("#{VIEW}"),
            "cart" => format!("#{CART}"),
            "remove_from_cart" => format!("#{REMOVE_FROM_CART}"),
            "purchase" => format!("#{PURCHASE}"),
            other => other.to_string(),
        };
        let want = Owned {
            time_ms: secs * 1000 + millis.unwrap_or(0),
            user: user.to_string(),
            session: Some(session.clone()).filter(|s| !s.is_empty()),
            item: product.to_string(),
            category: category.map(|c| c.to_string()),
            category_path: code,
            brand,
            price: price.map(|p| p.parse().unwrap()),
            kind: want_kind,
            order: None,
        };
        prop_assert_eq!(got, vec![want]);
    }

    #[test]
    fn valid_taobao_rows_round_trip(
        user in 0u64..u64::MAX / 2,
        item in 0u64..u64::MAX / 2,
        category in 0u64..u64::MAX / 2,
        kind in prop_oneof![Just("pv"), Just("cart"), Just("fav"), Just("buy")],
        secs in 0i64..4_102_444_800,
    ) {
        let line = format!("{user},{item},{category},{kind},{secs}");
        let code = match kind { "pv" => VIEW, "cart" => CART, "fav" => WISHLIST, _ => PURCHASE };
        let want = Owned {
            time_ms: secs * 1000,
            user: user.to_string(),
            session: None,
            item: item.to_string(),
            category: Some(category.to_string()),
            category_path: None,
            brand: None,
            price: None,
            kind: format!("#{code}"),
            order: None,
        };
        prop_assert_eq!(parse(&Taobao, &line).unwrap(), vec![want]);
        prop_assert!(shopsense_events::formats::taobao::looks_like(&line));
    }

    #[test]
    fn valid_otto_lines_round_trip(
        session in any::<u64>(),
        events in proptest::collection::vec(
            (any::<u32>(), 0i64..4_102_444_800_000, prop_oneof![Just("clicks"), Just("carts"), Just("orders")]),
            0..30,
        ),
        spaced in any::<bool>(),
    ) {
        let json = serde_json::json!({
            "session": session,
            "events": events.iter().map(|(aid, ts, ty)| serde_json::json!({"aid": aid, "ts": ts, "type": ty})).collect::<Vec<_>>(),
        });
        let line = if spaced { serde_json::to_string_pretty(&json).unwrap().replace('\n', " ") } else { json.to_string() };
        let got = parse(&Otto, &line).unwrap();
        let want: Vec<Owned> = events.iter().map(|(aid, ts, ty)| Owned {
            time_ms: *ts,
            user: session.to_string(),
            session: Some(session.to_string()),
            item: aid.to_string(),
            category: None,
            category_path: None,
            brand: None,
            price: None,
            kind: format!("#{}", match *ty { "clicks" => VIEW, "carts" => CART, _ => PURCHASE }),
            order: None,
        }).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn jsonish_otto_lines_never_panic(
        base in proptest::collection::vec((any::<u16>(), 0i64..2_000_000_000_000, prop_oneof![Just("clicks"), Just("orders"), Just("x y"), Just("")]), 0..5),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..4, "[{}\\[\\]\":,0-9a-z\\\\ .eE+-]{0,3}"), 0..6),
        junk in "[{}\\[\\]\":,0-9a-z\\\\ .eE+-]{0,120}",
    ) {
        let json = serde_json::json!({
            "session": base.len(),
            "events": base.iter().map(|(aid, ts, ty)| serde_json::json!({"aid": aid, "ts": ts, "type": ty})).collect::<Vec<_>>(),
        });
        let mut line = json.to_string().into_bytes();
        for (at, del, ins) in edits {
            let i = at.index(line.len() + 1);
            let j = (i + del).min(line.len());
            line.splice(i..j, ins.bytes());
        }
        let line = String::from_utf8_lossy(&line).into_owned();
        if let Ok(evs) = parse(&Otto, &line) {
            // Whatever decoded is a real session: one user, the session as user.
            for e in &evs {
                prop_assert_eq!(Some(&e.user), e.session.as_ref());
            }
        }
        let _ = parse(&Otto, &junk);
        let _ = parse(&Otto, &format!("{{\"session\":1,\"events\":[{junk}]}}"));
    }
}

proptest! {
    /// The fast price parser agrees bit for bit with the standard library whenever it takes a
    /// string, and takes every plain decimal of at most 15 digits.
    #[test]
    fn simple_decimal_matches_std(s in "-?[0-9]{0,12}(\\.[0-9]{0,8})?") {
        use shopsense_events::formats::rees46::simple_decimal;
        let fast = simple_decimal(&s);
        let digits = s.bytes().filter(u8::is_ascii_digit).count();
        match s.parse::<f64>() {
            Ok(want) if (1..=15).contains(&digits) => {
                let got = fast.expect("a plain decimal takes the fast path");
                prop_assert_eq!(got.to_bits(), want.to_bits(), "{}", s);
            }
            _ => prop_assert!(fast.is_none() || digits > 15, "{}", s),
        }
    }

    /// Prices printed from random values parse back identically on the fast path.
    #[test]
    fn simple_decimal_round_trips_printed_prices(cents in 0u64..100_000_000_000, scale in 0usize..6) {
        use shopsense_events::formats::rees46::simple_decimal;
        let x = cents as f64 / 10f64.powi(scale as i32);
        let s = format!("{x:.scale$}");
        let want: f64 = s.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(simple_decimal(&s).map(f64::to_bits), Some(want.to_bits()), "{}", s);
    }
}

proptest! {
    /// Parsing a run of timestamps with the date cache gives what parsing each alone gives,
    /// whatever the order of dates, valid or not.
    #[test]
    fn cached_datetime_parse_matches_uncached(
        rows in proptest::collection::vec(
            (0u32..3, 0u32..24, 0u32..60, 0u32..62, proptest::bool::ANY, "[0-9 T:.-]{0,4}"),
            1..60,
        )
    ) {
        use shopsense_events::time::{parse_datetime_utc, parse_datetime_utc_cached, DateCache};
        let dates = ["2019-10-01", "2019-10-02", "2020-02-29"];
        let mut cache = DateCache::default();
        for (d, h, m, s, utc, junk) in rows {
            let text = format!(
                "{} {h:02}:{m:02}:{s:02}{}{}",
                dates[d as usize],
                if junk.len() > 2 { junk.as_str() } else { "" },
                if utc { " UTC" } else { "" }
            );
            prop_assert_eq!(parse_datetime_utc_cached(&text, &mut cache), parse_datetime_utc(&text), "{}", text);
        }
    }
}
