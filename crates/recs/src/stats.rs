//! Everything fitted on a training window that candidate generation and ranking features
//! need: item / category / brand vocabularies, popularity (all and recent), level counts
//! per item, co-visitation, embeddings, user histories and item → users.

use crate::covis::{self, Csr};
use crate::data::{kind_level, Vocab, LEVEL_WEIGHT};
use crate::embed;
use serde::{Deserialize, Serialize};
use shopsense_events::{EventTable, NONE};
use shopsense_sessions::Sessions;
use std::collections::HashMap;

/// Fitting parameters of [`Stats`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StatsParams {
    /// Co-visitation window (positions either side).
    pub window: usize,
    /// Directed co-visitation neighbours kept per item.
    pub top_covis: usize,
    /// Symmetric co-occurrences kept per item (embedding input).
    pub top_symmetric: usize,
    /// Embedding dimension.
    pub dim: usize,
    /// The recent-popularity window: this share of the training time span, at its end.
    pub recent_fraction: f64,
    /// Interactions kept per user (most recent).
    pub history_len: usize,
    /// Popular items kept.
    pub n_popular: usize,
    /// Popular items kept per category.
    pub n_category_top: usize,
    /// Users kept per item (audience candidates).
    pub users_per_item: usize,
    /// Seed of the embedding factorisation.
    pub seed: u64,
}

impl Default for StatsParams {
    fn default() -> Self {
        StatsParams {
            window: 3,
            top_covis: 100,
            top_symmetric: 200,
            dim: 32,
            recent_fraction: 0.25,
            history_len: 30,
            n_popular: 200,
            n_category_top: 20,
            users_per_item: 300,
            seed: 42,
        }
    }
}

/// Statistics of one training window (see the module docs).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Items.
    pub items: Vocab,
    /// Category of each item (`u32::MAX` = none).
    pub item_cat: Vec<u32>,
    /// Brand of each item (`u32::MAX` = none).
    pub item_brand: Vec<u32>,
    /// Categories.
    pub cats: Vocab,
    /// Brands.
    pub brands: Vocab,
    /// Level-weighted interaction count per item.
    pub pop_all: Vec<f32>,
    /// Level-weighted interaction count per item in the recent window.
    pub pop_recent: Vec<f32>,
    /// Level-weighted count per category.
    pub cat_pop: Vec<f32>,
    /// Interactions per item by level (index 1 view, 2 cart, 3 purchase).
    pub item_levels: Vec<[u32; 4]>,
    /// Most popular items in the recent window (ties: all-time popularity, id).
    pub popular: Vec<u32>,
    /// Most popular items per category.
    pub cat_top: Vec<Vec<u32>>,
    /// Directed, level-weighted co-visitation.
    pub covis: Csr,
    /// Embedding dimension.
    pub dim: usize,
    /// L2-normalised item vectors, row-major `items × dim`.
    pub emb: Vec<f32>,
    /// Users.
    pub users: Vocab,
    /// Start of each user's history in `hist_item`; one more than users.
    pub hist_off: Vec<u32>,
    /// History items (oldest first).
    pub hist_item: Vec<u32>,
    /// History levels.
    pub hist_level: Vec<u8>,
    /// Users who touched each item (value: their highest level).
    pub item_users: Csr,
    /// Training events seen.
    pub n_events: u64,
}

impl Stats {
    /// Fits on the given sessions of `t`.
    pub fn fit(t: &EventTable, s: &Sessions, sessions: &[u32], p: &StatsParams) -> Stats {
        let mut st = Stats {
            dim: p.dim,
            ..Default::default()
        };
        let mut item_of = vec![u32::MAX; t.items.len()];
        let mut cat_of: HashMap<u32, u32> = HashMap::new();
        let mut brand_of: HashMap<u32, u32> = HashMap::new();
        let mut user_of = vec![u32::MAX; t.users.len()];
        let (mut tmin, mut tmax) = (i64::MAX, i64::MIN);
        let mut seqs = Vec::with_capacity(sessions.len());
        // (user, time, item, level)
        let mut uev: Vec<(u32, i64, u32, u8)> = Vec::new();
        for &si in sessions {
            let ev = s.events(si as usize);
            let mut seq = Vec::with_capacity(ev.len());
            for &e in ev {
                let e = e as usize;
                let ti = t.item[e] as usize;
                if ti >= item_of.len() {
                    continue;
                }
                if item_of[ti] == u32::MAX {
                    let id = st.items.intern(t.items.get(ti as u32));
                    item_of[ti] = id;
                    let c = t.category[e];
                    let cid = if c == NONE {
                        u32::MAX
                    } else {
                        *cat_of
                            .entry(c)
                            .or_insert_with(|| st.cats.intern(t.categories.get(c)))
                    };
                    let b = t.brand[e];
                    let bid = if b == NONE {
                        u32::MAX
                    } else {
                        *brand_of
                            .entry(b)
                            .or_insert_with(|| st.brands.intern(t.brands.get(b)))
                    };
                    st.item_cat.push(cid);
                    st.item_brand.push(bid);
                }
                let it = item_of[ti];
                let lv = kind_level(t.kind[e]);
                seq.push((it, lv));
                let tm = t.time_ms[e];
                tmin = tmin.min(tm);
                tmax = tmax.max(tm);
                let tu = t.user[e] as usize;
                if tu < user_of.len() {
                    if user_of[tu] == u32::MAX {
                        user_of[tu] = st.users.intern(t.users.get(tu as u32));
                    }
                    uev.push((user_of[tu], tm, it, lv));
                }
            }
            seqs.push(seq);
        }
        let n = st.items.len();
        st.n_events = uev.len() as u64;
        let recent_from = tmax - ((tmax - tmin) as f64 * p.recent_fraction) as i64;
        st.pop_all = vec![0.0; n];
        st.pop_recent = vec![0.0; n];
        st.item_levels = vec![[0; 4]; n];
        st.cat_pop = vec![0.0; st.cats.len()];
        for &(_, tm, it, lv) in &uev {
            let w = LEVEL_WEIGHT[lv as usize];
            st.pop_all[it as usize] += w;
            if tm >= recent_from {
                st.pop_recent[it as usize] += w;
            }
            st.item_levels[it as usize][lv as usize] += 1;
            if let Some(c) = st.cat_pop.get_mut(st.item_cat[it as usize] as usize) {
                *c += w;
            }
        }
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            st.pop_recent[b]
                .total_cmp(&st.pop_recent[a])
                .then(st.pop_all[b].total_cmp(&st.pop_all[a]))
                .then(a.cmp(&b))
        });
        st.popular = order.iter().take(p.n_popular).copied().collect();
        st.cat_top = vec![Vec::new(); st.cats.len()];
        for &it in &order {
            if let Some(v) = st.cat_top.get_mut(st.item_cat[it as usize] as usize) {
                if v.len() < p.n_category_top {
                    v.push(it);
                }
            }
        }
        let (dir, sym) = covis::build(&seqs, n, p.window, p.top_covis, p.top_symmetric);
        drop(seqs);
        st.covis = dir;
        st.emb = embed::ppmi_svd(&sym, p.dim, p.seed);
        // User histories and item → users.
        uev.sort_unstable_by_key(|&(u, tm, _, _)| (u, tm));
        let nu = st.users.len();
        st.hist_off = Vec::with_capacity(nu + 1);
        st.hist_off.push(0);
        let mut iu: HashMap<(u32, u32), u8> = HashMap::new();
        let mut a = 0;
        for u in 0..nu as u32 {
            let mut b = a;
            while b < uev.len() && uev[b].0 == u {
                b += 1;
            }
            let from = b.saturating_sub(p.history_len).max(a);
            for &(_, _, it, lv) in &uev[from..b] {
                st.hist_item.push(it);
                st.hist_level.push(lv);
            }
            for &(_, _, it, lv) in &uev[a..b] {
                let e = iu.entry((it, u)).or_insert(0);
                *e = (*e).max(lv);
            }
            st.hist_off.push(st.hist_item.len() as u32);
            a = b;
        }
        let mut rows: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n];
        for ((it, u), lv) in iu {
            rows[it as usize].push((u, lv as f32));
        }
        st.item_users = Csr::from_rows(rows, p.users_per_item);
        st
    }

    /// Rebuilds lookup indexes after deserialisation.
    pub fn reindex(&mut self) {
        self.items.reindex();
        self.users.reindex();
        self.cats.reindex();
        self.brands.reindex();
    }

    /// The vector of item `i`.
    pub fn vector(&self, i: u32) -> &[f32] {
        let d = self.dim;
        &self.emb[i as usize * d..i as usize * d + d]
    }

    /// History `(item, level)` of user `u`, oldest first.
    pub fn history(&self, u: u32) -> impl Iterator<Item = (u32, u8)> + '_ {
        let (a, b) = (
            self.hist_off[u as usize] as usize,
            self.hist_off[u as usize + 1] as usize,
        );
        self.hist_item[a..b]
            .iter()
            .copied()
            .zip(self.hist_level[a..b].iter().copied())
    }
}
