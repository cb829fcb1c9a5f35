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
    table: HashTable<u32>,
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
        let h = xxh3_64(s.as_bytes());
        self.table.find(h, |&id| self.get(id) == s).copied()
    }

    /// The id of `s`, interning it when new.
    pub fn intern(&mut self, s: &str) -> u32 {
        let h = xxh3_64(s.as_bytes());
        let Self { arena, ends, table } = self;
        let get = |id: u32| -> &str {
            let i = id as usize;
            let start = if i == 0 { 0 } else { ends[i - 1] as usize };
            &arena[start..ends[i] as usize]
        };
        if let Some(&id) = table.find(h, |&id| get(id) == s) {
            return id;
        }
        let id = ends.len() as u32;
        arena.push_str(s);
        ends.push(arena.len() as u32);
        let (arena, ends) = (&*arena, &*ends);
        table.insert_unique(h, id, |&id| {
            let i = id as usize;
            let start = if i == 0 { 0 } else { ends[i - 1] as usize };
            xxh3_64(arena[start..ends[i] as usize].as_bytes())
        });
        id
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
    }
}
