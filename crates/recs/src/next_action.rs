//! The event-type (next action) model: for an interaction — user, item, time and the
//! session so far — the probability of each event kind found in the training window.
//!
//! Sessions are split by start (default 60 / 15 / 25 % train / validation / test). Item,
//! category and brand priors (kind frequencies, leave-one-out on training rows), item,
//! category and brand embeddings (PPMI + truncated eigen-decomposition of their co-occurrence
//! in training sessions) and the class set are fitted on the training part only.
//! User-history counts use only events strictly before the interaction. LightGBM multiclass with early stopping on the
//! validation part; class weights or undersampling; metrics on the test part only against a
//! majority-class baseline and a seed-style baseline: the reference method, a per-interaction
//! classifier on the interaction's own attributes ([`SEED_FEATURES`]: time crosses, hashed
//! category and brand, price) with the seed's small random forest (20 trees, depth 5, 1:1
//! undersampled), one-vs-rest. The same forests on all of shopsense's features are one of the
//! learners `auto` chooses from, and their test score is reported next to the baselines.

use crate::covis;
use crate::data::{kind_level, session_start};
use crate::embed;
use crate::error::{RecsError, Result};
use serde::{Deserialize, Serialize};
use shopsense_eval::{
    cross_fitted_decision_weights, decide, multiclass_metrics, multiclass_metrics_weighted,
    MulticlassMetrics,
};
use shopsense_events::{EventTable, NONE};
use shopsense_models::{
    train_gbdt, undersample, Dataset, Estimator, ForestParams, Gbdt, GbdtParams, Matrix, MatrixRef,
    Model, RandomForest, SplitMix64,
};
use shopsense_sessions::Sessions;
use std::collections::HashMap;
use std::path::Path;

/// Format tag of a next-action bundle.
pub const NEXT_ACTION_FORMAT: &str = "shopsense-next-action/1";

/// How class imbalance is treated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Rebalance {
    /// No treatment.
    None,
    /// Sample weights `n / (K · n_c)`.
    #[default]
    ClassWeights,
    /// Every class cut to at most `ratio ×` the smallest class (seeded).
    Undersample {
        /// Rows per class, as a multiple of the smallest class.
        ratio: f64,
    },
}

impl std::str::FromStr for Rebalance {
    type Err = RecsError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(Rebalance::None),
            "weights" | "class-weights" => Ok(Rebalance::ClassWeights),
            "undersample" => Ok(Rebalance::Undersample { ratio: 3.0 }),
            o => Err(RecsError::Invalid(format!(
                "unknown rebalancing `{o}` (none, weights, undersample)"
            ))),
        }
    }
}

/// Which learner makes the decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// Train all three below and keep the one with the best **validation** macro-F1, each
    /// judged out of sample with its own decision weights (cross-fitted on the two halves of
    /// the validation part, kept only when they beat argmax there; see
    /// [`shopsense_eval::cross_fitted_decision_weights`]); ties go to the earlier of gbdt,
    /// blend, forest. The test part is never looked at.
    #[default]
    Auto,
    /// LightGBM multiclass.
    Gbdt,
    /// One-vs-rest random forests (20 trees, depth 5, 1:1 undersampled — the seed method),
    /// probabilities normalised over the classes.
    Forest,
    /// The mean of the gbdt and forest probabilities.
    Blend,
}

impl Family {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Family::Auto => "auto",
            Family::Gbdt => "gbdt",
            Family::Forest => "forest",
            Family::Blend => "blend",
        }
    }
}

impl std::str::FromStr for Family {
    type Err = RecsError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Family::Auto),
            "gbdt" => Ok(Family::Gbdt),
            "forest" | "seed-rf" => Ok(Family::Forest),
            "blend" => Ok(Family::Blend),
            o => Err(RecsError::Invalid(format!(
                "unknown model family `{o}` (auto, gbdt, forest, blend)"
            ))),
        }
    }
}

fn gbdt_family() -> Family {
    Family::Gbdt
}

/// Parameters of [`NextActionModel::train`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct NextActionParams {
    /// Train / validation / test fractions of sessions by start.
    pub fractions: (f64, f64, f64),
    /// Class imbalance treatment (of the gbdt; the forests always undersample 1:1).
    pub rebalance: Rebalance,
    /// Learner, or `auto` to choose on the validation part.
    pub family: Family,
    /// Item-embedding dimensions used as features.
    pub emb_dim: usize,
    /// Dimensions of the category and of the brand embeddings used as features (learned the
    /// same way as the items', from their co-occurrence in training sessions). Bundles from
    /// before they existed read as 0.
    #[serde(default)]
    pub group_emb_dim: usize,
    /// Buckets of the hashed category and brand ids.
    pub hash_buckets: u64,
    /// Prior smoothing (pseudo-count toward the parent rate).
    pub prior_strength: f64,
    /// LightGBM parameters (`n_classes` is set from the data).
    pub gbdt: GbdtParams,
    /// Seed.
    pub seed: u64,
}

impl Default for NextActionParams {
    fn default() -> Self {
        NextActionParams {
            fractions: (0.6, 0.15, 0.25),
            rebalance: Rebalance::ClassWeights,
            family: Family::Auto,
            emb_dim: 8,
            group_emb_dim: 4,
            hash_buckets: 4096,
            prior_strength: 10.0,
            gbdt: GbdtParams {
                learning_rate: 0.05,
                n_rounds: 400,
                num_leaves: 31,
                early_stopping_rounds: Some(30),
                ..GbdtParams::default()
            },
            seed: 42,
        }
    }
}

/// An event of the session so far, or the interaction to classify (kind ignored).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ActionEvent {
    /// Item id.
    pub item: String,
    /// Category id, if known.
    #[serde(default)]
    pub category: Option<String>,
    /// Brand, if known.
    #[serde(default)]
    pub brand: Option<String>,
    /// Price, if known.
    #[serde(default)]
    pub price: Option<f64>,
    /// Time in ms since the epoch (UTC).
    pub time_ms: i64,
    /// Kind name (`view`, `cart`, …); ignored for the interaction being classified.
    #[serde(default)]
    pub kind: Option<String>,
}

/// The test-part report: the model against the baselines.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NextActionReport {
    /// Class names, by class index.
    pub classes: Vec<String>,
    /// Rows (interactions) in the train / validation / test parts.
    pub rows: (usize, usize, usize),
    /// Sessions in the train / validation / test parts.
    pub sessions: (usize, usize, usize),
    /// Rebalancing used.
    pub rebalance: Rebalance,
    /// Boosting rounds kept.
    pub rounds: usize,
    /// The learner that decides (chosen on validation when `auto` was asked for).
    #[serde(default = "gbdt_family")]
    pub family: Family,
    /// Validation macro-F1 of each learner tried, out of sample: with decision weights
    /// cross-fitted on the halves of the validation part when they beat argmax, else argmax.
    #[serde(default)]
    pub validation_macro_f1: Vec<(Family, f64)>,
    /// The model on the test part, deciding with the validation-fitted decision weights.
    pub model: MulticlassMetrics,
    /// The model on the test part, deciding by plain argmax.
    #[serde(default)]
    pub model_argmax: Option<MulticlassMetrics>,
    /// Per-class decision weights fitted on the validation part (macro-F1).
    #[serde(default)]
    pub decision_weights: Vec<f64>,
    /// Majority class (training frequencies as probabilities).
    pub majority: MulticlassMetrics,
    /// Seed-style baseline: one-vs-rest 20-tree depth-5 forests on 1:1 undersampled rows of
    /// the interaction's own attributes ([`SEED_FEATURES`]), deciding by argmax.
    pub seed_rf: MulticlassMetrics,
    /// The same forests on all of shopsense's features, deciding by argmax (the `forest`
    /// learner without its decision weights; reports before 2026-12-06 called this
    /// `seed_rf`).
    #[serde(default)]
    pub forest_argmax: Option<MulticlassMetrics>,
    /// Split-gain importance of the features, largest first.
    pub importance: Vec<(String, f64)>,
}

impl NextActionReport {
    /// A self-contained HTML page of the report: the learners tried on validation, the model
    /// against the baselines on the test part (table and macro-F1 chart), per-class scores
    /// with their chart, the confusion matrix and the largest feature importances.
    pub fn html(&self, title: &str) -> String {
        use shopsense_eval::html::{bar_chart_svg, escape, page};
        let fmt = |v: f64| format!("{v:.4}");
        let mut b = format!(
            "<header><h1>{}</h1><p>Classes: {}. Interactions train / validation / test: {} / \
             {} / {} ({} / {} / {} sessions, split by session start). Rebalancing: {:?}; \
             boosting rounds kept: {}. Learner deciding: {}.</p></header><main>",
            escape(title),
            escape(&self.classes.join(", ")),
            self.rows.0,
            self.rows.1,
            self.rows.2,
            self.sessions.0,
            self.sessions.1,
            self.sessions.2,
            self.rebalance,
            self.rounds,
            self.family.name()
        );
        b.push_str(
            "<section><h2>Choice on the validation part</h2><p>Macro-F1 out of sample: decision \
             weights fitted on one half of the validation part decide the other half, and \
             count only if they beat argmax. The test part plays no role.</p>\
             <table><tr><th>learner</th><th>validation macro-F1</th></tr>",
        );
        for (f, v) in &self.validation_macro_f1 {
            b.push_str(&format!(
                "<tr><td>{}</td><td>{}</td></tr>",
                f.name(),
                fmt(*v)
            ));
        }
        b.push_str("</table></section><section><h2>Test part: model and baselines</h2><table><tr><th>decider</th><th>macro-F1</th><th>accuracy</th><th>log-loss</th></tr>");
        let mut rows: Vec<(&str, &MulticlassMetrics)> = vec![("model", &self.model)];
        if let Some(m) = &self.model_argmax {
            rows.push(("model, plain argmax", m));
        }
        rows.push(("majority class", &self.majority));
        rows.push(("seed-style (reference inputs)", &self.seed_rf));
        if let Some(m) = &self.forest_argmax {
            rows.push(("forests on all features, argmax", m));
        }
        for (name, m) in &rows {
            b.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(name),
                fmt(m.macro_f1),
                fmt(m.accuracy),
                fmt(m.log_loss)
            ));
        }
        b.push_str("</table>");
        let bars: Vec<(String, f64)> = rows
            .iter()
            .map(|(n, m)| (n.to_string(), m.macro_f1))
            .collect();
        b.push_str(&bar_chart_svg("Test macro-F1", "macro-F1", &bars, 0));
        b.push_str("</section><section><h2>Per class (model, test part)</h2><table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>");
        for c in &self.model.per_class {
            b.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(c.name.as_deref().unwrap_or("?")),
                fmt(c.precision),
                fmt(c.recall),
                fmt(c.f1),
                c.support
            ));
        }
        b.push_str("</table>");
        let per: Vec<(String, f64)> = self
            .model
            .per_class
            .iter()
            .map(|c| (c.name.clone().unwrap_or_default(), c.f1))
            .collect();
        b.push_str(&bar_chart_svg("Test F1 per class", "F1", &per, 1));
        b.push_str("</section><section><h2>Confusion matrix (rows: true, columns: decided)</h2><table><tr><th></th>");
        for c in &self.classes {
            b.push_str(&format!("<th>{}</th>", escape(c)));
        }
        b.push_str("</tr>");
        for (i, row) in self.model.confusion.iter().enumerate() {
            b.push_str(&format!(
                "<tr><th>{}</th>",
                escape(self.classes.get(i).map_or("?", String::as_str))
            ));
            for v in row {
                b.push_str(&format!("<td>{v}</td>"));
            }
            b.push_str("</tr>");
        }
        b.push_str("</table></section>");
        let top: Vec<(String, f64)> = self.importance.iter().take(15).cloned().collect();
        if !top.is_empty() {
            b.push_str("<section>");
            b.push_str(&bar_chart_svg(
                "Feature importance (gbdt split gain, top 15)",
                "gain",
                &top,
                2,
            ));
            b.push_str("</section>");
        }
        b.push_str("</main>");
        page(title, &b)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Priors {
    item: HashMap<String, Vec<u32>>,
    cat: HashMap<String, Vec<u32>>,
    brand: HashMap<String, Vec<u32>>,
    global: Vec<u32>,
}

/// The fitted next-action model (what a next-action bundle holds).
#[derive(Debug, Serialize, Deserialize)]
pub struct NextActionModel {
    /// Format tag ([`NEXT_ACTION_FORMAT`]).
    pub format: String,
    /// Parameters used.
    pub params: NextActionParams,
    /// Class names by index.
    pub classes: Vec<String>,
    priors: Priors,
    item_emb: HashMap<String, Vec<f32>>,
    /// Category vectors ([`NextActionParams::group_emb_dim`] each).
    #[serde(default)]
    cat_emb: HashMap<String, Vec<f32>>,
    /// Brand vectors ([`NextActionParams::group_emb_dim`] each).
    #[serde(default)]
    brand_emb: HashMap<String, Vec<f32>>,
    user_counts: HashMap<String, Vec<u32>>,
    /// Per-class weights of the decision (`argmax w·p`), fitted on the validation part for
    /// macro-F1; empty means plain argmax.
    #[serde(default)]
    pub decision_weights: Vec<f64>,
    /// LightGBM model text.
    pub gbdt_text: String,
    /// The learner that decides ([`Family::Gbdt`] in bundles from before the choice).
    #[serde(default = "gbdt_family")]
    pub family: Family,
    /// One-vs-rest forests by class (`None`: the class had no positive training row); kept
    /// only when the family needs them.
    #[serde(default)]
    pub forests: Vec<Option<RandomForest>>,
    /// The test report.
    pub report: Option<NextActionReport>,
    #[serde(skip)]
    gbdt: Option<Gbdt>,
}

/// The seed-style baseline's inputs: what the interaction itself says (time, hour × day
/// crosses, hashed category and brand, price), without the session so far, the user's history,
/// the fitted priors or the embeddings that shopsense adds.
pub const SEED_FEATURES: [&str; 6] = [
    "hour",
    "dow",
    "hour_x_dow",
    "cat_hash",
    "brand_hash",
    "price_log",
];

/// One-vs-rest seed-method forests (20 trees, depth 5, negatives undersampled 1:1) on `x`;
/// `None` for a class without positive (or without negative) rows.
fn fit_ovr_forests(
    x: &Matrix,
    names: &[String],
    y: &[f32],
    k: usize,
    seed: u64,
) -> Result<Vec<Option<RandomForest>>> {
    let mut forests = Vec::with_capacity(k);
    for c in 0..k {
        let yb: Vec<f32> = y.iter().map(|&v| (v as usize == c) as u8 as f32).collect();
        let npos = yb.iter().filter(|&&v| v > 0.0).count();
        if npos == 0 || npos == yb.len() {
            forests.push(None);
            continue;
        }
        let ds = Dataset::new(x.clone(), names.to_vec(), yb, None)?;
        let ds = if npos * 2 < ds.n_rows() {
            undersample(&ds, 1.0, seed + c as u64)?
        } else {
            ds
        };
        forests.push(Some(RandomForest::fit(&ds, &ForestParams::seed_rf())?));
    }
    Ok(forests)
}

/// Names of the features for `k` classes, `d` item-embedding dimensions and `g` category and
/// brand embedding dimensions.
pub fn feature_names(k: usize, d: usize, g: usize) -> Vec<String> {
    let mut v: Vec<String> = [
        "hour",
        "dow",
        "hour_x_dow",
        "pos",
        "secs_in_session",
        "secs_since_prev",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend((0..k).map(|c| format!("session_n_c{c}")));
    v.extend(
        [
            "item_seen_in_session",
            "item_max_level_in_session",
            "same_item_as_prev",
            "same_cat_as_prev",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    v.extend((0..k).map(|c| format!("user_n_c{c}")));
    v.push("user_n".into());
    for p in ["item", "cat", "brand"] {
        v.extend((0..k).map(|c| format!("{p}_rate_c{c}")));
        v.push(format!("{p}_n_log"));
    }
    v.extend(
        ["cat_hash", "brand_hash", "price_log"]
            .iter()
            .map(|s| s.to_string()),
    );
    v.extend((0..d).map(|c| format!("item_emb{c}")));
    v.extend((0..g).map(|c| format!("cat_emb{c}")));
    v.extend((0..g).map(|c| format!("brand_emb{c}")));
    v
}

/// `dim`-dimensional vectors of the values of one id column (items, categories or brands)
/// from their co-occurrence in the sessions `part` (PPMI + truncated eigen-decomposition of
/// the symmetric co-visitation counts, window 3); rows whose id is [`NONE`] are skipped.
fn embed_column(
    t: &EventTable,
    s: &Sessions,
    part: &[u32],
    col: &[u32],
    names: &shopsense_events::Interner,
    dim: usize,
    seed: u64,
) -> HashMap<String, Vec<f32>> {
    if dim == 0 {
        return HashMap::new();
    }
    let mut ids: HashMap<u32, u32> = HashMap::new();
    let seqs: Vec<Vec<(u32, u8)>> = part
        .iter()
        .map(|&si| {
            s.events(si as usize)
                .iter()
                .filter(|&&e| col[e as usize] != NONE)
                .map(|&e| {
                    let n = ids.len() as u32;
                    (
                        *ids.entry(col[e as usize]).or_insert(n),
                        kind_level(t.kind[e as usize]),
                    )
                })
                .collect()
        })
        .collect();
    let (_, sym) = covis::build(&seqs, ids.len(), 3, 1, 200);
    let emb = embed::ppmi_svd(&sym, dim, seed);
    ids.iter()
        .map(|(&ti, &mi)| {
            let m = mi as usize;
            (
                names.get(ti).to_string(),
                emb[m * dim..m * dim + dim].to_vec(),
            )
        })
        .collect()
}

fn hash(s: Option<&str>, buckets: u64) -> f32 {
    s.map_or(f32::NAN, |s| {
        (xxhash_rust::xxh3::xxh3_64(s.as_bytes()) % buckets.max(1)) as f32
    })
}

/// One event in compact form for feature building.
struct Ev<'a> {
    item: &'a str,
    cat: Option<&'a str>,
    brand: Option<&'a str>,
    price: Option<f64>,
    time_ms: i64,
    class: Option<usize>,
    level: u8,
}

/// Class probabilities of one-vs-rest forests, normalised per row (uniform when every
/// forest says 0).
fn forest_proba(forests: &[Option<RandomForest>], x: MatrixRef<'_>, k: usize) -> Result<Vec<f64>> {
    let n = x.n_rows();
    let mut out = vec![0.0; n * k];
    for (c, f) in forests.iter().enumerate().take(k) {
        if let Some(f) = f {
            for (i, v) in f.predict_proba(x)?.into_iter().enumerate() {
                out[i * k + c] = v;
            }
        }
    }
    for row in out.chunks_mut(k) {
        let s: f64 = row.iter().sum();
        if s > 0.0 {
            row.iter_mut().for_each(|v| *v /= s);
        } else {
            row.iter_mut().for_each(|v| *v = 1.0 / k as f64);
        }
    }
    Ok(out)
}

/// The probabilities `family` decides on, from the gbdt's and the forests'.
fn combine(family: Family, gbdt: &[f64], forest: &[f64]) -> Vec<f64> {
    match family {
        Family::Gbdt | Family::Auto => gbdt.to_vec(),
        Family::Forest => forest.to_vec(),
        Family::Blend => gbdt
            .iter()
            .zip(forest)
            .map(|(a, b)| 0.5 * (a + b))
            .collect(),
    }
}

impl NextActionModel {
    fn k(&self) -> usize {
        self.classes.len()
    }

    fn rates(
        &self,
        counts: Option<&Vec<u32>>,
        own: Option<usize>,
        parent: &[f64],
        out: &mut Vec<f32>,
    ) {
        let k = self.k();
        let m = self.params.prior_strength;
        let mut c: Vec<f64> =
            counts.map_or(vec![0.0; k], |v| v.iter().map(|&x| x as f64).collect());
        if let Some(o) = own {
            if c[o] > 0.0 {
                c[o] -= 1.0;
            }
        }
        let n: f64 = c.iter().sum();
        for j in 0..k {
            out.push(((c[j] + m * parent[j]) / (n + m)) as f32);
        }
        out.push(n.ln_1p() as f32);
    }

    fn row(
        &self,
        prev: &[Ev<'_>],
        cur: &Ev<'_>,
        user: &[u32],
        own: Option<usize>,
        out: &mut Vec<f32>,
    ) {
        let k = self.k();
        let secs = cur.time_ms.div_euclid(1000);
        let hour = secs.div_euclid(3600).rem_euclid(24) as f32;
        // 1970-01-01 was a Thursday; 0 = Monday.
        let dow = (secs.div_euclid(86_400) + 3).rem_euclid(7) as f32;
        out.extend_from_slice(&[
            hour,
            dow,
            hour * 7.0 + dow,
            prev.len() as f32,
            prev.first()
                .map_or(0.0, |f| (cur.time_ms - f.time_ms) as f32 / 1000.0),
            prev.last()
                .map_or(f32::NAN, |f| (cur.time_ms - f.time_ms) as f32 / 1000.0),
        ]);
        let mut sc = vec![0f32; k];
        let (mut seen, mut maxl) = (0f32, f32::NAN);
        for p in prev {
            if let Some(c) = p.class {
                sc[c] += 1.0;
            }
            if p.item == cur.item {
                seen += 1.0;
                maxl = if maxl.is_nan() {
                    p.level as f32
                } else {
                    maxl.max(p.level as f32)
                };
            }
        }
        out.extend_from_slice(&sc);
        out.push(seen);
        out.push(maxl);
        out.push(
            prev.last()
                .map_or(f32::NAN, |p| (p.item == cur.item) as u8 as f32),
        );
        out.push(match (prev.last().and_then(|p| p.cat), cur.cat) {
            (Some(a), Some(b)) => (a == b) as u8 as f32,
            _ => f32::NAN,
        });
        out.extend(user.iter().map(|&x| x as f32));
        out.push(user.iter().sum::<u32>() as f32);
        let g = &self.priors.global;
        let gn: f64 = g.iter().map(|&x| x as f64).sum::<f64>().max(1.0);
        let global: Vec<f64> = g.iter().map(|&x| x as f64 / gn).collect();
        let cat_counts = cur.cat.and_then(|c| self.priors.cat.get(c));
        let mut cat_rate = Vec::with_capacity(k + 1);
        self.rates(
            cat_counts,
            own.filter(|_| cat_counts.is_some()),
            &global,
            &mut cat_rate,
        );
        let cat_parent: Vec<f64> = cat_rate[..k].iter().map(|&x| x as f64).collect();
        self.rates(self.priors.item.get(cur.item), own, &cat_parent, out);
        out.extend_from_slice(&cat_rate);
        self.rates(
            cur.brand.and_then(|b| self.priors.brand.get(b)),
            own,
            &global,
            out,
        );
        let b = self.params.hash_buckets;
        out.push(hash(cur.cat, b));
        out.push(hash(cur.brand, b));
        out.push(cur.price.map_or(f32::NAN, |p| (p.max(0.0)).ln_1p() as f32));
        match self.item_emb.get(cur.item) {
            Some(e) => out.extend_from_slice(e),
            None => out.extend(std::iter::repeat_n(f32::NAN, self.params.emb_dim)),
        }
        let g = self.params.group_emb_dim;
        for (map, key) in [(&self.cat_emb, cur.cat), (&self.brand_emb, cur.brand)] {
            match key.and_then(|k| map.get(k)) {
                Some(e) => out.extend_from_slice(e),
                None => out.extend(std::iter::repeat_n(f32::NAN, g)),
            }
        }
    }

    /// Trains on `t` / `s` with a temporal split by session start; evaluates on the test
    /// part against the baselines.
    pub fn train(t: &EventTable, s: &Sessions, p: &NextActionParams) -> Result<NextActionModel> {
        let (ftr, fva, fte) = p.fractions;
        if !(ftr > 0.0 && fva > 0.0 && fte > 0.0 && (ftr + fva + fte - 1.0).abs() < 1e-6) {
            return Err(RecsError::Invalid(format!(
                "fractions {ftr}/{fva}/{fte} must be positive and sum to 1"
            )));
        }
        if s.len() < 10 {
            return Err(RecsError::NotEnoughData(format!("{} sessions", s.len())));
        }
        let mut order: Vec<u32> = (0..s.len() as u32).collect();
        order.sort_by_key(|&i| (session_start(t, s, i as usize), i));
        let n = order.len();
        let a = ((n as f64) * ftr).round() as usize;
        let b = ((n as f64) * (ftr + fva)).round() as usize;
        let (a, b) = (a.clamp(1, n - 2), b.clamp(a.clamp(1, n - 2) + 1, n - 1));
        let parts = [&order[..a], &order[a..b], &order[b..]];
        // Classes: kinds present in training.
        let mut present = vec![0u64; t.kind_count().max(256)];
        for &si in parts[0] {
            for &e in s.events(si as usize) {
                present[t.kind[e as usize] as usize] += 1;
            }
        }
        let codes: Vec<u8> = (0..present.len())
            .filter(|&c| present[c] > 0)
            .map(|c| c as u8)
            .collect();
        if codes.len() < 2 {
            return Err(RecsError::NotEnoughData(
                "fewer than two event kinds in training".into(),
            ));
        }
        let classes: Vec<String> = codes.iter().map(|&c| t.kind_name(c).to_string()).collect();
        let mut class_of = [None; 256];
        for (i, &c) in codes.iter().enumerate() {
            class_of[c as usize] = Some(i);
        }
        let k = codes.len();
        let opt =
            |id: u32, v: &shopsense_events::Interner| (id != NONE).then(|| v.get(id).to_string());
        // Priors on the training part.
        let mut pr = Priors {
            global: vec![0; k],
            ..Default::default()
        };
        for &si in parts[0] {
            for &e in s.events(si as usize) {
                let e = e as usize;
                let Some(c) = class_of[t.kind[e] as usize] else {
                    continue;
                };
                pr.global[c] += 1;
                pr.item
                    .entry(t.items.get(t.item[e]).to_string())
                    .or_insert_with(|| vec![0; k])[c] += 1;
                if let Some(cat) = opt(t.category[e], &t.categories) {
                    pr.cat.entry(cat).or_insert_with(|| vec![0; k])[c] += 1;
                }
                if let Some(br) = opt(t.brand[e], &t.brands) {
                    pr.brand.entry(br).or_insert_with(|| vec![0; k])[c] += 1;
                }
            }
        }
        // Embeddings on the training part.
        let item_emb = embed_column(t, s, parts[0], &t.item, &t.items, p.emb_dim, p.seed);
        let cat_emb = embed_column(
            t,
            s,
            parts[0],
            &t.category,
            &t.categories,
            p.group_emb_dim,
            p.seed,
        );
        let brand_emb = embed_column(t, s, parts[0], &t.brand, &t.brands, p.group_emb_dim, p.seed);
        // User counts strictly before each event, over the whole table in time order.
        let mut by_time: Vec<u32> = (0..t.len() as u32).collect();
        by_time.sort_by_key(|&e| (t.time_ms[e as usize], e));
        let mut uc: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut before: Vec<u32> = vec![0; t.len() * k];
        for &e in &by_time {
            let e = e as usize;
            let v = uc.entry(t.user[e]).or_insert_with(|| vec![0; k]);
            before[e * k..e * k + k].copy_from_slice(v);
            if let Some(c) = class_of[t.kind[e] as usize] {
                v[c] += 1;
            }
        }
        let user_counts = uc
            .into_iter()
            .map(|(u, v)| (t.users.get(u).to_string(), v))
            .collect();
        let mut m = NextActionModel {
            format: NEXT_ACTION_FORMAT.into(),
            params: p.clone(),
            classes,
            priors: pr,
            item_emb,
            cat_emb,
            brand_emb,
            user_counts,
            decision_weights: Vec::new(),
            gbdt_text: String::new(),
            family: Family::Gbdt,
            forests: Vec::new(),
            report: None,
            gbdt: None,
        };
        let names = feature_names(k, p.emb_dim, p.group_emb_dim);
        let build = |part: &[u32], loo: bool| -> (Vec<f32>, Vec<f32>) {
            let mut x = Vec::new();
            let mut y = Vec::new();
            for &si in part {
                let evs: Vec<Ev<'_>> = s
                    .events(si as usize)
                    .iter()
                    .map(|&e| {
                        let e = e as usize;
                        Ev {
                            item: t.items.get(t.item[e]),
                            cat: t.categories.get_opt(t.category[e]),
                            brand: t.brands.get_opt(t.brand[e]),
                            price: Some(t.price[e]).filter(|v| v.is_finite()),
                            time_ms: t.time_ms[e],
                            class: class_of[t.kind[e] as usize],
                            level: kind_level(t.kind[e]),
                        }
                    })
                    .collect();
                for (j, &e) in s.events(si as usize).iter().enumerate() {
                    let Some(c) = evs[j].class else { continue };
                    let e = e as usize;
                    m.row(
                        &evs[..j],
                        &evs[j],
                        &before[e * k..e * k + k],
                        loo.then_some(c),
                        &mut x,
                    );
                    y.push(c as f32);
                }
            }
            (x, y)
        };
        let (xtr, ytr) = build(parts[0], true);
        let (xva, yva) = build(parts[1], false);
        let (xte, yte) = build(parts[2], false);
        let nf = names.len();
        if ytr.is_empty() || yva.is_empty() || yte.is_empty() {
            return Err(RecsError::NotEnoughData(
                "an empty train, validation or test part".into(),
            ));
        }
        let mut counts = vec![0usize; k];
        for &c in &ytr {
            counts[c as usize] += 1;
        }
        let train_ds = Dataset::new(
            Matrix::new(xtr, ytr.len(), nf)?,
            names.clone(),
            ytr.clone(),
            None,
        )?;
        let fit_ds = match p.rebalance {
            Rebalance::None => train_ds.clone(),
            Rebalance::ClassWeights => {
                let w: Vec<f32> = ytr
                    .iter()
                    .map(|&c| (ytr.len() as f64 / (k as f64 * counts[c as usize] as f64)) as f32)
                    .collect();
                train_ds.clone().with_weights(Some(w))?
            }
            Rebalance::Undersample { ratio } => {
                let min = counts.iter().copied().filter(|&c| c > 0).min().unwrap_or(0);
                let cap = ((min as f64) * ratio.max(1.0)).ceil() as usize;
                let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); k];
                for (i, &c) in ytr.iter().enumerate() {
                    by_class[c as usize].push(i);
                }
                let mut rng = SplitMix64::new(p.seed);
                let mut keep = Vec::new();
                for mut v in by_class {
                    rng.shuffle(&mut v);
                    v.truncate(cap);
                    keep.extend(v);
                }
                keep.sort_unstable();
                train_ds.subset(&keep)?
            }
        };
        // Early stopping on the validation part weighted like the training objective.
        let wva = match p.rebalance {
            Rebalance::ClassWeights => Some(
                yva.iter()
                    .map(|&c| {
                        (ytr.len() as f64 / (k as f64 * counts[c as usize].max(1) as f64)) as f32
                    })
                    .collect(),
            ),
            _ => None,
        };
        let valid_ds = Dataset::new(Matrix::new(xva, yva.len(), nf)?, names.clone(), yva, wva)?;
        let mut gp = p.gbdt.clone();
        gp.n_classes = k.max(2);
        let (g, _) = train_gbdt(&fit_ds, Some(&valid_ds), &gp, None)?;
        // One-vs-rest seed-method forests on all the features: a learner of their own (alone
        // or blended with the gbdt).
        let forests = fit_ovr_forests(train_ds.x(), &names, &ytr, k, p.seed)?;
        // Each learner on the validation part, with its own decision weights for macro-F1;
        // `auto` keeps the best there. The test part is scored only afterwards.
        let va_labels: Vec<usize> = valid_ds.labels().iter().map(|&c| c as usize).collect();
        let va_gbdt = g.predict_proba_multi(valid_ds.x().view())?;
        let va_forest = forest_proba(&forests, valid_ds.x().view(), k)?;
        let candidates = match p.family {
            Family::Auto => vec![Family::Gbdt, Family::Blend, Family::Forest],
            f => vec![f],
        };
        let mut tried = Vec::new();
        let mut best: Option<(Family, f64, Vec<f64>)> = None;
        for f in candidates {
            let probs = combine(f, &va_gbdt, &va_forest);
            // Decision weights count only if they beat argmax out of sample (cross-fitted on
            // the two halves of the validation part), and each learner is judged by that
            // out-of-sample macro-F1: weights fitted and scored on the same ≈ 60 rare rows
            // flattered every learner, and the ones they flattered most got chosen.
            let c = cross_fitted_decision_weights(&va_labels, &probs, k)?;
            let f1 = c.score();
            tried.push((f, f1));
            if best.as_ref().is_none_or(|b| f1 > b.1) {
                best = Some((f, f1, c.weights));
            }
        }
        let (family, _, weights) =
            best.ok_or_else(|| RecsError::Invalid("no learner to choose from".into()))?;
        m.family = family;
        m.decision_weights = weights;
        let xte_ref = MatrixRef::new(&xte, yte.len(), nf)?;
        let te_gbdt = g.predict_proba_multi(xte_ref)?;
        let rf_probs = forest_proba(&forests, xte_ref, k)?;
        let probs = combine(family, &te_gbdt, &rf_probs);
        let labels: Vec<usize> = yte.iter().map(|&c| c as usize).collect();
        let model_m = multiclass_metrics_weighted(
            &labels,
            &probs,
            k,
            Some(&m.classes),
            Some(&m.decision_weights),
        )?;
        let model_argmax = multiclass_metrics(&labels, &probs, k, Some(&m.classes))?;
        let tot: f64 = counts.iter().sum::<usize>() as f64;
        let prior: Vec<f64> = counts.iter().map(|&c| c as f64 / tot).collect();
        let maj = (0..k)
            .max_by_key(|&c| (counts[c], std::cmp::Reverse(c)))
            .unwrap_or(0);
        let mut maj_probs = Vec::with_capacity(labels.len() * k);
        for _ in &labels {
            for (c, &p) in prior.iter().enumerate().take(k) {
                // The majority class first, the training frequencies for log-loss.
                maj_probs.push(if c == maj { p.max(0.5) } else { p });
            }
        }
        let majority = multiclass_metrics(&labels, &maj_probs, k, Some(&m.classes))?;
        // The seed-style baseline decides by plain argmax, as the reference does.
        let forest_argmax = multiclass_metrics(&labels, &rf_probs, k, Some(&m.classes))?;
        let seed_cols: Vec<usize> = SEED_FEATURES
            .iter()
            .map(|f| {
                names
                    .iter()
                    .position(|n| n == f)
                    .ok_or_else(|| RecsError::Invalid(format!("no feature `{f}`")))
            })
            .collect::<Result<_>>()?;
        let seed_names: Vec<String> = SEED_FEATURES.iter().map(|f| f.to_string()).collect();
        let seed_forests = fit_ovr_forests(
            &train_ds.x().view().select_cols(&seed_cols)?,
            &seed_names,
            &ytr,
            k,
            p.seed,
        )?;
        let seed_probs = forest_proba(&seed_forests, xte_ref.select_cols(&seed_cols)?.view(), k)?;
        let seed_rf = multiclass_metrics(&labels, &seed_probs, k, Some(&m.classes))?;
        if family != Family::Gbdt {
            m.forests = forests;
        }
        let mut importance = g.feature_importance();
        importance.sort_by(|a, b| b.1.total_cmp(&a.1));
        m.report = Some(NextActionReport {
            classes: m.classes.clone(),
            rows: (train_ds.n_rows(), valid_ds.n_rows(), labels.len()),
            sessions: (parts[0].len(), parts[1].len(), parts[2].len()),
            rebalance: p.rebalance,
            rounds: g.n_iterations(),
            family,
            validation_macro_f1: tried,
            model: model_m,
            model_argmax: Some(model_argmax),
            decision_weights: m.decision_weights.clone(),
            majority,
            seed_rf,
            forest_argmax: Some(forest_argmax),
            importance,
        });
        m.gbdt_text = g.text().to_string();
        m.gbdt = Some(g);
        Ok(m)
    }

    /// Class probabilities (by [`NextActionModel::classes`]) of an interaction given the
    /// session so far (oldest first) and the user (history counts from the bundle; an
    /// unknown user has none).
    pub fn predict(
        &self,
        user: &str,
        session: &[ActionEvent],
        cur: &ActionEvent,
    ) -> Result<Vec<(String, f64)>> {
        let g = self
            .gbdt
            .as_ref()
            .ok_or_else(|| RecsError::Invalid("next-action model not loaded".into()))?;
        fn conv<'a>(classes: &[String], a: &'a ActionEvent) -> Ev<'a> {
            let code = a
                .kind
                .as_deref()
                .map(shopsense_events::EventKind::from_name)
                .and_then(|k| k.fixed_code());
            let class = a
                .kind
                .as_deref()
                .and_then(|n| classes.iter().position(|c| c == n));
            Ev {
                item: &a.item,
                cat: a.category.as_deref(),
                brand: a.brand.as_deref(),
                price: a.price,
                time_ms: a.time_ms,
                class,
                level: code.map_or(1, kind_level),
            }
        }
        let prev: Vec<Ev<'_>> = session.iter().map(|a| conv(&self.classes, a)).collect();
        let k = self.k();
        let zero = vec![0; k];
        let uc = self.user_counts.get(user).unwrap_or(&zero);
        let mut x = Vec::new();
        self.row(&prev, &conv(&self.classes, cur), uc, None, &mut x);
        let nf = x.len();
        let xr = MatrixRef::new(&x, 1, nf)?;
        let p = match self.family {
            Family::Gbdt | Family::Auto => g.predict_proba_multi(xr)?,
            f => combine(
                f,
                &g.predict_proba_multi(xr)?,
                &forest_proba(&self.forests, xr, k)?,
            ),
        };
        Ok(self.classes.iter().cloned().zip(p).collect())
    }

    /// Whether the bundle holds history counts of `user` (from its training window).
    pub fn knows_user(&self, user: &str) -> bool {
        self.user_counts.contains_key(user)
    }

    /// The decided class of [`NextActionModel::predict`]'s probabilities: the largest
    /// `decision_weight · p` (weights fitted on the validation part for macro-F1).
    pub fn decide(&self, probs: &[(String, f64)]) -> Option<String> {
        let p: Vec<f64> = probs.iter().map(|x| x.1).collect();
        let w = (!self.decision_weights.is_empty()).then_some(self.decision_weights.as_slice());
        probs.get(decide(&p, w)).map(|x| x.0.clone())
    }

    /// Saves the bundle (JSON, atomic).
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = serde_json::to_vec(self).map_err(|e| RecsError::Bundle {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        shopsense_models::io::atomic_write(path, &bytes)?;
        Ok(())
    }

    /// Loads a bundle written by [`NextActionModel::save`].
    pub fn load(path: &Path) -> Result<NextActionModel> {
        let bad = |m: String| RecsError::Bundle {
            path: path.to_path_buf(),
            message: m,
        };
        let bytes = shopsense_models::io::read(path)?;
        let mut m: NextActionModel = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("not a next-action bundle: {e}")))?;
        if m.format != NEXT_ACTION_FORMAT {
            return Err(bad(format!(
                "format `{}`, expected `{NEXT_ACTION_FORMAT}`",
                m.format
            )));
        }
        let g = Gbdt::from_bytes(m.gbdt_text.as_bytes())?;
        let nf = feature_names(m.classes.len(), m.params.emb_dim, m.params.group_emb_dim).len();
        if g.n_features() != nf || m.priors.global.len() != m.classes.len() {
            return Err(bad("model and class set do not match".into()));
        }
        if m.item_emb.values().any(|v| v.len() != m.params.emb_dim)
            || m.cat_emb
                .values()
                .chain(m.brand_emb.values())
                .any(|v| v.len() != m.params.group_emb_dim)
            || m.user_counts.values().any(|v| v.len() != m.classes.len())
        {
            return Err(bad("inconsistent vector lengths".into()));
        }
        match m.family {
            Family::Auto => return Err(bad("the family `auto` is not a learner".into())),
            Family::Forest | Family::Blend
                if m.forests.len() != m.classes.len()
                    || m.forests.iter().all(Option::is_none)
                    || m.forests
                        .iter()
                        .flatten()
                        .any(|f| f.feature_names().len() != nf) =>
            {
                return Err(bad(format!(
                    "family `{}` needs one forest per class over {nf} features",
                    m.family.name()
                )));
            }
            _ => {}
        }
        m.gbdt = Some(g);
        Ok(m)
    }
}
