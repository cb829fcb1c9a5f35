//! The intent feature job (`shopsense features --engine sc://…`) on Spark.
//!
//! [`feature_sql`] generates one Spark SQL plan that reproduces, over a `shopsense ingest`
//! store, every data step of the local `shopsense features` run (`shopsense_intent::prepare`):
//!
//! 1. sessions and their index (numbered by first event, as `shopsense_sessions::Sessions`);
//! 2. the protocol's prefixes (`full`, `early-k`, `at-cart`) and labels;
//! 3. the temporal split (train / validation / test by session start, the same rounding);
//! 4. the encoders: item / category / brand view, cart and purchase counts over the events
//!    before the end of the training window, whole-window and out-of-fold (each session's group
//!    is the same xxh3 hash of its index as locally, computed in SQL with 64-bit wrapping
//!    arithmetic), smoothed toward the window's global rates;
//! 5. user histories strictly before each session's start;
//! 6. all features of [`shopsense_features::ALL_FEATURES`] per prefix, as `f32`.
//!
//! Only the hashed category / brand codes come from the client: Spark has no xxh3 for
//! strings, so [`run_spark_features`] first asks Spark for the distinct category ids and
//! brands (a small result), hashes them as the local path does, and sends the codes back
//! inside the plan as an inline table.
//!
//! Limits: out-of-fold groups by user (`oof_by = user`) are not ported (they hash user
//! strings); the job refuses them with a clear error.

use crate::{keyed_ctes, sql_str, ClusterError, JobConfig};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float32Type, Int32Type, Int64Type};
use shopsense_features::{FeatureMatrix, FeatureSpec, OofBy, Protocol, ALL_FEATURES};
use std::fmt::Write as _;
use std::path::Path;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Bytes 8..24 of xxh3's default secret, the part its 4..8-byte path reads.
const SECRET_8_24: [u8; 16] = [
    0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c, 0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb,
];
/// xxh3's `PRIME_MX1`.
const MX1: u64 = 0x9FB2_1C65_1E98_DF25;

/// The constant `flip` of xxh3's 4..8-byte path for `seed`.
fn xxh3_flip(seed: u64) -> u64 {
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&SECRET_8_24[..8]);
    hi.copy_from_slice(&SECRET_8_24[8..]);
    let seed = seed ^ (((seed as u32).swap_bytes() as u64) << 32);
    (u64::from_le_bytes(lo) ^ u64::from_le_bytes(hi)).wrapping_sub(seed)
}

/// `xxh3_64_with_seed(&x.to_le_bytes(), seed)` written out step by step: the exact steps the
/// SQL of [`fold_sql`] takes (kept here so a unit test can check them against the library).
#[cfg(test)]
fn xxh3_u32(x: u32, seed: u64) -> u64 {
    let x = x as u64;
    let keyed = (x.wrapping_add(x << 32)) ^ xxh3_flip(seed);
    let mut v = keyed ^ keyed.rotate_left(49) ^ keyed.rotate_left(24);
    v = v.wrapping_mul(MX1);
    v ^= (v >> 35).wrapping_add(4);
    v = v.wrapping_mul(MX1);
    v ^ (v >> 28)
}

/// SQL of the out-of-fold group of the session index column `s` (a BIGINT below 2^32): the
/// local `fold_assignment` (xxh3 of the index's 4 little-endian bytes, unsigned, modulo `k`).
/// Needs `spark.sql.ansi.enabled=false` (BIGINT `*` and `+` wrap like `u64` then).
fn fold_sql(seed: u64, k: u32) -> String {
    let flip = xxh3_flip(seed) as i64;
    let mx = MX1 as i64;
    let k = k.max(1) as u64;
    // 2^64 mod k: what a negative (as signed) hash lacks to be its unsigned value.
    let wrap = ((1u128 << 64) % k as u128) as u64;
    let rotl = |r: u32| format!("(shiftleft(h0, {r}) | shiftrightunsigned(h0, {}))", 64 - r);
    format!(
        "(SELECT s, CAST(pmod(pmod(h, {k}) + CASE WHEN h < 0 THEN {wrap} ELSE 0 END, {k}) AS INT) AS fold
  FROM (SELECT s, h4 ^ shiftrightunsigned(h4, 28) AS h
  FROM (SELECT s, h3 * CAST('{mx}' AS BIGINT) AS h4
  FROM (SELECT s, h2 ^ (shiftrightunsigned(h2, 35) + 4) AS h3
  FROM (SELECT s, h1 * CAST('{mx}' AS BIGINT) AS h2
  FROM (SELECT s, h0 ^ {r49} ^ {r24} AS h1
  FROM (SELECT s, (s + shiftleft(s, 32)) ^ CAST('{flip}' AS BIGINT) AS h0 FROM sidx)))))))",
        r49 = rotl(49),
        r24 = rotl(24),
    )
}

/// `round(n · f)` as the local split computes it (`f64::round` of a non-negative value), in
/// SQL over the BIGINT column `n`; `f` is printed as a double literal.
fn round_sql(n: &str, f: &str) -> String {
    format!("CAST(floor({n} * {f}) + CASE WHEN {n} * {f} - floor({n} * {f}) >= 0.5D THEN 1 ELSE 0 END AS BIGINT)")
}

fn dlit(x: f64) -> String {
    format!("CAST('{x:?}' AS DOUBLE)")
}

/// Hashed codes of category ids or brands, as the local path computes them
/// (`xxh3_64_with_seed(id, spec.hash_seed) % spec.hash_buckets`).
pub fn bucket_codes(ids: &[String], spec: &FeatureSpec) -> Vec<(String, f32)> {
    ids.iter()
        .map(|s| {
            let c = xxh3_64_with_seed(s.as_bytes(), spec.hash_seed) % spec.hash_buckets as u64;
            (s.clone(), c as f32)
        })
        .collect()
}

/// An inline table `(key STRING, code FLOAT)`; one null row when `codes` is empty (it never
/// matches a join).
fn codes_table(codes: &[(String, f32)]) -> String {
    if codes.is_empty() {
        return "SELECT CAST(NULL AS STRING) AS key, CAST(NULL AS FLOAT) AS code".into();
    }
    let mut s = String::from("SELECT * FROM VALUES ");
    for (i, (k, c)) in codes.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "('{}', CAST({c} AS FLOAT))", sql_str(k));
    }
    s.push_str(" AS v(key, code)");
    s
}

/// The query that lists the distinct category ids and brands of the store (window applied).
pub fn distinct_ids_sql(store_dir: &Path, cfg: &JobConfig) -> String {
    format!(
        "{keyed}ids AS (SELECT 'c' AS what, cat AS id FROM ev WHERE cat IS NOT NULL
  UNION ALL SELECT 'b' AS what, br AS id FROM ev WHERE br IS NOT NULL)
SELECT DISTINCT what, id FROM ids",
        keyed = keyed_ctes(store_dir, cfg)
    )
}

/// Fails for settings the Spark plan does not reproduce.
pub fn check_spec(spec: &FeatureSpec) -> Result<(), ClusterError> {
    spec.validate()
        .map_err(|e| ClusterError::Engine("spark".into(), e.to_string()))?;
    if spec.oof_by == OofBy::User {
        return Err(ClusterError::Engine(
            "spark".into(),
            "out-of-fold groups by user are not ported to Spark (use oof_by = session, the default)"
                .into(),
        ));
    }
    Ok(())
}

/// The Spark SQL plan of the feature job (see the [module docs](self)). Returns one row per
/// prefix, ordered by (part, start, session): `part` (0 train, 1 validation, 2 test),
/// `session`, `start_ms`, `label`, then one FLOAT column per selected feature (null = missing).
/// Run it with `spark.sql.ansi.enabled=false`.
pub fn feature_sql(
    store_dir: &Path,
    cfg: &JobConfig,
    spec: &FeatureSpec,
    categories: &[(String, f32)],
    brands: &[(String, f32)],
) -> Result<String, ClusterError> {
    check_spec(spec)?;
    let cols = spec
        .columns()
        .map_err(|e| ClusterError::Engine("spark".into(), e.to_string()))?;
    let k = spec.oof_folds;
    let m = dlit(spec.smoothing);
    let (a, b, _) = spec.split;
    let (fa, fab) = (dlit(a), dlit(a + b));
    let len = match spec.protocol {
        Protocol::Full => "coalesce(fpp, n)".to_string(),
        Protocol::EarlyK(kk) => format!("CASE WHEN coalesce(fpp, n) >= {kk} THEN {kk} ELSE 0 END"),
        Protocol::AtCart => "coalesce(fcp + 1, 0)".to_string(),
    };
    let offset_ms = spec.utc_offset_minutes as i64 * 60_000;
    let encs: Vec<String> = (0..=k).map(|e| format!("({e})")).collect();
    let encs = encs.join(", ");
    let row = "named_struct('t', t, 'f', f, 'l', l)";
    let fold = fold_sql(spec.oof_seed, k);
    let (c1, c2) = (round_sql("np", &fa), round_sql("np", &fab));
    let prior = |key: &str, tab: &str, p: &str| -> String {
        // Columns {p}cart, {p}buy, {p}pop (FLOAT), {p}seen (BOOLEAN) of key `key` under the
        // row's encoder; null when the key is null.
        format!(
            "CASE WHEN {key} IS NOT NULL THEN CAST((CAST(coalesce({tab}.c, 0) AS DOUBLE) + {m} * g.gcr) / (CAST(coalesce({tab}.v, 0) AS DOUBLE) + {m}) AS FLOAT) END AS {p}cart,
    CASE WHEN {key} IS NOT NULL THEN CAST((CAST(coalesce({tab}.pu, 0) AS DOUBLE) + {m} * g.gbr) / (CAST(coalesce({tab}.v, 0) AS DOUBLE) + {m}) AS FLOAT) END AS {p}buy,
    CASE WHEN {key} IS NOT NULL THEN CAST(log1p(CAST(coalesce({tab}.v, 0) AS DOUBLE)) AS FLOAT) END AS {p}pop,
    CASE WHEN {key} IS NOT NULL THEN {tab}.key IS NOT NULL END AS {p}seen"
        )
    };
    let counts = |col: &str, name: &str| -> String {
        format!(
            "{name}f AS (SELECT {col} AS key, fold, count_if(kc = 0) AS v, count_if(kc = 1) AS c, count_if(kc = 3) AS pu
  FROM win WHERE {col} IS NOT NULL GROUP BY {col}, fold),
{name}E AS (
  SELECT t.key, g.enc, t.v - coalesce(f.v, 0) AS v, t.c - coalesce(f.c, 0) AS c, t.pu - coalesce(f.pu, 0) AS pu
  FROM (SELECT key, sum(v) AS v, sum(c) AS c, sum(pu) AS pu FROM {name}f GROUP BY key) t
  CROSS JOIN encs g
  LEFT JOIN {name}f f ON f.key = t.key AND f.fold = g.enc
),
{name}S AS (SELECT * FROM {name}E WHERE v + c + pu > 0),"
        )
    };
    let agg_prior = |p: &str| -> String {
        format!(
            "count({p}cart) AS {p}n, sum(CAST({p}cart AS DOUBLE)) AS {p}cart_sum, max({p}cart) AS {p}cart_max,
    sum(CAST({p}buy AS DOUBLE)) AS {p}buy_sum, max({p}buy) AS {p}buy_max, sum(CAST({p}pop AS DOUBLE)) AS {p}pop_sum,
    count_if(NOT {p}seen) AS {p}unseen,
    max_by(named_struct('cart', {p}cart, 'buy', {p}buy, 'pop', {p}pop, 'seen', {p}seen), pos) AS {p}last"
        )
    };
    // Every feature's expression over the final join (see ALL_FEATURES for the meanings).
    let flt = |e: &str| format!("CAST({e} AS FLOAT)");
    let mean = |sum: &str, n: &str| {
        format!("CASE WHEN {n} > 0 THEN CAST({sum} / CAST({n} AS DOUBLE) AS FLOAT) END")
    };
    let maxv = |v: &str, n: &str| format!("CASE WHEN {n} > 0 THEN {v} END");
    let rate = |a: &str, b: &str| {
        format!(
            "CASE WHEN {b} > 0 THEN CAST(CAST({a} AS DOUBLE) / CAST({b} AS DOUBLE) AS FLOAT) END"
        )
    };
    let flag = |e: &str| format!("CASE WHEN {e} THEN CAST(1 AS FLOAT) ELSE CAST(0 AS FLOAT) END");
    let local = format!("(r.st + {offset_ms})");
    let hour = format!("(pmod({local}, 86400000) div 3600000)");
    let dow = format!("pmod((({local} - pmod({local}, 86400000)) div 86400000) + 3, 7)");
    let exprs: Vec<(&str, String)> = vec![
        ("n_events", flt("r.len")),
        ("n_view", flt("a.n_view")),
        ("n_cart", flt("a.n_cart")),
        ("n_remove", flt("a.n_remove")),
        ("n_wishlist", flt("a.n_wish")),
        ("n_purchase", flt("a.n_purchase")),
        ("n_other", flt("a.n_other")),
        ("duration_s", flt("CAST(a.tl - a.t0 AS DOUBLE) / 1000D")),
        ("dwell_mean_s", "CASE WHEN r.len > 1 THEN CAST(CAST(a.tl - a.t0 AS DOUBLE) / CAST(r.len - 1 AS DOUBLE) / 1000D AS FLOAT) END".into()),
        ("dwell_max_s", "CASE WHEN r.len > 1 THEN CAST(CAST(a.dmax AS DOUBLE) / 1000D AS FLOAT) END".into()),
        ("dwell_min_s", "CASE WHEN r.len > 1 THEN CAST(CAST(a.dmin AS DOUBLE) / 1000D AS FLOAT) END".into()),
        ("since_last_s", "CAST(0 AS FLOAT)".into()),
        ("price_mean", mean("a.p_sum", "a.p_n")),
        ("price_max", maxv("CAST(a.p_max AS FLOAT)", "a.p_n")),
        ("price_min", maxv("CAST(a.p_min AS FLOAT)", "a.p_n")),
        ("price_std", "CASE WHEN a.p_n > 0 THEN CAST(sqrt(a.p_ss / CAST(a.p_n AS DOUBLE)) AS FLOAT) END".into()),
        ("price_last", flt("a.p_last")),
        ("has_price", flag("a.p_n > 0")),
        ("distinct_items", flt("a.d_items")),
        ("distinct_categories", flt("a.d_cats")),
        ("distinct_brands", flt("a.d_brands")),
        ("max_item_repeats", flt("ia.max_rep")),
        ("repeat_view_share", rate("a.n_view - ia.viewed_items", "a.n_view")),
        ("last_kind", flt("a.last_kc")),
        ("funnel_stage", flt("a.stage")),
        ("hour", flt(&hour)),
        ("dow", flt(&dow)),
        ("hour_dow", flt(&format!("({dow} * 24 + {hour})"))),
        ("last_cat_hash", "lcc.code".into()),
        ("last_brand_hash", "lbc.code".into()),
        ("top_cat_hash", "tcc.code".into()),
        ("top_brand_hash", "tbc.code".into()),
        ("item_cart_rate_mean", mean("a.icart_sum", "a.in")),
        ("item_cart_rate_max", maxv("a.icart_max", "a.in")),
        ("item_cart_rate_last", "a.ilast.cart".into()),
        ("item_buy_rate_mean", mean("a.ibuy_sum", "a.in")),
        ("item_buy_rate_max", maxv("a.ibuy_max", "a.in")),
        ("item_buy_rate_last", "a.ilast.buy".into()),
        ("cat_cart_rate_mean", mean("a.ccart_sum", "a.cn")),
        ("cat_cart_rate_max", maxv("a.ccart_max", "a.cn")),
        ("cat_cart_rate_last", "a.clast.cart".into()),
        ("cat_buy_rate_mean", mean("a.cbuy_sum", "a.cn")),
        ("cat_buy_rate_max", maxv("a.cbuy_max", "a.cn")),
        ("cat_buy_rate_last", "a.clast.buy".into()),
        ("brand_cart_rate_mean", mean("a.bcart_sum", "a.bn")),
        ("brand_cart_rate_max", maxv("a.bcart_max", "a.bn")),
        ("brand_cart_rate_last", "a.blast.cart".into()),
        ("brand_buy_rate_mean", mean("a.bbuy_sum", "a.bn")),
        ("brand_buy_rate_max", maxv("a.bbuy_max", "a.bn")),
        ("brand_buy_rate_last", "a.blast.buy".into()),
        ("item_pop_mean", mean("a.ipop_sum", "a.in")),
        ("item_pop_last", "a.ilast.pop".into()),
        ("cat_pop_last", "a.clast.pop".into()),
        ("brand_pop_last", "a.blast.pop".into()),
        ("item_unseen_share", rate("a.iunseen", "r.len")),
        ("item_unseen_last", "CASE WHEN a.ilast.seen THEN CAST(0 AS FLOAT) ELSE CAST(1 AS FLOAT) END".into()),
        ("cat_unseen_last", "CASE WHEN a.clast.seen IS NOT NULL THEN (CASE WHEN a.clast.seen THEN CAST(0 AS FLOAT) ELSE CAST(1 AS FLOAT) END) END".into()),
        ("brand_unseen_last", "CASE WHEN a.blast.seen IS NOT NULL THEN (CASE WHEN a.blast.seen THEN CAST(0 AS FLOAT) ELSE CAST(1 AS FLOAT) END) END".into()),
        ("user_prev_sessions", flt("h.hs")),
        ("user_prev_events", flt("h.he")),
        ("user_prev_carts", flt("h.hc")),
        ("user_prev_purchases", flt("h.hp")),
        ("user_prev_purchase_sessions", flt("h.hps")),
        ("user_days_since_last", "CASE WHEN h.hlast IS NOT NULL THEN CAST(CAST(r.st - h.hlast AS DOUBLE) / 86400000D AS FLOAT) END".into()),
        ("user_prev_purchase_rate", rate("h.hps", "h.hs")),
    ];
    debug_assert_eq!(exprs.len(), ALL_FEATURES.len());
    let mut select = String::new();
    for &c in &cols {
        let name = ALL_FEATURES[c].name;
        let e = exprs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, e)| e.as_str())
            .ok_or_else(|| {
                ClusterError::Engine(
                    "spark".into(),
                    format!("feature {name} has no Spark expression"),
                )
            })?;
        let _ = write!(select, ",\n  {e} AS `{name}`");
    }
    Ok(format!(
        "{keyed}srows AS (
  SELECT nat, skey, min({row}) AS first_row, min_by(u, {row}) AS su FROM keyed GROUP BY nat, skey
),
sidx AS (SELECT nat, skey, su, CAST(row_number() OVER (ORDER BY first_row) - 1 AS BIGINT) AS s FROM srows),
sfold AS {fold},
evs AS (
  SELECT x.s, x.su, e.t, e.item, e.cat, e.br, e.p,
         CAST(row_number() OVER (PARTITION BY x.s ORDER BY e.t, e.f, e.l) - 1 AS INT) AS pos,
         CASE e.k WHEN 'view' THEN 0 WHEN 'cart' THEN 1 WHEN 'remove_from_cart' THEN 2
                  WHEN 'purchase' THEN 3 WHEN 'wishlist' THEN 4 ELSE 5 END AS kc
  FROM keyed e JOIN sidx x ON e.nat = x.nat AND e.skey = x.skey
),
sess AS (
  SELECT s, first(su) AS su, min(t) AS st, count(*) AS n,
         min(CASE WHEN kc = 3 THEN pos END) AS fpp, min(CASE WHEN kc = 3 THEN t END) AS fpt
  FROM evs GROUP BY s
),
fcart AS (
  SELECT e.s, min(e.pos) AS fcp FROM evs e JOIN sess x ON e.s = x.s
  WHERE e.kc = 1 AND (x.fpp IS NULL OR e.pos < x.fpp) GROUP BY e.s
),
pre AS (
  SELECT * FROM (
    SELECT x.s, x.su, x.st, CAST({len} AS INT) AS len, x.fpp IS NOT NULL AS label
    FROM sess x LEFT JOIN fcart c ON c.s = x.s
  ) WHERE len > 0
),
ranked AS (SELECT st, row_number() OVER (ORDER BY st, s) - 1 AS rn, count(*) OVER () AS np FROM pre),
cuts AS (
  SELECT coalesce(max(CASE WHEN rn = least(np, {c1}) THEN st END), 9223372036854775807) AS t1,
         coalesce(max(CASE WHEN rn = least(np, {c2}) THEN st END), 9223372036854775807) AS t2r
  FROM ranked
),
bounds AS (
  SELECT c.t1, greatest(c.t1, c.t2r) AS t2, max(p.st) + 1 AS end_ms
  FROM cuts c LEFT JOIN pre p ON p.st < c.t1 GROUP BY c.t1, c.t2r
),
encs AS (SELECT * FROM VALUES {encs} AS e(enc)),
win AS (
  SELECT e.item, e.cat, e.br, e.kc, f.fold FROM evs e JOIN sfold f ON e.s = f.s CROSS JOIN bounds b
  WHERE e.t < b.end_ms
),
{ic}
{cc}
{bc}
gf AS (SELECT fold, count_if(kc = 0) AS v, count_if(kc = 1) AS c, count_if(kc = 3) AS pu FROM win GROUP BY fold),
gE AS (
  SELECT g.enc, t.v - coalesce(f.v, 0) AS gv, t.c - coalesce(f.c, 0) AS gc, t.pu - coalesce(f.pu, 0) AS gp
  FROM encs g CROSS JOIN (SELECT coalesce(sum(v), 0) AS v, coalesce(sum(c), 0) AS c, coalesce(sum(pu), 0) AS pu FROM gf) t
  LEFT JOIN gf f ON f.fold = g.enc
),
gR AS (
  SELECT enc, CASE WHEN gv = 0 THEN 0D ELSE CAST(gc AS DOUBLE) / CAST(gv AS DOUBLE) END AS gcr,
         CASE WHEN gv = 0 THEN 0D ELSE CAST(gp AS DOUBLE) / CAST(gv AS DOUBLE) END AS gbr
  FROM gE
),
rws AS (
  SELECT p.s, p.su, p.st, p.len, p.label,
         CASE WHEN p.st < b.t1 THEN 0 WHEN p.st < b.t2 THEN 1 ELSE 2 END AS part,
         CASE WHEN p.st < b.end_ms THEN f.fold ELSE {k} END AS enc
  FROM pre p CROSS JOIN bounds b JOIN sfold f ON f.s = p.s
),
vis AS (
  SELECT r.s, r.enc, e.pos, e.t, e.kc, e.p, e.item, e.cat, e.br,
         e.t - lag(e.t) OVER (PARTITION BY e.s ORDER BY e.pos) AS d
  FROM evs e JOIN rws r ON e.s = r.s AND e.pos < r.len
),
visp AS (
  SELECT v.*, avg(v.p) OVER (PARTITION BY v.s) AS pm,
    {pi},
    {pc},
    {pb}
  FROM vis v JOIN gR g ON g.enc = v.enc
  LEFT JOIN icS i ON i.key = v.item AND i.enc = v.enc
  LEFT JOIN ccS c ON c.key = v.cat AND c.enc = v.enc
  LEFT JOIN bcS b ON b.key = v.br AND b.enc = v.enc
),
agg AS (
  SELECT s,
    count_if(kc = 0) AS n_view, count_if(kc = 1) AS n_cart, count_if(kc = 2) AS n_remove,
    count_if(kc = 4) AS n_wish, count_if(kc = 3) AS n_purchase, count_if(kc = 5) AS n_other,
    max(CASE kc WHEN 1 THEN 2 WHEN 2 THEN 2 WHEN 4 THEN 1 WHEN 3 THEN 3 ELSE 0 END) AS stage,
    max_by(kc, pos) AS last_kc, min(t) AS t0, max(t) AS tl, max(d) AS dmax, min(d) AS dmin,
    count(p) AS p_n, sum(p) AS p_sum, max(p) AS p_max, min(p) AS p_min,
    sum((p - pm) * (p - pm)) AS p_ss, max_by(named_struct('v', p), pos).v AS p_last,
    count(DISTINCT item) AS d_items, count(DISTINCT cat) AS d_cats, count(DISTINCT br) AS d_brands,
    max_by(named_struct('v', cat), pos).v AS last_cat, max_by(named_struct('v', br), pos).v AS last_br,
    {ai},
    {ac},
    {ab}
  FROM visp GROUP BY s
),
byitem AS (SELECT s, item, count(*) AS ne, max(kc = 0) AS viewed FROM vis GROUP BY s, item),
ia AS (SELECT s, max(ne) AS max_rep, count_if(viewed) AS viewed_items FROM byitem GROUP BY s),
bycat AS (SELECT s, cat, count_if(kc = 0) AS nv, count(*) AS ne, min(pos) AS fp FROM vis WHERE cat IS NOT NULL GROUP BY s, cat),
tcat AS (SELECT s, max_by(cat, named_struct('v', nv, 'e', ne, 'f', -fp)) AS top FROM bycat GROUP BY s),
bybr AS (SELECT s, br, count_if(kc = 0) AS nv, count(*) AS ne, min(pos) AS fp FROM vis WHERE br IS NOT NULL GROUP BY s, br),
tbr AS (SELECT s, max_by(br, named_struct('v', nv, 'e', ne, 'f', -fp)) AS top FROM bybr GROUP BY s),
catcode AS ({catcodes}),
brcode AS ({brcodes}),
marks AS (
  SELECT su, st AS t, 0 AS tag, s, 0 AS ev, 0 AS ca, 0 AS pu, 0 AS ps, 0 AS ss FROM rws
  UNION ALL SELECT su, t, 1, -1, 1, CASE WHEN kc = 1 THEN 1 ELSE 0 END, CASE WHEN kc = 3 THEN 1 ELSE 0 END, 0, 0 FROM evs
  UNION ALL SELECT su, fpt, 1, -1, 0, 0, 0, 1, 0 FROM sess WHERE fpt IS NOT NULL
  UNION ALL SELECT su, st, 1, -1, 0, 0, 0, 0, 1 FROM sess
),
hist AS (
  SELECT s, hs, he, hc, hp, hps, hlast FROM (
    SELECT s, tag,
      sum(ss) OVER w AS hs, sum(ev) OVER w AS he, sum(ca) OVER w AS hc, sum(pu) OVER w AS hp,
      sum(ps) OVER w AS hps, max(CASE WHEN ev = 1 THEN t END) OVER w AS hlast
    FROM marks
    WINDOW w AS (PARTITION BY su ORDER BY t, tag ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
  ) WHERE tag = 0
)
SELECT CAST(r.part AS INT) AS part, r.s AS session, r.st AS start_ms, r.label{select}
FROM rws r JOIN agg a ON a.s = r.s JOIN ia ON ia.s = r.s JOIN hist h ON h.s = r.s
  LEFT JOIN tcat ON tcat.s = r.s LEFT JOIN tbr ON tbr.s = r.s
  LEFT JOIN catcode tcc ON tcc.key = tcat.top LEFT JOIN brcode tbc ON tbc.key = tbr.top
  LEFT JOIN catcode lcc ON lcc.key = a.last_cat LEFT JOIN brcode lbc ON lbc.key = a.last_br
ORDER BY r.part, r.st, r.s",
        keyed = keyed_ctes(store_dir, cfg),
        ic = counts("item", "ic"),
        cc = counts("cat", "cc"),
        bc = counts("br", "bc"),
        pi = prior("v.item", "i", "i"),
        pc = prior("v.cat", "c", "c"),
        pb = prior("v.br", "b", "b"),
        ai = agg_prior("i"),
        ac = agg_prior("c"),
        ab = agg_prior("b"),
        catcodes = codes_table(categories),
        brcodes = codes_table(brands),
    ))
}

/// The feature matrices computed on Spark: train, validation and test, as the local
/// `shopsense_intent::prepare` builds them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparkFeatures {
    /// Training rows (out-of-fold priors).
    pub train: FeatureMatrix,
    /// Validation rows.
    pub valid: FeatureMatrix,
    /// Test rows.
    pub test: FeatureMatrix,
}

fn col_err(column: &str, message: impl Into<String>) -> ClusterError {
    ClusterError::Result {
        column: column.into(),
        message: message.into(),
    }
}

impl SparkFeatures {
    fn push_batch(&mut self, b: &RecordBatch, names: &[String]) -> Result<(), ClusterError> {
        let get = |name: &str| {
            b.column_by_name(name)
                .ok_or_else(|| col_err(name, "missing"))
        };
        let part = get("part")?;
        let part = part
            .as_primitive_opt::<Int32Type>()
            .ok_or_else(|| col_err("part", format!("expected int, got {}", part.data_type())))?;
        let session = get("session")?;
        let session = session
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| col_err("session", "expected bigint"))?;
        let start = get("start_ms")?;
        let start = start
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| col_err("start_ms", "expected bigint"))?;
        let label = get("label")?;
        let label = label
            .as_boolean_opt()
            .ok_or_else(|| col_err("label", "expected boolean"))?;
        let mut feats = Vec::with_capacity(names.len());
        for n in names {
            let c = get(n)?;
            if c.data_type() != &DataType::Float32 {
                return Err(col_err(n, format!("expected float, got {}", c.data_type())));
            }
            feats.push(c.as_primitive::<Float32Type>().clone());
        }
        for i in 0..b.num_rows() {
            let m = match part.value(i) {
                0 => &mut self.train,
                1 => &mut self.valid,
                2 => &mut self.test,
                p => return Err(col_err("part", format!("unexpected part {p}"))),
            };
            let s =
                u32::try_from(session.value(i)).map_err(|_| col_err("session", "out of range"))?;
            m.session.push(s);
            m.start_ms.push(start.value(i));
            m.labels.push(u8::from(label.value(i)));
            for f in &feats {
                m.data
                    .push(if f.is_null(i) { f32::NAN } else { f.value(i) });
            }
            m.n_rows += 1;
        }
        Ok(())
    }
}

/// Runs the feature job of `spec` over the store at `store_dir` on the Spark Connect server
/// `remote` and collects the three matrices.
pub fn run_spark_features(
    remote: &str,
    store_dir: &Path,
    cfg: &JobConfig,
    spec: &FeatureSpec,
) -> Result<SparkFeatures, ClusterError> {
    check_spec(spec)?;
    let store_dir = crate::check_store(store_dir)?;
    let ids = crate::collect(remote, &[], &distinct_ids_sql(&store_dir, cfg))?;
    let (mut cats, mut brands) = (Vec::new(), Vec::new());
    for b in &ids.batches {
        let what = crate::strings(b, "what")?;
        let id = crate::strings(b, "id")?;
        for (w, i) in what.into_iter().zip(id) {
            if w == "c" {
                cats.push(i);
            } else {
                brands.push(i);
            }
        }
    }
    let sql = feature_sql(
        &store_dir,
        cfg,
        spec,
        &bucket_codes(&cats, spec),
        &bucket_codes(&brands, spec),
    )?;
    tracing::info!(
        remote,
        categories = cats.len(),
        brands = brands.len(),
        "running the feature job on Spark"
    );
    let got = crate::collect(remote, &["SET spark.sql.ansi.enabled=false"], &sql)?;
    let names = spec.features.clone();
    let empty = || FeatureMatrix {
        names: names.clone(),
        n_cols: names.len(),
        ..Default::default()
    };
    let mut out = SparkFeatures {
        train: empty(),
        valid: empty(),
        test: empty(),
    };
    for b in &got.batches {
        out.push_batch(b, &names)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxh3_steps_equal_the_library() {
        for seed in [0u64, 0x00f0_1d5e, u64::MAX, 0x1234_5678_9abc_def0] {
            for x in (0..5000u32).chain([u32::MAX, 1 << 31, (1 << 31) - 1, 123_456_789]) {
                assert_eq!(
                    xxh3_u32(x, seed),
                    xxh3_64_with_seed(&x.to_le_bytes(), seed),
                    "x {x} seed {seed}"
                );
            }
        }
    }

    #[test]
    fn rounding_and_literals() {
        assert_eq!(dlit(0.6), "CAST('0.6' AS DOUBLE)");
        assert_eq!(
            dlit(0.6 + 0.15),
            format!("CAST('{:?}' AS DOUBLE)", 0.6 + 0.15)
        );
        assert!(round_sql("np", "x").contains("0.5D"));
    }

    #[test]
    fn codes_table_quotes_and_handles_empty() {
        let t = codes_table(&[("a'b".into(), 3.0)]);
        assert!(t.contains("('a\\'b', CAST(3 AS FLOAT))"), "{t}");
        assert!(codes_table(&[]).contains("NULL"));
    }

    /// Every feature of the local definition has a Spark expression (a feature added locally
    /// without one fails here, without a Spark server), and every setting reaches the plan.
    #[test]
    fn every_feature_has_a_spark_expression() {
        let cfg = JobConfig {
            sessions: Default::default(),
            summary: Default::default(),
            from_ms: None,
            to_ms: Some(42),
        };
        let spec = FeatureSpec {
            protocol: Protocol::AtCart,
            utc_offset_minutes: 480,
            ..Default::default()
        };
        let sql = feature_sql(Path::new("/s"), &cfg, &spec, &[("c1".into(), 7.0)], &[]).unwrap();
        for f in ALL_FEATURES {
            assert!(sql.contains(&format!(" AS `{}`", f.name)), "{}", f.name);
        }
        assert!(sql.contains("coalesce(fcp + 1, 0)"));
        assert!(sql.contains("+ 28800000)"));
        assert!(sql.contains("unix_millis(event_time) < 42"));
        assert!(sql.contains("('c1', CAST(7 AS FLOAT))"));
        let early = FeatureSpec::with_protocol(Protocol::EarlyK(4));
        let sql = feature_sql(Path::new("/s"), &cfg, &early, &[], &[]).unwrap();
        assert!(sql.contains("THEN 4 ELSE 0 END"));
    }

    #[test]
    fn user_folds_are_refused() {
        let spec = FeatureSpec {
            oof_by: OofBy::User,
            ..Default::default()
        };
        let e = check_spec(&spec).unwrap_err().to_string();
        assert!(e.contains("by user"), "{e}");
    }
}
