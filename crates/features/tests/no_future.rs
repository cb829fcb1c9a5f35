//! Nothing at or after the cutoff reaches a row's features; nothing at or after the training
//! window's end reaches the encoders; training rows get out-of-fold priors.

mod common;

use common::{bits, prefix_of, rees46, taobao};
use shopsense_events::kind::{CART, PURCHASE, VIEW};
use shopsense_events::{EventKind, EventTable, NONE};
use shopsense_features::{
    build_features, features_for_events, fit_encoders, fit_oof_encoders, prefixes, temporal_split,
    Encoders, FeatureError, FeatureSpec, OofEncoders, Prefix, Protocol, Split, UserHistory,
};
use shopsense_sessions::{SessionConfig, Sessions};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Rewrites every event of `session` at position >= `len`: a purchase of another item in
/// another category and brand at ten times the price.
fn scramble_after(t: &mut EventTable, s: &Sessions, session: usize, len: usize) {
    let other_item = t.item[s.events((session + 1) % s.len())[0] as usize];
    for &r in &s.events(session)[len..] {
        let r = r as usize;
        t.kind[r] = PURCHASE;
        t.item[r] = other_item;
        t.price[r] = if t.price[r].is_nan() {
            1.0
        } else {
            t.price[r] * 10.0
        };
        t.category[r] = if t.category[r] == NONE { 0 } else { NONE };
        t.brand[r] = if t.brand[r] == NONE && !t.brands.is_empty() {
            0
        } else {
            NONE
        };
    }
}

fn one_row(
    t: &EventTable,
    s: &Sessions,
    p: Prefix,
    enc: &Encoders,
    spec: &FeatureSpec,
) -> Vec<f32> {
    build_features(t, s, &[p], &[0], enc, spec, None)
        .unwrap()
        .data
}

#[test]
fn rees46_features_ignore_changed_and_appended_events_after_the_cutoff() {
    let (t, s) = rees46();
    let spec = FeatureSpec::default();
    let ps = prefixes(&t, &s, Protocol::Full).unwrap();
    let enc = fit_encoders(&t, &s, &ps, &spec).unwrap();
    // Every protocol prefix that has events after it, plus early prefixes of long sessions.
    let mut cases: Vec<Prefix> = ps
        .iter()
        .filter(|p| (p.len as usize) < s.events(p.session as usize).len())
        .copied()
        .collect();
    cases.extend(
        (0..s.len())
            .filter(|&i| s.events(i).len() >= 6)
            .take(40)
            .map(|i| prefix_of(&t, &s, i, 2)),
    );
    cases.extend(ps.iter().step_by(97).copied()); // whole sessions: appends only
    assert!(cases.len() > 200, "{}", cases.len());
    for p in cases {
        let before = one_row(&t, &s, p, &enc, &spec);
        let si = p.session as usize;
        let mut t2 = t.clone();
        scramble_after(&mut t2, &s, si, p.len as usize);
        // Two more events of the same session after its end.
        let last = *s.events(si).last().unwrap() as usize;
        for (dt, kind) in [(1_000, EventKind::Cart), (2_000, EventKind::Purchase)] {
            let mut e = t.event(last);
            e.time_ms += dt;
            e.kind = kind;
            e.item_id = "999999999".into();
            e.price = Some(12_345.0);
            t2.push_event(&e);
        }
        let s2 = Sessions::build(&t2, &SessionConfig::default());
        assert_eq!(
            s2.events(si)[..p.len as usize],
            s.events(si)[..p.len as usize]
        );
        assert_eq!(s2.events(si).len(), s.events(si).len() + 2);
        let after = one_row(&t2, &s2, p, &enc, &spec);
        assert_eq!(bits(&before), bits(&after), "session {si} len {}", p.len);
    }
}

#[test]
fn taobao_features_ignore_changed_events_after_the_cutoff() {
    let (t, s) = taobao();
    let spec = FeatureSpec::default();
    for proto in [Protocol::Full, Protocol::EarlyK(3), Protocol::AtCart] {
        let ps = prefixes(&t, &s, proto).unwrap();
        let enc = fit_encoders(&t, &s, &ps, &spec).unwrap();
        let rows: Vec<usize> = (0..ps.len()).collect();
        let before = build_features(&t, &s, &ps, &rows, &enc, &spec, None).unwrap();
        // Scramble the future of every prefix at once (user histories only look before a
        // session's start, and a session's future lies after its own start).
        let mut t2 = t.clone();
        for p in &ps {
            scramble_after(&mut t2, &s, p.session as usize, p.len as usize);
        }
        let mut changed = 0;
        for (a, b) in t.kind.iter().zip(&t2.kind) {
            changed += (a != b) as usize;
        }
        assert!(changed > 1_000, "{changed}");
        let s2 = Sessions::build(&t2, &SessionConfig::default());
        assert_eq!(s2.order, s.order);
        let after = build_features(&t2, &s2, &ps, &rows, &enc, &spec, None).unwrap();
        // User histories legitimately see the scrambled events of earlier sessions; compare
        // everything else.
        let user_cols: Vec<usize> = (0..before.n_cols)
            .filter(|&j| before.names[j].starts_with("user_"))
            .collect();
        let mut differ_user = 0;
        for i in 0..before.n_rows {
            for j in 0..before.n_cols {
                let (x, y) = (before.row(i)[j], after.row(i)[j]);
                if user_cols.contains(&j) {
                    differ_user += (x.to_bits() != y.to_bits()) as usize;
                } else {
                    assert_eq!(
                        x.to_bits(),
                        y.to_bits(),
                        "{proto} row {i} {}",
                        before.names[j]
                    );
                }
            }
        }
        assert!(
            differ_user > 0,
            "the scramble should reach later sessions' histories"
        );
    }
}

#[test]
fn encoders_ignore_events_at_or_after_the_training_window_end() {
    for (t, s) in [rees46(), taobao()] {
        let spec = FeatureSpec::default();
        let ps = prefixes(&t, &s, Protocol::Full).unwrap();
        let sp = temporal_split(&ps, Split::DEFAULT_FRACTIONS).unwrap();
        let train: Vec<Prefix> = sp.train.iter().map(|&i| ps[i]).collect();
        let enc = fit_encoders(&t, &s, &train, &spec).unwrap();
        let oof = fit_oof_encoders(&t, &s, &train, &spec).unwrap();
        assert_eq!(
            enc.end_ms,
            train.iter().map(|p| p.start_ms).max().unwrap() + 1
        );
        assert!(enc.end_ms <= sp.valid_start_ms);
        assert_eq!(oof.end_ms, enc.end_ms);

        // Rewrite every event at or after the window end (validation and test sessions,
        // and the tails of training sessions that run past it).
        let mut t2 = t.clone();
        let mut n = 0;
        for r in 0..t2.len() {
            if t2.time_ms[r] >= enc.end_ms {
                t2.kind[r] = if t2.kind[r] == VIEW { PURCHASE } else { CART };
                t2.item[r] = t2.item[0];
                t2.category[r] = NONE;
                n += 1;
            }
        }
        assert!(n > 1_000);
        let s2 = Sessions::build(&t2, &SessionConfig::default());
        assert_eq!(fit_encoders(&t2, &s2, &train, &spec).unwrap(), enc);
        assert_eq!(fit_oof_encoders(&t2, &s2, &train, &spec).unwrap(), oof);

        // The test is sensitive: one changed event inside the window changes them.
        let mut t3 = t.clone();
        let r = (0..t3.len())
            .find(|&r| t3.time_ms[r] < enc.end_ms && t3.kind[r] == VIEW)
            .unwrap();
        t3.kind[r] = PURCHASE;
        assert_ne!(fit_encoders(&t3, &s, &train, &spec).unwrap(), enc);
    }
}

/// Counts by item key over the window's events of sessions outside group `f`, by hand.
fn recount(
    t: &EventTable,
    s: &Sessions,
    end: i64,
    spec: &FeatureSpec,
    f: u64,
) -> std::collections::HashMap<u64, [u64; 3]> {
    let mut m: std::collections::HashMap<u64, [u64; 3]> = Default::default();
    for r in 0..t.len() {
        let sess = s.of_event[r];
        let g = xxh3_64_with_seed(&sess.to_le_bytes(), spec.oof_seed) % spec.oof_folds as u64;
        if t.time_ms[r] >= end || g == f {
            continue;
        }
        let key = xxh3_64_with_seed(t.items.get(t.item[r]).as_bytes(), spec.key_seed);
        let c = m.entry(key).or_default();
        match t.kind[r] {
            VIEW => c[0] += 1,
            CART => c[1] += 1,
            PURCHASE => c[2] += 1,
            _ => {}
        }
    }
    m.retain(|_, c| c.iter().any(|&x| x > 0));
    m
}

#[test]
fn oof_priors_exclude_the_rows_own_group_and_differ_from_in_sample() {
    let (t, s) = rees46();
    let spec = FeatureSpec::default();
    let ps = prefixes(&t, &s, Protocol::Full).unwrap();
    let sp = temporal_split(&ps, Split::DEFAULT_FRACTIONS).unwrap();
    let train: Vec<Prefix> = sp.train.iter().map(|&i| ps[i]).collect();
    let enc = fit_encoders(&t, &s, &train, &spec).unwrap();
    let oof: OofEncoders = fit_oof_encoders(&t, &s, &train, &spec).unwrap();
    assert_eq!(oof.folds.len(), 5);

    // Each group's encoders are exactly the window minus that group (recounted by hand).
    for (f, e) in oof.folds.iter().enumerate() {
        let want = recount(&t, &s, enc.end_ms, &spec, f as u64);
        assert_eq!(e.items.len(), want.len());
        for kc in &e.items {
            let c = want[&kc.key];
            assert_eq!([kc.counts.views, kc.counts.carts, kc.counts.purchases], c);
        }
        assert!(e.global.views < enc.global.views);
    }

    // Training rows: the prior columns change, nothing else does.
    let with = build_features(&t, &s, &ps, &sp.train, &enc, &spec, Some(&oof)).unwrap();
    let without = build_features(&t, &s, &ps, &sp.train, &enc, &spec, None).unwrap();
    let prior_col = |n: &str| n.contains("_rate_") || n.contains("_pop_") || n.contains("unseen");
    let j_buy = with.column_index("item_buy_rate_last").unwrap();
    let mut differ = 0;
    for i in 0..with.n_rows {
        for j in 0..with.n_cols {
            let (a, b) = (with.row(i)[j], without.row(i)[j]);
            if !prior_col(&with.names[j]) {
                assert_eq!(a.to_bits(), b.to_bits(), "{}", with.names[j]);
            }
        }
        differ += (with.row(i)[j_buy] != without.row(i)[j_buy]) as usize;
    }
    assert!(differ * 2 > with.n_rows, "{differ} of {}", with.n_rows);

    // In-sample priors leak the label: a buyer's own purchase inflates its items' buy rate.
    // Out of fold, the gap between buyers and non-buyers shrinks.
    let gap = |m: &shopsense_features::FeatureMatrix| {
        let (mut p, mut np, mut q, mut nq) = (0f64, 0f64, 0f64, 0f64);
        for i in 0..m.n_rows {
            let v = m.row(i)[j_buy] as f64;
            if m.labels[i] == 1 {
                p += v;
                np += 1.0;
            } else {
                q += v;
                nq += 1.0;
            }
        }
        p / np - q / nq
    };
    let (g_in, g_oof) = (gap(&without), gap(&with));
    eprintln!(
        "item_buy_rate_last buyers - non-buyers: in-sample {g_in:.5}, out-of-fold {g_oof:.5}"
    );
    assert!(
        g_in > 2.0 * g_oof.max(0.0),
        "in-sample gap {g_in}, oof gap {g_oof}"
    );

    // A row uses exactly its group's encoders.
    for (f, e) in oof.folds.iter().enumerate() {
        let rows: Vec<usize> = sp
            .train
            .iter()
            .copied()
            .filter(|&i| {
                xxh3_64_with_seed(&ps[i].session.to_le_bytes(), spec.oof_seed) % 5 == f as u64
            })
            .collect();
        let direct = build_features(&t, &s, &ps, &rows, e, &spec, None).unwrap();
        let via = build_features(&t, &s, &ps, &rows, &enc, &spec, Some(&oof)).unwrap();
        assert_eq!(bits(&direct.data), bits(&via.data));
    }

    // Validation and test rows ignore `oof` (they are not in the window).
    let rest: Vec<usize> = sp.valid.iter().chain(&sp.test).copied().collect();
    let a = build_features(&t, &s, &ps, &rest, &enc, &spec, Some(&oof)).unwrap();
    let b = build_features(&t, &s, &ps, &rest, &enc, &spec, None).unwrap();
    assert_eq!(bits(&a.data), bits(&b.data));
}

#[test]
fn unseen_ids_get_the_global_rate_and_a_flag() {
    let (t, s) = rees46();
    let spec = FeatureSpec::default();
    let ps = prefixes(&t, &s, Protocol::Full).unwrap();
    let enc = fit_encoders(&t, &s, &ps, &spec).unwrap();
    let mut e = t.event(0);
    e.item_id = "no-such-item".into();
    e.category_id = Some("no-such-category".into());
    e.brand = Some("no-such-brand".into());
    let v = features_for_events(&[e], &enc, &spec, &UserHistory::default()).unwrap();
    let g = |n: &str| v[spec.features.iter().position(|x| x == n).unwrap()];
    assert_eq!(g("item_cart_rate_last"), enc.global_cart_rate() as f32);
    assert_eq!(g("item_buy_rate_last"), enc.global_buy_rate() as f32);
    assert_eq!(g("cat_buy_rate_last"), enc.global_buy_rate() as f32);
    assert_eq!(g("brand_cart_rate_last"), enc.global_cart_rate() as f32);
    assert_eq!(g("item_unseen_last"), 1.0);
    assert_eq!(g("item_unseen_share"), 1.0);
    assert_eq!(g("cat_unseen_last"), 1.0);
    assert_eq!(g("brand_unseen_last"), 1.0);
    assert_eq!(g("item_pop_last"), 0.0);
    // A known item is not flagged and is smoothed toward the global rate.
    let known = t.event(0);
    let c = enc.item(&known.item_id).unwrap();
    let v = features_for_events(&[known], &enc, &spec, &UserHistory::default()).unwrap();
    let g = |n: &str| v[spec.features.iter().position(|x| x == n).unwrap()];
    assert_eq!(g("item_unseen_last"), 0.0);
    let want = (c.purchases as f64 + 20.0 * enc.global_buy_rate()) / (c.views as f64 + 20.0);
    assert_eq!(g("item_buy_rate_last"), want as f32);
}

#[test]
fn encoders_round_trip_and_refuse_another_spec() {
    let (t, s) = taobao();
    let spec = FeatureSpec::with_protocol(Protocol::AtCart);
    let ps = prefixes(&t, &s, spec.protocol).unwrap();
    let enc = fit_encoders(&t, &s, &ps, &spec).unwrap();
    let back = Encoders::from_json(&enc.to_json().unwrap()).unwrap();
    assert_eq!(back, enc);
    let other = FeatureSpec {
        smoothing: 5.0,
        ..spec.clone()
    };
    let err = build_features(&t, &s, &ps, &[0], &enc, &other, None).unwrap_err();
    assert!(matches!(err, FeatureError::SpecMismatch { .. }), "{err}");
    assert!(fit_encoders(&t, &s, &[], &spec).is_err());
    let bad = Prefix {
        len: 10_000,
        ..ps[0]
    };
    assert!(build_features(&t, &s, &[bad], &[0], &enc, &spec, None).is_err());
    assert!(build_features(&t, &s, &ps, &[ps.len()], &enc, &spec, None).is_err());
}
