//! # shopsense-recs
//!
//! What will a user do with an item, and which items (or users) to put forward:
//!
//! * [`next_action`]: the event-type model — for an interaction (user, item, time, session
//!   so far) the probability of each kind in the data (view, cart, purchase, …): LightGBM
//!   multiclass on time crosses, hashed category ids, item embeddings, session-so-far and
//!   user-history counts and item / category / brand priors fitted on the training window;
//!   class weights or undersampling; majority-class and seed-style baselines; multiclass
//!   metrics from the eval crate.
//! * [`covis`] and [`embed`]: level-weighted item co-visitation (view < cart < purchase)
//!   and PPMI + truncated eigen-decomposition item embeddings from training sessions.
//! * [`stats`] and [`model`]: the training window's statistics, candidates (recent
//!   popularity, co-visitation, embedding neighbours, the last item's category, the user's
//!   recent items) ranked by a LightGBM propensity ranker; recommendations (cold users get
//!   popularity, bought items left out), similar items, audiences; the bundle.
//! * [`eval`]: offline evaluation on a temporal split (HR/MRR/NDCG@10/20, coverage) for
//!   popularity, co-visitation kNN, embeddings and the ranker; JSON, HTML, and an export
//!   of the split for outside libraries.

#![warn(missing_docs)]

pub mod covis;
pub mod data;
pub mod embed;
pub mod error;
pub mod eval;
pub mod model;
pub mod next_action;
pub mod stats;

pub use data::{temporal_split, Split};
pub use error::{RecsError, Result};
pub use eval::{evaluate, export_split, RankMetrics, RecsEval};
pub use model::{Method, Recommendations, RecsModel, RecsParams, Scored, SessionEvent};
pub use next_action::{Family, NextActionModel, NextActionParams, NextActionReport};
pub use stats::{Stats, StatsParams};
