//! The session index: which events form each session, in time order.

use shopsense_events::kind::PURCHASE;
use shopsense_events::table::USER_INTERNED;
use shopsense_events::{EventTable, NONE};
use std::borrow::Cow;

/// How sessions are formed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionConfig {
    /// Inactivity gap in milliseconds for sources without native session ids: a gap strictly
    /// greater than this starts a new session.
    pub gap_ms: i64,
    /// Ignore native session ids and always cut by the gap.
    pub force_gap: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            gap_ms: 30 * 60 * 1000,
            force_gap: false,
        }
    }
}

/// Sessions over an [`EventTable`], as a compressed index: session `s` holds the events
/// `order[offsets[s]..offsets[s+1]]`, sorted by time (ties keep input order).
///
/// Sessions are numbered in order of their first event in the input.
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    /// Start of each session in [`Sessions::order`]; one more entry than sessions.
    pub offsets: Vec<u32>,
    /// Event row indices grouped by session.
    pub order: Vec<u32>,
    /// The session's user (interned id of the event table); [`NONE`] when the table keeps
    /// that user as a number ([`Sessions::user_num`]).
    pub user: Vec<u32>,
    /// Empty unless the table keeps numeric user ids as numbers
    /// ([`EventTable::user_num`]): then the session's user as a number, or
    /// [`USER_INTERNED`] when it is in [`Sessions::user`]. Use [`Sessions::user_id`].
    pub user_num: Vec<u64>,
    /// The native session id (interned id of the event table), or `NONE` for gap sessions.
    pub native: Vec<u32>,
    /// For gap sessions: 1-based number of the session among its user's gap sessions.
    pub gap_seq: Vec<u32>,
    /// Session index of each event row.
    pub of_event: Vec<u32>,
}

impl Sessions {
    /// Builds the sessions of `t`.
    ///
    /// Rows with a native session id are grouped by it (unless `force_gap`); rows without one
    /// are grouped per user and cut where the time to the previous event of that user is
    /// strictly greater than `gap_ms`.
    pub fn build(t: &EventTable, cfg: &SessionConfig) -> Sessions {
        match Self::build_native_in_order(t, cfg) {
            Some(s) => s,
            None => Self::build_general(t, cfg),
        }
    }

    /// The common case of a file with session ids, fast: every row has a native session id
    /// and the ids were interned in order of first appearance (as reading a file does), so
    /// the session number of a row is its id, `of_event` is the id column, and grouping is
    /// one counting sort; the time sort and the users run in parallel. `None` when the table
    /// is not like that (the general path then gives the same sessions).
    fn build_native_in_order(t: &EventTable, cfg: &SessionConfig) -> Option<Sessions> {
        use rayon::prelude::*;
        let n = t.len();
        let n_keys = t.sessions.len();
        if cfg.force_gap || n == 0 || n_keys == 0 || n >= u32::MAX as usize {
            return None;
        }
        // Every id appears, first in increasing order (NONE is larger than any id).
        let mut next = 0u32;
        for &s in &t.session {
            if s == next {
                next += 1;
            } else if s > next {
                return None;
            }
        }
        if next as usize != n_keys {
            return None;
        }
        let (offsets, mut order) = group_rows(n, n_keys, |i| t.session[i]);
        // Time order inside each session, in parallel over runs of whole sessions.
        let time = &t.time_ms;
        let parts = (rayon::current_num_threads() * 8).min(n_keys);
        let mut chunks: Vec<&mut [u32]> = Vec::with_capacity(parts);
        let mut rest: &mut [u32] = &mut order;
        let mut done = 0usize;
        for j in 1..=parts {
            let end = offsets[j * n_keys / parts] as usize;
            let (a, b) = rest.split_at_mut(end - done);
            chunks.push(a);
            rest = b;
            done = end;
        }
        chunks.into_par_iter().enumerate().for_each(|(j, chunk)| {
            let (k0, k1) = ((j * n_keys / parts), ((j + 1) * n_keys / parts));
            let base = offsets[k0] as usize;
            for k in k0..k1 {
                let (a, b) = (offsets[k] as usize - base, offsets[k + 1] as usize - base);
                let rows = &mut chunk[a..b];
                if !rows
                    .windows(2)
                    .all(|w| time[w[0] as usize] <= time[w[1] as usize])
                {
                    rows.sort_by_key(|&r| (time[r as usize], r));
                }
            }
        });
        let user: Vec<u32> = offsets[..n_keys]
            .par_iter()
            .map(|&a| t.user[order[a as usize] as usize])
            .collect();
        let user_num: Vec<u64> = if t.has_numeric_users() {
            offsets[..n_keys]
                .par_iter()
                .map(|&a| t.user_num[order[a as usize] as usize])
                .collect()
        } else {
            Vec::new()
        };
        Some(Sessions {
            offsets,
            order,
            user,
            user_num,
            native: (0..n_keys as u32).collect(),
            gap_seq: vec![0; n_keys],
            of_event: t.session.clone(),
        })
    }

    /// [`Sessions::build`] for any table.
    fn build_general(t: &EventTable, cfg: &SessionConfig) -> Sessions {
        let n = t.len();
        // Step 1: a provisional key per row: native session ids keep their id, rows without
        // one are keyed by user (offset past the session ids) and split by gaps later.
        let n_native = if cfg.force_gap { 0 } else { t.sessions.len() };
        // Users as dense keys: interned ids as they are, users kept as numbers numbered after
        // them in order of appearance (`nums` maps those keys back to the numbers).
        let mut nums: Vec<u64> = Vec::new();
        let numeric_keys: Option<Vec<u32>> = t.has_numeric_users().then(|| {
            let mut seen: hashbrown::HashMap<u64, u32> = hashbrown::HashMap::new();
            let base = t.users.len() as u32;
            t.user_num
                .iter()
                .zip(&t.user)
                .map(|(&v, &u)| {
                    if v == USER_INTERNED {
                        u
                    } else {
                        *seen.entry(v).or_insert_with(|| {
                            nums.push(v);
                            base + nums.len() as u32 - 1
                        })
                    }
                })
                .collect()
        });
        let user_key = |i: usize| -> u32 {
            match &numeric_keys {
                Some(k) => k[i],
                None => t.user[i],
            }
        };
        let key_of = |i: usize| -> u32 {
            let s = t.session[i];
            if !cfg.force_gap && s != NONE {
                s
            } else {
                n_native as u32 + user_key(i)
            }
        };
        let n_keys = n_native + t.users.len() + nums.len();
        // The (interned id, number) pair of a user key.
        let user_of_key = |k: u32| -> (u32, u64) {
            match (k as usize).checked_sub(t.users.len()) {
                Some(j) => (NONE, nums[j]),
                None => (k, USER_INTERNED),
            }
        };
        let numeric = numeric_keys.is_some();
        let (count, mut grouped) = group_rows(n, n_keys, key_of);
        // Step 2: sort each key's rows by time (stable), then cut user keys by gaps.
        // Keys come out in first-appearance order so session numbering follows the input.
        let mut first_row = vec![u32::MAX; n_keys];
        for k in 0..n_keys {
            let (a, b) = (count[k] as usize, count[k + 1] as usize);
            if a < b {
                first_row[k] = grouped[a];
            }
        }
        let mut keys: Vec<u32> = (0..n_keys as u32)
            .filter(|&k| first_row[k as usize] != u32::MAX)
            .collect();
        keys.sort_unstable_by_key(|&k| first_row[k as usize]);

        let mut out = Sessions {
            offsets: Vec::with_capacity(keys.len() + 1),
            order: Vec::with_capacity(n),
            of_event: vec![0; n],
            ..Default::default()
        };
        out.offsets.push(0);
        let time = &t.time_ms;
        for &k in &keys {
            let (a, b) = (count[k as usize] as usize, count[k as usize + 1] as usize);
            let rows = &mut grouped[a..b];
            if !rows
                .windows(2)
                .all(|w| time[w[0] as usize] <= time[w[1] as usize])
            {
                rows.sort_by_key(|&r| (time[r as usize], r));
            }
            let native = (k as usize) < n_native;
            if native {
                let r = rows[0] as usize;
                let user = (
                    t.user[r],
                    t.user_num.get(r).copied().unwrap_or(USER_INTERNED),
                );
                out.push_session(rows, user, k, 0, numeric);
            } else {
                let user = user_of_key(k - n_native as u32);
                let mut start = 0;
                let mut seq = 1;
                for j in 1..rows.len() {
                    if time[rows[j] as usize] - time[rows[j - 1] as usize] > cfg.gap_ms {
                        out.push_session(&rows[start..j], user, NONE, seq, numeric);
                        seq += 1;
                        start = j;
                    }
                }
                out.push_session(&rows[start..], user, NONE, seq, numeric);
            }
        }
        if !keys.is_empty() && out.user.len() > 1 && has_gap_sessions(&out) {
            out.renumber_by_first_row();
        }
        out
    }

    fn push_session(
        &mut self,
        rows: &[u32],
        (user, user_num): (u32, u64),
        native: u32,
        seq: u32,
        numeric: bool,
    ) {
        let s = self.user.len() as u32;
        for &r in rows {
            self.of_event[r as usize] = s;
        }
        self.order.extend_from_slice(rows);
        self.offsets.push(self.order.len() as u32);
        self.user.push(user);
        if numeric {
            self.user_num.push(user_num);
        }
        self.native.push(native);
        self.gap_seq.push(seq);
    }

    /// Renumbers sessions so that they are in order of their first row in the input (gap
    /// sessions of one user are otherwise consecutive).
    fn renumber_by_first_row(&mut self) {
        let ns = self.len();
        let mut ids: Vec<u32> = (0..ns as u32).collect();
        ids.sort_by_key(|&s| self.events(s as usize).iter().copied().min().unwrap_or(0));
        if ids.iter().enumerate().all(|(i, &s)| i as u32 == s) {
            return;
        }
        let mut offsets = Vec::with_capacity(ns + 1);
        let mut order = Vec::with_capacity(self.order.len());
        let mut user = Vec::with_capacity(ns);
        let mut user_num = Vec::with_capacity(self.user_num.len());
        let mut native = Vec::with_capacity(ns);
        let mut gap_seq = Vec::with_capacity(ns);
        offsets.push(0);
        for (new, &old) in ids.iter().enumerate() {
            let old = old as usize;
            let (a, b) = (self.offsets[old] as usize, self.offsets[old + 1] as usize);
            for &r in &self.order[a..b] {
                self.of_event[r as usize] = new as u32;
            }
            order.extend_from_slice(&self.order[a..b]);
            offsets.push(order.len() as u32);
            user.push(self.user[old]);
            if let Some(&v) = self.user_num.get(old) {
                user_num.push(v);
            }
            native.push(self.native[old]);
            gap_seq.push(self.gap_seq[old]);
        }
        self.offsets = offsets;
        self.order = order;
        self.user = user;
        self.user_num = user_num;
        self.native = native;
        self.gap_seq = gap_seq;
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.user.len()
    }

    /// True when there are no sessions.
    pub fn is_empty(&self) -> bool {
        self.user.is_empty()
    }

    /// The event rows of session `s`, in time order.
    #[inline]
    pub fn events(&self, s: usize) -> &[u32] {
        &self.order[self.offsets[s] as usize..self.offsets[s + 1] as usize]
    }

    /// The session's id: its native id, or `<user>:<n>` for the n-th gap session of a user.
    pub fn id(&self, t: &EventTable, s: usize) -> String {
        match t.sessions.get_opt(self.native[s]) {
            Some(id) => id.to_string(),
            None => format!("{}:{}", self.user_id(t, s), self.gap_seq[s]),
        }
    }

    /// The session's user id as text (borrowed unless the table keeps it as a number).
    pub fn user_id<'a>(&self, t: &'a EventTable, s: usize) -> Cow<'a, str> {
        match self.user_num.get(s) {
            Some(&v) if v != USER_INTERNED => Cow::Owned(itoa::Buffer::new().format(v).into()),
            _ => Cow::Borrowed(t.users.get(self.user[s])),
        }
    }

    /// [`Sessions::user_id`] without allocating: a number is printed into `buf`.
    pub fn user_id_in<'a>(
        &self,
        t: &'a EventTable,
        s: usize,
        buf: &'a mut itoa::Buffer,
    ) -> &'a str {
        match self.user_num.get(s) {
            Some(&v) if v != USER_INTERNED => buf.format(v),
            _ => t.users.get(self.user[s]),
        }
    }

    /// Position (0-based, in time order) of the session's first purchase, if any.
    pub fn first_purchase(&self, t: &EventTable, s: usize) -> Option<usize> {
        self.events(s)
            .iter()
            .position(|&r| t.kind[r as usize] == PURCHASE)
    }

    /// Number of sessions containing at least one event of kind `code`.
    pub fn count_with_kind(&self, t: &EventTable, code: u8) -> usize {
        (0..self.len())
            .filter(|&s| self.events(s).iter().any(|&r| t.kind[r as usize] == code))
            .count()
    }
}

/// Counting sort of the rows `0..n` by `key_of(row) < n_keys`, stable (input order inside a
/// key): `(offsets, rows)`, key `k` holding `rows[offsets[k]..offsets[k + 1]]`.
fn group_rows(n: usize, n_keys: usize, key_of: impl Fn(usize) -> u32) -> (Vec<u32>, Vec<u32>) {
    let mut offsets = vec![0u32; n_keys + 1];
    for i in 0..n {
        offsets[key_of(i) as usize + 1] += 1;
    }
    for k in 0..n_keys {
        offsets[k + 1] += offsets[k];
    }
    let mut pos = offsets[..n_keys].to_vec();
    let mut rows = vec![0u32; n];
    for i in 0..n {
        let p = &mut pos[key_of(i) as usize];
        rows[*p as usize] = i as u32;
        *p += 1;
    }
    (offsets, rows)
}

fn has_gap_sessions(s: &Sessions) -> bool {
    s.native.contains(&NONE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopsense_events::kind::{KindRef, VIEW};
    use shopsense_events::RawEvent;

    fn table(rows: &[(i64, &str, Option<&str>)]) -> EventTable {
        let mut t = EventTable::new();
        for (i, (ms, u, s)) in rows.iter().enumerate() {
            t.push(
                &RawEvent {
                    time_ms: *ms,
                    user: u,
                    session: *s,
                    item: "i",
                    category: None,
                    category_path: None,
                    brand: None,
                    price: None,
                    kind: KindRef::Fixed(VIEW),
                    order: None,
                },
                0,
                i as u64 + 1,
            );
        }
        t
    }

    #[test]
    fn gap_strictly_greater_starts_a_session() {
        let gap = 30 * 60 * 1000;
        let t = table(&[
            (0, "a", None),
            (gap, "a", None),         // exactly the gap: same session
            (2 * gap + 1, "a", None), // gap + 1 ms: new session
            (5, "b", None),
        ]);
        let s = Sessions::build(&t, &SessionConfig::default());
        assert_eq!(s.len(), 3);
        assert_eq!(s.events(0), &[0, 1]);
        assert_eq!(s.events(1), &[2]);
        assert_eq!(s.events(2), &[3]);
        assert_eq!(s.id(&t, 1), "a:2");
        assert_eq!(s.of_event, vec![0, 0, 1, 2]);
    }

    /// The fast path for session ids in order of first appearance gives exactly the
    /// sessions of the general path: out-of-order times, ties, one-event sessions.
    #[test]
    fn native_fast_path_equals_the_general_path() {
        let mut rows = Vec::new();
        let mut x: u64 = 7;
        for i in 0..5_000i64 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let sid = format!("s{}", (x >> 33) % 700);
            let user = format!("u{}", (x >> 40) % 90);
            rows.push((i * 10 - ((x >> 20) % 3_000) as i64, user, sid));
        }
        let refs: Vec<(i64, &str, Option<&str>)> = rows
            .iter()
            .map(|(t, u, s)| (*t, u.as_str(), Some(s.as_str())))
            .collect();
        let t = table(&refs);
        let cfg = SessionConfig::default();
        let fast = Sessions::build_native_in_order(&t, &cfg).expect("fast path taken");
        let general = Sessions::build_general(&t, &cfg);
        assert_eq!(fast.offsets, general.offsets);
        assert_eq!(fast.order, general.order);
        assert_eq!(fast.user, general.user);
        assert_eq!(fast.native, general.native);
        assert_eq!(fast.gap_seq, general.gap_seq);
        assert_eq!(fast.of_event, general.of_event);
        assert!(fast.len() > 600);
        // Not taken: a row without an id, or forced gaps.
        let mut with_gap = refs.clone();
        with_gap.push((1, "u1", None));
        assert!(Sessions::build_native_in_order(&table(&with_gap), &cfg).is_none());
        let forced = SessionConfig {
            force_gap: true,
            ..cfg
        };
        assert!(Sessions::build_native_in_order(&t, &forced).is_none());
    }

    /// Ids not in order of first appearance, or interned without a row (what filtering a
    /// table by time leaves), take the general path, and `build` still numbers sessions by
    /// their first row and skips the empty id.
    #[test]
    fn ids_out_of_order_or_without_rows_take_the_general_path() {
        let rows = [
            (5, "a", Some("s0")),
            (1, "a", Some("s1")),
            (7, "b", Some("s0")),
        ];
        let mut t = EventTable::new();
        t.sessions.intern("s1");
        t.sessions.intern("unused");
        for (i, (ms, u, sid)) in rows.iter().enumerate() {
            let one = table(&[(*ms, *u, *sid)]);
            let mut ev = one.event(0);
            ev.source_line = i as u64 + 1;
            t.push_event(&ev);
        }
        let cfg = SessionConfig::default();
        assert!(Sessions::build_native_in_order(&t, &cfg).is_none());
        let s = Sessions::build(&t, &cfg);
        assert_eq!(s.len(), 2);
        assert_eq!(s.id(&t, 0), "s0");
        assert_eq!(s.events(0), &[0, 2]);
        assert_eq!(s.id(&t, 1), "s1");
        assert_eq!(s.events(1), &[1]);
        assert_eq!(s.of_event, vec![0, 1, 0]);
    }

    #[test]
    fn native_ids_group_and_sort_by_time() {
        let t = table(&[
            (10, "a", Some("s1")),
            (5, "a", Some("s2")),
            (1, "a", Some("s1")),
            (7, "b", None),
        ]);
        let s = Sessions::build(&t, &SessionConfig::default());
        assert_eq!(s.len(), 3);
        assert_eq!(s.events(0), &[2, 0]);
        assert_eq!(s.id(&t, 0), "s1");
        assert_eq!(s.events(1), &[1]);
        assert_eq!(s.id(&t, 2), "b:1");
        let forced = Sessions::build(
            &t,
            &SessionConfig {
                gap_ms: 1_000,
                force_gap: true,
            },
        );
        assert_eq!(forced.len(), 2);
        assert_eq!(forced.events(0), &[2, 1, 0]);
    }
}
