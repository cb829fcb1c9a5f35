//! The one feature function: a slice of event rows in time order → the full feature vector.
//! Offline rows and online sessions both end here.

use crate::encoders::{Buckets, Prior, Priors};
use crate::history::UserHistory;
use crate::spec::{F, N_ALL};
use shopsense_events::kind::{CART, PURCHASE, REMOVE_FROM_CART, VIEW, WISHLIST};
use shopsense_events::{EventTable, NONE};

const DAY_MS: i64 = 86_400_000;

/// What a row is computed against: the columns its rows index (an [`EventTable`]'s, or a
/// live session's own), the priors and hash codes of the ids in those columns, and the
/// local-time offset.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub time_ms: &'a [i64],
    pub kind: &'a [u8],
    pub price: &'a [f64],
    /// Item ids (indices into `priors.item`).
    pub item: &'a [u32],
    /// Category ids (indices into `priors.category` / `buckets.category`) or [`NONE`].
    pub category: &'a [u32],
    /// Brand ids (indices into `priors.brand` / `buckets.brand`) or [`NONE`].
    pub brand: &'a [u32],
    pub priors: &'a Priors,
    pub buckets: &'a Buckets,
    pub utc_offset_ms: i64,
}

impl<'a> Ctx<'a> {
    /// The columns of table `t`, with the priors and codes of its interned ids.
    pub fn of_table(
        t: &'a EventTable,
        priors: &'a Priors,
        buckets: &'a Buckets,
        utc_offset_ms: i64,
    ) -> Self {
        Ctx {
            time_ms: &t.time_ms,
            kind: &t.kind,
            price: &t.price,
            item: &t.item,
            category: &t.category,
            brand: &t.brand,
            priors,
            buckets,
            utc_offset_ms,
        }
    }
}

/// Reusable per-thread memory: nothing is allocated per row once it has grown.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    keys: Vec<u64>,
    pub full: Vec<f32>,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            keys: Vec::with_capacity(64),
            full: vec![0.0; N_ALL],
        }
    }
}

#[derive(Default)]
struct PriorAcc {
    n: u32,
    cart_sum: f64,
    cart_max: f32,
    buy_sum: f64,
    buy_max: f32,
    pop_sum: f64,
    unseen: u32,
}

impl PriorAcc {
    fn new() -> Self {
        PriorAcc {
            cart_max: f32::NEG_INFINITY,
            buy_max: f32::NEG_INFINITY,
            ..Default::default()
        }
    }

    #[inline]
    fn add(&mut self, p: &Prior) {
        self.n += 1;
        self.cart_sum += p.cart as f64;
        self.cart_max = self.cart_max.max(p.cart);
        self.buy_sum += p.buy as f64;
        self.buy_max = self.buy_max.max(p.buy);
        self.pop_sum += p.pop as f64;
        self.unseen += (!p.seen) as u32;
    }

    fn mean(&self, sum: f64) -> f32 {
        if self.n == 0 {
            f32::NAN
        } else {
            (sum / self.n as f64) as f32
        }
    }

    fn max(&self, m: f32) -> f32 {
        if self.n == 0 {
            f32::NAN
        } else {
            m
        }
    }
}

/// Distinct ids among `keys` (each `id << 32 | position`), and the "top" id: most views,
/// ties broken by more events, then by the earliest first event. Sorts `keys`.
fn distinct_and_top(keys: &mut [u64], rows: &[u32], kinds: &[u8]) -> (u32, Option<u32>) {
    keys.sort_unstable();
    let mut distinct = 0;
    let mut best: Option<(u32, u32, u32, u32)> = None; // (views, events, first pos, id)
    let mut i = 0;
    while i < keys.len() {
        let id = (keys[i] >> 32) as u32;
        let first = keys[i] as u32;
        let mut views = 0;
        let mut j = i;
        while j < keys.len() && (keys[j] >> 32) as u32 == id {
            views += (kinds[rows[keys[j] as u32 as usize] as usize] == VIEW) as u32;
            j += 1;
        }
        let events = (j - i) as u32;
        distinct += 1;
        let better = match best {
            None => true,
            Some((v, e, f, _)) => {
                (views, events) > (v, e) || ((views, events) == (v, e) && first < f)
            }
        };
        if better {
            best = Some((views, events, first, id));
        }
        i = j;
    }
    (distinct, best.map(|b| b.3))
}

#[inline]
fn set(out: &mut [f32], f: F, v: f32) {
    out[f as usize] = v;
}

#[inline]
fn flag(b: bool) -> f32 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Computes the full feature vector of the visible events `rows` (row indices of `ctx.t`, in
/// time order) into `out` (`N_ALL` values).
pub(crate) fn compute_row(
    ctx: &Ctx<'_>,
    rows: &[u32],
    hist: &UserHistory,
    scratch: &mut Scratch,
    out: &mut [f32],
) {
    debug_assert_eq!(out.len(), N_ALL);
    out.fill(f32::NAN);
    let t = ctx;
    let n = rows.len();
    set(out, F::N_EVENTS, n as f32);

    // User history (needs only the session start).
    set(out, F::USER_PREV_SESSIONS, hist.sessions as f32);
    set(out, F::USER_PREV_EVENTS, hist.events as f32);
    set(out, F::USER_PREV_CARTS, hist.carts as f32);
    set(out, F::USER_PREV_PURCHASES, hist.purchases as f32);
    set(
        out,
        F::USER_PREV_PURCHASE_SESSIONS,
        hist.purchase_sessions as f32,
    );
    if hist.sessions > 0 {
        set(
            out,
            F::USER_PREV_PURCHASE_RATE,
            (hist.purchase_sessions as f64 / hist.sessions as f64) as f32,
        );
    }
    for f in [
        F::N_VIEW,
        F::N_CART,
        F::N_REMOVE,
        F::N_WISHLIST,
        F::N_PURCHASE,
        F::N_OTHER,
        F::DISTINCT_ITEMS,
        F::DISTINCT_CATEGORIES,
        F::DISTINCT_BRANDS,
        F::HAS_PRICE,
    ] {
        set(out, f, 0.0);
    }
    let Some((&first, &last)) = rows.first().zip(rows.last()) else {
        return;
    };
    let (first, last) = (first as usize, last as usize);
    let time = t.time_ms;
    let kinds = t.kind;
    let start = time[first];
    let cutoff = time[last];
    if let Some(prev) = hist.last_event_ms {
        set(
            out,
            F::USER_DAYS_SINCE_LAST,
            (start.saturating_sub(prev) as f64 / DAY_MS as f64) as f32,
        );
    }

    // One pass: counts, funnel, prices, dwell times, priors.
    let mut counts = [0u32; 6];
    let mut stage = 0u8;
    let (mut p_n, mut p_sum, mut p_max, mut p_min) = (0u32, 0f64, f64::NEG_INFINITY, f64::INFINITY);
    let (mut d_sum, mut d_max, mut d_min) = (0i64, i64::MIN, i64::MAX);
    let mut item_acc = PriorAcc::new();
    let mut cat_acc = PriorAcc::new();
    let mut brand_acc = PriorAcc::new();
    let mut prev_time = start;
    for (pos, &r) in rows.iter().enumerate() {
        let r = r as usize;
        let k = kinds[r];
        match k {
            VIEW => counts[0] += 1,
            CART => {
                counts[1] += 1;
                stage = stage.max(2);
            }
            REMOVE_FROM_CART => {
                counts[2] += 1;
                stage = stage.max(2);
            }
            WISHLIST => {
                counts[3] += 1;
                stage = stage.max(1);
            }
            PURCHASE => {
                counts[4] += 1;
                stage = 3;
            }
            _ => counts[5] += 1,
        }
        let p = t.price[r];
        if !p.is_nan() {
            p_n += 1;
            p_sum += p;
            p_max = p_max.max(p);
            p_min = p_min.min(p);
        }
        if pos > 0 {
            let d = time[r].saturating_sub(prev_time);
            d_sum = d_sum.saturating_add(d);
            d_max = d_max.max(d);
            d_min = d_min.min(d);
        }
        prev_time = time[r];
        item_acc.add(&ctx.priors.item[t.item[r] as usize]);
        let c = t.category[r];
        if c != NONE {
            cat_acc.add(&ctx.priors.category[c as usize]);
        }
        let b = t.brand[r];
        if b != NONE {
            brand_acc.add(&ctx.priors.brand[b as usize]);
        }
    }
    set(out, F::N_VIEW, counts[0] as f32);
    set(out, F::N_CART, counts[1] as f32);
    set(out, F::N_REMOVE, counts[2] as f32);
    set(out, F::N_WISHLIST, counts[3] as f32);
    set(out, F::N_PURCHASE, counts[4] as f32);
    set(out, F::N_OTHER, counts[5] as f32);
    set(out, F::FUNNEL_STAGE, stage as f32);
    let lk = kinds[last];
    set(out, F::LAST_KIND, lk.min(5) as f32);

    // Times.
    set(
        out,
        F::DURATION_S,
        (cutoff.saturating_sub(start) as f64 / 1000.0) as f32,
    );
    set(out, F::SINCE_LAST_S, 0.0);
    if n > 1 {
        set(
            out,
            F::DWELL_MEAN_S,
            (d_sum as f64 / (n - 1) as f64 / 1000.0) as f32,
        );
        set(out, F::DWELL_MAX_S, (d_max as f64 / 1000.0) as f32);
        set(out, F::DWELL_MIN_S, (d_min as f64 / 1000.0) as f32);
    }
    let local = start.saturating_add(ctx.utc_offset_ms);
    let day = local.div_euclid(DAY_MS);
    let hour = local.rem_euclid(DAY_MS) / 3_600_000;
    let dow = (day + 3).rem_euclid(7); // 1970-01-01 was a Thursday; Monday = 0
    set(out, F::HOUR, hour as f32);
    set(out, F::DOW, dow as f32);
    set(out, F::HOUR_DOW, (dow * 24 + hour) as f32);

    // Prices.
    set(out, F::HAS_PRICE, flag(p_n > 0));
    if p_n > 0 {
        let mean = p_sum / p_n as f64;
        let mut ss = 0f64;
        for &r in rows {
            let p = t.price[r as usize];
            if !p.is_nan() {
                ss += (p - mean) * (p - mean);
            }
        }
        set(out, F::PRICE_MEAN, mean as f32);
        set(out, F::PRICE_MAX, p_max as f32);
        set(out, F::PRICE_MIN, p_min as f32);
        set(out, F::PRICE_STD, (ss / p_n as f64).sqrt() as f32);
    }
    set(out, F::PRICE_LAST, t.price[last] as f32);

    // Distinct ids, repeats, top category / brand.
    let keys = &mut scratch.keys;
    keys.clear();
    keys.extend(
        rows.iter()
            .enumerate()
            .map(|(pos, &r)| ((t.item[r as usize] as u64) << 32) | pos as u64),
    );
    keys.sort_unstable();
    let (mut distinct, mut max_run, mut viewed_items) = (0u32, 0u32, 0u32);
    let mut i = 0;
    while i < keys.len() {
        let id = keys[i] >> 32;
        let mut j = i;
        let mut viewed = false;
        while j < keys.len() && keys[j] >> 32 == id {
            viewed |= kinds[rows[keys[j] as u32 as usize] as usize] == VIEW;
            j += 1;
        }
        distinct += 1;
        max_run = max_run.max((j - i) as u32);
        viewed_items += viewed as u32;
        i = j;
    }
    set(out, F::DISTINCT_ITEMS, distinct as f32);
    set(out, F::MAX_ITEM_REPEATS, max_run as f32);
    if counts[0] > 0 {
        set(
            out,
            F::REPEAT_VIEW_SHARE,
            ((counts[0] - viewed_items) as f64 / counts[0] as f64) as f32,
        );
    }

    keys.clear();
    keys.extend(rows.iter().enumerate().filter_map(|(pos, &r)| {
        let c = t.category[r as usize];
        (c != NONE).then_some(((c as u64) << 32) | pos as u64)
    }));
    let (d, top) = distinct_and_top(keys, rows, kinds);
    set(out, F::DISTINCT_CATEGORIES, d as f32);
    if let Some(c) = top {
        set(out, F::TOP_CAT_HASH, ctx.buckets.category[c as usize]);
    }
    keys.clear();
    keys.extend(rows.iter().enumerate().filter_map(|(pos, &r)| {
        let b = t.brand[r as usize];
        (b != NONE).then_some(((b as u64) << 32) | pos as u64)
    }));
    let (d, top) = distinct_and_top(keys, rows, kinds);
    set(out, F::DISTINCT_BRANDS, d as f32);
    if let Some(b) = top {
        set(out, F::TOP_BRAND_HASH, ctx.buckets.brand[b as usize]);
    }

    // Priors.
    let ip = &ctx.priors.item[t.item[last] as usize];
    set(out, F::ITEM_CART_MEAN, item_acc.mean(item_acc.cart_sum));
    set(out, F::ITEM_CART_MAX, item_acc.max(item_acc.cart_max));
    set(out, F::ITEM_CART_LAST, ip.cart);
    set(out, F::ITEM_BUY_MEAN, item_acc.mean(item_acc.buy_sum));
    set(out, F::ITEM_BUY_MAX, item_acc.max(item_acc.buy_max));
    set(out, F::ITEM_BUY_LAST, ip.buy);
    set(out, F::ITEM_POP_MEAN, item_acc.mean(item_acc.pop_sum));
    set(out, F::ITEM_POP_LAST, ip.pop);
    set(
        out,
        F::ITEM_UNSEEN_SHARE,
        (item_acc.unseen as f64 / n as f64) as f32,
    );
    set(out, F::ITEM_UNSEEN_LAST, flag(!ip.seen));

    set(out, F::CAT_CART_MEAN, cat_acc.mean(cat_acc.cart_sum));
    set(out, F::CAT_CART_MAX, cat_acc.max(cat_acc.cart_max));
    set(out, F::CAT_BUY_MEAN, cat_acc.mean(cat_acc.buy_sum));
    set(out, F::CAT_BUY_MAX, cat_acc.max(cat_acc.buy_max));
    let c = t.category[last];
    if c != NONE {
        let cp = &ctx.priors.category[c as usize];
        set(out, F::CAT_CART_LAST, cp.cart);
        set(out, F::CAT_BUY_LAST, cp.buy);
        set(out, F::CAT_POP_LAST, cp.pop);
        set(out, F::CAT_UNSEEN_LAST, flag(!cp.seen));
        set(out, F::LAST_CAT_HASH, ctx.buckets.category[c as usize]);
    }

    set(out, F::BRAND_CART_MEAN, brand_acc.mean(brand_acc.cart_sum));
    set(out, F::BRAND_CART_MAX, brand_acc.max(brand_acc.cart_max));
    set(out, F::BRAND_BUY_MEAN, brand_acc.mean(brand_acc.buy_sum));
    set(out, F::BRAND_BUY_MAX, brand_acc.max(brand_acc.buy_max));
    let b = t.brand[last];
    if b != NONE {
        let bp = &ctx.priors.brand[b as usize];
        set(out, F::BRAND_CART_LAST, bp.cart);
        set(out, F::BRAND_BUY_LAST, bp.buy);
        set(out, F::BRAND_POP_LAST, bp.pop);
        set(out, F::BRAND_UNSEEN_LAST, flag(!bp.seen));
        set(out, F::LAST_BRAND_HASH, ctx.buckets.brand[b as usize]);
    }
}
