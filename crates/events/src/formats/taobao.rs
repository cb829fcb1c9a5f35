//! Taobao UserBehavior CSV (no header): `user_id,item_id,category_id,behavior_type,timestamp`
//! with `pv|cart|fav|buy` and Unix seconds. No session id.

use crate::formats::rees46::{int_id, is_kind_name};
use crate::kind::{KindRef, CART, PURCHASE, VIEW, WISHLIST};
use crate::read::{Fields, LineParser, Scratch};
use crate::reject::RejectReason;
use crate::table::RawEvent;
use crate::time::parse_i64;

const FIELDS: usize = 5;

/// Parser for Taobao UserBehavior lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct Taobao;

/// True when `line` looks like a Taobao UserBehavior row.
pub fn looks_like(line: &str) -> bool {
    let f: Vec<&str> = line.split(',').collect();
    f.len() == FIELDS
        && [0, 1, 2, 4].iter().all(|&i| crate::time::is_digits(f[i]))
        && matches!(f[3], "pv" | "cart" | "fav" | "buy")
}

impl LineParser for Taobao {
    fn header_lines(&self) -> u64 {
        0
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
        let user = int_id("user_id", f[0])?;
        let item = int_id("item_id", f[1])?;
        let category = int_id("category_id", f[2])?;
        let kind = match f[3] {
            "pv" => KindRef::Fixed(VIEW),
            "cart" => KindRef::Fixed(CART),
            "fav" => KindRef::Fixed(WISHLIST),
            "buy" => KindRef::Fixed(PURCHASE),
            other if is_kind_name(other) => KindRef::Other(other),
            other => return Err(RejectReason::unknown_kind("behavior_type", other)),
        };
        let secs = parse_i64(f[4])
            .filter(|s| (0..=4_102_444_800).contains(s))
            .ok_or_else(|| RejectReason::bad_time("timestamp", f[4]))?;
        emit(&RawEvent {
            time_ms: secs * 1000,
            user,
            session: None,
            item,
            category: Some(category),
            category_path: None,
            brand: None,
            price: None,
            kind,
            order: None,
        });
        Ok(())
    }
}
