//! REES46 multi-category store CSV:
//! `event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session`.

use crate::kind::{KindRef, CART, PURCHASE, REMOVE_FROM_CART, VIEW};
use crate::read::{Fields, LineParser, Scratch};
use crate::reject::RejectReason;
use crate::table::RawEvent;
use crate::time::{is_digits, parse_datetime_utc_cached};

/// The REES46 header.
pub const HEADER: &str =
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session";
const FIELDS: usize = 9;

/// Parser for REES46 lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct Rees46;

/// Maps a kind name the way REES46 (and most shops) spell it. Names that look like
/// identifiers but are not funnel kinds are kept by name; anything else is refused.
pub fn kind_of<'a>(field: &str, v: &'a str) -> Result<KindRef<'a>, RejectReason> {
    Ok(match v {
        "view" => KindRef::Fixed(VIEW),
        "cart" => KindRef::Fixed(CART),
        "remove_from_cart" => KindRef::Fixed(REMOVE_FROM_CART),
        "purchase" => KindRef::Fixed(PURCHASE),
        other if is_kind_name(other) => KindRef::Other(other),
        other => return Err(RejectReason::unknown_kind(field, other)),
    })
}

/// True for a plausible kind name: 1–64 ASCII letters, digits, `_` or `-`, starting with a
/// letter.
pub fn is_kind_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

/// Parses an optional price: empty is `None`, anything else must be a finite number.
pub fn price_of(field: &str, v: &str) -> Result<Option<f64>, RejectReason> {
    if v.is_empty() {
        return Ok(None);
    }
    if let Some(p) = simple_decimal(v) {
        return Ok(Some(p));
    }
    match v.parse::<f64>() {
        Ok(p) if p.is_finite() => Ok(Some(p)),
        _ => Err(RejectReason::bad_number(field, v)),
    }
}

/// Exact powers of ten as `f64` (every one up to 10^22 is representable).
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// The value of a plain decimal such as `1081.98` or `-3.5` with at most 15 digits, or
/// `None` for anything else (exponents, signs other than a leading `-`, more digits, no
/// digits), which then goes to the general parser. Prices are almost always this shape, and
/// the general parser spent ≈ 3 % of a REES46 read on them.
///
/// Exact: with at most 15 digits the digits form an integer below 2^53 and the divisor is
/// an exact power of ten, so the one IEEE division rounds correctly, to the same `f64` as
/// `str::parse` (checked by a property test).
#[inline]
pub fn simple_decimal(v: &str) -> Option<f64> {
    let b = v.as_bytes();
    let (neg, b) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    let mut mant: u64 = 0;
    let mut digits = 0usize;
    let mut frac: Option<usize> = None;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                mant = mant * 10 + u64::from(c - b'0');
                digits += 1;
            }
            b'.' if frac.is_none() => frac = Some(i),
            _ => return None,
        }
    }
    if digits == 0 || digits > 15 {
        return None;
    }
    let scale = frac.map_or(0, |i| b.len() - 1 - i);
    let x = mant as f64 / POW10[scale];
    Some(if neg { -x } else { x })
}

/// A required integer id: present and all digits.
pub fn int_id<'a>(field: &str, v: &'a str) -> Result<&'a str, RejectReason> {
    if v.is_empty() {
        Err(RejectReason::missing(field))
    } else if is_digits(v) {
        Ok(v)
    } else {
        Err(RejectReason::bad_number(field, v))
    }
}

/// An optional integer id: empty is `None`, otherwise all digits.
pub fn opt_int_id<'a>(field: &str, v: &'a str) -> Result<Option<&'a str>, RejectReason> {
    if v.is_empty() {
        Ok(None)
    } else if is_digits(v) {
        Ok(Some(v))
    } else {
        Err(RejectReason::bad_number(field, v))
    }
}

impl LineParser for Rees46 {
    fn header_lines(&self) -> u64 {
        1
    }

    fn parse_line(
        &self,
        line: &str,
        scratch: &mut Scratch,
        emit: &mut dyn FnMut(&RawEvent<'_>),
    ) -> Result<(), RejectReason> {
        // The fields may borrow the scratch: take the date cache out and put it back.
        let mut date = scratch.date;
        let mut fields = Fields::default();
        scratch.split(line, b',', &mut fields)?;
        let f = fields.expect(FIELDS)?;
        let time_ms = parse_datetime_utc_cached(f[0], &mut date)
            .ok_or_else(|| RejectReason::bad_time("event_time", f[0]))?;
        let kind = kind_of("event_type", f[1])?;
        let item = int_id("product_id", f[2])?;
        let category = opt_int_id("category_id", f[3])?;
        let price = price_of("price", f[6])?;
        let user = int_id("user_id", f[7])?;
        let session = Some(f[8]).filter(|s| !s.is_empty());
        emit(&RawEvent {
            time_ms,
            user,
            session,
            item,
            category,
            category_path: Some(f[4]).filter(|s| !s.is_empty()),
            brand: Some(f[5]).filter(|s| !s.is_empty()),
            price,
            kind,
            order: None,
        });
        drop(fields);
        scratch.date = date;
        Ok(())
    }
}
