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
    nums: HashTable<(u64, u32)>,
    /// Canonical lower-case UUIDs keyed by their 128-bit value (session ids in most logs).
    uuids: HashTable<([u64; 2], u32)>,
    /// Small direct-mapped caches of recently interned numbers and UUIDs. Clickstreams are
    /// local in time (a session's events sit close together), so most lookups hit here, in
    /// cache-resident memory, instead of probing the large tables.
    num_cache: Vec<(u64, u32)>,
    uuid_cache: Vec<([u64; 2], u32)>,
    /// The lookup tables were dropped by [`Interner::drop_index`]; rebuilt on next use.
    index_dropped: bool,
}

/// The value of a canonical lower-case UUID (`8-4-4-4-12` hex digits), if `s` is one.
#[inline]
fn canonical_uuid(s: &str) -> Option<[u64; 2]> {
    let b = s.as_bytes();
    if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    let mut v = 0u128;
    for (i, &c) in b.iter().enumerate() {
        if i == 8 || i == 13 || i == 18 || i == 23 {
            continue;
        }
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | d as u128;
    }
    // Two u64 halves keep table entries at 24 bytes (a u128 would pad them to 32).
    Some([(v >> 64) as u64, v as u64])
}

#[inline]
fn uuid_hash(v: [u64; 2]) -> u64 {
    num_hash(v[1] ^ v[0].rotate_left(17))
}

/// The value of a canonical decimal string, if `s` is one.
#[inline]
fn canonical_number(s: &str) -> Option<u64> {
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

impl Interner {
    /// An empty interner.
    pub fn new() -> Self {
        Self::default()
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
    pub fn lookup(&self, s: &str) -> Option<u32> {
        if self.index_dropped {
            return self.iter().position(|x| x == s).map(|i| i as u32);
        }
        if let Some(v) = canonical_number(s) {
            return self
                .nums
                .find(num_hash(v), |&(k, _)| k == v)
                .map(|&(_, id)| id);
        }
        if let Some(v) = canonical_uuid(s) {
            return self
                .uuids
                .find(uuid_hash(v), |&(k, _)| k == v)
                .map(|&(_, id)| id);
        }
        let h = xxh3_64(s.as_bytes());
        self.table
            .find(h, |&(eh, id)| eh == h && self.get(id) == s)
            .map(|&(_, id)| id)
    }

    /// The id of `s`, interning it when new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if self.index_dropped {
            self.rebuild_index();
        }
        if let Some(v) = canonical_number(s) {
            let h = num_hash(v);
            if self.num_cache.is_empty() {
                self.num_cache = vec![(0, NONE); CACHE];
            }
            let slot = (h as usize) & (CACHE - 1);
            let (ck, cid) = self.num_cache[slot];
            if cid != NONE && ck == v {
                return cid;
            }
            let id = match self.nums.find(h, |&(k, _)| k == v) {
                Some(&(_, id)) => id,
                None => {
                    let id = self.ends.len() as u32;
                    self.arena.push_str(s);
                    self.ends.push(self.arena.len() as u32);
                    self.nums.insert_unique(h, (v, id), |&(k, _)| num_hash(k));
                    id
                }
            };
            self.num_cache[slot] = (v, id);
            return id;
        }
        if let Some(v) = canonical_uuid(s) {
            let h = uuid_hash(v);
            if self.uuid_cache.is_empty() {
                self.uuid_cache = vec![([0, 0], NONE); CACHE];
            }
            let slot = (h as usize) & (CACHE - 1);
            let (ck, cid) = self.uuid_cache[slot];
            if cid != NONE && ck == v {
                return cid;
            }
            let id = match self.uuids.find(h, |&(k, _)| k == v) {
                Some(&(_, id)) => id,
                None => {
                    let id = self.ends.len() as u32;
                    self.arena.push_str(s);
                    self.ends.push(self.arena.len() as u32);
                    self.uuids.insert_unique(h, (v, id), |&(k, _)| uuid_hash(k));
                    id
                }
            };
            self.uuid_cache[slot] = (v, id);
            return id;
        }
        let h = xxh3_64(s.as_bytes());
        let Self {
            arena, ends, table, ..
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
        id
    }

    /// Frees the lookup tables (strings and ids stay). Use when no more strings will be
    /// interned or looked up, to save memory; the next [`Interner::intern`] rebuilds them.
    pub fn drop_index(&mut self) {
        self.table = HashTable::new();
        self.nums = HashTable::new();
        self.uuids = HashTable::new();
        self.num_cache = Vec::new();
        self.uuid_cache = Vec::new();
        self.index_dropped = true;
    }

    fn rebuild_index(&mut self) {
        self.index_dropped = false;
        let n = self.ends.len();
        for id in 0..n as u32 {
            let s = self.get(id);
            if let Some(v) = canonical_number(s) {
                self.nums
                    .insert_unique(num_hash(v), (v, id), |&(k, _)| num_hash(k));
            } else if let Some(v) = canonical_uuid(s) {
                self.uuids
                    .insert_unique(uuid_hash(v), (v, id), |&(k, _)| uuid_hash(k));
            } else {
                let h = xxh3_64(s.as_bytes());
                self.table.insert_unique(h, (h, id), |&(eh, _)| eh);
            }
        }
    }

    /// Reserves room for `n` more distinct strings of about `avg_len` bytes each.
    /// The room is split among the numeric, UUID and general tables in the proportions they
    /// hold now (all of it to the general table when empty).
    pub fn reserve(&mut self, n: usize, avg_len: usize) {
        if self.index_dropped {
            self.rebuild_index();
        }
        let (a, b, c) = (self.nums.len(), self.uuids.len(), self.table.len());
        let total = a + b + c;
        if total == 0 {
            self.table.reserve(n, |&(eh, _)| eh);
        } else {
            let share = |k: usize| (n as u128 * k as u128 / total as u128) as usize;
            self.nums.reserve(share(a), |&(k, _)| num_hash(k));
            self.uuids.reserve(share(b), |&(k, _)| uuid_hash(k));
            self.table.reserve(share(c), |&(eh, _)| eh);
        }
        self.ends.reserve(n);
        self.arena.reserve(n * avg_len);
    }

    /// Interns an optional string; `None` and the empty string map to [`NONE`].
    pub fn intern_opt(&mut self, s: Option<&str>) -> u32 {
        match s {
            Some(s) if !s.is_empty() => self.intern(s),
            _ => NONE,
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
}
