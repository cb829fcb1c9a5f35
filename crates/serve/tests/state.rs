//! The online state: TTL eviction, caps, user history from closed sessions, snapshots.

use shopsense_events::{Event, EventKind};
use shopsense_serve::{SessionStore, StateLimits};

fn ev(user: &str, session: &str, t: i64, kind: EventKind) -> Event {
    Event {
        time_ms: t,
        user_id: user.into(),
        session_id: Some(session.into()),
        item_id: "i1".into(),
        category_id: None,
        category_path: None,
        brand: None,
        price: Some(3.0),
        kind,
        order_id: None,
        source_file: None,
        source_line: 0,
    }
}

fn limits() -> StateLimits {
    StateLimits {
        ttl_ms: 1_000,
        max_sessions: 2,
        max_events_per_session: 3,
    }
}

#[test]
fn ttl_eviction_closes_sessions_into_the_user_history() {
    let s = SessionStore::new(limits());
    s.append(
        "s1",
        vec![
            ev("u", "s1", 10, EventKind::View),
            ev("u", "s1", 20, EventKind::Cart),
        ],
        0,
    );
    s.append("s1", vec![ev("u", "s1", 30, EventKind::Purchase)], 500);
    assert_eq!(s.evict_expired(1_400), 0);
    assert_eq!(s.sizes(), (1, 3, 0));
    assert_eq!(s.evict_expired(1_501), 1);
    assert_eq!(s.sizes(), (0, 0, 1));
    let next = s.append("s2", vec![ev("u", "s2", 5_000, EventKind::View)], 2_000);
    assert_eq!(next.history.sessions, 1);
    assert_eq!(next.history.events, 3);
    assert_eq!(next.history.carts, 1);
    assert_eq!(next.history.purchases, 1);
    assert_eq!(next.history.purchase_sessions, 1);
    assert_eq!(next.history.last_event_ms, Some(30));
}

#[test]
fn caps_on_sessions_and_events() {
    let s = SessionStore::new(limits());
    let long: Vec<Event> = (0..5).map(|i| ev("u", "a", i, EventKind::View)).collect();
    let a = s.append("a", long, 0);
    assert_eq!(a.events.len(), 3);
    assert_eq!(a.events[0].time_ms, 2);
    s.append("b", vec![ev("v", "b", 1, EventKind::View)], 1);
    s.append("c", vec![ev("w", "c", 1, EventKind::View)], 2);
    // "a" was the least recently touched.
    assert!(s.get("a").is_none());
    assert!(s.get("b").is_some() && s.get("c").is_some());
    assert_eq!(s.latest_of_user("w").map(|(k, _)| k), Some("c".to_string()));
}

#[test]
fn snapshot_round_trip_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("snap.json");
    let s = SessionStore::new(limits());
    assert_eq!(s.restore(&p, 0).unwrap(), 0);
    s.append("a", vec![ev("u", "a", 1, EventKind::Cart)], 100);
    s.snapshot(&p, 100).unwrap();
    let t = SessionStore::new(limits());
    assert_eq!(t.restore(&p, 200).unwrap(), 1);
    assert_eq!(t.get("a").unwrap().events, s.get("a").unwrap().events);
    // Restored after the TTL: closed at once.
    let u = SessionStore::new(limits());
    assert_eq!(u.restore(&p, 5_000).unwrap(), 0);
    std::fs::write(&p, b"garbage").unwrap();
    assert!(u.restore(&p, 0).is_err());
}

/// A snapshot file as JSON.
fn read_json(p: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).expect("read")).expect("json")
}

/// A change-tracked store where users a (a cart) and b (a view) each closed one session.
fn two_users_closed() -> SessionStore {
    let s = SessionStore::new(limits());
    s.track_changes();
    s.append("a1", vec![ev("a", "a1", 10, EventKind::Cart)], 0);
    s.append("b1", vec![ev("b", "b1", 10, EventKind::View)], 0);
    assert_eq!(s.evict_expired(2_000), 2);
    s
}

/// Incremental snapshots: `copy_changes` holds only the users whose history changed since
/// the previous copy, and a chain (full, then changes) restores the same histories as one
/// full snapshot.
#[test]
fn change_copies_hold_only_changed_users_and_a_chain_restores_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = two_users_closed();
    let full = dir.path().join("full.json");
    s.copy().snapshot(&full, 2_000).expect("full");
    // Only b changes after the full copy.
    s.append("b2", vec![ev("b", "b2", 3_000, EventKind::Purchase)], 3_000);
    assert_eq!(s.evict_expired(5_000), 1);
    let users_in = |p: &std::path::Path| -> Vec<String> {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(p).expect("read")).expect("json");
        let mut u: Vec<String> = v["users"]
            .as_object()
            .expect("users")
            .keys()
            .cloned()
            .collect();
        u.sort();
        u
    };
    let d1 = dir.path().join("d1.json");
    s.copy_changes().snapshot(&d1, 5_000).expect("delta");
    assert_eq!(users_in(&d1), vec!["b".to_string()], "only user b");
    assert_eq!(users_in(&full), vec!["a".to_string(), "b".to_string()]);
    // Nothing changed since: an empty change set.
    let d2 = dir.path().join("d2.json");
    s.copy_changes().snapshot(&d2, 5_000).expect("delta 2");
    assert!(users_in(&d2).is_empty());
    let whole = dir.path().join("whole.json");
    s.copy().snapshot(&whole, 5_000).expect("whole");

    let from_chain = SessionStore::new(limits());
    from_chain
        .restore_chain(&[full.clone(), d1.clone()], 5_000)
        .expect("chain");
    let from_full = SessionStore::new(limits());
    from_full.restore(&whole, 5_000).expect("whole");
    for (store, name) in [(&from_chain, "chain"), (&from_full, "full")] {
        let b = store.append("b3", vec![ev("b", "b3", 9_000, EventKind::View)], 9_000);
        assert_eq!(b.history.sessions, 2, "{name}");
        assert_eq!(b.history.purchases, 1, "{name}");
        let a = store.append("a2", vec![ev("a", "a2", 9_000, EventKind::View)], 9_000);
        assert_eq!(a.history.carts, 1, "{name}");
    }
    // A missing link is an error naming the file.
    let e = SessionStore::new(limits())
        .restore_chain(&[full, dir.path().join("missing.json")], 5_000)
        .expect_err("missing");
    assert!(e.to_string().contains("missing.json"), "{e}");
}

/// `write_copy` (a checkpoint's copy, serialised straight into its file) writes the bytes
/// `snapshot` writes, for a full copy and a change copy, into a directory it creates.
#[test]
fn write_copy_writes_what_snapshot_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = two_users_closed();
    s.append("c1", vec![ev("c", "c1", 2_500, EventKind::View)], 2_500);
    let full = s.copy();
    s.append("b2", vec![ev("b", "b2", 3_000, EventKind::Purchase)], 3_000);
    // c1 and b2 close; d1 is live in the change copy.
    assert_eq!(s.evict_expired(5_000), 2);
    s.append("d1", vec![ev("d", "d1", 4_500, EventKind::View)], 5_000);
    let delta = s.copy_changes();
    for (copy, name) in [(&full, "full"), (&delta, "delta")] {
        let (a, b) = (
            dir.path().join(format!("{name}-snapshot.json")),
            dir.path().join("new").join(format!("{name}-copy.json")),
        );
        copy.snapshot(&a, 5_000).expect("snapshot");
        copy.write_copy(&b, 5_000).expect("write_copy");
        let bytes = std::fs::read(&b).expect("read");
        assert_eq!(std::fs::read(&a).expect("read"), bytes, "{name}");
        assert!(bytes.len() > 100, "{name}: {} bytes", bytes.len());
        assert!(
            !b.with_extension("tmp").exists(),
            "{name}: temporary file left"
        );
    }
}

/// `append_one` keeps the same state as `append` of one event at a time: the session's
/// user is the one given for a new session, the event cap and the eviction of the least
/// recently touched session apply, and closed sessions fold into the same user histories
/// (tracked as changed, so an incremental copy writes them).
#[test]
fn append_one_keeps_the_state_append_keeps() {
    let events = [
        ("u", "a", 1, EventKind::View),
        ("u", "a", 2, EventKind::Cart),
        ("v", "b", 3, EventKind::View),
        ("u", "a", 4, EventKind::View),
        ("u", "a", 5, EventKind::Purchase),
        ("w", "c", 6, EventKind::View),
        ("u", "d", 7, EventKind::Cart),
    ];
    let (one, many) = (SessionStore::new(limits()), SessionStore::new(limits()));
    one.track_changes();
    many.track_changes();
    for (i, (u, s, t, k)) in events.iter().enumerate() {
        let (u, s, t) = (*u, *s, *t);
        let now = i as i64 * 100;
        let a = one.append_one(s, u, ev(u, s, t, k.clone()), now, |l| {
            (l.user_id.clone(), l.history, l.events.len())
        });
        let b = many.append(s, vec![ev(u, s, t, k.clone())], now);
        assert_eq!(
            a,
            (b.user_id.clone(), b.history, b.events.len()),
            "event {i}"
        );
    }
    // Capped at three events, two sessions kept ("b" evicted for "c", then "a" for "d").
    assert_eq!(one.get("a").map(|s| s.events.len()), None);
    assert_eq!(one.sizes(), many.sizes());
    assert_eq!(one.sizes(), (2, 2, 2));
    let d = one.get("d").expect("d is live");
    assert_eq!(d.user_id, "u");
    assert_eq!(d.history, many.get("d").expect("d").history);
    assert_eq!((d.history.sessions, d.history.events), (1, 3));
    assert_eq!(one.evict_expired(10_000), 2);
    assert_eq!(many.evict_expired(10_000), 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let (p, q) = (dir.path().join("one.json"), dir.path().join("many.json"));
    one.copy_changes().snapshot(&p, 0).expect("one");
    many.copy_changes().snapshot(&q, 0).expect("many");
    let users = |p: &std::path::Path| read_json(p)["users"].clone();
    assert_eq!(users(&p), users(&q));
    assert_eq!(users(&p)["u"]["sessions"], 2);
}

/// A checkpoint writer's mirror, kept from change copies only, writes the same full snapshot
/// as a full copy: users closed before the first copy, changed again, and new ones.
#[test]
fn a_mirror_kept_from_change_copies_writes_what_a_full_copy_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = two_users_closed();
    let mut mirror = shopsense_serve::UserMirror::default();
    s.copy_changes().update_mirror(&mut mirror);
    assert_eq!(mirror.len(), 2);
    s.append("b2", vec![ev("b", "b2", 3_000, EventKind::Purchase)], 3_000);
    s.append("c1", vec![ev("c", "c1", 3_000, EventKind::Cart)], 3_000);
    assert_eq!(s.evict_expired(5_000), 2);
    s.append("d1", vec![ev("d", "d1", 4_500, EventKind::View)], 5_000);
    let delta = s.copy_changes();
    delta.update_mirror(&mut mirror);
    assert_eq!(mirror.len(), 3);
    let (a, b) = (dir.path().join("mirror.json"), dir.path().join("full.json"));
    delta.write_copy_with(&mirror, &a, 5_000).expect("mirror");
    s.copy().write_copy(&b, 5_000).expect("full");
    let read = read_json;
    assert_eq!(read(&a), read(&b));
    assert_eq!(read(&a)["users"]["b"]["purchases"], 1);
    assert_eq!(read(&a)["sessions"]["d1"]["user_id"], "d");
}

/// A tracked store that is never copied keeps its change log short (each user's latest
/// change), and the copy that finally comes still holds every user's current history —
/// also of a user whose last change was long before.
#[test]
fn a_long_uncopied_change_log_keeps_every_users_latest_history() {
    let s = SessionStore::new(limits());
    s.track_changes();
    let close = |u: &str, i: i64, kind: EventKind| {
        let key = format!("{u}-{i}");
        s.append(&key, vec![ev(u, &key, i, kind)], i * 1_000);
        assert_eq!(s.evict_expired(i * 1_000 + 1_001), 1, "session {key}");
    };
    // x: two sessions, then never again.
    close("x", 0, EventKind::View);
    close("x", 1, EventKind::Cart);
    let users = ["u", "v", "w"];
    for i in 2..6_002i64 {
        let kind = if i % 7 == 0 {
            EventKind::Cart
        } else {
            EventKind::View
        };
        close(users[(i % 3) as usize], i, kind);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (p, q) = (dir.path().join("changes.json"), dir.path().join("all.json"));
    s.copy_changes().write_copy(&p, 0).expect("changes");
    s.copy().write_copy(&q, 0).expect("all");
    let users_of = |p: &std::path::Path| read_json(p)["users"].clone();
    assert_eq!(users_of(&p), users_of(&q));
    assert_eq!(users_of(&p)["x"]["sessions"], 2);
    assert_eq!(users_of(&p)["x"]["carts"], 1);
    assert_eq!(users_of(&p)["u"]["sessions"], 2_000);
    // Carts at i = 7, 14, …: those with i % 3 == 0 are u's (every 21st).
    assert_eq!(users_of(&p)["u"]["carts"], (21..6_002).step_by(21).count());
}
