//! A fast path for reading the event JSON that `replay` (and most producers) write: one flat
//! object, no whitespace, keys and strings without escapes. Anything else — whitespace,
//! escapes, unknown or repeated fields, missing required ones, nesting, non-canonical
//! numbers, invalid UTF-8 — returns `None`, and the caller reads the message with serde_json
//! instead, which also produces the error messages. When it answers, the answer is the
//! [`EventIn`] serde_json would give for the same bytes (tested against it on generated
//! messages).
//!
//! Why: serde_json's derived reader (field names with aliases, `Option` visitors, the
//! string-or-integer ids) was ≈ 8 k instructions per event, the largest single cost of a
//! stream consumer outside its state.

use shopsense_serve::wire::{EventIn, Id, Time};

/// The fields of [`EventIn`], by any of their names (serde aliases included).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Time,
    Kind,
    User,
    Session,
    Item,
    Category,
    CategoryPath,
    Brand,
    Price,
    Order,
}

const N_FIELDS: usize = 10;

fn field(key: &[u8]) -> Option<Field> {
    Some(match key {
        b"time" | b"event_time" | b"time_ms" => Field::Time,
        b"kind" | b"event_type" => Field::Kind,
        b"user_id" => Field::User,
        b"session_id" | b"user_session" => Field::Session,
        b"item_id" | b"product_id" => Field::Item,
        b"category_id" => Field::Category,
        b"category_path" | b"category_code" => Field::CategoryPath,
        b"brand" => Field::Brand,
        b"price" => Field::Price,
        b"order_id" => Field::Order,
        _ => return None,
    })
}

/// One value as read.
enum Val<'a> {
    Str(&'a str),
    /// A canonical JSON integer that fits an `i64`.
    Int(i64),
    /// Any other number's text (checked against the JSON grammar when it is used).
    Num(&'a [u8]),
    Null,
}

/// Reads a string body from `b[i..]` (just after its opening quote); returns the end (the
/// closing quote's index). `None` on an escape, a control character or the end of input.
#[inline]
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let rest = b.get(i..)?;
    let n = memchr::memchr2(b'"', b'\\', rest)?;
    if rest[n] != b'"' || rest[..n].iter().any(|&c| c < 0x20) {
        return None;
    }
    Some(i + n)
}

/// Whether `t` is a JSON number (RFC 8259 grammar).
fn json_number(t: &[u8]) -> bool {
    let digits = |i: &mut usize| {
        let s = *i;
        while t.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > s
    };
    let mut i = usize::from(t.first() == Some(&b'-'));
    match t.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if t.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(t.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(t.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == t.len()
}

/// The event in `payload`, or `None` when it is not in the plain form this path reads.
pub(crate) fn parse(payload: &[u8]) -> Option<EventIn> {
    // Valid UTF-8 as a whole: every slice between ASCII delimiters is then valid too.
    let s = std::str::from_utf8(payload).ok()?;
    let b = s.as_bytes();
    if b.first() != Some(&b'{') {
        return None;
    }
    let mut vals: [Option<Val<'_>>; N_FIELDS] = Default::default();
    let mut i = 1;
    loop {
        // Key.
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let end = string_end(b, i + 1)?;
        let f = field(&b[i + 1..end])?;
        i = end + 1;
        if b.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        // Value.
        let v = match *b.get(i)? {
            b'"' => {
                let end = string_end(b, i + 1)?;
                let v = Val::Str(&s[i + 1..end]);
                i = end + 1;
                v
            }
            b'n' => {
                if b.get(i..i + 4)? != b"null" {
                    return None;
                }
                i += 4;
                Val::Null
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                let t = &b[start..i];
                let digits = t.strip_prefix(b"-").unwrap_or(t);
                let integer = !digits.is_empty() && digits.iter().all(u8::is_ascii_digit);
                let canonical = integer && (digits == b"0" && t == b"0" || digits[0] != b'0');
                // Anything else (beyond an i64, "-0", fractions, exponents) is a number only
                // a price takes; ids refuse it, as serde does.
                match canonical {
                    true => s[start..i].parse().map_or(Val::Num(t), Val::Int),
                    false => Val::Num(t),
                }
            }
            _ => return None,
        };
        let slot = &mut vals[f as usize];
        if slot.is_some() {
            // A repeated field (or a field and its alias): serde's error.
            return None;
        }
        *slot = Some(v);
        match b.get(i)? {
            b',' => i += 1,
            b'}' => {
                if i + 1 != b.len() {
                    return None;
                }
                break;
            }
            _ => return None,
        }
    }
    let [time, kind, user, session, item, category, category_path, brand, price, order] = vals;
    let id = |v: Val<'_>| match v {
        Val::Str(s) => Some(Id::Str(s.to_owned())),
        Val::Int(n) => Some(Id::Int(n)),
        Val::Num(_) | Val::Null => None,
    };
    // `Some(None)`: absent or null; `None`: a value serde would refuse.
    let opt_id = |v: Option<Val<'_>>| match v {
        None | Some(Val::Null) => Some(None),
        Some(v) => id(v).map(Some),
    };
    let opt_str = |v: Option<Val<'_>>| match v {
        None | Some(Val::Null) => Some(None),
        Some(Val::Str(s)) => Some(Some(s.to_owned())),
        Some(_) => None,
    };
    Some(EventIn {
        time: match time? {
            Val::Str(s) => Time::Text(s.to_owned()),
            Val::Int(n) => Time::Ms(n),
            Val::Num(_) | Val::Null => return None,
        },
        kind: match kind? {
            Val::Str(s) => s.to_owned(),
            _ => return None,
        },
        user_id: id(user?)?,
        session_id: opt_id(session)?,
        item_id: id(item?)?,
        category_id: opt_id(category)?,
        category_path: opt_str(category_path)?,
        brand: opt_str(brand)?,
        price: match price {
            None | Some(Val::Null) => None,
            Some(Val::Int(n)) => Some(n as f64),
            // Both Rust's reader and serde_json's (with `float_roundtrip`) round correctly,
            // so a JSON number reads to the same bits; out of range is serde's error.
            Some(Val::Num(t)) => {
                if !json_number(t) {
                    return None;
                }
                let x: f64 = std::str::from_utf8(t).ok()?.parse().ok()?;
                if !x.is_finite() {
                    return None;
                }
                Some(x)
            }
            Some(Val::Str(_)) => return None,
        },
        order_id: opt_id(order)?,
    })
}

#[cfg(test)]
mod tests {
    use super::parse;
    use crate::processor::event_json;
    use proptest::prelude::*;
    use shopsense_serve::wire::EventIn;
    use std::path::Path;

    fn serde(payload: &[u8]) -> Option<EventIn> {
        serde_json::from_slice(payload).ok()
    }

    /// Every event of both real samples, as `replay` writes it, takes the fast path and reads
    /// as serde_json reads it.
    #[test]
    fn real_events_take_the_fast_path() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut n = 0;
        for f in [
            "data/taobao/UserBehavior_head.csv",
            "data/rees46/2019-Oct_head.csv",
        ] {
            let (_fmt, out) = shopsense_events::read_file_with(
                &root.join(f),
                &shopsense_events::Source::format(None),
                &shopsense_events::ReadOptions::default(),
            )
            .unwrap();
            for i in 0..out.table.len() {
                let j = event_json(&out.table.event(i));
                let fast = parse(j.as_bytes()).unwrap_or_else(|| panic!("{f} row {i}: {j}"));
                assert_eq!(
                    format!("{fast:?}"),
                    format!("{:?}", serde(j.as_bytes()).unwrap())
                );
                n += 1;
            }
        }
        // Every row of both samples (84,475 + 17,434).
        assert_eq!(n, 101_909);
    }

    #[test]
    fn other_forms_are_left_to_serde() {
        for j in [
            r#"{"time":1,"kind":"view","user_id":"u","item_id":"i"} "#,
            r#"{ "time":1,"kind":"view","user_id":"u","item_id":"i"}"#,
            r#"{"time":1,"kind":"vi\"ew","user_id":"u","item_id":"i"}"#,
            r#"{"time":1,"kind":"view","user_id":"u","item_id":"i","extra":1}"#,
            r#"{"time":1,"event_time":2,"kind":"view","user_id":"u","item_id":"i"}"#,
            r#"{"time":1,"kind":"view","user_id":"u"}"#,
            r#"{"time":01,"kind":"view","user_id":"u","item_id":"i"}"#,
            r#"{"time":-0,"kind":"view","user_id":"u","item_id":"i"}"#,
            r#"{"time":1.5,"kind":"view","user_id":"u","item_id":"i"}"#,
            r#"{"time":1,"kind":"view","user_id":9223372036854775808,"item_id":"i"}"#,
            r#"{"time":1,"kind":"view","user_id":"u","item_id":"i","price":"3"}"#,
            r#"{"time":1,"kind":"view","user_id":"u","item_id":"i","brand":7}"#,
            r#"{"time":1,"kind":null,"user_id":"u","item_id":"i"}"#,
            r#"{"time":1,"kind":"view","user_id":"u","item_id":["i"]}"#,
            "{\"time\":1,\"kind\":\"view\",\"user_id\":\"u\x01\",\"item_id\":\"i\"}",
        ] {
            assert!(parse(j.as_bytes()).is_none(), "{j}");
        }
        assert!(
            parse(b"{\"time\":1,\"kind\":\"view\",\"user_id\":\"\xff\",\"item_id\":\"i\"}")
                .is_none()
        );
        // The plain form, with aliases, nulls and numbers of every kind serde reads.
        let j = concat!(
            r#"{"event_time":"2019-10-01 00:00:00 UTC","event_type":"cart","user_id":-5,"#,
            r#""product_id":0,"user_session":null,"category_code":null,"brand":"é"#,
            "\u{7f}",
            r#"","price":1e2,"order_id":12,"category_id":"c"}"#
        );
        let fast = parse(j.as_bytes()).expect("plain");
        assert_eq!(
            format!("{fast:?}"),
            format!("{:?}", serde(j.as_bytes()).unwrap())
        );
    }

    /// Keys of the optional fields (aliases included), a required one again, or an unknown.
    fn key() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            8 => prop::sample::select(vec![
                "session_id",
                "user_session",
                "category_id",
                "category_path",
                "category_code",
                "brand",
                "price",
                "order_id",
            ]),
            1 => prop::sample::select(vec!["time", "event_time", "time_ms", "kind", "other"]),
        ]
    }

    fn plain_str() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 ._:-]{0,12}".prop_map(|s| format!("\"{s}\""))
    }

    fn int() -> impl Strategy<Value = String> {
        any::<i64>().prop_map(|n| n.to_string())
    }

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            int(),
            any::<f64>().prop_map(|x| format!("{x}")),
            any::<f64>().prop_map(|x| format!("{x:e}")),
            "-?[0-9]{1,4}(\\.[0-9]{0,3})?([eE][+-]?[0-9]{0,3})?",
        ]
    }

    /// Mostly a value of the field's own type, sometimes anything.
    fn typed(k: &str) -> BoxedStrategy<String> {
        let good: BoxedStrategy<String> = match k {
            "time" | "event_time" | "time_ms" => prop_oneof![int(), plain_str()].boxed(),
            "kind" | "category_path" | "category_code" | "brand" => plain_str().boxed(),
            "price" => number().boxed(),
            _ => prop_oneof![plain_str(), int()].boxed(),
        };
        let optional = !matches!(k, "time" | "kind" | "user_id" | "item_id");
        let good = if optional {
            prop_oneof![6 => good, 1 => Just("null".to_string())].boxed()
        } else {
            good
        };
        prop_oneof![8 => good, 1 => value()].boxed()
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[a-zA-Z0-9 ._:-]{0,12}".prop_map(|s| format!("\"{s}\"")),
            1 => "[a-z\"\\\\\u{1}\u{e9}\u{1F600}]{0,6}".prop_map(|s| format!("\"{s}\"")),
            1 => "[a-z]{0,3}\\\\[nt\"u][0-9a-f]{0,4}".prop_map(|s| format!("\"{s}\"")),
            3 => any::<i64>().prop_map(|n| n.to_string()),
            1 => any::<u64>().prop_map(|n| n.to_string()),
            2 => any::<f64>().prop_map(|x| format!("{x}")),
            1 => any::<f64>().prop_map(|x| format!("{x:e}")),
            1 => "-?[0-9]{1,4}(\\.[0-9]{0,3})?([eE][+-]?[0-9]{0,3})?",
            1 => Just("null".to_string()),
            1 => prop::sample::select(vec!["true", "[]", "{}", "nul", "-", "0x1", "-0", "00"])
                .prop_map(str::to_string),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20000))]

        /// Prices of every shape read to serde_json's bits (or are left to it).
        #[test]
        fn prices_read_like_serde(
            t in prop_oneof![
                any::<f64>().prop_map(|x| format!("{x}")),
                any::<f64>().prop_map(|x| format!("{x:e}")),
                any::<f64>().prop_map(|x| format!("{x:.17e}")),
                "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?",
                "[-+.0-9eE]{1,8}",
            ],
        ) {
            let j = format!(r#"{{"time":1,"kind":"view","user_id":"u","item_id":"i","price":{t}}}"#);
            if let Some(fast) = parse(j.as_bytes()) {
                let slow = serde(j.as_bytes());
                prop_assert!(slow.is_some(), "fast path read what serde refuses: {}", j);
                let (a, b) = (fast.price, slow.unwrap().price);
                prop_assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits), "{}", j);
            } else {
                // Left to serde only when it is not a plain finite JSON number.
                let slow = serde_json::from_str::<f64>(&t).ok().filter(|x| x.is_finite());
                prop_assert!(slow.is_none() || t.starts_with('+'), "{} not taken", j);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Whenever the fast path answers, serde_json reads the same bytes to the same value.
        #[test]
        fn fast_path_agrees_with_serde(
            required in (typed("time"), typed("kind"), typed("user_id"), typed("item_id")),
            extra in prop::collection::vec(
                key().prop_flat_map(|k| (Just(k), typed(k))),
                0..5,
            ),
            shuffle in any::<u64>(),
            ws in prop::sample::select(vec!["", "", "", "", "", "", " ", "\n"]),
        ) {
            let mut pairs = vec![
                ("time", required.0),
                ("kind", required.1),
                ("user_id", required.2),
                ("item_id", required.3),
            ];
            pairs.extend(extra);
            let r = shuffle as usize % pairs.len();
            pairs.rotate_left(r);
            let body: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\":{ws}{v}")).collect();
            let j = format!("{{{}}}", body.join(","));
            if let Some(fast) = parse(j.as_bytes()) {
                let slow = serde(j.as_bytes());
                prop_assert!(slow.is_some(), "fast path read what serde refuses: {}", j);
                prop_assert_eq!(format!("{fast:?}"), format!("{:?}", slow.unwrap()), "{}", j);
            }
        }
    }
}
