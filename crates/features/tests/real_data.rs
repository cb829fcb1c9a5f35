//! Protocols, splits and feature values on the bundled real samples. The expected numbers
//! were computed independently with pandas by `scripts/expected_counts.py` on the same
//! files (REES46 by native session id; Taobao by a 30-minute gap after the documented
//! window), not by this crate.

mod common;

use common::{rees46, taobao};
use shopsense_events::EventTable;
use shopsense_features::{
    build_features, fit_encoders, prefixes, rolling_origin_folds, rolling_origin_folds_by_time,
    temporal_split, user_histories, FeatureSpec, Prefix, Protocol, Split, UserHistory,
};
use shopsense_sessions::Sessions;

struct Expect {
    protocol: &'static str,
    rows: usize,
    positives: usize,
    visible: u64,
    split: (usize, usize, usize),
}

fn check_protocols(t: &EventTable, s: &Sessions, expect: &[Expect]) {
    for e in expect {
        let protocol: Protocol = e.protocol.parse().unwrap();
        let ps = prefixes(t, s, protocol).unwrap();
        assert_eq!(ps.len(), e.rows, "{}", e.protocol);
        assert_eq!(
            ps.iter().filter(|p| p.label).count(),
            e.positives,
            "{}",
            e.protocol
        );
        let visible: u64 = ps.iter().map(|p| p.len as u64).sum();
        assert_eq!(visible, e.visible, "{}", e.protocol);
        let sp = temporal_split(&ps, Split::DEFAULT_FRACTIONS).unwrap();
        assert_eq!(
            (sp.train.len(), sp.valid.len(), sp.test.len()),
            e.split,
            "{}",
            e.protocol
        );
        // Nothing visible is a purchase; the cutoff is the last visible event; at-cart ends
        // on a cart; early-k sees k events.
        for p in &ps {
            let ev = s.events(p.session as usize);
            let vis = &ev[..p.len as usize];
            assert!(vis.iter().all(|&r| t.kind[r as usize] != 3));
            assert_eq!(p.cutoff_ms, t.time_ms[vis[vis.len() - 1] as usize]);
            assert_eq!(p.start_ms, t.time_ms[ev[0] as usize]);
            match protocol {
                Protocol::AtCart => {
                    assert_eq!(t.kind[vis[vis.len() - 1] as usize], 1);
                    assert!(vis[..vis.len() - 1]
                        .iter()
                        .all(|&r| t.kind[r as usize] != 1));
                }
                Protocol::EarlyK(k) => assert_eq!(p.len, k),
                Protocol::Full => {
                    assert!(p.len as usize == ev.len() || t.kind[ev[p.len as usize] as usize] == 3)
                }
            }
        }
    }
}

#[test]
fn rees46_prefix_counts_match_pandas() {
    let (t, s) = rees46();
    assert_eq!(s.len(), 5_066);
    check_protocols(
        &t,
        &s,
        &[
            // 5,066 sessions − 1 that starts with a purchase; 200 buyers − that one.
            Expect {
                protocol: "full",
                rows: 5_065,
                positives: 199,
                visible: 16_974,
                split: (3_039, 757, 1_269),
            },
            Expect {
                protocol: "early-3",
                rows: 1_973,
                positives: 85,
                visible: 5_919,
                split: (1_184, 295, 494),
            },
            Expect {
                protocol: "at-cart",
                rows: 117,
                positives: 64,
                visible: 434,
                split: (69, 19, 29),
            },
        ],
    );
}

#[test]
fn taobao_prefix_counts_match_pandas() {
    let (t, s) = taobao();
    assert_eq!(s.len(), 14_097);
    check_protocols(
        &t,
        &s,
        &[
            Expect {
                protocol: "full",
                rows: 13_595,
                positives: 843,
                visible: 77_919,
                split: (8_157, 2_039, 3_399),
            },
            Expect {
                protocol: "early-3",
                rows: 7_389,
                positives: 594,
                visible: 22_167,
                split: (4_433, 1_109, 1_847),
            },
            Expect {
                protocol: "at-cart",
                rows: 2_616,
                positives: 172,
                visible: 13_178,
                split: (1_570, 392, 654),
            },
        ],
    );
}

/// Column sums of the `full` matrix (pandas).
struct FullSums {
    views: f64,
    carts: f64,
    duration_s: f64,
    distinct_items: f64,
    prev_sessions: f64,
    prev_purchases: f64,
}

/// Column sums of the `full` matrix against pandas, and user-history sums.
fn check_full_sums(t: &EventTable, s: &Sessions, want: FullSums) {
    let spec = FeatureSpec::default();
    let ps = prefixes(t, s, Protocol::Full).unwrap();
    let enc = fit_encoders(t, s, &ps, &spec).unwrap();
    let rows: Vec<usize> = (0..ps.len()).collect();
    let m = build_features(t, s, &ps, &rows, &enc, &spec, None).unwrap();
    assert_eq!(m.n_rows, ps.len());
    assert_eq!(m.n_cols, spec.features.len());
    assert_eq!(m.data.len(), m.n_rows * m.n_cols);
    let sum = |name: &str| -> f64 {
        let j = m.column_index(name).unwrap();
        m.column(j).iter().map(|&v| v as f64).sum()
    };
    assert_eq!(sum("n_view"), want.views);
    assert_eq!(sum("n_cart"), want.carts);
    assert_eq!(sum("n_purchase"), 0.0);
    assert_eq!(sum("duration_s"), want.duration_s);
    assert_eq!(sum("distinct_items"), want.distinct_items);
    assert_eq!(sum("user_prev_sessions"), want.prev_sessions);
    assert_eq!(sum("user_prev_purchases"), want.prev_purchases);
    assert_eq!(sum("since_last_s"), 0.0);
    let total_events: f64 = ps.iter().map(|p| p.len as f64).sum();
    assert_eq!(sum("n_events"), total_events);
    // Bounds that hold by definition.
    for (i, p) in ps.iter().enumerate() {
        let r = m.row(i);
        let g = |n: &str| r[m.column_index(n).unwrap()];
        assert!(g("hour") >= 0.0 && g("hour") < 24.0);
        assert!(g("dow") >= 0.0 && g("dow") < 7.0);
        assert_eq!(g("hour_dow"), g("dow") * 24.0 + g("hour"));
        assert!(g("distinct_items") <= g("n_events"));
        assert!(g("max_item_repeats") >= 1.0 && g("max_item_repeats") <= g("n_events"));
        for n in ["item_cart_rate_mean", "item_buy_rate_max", "item_pop_last"] {
            assert!(g(n).is_finite() && g(n) >= 0.0, "{n}");
        }
        for n in ["last_cat_hash", "top_cat_hash"] {
            assert!(g(n).is_nan() || (g(n) >= 0.0 && g(n) < 1024.0 && g(n).fract() == 0.0));
        }
        assert_eq!(m.labels[i], p.label as u8);
    }
}

#[test]
fn rees46_full_feature_sums_match_pandas() {
    let (t, s) = rees46();
    check_full_sums(
        &t,
        &s,
        FullSums {
            views: 16_819.0,
            carts: 155.0,
            duration_s: 650_010.0,
            distinct_items: 12_206.0,
            prev_sessions: 766.0,
            prev_purchases: 33.0,
        },
    );
}

#[test]
fn taobao_full_feature_sums_match_pandas() {
    let (t, s) = taobao();
    check_full_sums(
        &t,
        &s,
        FullSums {
            views: 71_401.0,
            carts: 4_254.0,
            duration_s: 8_678_244.0,
            distinct_items: 69_312.0,
            prev_sessions: 151_638.0,
            prev_purchases: 18_489.0,
        },
    );
}

#[test]
fn taobao_without_price_or_brand_gives_nan_and_constants() {
    let (t, s) = taobao();
    let spec = FeatureSpec::default();
    let ps = prefixes(&t, &s, Protocol::Full).unwrap();
    let enc = fit_encoders(&t, &s, &ps, &spec).unwrap();
    assert!(enc.brands.is_empty());
    let rows: Vec<usize> = (0..500).collect();
    let m = build_features(&t, &s, &ps, &rows, &enc, &spec, None).unwrap();
    for i in 0..m.n_rows {
        let r = m.row(i);
        let g = |n: &str| r[m.column_index(n).unwrap()];
        for n in [
            "price_mean",
            "price_max",
            "price_min",
            "price_std",
            "price_last",
            "last_brand_hash",
            "top_brand_hash",
            "brand_cart_rate_mean",
            "brand_buy_rate_last",
            "brand_unseen_last",
        ] {
            assert!(g(n).is_nan(), "{n}");
        }
        assert_eq!(g("has_price"), 0.0);
        assert_eq!(g("distinct_brands"), 0.0);
        assert!(g("distinct_categories") >= 1.0);
        assert!(!g("top_cat_hash").is_nan());
    }
}

#[test]
fn split_parts_are_ordered_in_time_and_folds_expand() {
    for (t, s) in [rees46(), taobao()] {
        for proto in ["full", "early-3", "at-cart"] {
            let ps = prefixes(&t, &s, proto.parse().unwrap()).unwrap();
            let sp = temporal_split(&ps, Split::DEFAULT_FRACTIONS).unwrap();
            let starts = |v: &[usize]| v.iter().map(|&i| ps[i].start_ms).collect::<Vec<_>>();
            let (tr, va, te) = (starts(&sp.train), starts(&sp.valid), starts(&sp.test));
            assert!(tr.windows(2).all(|w| w[0] <= w[1]));
            let max_tr = *tr.iter().max().unwrap();
            let min_va = *va.iter().min().unwrap();
            let max_va = *va.iter().max().unwrap();
            let min_te = *te.iter().min().unwrap();
            assert!(max_tr < min_va && max_va < min_te, "{proto}");
            assert_eq!(min_va, sp.valid_start_ms);
            assert_eq!(min_te, sp.test_start_ms);
            let mut all: Vec<usize> =
                [sp.train.clone(), sp.valid.clone(), sp.test.clone()].concat();
            all.sort_unstable();
            assert_eq!(all, (0..ps.len()).collect::<Vec<_>>());

            let folds = rolling_origin_folds(&sp.train, 3).unwrap();
            assert_eq!(folds.len(), 3);
            for (i, (a, b)) in folds.iter().enumerate() {
                let last_a = a.iter().map(|&j| ps[j].start_ms).max().unwrap();
                let first_b = b.iter().map(|&j| ps[j].start_ms).min().unwrap();
                assert!(last_a <= first_b);
                if i > 0 {
                    assert!(a.len() > folds[i - 1].0.len());
                    assert_eq!(&a[..folds[i - 1].0.len()], &folds[i - 1].0[..]);
                }
            }
            assert_eq!(folds[2].0.len() + folds[2].1.len(), sp.train.len());
            let strict = rolling_origin_folds_by_time(&ps, &sp.train, 3).unwrap();
            for (a, b) in &strict {
                let last_a = a.iter().map(|&j| ps[j].start_ms).max().unwrap();
                let first_b = b.iter().map(|&j| ps[j].start_ms).min().unwrap();
                assert!(last_a < first_b, "{proto}");
            }
        }
    }
}

/// The user history of every session, by brute force over all events and sessions.
fn brute_histories(t: &EventTable, s: &Sessions) -> Vec<UserHistory> {
    let start: Vec<i64> = (0..s.len())
        .map(|i| t.time_ms[s.events(i)[0] as usize])
        .collect();
    let mut by_user: std::collections::HashMap<u32, Vec<usize>> = Default::default();
    for i in 0..s.len() {
        by_user.entry(s.user[i]).or_default().push(i);
    }
    let mut out = vec![UserHistory::default(); s.len()];
    for list in by_user.values() {
        for &i in list {
            let mut h = UserHistory::default();
            for &j in list {
                if start[j] < start[i] {
                    h.sessions += 1;
                }
                let mut bought = false;
                for &r in s.events(j) {
                    let r = r as usize;
                    if t.time_ms[r] < start[i] {
                        h.events += 1;
                        h.carts += (t.kind[r] == 1) as u32;
                        h.purchases += (t.kind[r] == 3) as u32;
                        bought |= t.kind[r] == 3;
                        h.last_event_ms = Some(
                            h.last_event_ms
                                .map_or(t.time_ms[r], |l: i64| l.max(t.time_ms[r])),
                        );
                    }
                }
                h.purchase_sessions += bought as u32;
            }
            out[i] = h;
        }
    }
    out
}

#[test]
fn user_history_matches_brute_force_and_sees_only_the_past() {
    for (t, s) in [rees46(), taobao()] {
        let fast = user_histories(&t, &s).unwrap();
        let slow = brute_histories(&t, &s);
        assert_eq!(fast, slow);
        assert!(fast.iter().any(|h| h.sessions > 0));
    }
}

/// Keeps the signature of `Prefix` used: a prefix is plain data.
#[test]
fn prefix_is_plain_data() {
    let p = Prefix {
        session: 1,
        len: 2,
        label: true,
        start_ms: 3,
        cutoff_ms: 4,
    };
    let j = serde_json::to_string(&p).unwrap();
    assert_eq!(serde_json::from_str::<Prefix>(&j).unwrap(), p);
}
