//! The user's history before a session starts.

use crate::Result;
use serde::{Deserialize, Serialize};
use shopsense_events::kind::{CART, PURCHASE};
use shopsense_events::EventTable;
use shopsense_sessions::Sessions;

/// What is known about a session's user strictly before the session's first event.
///
/// Offline it comes from [`user_histories`]; online the serving side keeps it per user (the
/// same counts over the user's past events) and hands it to [`crate::OnlineSession`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserHistory {
    /// The user's sessions that started strictly before this one.
    pub sessions: u32,
    /// The user's events strictly before this session's start.
    pub events: u32,
    /// Add-to-carts among them.
    pub carts: u32,
    /// Purchases among them.
    pub purchases: u32,
    /// Earlier sessions with a purchase before this session's start.
    pub purchase_sessions: u32,
    /// Time of the user's last event before this session's start (UTC ms).
    pub last_event_ms: Option<i64>,
}

/// The [`UserHistory`] of every session (indexed by session).
///
/// One scan per user over the user's events in time order and the user's sessions in order
/// of start time: counts only events whose time is strictly before the session's start, and
/// sessions whose start is strictly before it. `O(n log n)` at worst (sorting each user's
/// events when the input is not in time order), never quadratic. Fails when `sessions` was
/// not built from `t`.
pub fn user_histories(t: &EventTable, sessions: &Sessions) -> Result<Vec<UserHistory>> {
    crate::check_sessions(t, sessions)?;
    let ns = sessions.len();
    let mut out = vec![UserHistory::default(); ns];
    if ns == 0 {
        return Ok(out);
    }
    let time = &t.time_ms;
    let start: Vec<i64> = (0..ns)
        .map(|s| {
            sessions
                .events(s)
                .first()
                .map_or(i64::MAX, |&r| time[r as usize])
        })
        .collect();
    let n_users = sessions
        .user
        .iter()
        .map(|&u| u as usize + 1)
        .max()
        .unwrap_or(0);

    // Sessions grouped by user, in order of (start, index).
    let mut s_off = vec![0u32; n_users + 1];
    for &u in &sessions.user {
        s_off[u as usize + 1] += 1;
    }
    for u in 0..n_users {
        s_off[u + 1] += s_off[u];
    }
    let mut by_user = vec![0u32; ns];
    let mut pos = s_off.clone();
    for (s, &u) in sessions.user.iter().enumerate() {
        by_user[pos[u as usize] as usize] = s as u32;
        pos[u as usize] += 1;
    }

    // Event rows grouped by user (the session's user), in time order.
    let mut e_off = vec![0u32; n_users + 1];
    for s in 0..ns {
        e_off[sessions.user[s] as usize + 1] += sessions.events(s).len() as u32;
    }
    for u in 0..n_users {
        e_off[u + 1] += e_off[u];
    }
    let mut rows = vec![0u32; e_off[n_users] as usize];
    let mut epos = e_off.clone();
    let mut purchased = vec![false; ns];
    for u in 0..n_users {
        let (a, b) = (s_off[u] as usize, s_off[u + 1] as usize);
        let list = &mut by_user[a..b];
        if !list
            .windows(2)
            .all(|w| start[w[0] as usize] <= start[w[1] as usize])
        {
            list.sort_by_key(|&s| (start[s as usize], s));
        }
        for &s in list.iter() {
            for &r in sessions.events(s as usize) {
                rows[epos[u] as usize] = r;
                epos[u] += 1;
            }
        }
        let ev = &mut rows[e_off[u] as usize..e_off[u + 1] as usize];
        if !ev
            .windows(2)
            .all(|w| time[w[0] as usize] <= time[w[1] as usize])
        {
            ev.sort_by_key(|&r| (time[r as usize], r));
        }
        // The scan.
        let mut h = UserHistory::default();
        let mut i = 0;
        let mut earlier = 0;
        for &s in list.iter() {
            let st = start[s as usize];
            while i < ev.len() && time[ev[i] as usize] < st {
                let r = ev[i] as usize;
                h.events += 1;
                match t.kind[r] {
                    CART => h.carts += 1,
                    PURCHASE => {
                        h.purchases += 1;
                        let from = sessions.of_event[r] as usize;
                        if !purchased[from] {
                            purchased[from] = true;
                            h.purchase_sessions += 1;
                        }
                    }
                    _ => {}
                }
                h.last_event_ms = Some(time[r]);
                i += 1;
            }
            while start[list[earlier] as usize] < st {
                earlier += 1;
            }
            h.sessions = earlier as u32;
            out[s as usize] = h;
        }
    }
    Ok(out)
}
