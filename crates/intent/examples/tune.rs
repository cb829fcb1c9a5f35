//! Tuning harness (not a test): scores GBDT settings **only** on rolling-origin folds inside
//! the training part and on the validation part — never on the test part.
//!
//! ```text
//! cargo run --release -p shopsense-intent --example tune -- taobao full 'base' 'drop=hash' 'num_leaves=7;imb=weights'
//! ```
//!
//! A variant is `key=value` pairs separated by `;`: `drop=hash,user,enc,time,price` (feature
//! groups), `keep=six|six+` (only the reference six, or six + cheap extras), `imb=weights|
//! undersample`, `oof=user`, `smoothing=M`, `es=auc`, and any `GbdtParams` number field
//! (`num_leaves=7`, `learning_rate=0.05`, `min_data_in_leaf=100`, `feature_fraction=0.5`,
//! `lambda_l2=5`, `max_bin=63`, …). Each variant is trained with seeds 1..=S (env `SEEDS`,
//! default 3); printed: mean ± sd of ROC-AUC and PR-AUC over folds × seeds, and on the
//! validation part (model trained on the training part, early stopping on the last fold's
//! validation block).

use shopsense_events::{read_file, ReadOptions};
use shopsense_features::{FeatureSpec, OofBy, Protocol};
use shopsense_intent::data::{dataset, fold_data, matrix_ref, prepare};
use shopsense_intent::{default_gbdt_params, Silent};
use shopsense_models::metric::{average_precision, roc_auc};
use shopsense_models::{
    apply_class_weights, train_gbdt, undersample, ClassWeight, Dataset, GbdtParams, Model,
    StopMetric,
};
use shopsense_sessions::{SessionConfig, Sessions};
use std::path::PathBuf;

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const HASH: [&str; 5] = [
    "hour_dow",
    "last_cat_hash",
    "last_brand_hash",
    "top_cat_hash",
    "top_brand_hash",
];

fn group(name: &str) -> Vec<&'static str> {
    let all: Vec<&'static str> = shopsense_features::ALL_FEATURES
        .iter()
        .map(|f| f.name)
        .collect();
    match name {
        "hash" => HASH.to_vec(),
        "user" => all.into_iter().filter(|n| n.starts_with("user_")).collect(),
        "enc" => all
            .into_iter()
            .filter(|n| n.contains("_rate_") || n.contains("_pop_") || n.contains("unseen"))
            .collect(),
        "time" => vec!["hour", "dow", "hour_dow"],
        "price" => all
            .into_iter()
            .filter(|n| n.starts_with("price_") || *n == "has_price")
            .collect(),
        "dwell" => all
            .into_iter()
            .filter(|n| n.starts_with("dwell_"))
            .collect(),
        other => vec![Box::leak(other.to_string().into_boxed_str())],
    }
}

struct Variant {
    spec: FeatureSpec,
    params: GbdtParams,
    imbalance: Option<&'static str>,
}

fn variant(text: &str, protocol: Protocol, offset: i32) -> Res<Variant> {
    let mut spec = FeatureSpec {
        protocol,
        utc_offset_minutes: offset,
        ..FeatureSpec::default()
    };
    let mut params = default_gbdt_params();
    let mut pv = serde_json::to_value(&params)?;
    let mut imbalance = None;
    for kv in text
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "base")
    {
        let (k, v) = kv.split_once('=').ok_or("key=value")?;
        match k {
            "drop" => {
                let drop: Vec<&str> = v.split(',').flat_map(group).collect();
                spec.features.retain(|f| !drop.contains(&f.as_str()));
            }
            "keep" => {
                let six = [
                    "n_view",
                    "n_cart",
                    "duration_s",
                    "price_mean",
                    "price_max",
                    "distinct_items",
                ];
                let mut f: Vec<&str> = six.to_vec();
                if v == "six+" {
                    f.extend([
                        "n_events",
                        "n_wishlist",
                        "last_kind",
                        "hour",
                        "max_item_repeats",
                    ]);
                }
                spec.features = f.iter().map(|s| s.to_string()).collect();
            }
            "imb" => {
                imbalance = Some(if v == "weights" {
                    "weights"
                } else {
                    "undersample"
                })
            }
            "oof" => {
                spec.oof_by = if v == "user" {
                    OofBy::User
                } else {
                    OofBy::Session
                }
            }
            "smoothing" => spec.smoothing = v.parse()?,
            "oof_folds" => spec.oof_folds = v.parse()?,
            _ if k.starts_with("x.") => {
                pv["extra"][&k[2..]] = serde_json::json!(v);
            }
            "es" => {
                pv["stop_metric"] = serde_json::json!(if v == "auc" { "auc" } else { "log_loss" })
            }
            _ => {
                let num: f64 = v.parse()?;
                pv[k] = if num.fract() == 0.0
                    && !k.contains("fraction")
                    && !k.contains("rate")
                    && !k.contains("lambda")
                {
                    serde_json::json!(num as i64)
                } else {
                    serde_json::json!(num)
                };
            }
        }
    }
    params = serde_json::from_value(pv)?;
    let _ = StopMetric::Auc;
    Ok(Variant {
        spec,
        params,
        imbalance,
    })
}

fn treat(d: &Dataset, imb: Option<&str>, seed: u64) -> Res<Dataset> {
    Ok(match imb {
        Some("weights") => apply_class_weights(d, ClassWeight::Balanced)?,
        Some(_) => undersample(d, 1.0, seed)?,
        None => d.clone(),
    })
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, var.sqrt())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (kind, protocol) = (args[0].as_str(), args[1].parse::<Protocol>()?);
    let seeds: u64 = std::env::var("SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data");
    let (file, offset) = match kind {
        "taobao" => ("taobao/UserBehavior_head.csv", 480),
        _ => ("rees46/2019-Oct_head.csv", 0),
    };
    let (_, out) = read_file(&root.join(file), None, &ReadOptions::default())?;
    let mut t = out.table;
    if kind == "taobao" {
        t.retain_time_window(Some(1_511_539_200_000), Some(1_512_316_800_000));
    }
    let s = Sessions::build(&t, &SessionConfig::default());
    println!("{kind} {protocol}: seeds {seeds}; fold = 3 rolling-origin folds of the training part; valid = the validation part");
    for text in &args[2..] {
        let v = variant(text, protocol, offset)?;
        let prep = prepare(&t, &s, &v.spec, &Silent)?;
        let keep = |y: &[f32]| Ok((0..y.len()).collect());
        let (fd, folds) = fold_data(&t, &s, &prep, 3, &keep)?;
        let train = dataset(&prep.train)?;
        let valid = dataset(&prep.valid)?;
        let (mut f_auc, mut f_ap, mut v_auc, mut v_ap, mut rounds) =
            (vec![], vec![], vec![], vec![], vec![]);
        for seed in 1..=seeds {
            let mut p = v.params.clone();
            p.seed = seed;
            p.chunk_rounds = None;
            let mut iters = vec![];
            for (tr, va) in &folds {
                let a = treat(&fd.subset(tr)?, v.imbalance, seed)?;
                let b = fd.subset(va)?;
                let (m, log) = train_gbdt(&a, Some(&b), &p, None)?;
                let pr = m.predict_proba(b.x().view())?;
                f_auc.push(roc_auc(b.labels(), &pr, None)?);
                f_ap.push(average_precision(b.labels(), &pr, None)?);
                iters.push(log.best_iteration);
            }
            // Validation part: rounds = mean best round over the folds (no early stopping
            // on the part being measured).
            let mut q = p.clone();
            q.n_rounds = (iters.iter().sum::<usize>() / iters.len()).max(1);
            q.early_stopping_rounds = None;
            rounds.push(q.n_rounds as f64);
            let (m, _) = train_gbdt(&treat(&train, v.imbalance, seed)?, None, &q, None)?;
            let pv = m.predict_proba(matrix_ref(&prep.valid)?)?;
            v_auc.push(roc_auc(valid.labels(), &pv, None)?);
            v_ap.push(average_precision(valid.labels(), &pv, None)?);
        }
        let (a, b, c, d, r) = (
            mean_sd(&f_auc),
            mean_sd(&f_ap),
            mean_sd(&v_auc),
            mean_sd(&v_ap),
            mean_sd(&rounds),
        );
        println!(
            "{:<48} folds ROC {:.4}±{:.4} PR {:.4}±{:.4} | valid ROC {:.4}±{:.4} PR {:.4}±{:.4} | rounds {:.0} | {} feats",
            text, a.0, a.1, b.0, b.1, c.0, c.1, d.0, d.1, r.0, v.spec.features.len()
        );
    }
    Ok(())
}
