//! The session table: one row per whole session (no cut), with counts by kind and the
//! position of the first purchase.

use crate::export::{session_summaries, SessionSummaries, SummaryOptions};
use crate::index::Sessions;
use shopsense_events::EventTable;

/// A session table over whole sessions: [`SessionSummaries`] computed without the
/// first-purchase cut, so counts cover every event and `first_purchase_pos` tells where the
/// first purchase falls.
#[derive(Debug, Clone)]
pub struct SessionTable {
    /// The per-session rows.
    pub rows: SessionSummaries,
}

impl SessionTable {
    /// Builds the table of `sessions` over `t`.
    pub fn build(t: &EventTable, sessions: &Sessions) -> SessionTable {
        SessionTable {
            rows: session_summaries(
                t,
                sessions,
                &SummaryOptions {
                    cut_at_first_purchase: false,
                },
            ),
        }
    }

    /// Sessions that contain a purchase.
    pub fn purchase_sessions(&self) -> usize {
        self.rows.label.iter().filter(|&&l| l).count()
    }

    /// Sessions that contain an add-to-cart.
    pub fn cart_sessions(&self) -> usize {
        self.rows.carts.iter().filter(|&&c| c > 0).count()
    }
}
