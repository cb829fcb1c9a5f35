//! The recommendation model: [`Stats`] of the training window plus a LightGBM propensity
//! ranker over candidates; recommendations, similar items and audiences; the bundle file.

use crate::data::{kind_level, temporal_split, Split};
use crate::error::{RecsError, Result};
use crate::stats::{Stats, StatsParams};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use shopsense_events::kind::{CART, PURCHASE};
use shopsense_events::EventTable;
use shopsense_models::{
    train_gbdt, Dataset, Estimator, Gbdt, GbdtParams, Matrix, MatrixRef, Model, SplitMix64,
};
use shopsense_sessions::Sessions;
use std::collections::HashMap;
use std::path::Path;

/// Format tag of a recs bundle.
pub const RECS_FORMAT: &str = "shopsense-recs/1";

/// Names of the ranking features, in column order.
pub const FEATURES: [&str; 20] = [
    "covis_score",
    "covis_last",
    "covis_rank",
    "emb_cos_last",
    "emb_cos_mean",
    "pop_recent_log",
    "pop_all_log",
    "cart_rate",
    "buy_rate",
    "same_cat_last",
    "ctx_cat_count",
    "ctx_item_count",
    "ctx_item_age",
    "ctx_item_max_level",
    "bought_before",
    "is_last_item",
    "ctx_len",
    "same_brand_last",
    "cat_pop_log",
    "user_known",
];

/// Parameters of [`RecsModel::train`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RecsParams {
    /// Statistics of the training window.
    pub stats: StatsParams,
    /// Share of the training sessions (latest by start) whose queries train the ranker;
    /// the statistics for those queries come from the earlier sessions only.
    pub ranker_fraction: f64,
    /// Ranker training queries kept at most.
    pub ranker_queries: usize,
    /// Negative candidates sampled per ranker query.
    pub negatives: usize,
    /// Candidates from co-visitation.
    pub cand_covis: usize,
    /// Candidates from embedding neighbours.
    pub cand_emb: usize,
    /// Candidates from recent popularity.
    pub cand_popular: usize,
    /// Candidates from the last item's category.
    pub cand_category: usize,
    /// Context items used for co-visitation candidates (most recent distinct).
    pub context_items: usize,
    /// The ranker's LightGBM parameters.
    pub gbdt: GbdtParams,
    /// Seed of query and negative sampling.
    pub seed: u64,
}

impl Default for RecsParams {
    fn default() -> Self {
        RecsParams {
            stats: StatsParams::default(),
            ranker_fraction: 0.3,
            ranker_queries: 30_000,
            negatives: 30,
            cand_covis: 100,
            cand_emb: 30,
            cand_popular: 50,
            cand_category: 20,
            context_items: 5,
            gbdt: GbdtParams {
                n_rounds: 150,
                num_leaves: 31,
                learning_rate: 0.08,
                min_data_in_leaf: 20,
                early_stopping_rounds: None,
                ..GbdtParams::default()
            },
            seed: 42,
        }
    }
}

/// What a user has done: bundle history plus live session events (known items only).
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The user's id in the bundle, if known.
    pub user: Option<u32>,
    /// `(item, level)` oldest first.
    pub recent: Vec<(u32, u8)>,
}

/// A live session event given to [`RecsModel::recommend`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionEvent {
    /// Item id.
    pub item: String,
    /// Event kind name (`view`, `cart`, `purchase`, …).
    pub kind: String,
}

/// A scored item or user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Scored {
    /// Item or user id.
    pub id: String,
    /// Score (ranker probability, cosine, …; higher is better).
    pub score: f64,
}

/// A recommendation list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recommendations {
    /// The user.
    pub user: String,
    /// Whether the popularity list was used (no known history or session items).
    pub cold_start: bool,
    /// The items, best first.
    pub items: Vec<Scored>,
}

/// A ranking method, for offline comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Recent-window popularity.
    Popularity,
    /// Co-visitation kNN from the context items (popularity fills the rest).
    Covis,
    /// Embedding cosine to the mean of the last context items (popularity fills).
    Embedding,
    /// The learned ranker over all candidates.
    Ranker,
}

impl Method {
    /// All methods.
    pub const ALL: [Method; 4] = [
        Method::Popularity,
        Method::Covis,
        Method::Embedding,
        Method::Ranker,
    ];
    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Popularity => "popularity",
            Method::Covis => "covis-knn",
            Method::Embedding => "embedding",
            Method::Ranker => "ranker",
        }
    }
}

/// Aggregates of a context used by candidates and features.
struct Agg {
    covis: Vec<(u32, f32, f32)>,
    covis_pos: HashMap<u32, usize>,
    mean: Vec<f32>,
    last: Option<u32>,
    cat_count: HashMap<u32, u32>,
    // item -> (count, last position from the end, max level)
    seen: HashMap<u32, (u32, u32, u8)>,
    len: usize,
    user_known: bool,
}

/// The fitted recommendation model (what a recs bundle holds).
#[derive(Debug, Serialize, Deserialize)]
pub struct RecsModel {
    /// Format tag ([`RECS_FORMAT`]).
    pub format: String,
    /// Parameters used.
    pub params: RecsParams,
    /// Training-window statistics.
    pub stats: Stats,
    /// The ranker's LightGBM model text (`None` when too little data to train one).
    pub ranker_text: Option<String>,
    /// Free-form training facts (split, counts, timings).
    pub info: serde_json::Value,
    #[serde(skip)]
    ranker: Option<Gbdt>,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A query for training or evaluation: a session prefix and the item that follows.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    /// Session index.
    pub session: u32,
    /// Events of the session before the target.
    pub prefix: u32,
    /// Target event row.
    pub target: u32,
}

/// Next-item queries of the sessions (each change of item in the session; the prefix is
/// everything before it) and next cart/purchase queries (each cart or purchase event).
pub fn queries(t: &EventTable, s: &Sessions, sessions: &[u32]) -> (Vec<Query>, Vec<Query>) {
    let (mut next, mut buy) = (Vec::new(), Vec::new());
    for &si in sessions {
        let ev = s.events(si as usize);
        for j in 0..ev.len() {
            let e = ev[j] as usize;
            let q = Query {
                session: si,
                prefix: j as u32,
                target: ev[j],
            };
            if j > 0 && t.item[e] != t.item[ev[j - 1] as usize] {
                next.push(q);
            }
            if t.kind[e] == CART || t.kind[e] == PURCHASE {
                buy.push(q);
            }
        }
    }
    (next, buy)
}

impl Stats {
    /// The context of a table user and session prefix.
    pub fn context_of(&self, t: &EventTable, user: u32, prefix: &[u32]) -> Context {
        let user = self.users.get(t.users.get(user));
        let mut recent: Vec<(u32, u8)> =
            user.map(|u| self.history(u).collect()).unwrap_or_default();
        for &e in prefix {
            let e = e as usize;
            if let Some(it) = self.items.get(t.items.get(t.item[e])) {
                recent.push((it, kind_level(t.kind[e])));
            }
        }
        Context { user, recent }
    }

    /// The context of a bundle user and live session events (unknown items skipped).
    pub fn context_live(&self, user: &str, session: &[SessionEvent]) -> Context {
        let user = self.users.get(user);
        let mut recent: Vec<(u32, u8)> =
            user.map(|u| self.history(u).collect()).unwrap_or_default();
        for ev in session {
            if let Some(it) = self.items.get(&ev.item) {
                let code = shopsense_events::EventKind::from_name(&ev.kind)
                    .fixed_code()
                    .unwrap_or(u8::MAX);
                recent.push((it, kind_level(code)));
            }
        }
        Context { user, recent }
    }

    fn agg(&self, ctx: &Context, n_ctx: usize) -> Agg {
        let mut scores: HashMap<u32, (f32, f32)> = HashMap::new();
        let mut distinct: Vec<u32> = Vec::new();
        for &(it, _) in ctx.recent.iter().rev() {
            if !distinct.contains(&it) {
                distinct.push(it);
                if distinct.len() >= n_ctx {
                    break;
                }
            }
        }
        for (r, &it) in distinct.iter().enumerate() {
            let w = 1.0 / (1.0 + r as f32);
            let (c, v) = self.covis.row(it);
            for (&j, &x) in c.iter().zip(v) {
                let e = scores.entry(j).or_default();
                e.0 += w * x;
                if r == 0 {
                    e.1 = x;
                }
            }
        }
        let mut covis: Vec<(u32, f32, f32)> =
            scores.into_iter().map(|(k, (a, b))| (k, a, b)).collect();
        covis.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let covis_pos = covis.iter().enumerate().map(|(i, c)| (c.0, i)).collect();
        let mut mean = vec![0.0f32; self.dim];
        for &it in distinct.iter().take(3) {
            for (m, v) in mean.iter_mut().zip(self.vector(it)) {
                *m += v;
            }
        }
        let norm = mean.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 1e-12 {
            mean.iter_mut().for_each(|x| *x /= norm);
        }
        let mut cat_count = HashMap::new();
        let mut seen: HashMap<u32, (u32, u32, u8)> = HashMap::new();
        let len = ctx.recent.len();
        for (pos, &(it, lv)) in ctx.recent.iter().enumerate() {
            *cat_count.entry(self.item_cat[it as usize]).or_insert(0) += 1;
            let e = seen.entry(it).or_insert((0, 0, 0));
            e.0 += 1;
            e.1 = (len - 1 - pos) as u32;
            e.2 = e.2.max(lv);
        }
        Agg {
            covis,
            covis_pos,
            mean,
            last: ctx.recent.last().map(|r| r.0),
            cat_count,
            seen,
            len,
            user_known: ctx.user.is_some(),
        }
    }

    fn emb_top(&self, q: &[f32], k: usize, exclude: Option<u32>) -> Vec<(u32, f32)> {
        if k == 0 || q.iter().all(|&x| x == 0.0) {
            return Vec::new();
        }
        let mut all: Vec<(u32, f32)> = (0..self.items.len() as u32)
            .filter(|&i| Some(i) != exclude)
            .map(|i| (i, dot(q, self.vector(i))))
            .filter(|x| x.1 > 0.0)
            .collect();
        let k = k.min(all.len());
        if k == 0 {
            return all;
        }
        all.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        all.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all
    }

    fn candidates(&self, a: &Agg, p: &RecsParams) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::with_capacity(256);
        let mut seen = hashbrown::HashSet::with_capacity(256);
        let mut add = |i: u32, out: &mut Vec<u32>| {
            if seen.insert(i) {
                out.push(i);
            }
        };
        for c in a.covis.iter().take(p.cand_covis) {
            add(c.0, &mut out);
        }
        for (i, _) in self.emb_top(&a.mean, p.cand_emb, None) {
            add(i, &mut out);
        }
        for &i in self.popular.iter().take(p.cand_popular) {
            add(i, &mut out);
        }
        if let Some(l) = a.last {
            if let Some(top) = self.cat_top.get(self.item_cat[l as usize] as usize) {
                for &i in top.iter().take(p.cand_category) {
                    add(i, &mut out);
                }
            }
        }
        let mut hist: Vec<(&u32, &(u32, u32, u8))> = a.seen.iter().collect();
        hist.sort_unstable_by_key(|(i, s)| (s.1, **i));
        for (&i, _) in hist.into_iter().take(20) {
            add(i, &mut out);
        }
        out
    }

    fn features(&self, a: &Agg, items: &[u32], out: &mut Vec<f32>) {
        let last_vec = a.last.map(|l| self.vector(l));
        let last_cat = a.last.map(|l| self.item_cat[l as usize]);
        let last_brand = a.last.map(|l| self.item_brand[l as usize]);
        for &i in items {
            let iu = i as usize;
            let (cs, cl, cr) = match a.covis_pos.get(&i) {
                Some(&p) => (a.covis[p].1, a.covis[p].2, p as f32),
                None => (0.0, 0.0, f32::NAN),
            };
            let v = self.vector(i);
            let lv = &self.item_levels[iu];
            let n = (lv[1] + lv[2] + lv[3]) as f32;
            let cat = self.item_cat[iu];
            let (cnt, age, maxl) = match a.seen.get(&i) {
                Some(&(c, ag, m)) => (c as f32, ag as f32, m as f32),
                None => (0.0, f32::NAN, 0.0),
            };
            out.extend_from_slice(&[
                cs,
                cl,
                cr,
                last_vec.map_or(f32::NAN, |l| dot(l, v)),
                dot(&a.mean, v),
                self.pop_recent[iu].ln_1p(),
                self.pop_all[iu].ln_1p(),
                (lv[2] as f32 + 0.1) / (n + 1.0),
                (lv[3] as f32 + 0.1) / (n + 1.0),
                match last_cat {
                    Some(c) if c != u32::MAX => (c == cat) as u8 as f32,
                    _ => f32::NAN,
                },
                *a.cat_count.get(&cat).unwrap_or(&0) as f32,
                cnt,
                age,
                maxl,
                (maxl >= 3.0) as u8 as f32,
                (a.last == Some(i)) as u8 as f32,
                a.len as f32,
                match last_brand {
                    Some(b) if b != u32::MAX => (b == self.item_brand[iu]) as u8 as f32,
                    _ => f32::NAN,
                },
                self.cat_pop
                    .get(cat as usize)
                    .map_or(f32::NAN, |c| c.ln_1p()),
                a.user_known as u8 as f32,
            ]);
        }
    }

    fn fill_popular(&self, list: &mut Vec<u32>, k: usize) {
        let mut have: hashbrown::HashSet<u32> = list.iter().copied().collect();
        for &i in &self.popular {
            if list.len() >= k {
                break;
            }
            if have.insert(i) {
                list.push(i);
            }
        }
    }
}

fn ranker_rows(
    st: &Stats,
    t: &EventTable,
    s: &Sessions,
    qs: &[Query],
    p: &RecsParams,
) -> (Vec<f32>, Vec<f32>) {
    let parts: Vec<(Vec<f32>, Vec<f32>)> = qs
        .par_iter()
        .enumerate()
        .map(|(qi, q)| {
            let ev = s.events(q.session as usize);
            let ctx = st.context_of(t, s.user[q.session as usize], &ev[..q.prefix as usize]);
            let Some(target) = st.items.get(t.items.get(t.item[q.target as usize])) else {
                return (Vec::new(), Vec::new());
            };
            let a = st.agg(&ctx, p.context_items);
            let cands = st.candidates(&a, p);
            if !cands.contains(&target) {
                return (Vec::new(), Vec::new());
            }
            let mut neg: Vec<u32> = cands.into_iter().filter(|&c| c != target).collect();
            let mut rng = SplitMix64::with_stream(p.seed, qi as u64);
            rng.shuffle(&mut neg);
            neg.truncate(p.negatives);
            let mut items = vec![target];
            items.extend(neg);
            let mut x = Vec::with_capacity(items.len() * FEATURES.len());
            st.features(&a, &items, &mut x);
            let mut y = vec![0.0; items.len()];
            y[0] = 1.0;
            (x, y)
        })
        .collect();
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (a, b) in parts {
        x.extend(a);
        y.extend(b);
    }
    (x, y)
}

impl RecsModel {
    /// Trains on the given training sessions of `t`: the ranker learns on queries from
    /// the latest `ranker_fraction` of them with statistics of the earlier ones; the
    /// bundle's statistics are then fitted on all of them.
    pub fn train(t: &EventTable, s: &Sessions, train: &[u32], p: &RecsParams) -> Result<RecsModel> {
        if train.is_empty() {
            return Err(RecsError::NotEnoughData("no training sessions".into()));
        }
        let started = std::time::Instant::now();
        let (early, late): (Vec<u32>, Vec<u32>) = if train.len() >= 4 {
            // Split the training window itself by session start.
            let mut sorted = train.to_vec();
            sorted.sort_by_key(|&i| (crate::data::session_start(t, s, i as usize), i));
            let k = ((train.len() as f64) * (1.0 - p.ranker_fraction)).round() as usize;
            let k = k.clamp(1, train.len() - 1);
            (sorted[..k].to_vec(), sorted[k..].to_vec())
        } else {
            (train.to_vec(), Vec::new())
        };
        let mut ranker = None;
        let mut ranker_rows_n = 0;
        let mut ranker_queries_n = 0;
        if !late.is_empty() {
            let st_a = Stats::fit(t, s, &early, &p.stats);
            let (mut next, buy) = queries(t, s, &late);
            next.extend(buy);
            let mut rng = SplitMix64::new(p.seed);
            rng.shuffle(&mut next);
            next.truncate(p.ranker_queries);
            ranker_queries_n = next.len();
            let (x, y) = ranker_rows(&st_a, t, s, &next, p);
            let n_rows = y.len();
            ranker_rows_n = n_rows;
            let n_pos = y.iter().filter(|&&v| v > 0.0).count();
            if n_pos >= 5 && n_rows > n_pos {
                let m = Matrix::new(x, n_rows, FEATURES.len())?;
                let ds =
                    Dataset::new(m, FEATURES.iter().map(|s| s.to_string()).collect(), y, None)?;
                let (g, _) = train_gbdt(&ds, None, &p.gbdt, None)?;
                ranker = Some(g);
            }
        }
        let stats = Stats::fit(t, s, train, &p.stats);
        let ranker_text = ranker.as_ref().map(|g| g.text().to_string());
        let info = serde_json::json!({
            "train_sessions": train.len(),
            "train_events": stats.n_events,
            "items": stats.items.len(),
            "users": stats.users.len(),
            "ranker_queries": ranker_queries_n,
            "ranker_rows": ranker_rows_n,
            "seconds": started.elapsed().as_secs_f64(),
        });
        Ok(RecsModel {
            format: RECS_FORMAT.into(),
            params: p.clone(),
            stats,
            ranker_text,
            info,
            ranker,
        })
    }

    /// Temporal split (`test_fraction` of sessions by start) then [`RecsModel::train`].
    pub fn train_split(
        t: &EventTable,
        s: &Sessions,
        test_fraction: f64,
        p: &RecsParams,
    ) -> Result<(RecsModel, Split)> {
        let split = temporal_split(t, s, test_fraction)?;
        let m = RecsModel::train(t, s, &split.train, p)?;
        Ok((m, split))
    }

    /// Whether a ranker was trained.
    pub fn has_ranker(&self) -> bool {
        self.ranker.is_some()
    }

    /// Ranks by `method` for a context: item ids of the bundle, best first, with scores.
    pub fn rank(&self, ctx: &Context, method: Method, k: usize) -> Result<Vec<(u32, f64)>> {
        let st = &self.stats;
        let p = &self.params;
        if ctx.recent.is_empty() || method == Method::Popularity {
            return Ok(st
                .popular
                .iter()
                .take(k)
                .map(|&i| (i, st.pop_recent[i as usize] as f64))
                .collect());
        }
        let a = st.agg(ctx, p.context_items);
        let mut out: Vec<(u32, f64)> = match method {
            Method::Popularity => unreachable!("handled above"),
            Method::Covis => a.covis.iter().take(k).map(|c| (c.0, c.1 as f64)).collect(),
            Method::Embedding => st
                .emb_top(&a.mean, k, None)
                .into_iter()
                .map(|(i, c)| (i, c as f64))
                .collect(),
            Method::Ranker => {
                let cands = st.candidates(&a, p);
                match &self.ranker {
                    None => a.covis.iter().take(k).map(|c| (c.0, c.1 as f64)).collect(),
                    Some(g) => {
                        let mut x = Vec::with_capacity(cands.len() * FEATURES.len());
                        st.features(&a, &cands, &mut x);
                        let pr =
                            g.predict_proba(MatrixRef::new(&x, cands.len(), FEATURES.len())?)?;
                        let mut sc: Vec<(u32, f64)> = cands.into_iter().zip(pr).collect();
                        sc.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                        sc.truncate(k);
                        sc
                    }
                }
            }
        };
        if out.len() < k {
            let mut ids: Vec<u32> = out.iter().map(|x| x.0).collect();
            st.fill_popular(&mut ids, k);
            for &i in &ids[out.len()..] {
                out.push((i, 0.0));
            }
        }
        Ok(out)
    }

    /// Recommendations for `user` (known or not) with optional live session events.
    /// Items the user already bought are left out unless `include_bought`. A user with no
    /// known history and no known session items gets the recent popularity list.
    pub fn recommend(
        &self,
        user: &str,
        session: &[SessionEvent],
        k: usize,
        include_bought: bool,
    ) -> Result<Recommendations> {
        let st = &self.stats;
        let ctx = st.context_live(user, session);
        let cold = ctx.recent.is_empty();
        let bought: Vec<u32> = if include_bought {
            Vec::new()
        } else {
            ctx.recent
                .iter()
                .filter(|r| r.1 >= 3)
                .map(|r| r.0)
                .collect()
        };
        let list = self.rank(&ctx, Method::Ranker, k + bought.len())?;
        Ok(Recommendations {
            user: user.to_string(),
            cold_start: cold,
            items: list
                .into_iter()
                .filter(|(i, _)| !bought.contains(i))
                .take(k)
                .map(|(i, s)| Scored {
                    id: st.items.name(i).to_string(),
                    score: s,
                })
                .collect(),
        })
    }

    /// Items similar to `item`: embedding cosine blended with co-visitation (both
    /// directions). Fails with [`RecsError::UnknownItem`] for an item the bundle lacks.
    pub fn similar(&self, item: &str, k: usize) -> Result<Vec<Scored>> {
        let st = &self.stats;
        let i = st
            .items
            .get(item)
            .ok_or_else(|| RecsError::UnknownItem(item.to_string()))?;
        let mut sc: HashMap<u32, f64> = HashMap::new();
        for (j, c) in st.emb_top(st.vector(i), k.max(50), Some(i)) {
            *sc.entry(j).or_default() += c as f64;
        }
        let (c, v) = st.covis.row(i);
        let max = v.first().copied().unwrap_or(1.0).max(1e-9) as f64;
        for (&j, &x) in c.iter().zip(v) {
            *sc.entry(j).or_default() += x as f64 / max;
        }
        sc.remove(&i);
        let mut out: Vec<(u32, f64)> = sc.into_iter().collect();
        out.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if out.len() < k {
            if let Some(top) = st.cat_top.get(st.item_cat[i as usize] as usize) {
                for &j in top {
                    if j != i && !out.iter().any(|o| o.0 == j) {
                        out.push((j, 0.0));
                    }
                }
            }
        }
        Ok(out
            .into_iter()
            .take(k)
            .map(|(j, s)| Scored {
                id: st.items.name(j).to_string(),
                score: s,
            })
            .collect())
    }

    /// The `k` users most likely to interact with `item` next (ranker probability of the
    /// item given each user's history), among users who touched the item or its closest
    /// co-visited items. Fails with [`RecsError::UnknownItem`] for an unknown item.
    pub fn audience(&self, item: &str, k: usize) -> Result<Vec<Scored>> {
        let st = &self.stats;
        let i = st
            .items
            .get(item)
            .ok_or_else(|| RecsError::UnknownItem(item.to_string()))?;
        let mut users: Vec<u32> = st.item_users.row(i).0.to_vec();
        for &j in st.covis.row(i).0.iter().take(20) {
            users.extend_from_slice(st.item_users.row(j).0);
        }
        users.sort_unstable();
        users.dedup();
        users.truncate(5000);
        let scored: Vec<(u32, f64)> = users
            .par_iter()
            .map(|&u| -> Result<(u32, f64)> {
                let ctx = Context {
                    user: Some(u),
                    recent: st.history(u).collect(),
                };
                let a = st.agg(&ctx, self.params.context_items);
                let score = match &self.ranker {
                    Some(g) => {
                        let mut x = Vec::with_capacity(FEATURES.len());
                        st.features(&a, &[i], &mut x);
                        g.predict_proba(MatrixRef::new(&x, 1, FEATURES.len())?)?[0]
                    }
                    None => a.covis_pos.get(&i).map_or(0.0, |&p| a.covis[p].1 as f64),
                };
                Ok((u, score))
            })
            .collect::<Result<_>>()?;
        let mut scored = scored;
        scored.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(scored
            .into_iter()
            .take(k)
            .map(|(u, s)| Scored {
                id: st.users.name(u).to_string(),
                score: s,
            })
            .collect())
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

    /// Loads and checks a bundle written by [`RecsModel::save`].
    pub fn load(path: &Path) -> Result<RecsModel> {
        let bytes = shopsense_models::io::read(path)?;
        let bad = |m: String| RecsError::Bundle {
            path: path.to_path_buf(),
            message: m,
        };
        let mut m: RecsModel =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a recs bundle: {e}")))?;
        if m.format != RECS_FORMAT {
            return Err(bad(format!(
                "format `{}`, expected `{RECS_FORMAT}`",
                m.format
            )));
        }
        let st = &m.stats;
        let n = st.items.len();
        if st.item_cat.len() != n
            || st.item_brand.len() != n
            || st.pop_all.len() != n
            || st.pop_recent.len() != n
            || st.item_levels.len() != n
            || st.emb.len() != n * st.dim
            || st.hist_off.len() != st.users.len() + 1
        {
            return Err(bad("inconsistent array lengths".into()));
        }
        m.stats.reindex();
        if let Some(text) = &m.ranker_text {
            let g = Gbdt::from_bytes(text.as_bytes())?;
            if g.n_features() != FEATURES.len() {
                return Err(bad(format!(
                    "ranker has {} features, expected {}",
                    g.n_features(),
                    FEATURES.len()
                )));
            }
            m.ranker = Some(g);
        }
        Ok(m)
    }
}
