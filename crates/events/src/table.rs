//! The columnar event table: one vector per field, strings interned.

use crate::interner::{canonical_number, Interner, Pipeline, NONE};
use crate::kind::{EventKind, KindRef, FIXED_KINDS, FIXED_KIND_NAMES};
use serde::{Deserialize, Serialize};

/// In-flight ids of the big columns while a reader fills a table
/// ([`EventTable::push_pipelined`]).
#[derive(Debug, Default)]
pub(crate) struct Pipelines {
    user: Pipeline,
    session: Pipeline,
    item: Pipeline,
    /// Keep numeric user ids in [`EventTable::user_num`] ([`crate::read::Columns`]).
    numeric_users: bool,
}

impl Pipelines {
    pub(crate) fn new(numeric_users: bool) -> Self {
        Pipelines {
            numeric_users,
            ..Self::default()
        }
    }
}

/// The [`EventTable::user_num`] of a row whose user id is interned (not a plain number).
pub const USER_INTERNED: u64 = u64::MAX;

/// Id maps from one table's dictionaries into another's.
struct DictMaps {
    users: Vec<u32>,
    sessions: Vec<u32>,
    items: Vec<u32>,
    categories: Vec<u32>,
    paths: Vec<u32>,
    brands: Vec<u32>,
    orders: Vec<u32>,
    kinds: Vec<u8>,
    files: Vec<u16>,
}

impl DictMaps {
    #[inline]
    fn kind(&self, k: u8) -> u8 {
        *self.kinds.get(k as usize).unwrap_or(&k)
    }
}

#[inline]
fn map_id(v: u32, m: &[u32]) -> u32 {
    if v == NONE {
        NONE
    } else {
        m[v as usize]
    }
}

/// Appends the parts `srcs` (one per table after the first) to `dst`, mapping each value
/// with its part's id maps, and frees each part as soon as it is copied.
fn merge_col<T: Copy>(
    dst: &mut Vec<T>,
    srcs: Vec<Vec<T>>,
    extra: usize,
    maps: &[DictMaps],
    f: impl Fn(&DictMaps, T) -> T,
) {
    dst.reserve_exact(extra);
    for (src, m) in srcs.into_iter().zip(maps) {
        dst.extend(src.iter().map(|&v| f(m, v)));
    }
}

fn extend_col<T: Copy>(dst: &mut Vec<T>, src: &[T], extra: usize, f: impl Fn(T) -> T) {
    dst.reserve_exact(extra);
    dst.extend(src.iter().map(|&v| f(v)));
}

/// One event as a reader sees it, borrowing its strings from the input line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawEvent<'a> {
    /// Event time, UTC milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// User (visitor) id.
    pub user: &'a str,
    /// Native session id, when the source has one.
    pub session: Option<&'a str>,
    /// Item (product) id.
    pub item: &'a str,
    /// Category id.
    pub category: Option<&'a str>,
    /// Category path such as `electronics.smartphone`.
    pub category_path: Option<&'a str>,
    /// Brand.
    pub brand: Option<&'a str>,
    /// Price; `None` when the source has none.
    pub price: Option<f64>,
    /// Kind.
    pub kind: KindRef<'a>,
    /// Transaction / order id.
    pub order: Option<&'a str>,
}

/// One event with owned fields: the canonical row form, used where rows are few (the online
/// path, tests, quarantine reports). Bulk data lives in [`EventTable`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Event time, UTC milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// User (visitor) id.
    pub user_id: String,
    /// Session id (native, or derived by sessionizing).
    pub session_id: Option<String>,
    /// Item (product) id.
    pub item_id: String,
    /// Category id.
    pub category_id: Option<String>,
    /// Category path such as `electronics.smartphone`.
    pub category_path: Option<String>,
    /// Brand.
    pub brand: Option<String>,
    /// Price.
    pub price: Option<f64>,
    /// Kind.
    pub kind: EventKind,
    /// Transaction / order id.
    pub order_id: Option<String>,
    /// The file the event was read from.
    pub source_file: Option<String>,
    /// The 1-based line in that file.
    pub source_line: u64,
}

/// A columnar table of events. Strings are interned per column; `NONE` (`u32::MAX`) marks a
/// missing optional value and `NaN` a missing price.
#[derive(Debug, Default, Clone)]
pub struct EventTable {
    /// Event time, UTC ms.
    pub time_ms: Vec<i64>,
    /// Kind code: see [`crate::kind`]; codes ≥ [`FIXED_KINDS`] index [`EventTable::other_kinds`].
    pub kind: Vec<u8>,
    /// User id; [`NONE`] on rows whose user is kept in [`EventTable::user_num`].
    pub user: Vec<u32>,
    /// Empty, unless the table was read with
    /// [`Columns::numeric_users`](crate::read::Columns::numeric_users): then, per row, the
    /// value of a user id that is a plain decimal number (such ids are not interned and
    /// `user` is [`NONE`]), or [`USER_INTERNED`] for any other id (interned as usual).
    /// [`EventTable::intern_numeric_users`] turns such a table into an ordinary one.
    pub user_num: Vec<u64>,
    /// Native session id or `NONE`.
    pub session: Vec<u32>,
    /// Item id.
    pub item: Vec<u32>,
    /// Category id or `NONE`.
    pub category: Vec<u32>,
    /// Category path or `NONE`.
    pub category_path: Vec<u32>,
    /// Brand or `NONE`.
    pub brand: Vec<u32>,
    /// Price, `NaN` when missing.
    pub price: Vec<f64>,
    /// Order id or `NONE`.
    pub order: Vec<u32>,
    /// Index into [`EventTable::files`].
    pub file: Vec<u16>,
    /// 1-based source line.
    pub line: Vec<u64>,
    /// User ids.
    pub users: Interner,
    /// Session ids.
    pub sessions: Interner,
    /// Item ids.
    pub items: Interner,
    /// Category ids.
    pub categories: Interner,
    /// Category paths.
    pub category_paths: Interner,
    /// Brands.
    pub brands: Interner,
    /// Order ids.
    pub orders: Interner,
    /// Names of kinds beyond the fixed ones; code = `FIXED_KINDS + index`.
    pub other_kinds: Vec<String>,
    /// Source files, by index.
    pub files: Vec<String>,
}

impl EventTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty table for a few events (a live session): its dictionaries are
    /// [`Interner::small`].
    pub fn small() -> Self {
        EventTable {
            users: Interner::small(),
            sessions: Interner::small(),
            items: Interner::small(),
            categories: Interner::small(),
            category_paths: Interner::small(),
            brands: Interner::small(),
            orders: Interner::small(),
            ..Self::default()
        }
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.time_ms.len()
    }

    /// True when there are no events.
    pub fn is_empty(&self) -> bool {
        self.time_ms.is_empty()
    }

    /// Reserves room for `n` more events.
    pub fn reserve(&mut self, n: usize) {
        self.time_ms.reserve(n);
        self.kind.reserve(n);
        self.user.reserve(n);
        if !self.user_num.is_empty() {
            self.user_num.reserve(n);
        }
        self.session.reserve(n);
        self.item.reserve(n);
        self.category.reserve(n);
        self.category_path.reserve(n);
        self.brand.reserve(n);
        self.price.reserve(n);
        self.order.reserve(n);
        self.file.reserve(n);
        self.line.reserve(n);
    }

    /// Registers a source file name and returns its index.
    pub fn add_file(&mut self, name: &str) -> u16 {
        if let Some(i) = self.files.iter().position(|f| f == name) {
            return i as u16;
        }
        self.files.push(name.to_string());
        (self.files.len() - 1) as u16
    }

    /// The code of a kind, registering other kinds by name.
    pub fn kind_code(&mut self, kind: KindRef<'_>) -> u8 {
        match kind {
            KindRef::Fixed(c) => c,
            KindRef::Other(name) => {
                if let Some(c) = FIXED_KIND_NAMES.iter().position(|n| *n == name) {
                    return c as u8;
                }
                if let Some(i) = self.other_kinds.iter().position(|k| k == name) {
                    return FIXED_KINDS + i as u8;
                }
                // Codes are u8: past 250 distinct other kinds, the rest share one bucket.
                if self.other_kinds.len() >= (u8::MAX - FIXED_KINDS) as usize {
                    return u8::MAX;
                }
                self.other_kinds.push(name.to_string());
                FIXED_KINDS + (self.other_kinds.len() - 1) as u8
            }
        }
    }

    /// The name of a kind code.
    pub fn kind_name(&self, code: u8) -> &str {
        if code < FIXED_KINDS {
            FIXED_KIND_NAMES[code as usize]
        } else {
            self.other_kinds
                .get((code - FIXED_KINDS) as usize)
                .map(String::as_str)
                .unwrap_or("other")
        }
    }

    /// Number of distinct kind codes in use (fixed + other).
    pub fn kind_count(&self) -> usize {
        FIXED_KINDS as usize + self.other_kinds.len()
    }

    /// Appends one event read from line `line` of file index `file`.
    #[inline]
    pub fn push(&mut self, ev: &RawEvent<'_>, file: u16, line: u64) {
        let kind = self.kind_code(ev.kind);
        self.time_ms.push(ev.time_ms);
        self.kind.push(kind);
        self.user.push(self.users.intern(ev.user));
        if !self.user_num.is_empty() {
            self.user_num.push(USER_INTERNED);
        }
        self.session.push(self.sessions.intern_opt(ev.session));
        self.item.push(self.items.intern(ev.item));
        self.category.push(self.categories.intern_opt(ev.category));
        self.category_path
            .push(self.category_paths.intern_opt(ev.category_path));
        self.brand.push(self.brands.intern_opt(ev.brand));
        self.price.push(ev.price.unwrap_or(f64::NAN));
        self.order.push(self.orders.intern_opt(ev.order));
        self.file.push(file);
        self.line.push(line);
    }

    /// Like [`EventTable::push`], but the user, session and item ids go through `pipes`
    /// (see [`Pipeline`]): faster on big inputs, and the table is complete only after
    /// [`EventTable::flush_pipelines`].
    #[inline]
    pub(crate) fn push_pipelined(
        &mut self,
        ev: &RawEvent<'_>,
        file: u16,
        line: u64,
        pipes: &mut Pipelines,
    ) {
        let kind = self.kind_code(ev.kind);
        self.time_ms.push(ev.time_ms);
        self.kind.push(kind);
        if pipes.numeric_users {
            match canonical_number(ev.user) {
                Some(v) => {
                    self.user_num.push(v);
                    self.user.push(NONE);
                }
                None => {
                    self.user_num.push(USER_INTERNED);
                    pipes.user.push(&mut self.users, &mut self.user, ev.user);
                }
            }
        } else {
            pipes.user.push(&mut self.users, &mut self.user, ev.user);
        }
        pipes
            .session
            .push_opt(&mut self.sessions, &mut self.session, ev.session);
        pipes.item.push(&mut self.items, &mut self.item, ev.item);
        self.category.push(self.categories.intern_opt(ev.category));
        self.category_path
            .push(self.category_paths.intern_opt(ev.category_path));
        self.brand.push(self.brands.intern_opt(ev.brand));
        self.price.push(ev.price.unwrap_or(f64::NAN));
        self.order.push(self.orders.intern_opt(ev.order));
        self.file.push(file);
        self.line.push(line);
    }

    /// Resolves the ids [`EventTable::push_pipelined`] left in flight.
    pub(crate) fn flush_pipelines(&mut self, pipes: &mut Pipelines) {
        pipes.user.flush(&mut self.users, &mut self.user);
        pipes.session.flush(&mut self.sessions, &mut self.session);
        pipes.item.flush(&mut self.items, &mut self.item);
    }

    /// The event at row `i` in owned form.
    pub fn event(&self, i: usize) -> Event {
        let kind = self.kind[i];
        Event {
            time_ms: self.time_ms[i],
            user_id: self.user_id(i).into_owned(),
            session_id: self.sessions.get_opt(self.session[i]).map(str::to_string),
            item_id: self.items.get(self.item[i]).to_string(),
            category_id: self
                .categories
                .get_opt(self.category[i])
                .map(str::to_string),
            category_path: self
                .category_paths
                .get_opt(self.category_path[i])
                .map(str::to_string),
            brand: self.brands.get_opt(self.brand[i]).map(str::to_string),
            price: Some(self.price[i]).filter(|p| !p.is_nan()),
            kind: EventKind::from_name(self.kind_name(kind)),
            order_id: self.orders.get_opt(self.order[i]).map(str::to_string),
            source_file: self.files.get(self.file[i] as usize).cloned(),
            source_line: self.line[i],
        }
    }

    /// Appends an owned event (online path and tests).
    pub fn push_event(&mut self, ev: &Event) {
        let file = match &ev.source_file {
            Some(f) => self.add_file(f),
            None => self.add_file(""),
        };
        let kind = match ev.kind.fixed_code() {
            Some(c) => KindRef::Fixed(c),
            None => KindRef::Other(ev.kind.name()),
        };
        let raw = RawEvent {
            time_ms: ev.time_ms,
            user: &ev.user_id,
            session: ev.session_id.as_deref(),
            item: &ev.item_id,
            category: ev.category_id.as_deref(),
            category_path: ev.category_path.as_deref(),
            brand: ev.brand.as_deref(),
            price: ev.price,
            kind,
            order: ev.order_id.as_deref(),
        };
        self.push(&raw, file, ev.source_line);
    }

    /// The user id of row `i` as text (borrowed unless it is kept as a number).
    pub fn user_id(&self, i: usize) -> std::borrow::Cow<'_, str> {
        match self.user_num.get(i) {
            Some(&v) if v != USER_INTERNED => std::borrow::Cow::Owned(v.to_string()),
            _ => std::borrow::Cow::Borrowed(self.users.get(self.user[i])),
        }
    }

    /// True when the table keeps numeric user ids as numbers ([`EventTable::user_num`]).
    pub fn has_numeric_users(&self) -> bool {
        !self.user_num.is_empty()
    }

    /// Interns the user ids kept as numbers ([`EventTable::user_num`]), making this an
    /// ordinary table: the user dictionary is rebuilt in row order, so the ids come out
    /// exactly as if the table had been read without
    /// [`Columns::numeric_users`](crate::read::Columns::numeric_users).
    pub fn intern_numeric_users(&mut self) {
        if self.user_num.is_empty() {
            return;
        }
        let old = std::mem::take(&mut self.users);
        let nums = std::mem::take(&mut self.user_num);
        let mut buf = itoa::Buffer::new();
        for (u, &v) in self.user.iter_mut().zip(&nums) {
            *u = if v == USER_INTERNED {
                self.users.intern(old.get(*u))
            } else {
                self.users.intern(buf.format(v))
            };
        }
    }

    /// True when every event carries a native session id.
    pub fn has_native_sessions(&self) -> bool {
        !self.session.is_empty() && self.session.iter().all(|&s| s != NONE)
    }

    /// Appends all rows of `other`, re-interning its strings into this table's dictionaries.
    pub fn append(&mut self, other: &EventTable) {
        if other.is_empty() {
            return;
        }
        if self.has_numeric_users() != other.has_numeric_users() && !self.is_empty() {
            // One kept numbers, the other interned them: intern on both sides.
            self.intern_numeric_users();
            if other.has_numeric_users() {
                let mut o = other.clone();
                o.intern_numeric_users();
                return self.append(&o);
            }
        }
        let numeric = other.has_numeric_users();
        let maps = self.merge_dictionaries(other);
        let extra = other.len();
        extend_col(&mut self.time_ms, &other.time_ms, extra, |v| v);
        extend_col(&mut self.kind, &other.kind, extra, |k| maps.kind(k));
        extend_col(&mut self.user, &other.user, extra, |v| {
            map_id(v, &maps.users)
        });
        if numeric {
            extend_col(&mut self.user_num, &other.user_num, extra, |v| v);
        }
        extend_col(&mut self.session, &other.session, extra, |v| {
            map_id(v, &maps.sessions)
        });
        extend_col(&mut self.item, &other.item, extra, |v| {
            map_id(v, &maps.items)
        });
        extend_col(&mut self.category, &other.category, extra, |v| {
            map_id(v, &maps.categories)
        });
        extend_col(&mut self.category_path, &other.category_path, extra, |v| {
            map_id(v, &maps.paths)
        });
        extend_col(&mut self.brand, &other.brand, extra, |v| {
            map_id(v, &maps.brands)
        });
        extend_col(&mut self.price, &other.price, extra, |v| v);
        extend_col(&mut self.order, &other.order, extra, |v| {
            map_id(v, &maps.orders)
        });
        extend_col(&mut self.file, &other.file, extra, |f| {
            maps.files[f as usize]
        });
        extend_col(&mut self.line, &other.line, extra, |v| v);
    }

    /// Concatenates tables in order into one, consuming them. Each column of the result is
    /// built and the parts' copies of it freed before the next column, so the peak memory is
    /// about one table plus one column, not two tables.
    pub fn concat(parts: Vec<EventTable>) -> EventTable {
        let mut parts = parts.into_iter();
        let Some(mut base) = parts.next() else {
            return EventTable::new();
        };
        let mut rest: Vec<EventTable> = parts.collect();
        if rest.is_empty() {
            return base;
        }
        // Parts that kept numeric user ids as numbers merge as they are when all did (one
        // read's byte ranges); a mix is made ordinary first.
        let non_empty = || {
            std::iter::once(&base)
                .chain(rest.iter())
                .filter(|p| !p.is_empty())
        };
        let numeric = non_empty().filter(|p| p.has_numeric_users()).count();
        let all_numeric = numeric > 0 && numeric == non_empty().count();
        if numeric > 0 && !all_numeric {
            base.intern_numeric_users();
            rest.iter_mut().for_each(EventTable::intern_numeric_users);
        }
        let clock = std::time::Instant::now();
        let maps: Vec<DictMaps> = rest.iter().map(|p| base.merge_dictionaries(p)).collect();
        tracing::debug!(
            "dictionaries merged in {:.3} s",
            clock.elapsed().as_secs_f64()
        );
        let extra: usize = rest.iter().map(EventTable::len).sum();
        // Columns are independent: merge them in parallel, each freeing its parts' copies
        // as it goes (the first part's columns usually have room reserved already).
        macro_rules! take {
            ($col:ident) => {
                rest.iter_mut()
                    .map(|p| std::mem::take(&mut p.$col))
                    .collect::<Vec<_>>()
            };
        }
        let srcs = (
            take!(time_ms),
            take!(kind),
            take!(user),
            take!(session),
            take!(item),
            take!(category),
            take!(category_path),
            take!(brand),
            take!(price),
            take!(order),
            take!(file),
            take!(line),
            take!(user_num),
        );
        let EventTable {
            time_ms,
            kind,
            user,
            session,
            item,
            category,
            category_path,
            brand,
            price,
            order,
            file,
            line,
            user_num,
            ..
        } = &mut base;
        let maps = &maps;
        rayon::scope(|sc| {
            sc.spawn(move |_| merge_col(time_ms, srcs.0, extra, maps, |_, v| v));
            sc.spawn(move |_| merge_col(kind, srcs.1, extra, maps, |m, k| m.kind(k)));
            sc.spawn(move |_| merge_col(user, srcs.2, extra, maps, |m, v| map_id(v, &m.users)));
            sc.spawn(move |_| {
                merge_col(session, srcs.3, extra, maps, |m, v| map_id(v, &m.sessions))
            });
            sc.spawn(move |_| merge_col(item, srcs.4, extra, maps, |m, v| map_id(v, &m.items)));
            sc.spawn(move |_| {
                merge_col(category, srcs.5, extra, maps, |m, v| {
                    map_id(v, &m.categories)
                })
            });
            sc.spawn(move |_| {
                merge_col(category_path, srcs.6, extra, maps, |m, v| {
                    map_id(v, &m.paths)
                })
            });
            sc.spawn(move |_| merge_col(brand, srcs.7, extra, maps, |m, v| map_id(v, &m.brands)));
            sc.spawn(move |_| merge_col(price, srcs.8, extra, maps, |_, v| v));
            sc.spawn(move |_| merge_col(order, srcs.9, extra, maps, |m, v| map_id(v, &m.orders)));
            sc.spawn(move |_| merge_col(file, srcs.10, extra, maps, |m, f| m.files[f as usize]));
            sc.spawn(move |_| merge_col(line, srcs.11, extra, maps, |_, v| v));
            if all_numeric {
                sc.spawn(move |_| merge_col(user_num, srcs.12, extra, maps, |_, v| v));
            }
        });
        base
    }

    /// Interns `other`'s dictionaries into this table's and returns the id maps.
    fn merge_dictionaries(&mut self, other: &EventTable) -> DictMaps {
        fn remap(dst: &mut Interner, src: &Interner) -> Vec<u32> {
            dst.absorb(src)
        }
        // The big dictionaries (users, sessions, items) are independent: merge them at once.
        let ((users, sessions), items) = rayon::join(
            || {
                rayon::join(
                    || remap(&mut self.users, &other.users),
                    || remap(&mut self.sessions, &other.sessions),
                )
            },
            || remap(&mut self.items, &other.items),
        );
        DictMaps {
            users,
            sessions,
            items,
            categories: remap(&mut self.categories, &other.categories),
            paths: remap(&mut self.category_paths, &other.category_paths),
            brands: remap(&mut self.brands, &other.brands),
            orders: remap(&mut self.orders, &other.orders),
            kinds: (0..other.kind_count())
                .map(|c| {
                    let name = other.kind_name(c as u8).to_string();
                    self.kind_code(KindRef::Other(&name))
                })
                .collect(),
            files: other.files.iter().map(|f| self.add_file(f)).collect(),
        }
    }

    /// Keeps only the rows for which `keep(i)` is true, in order.
    pub fn retain_rows(&mut self, mut keep: impl FnMut(usize) -> bool) {
        let mask: Vec<bool> = (0..self.len()).map(&mut keep).collect();
        fn filt<T: Copy>(v: &mut Vec<T>, mask: &[bool]) {
            let mut j = 0;
            for i in 0..v.len() {
                if mask[i] {
                    v[j] = v[i];
                    j += 1;
                }
            }
            v.truncate(j);
        }
        filt(&mut self.time_ms, &mask);
        filt(&mut self.kind, &mask);
        filt(&mut self.user, &mask);
        filt(&mut self.user_num, &mask);
        filt(&mut self.session, &mask);
        filt(&mut self.item, &mask);
        filt(&mut self.category, &mask);
        filt(&mut self.category_path, &mask);
        filt(&mut self.brand, &mask);
        filt(&mut self.price, &mask);
        filt(&mut self.order, &mask);
        filt(&mut self.file, &mask);
        filt(&mut self.line, &mask);
    }

    /// Sorts the rows by time, keeping the input order of rows with equal times (stable).
    /// Dictionaries are untouched, so ids keep their meaning.
    pub fn sort_by_time(&mut self) {
        if self.time_ms.windows(2).all(|w| w[0] <= w[1]) {
            return;
        }
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        order.sort_by_key(|&i| self.time_ms[i as usize]);
        fn permute<T: Copy>(v: &mut Vec<T>, order: &[u32]) {
            let sorted: Vec<T> = order.iter().map(|&i| v[i as usize]).collect();
            *v = sorted;
        }
        permute(&mut self.time_ms, &order);
        permute(&mut self.kind, &order);
        permute(&mut self.user, &order);
        if self.has_numeric_users() {
            permute(&mut self.user_num, &order);
        }
        permute(&mut self.session, &order);
        permute(&mut self.item, &order);
        permute(&mut self.category, &order);
        permute(&mut self.category_path, &order);
        permute(&mut self.brand, &order);
        permute(&mut self.price, &order);
        permute(&mut self.order, &order);
        permute(&mut self.file, &order);
        permute(&mut self.line, &order);
    }

    /// Keeps events with `from_ms <= time < to_ms` (either bound optional).
    pub fn retain_time_window(&mut self, from_ms: Option<i64>, to_ms: Option<i64>) {
        let t = std::mem::take(&mut self.time_ms);
        self.time_ms = t.clone();
        self.retain_rows(|i| from_ms.is_none_or(|f| t[i] >= f) && to_ms.is_none_or(|e| t[i] < e));
    }

    /// A 64-bit fingerprint of row `i`'s canonical fields (source position excluded); equal
    /// rows have equal fingerprints.
    pub fn row_fingerprint(&self, i: usize) -> u64 {
        let mut buf = [0u8; 8 * 9];
        let fields = [
            self.time_ms[i] as u64,
            self.kind[i] as u64,
            self.user[i] as u64 ^ self.user_num.get(i).map_or(0, |v| v.rotate_left(32)),
            self.session[i] as u64,
            self.item[i] as u64,
            self.category[i] as u64,
            self.brand[i] as u64,
            self.price[i].to_bits(),
            self.order[i] as u64 ^ ((self.category_path[i] as u64) << 32),
        ];
        for (k, f) in fields.iter().enumerate() {
            buf[k * 8..k * 8 + 8].copy_from_slice(&f.to_le_bytes());
        }
        xxhash_rust::xxh3::xxh3_64(&buf)
    }

    /// Rows that repeat an earlier row exactly (all canonical fields equal); the first copy is
    /// not listed. Rows are compared field by field, so fingerprint collisions cannot merge
    /// different rows.
    pub fn duplicate_rows(&self) -> Vec<usize> {
        let mut seen: hashbrown::HashMap<u64, Vec<u32>> =
            hashbrown::HashMap::with_capacity(self.len());
        let mut dups = Vec::new();
        for i in 0..self.len() {
            let fp = self.row_fingerprint(i);
            let slot = seen.entry(fp).or_default();
            if slot.iter().any(|&j| self.same_row(i, j as usize)) {
                dups.push(i);
            } else {
                slot.push(i as u32);
            }
        }
        dups
    }

    fn same_row(&self, i: usize, j: usize) -> bool {
        self.time_ms[i] == self.time_ms[j]
            && self.kind[i] == self.kind[j]
            && self.user[i] == self.user[j]
            && self.user_num.get(i) == self.user_num.get(j)
            && self.session[i] == self.session[j]
            && self.item[i] == self.item[j]
            && self.category[i] == self.category[j]
            && self.category_path[i] == self.category_path[j]
            && self.brand[i] == self.brand[j]
            && self.price[i].to_bits() == self.price[j].to_bits()
            && self.order[i] == self.order[j]
    }

    /// Reserves dictionary room for about `rows` more rows, assuming each dictionary keeps
    /// gaining new strings at the rate it did over the rows so far (no-op on an empty table).
    pub fn reserve_dictionaries_for(&mut self, rows: usize) {
        self.reserve_dictionaries_split(rows, rows);
    }

    /// Like [`EventTable::reserve_dictionaries_for`], with lookup-table room for
    /// `indexed_rows` more rows and string room for `stored_rows` more (see
    /// [`Interner::reserve_split`]).
    pub fn reserve_dictionaries_split(&mut self, indexed_rows: usize, stored_rows: usize) {
        let n = self.len();
        if n == 0 {
            return;
        }
        for d in [
            &mut self.users,
            &mut self.sessions,
            &mut self.items,
            &mut self.categories,
            &mut self.category_paths,
            &mut self.brands,
            &mut self.orders,
        ] {
            let per_row = d.len() as f64 / n as f64;
            let avg = d.arena_bytes() / d.len().max(1);
            d.reserve_split(
                (per_row * indexed_rows as f64) as usize,
                (per_row * stored_rows as f64) as usize,
                avg,
            );
        }
    }

    /// Frees the dictionaries' lookup tables once no more rows will be added (strings and
    /// ids stay valid; adding rows later rebuilds them).
    pub fn drop_lookup_indexes(&mut self) {
        self.users.drop_index();
        self.sessions.drop_index();
        self.items.drop_index();
        self.categories.drop_index();
        self.category_paths.drop_index();
        self.brands.drop_index();
        self.orders.drop_index();
    }

    /// Approximate heap bytes held (for memory reporting).
    pub fn heap_bytes(&self) -> usize {
        self.len() * (8 + 1 + 4 * 7 + 8 + 2 + 8)
            + self.users.arena_bytes()
            + self.sessions.arena_bytes()
            + self.items.arena_bytes()
            + self.categories.arena_bytes()
            + self.category_paths.arena_bytes()
            + self.brands.arena_bytes()
            + self.orders.arena_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::{CART, VIEW};

    fn raw<'a>(t: i64, user: &'a str, item: &'a str, kind: KindRef<'a>) -> RawEvent<'a> {
        RawEvent {
            time_ms: t,
            user,
            session: None,
            item,
            category: None,
            category_path: None,
            brand: Some("b"),
            price: Some(1.5),
            kind,
            order: None,
        }
    }

    #[test]
    fn push_append_and_round_trip() {
        let mut a = EventTable::new();
        let f = a.add_file("a.csv");
        a.push(&raw(1, "u1", "i1", KindRef::Fixed(VIEW)), f, 2);
        a.push(&raw(2, "u1", "i2", KindRef::Other("share")), f, 3);
        let mut b = EventTable::new();
        let g = b.add_file("b.csv");
        b.push(&raw(3, "u2", "i2", KindRef::Other("zoom")), g, 2);
        b.push(&raw(4, "u1", "i1", KindRef::Fixed(CART)), g, 3);
        let c = EventTable::concat(vec![a.clone(), b.clone()]);
        a.append(&b);
        assert_eq!(c.time_ms, a.time_ms);
        assert_eq!(c.user, a.user);
        assert_eq!(c.kind, a.kind);
        assert_eq!(c.file, a.file);
        assert_eq!(c.files, a.files);
        assert_eq!(a.len(), 4);
        assert_eq!(a.users.len(), 2);
        assert_eq!(a.items.len(), 2);
        assert_eq!(a.kind_name(a.kind[1]), "share");
        assert_eq!(a.kind_name(a.kind[2]), "zoom");
        let e = a.event(3);
        assert_eq!(e.user_id, "u1");
        assert_eq!(e.kind, EventKind::Cart);
        assert_eq!(e.source_file.as_deref(), Some("b.csv"));
        let mut c = EventTable::new();
        c.push_event(&e);
        assert_eq!(c.event(0), e);
    }

    #[test]
    fn finds_exact_duplicates_only() {
        let mut t = EventTable::new();
        let f = t.add_file("x");
        t.push(&raw(1, "u", "i", KindRef::Fixed(VIEW)), f, 1);
        t.push(&raw(1, "u", "i", KindRef::Fixed(VIEW)), f, 2);
        t.push(&raw(1, "u", "i", KindRef::Fixed(CART)), f, 3);
        t.push(&raw(1, "u", "i", KindRef::Fixed(VIEW)), f, 4);
        assert_eq!(t.duplicate_rows(), vec![1, 3]);
    }

    #[test]
    fn sorts_by_time_stably() {
        let mut t = EventTable::new();
        for (ms, line) in [(5, 1), (1, 2), (5, 3), (1, 4), (3, 5)] {
            t.push(&raw(ms, "u", "i", KindRef::Fixed(VIEW)), 0, line);
        }
        t.sort_by_time();
        assert_eq!(t.time_ms, vec![1, 1, 3, 5, 5]);
        assert_eq!(t.line, vec![2, 4, 5, 1, 3]);
    }

    #[test]
    fn time_window_is_half_open() {
        let mut t = EventTable::new();
        for ms in [1, 5, 10] {
            t.push(&raw(ms, "u", "i", KindRef::Fixed(VIEW)), 0, ms as u64);
        }
        t.retain_time_window(Some(5), Some(10));
        assert_eq!(t.time_ms, vec![5]);
        assert_eq!(t.line, vec![5]);
    }
}
