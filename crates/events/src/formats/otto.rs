//! OTTO recommender-systems JSON lines: one session per line,
//! `{"session":12899779,"events":[{"aid":59625,"ts":1661724000278,"type":"clicks"},…]}`.
//!
//! One line gives many events. OTTO has no user id, so the user *and* the session are the
//! `session` number; the item is the `aid`; `ts` is Unix milliseconds; `clicks`, `carts` and
//! `orders` become view, cart and purchase (any other identifier-like type is kept by name).
//! A line that is not valid JSON of that shape is rejected whole with
//! [`RejectReason::BadJson`] and emits nothing.
//!
//! Decoding is zero-copy where the input allows it: the JSON is walked with serde visitors
//! straight into a per-thread buffer that is reused from line to line, so a line allocates
//! nothing once the buffer has grown.

use crate::formats::rees46::is_kind_name;
use crate::formats::NumBuf;
use crate::kind::{KindRef, CART, PURCHASE, VIEW};
use crate::read::{LineParser, Scratch};
use crate::reject::RejectReason;
use crate::table::RawEvent;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;

/// Latest accepted `ts` (2100-01-01, in ms); earlier than 1970 is refused too.
const MAX_TS_MS: i64 = 4_102_444_800_000;

/// Parser for OTTO JSON lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct Otto;

/// A decoded event kind: a fixed code or an index into [`OttoScratch::other_kinds`].
#[derive(Debug, Clone, Copy)]
enum Kind {
    Fixed(u8),
    Other(usize),
    Bad,
}

#[derive(Debug, Clone, Copy)]
struct Ev {
    aid: u64,
    ts: i64,
    kind: Kind,
}

/// Per-thread reusable buffers.
#[derive(Debug, Default)]
struct OttoScratch {
    events: Vec<Ev>,
    other_kinds: Vec<String>,
    bad_kind: String,
}

#[derive(Deserialize)]
struct JsonEvent<'a> {
    aid: u64,
    ts: i64,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Key {
    Session,
    Events,
    #[serde(other)]
    Other,
}

/// Decodes one session object into the scratch buffer and returns the session number.
struct SessionSeed<'s> {
    buf: &'s mut OttoScratch,
}

impl<'de> DeserializeSeed<'de> for SessionSeed<'_> {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SessionSeed<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an OTTO session object {\"session\":…,\"events\":[…]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
        let buf = self.buf;
        let mut session = None;
        let mut events = false;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Session => {
                    if session.is_some() {
                        return Err(de::Error::duplicate_field("session"));
                    }
                    session = Some(map.next_value::<u64>()?);
                }
                Key::Events => {
                    if events {
                        return Err(de::Error::duplicate_field("events"));
                    }
                    map.next_value_seed(EventsSeed { buf: &mut *buf })?;
                    events = true;
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !events {
            return Err(de::Error::missing_field("events"));
        }
        session.ok_or_else(|| de::Error::missing_field("session"))
    }
}

/// Decodes the `events` array into the scratch buffer.
struct EventsSeed<'s> {
    buf: &'s mut OttoScratch,
}

impl<'de> DeserializeSeed<'de> for EventsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EventsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of {\"aid\":…,\"ts\":…,\"type\":…} objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let buf = self.buf;
        while let Some(e) = seq.next_element::<JsonEvent<'de>>()? {
            let kind = match e.kind.as_ref() {
                "clicks" => Kind::Fixed(VIEW),
                "carts" => Kind::Fixed(CART),
                "orders" => Kind::Fixed(PURCHASE),
                other if is_kind_name(other) => {
                    match buf.other_kinds.iter().position(|k| k == other) {
                        Some(i) => Kind::Other(i),
                        None => {
                            buf.other_kinds.push(other.to_string());
                            Kind::Other(buf.other_kinds.len() - 1)
                        }
                    }
                }
                other => {
                    if buf.bad_kind.is_empty() {
                        buf.bad_kind.push_str(other);
                        if other.is_empty() {
                            // Keep the marker non-empty so the first bad value wins.
                            buf.bad_kind.push_str("\"\"");
                        }
                    }
                    Kind::Bad
                }
            };
            buf.events.push(Ev {
                aid: e.aid,
                ts: e.ts,
                kind,
            });
        }
        Ok(())
    }
}

fn bad_json(e: serde_json::Error) -> RejectReason {
    let mut message = e.to_string();
    if message.len() > 200 {
        let mut end = 200;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
    }
    RejectReason::BadJson { message }
}

impl LineParser for Otto {
    fn header_lines(&self) -> u64 {
        0
    }

    fn parse_line(
        &self,
        line: &str,
        scratch: &mut Scratch,
        emit: &mut dyn FnMut(&RawEvent<'_>),
    ) -> Result<(), RejectReason> {
        let buf = scratch.state::<OttoScratch>();
        buf.events.clear();
        buf.bad_kind.clear();
        let mut de = serde_json::Deserializer::from_str(line);
        let session = SessionSeed { buf: &mut *buf }
            .deserialize(&mut de)
            .map_err(bad_json)?;
        de.end().map_err(bad_json)?;
        if !buf.bad_kind.is_empty() {
            let v = if buf.bad_kind == "\"\"" {
                ""
            } else {
                &buf.bad_kind
            };
            return Err(RejectReason::unknown_kind("type", v));
        }
        if let Some(e) = buf.events.iter().find(|e| !(0..=MAX_TS_MS).contains(&e.ts)) {
            return Err(RejectReason::bad_time("ts", &e.ts.to_string()));
        }
        let mut sbuf = NumBuf::new();
        let session = sbuf.u64(session);
        let mut abuf = NumBuf::new();
        for e in &buf.events {
            let kind = match e.kind {
                Kind::Fixed(c) => KindRef::Fixed(c),
                Kind::Other(i) => KindRef::Other(&buf.other_kinds[i]),
                Kind::Bad => continue,
            };
            emit(&RawEvent {
                time_ms: e.ts,
                user: session,
                session: Some(session),
                item: abuf.u64(e.aid),
                category: None,
                category_path: None,
                brand: None,
                price: None,
                kind,
                order: None,
            });
        }
        Ok(())
    }

    fn truncated(&self, reason: RejectReason) -> RejectReason {
        // A JSON line cut short fails to decode; keep the decoder's message, which says
        // where the input ended.
        reason
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::{CART, VIEW};

    fn parse(line: &str) -> Result<Vec<(i64, String, String, KindRef<'static>)>, RejectReason> {
        let mut s = Scratch::default();
        let mut out = Vec::new();
        Otto.parse_line(line, &mut s, &mut |e| {
            let k = match e.kind {
                KindRef::Fixed(c) => KindRef::Fixed(c),
                KindRef::Other(_) => KindRef::Other("other"),
            };
            assert_eq!(e.session, Some(e.user));
            out.push((e.time_ms, e.user.to_string(), e.item.to_string(), k));
        })?;
        Ok(out)
    }

    #[test]
    fn one_line_many_events() {
        let got = parse(
            r#"{"session":7,"events":[{"aid":5,"ts":1000,"type":"clicks"},{"type":"carts","ts":2000,"aid":6,"x":[1]}],"extra":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                (1000, "7".into(), "5".into(), KindRef::Fixed(VIEW)),
                (2000, "7".into(), "6".into(), KindRef::Fixed(CART)),
            ]
        );
        // Keys in any order, escapes in the type.
        let got =
            parse(r#"{"events":[{"aid":1,"ts":1,"type":"or\u0064ers"}],"session":1}"#).unwrap();
        assert_eq!(got[0].3, KindRef::Fixed(PURCHASE));
        assert_eq!(parse(r#"{"session":1,"events":[]}"#).unwrap(), vec![]);
    }

    #[test]
    fn bad_lines_emit_nothing() {
        for line in [
            r#"{"session":1,"events":[{"aid":1,"ts":1,"type":"clicks"},{"aid":"x","ts":1,"type":"clicks"}]}"#,
            r#"{"session":1,"events":[{"aid":1,"ts":1,"type":"clicks"}"#,
            r#"{"session":1}"#,
            r#"{"events":[]}"#,
            r#"{"session":1,"session":2,"events":[]}"#,
            r#"{"session":1,"events":[]} x"#,
            r#"[1,2]"#,
            r#"{"session":-1,"events":[]}"#,
        ] {
            let mut n = 0;
            let r = Otto.parse_line(line, &mut Scratch::default(), &mut |_| n += 1);
            assert_eq!(r.as_ref().map_err(|e| e.code()), Err("bad_json"), "{line}");
            assert_eq!(n, 0);
        }
        let r = parse(r#"{"session":1,"events":[{"aid":1,"ts":1,"type":"no way"}]}"#);
        assert_eq!(r.unwrap_err().code(), "unknown_kind");
        let r = parse(r#"{"session":1,"events":[{"aid":1,"ts":-5,"type":"clicks"}]}"#);
        assert_eq!(r.unwrap_err().code(), "bad_time");
    }
}
