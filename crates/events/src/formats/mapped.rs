//! Any delimited text file, described by a small TOML mapping ([`Format::Mapped`]).
//!
//! ```toml
//! delimiter = ","          # one ASCII character; "\t" or "tab" for tabs (default ",")
//! header = true            # first line names the columns (default true)
//! # fields = 5             # without a header: the exact field count of a row (optional)
//!
//! [columns]                # header names, or 0-based indexes (indexes only without header)
//! time = "event_time"
//! user = "user_id"
//! item = "product_id"
//! kind = "event_type"
//! session = "user_session" # optional: session, category, category_path, brand, price, order
//!
//! [time]
//! format = "%Y-%m-%d %H:%M:%S UTC"  # unix_s | unix_ms | rfc3339 | a chrono strftime pattern
//! # offset = "+08:00"      # pattern times without a zone are in this fixed UTC offset
//!
//! [kinds]                  # source values per canonical kind
//! view = ["view", "pv", "pageview"]
//! purchase = ["purchase", "buy"]
//! unmapped = "keep"        # other values: "keep" them by name (default) or "reject" the row
//! ```
//!
//! A canonical kind (`view`, `cart`, `remove_from_cart`, `purchase`, `wishlist`) whose list is
//! not given matches its own name. Kept kinds must look like identifiers (letters, digits,
//! `_`, `-`); other values are rejected as unknown kinds. User and item must be non-empty;
//! optional columns that are empty are missing values; a price must be a finite number.
//! Unix times outside 1970–2100 are refused (this catches seconds given as milliseconds and
//! the reverse). Examples: `crates/events/examples/mappings/`.
//!
//! [`Format::Mapped`]: crate::Format::Mapped

use crate::error::EventsError;
use crate::formats::rees46::{is_kind_name, price_of};
use crate::kind::{KindRef, CART, FIXED_KIND_NAMES, PURCHASE, REMOVE_FROM_CART, VIEW, WISHLIST};
use crate::read::{
    first_line, read_lines, Fields, LineParser, ReadOptions, ReadOutput, Scratch, MAX_FIELDS,
};
use crate::reject::RejectReason;
use crate::table::RawEvent;
use crate::time::parse_i64;
use chrono::format::{Item, Parsed, StrftimeItems};
use hashbrown::HashMap;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Latest accepted Unix time (2100-01-01, in ms).
const MAX_MS: i64 = 4_102_444_800_000;

/// A column: its header name, or its 0-based index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Column {
    /// 0-based index.
    Index(usize),
    /// Header name.
    Name(String),
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Column::Index(i) => write!(f, "column {i}"),
            Column::Name(n) => f.write_str(n),
        }
    }
}

/// Which columns hold the canonical fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    /// Event time.
    pub time: Column,
    /// User id.
    pub user: Column,
    /// Item id.
    pub item: Column,
    /// Event kind.
    pub kind: Column,
    /// Native session id.
    #[serde(default)]
    pub session: Option<Column>,
    /// Category id.
    #[serde(default)]
    pub category: Option<Column>,
    /// Category path.
    #[serde(default)]
    pub category_path: Option<Column>,
    /// Brand.
    #[serde(default)]
    pub brand: Option<Column>,
    /// Price.
    #[serde(default)]
    pub price: Option<Column>,
    /// Order / transaction id.
    #[serde(default)]
    pub order: Option<Column>,
}

/// How times are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSpec {
    /// `unix_s`, `unix_ms`, `rfc3339`, or a chrono strftime pattern.
    pub format: String,
    /// Fixed UTC offset (`+08:00`, `-0530`, `Z`) of pattern times that carry no zone.
    #[serde(default)]
    pub offset: Option<String>,
}

/// What to do with kind values no canonical kind lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unmapped {
    /// Keep the event, with the value as the name of another kind.
    #[default]
    Keep,
    /// Reject the row.
    Reject,
}

/// Source values per canonical kind. A kind whose list is absent matches its own name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindMap {
    /// Values meaning a view.
    #[serde(default)]
    pub view: Option<Vec<String>>,
    /// Values meaning an add-to-cart.
    #[serde(default)]
    pub cart: Option<Vec<String>>,
    /// Values meaning a removal from the cart.
    #[serde(default)]
    pub remove_from_cart: Option<Vec<String>>,
    /// Values meaning a purchase.
    #[serde(default)]
    pub purchase: Option<Vec<String>>,
    /// Values meaning a wishlist / favourite.
    #[serde(default)]
    pub wishlist: Option<Vec<String>>,
    /// What to do with other values.
    #[serde(default)]
    pub unmapped: Unmapped,
}

fn default_delimiter() -> String {
    ",".to_string()
}

fn default_header() -> bool {
    true
}

/// A mapping file: how to read one delimited layout into canonical events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Field delimiter: one ASCII character (`"\t"` or `"tab"` for tabs).
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Whether the first line is a header naming the columns.
    #[serde(default = "default_header")]
    pub header: bool,
    /// Without a header: the exact number of fields a row must have (otherwise rows need at
    /// least enough fields for the highest mapped index). With a header, the header's count.
    #[serde(default)]
    pub fields: Option<usize>,
    /// The columns.
    pub columns: Columns,
    /// The time format.
    pub time: TimeSpec,
    /// Kind values.
    #[serde(default)]
    pub kinds: KindMap,
}

impl Mapping {
    /// Reads and checks a mapping file.
    pub fn load(path: &Path) -> Result<Mapping, EventsError> {
        let text = std::fs::read_to_string(path).map_err(|e| EventsError::io(path, e))?;
        Mapping::from_toml(&text, path)
    }

    /// Parses and checks a mapping from TOML text; `path` names it in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Mapping, EventsError> {
        let m: Mapping = toml::from_str(text).map_err(|e| bad_mapping(path, e.to_string()))?;
        m.check().map_err(|msg| bad_mapping(path, msg))?;
        Ok(m)
    }

    /// Checks what can be checked without the data: delimiter, time format, kind lists, and
    /// that columns are indexes when there is no header.
    pub fn check(&self) -> Result<(), String> {
        self.delimiter_byte()?;
        TimeParser::new(&self.time)?;
        kind_table(&self.kinds)?;
        if !self.header {
            for (role, c) in self.columns.iter() {
                if let Column::Name(n) = c {
                    return Err(format!(
                        "`{role}` names the column {n:?}, but header = false: give 0-based indexes"
                    ));
                }
            }
        }
        if self.header && self.fields.is_some() {
            return Err(
                "`fields` only applies with header = false (the header gives the count)".into(),
            );
        }
        Ok(())
    }

    /// The delimiter as a byte.
    pub fn delimiter_byte(&self) -> Result<u8, String> {
        let d = match self.delimiter.as_str() {
            "tab" | "\\t" => "\t",
            d => d,
        };
        match d.as_bytes() {
            [b] if b.is_ascii() && !matches!(b, b'"' | b'\n' | b'\r') => Ok(*b),
            _ => Err(format!(
                "delimiter {:?} must be one ASCII character other than a quote or line break",
                self.delimiter
            )),
        }
    }
}

impl Columns {
    /// The mapped columns with their roles, required ones first.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Column)> + '_ {
        [
            ("time", Some(&self.time)),
            ("user", Some(&self.user)),
            ("item", Some(&self.item)),
            ("kind", Some(&self.kind)),
            ("session", self.session.as_ref()),
            ("category", self.category.as_ref()),
            ("category_path", self.category_path.as_ref()),
            ("brand", self.brand.as_ref()),
            ("price", self.price.as_ref()),
            ("order", self.order.as_ref()),
        ]
        .into_iter()
        .filter_map(|(r, c)| c.map(|c| (r, c)))
    }
}

fn bad_mapping(path: &Path, message: String) -> EventsError {
    EventsError::BadMapping {
        path: path.to_path_buf(),
        message,
    }
}

fn kind_table(k: &KindMap) -> Result<HashMap<String, u8>, String> {
    let lists: [(u8, &Option<Vec<String>>); 5] = [
        (VIEW, &k.view),
        (CART, &k.cart),
        (REMOVE_FROM_CART, &k.remove_from_cart),
        (PURCHASE, &k.purchase),
        (WISHLIST, &k.wishlist),
    ];
    let mut map = HashMap::new();
    for (code, list) in lists {
        let default = [FIXED_KIND_NAMES[code as usize].to_string()];
        let values = list.as_deref().unwrap_or(&default);
        for v in values {
            if v.is_empty() {
                return Err(format!(
                    "kinds.{}: empty values cannot be mapped",
                    FIXED_KIND_NAMES[code as usize]
                ));
            }
            if let Some(&other) = map.get(v.as_str()) {
                if other != code {
                    return Err(format!(
                        "kind value {v:?} is listed for both {} and {}",
                        FIXED_KIND_NAMES[other as usize], FIXED_KIND_NAMES[code as usize]
                    ));
                }
            }
            map.insert(v.clone(), code);
        }
    }
    Ok(map)
}

/// A compiled time format.
#[derive(Debug, Clone)]
enum TimeParser {
    UnixS,
    UnixMs,
    Rfc3339,
    Pattern {
        items: Vec<Item<'static>>,
        /// The pattern carries its own zone (`%z` and friends).
        zoned: bool,
        /// Seconds east of UTC for zone-less times.
        offset_s: i64,
    },
}

/// Parses `+08:00`, `-0530`, `+08` or `Z` into seconds east of UTC.
fn parse_offset(s: &str) -> Option<i64> {
    if s == "Z" || s == "z" || s == "UTC" {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|c| c.is_ascii_digit()) || rest.len() - digits.len() > 1 {
        return None;
    }
    let (h, m) = match digits.len() {
        2 => (digits.parse::<i64>().ok()?, 0),
        4 => (
            digits[..2].parse::<i64>().ok()?,
            digits[2..].parse::<i64>().ok()?,
        ),
        _ => return None,
    };
    (h <= 23 && m <= 59).then_some(sign * (h * 3600 + m * 60))
}

impl TimeParser {
    fn new(spec: &TimeSpec) -> Result<TimeParser, String> {
        let fixed = |p: TimeParser| match &spec.offset {
            Some(_) => Err(format!(
                "time.offset only applies to strftime patterns, not {:?}",
                spec.format
            )),
            None => Ok(p),
        };
        match spec.format.as_str() {
            "unix_s" => fixed(TimeParser::UnixS),
            "unix_ms" => fixed(TimeParser::UnixMs),
            "rfc3339" => fixed(TimeParser::Rfc3339),
            pattern => {
                if !pattern.contains('%') {
                    return Err(format!(
                        "time.format {pattern:?} is not unix_s, unix_ms, rfc3339 or a strftime pattern"
                    ));
                }
                let items = StrftimeItems::new(pattern)
                    .parse_to_owned()
                    .map_err(|e| format!("time.format {pattern:?}: {e}"))?;
                let zoned = ["%z", "%:z", "%::z", "%:::z", "%#z", "%+"]
                    .iter()
                    .any(|z| pattern.contains(z));
                let offset_s = match &spec.offset {
                    None => 0,
                    Some(_) if zoned => {
                        return Err(format!(
                            "time.offset is given but the pattern {pattern:?} carries its own zone"
                        ))
                    }
                    Some(o) => parse_offset(o).ok_or_else(|| {
                        format!("time.offset {o:?} is not a UTC offset such as +08:00 or -05:30")
                    })?,
                };
                Ok(TimeParser::Pattern {
                    items,
                    zoned,
                    offset_s,
                })
            }
        }
    }

    /// UTC milliseconds of `s`.
    fn parse(&self, s: &str) -> Option<i64> {
        let unix = |v: i64| (0..=MAX_MS).contains(&v).then_some(v);
        match self {
            TimeParser::UnixS => match parse_i64(s) {
                Some(v) => unix(v.checked_mul(1000)?),
                None => {
                    let f: f64 = s.parse().ok()?;
                    if !f.is_finite() {
                        return None;
                    }
                    unix((f * 1000.0).round() as i64)
                }
            },
            TimeParser::UnixMs => unix(parse_i64(s)?),
            TimeParser::Rfc3339 => chrono::DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.timestamp_millis()),
            TimeParser::Pattern {
                items,
                zoned,
                offset_s,
            } => {
                let mut p = Parsed::new();
                chrono::format::parse(&mut p, s, items.iter()).ok()?;
                if *zoned {
                    return p.to_datetime().ok().map(|t| t.timestamp_millis());
                }
                let naive = match p.to_naive_datetime_with_offset(0) {
                    Ok(t) => t,
                    Err(_) => p.to_naive_date().ok()?.and_hms_opt(0, 0, 0)?,
                };
                Some(naive.and_utc().timestamp_millis() - offset_s * 1000)
            }
        }
    }
}

/// A column resolved to an index, with its name for reject reasons.
#[derive(Debug, Clone)]
struct Col {
    idx: usize,
    name: String,
}

/// A [`LineParser`] for a [`Mapping`] resolved against a file's header.
#[derive(Debug, Clone)]
pub struct MappedParser {
    delimiter: u8,
    header: bool,
    /// Exact field count, when known.
    fields: Option<usize>,
    /// Fewest fields a row needs.
    min_fields: usize,
    time: TimeParser,
    kinds: HashMap<String, u8>,
    unmapped: Unmapped,
    c_time: Col,
    c_user: Col,
    c_item: Col,
    c_kind: Col,
    c_session: Option<Col>,
    c_category: Option<Col>,
    c_category_path: Option<Col>,
    c_brand: Option<Col>,
    c_price: Option<Col>,
    c_order: Option<Col>,
}

impl MappedParser {
    /// Compiles `mapping` for a file whose first line is `first_line` (used when the mapping
    /// says there is a header). `mapping_path` and `data_path` name the files in errors: an
    /// unknown column name is a [`EventsError::BadMapping`] that lists the header's columns.
    pub fn new(
        mapping: &Mapping,
        first_line: &str,
        mapping_path: &Path,
        data_path: &Path,
    ) -> Result<MappedParser, EventsError> {
        mapping.check().map_err(|m| bad_mapping(mapping_path, m))?;
        let delimiter = mapping
            .delimiter_byte()
            .map_err(|m| bad_mapping(mapping_path, m))?;
        let mut header: Vec<String> = Vec::new();
        if mapping.header {
            let mut scratch = Scratch::default();
            let mut fields = Fields::default();
            let line = first_line.trim_start_matches('\u{feff}');
            scratch
                .split(line, delimiter, &mut fields)
                .map_err(|e| EventsError::BadHeader {
                    path: data_path.to_path_buf(),
                    message: format!("cannot split the header: {e}"),
                })?;
            header = fields
                .as_slice()
                .iter()
                .map(|s| s.trim().to_string())
                .collect();
            if fields.len() > header.len() {
                // Columns past MAX_FIELDS cannot be mapped; keep the count honest.
                header.extend((header.len()..fields.len()).map(|i| format!("#{i}")));
            }
        }
        let resolve = |role: &str, c: &Column| -> Result<Col, EventsError> {
            let idx = match c {
                Column::Index(i) => {
                    if mapping.header && *i >= header.len() {
                        return Err(bad_mapping(
                            mapping_path,
                            format!(
                                "`{role}` is column {i}, but the header of {} has only {} columns: {}",
                                data_path.display(),
                                header.len(),
                                header.join(", ")
                            ),
                        ));
                    }
                    *i
                }
                Column::Name(n) => header.iter().position(|h| h == n).ok_or_else(|| {
                    bad_mapping(
                        mapping_path,
                        format!(
                            "column {n:?} (for `{role}`) is not in the header of {}; its columns are: {}",
                            data_path.display(),
                            header.join(", ")
                        ),
                    )
                })?,
            };
            if idx >= MAX_FIELDS {
                return Err(bad_mapping(
                    mapping_path,
                    format!("`{role}` is column {idx}; only the first {MAX_FIELDS} columns can be mapped"),
                ));
            }
            let name = match c {
                Column::Name(n) => n.clone(),
                Column::Index(i) if mapping.header => header[*i].clone(),
                Column::Index(i) => format!("column {i}"),
            };
            Ok(Col { idx, name })
        };
        let cols = &mapping.columns;
        let opt = |role: &str, c: &Option<Column>| c.as_ref().map(|c| resolve(role, c)).transpose();
        let c_time = resolve("time", &cols.time)?;
        let c_user = resolve("user", &cols.user)?;
        let c_item = resolve("item", &cols.item)?;
        let c_kind = resolve("kind", &cols.kind)?;
        let c_session = opt("session", &cols.session)?;
        let c_category = opt("category", &cols.category)?;
        let c_category_path = opt("category_path", &cols.category_path)?;
        let c_brand = opt("brand", &cols.brand)?;
        let c_price = opt("price", &cols.price)?;
        let c_order = opt("order", &cols.order)?;
        let max_idx = [&c_time, &c_user, &c_item, &c_kind]
            .into_iter()
            .chain(
                [
                    &c_session,
                    &c_category,
                    &c_category_path,
                    &c_brand,
                    &c_price,
                    &c_order,
                ]
                .into_iter()
                .flatten(),
            )
            .map(|c| c.idx)
            .max()
            .unwrap_or(0);
        let fields = if mapping.header {
            Some(header.len())
        } else {
            mapping.fields
        };
        if let Some(n) = fields {
            if max_idx >= n {
                return Err(bad_mapping(
                    mapping_path,
                    format!("a column index ({max_idx}) is past the {n} fields of a row"),
                ));
            }
        }
        Ok(MappedParser {
            delimiter,
            header: mapping.header,
            fields,
            min_fields: max_idx + 1,
            time: TimeParser::new(&mapping.time).map_err(|m| bad_mapping(mapping_path, m))?,
            kinds: kind_table(&mapping.kinds).map_err(|m| bad_mapping(mapping_path, m))?,
            unmapped: mapping.kinds.unmapped,
            c_time,
            c_user,
            c_item,
            c_kind,
            c_session,
            c_category,
            c_category_path,
            c_brand,
            c_price,
            c_order,
        })
    }
}

impl LineParser for MappedParser {
    fn header_lines(&self) -> u64 {
        u64::from(self.header)
    }

    fn parse_line(
        &self,
        line: &str,
        scratch: &mut Scratch,
        emit: &mut dyn FnMut(&RawEvent<'_>),
    ) -> Result<(), RejectReason> {
        let mut fields = Fields::default();
        scratch.split(line, self.delimiter, &mut fields)?;
        let f = match self.fields {
            Some(n) => fields.expect(n)?,
            None if fields.len() < self.min_fields => {
                return Err(RejectReason::FieldCount {
                    expected: self.min_fields,
                    found: fields.len(),
                })
            }
            None => fields.as_slice(),
        };
        let opt = |c: &Option<Col>| c.as_ref().map(|c| f[c.idx]).filter(|v| !v.is_empty());
        let t = f[self.c_time.idx];
        let time_ms = self
            .time
            .parse(t)
            .ok_or_else(|| RejectReason::bad_time(&self.c_time.name, t))?;
        let required = |c: &Col| {
            let v = f[c.idx];
            if v.is_empty() {
                Err(RejectReason::missing(&c.name))
            } else {
                Ok(v)
            }
        };
        let user = required(&self.c_user)?;
        let item = required(&self.c_item)?;
        let k = f[self.c_kind.idx];
        let kind = match self.kinds.get(k) {
            Some(&code) => KindRef::Fixed(code),
            None if self.unmapped == Unmapped::Keep && is_kind_name(k) => KindRef::Other(k),
            None => return Err(RejectReason::unknown_kind(&self.c_kind.name, k)),
        };
        let price = match &self.c_price {
            Some(c) => price_of(&c.name, f[c.idx])?,
            None => None,
        };
        emit(&RawEvent {
            time_ms,
            user,
            session: opt(&self.c_session),
            item,
            category: opt(&self.c_category),
            category_path: opt(&self.c_category_path),
            brand: opt(&self.c_brand),
            price,
            kind,
            order: opt(&self.c_order),
        });
        Ok(())
    }
}

/// Reads `path` through an already loaded `mapping` (`mapping_path` names it in errors).
pub fn read_with_mapping(
    path: &Path,
    mapping: &Mapping,
    mapping_path: &Path,
    opts: &ReadOptions,
) -> Result<ReadOutput, EventsError> {
    let first = if mapping.header {
        first_line(path)?
    } else {
        String::new()
    };
    let parser = MappedParser::new(mapping, &first, mapping_path, path)?;
    read_lines(path, &parser, opts)
}

/// Reads `path` through the TOML mapping file at `mapping_path`.
pub fn read_mapped(
    path: &Path,
    mapping_path: &Path,
    opts: &ReadOptions,
) -> Result<ReadOutput, EventsError> {
    let mapping = Mapping::load(mapping_path)?;
    read_with_mapping(path, &mapping, mapping_path, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(format: &str, offset: Option<&str>) -> TimeSpec {
        TimeSpec {
            format: format.into(),
            offset: offset.map(Into::into),
        }
    }

    #[test]
    fn time_formats() {
        let p = |f: &str, o: Option<&str>, s: &str| TimeParser::new(&spec(f, o)).unwrap().parse(s);
        assert_eq!(p("unix_s", None, "1511544070"), Some(1_511_544_070_000));
        assert_eq!(p("unix_s", None, "1511544070.25"), Some(1_511_544_070_250));
        assert_eq!(p("unix_s", None, "1511544070000"), None);
        assert_eq!(p("unix_ms", None, "1511544070000"), Some(1_511_544_070_000));
        assert_eq!(
            p("rfc3339", None, "2017-11-25T00:00:00+08:00"),
            Some(1_511_539_200_000)
        );
        assert_eq!(
            p("%Y-%m-%d %H:%M:%S", Some("+08:00"), "2017-11-25 00:00:00"),
            Some(1_511_539_200_000)
        );
        assert_eq!(p("%d/%m/%Y", None, "04/12/2017"), Some(1_512_345_600_000));
        assert_eq!(
            p("%Y-%m-%d %H:%M:%S %z", None, "2017-11-25 00:00:00 +0800"),
            Some(1_511_539_200_000)
        );
        assert_eq!(
            p("%Y-%m-%d %H:%M:%S UTC", None, "2019-10-01 00:00:00 UTC"),
            Some(1_569_888_000_000)
        );
        assert_eq!(p("%Y-%m-%d", None, "2017-13-01"), None);
        assert!(TimeParser::new(&spec("unix_s", Some("+01:00"))).is_err());
        assert!(TimeParser::new(&spec("seconds", None)).is_err());
        assert!(TimeParser::new(&spec("%Y", Some("8h"))).is_err());
        assert_eq!(parse_offset("-05:30"), Some(-19_800));
        assert_eq!(parse_offset("+0800"), Some(28_800));
        assert_eq!(parse_offset("+8"), None);
    }

    #[test]
    fn kinds_conflict_and_defaults() {
        let k = KindMap {
            view: Some(vec!["pv".into()]),
            ..KindMap::default()
        };
        let t = kind_table(&k).unwrap();
        assert_eq!(t.get("pv"), Some(&VIEW));
        assert_eq!(t.get("view"), None);
        assert_eq!(t.get("cart"), Some(&CART));
        let k = KindMap {
            view: Some(vec!["x".into()]),
            cart: Some(vec!["x".into()]),
            ..KindMap::default()
        };
        assert!(kind_table(&k).unwrap_err().contains("both view and cart"));
    }
}
