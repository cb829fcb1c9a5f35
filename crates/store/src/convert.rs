//! [`EventTable`] ⇄ Arrow [`RecordBatch`] in the event schema (see [`crate::schema`]).
//!
//! Writing produces exactly [`event_schema`]. Reading finds columns by name (extra columns
//! are ignored) and accepts, besides the written types:
//!
//! * string columns as `Utf8`, `LargeUtf8`, `Utf8View` (what Polars writes) or a dictionary
//!   of any integer key type over one of those;
//! * `event_time` as a timestamp of any unit (converted to milliseconds, rounding towards
//!   minus infinity) and any or no time zone (Arrow timestamps count from the UTC epoch);
//! * `price` as `Float64` or `Float32`;
//! * `source_line` as `UInt64`, `Int64`, `UInt32` or `Int32` (Spark has no unsigned types).
//!
//! A missing column, a wrong type or a null in a required column is a typed
//! [`StoreError`] naming the column and the origin (the file) of the batch.

use crate::error::StoreError;
use crate::schema::*;
use crate::TimeWindow;
use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, LargeStringArray, RecordBatch, StringArray,
    StringBuilder, StringViewArray, TimestampMillisecondArray, UInt64Array,
};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt32Type, UInt64Type,
};
use shopsense_events::kind::KindRef;
use shopsense_events::{EventTable, Interner, NONE};
use std::sync::Arc;

/// Converts a whole table to one record batch in the event schema.
pub fn table_to_batch(table: &EventTable) -> Result<RecordBatch, StoreError> {
    check_table(table)?;
    let rows: Vec<u32> = (0..table.len() as u32).collect();
    rows_to_batch_checked(table, &rows)
}

/// Converts the rows `rows` of `table` (in that order) to one record batch in the event
/// schema. Fails on an inconsistent table or a row index out of range.
pub fn rows_to_batch(table: &EventTable, rows: &[u32]) -> Result<RecordBatch, StoreError> {
    check_table(table)?;
    if let Some(&r) = rows.iter().find(|&&r| r as usize >= table.len()) {
        return Err(StoreError::InvalidTable {
            message: format!("row {r} out of range (table has {} rows)", table.len()),
        });
    }
    rows_to_batch_checked(table, rows)
}

/// Checks that every column of `table` has the same length, that the table fits the store's
/// limits (`u32` rows) and that every interned id and file index is in range, so that
/// conversion cannot panic.
pub fn check_table(t: &EventTable) -> Result<(), StoreError> {
    let n = t.len();
    let lens = [
        ("kind", t.kind.len()),
        ("user", t.user.len()),
        ("session", t.session.len()),
        ("item", t.item.len()),
        ("category", t.category.len()),
        ("category_path", t.category_path.len()),
        ("brand", t.brand.len()),
        ("price", t.price.len()),
        ("order", t.order.len()),
        ("file", t.file.len()),
        ("line", t.line.len()),
    ];
    for (name, len) in lens {
        if len != n {
            return Err(StoreError::InvalidTable {
                message: format!("column {name} has {len} rows, time_ms has {n}"),
            });
        }
    }
    if t.has_numeric_users() {
        return Err(StoreError::InvalidTable {
            message: "the table keeps numeric user ids as numbers (read for the session \
                      export); intern them first (EventTable::intern_numeric_users)"
                .into(),
        });
    }
    if n > u32::MAX as usize {
        return Err(StoreError::InvalidTable {
            message: format!("{n} rows is more than one append can hold ({})", u32::MAX),
        });
    }
    let ids: [(&str, &[u32], &Interner); 7] = [
        ("user", &t.user, &t.users),
        ("session", &t.session, &t.sessions),
        ("item", &t.item, &t.items),
        ("category", &t.category, &t.categories),
        ("category_path", &t.category_path, &t.category_paths),
        ("brand", &t.brand, &t.brands),
        ("order", &t.order, &t.orders),
    ];
    for (name, col, dict) in ids {
        let limit = dict.len() as u32;
        if let Some(&bad) = col.iter().find(|&&v| v != NONE && v >= limit) {
            return Err(StoreError::InvalidTable {
                message: format!("column {name} holds id {bad}, its dictionary has {limit}"),
            });
        }
    }
    let files = t.files.len();
    if let Some(&bad) = t.file.iter().find(|&&f| f as usize >= files) {
        return Err(StoreError::InvalidTable {
            message: format!("file index {bad} out of range ({files} files)"),
        });
    }
    Ok(())
}

/// `rows_to_batch` after [`check_table`] and the row range check have passed.
pub(crate) fn rows_to_batch_checked(
    t: &EventTable,
    rows: &[u32],
) -> Result<RecordBatch, StoreError> {
    let n = rows.len();
    let time =
        TimestampMillisecondArray::from_iter_values(rows.iter().map(|&r| t.time_ms[r as usize]))
            .with_timezone(TIME_ZONE);
    let kind_names: Vec<&str> = (0..=u8::MAX).map(|c| t.kind_name(c)).collect();
    let mut kind = StringBuilder::with_capacity(n, n * 5);
    for &r in rows {
        kind.append_value(kind_names[t.kind[r as usize] as usize]);
    }
    let mut file = StringBuilder::with_capacity(n, n * 16);
    for &r in rows {
        file.append_value(&t.files[t.file[r as usize] as usize]);
    }
    let price = Float64Array::from_iter(rows.iter().map(|&r| {
        let p = t.price[r as usize];
        (!p.is_nan()).then_some(p)
    }));
    let line = UInt64Array::from_iter_values(rows.iter().map(|&r| t.line[r as usize]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(time),
        Arc::new(kind.finish()),
        strings(&t.users, &t.user, rows, false),
        strings(&t.sessions, &t.session, rows, true),
        strings(&t.items, &t.item, rows, false),
        strings(&t.categories, &t.category, rows, true),
        strings(&t.category_paths, &t.category_path, rows, true),
        strings(&t.brands, &t.brand, rows, true),
        Arc::new(price),
        strings(&t.orders, &t.order, rows, true),
        Arc::new(file.finish()),
        Arc::new(line),
    ];
    RecordBatch::try_new(event_schema(), columns).map_err(|source| StoreError::Arrow {
        origin: "event table".to_string(),
        source,
    })
}

/// An interned column as a `Utf8` array; `NONE` becomes null (or `""` where the column is
/// required).
fn strings(dict: &Interner, ids: &[u32], rows: &[u32], nullable: bool) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 12);
    for &r in rows {
        match ids[r as usize] {
            NONE if nullable => b.append_null(),
            NONE => b.append_value(""),
            id => b.append_value(dict.get(id)),
        }
    }
    Arc::new(b.finish())
}

/// Converts a record batch in the event schema to a new table. `origin` names the batch's
/// file in errors.
pub fn batch_to_table(batch: &RecordBatch, origin: &str) -> Result<EventTable, StoreError> {
    let mut t = EventTable::new();
    append_batch(&mut t, batch, origin, TimeWindow::ALL)?;
    Ok(t)
}

/// Appends the rows of `batch` whose `event_time` is inside `window` to `table`, interning
/// strings into the table's dictionaries, and returns how many rows were appended. `origin`
/// names the batch's file in errors. On error the table's rows are left as they were
/// (its dictionaries may have grown).
pub fn append_batch(
    table: &mut EventTable,
    batch: &RecordBatch,
    origin: &str,
    window: TimeWindow,
) -> Result<usize, StoreError> {
    let before = table.len();
    let result = append_batch_inner(table, batch, origin, window);
    if result.is_err() {
        truncate(table, before);
    }
    result
}

fn truncate(t: &mut EventTable, n: usize) {
    t.time_ms.truncate(n);
    t.kind.truncate(n);
    t.user.truncate(n);
    t.session.truncate(n);
    t.item.truncate(n);
    t.category.truncate(n);
    t.category_path.truncate(n);
    t.brand.truncate(n);
    t.price.truncate(n);
    t.order.truncate(n);
    t.file.truncate(n);
    t.line.truncate(n);
}

/// Context for error messages about one batch.
struct Ctx<'a> {
    origin: &'a str,
}

impl Ctx<'_> {
    fn missing(&self, column: &'static str) -> StoreError {
        StoreError::MissingColumn {
            origin: self.origin.to_string(),
            column,
        }
    }
    fn wrong_type(
        &self,
        column: &'static str,
        found: &DataType,
        expected: &'static str,
    ) -> StoreError {
        StoreError::WrongType {
            origin: self.origin.to_string(),
            column,
            found: found.to_string(),
            expected,
        }
    }
    fn null(&self, column: &'static str, row: usize) -> StoreError {
        StoreError::NullValue {
            origin: self.origin.to_string(),
            column,
            row,
        }
    }
    fn bad(&self, column: &'static str, row: usize, message: String) -> StoreError {
        StoreError::BadValue {
            origin: self.origin.to_string(),
            column,
            row,
            message,
        }
    }
}

const STRING_TYPES: &str = "Utf8, LargeUtf8, Utf8View or a dictionary of one of them";

fn append_batch_inner(
    table: &mut EventTable,
    batch: &RecordBatch,
    origin: &str,
    window: TimeWindow,
) -> Result<usize, StoreError> {
    let cx = Ctx { origin };
    let col = |name: &'static str| -> Result<&ArrayRef, StoreError> {
        batch
            .schema_ref()
            .column_with_name(name)
            .map(|(i, _)| batch.column(i))
            .ok_or_else(|| cx.missing(name))
    };
    // Resolve and type-check every column before touching the table.
    let time_col = col(EVENT_TIME)?;
    let kind_col = StrSource::new(col(EVENT_TYPE)?, EVENT_TYPE, &cx)?;
    let user_col = StrSource::new(col(USER_ID)?, USER_ID, &cx)?;
    let session_col = StrSource::new(col(SESSION_ID)?, SESSION_ID, &cx)?;
    let item_col = StrSource::new(col(ITEM_ID)?, ITEM_ID, &cx)?;
    let category_col = StrSource::new(col(CATEGORY_ID)?, CATEGORY_ID, &cx)?;
    let path_col = StrSource::new(col(CATEGORY_PATH)?, CATEGORY_PATH, &cx)?;
    let brand_col = StrSource::new(col(BRAND)?, BRAND, &cx)?;
    let price_col = col(PRICE)?;
    let order_col = StrSource::new(col(ORDER_ID)?, ORDER_ID, &cx)?;
    let file_col = StrSource::new(col(SOURCE_FILE)?, SOURCE_FILE, &cx)?;
    let line_col = col(SOURCE_LINE)?;

    let times = timestamps_ms(time_col, &cx)?;
    let rows: Vec<usize> = if window == TimeWindow::ALL {
        (0..batch.num_rows()).collect()
    } else {
        (0..batch.num_rows())
            .filter(|&i| window.contains(times[i]))
            .collect()
    };
    let prices = floats(price_col, &rows, &cx)?;
    let lines = line_numbers(line_col, &rows, &cx)?;

    // Kinds and files need the whole table (kind_code / add_file), so they go through
    // temporary vectors.
    let mut kinds: Vec<u32> = Vec::with_capacity(rows.len());
    kind_col.map(&rows, false, &cx, &mut kinds, |s| {
        Ok(table.kind_code(KindRef::Other(s)) as u32)
    })?;
    let mut files: Vec<u32> = Vec::with_capacity(rows.len());
    {
        let mut last: Option<(&str, u32)> = None;
        file_col.map(&rows, false, &cx, &mut files, |s| {
            if let Some((name, idx)) = last {
                if name == s {
                    return Ok(idx);
                }
            }
            let known = table.files.iter().position(|f| f == s);
            if known.is_none() && table.files.len() > u16::MAX as usize {
                return Err(StoreError::InvalidTable {
                    message: format!(
                        "{origin}: more than {} distinct source files in one table",
                        u16::MAX as usize + 1
                    ),
                });
            }
            let idx = table.add_file(s) as u32;
            last = Some((s, idx));
            Ok(idx)
        })?;
    }

    let t = table;
    let n = rows.len();
    t.reserve(n);
    t.time_ms.extend(rows.iter().map(|&i| times[i]));
    t.kind.extend(kinds.iter().map(|&k| k as u8));
    user_col.map(&rows, false, &cx, &mut t.user, |s| Ok(t.users.intern(s)))?;
    session_col.map(&rows, true, &cx, &mut t.session, |s| {
        Ok(t.sessions.intern_opt(Some(s)))
    })?;
    item_col.map(&rows, false, &cx, &mut t.item, |s| Ok(t.items.intern(s)))?;
    category_col.map(&rows, true, &cx, &mut t.category, |s| {
        Ok(t.categories.intern_opt(Some(s)))
    })?;
    path_col.map(&rows, true, &cx, &mut t.category_path, |s| {
        Ok(t.category_paths.intern_opt(Some(s)))
    })?;
    brand_col.map(&rows, true, &cx, &mut t.brand, |s| {
        Ok(t.brands.intern_opt(Some(s)))
    })?;
    t.price.extend_from_slice(&prices);
    order_col.map(&rows, true, &cx, &mut t.order, |s| {
        Ok(t.orders.intern_opt(Some(s)))
    })?;
    t.file.extend(files.iter().map(|&f| f as u16));
    t.line.extend_from_slice(&lines);
    Ok(n)
}

/// `event_time` in UTC milliseconds, for every row of the batch.
fn timestamps_ms(a: &ArrayRef, cx: &Ctx<'_>) -> Result<Vec<i64>, StoreError> {
    const EXPECTED: &str = "Timestamp(Millisecond, \"UTC\") (any unit or time zone is accepted)";
    let (raw, scale): (&[i64], Scale) = match a.data_type() {
        DataType::Timestamp(TimeUnit::Millisecond, _) => (
            a.as_primitive::<TimestampMillisecondType>().values(),
            Scale::Same,
        ),
        DataType::Timestamp(TimeUnit::Second, _) => (
            a.as_primitive::<TimestampSecondType>().values(),
            Scale::Mul(1000),
        ),
        DataType::Timestamp(TimeUnit::Microsecond, _) => (
            a.as_primitive::<TimestampMicrosecondType>().values(),
            Scale::Div(1000),
        ),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => (
            a.as_primitive::<TimestampNanosecondType>().values(),
            Scale::Div(1_000_000),
        ),
        other => return Err(cx.wrong_type(EVENT_TIME, other, EXPECTED)),
    };
    if let Some(nulls) = a.logical_nulls() {
        if let Some(row) = (0..a.len()).find(|&i| nulls.is_null(i)) {
            return Err(cx.null(EVENT_TIME, row));
        }
    }
    match scale {
        Scale::Same => Ok(raw.to_vec()),
        Scale::Div(d) => Ok(raw.iter().map(|v| v.div_euclid(d)).collect()),
        Scale::Mul(m) => raw
            .iter()
            .enumerate()
            .map(|(row, v)| {
                v.checked_mul(m)
                    .ok_or_else(|| cx.bad(EVENT_TIME, row, format!("{v} s overflows milliseconds")))
            })
            .collect(),
    }
}

enum Scale {
    Same,
    Mul(i64),
    Div(i64),
}

/// `price` for the selected rows; null becomes `NaN`.
fn floats(a: &ArrayRef, rows: &[usize], cx: &Ctx<'_>) -> Result<Vec<f64>, StoreError> {
    let nulls = a.logical_nulls();
    let valid = |i: usize| nulls.as_ref().is_none_or(|n| n.is_valid(i));
    match a.data_type() {
        DataType::Float64 => {
            let v = a.as_primitive::<Float64Type>().values();
            Ok(rows
                .iter()
                .map(|&i| if valid(i) { v[i] } else { f64::NAN })
                .collect())
        }
        DataType::Float32 => {
            let v = a.as_primitive::<Float32Type>().values();
            Ok(rows
                .iter()
                .map(|&i| if valid(i) { v[i] as f64 } else { f64::NAN })
                .collect())
        }
        other => Err(cx.wrong_type(PRICE, other, "Float64 or Float32")),
    }
}

/// `source_line` for the selected rows.
fn line_numbers(a: &ArrayRef, rows: &[usize], cx: &Ctx<'_>) -> Result<Vec<u64>, StoreError> {
    if let Some(nulls) = a.logical_nulls() {
        if let Some(&row) = rows.iter().find(|&&i| nulls.is_null(i)) {
            return Err(cx.null(SOURCE_LINE, row));
        }
    }
    fn signed(v: &[i64], rows: &[usize], cx: &Ctx<'_>) -> Result<Vec<u64>, StoreError> {
        rows.iter()
            .map(|&i| {
                u64::try_from(v[i])
                    .map_err(|_| cx.bad(SOURCE_LINE, i, format!("negative line {}", v[i])))
            })
            .collect()
    }
    match a.data_type() {
        DataType::UInt64 => {
            let v = a.as_primitive::<UInt64Type>().values();
            Ok(rows.iter().map(|&i| v[i]).collect())
        }
        DataType::UInt32 => {
            let v = a.as_primitive::<UInt32Type>().values();
            Ok(rows.iter().map(|&i| v[i] as u64).collect())
        }
        DataType::Int64 => signed(a.as_primitive::<Int64Type>().values(), rows, cx),
        DataType::Int32 => {
            let v: Vec<i64> = a
                .as_primitive::<Int32Type>()
                .values()
                .iter()
                .map(|&x| x as i64)
                .collect();
            signed(&v, rows, cx)
        }
        other => Err(cx.wrong_type(SOURCE_LINE, other, "UInt64, Int64, UInt32 or Int32")),
    }
}

/// A plain string array of one of the accepted layouts.
enum Plain<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> Plain<'a> {
    fn new(a: &'a dyn Array) -> Option<Self> {
        match a.data_type() {
            DataType::Utf8 => a.as_string_opt::<i32>().map(Plain::Utf8),
            DataType::LargeUtf8 => a.as_string_opt::<i64>().map(Plain::Large),
            DataType::Utf8View => a.as_string_view_opt().map(Plain::View),
            _ => None,
        }
    }

    #[inline]
    fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Plain::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            Plain::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Plain::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

/// A string column: plain, or a dictionary over a plain array.
struct StrSource<'a> {
    column: &'static str,
    kind: StrKind<'a>,
}

enum StrKind<'a> {
    Plain(Plain<'a>),
    Dict {
        array: &'a dyn Array,
        keys: Vec<usize>,
        values: Plain<'a>,
        n_values: usize,
    },
}

impl<'a> StrSource<'a> {
    fn new(a: &'a ArrayRef, column: &'static str, cx: &Ctx<'_>) -> Result<Self, StoreError> {
        if let Some(p) = Plain::new(a.as_ref()) {
            return Ok(StrSource {
                column,
                kind: StrKind::Plain(p),
            });
        }
        if let Some(d) = a.as_any_dictionary_opt() {
            if let Some(values) = Plain::new(d.values().as_ref()) {
                let n_values = d.values().len();
                let keys = if n_values == 0 {
                    Vec::new()
                } else {
                    d.normalized_keys()
                };
                return Ok(StrSource {
                    column,
                    kind: StrKind::Dict {
                        array: a.as_ref(),
                        keys,
                        values,
                        n_values,
                    },
                });
            }
        }
        Err(cx.wrong_type(column, a.data_type(), STRING_TYPES))
    }

    /// Maps the string of each selected row through `f` into `out`. A null becomes
    /// [`NONE`] when `nullable`, and an error otherwise. For dictionaries `f` runs once per
    /// distinct value used.
    fn map(
        &self,
        rows: &[usize],
        nullable: bool,
        cx: &Ctx<'_>,
        out: &mut Vec<u32>,
        mut f: impl FnMut(&'a str) -> Result<u32, StoreError>,
    ) -> Result<(), StoreError> {
        match &self.kind {
            StrKind::Plain(p) => {
                for &i in rows {
                    match p.get(i) {
                        Some(s) => out.push(f(s)?),
                        None if nullable => out.push(NONE),
                        None => return Err(cx.null(self.column, i)),
                    }
                }
            }
            StrKind::Dict {
                array,
                keys,
                values,
                n_values,
            } => {
                let mut cache: Vec<Option<u32>> = vec![None; *n_values];
                for &i in rows {
                    let mut value = None;
                    if array.is_valid(i) && *n_values > 0 {
                        let k = keys[i];
                        value = match cache[k] {
                            Some(id) => Some(id),
                            None => match values.get(k) {
                                Some(s) => {
                                    let id = f(s)?;
                                    cache[k] = Some(id);
                                    Some(id)
                                }
                                None => None,
                            },
                        };
                    }
                    match value {
                        Some(id) => out.push(id),
                        None if nullable => out.push(NONE),
                        None => return Err(cx.null(self.column, i)),
                    }
                }
            }
        }
        Ok(())
    }
}
