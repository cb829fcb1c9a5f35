//! String interning: each distinct string is stored once and named by a dense `u32` id.

use hashbrown::HashTable;
use xxhash_rust::xxh3::xxh3_64;

/// The id standing for "no value" in interned columns.
pub const NONE: u32 = u32::MAX;

/// Stores distinct strings once in one arena and hands out dense ids (0, 1, 2, …) in
/// first-seen order. Looking up a known string allocates nothing.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    arena: String,
    ends: Vec<u32>,
    /// (hash, id): the stored hash makes growth free of re-hashing and lets most probes skip
    /// the string comparison.
    table: HashTable<(u64, u32)>,
    /// Canonical decimal strings (no leading zero, at most 19 digits) keyed by their value:
    /// numeric ids, the common case, are found without touching the arena.
    nums: IdTable<u64>,
    /// Canonical lower-case UUIDs keyed by their 128-bit value (session ids in most logs).
    uuids: IdTable<[u64; 2]>,
    /// Small direct-mapped caches of recently interned numbers and UUIDs. Clickstreams are
    /// local in time (a session's events sit close together), so most lookups hit here, in
    /// cache-resident memory, instead of probing the large tables.
    num_cache: Vec<(u64, u32)>,
    uuid_cache: Vec<([u64; 2], u32)>,
    /// Ids below this are in the lookup tables; the others (all after
    /// [`Interner::drop_index`], the absorbed ones after [`Interner::absorb`]) are added on
    /// next use.
    indexed: usize,
    /// No recent-key caches ([`Interner::small`]).
    small: bool,
}

/// Value of each byte as a lower-case hex digit, `0xFF` when it is not one.
const HEX_VALUE: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Appends the hex digits of `b` to `acc`; any non-digit sets the high bit of `bad`.
/// Branch-free: which bytes are letters is unpredictable, and a branch per digit cost more
/// than the table lookups.
#[inline(always)]
fn hex_digits(mut acc: u64, bad: &mut u8, b: &[u8]) -> u64 {
    for &c in b {
        let d = HEX_VALUE[c as usize];
        *bad |= d;
        acc = (acc << 4) | (d & 0xF) as u64;
    }
    acc
}

/// The value of a canonical lower-case UUID (`8-4-4-4-12` hex digits), if `s` is one.
#[inline]
fn canonical_uuid(s: &str) -> Option<[u64; 2]> {
    let b = s.as_bytes();
    if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    let mut bad = 0u8;
    let hi = hex_digits(0, &mut bad, &b[0..8]);
    let hi = hex_digits(hi, &mut bad, &b[9..13]);
    let hi = hex_digits(hi, &mut bad, &b[14..18]);
    let lo = hex_digits(0, &mut bad, &b[19..23]);
    let lo = hex_digits(lo, &mut bad, &b[24..36]);
    // Two u64 halves keep table entries at 24 bytes (a u128 would pad them to 32).
    (bad & 0x80 == 0).then_some([hi, lo])
}

#[inline]
fn uuid_hash(v: [u64; 2]) -> u64 {
    num_hash(v[1] ^ v[0].rotate_left(17))
}

/// The value of a canonical decimal string, if `s` is one.
#[inline]
pub(crate) fn canonical_number(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 19 || (b[0] == b'0' && b.len() > 1) {
        return None;
    }
    let mut v = 0u64;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u64;
    }
    Some(v)
}

/// Entries in each recent-key cache (a power of two).
const CACHE: usize = 4096;

#[inline]
fn num_hash(v: u64) -> u64 {
    // A multiplicative mix (the hash table uses the top bits for tags, the low for buckets).
    (v ^ (v >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (v >> 32)
}

/// The hash the lookup tables file `s` under (numbers and canonical UUIDs by value).
fn key_hash(s: &str) -> u64 {
    if let Some(v) = canonical_number(s) {
        num_hash(v)
    } else if let Some(v) = canonical_uuid(s) {
        uuid_hash(v)
    } else {
        xxh3_64(s.as_bytes())
    }
}

/// A one-hash bit filter over the key hashes of an interner: no false negatives.
struct HashFilter {
    bits: Vec<u64>,
    mask: u64,
}

impl HashFilter {
    /// The filter of every string in `i` (at least 8 bits per string: ≈ 12 % false
    /// positives).
    fn of(i: &Interner) -> Self {
        use rayon::prelude::*;
        let n_bits = (i.len().max(1) * 8).next_power_of_two().max(64) as u64;
        let words = (n_bits / 64) as usize;
        let mask = n_bits - 1;
        // One filter per thread over a share of the strings, then OR-ed: re-hashing a
        // million strings was a serial 0.06 s of the merge.
        let n = i.len();
        let parts = if n < 1 << 16 {
            1
        } else {
            rayon::current_num_threads().max(1)
        };
        let bits = (0..parts)
            .into_par_iter()
            .map(|p| {
                let mut bits = vec![0u64; words];
                for id in (p * n / parts) as u32..((p + 1) * n / parts) as u32 {
                    let b = Self::bit(key_hash(i.get(id)), mask);
                    bits[(b / 64) as usize] |= 1 << (b % 64);
                }
                bits
            })
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x |= y);
                a
            })
            .unwrap_or_else(|| vec![0u64; words]);
        HashFilter { bits, mask }
    }

    #[inline]
    fn bit(h: u64, mask: u64) -> u64 {
        // Bits the table's slot index does not use first.
        h.rotate_left(29) & mask
    }

    /// False only when no string of the interner has hash `h`.
    #[inline]
    fn may_contain(&self, h: u64) -> bool {
        let b = Self::bit(h, self.mask);
        self.bits[(b / 64) as usize] & (1 << (b % 64)) != 0
    }
}

/// Hints the CPU to start loading the cache line at `p` (no effect where unsupported).
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults, even on an invalid address.
    #[allow(unused_unsafe)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// An open-addressing table (linear probing, at most 3/4 full) from a fixed-size key to an
/// id. Key and id sit side by side, so a lookup touches one cache line in the common case,
/// and the slot of a hash can be prefetched before it is needed ([`IdTable::prefetch`]).
/// An id of [`NONE`] marks an empty slot.
#[derive(Debug, Clone)]
struct IdTable<K> {
    slots: Vec<(K, u32)>,
    len: usize,
    /// `64 - log2(slots.len())`: the slot of a hash is its top bits.
    shift: u32,
}

impl<K> Default for IdTable<K> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            len: 0,
            shift: 64,
        }
    }
}

impl<K: Copy + Eq + Default> IdTable<K> {
    fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn slot(&self, h: u64) -> usize {
        // Fibonacci hashing: the top bits of a multiplicative mix spread even sequential keys.
        (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    #[inline]
    fn prefetch(&self, h: u64) {
        if !self.slots.is_empty() {
            prefetch(self.slots.as_ptr().wrapping_add(self.slot(h)));
        }
    }

    #[inline]
    fn find(&self, h: u64, k: K) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.slot(h);
        loop {
            let (sk, id) = self.slots[i];
            if id == NONE {
                return None;
            }
            if sk == k {
                return Some(id);
            }
            i = (i + 1) & mask;
        }
    }

    /// The id of `k`, or the id `new_id()` gives it when absent.
    #[inline]
    fn find_or_insert(
        &mut self,
        h: u64,
        k: K,
        hash: impl Fn(K) -> u64,
        new_id: impl FnOnce() -> u32,
    ) -> u32 {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow_to(self.len + 1, &hash);
        }
        let mask = self.slots.len() - 1;
        let mut i = self.slot(h);
        loop {
            let (sk, id) = self.slots[i];
            if id == NONE {
                let id = new_id();
                self.slots[i] = (k, id);
                self.len += 1;
                return id;
            }
            if sk == k {
                return id;
            }
            i = (i + 1) & mask;
        }
    }

    /// Makes room for `additional` more keys without further growth.
    fn reserve(&mut self, additional: usize, hash: impl Fn(K) -> u64) {
        let want = self.len + additional;
        if want * 4 > self.slots.len() * 3 {
            self.grow_to(want, &hash);
        }
    }

    fn grow_to(&mut self, n: usize, hash: &impl Fn(K) -> u64) {
        let cap = (n.saturating_mul(4) / 3 + 1).next_power_of_two().max(16);
        let old = std::mem::replace(
            &mut self.slots,
            crate::huge::huge_vec(cap, (K::default(), NONE)),
        );
        self.shift = 64 - cap.trailing_zeros();
        let mask = cap - 1;
        for (k, id) in old {
            if id == NONE {
                continue;
            }
            let mut i = self.slot(hash(k));
            while self.slots[i].1 != NONE {
                i = (i + 1) & mask;
            }
            self.slots[i] = (k, id);
        }
    }
}

/// A key of the fast (value-keyed) paths, classified and hashed ahead of its lookup.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FastKey {
    /// A canonical decimal number.
    Num(u64, u64),
    /// A canonical lower-case UUID.
    Uuid([u64; 2], u64),
}

/// What [`Interner::begin`] found out about a string.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Begun {
    /// Known: the id, from the recent-key cache.
    Known(u32),
    /// A fast key whose table slot is being prefetched: finish with [`Interner::finish`].
    Fast(FastKey),
    /// Neither a number nor a UUID: intern it with [`Interner::intern`].
    Slow,
}

/// How many keys a [`Pipeline`] keeps in flight: enough to overlap the cache misses of a
/// dictionary far larger than the CPU caches, few enough that their slots are still cached.
const DEPTH: usize = 16;

/// Interns one column's strings a few keys ahead of resolving them ([`Interner::begin`],
/// then [`Interner::finish`] `DEPTH` keys later), so that the cache misses of a big
/// dictionary overlap instead of stalling the parse one at a time. Ids come out exactly as
/// with [`Interner::intern`] (first-seen order); rows wait as [`NONE`] until
/// [`Pipeline::flush`].
#[derive(Debug, Default, Clone)]
pub(crate) struct Pipeline {
    ring: std::collections::VecDeque<(FastKey, usize)>,
}

impl Pipeline {
    /// Appends the id of `s` to `col` (possibly later: see [`Pipeline::flush`]).
    #[inline]
    pub(crate) fn push(&mut self, dict: &mut Interner, col: &mut Vec<u32>, s: &str) {
        match dict.begin(s) {
            Begun::Known(id) => col.push(id),
            Begun::Fast(key) => {
                if self.ring.len() >= DEPTH {
                    if let Some((k, row)) = self.ring.pop_front() {
                        col[row] = dict.finish(k);
                    }
                }
                self.ring.push_back((key, col.len()));
                col.push(NONE);
            }
            Begun::Slow => {
                self.flush(dict, col);
                col.push(dict.intern(s));
            }
        }
    }

    /// Like [`Pipeline::push`] for an optional string (`None` and `""` are [`NONE`]).
    #[inline]
    pub(crate) fn push_opt(&mut self, dict: &mut Interner, col: &mut Vec<u32>, s: Option<&str>) {
        match s {
            Some(s) if !s.is_empty() => self.push(dict, col, s),
            _ => col.push(NONE),
        }
    }

    /// Resolves every key still in flight into `col`.
    pub(crate) fn flush(&mut self, dict: &mut Interner, col: &mut [u32]) {
        while let Some((k, row)) = self.ring.pop_front() {
            col[row] = dict.finish(k);
        }
    }
}

/// Writes the canonical decimal text of `v`.
fn push_decimal(arena: &mut String, v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if let Ok(t) = std::str::from_utf8(&buf[i..]) {
        arena.push_str(t);
    }
}

/// Writes the canonical lower-case `8-4-4-4-12` text of a UUID value.
fn push_uuid(arena: &mut String, v: [u64; 2]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Text position of the first digit of each of the 16 value bytes (big-endian).
    const POS: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    let mut buf = [b'-'; 36];
    for (k, &p) in POS.iter().enumerate() {
        let byte = (v[k / 8] >> (56 - 8 * (k % 8))) as u8;
        buf[p] = HEX[(byte >> 4) as usize];
        buf[p + 1] = HEX[(byte & 0xF) as usize];
    }
    if let Ok(t) = std::str::from_utf8(&buf) {
        arena.push_str(t);
    }
}

impl Interner {
    /// An empty interner.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty interner for a few strings (a live session's ids): it keeps no recent-key
    /// caches, which a tiny table does not need and whose 64–96 KiB each would otherwise be
    /// initialised for every new live session (most of the stream's time, measured).
    pub fn small() -> Self {
        Interner {
            small: true,
            ..Self::default()
        }
    }

    /// Number of distinct strings.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when no string has been interned.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The string of `id`. Panics only on an id this interner never handed out.
    pub fn get(&self, id: u32) -> &str {
        let i = id as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.arena[start..self.ends[i] as usize]
    }

    /// The string of `id`, or `None` for [`NONE`].
    pub fn get_opt(&self, id: u32) -> Option<&str> {
        (id != NONE).then(|| self.get(id))
    }

    /// The id of `s`, if interned.
    /// (Ids not yet in the lookup tables are searched one by one.)
    pub fn lookup(&self, s: &str) -> Option<u32> {
        self.lookup_indexed(s).or_else(|| {
            (self.indexed..self.len())
                .find(|&i| self.get(i as u32) == s)
                .map(|i| i as u32)
        })
    }

    /// The id of `s` if it is among the ids the lookup tables cover.
    fn lookup_indexed(&self, s: &str) -> Option<u32> {
        if let Some(v) = canonical_number(s) {
            return self.nums.find(num_hash(v), v);
        }
        if let Some(v) = canonical_uuid(s) {
            return self.uuids.find(uuid_hash(v), v);
        }
        let h = xxh3_64(s.as_bytes());
        self.table
            .find(h, |&(eh, id)| eh == h && self.get(id) == s)
            .map(|&(_, id)| id)
    }

    /// Appends every string of `other` that is not here yet, in `other`'s id order, and
    /// returns the id here of each of `other`'s strings: the same ids as interning
    /// `other.iter()` one by one, but the lookups run in parallel and new strings are
    /// copied, not re-parsed. The lookup tables take the new strings only when next needed
    /// (never, when the caller then calls [`Interner::drop_index`]).
    pub fn absorb(&mut self, other: &Interner) -> Vec<u32> {
        use rayon::prelude::*;
        if self.indexed < self.ends.len() {
            self.catch_up();
        }
        let clock = std::time::Instant::now();
        // Two parse ranges of one log share few keys (sessions: ≈ 0.01 %), yet every probe of
        // a large table misses the caches. A one-bit-per-key filter of this interner's key
        // hashes (≥ 8 bits per key, a few MB) answers "surely new" for most keys from cache;
        // only the others probe the table.
        let filter = HashFilter::of(self);
        let this = &*self;
        let mut ids: Vec<u32> = (0..other.len() as u32)
            .into_par_iter()
            .with_min_len(1 << 12)
            .map(|i| {
                let s = other.get(i);
                if filter.may_contain(key_hash(s)) {
                    this.lookup_indexed(s).unwrap_or(NONE)
                } else {
                    NONE
                }
            })
            .collect();
        let looked = clock.elapsed().as_secs_f64();
        let new = ids.iter().filter(|&&id| id == NONE).count();
        self.ends.reserve(new);
        self.arena.reserve(other.arena_bytes());
        for (i, id) in ids.iter_mut().enumerate() {
            if *id == NONE {
                *id = self.ends.len() as u32;
                self.arena.push_str(other.get(i as u32));
                self.ends.push(self.arena.len() as u32);
            }
        }
        tracing::debug!(
            "absorbed {} strings ({new} new): lookups {looked:.3} s, total {:.3} s",
            other.len(),
            clock.elapsed().as_secs_f64()
        );
        ids
    }

    /// The id of `s`, interning it when new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if self.indexed < self.ends.len() {
            self.catch_up();
        }
        if let Some(v) = canonical_number(s) {
            let h = num_hash(v);
            if self.num_cache.is_empty() && !self.small {
                self.num_cache = vec![(0, NONE); CACHE];
            }
            let slot = (h as usize) & (CACHE - 1);
            if let Some(&(ck, cid)) = self.num_cache.get(slot) {
                if cid != NONE && ck == v {
                    return cid;
                }
            }
            let (arena, ends) = (&mut self.arena, &mut self.ends);
            let id = self.nums.find_or_insert(h, v, num_hash, || {
                let id = ends.len() as u32;
                arena.push_str(s);
                ends.push(arena.len() as u32);
                id
            });
            if let Some(c) = self.num_cache.get_mut(slot) {
                *c = (v, id);
            }
            self.indexed = self.ends.len();
            return id;
        }
        if let Some(v) = canonical_uuid(s) {
            let h = uuid_hash(v);
            if self.uuid_cache.is_empty() && !self.small {
                self.uuid_cache = vec![([0, 0], NONE); CACHE];
            }
            let slot = (h as usize) & (CACHE - 1);
            if let Some(&(ck, cid)) = self.uuid_cache.get(slot) {
                if cid != NONE && ck == v {
                    return cid;
                }
            }
            let (arena, ends) = (&mut self.arena, &mut self.ends);
            let id = self.uuids.find_or_insert(h, v, uuid_hash, || {
                let id = ends.len() as u32;
                arena.push_str(s);
                ends.push(arena.len() as u32);
                id
            });
            if let Some(c) = self.uuid_cache.get_mut(slot) {
                *c = (v, id);
            }
            self.indexed = self.ends.len();
            return id;
        }
        let h = xxh3_64(s.as_bytes());
        let Self {
            arena,
            ends,
            table,
            indexed,
            ..
        } = self;
        let get = |id: u32| -> &str {
            let i = id as usize;
            let start = if i == 0 { 0 } else { ends[i - 1] as usize };
            &arena[start..ends[i] as usize]
        };
        if let Some(&(_, id)) = table.find(h, |&(eh, id)| eh == h && get(id) == s) {
            return id;
        }
        let id = ends.len() as u32;
        arena.push_str(s);
        ends.push(arena.len() as u32);
        table.insert_unique(h, (h, id), |&(eh, _)| eh);
        *indexed = ends.len();
        id
    }

    /// Frees the lookup tables (strings and ids stay). Use when no more strings will be
    /// interned or looked up, to save memory; the next [`Interner::intern`] rebuilds them.
    pub fn drop_index(&mut self) {
        self.table = HashTable::new();
        self.nums = IdTable::default();
        self.uuids = IdTable::default();
        self.num_cache = Vec::new();
        self.uuid_cache = Vec::new();
        self.indexed = 0;
    }

    /// Adds the ids the lookup tables do not cover yet.
    fn catch_up(&mut self) {
        let (from, n) = (self.indexed, self.ends.len());
        let more = n - from;
        if self.nums.len() + self.uuids.len() + self.table.len() == 0 {
            // Empty tables: the first string's kind decides where the room goes.
            let first = self.get_opt(from as u32).unwrap_or_default();
            if canonical_number(first).is_some() {
                self.nums.reserve(more, num_hash);
            } else if canonical_uuid(first).is_some() {
                self.uuids.reserve(more, uuid_hash);
            } else {
                self.table.reserve(more, |&(eh, _)| eh);
            }
        }
        for id in from as u32..n as u32 {
            let s = self.get(id);
            if let Some(v) = canonical_number(s) {
                self.nums.find_or_insert(num_hash(v), v, num_hash, || id);
            } else if let Some(v) = canonical_uuid(s) {
                self.uuids.find_or_insert(uuid_hash(v), v, uuid_hash, || id);
            } else {
                let h = xxh3_64(s.as_bytes());
                self.table.insert_unique(h, (h, id), |&(eh, _)| eh);
            }
        }
        self.indexed = n;
    }

    /// Reserves room for `n` more distinct strings of about `avg_len` bytes each.
    /// The room is split among the numeric, UUID and general tables in the proportions they
    /// hold now (all of it to the general table when empty).
    pub fn reserve(&mut self, n: usize, avg_len: usize) {
        self.reserve_split(n, n, avg_len);
    }

    /// Like [`Interner::reserve`], with lookup-table room for `indexed` more strings and
    /// string room for `stored` more: a dictionary that other dictionaries will be
    /// [absorbed](Interner::absorb) into stores their strings but indexes only its own.
    pub fn reserve_split(&mut self, indexed: usize, stored: usize, avg_len: usize) {
        let n = indexed;
        if self.indexed < self.ends.len() {
            self.catch_up();
        }
        let (a, b, c) = (self.nums.len(), self.uuids.len(), self.table.len());
        let total = a + b + c;
        if total == 0 {
            self.table.reserve(n, |&(eh, _)| eh);
        } else {
            let share = |k: usize| (n as u128 * k as u128 / total as u128) as usize;
            self.nums.reserve(share(a), num_hash);
            self.uuids.reserve(share(b), uuid_hash);
            self.table.reserve(share(c), |&(eh, _)| eh);
        }
        // The strings' room gets an eighth more than asked: callers reserve from a rate
        // estimate, and falling short by a little would copy the whole arena (measured
        // 0.1 s for 52 MB of session ids). Room never written costs no memory.
        let n = stored.max(indexed);
        self.ends.reserve(n + n / 8);
        self.arena.reserve((n + n / 8) * avg_len);
    }

    /// Interns an optional string; `None` and the empty string map to [`NONE`].
    pub fn intern_opt(&mut self, s: Option<&str>) -> u32 {
        match s {
            Some(s) if !s.is_empty() => self.intern(s),
            _ => NONE,
        }
    }

    /// First half of a pipelined [`Interner::intern`]: classifies `s`, answers from the
    /// recent-key cache when it can, and otherwise starts loading the key's table slot into
    /// the CPU cache, to be finished a few keys later with [`Interner::finish`]. Keys must be
    /// finished in the order they were begun, and no other string interned in between, for
    /// ids to stay in first-seen order.
    #[inline]
    pub(crate) fn begin(&mut self, s: &str) -> Begun {
        if self.indexed < self.ends.len() {
            self.catch_up();
        }
        if let Some(v) = canonical_number(s) {
            let h = num_hash(v);
            if let Some(&(ck, cid)) = self.num_cache.get((h as usize) & (CACHE - 1)) {
                if cid != NONE && ck == v {
                    return Begun::Known(cid);
                }
            }
            self.nums.prefetch(h);
            return Begun::Fast(FastKey::Num(v, h));
        }
        if let Some(v) = canonical_uuid(s) {
            let h = uuid_hash(v);
            if let Some(&(ck, cid)) = self.uuid_cache.get((h as usize) & (CACHE - 1)) {
                if cid != NONE && ck == v {
                    return Begun::Known(cid);
                }
            }
            self.uuids.prefetch(h);
            return Begun::Fast(FastKey::Uuid(v, h));
        }
        Begun::Slow
    }

    /// Second half of a pipelined intern: the id of a key begun with [`Interner::begin`],
    /// interning it when new (its text is regenerated from the value: canonical keys
    /// round-trip exactly).
    #[inline]
    pub(crate) fn finish(&mut self, key: FastKey) -> u32 {
        if self.indexed < self.ends.len() {
            self.catch_up();
        }
        let (arena, ends) = (&mut self.arena, &mut self.ends);
        match key {
            FastKey::Num(v, h) => {
                let id = self.nums.find_or_insert(h, v, num_hash, || {
                    let id = ends.len() as u32;
                    push_decimal(arena, v);
                    ends.push(arena.len() as u32);
                    id
                });
                if self.num_cache.is_empty() {
                    self.num_cache = vec![(0, NONE); CACHE];
                }
                self.num_cache[(h as usize) & (CACHE - 1)] = (v, id);
                self.indexed = self.ends.len();
                id
            }
            FastKey::Uuid(v, h) => {
                let id = self.uuids.find_or_insert(h, v, uuid_hash, || {
                    let id = ends.len() as u32;
                    push_uuid(arena, v);
                    ends.push(arena.len() as u32);
                    id
                });
                if self.uuid_cache.is_empty() {
                    self.uuid_cache = vec![([0, 0], NONE); CACHE];
                }
                self.uuid_cache[(h as usize) & (CACHE - 1)] = (v, id);
                self.indexed = self.ends.len();
                id
            }
        }
    }

    /// Iterates the strings in id order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.ends.len() as u32).map(move |i| self.get(i))
    }

    /// Bytes held by the string arena (for memory accounting).
    pub fn arena_bytes(&self) -> usize {
        self.arena.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once_and_round_trips() {
        let mut i = Interner::new();
        let a = i.intern("a");
        let b = i.intern("bb");
        assert_eq!(i.intern("a"), a);
        assert_eq!((a, b), (0, 1));
        assert_eq!(i.get(b), "bb");
        assert_eq!(i.lookup("bb"), Some(1));
        assert_eq!(i.lookup("c"), None);
        assert_eq!(i.intern_opt(Some("")), NONE);
        assert_eq!(i.intern(""), 2);
        assert_eq!(i.get(2), "");
        assert_eq!(i.iter().collect::<Vec<_>>(), vec!["a", "bb", ""]);
        // Numbers take the numeric path; non-canonical digit strings stay strings.
        let n = i.intern("12345");
        assert_eq!(i.intern("12345"), n);
        let z = i.intern("012345");
        assert_ne!(z, n);
        assert_eq!(i.get(n), "12345");
        assert_eq!(i.get(z), "012345");
        assert_eq!(i.lookup("12345"), Some(n));
        assert_eq!(i.lookup("012345"), Some(z));
        assert_eq!(i.intern("0"), i.intern("0"));
        let u = "72d76fde-8bb3-4e00-8c23-a032dfed738c";
        let uid = i.intern(u);
        assert_eq!(i.intern(u), uid);
        assert_eq!(i.get(uid), u);
        assert_eq!(i.lookup(u), Some(uid));
        let upper = i.intern("72D76FDE-8BB3-4E00-8C23-A032DFED738C");
        assert_ne!(upper, uid);
        assert_eq!(
            i.lookup("72D76FDE-8BB3-4E00-8C23-A032DFED738C"),
            Some(upper)
        );
        let before: Vec<String> = i.iter().map(str::to_string).collect();
        i.drop_index();
        assert_eq!(i.lookup(u), Some(uid));
        assert_eq!(i.intern("12345"), n);
        assert_eq!(i.intern(u), uid);
        assert_eq!(i.intern("bb"), 1);
        assert_eq!(i.iter().collect::<Vec<_>>(), before);
        let big = i.intern("99999999999999999999");
        assert_eq!(i.get(big), "99999999999999999999");
    }

    /// The pipelined path gives exactly the ids and strings of plain interning, in
    /// first-seen order, across table growth, cache evictions and mixed key kinds.
    #[test]
    fn pipelined_interning_matches_plain() {
        let mut keys: Vec<String> = Vec::new();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for i in 0..60_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = match x % 7 {
                0 => format!("{}", x % 5_000),
                1 => format!("{}", x),
                2 => {
                    let v = (x as u128) << 64 | (x.rotate_left(23) as u128);
                    let h = format!("{v:032x}");
                    format!(
                        "{}-{}-{}-{}-{}",
                        &h[..8],
                        &h[8..12],
                        &h[12..16],
                        &h[16..20],
                        &h[20..]
                    )
                }
                3 => format!("user-{}", x % 3_000),
                4 => format!("0{}", x % 100),
                5 => String::new(),
                _ => keys
                    .get((i as usize).saturating_sub(1 + (x % 50) as usize))
                    .cloned()
                    .unwrap_or_default(),
            };
            keys.push(k);
        }
        let mut plain = Interner::new();
        let want: Vec<u32> = keys.iter().map(|k| plain.intern(k)).collect();
        let mut piped = Interner::new();
        piped.reserve(1_000, 8);
        let mut got = Vec::new();
        let mut pipe = Pipeline::default();
        for k in &keys {
            pipe.push(&mut piped, &mut got, k);
        }
        pipe.flush(&mut piped, &mut got);
        assert_eq!(got, want);
        assert_eq!(piped.len(), plain.len());
        assert!(piped.iter().eq(plain.iter()));
        for k in &keys {
            assert_eq!(piped.lookup(k), plain.lookup(k), "{k:?}");
        }
    }

    /// UUID values print as the canonical text they were parsed from.
    #[test]
    fn uuid_text_round_trips() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (hi, lo) = (x, x.rotate_left(23) ^ 0xDEAD_BEEF);
            let want = format!(
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                hi >> 32,
                (hi >> 16) & 0xFFFF,
                hi & 0xFFFF,
                lo >> 48,
                lo & 0xFFFF_FFFF_FFFF
            );
            let mut got = String::new();
            push_uuid(&mut got, [hi, lo]);
            assert_eq!(got, want);
            assert_eq!(canonical_uuid(&want), Some([hi, lo]));
        }
    }

    /// Absorbing another interner gives the ids interning its strings one by one would,
    /// before and after the lookup tables catch up with the absorbed strings.
    #[test]
    fn absorb_matches_interning_one_by_one() {
        let key = |i: u64| match i % 4 {
            0 => format!("{}", i * 7919),
            1 => format!("{:08x}-{:04x}-4e00-8c23-{:012x}", i, i % 65_536, i * 31),
            2 => format!("name-{i}"),
            _ => format!("{}", i % 1000),
        };
        let mut base = Interner::new();
        // Over 65,536 strings in the base: its key filter is built in parallel shares.
        for i in 0..90_000 {
            base.intern(&key(i));
        }
        let mut other = Interner::new();
        for i in 70_000..110_000 {
            other.intern(&key(i));
        }
        let mut want = base.clone();
        let want_ids: Vec<u32> = other.iter().map(|s| want.intern(s)).collect();
        for drop_first in [false, true] {
            let mut got = base.clone();
            if drop_first {
                got.drop_index();
            }
            assert_eq!(got.absorb(&other), want_ids);
            assert!(got.iter().eq(want.iter()));
            // Not yet indexed: found by the slow path, then by the caught-up tables.
            assert_eq!(got.lookup(&key(105_000)), want.lookup(&key(105_000)));
            assert_eq!(
                got.intern(&key(109_999)),
                want.lookup(&key(109_999)).unwrap_or(NONE)
            );
            assert_eq!(got.intern("brand-new"), want.len() as u32);
            assert_eq!(got.lookup(&key(44_444)), want.lookup(&key(44_444)));
        }
    }
}
