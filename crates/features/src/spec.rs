//! The feature definition: every feature with its meaning ([`ALL_FEATURES`]) and the
//! settings a model bundle must carry to reproduce them ([`FeatureSpec`]).

use crate::protocol::Protocol;
use crate::split::Split;
use crate::{invalid, FeatureError, Result};
use serde::{Deserialize, Serialize};

/// Name and meaning of one feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureInfo {
    /// Column name.
    pub name: &'static str,
    /// What it measures.
    pub doc: &'static str,
}

macro_rules! features {
    ($( $id:ident = $name:literal : $doc:literal ),* $(,)?) => {
        /// Column positions in the full feature vector.
        #[allow(
            non_camel_case_types,
            clippy::upper_case_acronyms,
            clippy::enum_variant_names,
            dead_code
        )]
        #[derive(Clone, Copy)]
        #[repr(usize)]
        pub(crate) enum F { $($id),* }

        /// Every feature, in the order of the full vector. "Visible" means the prefix's events
        /// (at scoring time, before any purchase). Missing values are `NaN` (GBDT handles them).
        pub const ALL_FEATURES: &[FeatureInfo] = &[ $(FeatureInfo { name: $name, doc: $doc }),* ];
    };
}

features! {
    N_EVENTS = "n_events": "visible events",
    N_VIEW = "n_view": "visible views",
    N_CART = "n_cart": "visible add-to-carts",
    N_REMOVE = "n_remove": "visible removals from cart",
    N_WISHLIST = "n_wishlist": "visible wishlist / favourite events",
    N_PURCHASE = "n_purchase": "visible purchases (0 for every protocol prefix by construction; non-zero only if a live session is scored after buying)",
    N_OTHER = "n_other": "visible events of other kinds",
    DURATION_S = "duration_s": "seconds from the first to the last visible event",
    DWELL_MEAN_S = "dwell_mean_s": "mean seconds between consecutive visible events (NaN with one event)",
    DWELL_MAX_S = "dwell_max_s": "max seconds between consecutive visible events (NaN with one event)",
    DWELL_MIN_S = "dwell_min_s": "min seconds between consecutive visible events (NaN with one event)",
    SINCE_LAST_S = "since_last_s": "seconds from the last visible event to the cutoff (0: the cutoff is the last visible event)",
    PRICE_MEAN = "price_mean": "mean price of visible events with a price (NaN when none)",
    PRICE_MAX = "price_max": "max price (NaN when none)",
    PRICE_MIN = "price_min": "min price (NaN when none)",
    PRICE_STD = "price_std": "population standard deviation of prices (NaN when none)",
    PRICE_LAST = "price_last": "price of the last visible event (NaN when it has none)",
    HAS_PRICE = "has_price": "1 when some visible event has a price",
    DISTINCT_ITEMS = "distinct_items": "distinct items among visible events",
    DISTINCT_CATEGORIES = "distinct_categories": "distinct category ids among visible events",
    DISTINCT_BRANDS = "distinct_brands": "distinct brands among visible events",
    MAX_ITEM_REPEATS = "max_item_repeats": "most visible events on one item",
    REPEAT_VIEW_SHARE = "repeat_view_share": "share of visible views that revisit an already viewed item: (views - distinct viewed items) / views (NaN without views)",
    LAST_KIND = "last_kind": "kind code of the last visible event: 0 view, 1 cart, 2 remove, 3 purchase, 4 wishlist, 5 other",
    FUNNEL_STAGE = "funnel_stage": "deepest funnel stage reached: 0 view/other, 1 wishlist, 2 cart or remove-from-cart, 3 purchase",
    HOUR = "hour": "hour of day (0-23) of the session start, in spec.utc_offset_minutes local time",
    DOW = "dow": "day of week of the session start (0 Monday .. 6 Sunday), local time",
    HOUR_DOW = "hour_dow": "hour x day-of-week cross as an integer code dow*24 + hour (0-167)",
    LAST_CAT_HASH = "last_cat_hash": "category id of the last visible event, hashed into spec.hash_buckets (xxh3, spec.hash_seed; NaN when missing)",
    LAST_BRAND_HASH = "last_brand_hash": "brand of the last visible event, hashed into buckets (NaN when missing)",
    TOP_CAT_HASH = "top_cat_hash": "most-viewed visible category (ties: more events, then earliest), hashed into buckets",
    TOP_BRAND_HASH = "top_brand_hash": "most-viewed visible brand (ties: more events, then earliest), hashed into buckets",
    ITEM_CART_MEAN = "item_cart_rate_mean": "mean over visible events of the item's smoothed view->cart rate",
    ITEM_CART_MAX = "item_cart_rate_max": "max over visible events of the item's view->cart rate",
    ITEM_CART_LAST = "item_cart_rate_last": "view->cart rate of the last visible event's item",
    ITEM_BUY_MEAN = "item_buy_rate_mean": "mean over visible events of the item's smoothed view->purchase rate",
    ITEM_BUY_MAX = "item_buy_rate_max": "max over visible events of the item's view->purchase rate",
    ITEM_BUY_LAST = "item_buy_rate_last": "view->purchase rate of the last visible event's item",
    CAT_CART_MEAN = "cat_cart_rate_mean": "mean over visible events with a category of the category's view->cart rate",
    CAT_CART_MAX = "cat_cart_rate_max": "max of the category view->cart rate",
    CAT_CART_LAST = "cat_cart_rate_last": "category view->cart rate of the last visible event (NaN without category)",
    CAT_BUY_MEAN = "cat_buy_rate_mean": "mean of the category view->purchase rate",
    CAT_BUY_MAX = "cat_buy_rate_max": "max of the category view->purchase rate",
    CAT_BUY_LAST = "cat_buy_rate_last": "category view->purchase rate of the last visible event",
    BRAND_CART_MEAN = "brand_cart_rate_mean": "mean over visible events with a brand of the brand's view->cart rate",
    BRAND_CART_MAX = "brand_cart_rate_max": "max of the brand view->cart rate",
    BRAND_CART_LAST = "brand_cart_rate_last": "brand view->cart rate of the last visible event (NaN without brand)",
    BRAND_BUY_MEAN = "brand_buy_rate_mean": "mean of the brand view->purchase rate",
    BRAND_BUY_MAX = "brand_buy_rate_max": "max of the brand view->purchase rate",
    BRAND_BUY_LAST = "brand_buy_rate_last": "brand view->purchase rate of the last visible event",
    ITEM_POP_MEAN = "item_pop_mean": "mean over visible events of ln(1 + item views in the training window)",
    ITEM_POP_LAST = "item_pop_last": "ln(1 + training-window views) of the last visible item",
    CAT_POP_LAST = "cat_pop_last": "ln(1 + training-window views) of the last visible category",
    BRAND_POP_LAST = "brand_pop_last": "ln(1 + training-window views) of the last visible brand",
    ITEM_UNSEEN_SHARE = "item_unseen_share": "share of visible events whose item never occurs in the training window",
    ITEM_UNSEEN_LAST = "item_unseen_last": "1 when the last visible item never occurs in the training window",
    CAT_UNSEEN_LAST = "cat_unseen_last": "1 when the last visible category never occurs in the training window (NaN without category)",
    BRAND_UNSEEN_LAST = "brand_unseen_last": "1 when the last visible brand never occurs in the training window (NaN without brand)",
    USER_PREV_SESSIONS = "user_prev_sessions": "the user's sessions that started strictly before this one",
    USER_PREV_EVENTS = "user_prev_events": "the user's events strictly before this session's start",
    USER_PREV_CARTS = "user_prev_carts": "the user's add-to-carts strictly before this session's start",
    USER_PREV_PURCHASES = "user_prev_purchases": "the user's purchases strictly before this session's start",
    USER_PREV_PURCHASE_SESSIONS = "user_prev_purchase_sessions": "earlier sessions of the user with a purchase before this session's start",
    USER_DAYS_SINCE_LAST = "user_days_since_last": "days from the user's last earlier event to this session's start (NaN without history)",
    USER_PREV_PURCHASE_RATE = "user_prev_purchase_rate": "user_prev_purchase_sessions / user_prev_sessions (NaN without earlier sessions)",
}

/// Number of features in the full vector.
pub(crate) const N_ALL: usize = ALL_FEATURES.len();

/// Position of a feature name in [`ALL_FEATURES`].
pub fn feature_index(name: &str) -> Option<usize> {
    ALL_FEATURES.iter().position(|f| f.name == name)
}

/// How the training sessions are cut into out-of-fold groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OofBy {
    /// Fold = hash of the session index: each session's own events never reach its priors.
    #[default]
    Session,
    /// Fold = hash of the user: none of the user's sessions reach a training row's priors.
    User,
}

/// The feature definition: which features, and every setting needed to reproduce them.
/// Serialised into a model bundle so that training and serving use the same definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureSpec {
    /// Format version of this spec.
    pub version: u32,
    /// Selected feature names, in column order (default: all of [`ALL_FEATURES`]).
    pub features: Vec<String>,
    /// The scoring protocol (its `k` included for `early-k`).
    pub protocol: Protocol,
    /// Train / validation / test fractions for [`crate::temporal_split`].
    pub split: (f64, f64, f64),
    /// Rolling-origin folds on the training part for model selection.
    pub cv_folds: usize,
    /// Buckets of the hashed category / brand codes (1 ..= 2^24, so codes are exact in f32).
    pub hash_buckets: u32,
    /// xxh3 seed of the hashed category / brand codes.
    pub hash_seed: u64,
    /// xxh3 seed of the keys under which encoders store item / category / brand ids.
    pub key_seed: u64,
    /// Prior strength `m` of the smoothed rates `(hits + m·global) / (views + m)` (> 0).
    pub smoothing: f64,
    /// Out-of-fold groups for the training rows' priors (>= 2).
    pub oof_folds: u32,
    /// What the out-of-fold groups are made of.
    pub oof_by: OofBy,
    /// xxh3 seed of the out-of-fold assignment.
    pub oof_seed: u64,
    /// Offset of local time from UTC in minutes for hour / day-of-week (REES46: 0, UTC;
    /// Taobao: 480, China).
    pub utc_offset_minutes: i32,
}

impl Default for FeatureSpec {
    fn default() -> Self {
        FeatureSpec {
            version: 1,
            features: ALL_FEATURES.iter().map(|f| f.name.to_string()).collect(),
            protocol: Protocol::Full,
            split: Split::DEFAULT_FRACTIONS,
            cv_folds: 3,
            hash_buckets: 1024,
            hash_seed: 0x5eed_cafe,
            key_seed: 0,
            smoothing: 20.0,
            oof_folds: 5,
            oof_by: OofBy::Session,
            oof_seed: 0x00f0_1d5e,
            utc_offset_minutes: 0,
        }
    }
}

impl FeatureSpec {
    /// The default spec with `protocol`.
    pub fn with_protocol(protocol: Protocol) -> Self {
        FeatureSpec {
            protocol,
            ..Default::default()
        }
    }

    /// Keeps only `names`, in that order.
    pub fn select(mut self, names: &[&str]) -> Result<Self> {
        self.features = names.iter().map(|s| s.to_string()).collect();
        self.columns()?;
        Ok(self)
    }

    /// Checks every setting.
    pub fn validate(&self) -> Result<()> {
        if self.version != 1 {
            return Err(invalid(
                "version",
                format!("{} (supported: 1)", self.version),
            ));
        }
        if !(1..=(1 << 24)).contains(&self.hash_buckets) {
            return Err(invalid(
                "hash_buckets",
                format!("{} not in 1..=2^24", self.hash_buckets),
            ));
        }
        if !(self.smoothing.is_finite() && self.smoothing > 0.0) {
            return Err(invalid(
                "smoothing",
                format!("{} must be > 0", self.smoothing),
            ));
        }
        if !(2..=64).contains(&self.oof_folds) {
            return Err(invalid(
                "oof_folds",
                format!("{} not in 2..=64", self.oof_folds),
            ));
        }
        if self.utc_offset_minutes.abs() > 24 * 60 {
            return Err(invalid(
                "utc_offset_minutes",
                self.utc_offset_minutes.to_string(),
            ));
        }
        if let Protocol::EarlyK(0) = self.protocol {
            return Err(FeatureError::Protocol("early-0".into()));
        }
        self.columns().map(|_| ())
    }

    /// Positions in the full vector of the selected features; fails on an unknown or
    /// repeated name or an empty selection.
    pub fn columns(&self) -> Result<Vec<usize>> {
        if self.features.is_empty() {
            return Err(invalid("features", "no feature selected"));
        }
        let mut cols = Vec::with_capacity(self.features.len());
        for name in &self.features {
            let i =
                feature_index(name).ok_or_else(|| FeatureError::UnknownFeature(name.clone()))?;
            if cols.contains(&i) {
                return Err(invalid("features", format!("{name} listed twice")));
            }
            cols.push(i);
        }
        Ok(cols)
    }

    /// The spec as JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Reads a spec from JSON and validates it.
    pub fn from_json(s: &str) -> Result<Self> {
        let spec: FeatureSpec = serde_json::from_str(s)?;
        spec.validate()?;
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_lists_every_feature() {
        let readme = include_str!("../README.md");
        for f in ALL_FEATURES {
            assert!(readme.contains(&format!("| `{}` |", f.name)), "{}", f.name);
        }
    }

    #[test]
    fn names_are_unique_and_spec_round_trips() {
        for (i, f) in ALL_FEATURES.iter().enumerate() {
            assert_eq!(feature_index(f.name), Some(i), "{}", f.name);
        }
        assert_eq!(
            ALL_FEATURES[F::USER_PREV_PURCHASE_RATE as usize].name,
            "user_prev_purchase_rate"
        );
        let spec = FeatureSpec::with_protocol(Protocol::EarlyK(4));
        spec.validate().unwrap();
        let back = FeatureSpec::from_json(&spec.to_json().unwrap()).unwrap();
        assert_eq!(back, spec);
        assert!(FeatureSpec::default().select(&["n_view", "nope"]).is_err());
        assert!(FeatureSpec::default()
            .select(&["n_view", "n_view"])
            .is_err());
        let s = FeatureSpec::default().select(&["hour", "n_view"]).unwrap();
        assert_eq!(
            s.columns().unwrap(),
            vec![F::HOUR as usize, F::N_VIEW as usize]
        );
        let bad = FeatureSpec {
            smoothing: 0.0,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
