//! Retailrocket recommender-system dataset.
//!
//! * `events.csv`: `timestamp,visitorid,event,itemid,transactionid`, Unix milliseconds;
//!   `view`, `addtocart` and `transaction` become view, cart and purchase; `transactionid` is
//!   the order id. It has no session id. Streamed like any line format.
//! * `item_properties*.csv` (optional, beside `events.csv`; the published data comes in two
//!   parts): `timestamp,itemid,property,value`, weekly snapshots of item properties. Only
//!   `categoryid` and `available` are kept, in vectors sorted by item then time, so that
//!   each event gets the item's category **as of the event's time** (binary search for the
//!   item's run, then for the latest snapshot at or before the event; an event older than the
//!   item's first snapshot takes that first value, since a constant property is published
//!   only once).
//! * `category_tree.csv` (optional): `categoryid,parentid` (empty parent for roots). A
//!   category's path is its ids from the root down to the category, joined by `.`, e.g. the
//!   path of `1016` is `1532.1299.213.1016` in the published tree.
//!
//! Availability has no place in the canonical event, so it is not stored in the table; it
//! can be queried with [`ItemProperties::available_at`] (or [`Retailrocket::available_at`]).

use crate::error::EventsError;
use crate::formats::rees46::{int_id, is_kind_name, opt_int_id};
use crate::formats::{companion, companions};
use crate::interner::Interner;
use crate::kind::{KindRef, CART, PURCHASE, VIEW};
use crate::read::{
    for_each_line, read_lines, Fields, LineParser, ReadOptions, ReadOutput, Scratch,
};
use crate::reject::RejectReason;
use crate::table::RawEvent;
use crate::time::{is_digits, parse_i64};
use hashbrown::HashMap;
use std::path::{Path, PathBuf};

/// The header of `events.csv`.
pub const HEADER: &str = "timestamp,visitorid,event,itemid,transactionid";
/// The header of `item_properties*.csv`.
pub const PROPERTIES_HEADER: &str = "timestamp,itemid,property,value";
/// The header of `category_tree.csv`.
pub const TREE_HEADER: &str = "categoryid,parentid";
const FIELDS: usize = 5;
/// Latest accepted time (2100-01-01, in ms).
const MAX_MS: i64 = 4_102_444_800_000;

/// The Retailrocket category tree: each category's parent.
#[derive(Debug, Default, Clone)]
pub struct CategoryTree {
    parent: HashMap<u64, Option<u64>>,
    skipped: u64,
}

impl CategoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `category_tree.csv` (plain or gzip). Rows that are not two integer fields are
    /// skipped and counted ([`CategoryTree::skipped_rows`]); a wrong header is an error.
    pub fn load(path: &Path) -> Result<Self, EventsError> {
        let mut tree = CategoryTree::new();
        for_each_line(path, |n, l| {
            if n == 1 {
                return check_header(path, l, TREE_HEADER);
            }
            if l.iter().all(u8::is_ascii_whitespace) {
                return Ok(());
            }
            let text = std::str::from_utf8(l).unwrap_or("");
            let mut it = text.split(',');
            let (Some(c), Some(p), None) = (it.next(), it.next(), it.next()) else {
                tree.skipped += 1;
                return Ok(());
            };
            let (c, p) = (c.trim(), p.trim());
            match (c.parse::<u64>(), p) {
                (Ok(c), "") => tree.insert(c, None),
                (Ok(c), p) => match p.parse::<u64>() {
                    Ok(p) => tree.insert(c, Some(p)),
                    Err(_) => tree.skipped += 1,
                },
                _ => tree.skipped += 1,
            }
            Ok(())
        })?;
        Ok(tree)
    }

    /// Sets the parent of `category` (`None` for a root). A later call for the same
    /// category replaces the earlier one.
    pub fn insert(&mut self, category: u64, parent: Option<u64>) {
        self.parent.insert(category, parent);
    }

    /// Number of categories.
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// True when the tree has no categories.
    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// Rows of the file that could not be read.
    pub fn skipped_rows(&self) -> u64 {
        self.skipped
    }

    /// The parent of `category`: `None` for a root or an unknown category.
    pub fn parent(&self, category: u64) -> Option<u64> {
        self.parent.get(&category).copied().flatten()
    }

    /// The path of `category`: ids from its root down to itself, joined by `.`; `None` when
    /// the tree does not know the category. A parent that is not itself listed ends the walk
    /// (it becomes the top of the path). A cycle is cut where it would repeat: the path then
    /// starts at the last ancestor not yet on it.
    pub fn path(&self, category: u64) -> Option<String> {
        self.parent.get(&category)?;
        let mut chain = vec![category];
        let mut cur = category;
        while let Some(&Some(p)) = self.parent.get(&cur) {
            if chain.contains(&p) {
                break;
            }
            chain.push(p);
            cur = p;
        }
        let mut s = String::with_capacity(chain.len() * 5);
        for (i, c) in chain.iter().rev().enumerate() {
            if i > 0 {
                s.push('.');
            }
            s.push_str(&c.to_string());
        }
        Some(s)
    }
}

fn check_header(path: &Path, line: &[u8], want: &str) -> Result<(), EventsError> {
    let got = String::from_utf8_lossy(line);
    let norm: String = got
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '"')
        .collect();
    if norm == want {
        Ok(())
    } else {
        Err(EventsError::Companion {
            path: path.to_path_buf(),
            message: format!(
                "expected the header {want:?}, found {:?}",
                got.chars().take(120).collect::<String>()
            ),
        })
    }
}

/// One timed value of an item property.
#[derive(Debug, Clone, Copy)]
struct Timed<T> {
    item: u64,
    time_ms: i64,
    value: T,
}

/// The value of the latest entry for `item` at or before `t` in `v` (sorted by item, then
/// time); an item's first value also answers for times before it.
fn as_of<T: Copy>(v: &[Timed<T>], item: u64, t: i64) -> Option<T> {
    let lo = v.partition_point(|e| e.item < item);
    let hi = lo + v[lo..].partition_point(|e| e.item == item);
    let slice = &v[lo..hi];
    let first = slice.first()?;
    let k = slice.partition_point(|e| e.time_ms <= t);
    Some(if k == 0 {
        first.value
    } else {
        slice[k - 1].value
    })
}

/// The `categoryid` and `available` properties of Retailrocket items over time, for as-of
/// lookups. Other properties are not kept.
#[derive(Debug, Default, Clone)]
pub struct ItemProperties {
    category: Vec<Timed<u32>>,
    available: Vec<Timed<bool>>,
    categories: Interner,
    skipped: u64,
    sorted: bool,
}

impl ItemProperties {
    /// No properties.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `item_properties*.csv` files (plain or gzip), streaming them and keeping only
    /// the `categoryid` and `available` rows. Rows with a bad time, item or value are
    /// skipped and counted ([`ItemProperties::skipped_rows`]); a wrong header is an error.
    pub fn load(paths: &[PathBuf]) -> Result<Self, EventsError> {
        let mut props = ItemProperties::new();
        for path in paths {
            for_each_line(path, |n, l| {
                if n == 1 {
                    return check_header(path, l, PROPERTIES_HEADER);
                }
                props.add_line(l);
                Ok(())
            })?;
        }
        props.finish();
        Ok(props)
    }

    fn add_line(&mut self, l: &[u8]) {
        let mut commas = memchr::memchr_iter(b',', l);
        let (Some(a), Some(b), Some(c)) = (commas.next(), commas.next(), commas.next()) else {
            if !l.iter().all(u8::is_ascii_whitespace) {
                self.skipped += 1;
            }
            return;
        };
        let property = &l[b + 1..c];
        if property != b"categoryid" && property != b"available" {
            return;
        }
        let parse = |s: &[u8]| std::str::from_utf8(s).ok().and_then(parse_i64);
        let (Some(t), Some(item)) = (parse(&l[..a]), parse(&l[a + 1..b])) else {
            self.skipped += 1;
            return;
        };
        let Ok(item) = u64::try_from(item) else {
            self.skipped += 1;
            return;
        };
        let value = std::str::from_utf8(&l[c + 1..]).unwrap_or("").trim();
        let ok = match property {
            b"categoryid" => self.push_category(item, t, value),
            _ => self.push_available(item, t, value),
        };
        if !ok {
            self.skipped += 1;
        }
    }

    /// Records that `item` had category `category` from `time_ms` on. Returns false (and
    /// records nothing) when the category is not an integer id.
    pub fn push_category(&mut self, item: u64, time_ms: i64, category: &str) -> bool {
        if !is_digits(category) {
            return false;
        }
        let value = self.categories.intern(category);
        self.category.push(Timed {
            item,
            time_ms,
            value,
        });
        self.sorted = false;
        true
    }

    /// Records `item`'s availability (`"1"` or `"0"`) from `time_ms` on. Returns false (and
    /// records nothing) for any other value.
    pub fn push_available(&mut self, item: u64, time_ms: i64, available: &str) -> bool {
        let value = match available {
            "1" => true,
            "0" => false,
            _ => return false,
        };
        self.available.push(Timed {
            item,
            time_ms,
            value,
        });
        self.sorted = false;
        true
    }

    /// Sorts the per-item vectors by time (stable: of two values with the same time, the one
    /// read later wins). Called by [`ItemProperties::load`]; call it after `push_*`.
    pub fn finish(&mut self) {
        self.category.sort_by_key(|e| (e.item, e.time_ms));
        self.available.sort_by_key(|e| (e.item, e.time_ms));
        self.sorted = true;
    }

    fn category_id_at(&self, item: u64, time_ms: i64) -> Option<u32> {
        as_of(&self.category, item, time_ms)
    }

    /// The category of `item` as of `time_ms`.
    pub fn category_at(&self, item: u64, time_ms: i64) -> Option<&str> {
        self.category_id_at(item, time_ms)
            .map(|c| self.categories.get(c))
    }

    /// Whether `item` was available as of `time_ms`.
    pub fn available_at(&self, item: u64, time_ms: i64) -> Option<bool> {
        as_of(&self.available, item, time_ms)
    }

    /// The distinct category ids seen.
    pub fn categories(&self) -> &Interner {
        &self.categories
    }

    /// Number of `categoryid` and `available` rows kept.
    pub fn len(&self) -> usize {
        self.category.len() + self.available.len()
    }

    /// True when no row was kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `categoryid`/`available` rows that could not be read (and blank-free rows with fewer
    /// than four fields).
    pub fn skipped_rows(&self) -> u64 {
        self.skipped
    }
}

/// Parser for Retailrocket `events.csv` lines, with the companion lookups.
#[derive(Debug, Default, Clone)]
pub struct Retailrocket {
    props: Option<ItemProperties>,
    tree: Option<CategoryTree>,
    /// Category path by the category's id in `props.categories()`.
    paths: Vec<Option<String>>,
}

impl Retailrocket {
    /// A parser with the given companions (either may be absent: then events carry no
    /// category, or no category path).
    pub fn new(props: Option<ItemProperties>, tree: Option<CategoryTree>) -> Self {
        let mut props = props;
        if let Some(p) = props.as_mut() {
            if !p.sorted {
                p.finish();
            }
        }
        let paths = match (&props, &tree) {
            (Some(p), Some(t)) => p
                .categories()
                .iter()
                .map(|c| c.parse::<u64>().ok().and_then(|c| t.path(c)))
                .collect(),
            _ => Vec::new(),
        };
        Retailrocket { props, tree, paths }
    }

    /// A parser with the companions found in the folder of `events_path`:
    /// `item_properties*.csv[.gz]` and `category_tree.csv[.gz]`. Missing ones are fine.
    pub fn with_companions(events_path: &Path) -> Result<Self, EventsError> {
        let prop_files = companions(events_path, "item_properties")?;
        let props = if prop_files.is_empty() {
            None
        } else {
            Some(ItemProperties::load(&prop_files)?)
        };
        let tree = match companion(events_path, "category_tree.csv") {
            Some(p) => Some(CategoryTree::load(&p)?),
            None => None,
        };
        Ok(Retailrocket::new(props, tree))
    }

    /// The item properties in use.
    pub fn properties(&self) -> Option<&ItemProperties> {
        self.props.as_ref()
    }

    /// The category tree in use.
    pub fn tree(&self) -> Option<&CategoryTree> {
        self.tree.as_ref()
    }

    /// Whether `item` was available as of `time_ms` (not stored in the event table).
    pub fn available_at(&self, item: u64, time_ms: i64) -> Option<bool> {
        self.props.as_ref()?.available_at(item, time_ms)
    }

    /// Category id and path of `item` as of `time_ms`.
    fn category(&self, item: &str, time_ms: i64) -> (Option<&str>, Option<&str>) {
        let Some(props) = &self.props else {
            return (None, None);
        };
        let Some(id) = item
            .parse::<u64>()
            .ok()
            .and_then(|i| props.category_id_at(i, time_ms))
        else {
            return (None, None);
        };
        let path = self.paths.get(id as usize).and_then(|p| p.as_deref());
        (Some(props.categories.get(id)), path)
    }
}

impl LineParser for Retailrocket {
    fn header_lines(&self) -> u64 {
        1
    }

    fn parse_line(
        &self,
        line: &str,
        scratch: &mut Scratch,
        emit: &mut dyn FnMut(&RawEvent<'_>),
    ) -> Result<(), RejectReason> {
        let mut fields = Fields::default();
        scratch.split(line, b',', &mut fields)?;
        let f = fields.expect(FIELDS)?;
        let time_ms = parse_i64(f[0])
            .filter(|t| (0..=MAX_MS).contains(t))
            .ok_or_else(|| RejectReason::bad_time("timestamp", f[0]))?;
        let user = int_id("visitorid", f[1])?;
        let kind = match f[2] {
            "view" => KindRef::Fixed(VIEW),
            "addtocart" => KindRef::Fixed(CART),
            "transaction" => KindRef::Fixed(PURCHASE),
            other if is_kind_name(other) => KindRef::Other(other),
            other => return Err(RejectReason::unknown_kind("event", other)),
        };
        let item = int_id("itemid", f[3])?;
        let order = opt_int_id("transactionid", f[4])?;
        let (category, category_path) = self.category(item, time_ms);
        emit(&RawEvent {
            time_ms,
            user,
            session: None,
            item,
            category,
            category_path,
            brand: None,
            price: None,
            kind,
            order,
        });
        Ok(())
    }
}

/// Reads a Retailrocket `events.csv` with the companions found beside it.
pub fn read(path: &Path, opts: &ReadOptions) -> Result<ReadOutput, EventsError> {
    let parser = Retailrocket::with_companions(path)?;
    read_lines(path, &parser, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_guard_cycles_and_unknown_parents() {
        let mut t = CategoryTree::new();
        t.insert(1, None);
        t.insert(2, Some(1));
        t.insert(3, Some(2));
        t.insert(7, Some(99));
        t.insert(10, Some(11));
        t.insert(11, Some(12));
        t.insert(12, Some(10));
        t.insert(13, Some(13));
        assert_eq!(t.path(3).as_deref(), Some("1.2.3"));
        assert_eq!(t.path(1).as_deref(), Some("1"));
        assert_eq!(t.path(7).as_deref(), Some("99.7"));
        assert_eq!(t.path(10).as_deref(), Some("12.11.10"));
        assert_eq!(t.path(13).as_deref(), Some("13"));
        assert_eq!(t.path(5), None);
    }

    #[test]
    fn as_of_lookups() {
        let mut p = ItemProperties::new();
        assert!(p.push_category(5, 100, "10"));
        assert!(p.push_category(5, 300, "30"));
        assert!(p.push_category(5, 200, "20"));
        assert!(p.push_category(4, 0, "40"));
        assert!(!p.push_category(5, 0, "n12.0"));
        assert!(p.push_available(5, 100, "1"));
        assert!(p.push_available(5, 250, "0"));
        assert!(!p.push_available(5, 250, "yes"));
        p.finish();
        assert_eq!(p.category_at(5, 50), Some("10"));
        assert_eq!(p.category_at(5, 100), Some("10"));
        assert_eq!(p.category_at(5, 299), Some("20"));
        assert_eq!(p.category_at(5, 300), Some("30"));
        assert_eq!(p.category_at(5, i64::MAX), Some("30"));
        assert_eq!(p.category_at(4, 5), Some("40"));
        assert_eq!(p.category_at(6, 5), None);
        assert_eq!(p.available_at(5, 249), Some(true));
        assert_eq!(p.available_at(5, 250), Some(false));
        assert_eq!(p.available_at(4, 250), None);
    }
}
