//! Diginetica (CIKM Cup 2016 personalised e-commerce search), `;`-separated:
//!
//! * `train-item-views.csv`: `sessionId;userId;itemId;timeframe;eventdate`, the file given
//!   to the reader, streamed;
//! * `train-purchases.csv` (optional, beside it):
//!   `sessionId;userId;timeframe;eventdate;ordernumber;itemId`, streamed too;
//! * `product-categories.csv` (optional, beside it): `itemId;categoryId`, loaded into a map.
//!
//! Views become view events and purchases purchase events with the order number as order
//! id; both get the item's category. The time is `eventdate` (midnight UTC) plus `timeframe`
//! milliseconds (`timeframe` counts from the session's start, so this orders events within a
//! session correctly but only approximates the wall-clock time). `userId` is `NA` for
//! anonymous sessions: the user is then `s:<sessionId>`. The joined table is sorted by time,
//! stably (views before purchases at equal times, each in file order).

use crate::error::EventsError;
use crate::formats::companion;
use crate::formats::rees46::int_id;
use crate::interner::Interner;
use crate::kind::{KindRef, PURCHASE, VIEW};
use crate::read::{
    for_each_line, read_lines, Fields, LineParser, ReadOptions, ReadOutput, Scratch,
};
use crate::reject::RejectReason;
use crate::table::RawEvent;
use crate::time::{parse_date, parse_i64};
use hashbrown::HashMap;
use std::path::Path;

/// The header of `train-item-views.csv`.
pub const HEADER: &str = "sessionId;userId;itemId;timeframe;eventdate";
/// The header of `train-purchases.csv`.
pub const PURCHASES_HEADER: &str = "sessionId;userId;timeframe;eventdate;ordernumber;itemId";
/// The header of `product-categories.csv`.
pub const CATEGORIES_HEADER: &str = "itemId;categoryId";
/// The purchases companion file.
pub const PURCHASES_FILE: &str = "train-purchases.csv";
/// The categories companion file.
pub const CATEGORIES_FILE: &str = "product-categories.csv";
/// Prefix of the user id derived from the session when `userId` is `NA`.
pub const SESSION_USER_PREFIX: &str = "s:";

/// Latest accepted time (2100-01-01, in ms).
const MAX_MS: i64 = 4_102_444_800_000;

/// Item → category, from `product-categories.csv`.
#[derive(Debug, Default, Clone)]
pub struct ProductCategories {
    map: HashMap<u64, u32>,
    categories: Interner,
    skipped: u64,
}

impl ProductCategories {
    /// No categories.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `product-categories.csv` (plain or gzip). Rows that are not two integer ids are
    /// skipped and counted; a wrong header is an error.
    pub fn load(path: &Path) -> Result<Self, EventsError> {
        let mut pc = ProductCategories::new();
        for_each_line(path, |n, l| {
            if n == 1 {
                let h = String::from_utf8_lossy(l);
                let norm: String = h
                    .chars()
                    .filter(|c| !c.is_whitespace() && *c != '"')
                    .collect();
                if !norm.eq_ignore_ascii_case(CATEGORIES_HEADER)
                    && !norm.eq_ignore_ascii_case("item_id;category_id")
                {
                    return Err(EventsError::Companion {
                        path: path.to_path_buf(),
                        message: format!("expected the header {CATEGORIES_HEADER:?}, found {h:?}"),
                    });
                }
                return Ok(());
            }
            if l.iter().all(u8::is_ascii_whitespace) {
                return Ok(());
            }
            let text = std::str::from_utf8(l).unwrap_or("");
            let mut it = text.split(';');
            match (it.next(), it.next(), it.next()) {
                (Some(item), Some(cat), None) => {
                    if !pc.insert(item.trim(), cat.trim()) {
                        pc.skipped += 1;
                    }
                }
                _ => pc.skipped += 1,
            }
            Ok(())
        })?;
        Ok(pc)
    }

    /// Sets the category of `item`; both must be integer ids (returns false otherwise).
    pub fn insert(&mut self, item: &str, category: &str) -> bool {
        match (item.parse::<u64>(), crate::time::is_digits(category)) {
            (Ok(item), true) => {
                let c = self.categories.intern(category);
                self.map.insert(item, c);
                true
            }
            _ => false,
        }
    }

    /// The category of `item`.
    pub fn category(&self, item: &str) -> Option<&str> {
        let id = *self.map.get(&item.parse::<u64>().ok()?)?;
        Some(self.categories.get(id))
    }

    /// Number of items with a category.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no item has a category.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Rows of the file that could not be read.
    pub fn skipped_rows(&self) -> u64 {
        self.skipped
    }
}

/// `eventdate` midnight UTC plus `timeframe` ms.
fn time_of(timeframe: &str, eventdate: &str) -> Result<i64, RejectReason> {
    let days =
        parse_date(eventdate).ok_or_else(|| RejectReason::bad_time("eventdate", eventdate))?;
    let tf = parse_i64(timeframe)
        .filter(|t| *t >= 0)
        .ok_or_else(|| RejectReason::bad_time("timeframe", timeframe))?;
    days.checked_mul(86_400_000)
        .and_then(|d| d.checked_add(tf))
        .filter(|t| (0..=MAX_MS).contains(t))
        .ok_or_else(|| RejectReason::bad_time("eventdate", eventdate))
}

/// A user id: the field itself, or `s:<sessionId>` (written into `buf`) when it is `NA` or
/// empty.
fn user_of<'a>(
    user: &'a str,
    session: &str,
    buf: &'a mut UserBuf,
) -> Result<&'a str, RejectReason> {
    if user.is_empty() || user == "NA" {
        Ok(buf.derived(session))
    } else {
        int_id("userId", user)
    }
}

/// Room for `s:<sessionId>` without allocating (session ids are digits, checked before).
struct UserBuf {
    b: [u8; 48],
    heap: String,
}

impl UserBuf {
    fn new() -> Self {
        UserBuf {
            b: [0; 48],
            heap: String::new(),
        }
    }

    fn derived(&mut self, session: &str) -> &str {
        let p = SESSION_USER_PREFIX.len();
        let n = p + session.len();
        if n <= self.b.len() {
            self.b[..p].copy_from_slice(SESSION_USER_PREFIX.as_bytes());
            self.b[p..n].copy_from_slice(session.as_bytes());
            // Both parts are valid UTF-8.
            std::str::from_utf8(&self.b[..n]).unwrap_or("")
        } else {
            self.heap.clear();
            self.heap.push_str(SESSION_USER_PREFIX);
            self.heap.push_str(session);
            &self.heap
        }
    }
}

/// Parser for `train-item-views.csv` lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct Views<'c> {
    /// Item categories, when known.
    pub categories: Option<&'c ProductCategories>,
}

impl LineParser for Views<'_> {
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
        scratch.split(line, b';', &mut fields)?;
        let f = fields.expect(5)?;
        let session = int_id("sessionId", f[0])?;
        let mut ubuf = UserBuf::new();
        let user = user_of(f[1], session, &mut ubuf)?;
        let item = int_id("itemId", f[2])?;
        let time_ms = time_of(f[3], f[4])?;
        emit(&RawEvent {
            time_ms,
            user,
            session: Some(session),
            item,
            category: self.categories.and_then(|c| c.category(item)),
            category_path: None,
            brand: None,
            price: None,
            kind: KindRef::Fixed(VIEW),
            order: None,
        });
        Ok(())
    }
}

/// Parser for `train-purchases.csv` lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct Purchases<'c> {
    /// Item categories, when known.
    pub categories: Option<&'c ProductCategories>,
}

impl LineParser for Purchases<'_> {
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
        scratch.split(line, b';', &mut fields)?;
        let f = fields.expect(6)?;
        let session = int_id("sessionId", f[0])?;
        let mut ubuf = UserBuf::new();
        let user = user_of(f[1], session, &mut ubuf)?;
        let time_ms = time_of(f[2], f[3])?;
        let order = int_id("ordernumber", f[4])?;
        let item = int_id("itemId", f[5])?;
        emit(&RawEvent {
            time_ms,
            user,
            session: Some(session),
            item,
            category: self.categories.and_then(|c| c.category(item)),
            category_path: None,
            brand: None,
            price: None,
            kind: KindRef::Fixed(PURCHASE),
            order: Some(order),
        });
        Ok(())
    }
}

/// Reads Diginetica `train-item-views.csv` at `path` joined with `train-purchases.csv` and
/// `product-categories.csv` from the same folder (each optional). Both event files are
/// streamed; the result is sorted by time (stable). `lines` and `blank_lines` add up both
/// files; rejects name their own file.
pub fn read(path: &Path, opts: &ReadOptions) -> Result<ReadOutput, EventsError> {
    let categories = match companion(path, CATEGORIES_FILE) {
        Some(p) => Some(ProductCategories::load(&p)?),
        None => None,
    };
    let categories = categories.as_ref();
    let mut out = read_lines(path, &Views { categories }, opts)?;
    if let Some(p) = companion(path, PURCHASES_FILE) {
        let mut purchases = read_lines(&p, &Purchases { categories }, opts)?;
        out.table.append(&purchases.table);
        out.rejects.append(&mut purchases.rejects);
        out.lines += purchases.lines;
        out.blank_lines += purchases.blank_lines;
    }
    out.table.sort_by_time();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_users() {
        assert_eq!(time_of("0", "2016-05-09"), Ok(1_462_752_000_000));
        assert_eq!(time_of("1500", "2016-05-09"), Ok(1_462_752_001_500));
        assert_eq!(time_of("-1", "2016-05-09").unwrap_err().code(), "bad_time");
        assert_eq!(time_of("1", "2016-5-9").unwrap_err().code(), "bad_time");
        let mut b = UserBuf::new();
        assert_eq!(user_of("NA", "42", &mut b), Ok("s:42"));
        let mut b = UserBuf::new();
        assert_eq!(user_of("", "42", &mut b), Ok("s:42"));
        let mut b = UserBuf::new();
        assert_eq!(user_of("7", "42", &mut b), Ok("7"));
        let long = "9".repeat(60);
        let mut b = UserBuf::new();
        assert_eq!(user_of("NA", &long, &mut b).map(str::len), Ok(62));
    }
}
