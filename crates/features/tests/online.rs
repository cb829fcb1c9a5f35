//! Online == offline, bit for bit: for every prefix of a sample of real sessions, the features
//! of a live session fed the same events equal the offline matrix row.

mod common;

use common::{bits, prefix_of, rees46, taobao};
use shopsense_events::EventTable;
use shopsense_features::{
    fit_encoders, fit_oof_encoders, prefixes, temporal_split, user_histories, FeatureBuilder,
    FeatureSpec, OnlineSession, Prefix, Protocol, Split,
};
use shopsense_sessions::Sessions;

fn check(t: &EventTable, s: &Sessions, spec: &FeatureSpec, sample: &[usize]) -> usize {
    let ps = prefixes(t, s, spec.protocol).unwrap();
    let sp = temporal_split(&ps, Split::DEFAULT_FRACTIONS).unwrap();
    let train: Vec<Prefix> = sp.train.iter().map(|&i| ps[i]).collect();
    let enc = fit_encoders(t, s, &train, spec).unwrap();
    // OOF encoders given too: the sample's late sessions are not training rows, so they must
    // use the whole-window encoders, as online.
    let oof = fit_oof_encoders(t, s, &train, spec).unwrap();
    let builder = FeatureBuilder::new(t, s, &enc, spec, Some(&oof)).unwrap();
    let hist = user_histories(t, s).unwrap();

    let mut all: Vec<Prefix> = Vec::new();
    for &si in sample {
        for len in 1..=s.events(si).len() {
            all.push(prefix_of(t, s, si, len));
        }
    }
    let rows: Vec<usize> = (0..all.len()).collect();
    let m = builder.build(&all, &rows).unwrap();

    // Reusing one matrix block after block (what batch scoring does) gives the same rows:
    // a larger block first, then halves in reverse order.
    let mut reused = shopsense_features::FeatureMatrix::default();
    builder.build_into(&all, &rows, &mut reused).unwrap();
    let half = rows.len() / 2;
    for part in [&rows[half..], &rows[..half]] {
        builder.build_into(&all, part, &mut reused).unwrap();
        let fresh = builder.build(&all, part).unwrap();
        assert_eq!(reused.n_rows, part.len());
        assert_eq!(bits(&reused.data), bits(&fresh.data));
        assert_eq!(reused.labels, fresh.labels);
        assert_eq!(reused.session, fresh.session);
        assert_eq!(
            bits(&m.data[part[0] * m.n_cols..][..fresh.data.len()]),
            bits(&fresh.data)
        );
    }

    let mut k = 0;
    let mut compared = 0;
    // One state reset for every session (what the stream does with timed-out sessions' state)
    // gives the rows a new one gives.
    let mut reused = OnlineSession::new(&enc, spec, Default::default()).unwrap();
    for &si in sample {
        let mut live = OnlineSession::new(&enc, spec, hist[si]).unwrap();
        reused.reset(hist[si]);
        for &r in s.events(si) {
            live.push(&t.event(r as usize));
            reused.push(&t.event(r as usize));
            let v = live.features();
            assert_eq!(
                bits(&v),
                bits(m.row(k)),
                "session {si}, {} events",
                live.len()
            );
            assert_eq!(bits(&reused.features()), bits(&v), "reset session {si}");
            k += 1;
            compared += 1;
        }
    }
    assert_eq!(k, all.len());
    compared
}

/// Late sessions (validation / test time), long ones first, plus some with carts.
fn sample(t: &EventTable, s: &Sessions, n: usize) -> Vec<usize> {
    let start = |i: usize| t.time_ms[s.events(i)[0] as usize];
    let mut ids: Vec<usize> = (0..s.len()).collect();
    ids.sort_by_key(|&i| std::cmp::Reverse(start(i)));
    let late: Vec<usize> = ids[..s.len() / 3].to_vec();
    let mut out: Vec<usize> = late
        .iter()
        .copied()
        .filter(|&i| s.events(i).len() >= 4)
        .take(n)
        .collect();
    out.extend(
        late.iter()
            .copied()
            .filter(|&i| s.events(i).iter().any(|&r| t.kind[r as usize] == 1))
            .take(n / 2),
    );
    out.extend(late.iter().copied().take(10));
    out.sort_unstable();
    out.dedup();
    out
}

#[test]
fn rees46_online_equals_offline_for_every_prefix() {
    let (t, s) = rees46();
    let smp = sample(&t, &s, 80);
    for proto in [Protocol::Full, Protocol::AtCart] {
        let n = check(&t, &s, &FeatureSpec::with_protocol(proto), &smp);
        assert!(n > 500, "{n}");
    }
}

#[test]
fn taobao_online_equals_offline_for_every_prefix() {
    let (t, s) = taobao();
    let spec = FeatureSpec {
        utc_offset_minutes: 480,
        ..FeatureSpec::with_protocol(Protocol::EarlyK(3))
    };
    let smp = sample(&t, &s, 120);
    let n = check(&t, &s, &spec, &smp);
    assert!(n > 1_000, "{n}");
}

#[test]
fn online_order_of_arrival_does_not_matter_for_distinct_times() {
    let (t, s) = rees46();
    let spec = FeatureSpec::default()
        .select(&[
            "n_events",
            "duration_s",
            "dwell_mean_s",
            "last_kind",
            "price_last",
            "item_buy_rate_last",
        ])
        .unwrap();
    let ps = prefixes(&t, &s, Protocol::Full).unwrap();
    let enc = fit_encoders(&t, &s, &ps, &spec).unwrap();
    let mut tested = 0;
    for si in 0..s.len() {
        let ev = s.events(si);
        let distinct = ev
            .windows(2)
            .all(|w| t.time_ms[w[0] as usize] < t.time_ms[w[1] as usize]);
        if ev.len() < 4 || !distinct {
            continue;
        }
        let mut a = OnlineSession::new(&enc, &spec, Default::default()).unwrap();
        let mut b = OnlineSession::new(&enc, &spec, Default::default()).unwrap();
        for &r in ev {
            a.push(&t.event(r as usize));
        }
        for &r in ev.iter().rev() {
            b.push(&t.event(r as usize));
        }
        assert_eq!(bits(&a.features()), bits(&b.features()));
        assert_eq!(a.n_features(), 6);
        tested += 1;
    }
    assert!(tested > 50);
}
