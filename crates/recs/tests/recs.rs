//! The recommendation and next-action pipelines on the real REES46 and Taobao samples.

use shopsense_events::{read_file, EventTable, ReadOptions};
use shopsense_recs::next_action::{ActionEvent, Family};
use shopsense_recs::{
    evaluate, temporal_split, Method, NextActionModel, NextActionParams, RecsError, RecsModel,
    RecsParams, SessionEvent,
};
use shopsense_sessions::{SessionConfig, Sessions};
use std::path::PathBuf;

fn data(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(p)
}

fn rees46() -> (EventTable, Sessions) {
    let (_, out) = read_file(
        &data("rees46/2019-Oct_head.csv"),
        None,
        &ReadOptions::default(),
    )
    .unwrap();
    let s = Sessions::build(&out.table, &SessionConfig::default());
    (out.table, s)
}

fn taobao() -> (EventTable, Sessions) {
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

fn check_ranker(name: &str, t: &EventTable, s: &Sessions) -> RecsModel {
    let (m, split) = RecsModel::train_split(t, s, 0.25, &RecsParams::default()).unwrap();
    assert!(m.has_ranker());
    let e = evaluate(&m, t, s, &split.test, 20_000, 7).unwrap();
    eprintln!("{name}: {}", serde_json::to_string_pretty(&e).unwrap());
    for task in &e.tasks {
        let r = task.get("ranker").unwrap();
        for base in ["popularity", "covis-knn"] {
            let b = task.get(base).unwrap();
            assert!(
                r.hr20 > b.hr20,
                "{name} {}: ranker HR@20 {} vs {base} {}",
                task.task,
                r.hr20,
                b.hr20
            );
            assert!(
                r.ndcg20 > b.ndcg20,
                "{name} {}: ranker NDCG@20 {} vs {base} {}",
                task.task,
                r.ndcg20,
                b.ndcg20
            );
        }
        for m in &task.methods {
            assert!(
                m.hr10 <= m.hr20
                    && m.mrr10 <= m.mrr20
                    && m.ndcg20 <= m.hr20
                    && m.mrr20 <= m.ndcg20 + 1e-12
            );
        }
    }
    m
}

#[test]
fn rees46_split_counts_ranker_and_round_trip() {
    let (t, s) = rees46();
    assert_eq!((t.len(), s.len()), (17_434, 5_066));
    let split = temporal_split(&t, &s, 0.25).unwrap();
    eprintln!("rees46 split {} / {}", split.train.len(), split.test.len());
    let m = check_ranker("rees46", &t, &s);

    // Bundle round trip: identical recommendations, similar items and audiences.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recs.json");
    m.save(&path).unwrap();
    let l = RecsModel::load(&path).unwrap();
    let user = m.stats.users.name(0).to_string();
    let item = m.stats.items.name(0).to_string();
    let sess = vec![SessionEvent {
        item: item.clone(),
        kind: "view".into(),
    }];
    assert_eq!(
        m.recommend(&user, &sess, 20, false).unwrap(),
        l.recommend(&user, &sess, 20, false).unwrap()
    );
    assert_eq!(m.similar(&item, 10).unwrap(), l.similar(&item, 10).unwrap());
    assert_eq!(
        m.audience(&item, 10).unwrap(),
        l.audience(&item, 10).unwrap()
    );
    let r = l.recommend(&user, &sess, 20, false).unwrap();
    assert_eq!(r.items.len(), 20);
    assert!(!r.cold_start);

    // A cold user gets the popularity list.
    let cold = l.recommend("no-such-user", &[], 20, false).unwrap();
    assert!(cold.cold_start);
    let pop: Vec<String> = l
        .rank(&Default::default(), Method::Popularity, 20)
        .unwrap()
        .into_iter()
        .map(|(i, _)| l.stats.items.name(i).to_string())
        .collect();
    assert_eq!(
        cold.items.iter().map(|x| x.id.clone()).collect::<Vec<_>>(),
        pop
    );

    // Unknown items: a typed error, never a panic.
    assert!(
        matches!(l.similar("no-such-item", 5), Err(RecsError::UnknownItem(i)) if i == "no-such-item")
    );
    assert!(matches!(
        l.audience("no-such-item", 5),
        Err(RecsError::UnknownItem(_))
    ));
    // Unknown session items are ignored: cold again.
    let r = l
        .recommend(
            "no-such-user",
            &[SessionEvent {
                item: "nope".into(),
                kind: "view".into(),
            }],
            5,
            false,
        )
        .unwrap();
    assert!(r.cold_start);
    // A corrupt bundle is an error naming the file.
    std::fs::write(&path, b"{\"format\":1}").unwrap();
    let e = RecsModel::load(&path).unwrap_err().to_string();
    assert!(e.contains("recs.json"), "{e}");
}

#[test]
fn taobao_ranker_beats_baselines() {
    let (t, s) = taobao();
    assert_eq!((t.len(), s.len()), (84_440, 14_097));
    let split = temporal_split(&t, &s, 0.25).unwrap();
    eprintln!("taobao split {} / {}", split.train.len(), split.test.len());
    check_ranker("taobao", &t, &s);
}

#[test]
fn next_action_beats_baselines() {
    for (name, (t, s)) in [("rees46", rees46()), ("taobao", taobao())] {
        let m = NextActionModel::train(&t, &s, &NextActionParams::default()).unwrap();
        let r = m.report.as_ref().unwrap();
        eprintln!(
            "{name} next-action classes {:?} rows {:?} sessions {:?} rounds {}: model macro-F1 {:.4} ll {:.4} acc {:.4}; majority {:.4} ll {:.4}; seed-rf {:.4} ll {:.4}\n{:?}",
            r.classes, r.rows, r.sessions, r.rounds, r.model.macro_f1, r.model.log_loss, r.model.accuracy,
            r.majority.macro_f1, r.majority.log_loss, r.seed_rf.macro_f1, r.seed_rf.log_loss, r.model.per_class
        );
        eprintln!(
            "{name} learner {:?}, validation macro-F1 {:?}; forests on all features (argmax) {:.4}",
            r.family,
            r.validation_macro_f1,
            r.forest_argmax.as_ref().unwrap().macro_f1
        );
        assert!(r.model.macro_f1 > r.majority.macro_f1, "{name}");
        // Decision weights are fitted on validation; the test part only scores them.
        assert_eq!(r.decision_weights.len(), r.classes.len());
        // The seed-style baseline (the reference's per-interaction forests on the
        // interaction's own attributes): measured 0.2394 on Taobao (model 0.4184) and 0.3298
        // on REES46 (model 0.4560), where its argmax never leaves `view`.
        assert!(r.model.macro_f1 > r.seed_rf.macro_f1 + 0.05, "{name}");
        let forest = r.forest_argmax.as_ref().unwrap().macro_f1;
        // Category and brand embeddings are features (and importance knows them).
        assert!(r.importance.iter().any(|(f, _)| f == "cat_emb0"), "{name}");
        assert!(
            r.importance.iter().any(|(f, _)| f == "brand_emb3"),
            "{name}"
        );
        if name == "taobao" {
            // 17k test interactions, four kinds; the same forests on all features: 0.2842.
            // On validation (out of sample) the blend wins: 0.3880 vs gbdt 0.3706.
            assert_eq!(r.family, Family::Blend, "{name}");
            assert!(r.model.macro_f1 > forest + 0.05, "{name}");
        } else {
            // REES46: 32 carts and 33 purchases among 3,141 test rows. On the validation part
            // the forests on all features win (0.500 vs blend 0.447 vs gbdt 0.440), so `auto`
            // decides with them: test 0.4560.
            assert_eq!(r.family, Family::Forest, "{name}");
            assert!(r.model.macro_f1 > 0.44, "{name}");
        }
        // `auto` keeps the best validation macro-F1 of the three learners it tried.
        assert_eq!(r.validation_macro_f1.len(), 3);
        let best = r
            .validation_macro_f1
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        assert_eq!(best.0, r.family);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("na.json");
        m.save(&path).unwrap();
        let l = NextActionModel::load(&path).unwrap();
        assert_eq!(l.family, m.family);
        {
            // Category (and, where the data has brands, brand) vectors of the wrong length
            // are refused at load.
            let mut v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let field = if name == "rees46" {
                "brand_emb"
            } else {
                "cat_emb"
            };
            let vecs = v[field].as_object_mut().unwrap();
            assert!(vecs.len() > 100, "{name}: {} {field}", vecs.len());
            for e in vecs.values_mut() {
                e.as_array_mut().unwrap().push(serde_json::json!(0.5));
            }
            let bad = dir.path().join("bad-brand.json");
            std::fs::write(&bad, serde_json::to_vec(&v).unwrap()).unwrap();
            let e = NextActionModel::load(&bad).unwrap_err().to_string();
            assert!(e.contains("inconsistent vector lengths"), "{e}");
        }
        if m.family != Family::Gbdt {
            // A forest-deciding bundle without its forests is refused, not mispredicted.
            let mut v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            v["forests"] = serde_json::json!([]);
            let bad = dir.path().join("bad.json");
            std::fs::write(&bad, serde_json::to_vec(&v).unwrap()).unwrap();
            let e = NextActionModel::load(&bad).unwrap_err().to_string();
            assert!(e.contains("needs one forest per class"), "{e}");
        }
        let ev = ActionEvent {
            item: t.items.get(t.item[0]).to_string(),
            category: None,
            brand: None,
            price: None,
            time_ms: t.time_ms[0],
            kind: None,
        };
        let a = m.predict("u", &[], &ev).unwrap();
        assert_eq!(a, l.predict("u", &[], &ev).unwrap());
        let sum: f64 = a.iter().map(|x| x.1).sum();
        assert!((sum - 1.0).abs() < 1e-6, "{a:?}");
    }
}

/// REES46 has 65 non-view test rows, so one seed says little: over five more seeds (forest
/// bootstrap and undersampling), the model stays well above the seed-style baseline.
#[test]
fn next_action_rees46_over_seeds() {
    let (t, s) = rees46();
    let (mut model, mut forest, mut seed_rf) = (0.0, 0.0, 0.0);
    for seed in 1..=5u64 {
        let p = NextActionParams {
            seed,
            ..Default::default()
        };
        let m = NextActionModel::train(&t, &s, &p).unwrap();
        let r = m.report.as_ref().unwrap();
        let f = r.forest_argmax.as_ref().unwrap().macro_f1;
        eprintln!(
            "rees46 next-action seed {seed}: {:?} model {:.4}, forests on all features {f:.4}, seed-rf {:.4}, majority {:.4}",
            r.family, r.model.macro_f1, r.seed_rf.macro_f1, r.majority.macro_f1
        );
        // Measured: model 0.4321 – 0.5012, seed-rf 0.3289 – 0.3886.
        assert!(r.model.macro_f1 > r.seed_rf.macro_f1 + 0.05, "seed {seed}");
        model += r.model.macro_f1 / 5.0;
        forest += f / 5.0;
        seed_rf += r.seed_rf.macro_f1 / 5.0;
    }
    eprintln!("rees46 next-action, mean of 5 seeds: model {model:.4}, forests {forest:.4}, seed-rf {seed_rf:.4}");
    // Measured means: model 0.4686, forests on all features (argmax) 0.5008, seed-rf 0.3697.
    assert!(model > seed_rf + 0.08);
}
