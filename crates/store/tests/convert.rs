//! EventTable ⇄ RecordBatch: the written schema, the string layouts other writers use
//! (Utf8View from Polars, LargeUtf8, dictionaries), other timestamp units, and typed errors.

mod common;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use common::*;
use shopsense_events::EventTable;
use shopsense_store::convert::{append_batch, batch_to_table, table_to_batch};
use shopsense_store::schema::COLUMNS;
use shopsense_store::{event_schema, StoreError, TimeWindow};
use std::sync::Arc;

fn sample() -> EventTable {
    read(&rees46()).0
}

/// `batch` with column `name` replaced by `array` (and the schema field retyped).
fn replace(batch: &RecordBatch, name: &str, array: ArrayRef) -> RecordBatch {
    let i = batch.schema().index_of(name).unwrap();
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[i] = Field::new(name, array.data_type().clone(), true);
    let mut cols = batch.columns().to_vec();
    cols[i] = array;
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
}

/// `batch` with every column of type `from` cast to `to`.
fn cast_all(batch: &RecordBatch, from: &DataType, to: &DataType) -> RecordBatch {
    let mut out = batch.clone();
    for name in COLUMNS {
        let col = out.column_by_name(name).unwrap().clone();
        if col.data_type() == from {
            out = replace(&out, name, cast(&col, to).unwrap());
        }
    }
    out
}

#[test]
fn written_batches_have_the_fixed_schema_and_round_trip() {
    let t = sample();
    let batch = table_to_batch(&t).unwrap();
    assert_eq!(batch.schema(), event_schema());
    assert_eq!(batch.num_rows(), 17_434);
    let names: Vec<&str> = batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, COLUMNS);
    assert_eq!(
        batch.schema().field(0).data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
    assert_eq!(batch.schema().metadata()["shopsense.schema_version"], "1");
    // REES46 has no category path for some rows: they are nulls, not empty strings.
    let paths = batch.column_by_name("category_path").unwrap();
    assert!(paths.null_count() > 0);
    assert_same_rows(&batch_to_table(&batch, "mem").unwrap(), &t);
}

#[test]
fn reads_string_view_large_utf8_and_dictionaries() {
    let t = sample();
    let batch = table_to_batch(&t).unwrap();
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let dict16_view =
        DataType::Dictionary(Box::new(DataType::UInt16), Box::new(DataType::Utf8View));
    for to in [DataType::Utf8View, DataType::LargeUtf8, dict, dict16_view] {
        let other = cast_all(&batch, &DataType::Utf8, &to);
        assert_eq!(other.column_by_name("user_id").unwrap().data_type(), &to);
        let back = batch_to_table(&other, "polars.parquet").unwrap();
        assert_same_rows(&back, &t);
    }
}

#[test]
fn reads_other_timestamp_units_float32_prices_and_signed_lines() {
    let mut t = EventTable::new();
    let mut e = sample().event(0);
    e.price = Some(2.5);
    t.push_event(&e);
    let batch = table_to_batch(&t).unwrap();
    let time = batch.column_by_name("event_time").unwrap().clone();
    for unit in [
        TimeUnit::Second,
        TimeUnit::Microsecond,
        TimeUnit::Nanosecond,
    ] {
        for tz in [None, Some("Europe/Berlin".into())] {
            let to = DataType::Timestamp(unit, tz);
            let b = replace(&batch, "event_time", cast(&time, &to).unwrap());
            assert_eq!(batch_to_table(&b, "x").unwrap().event(0), e, "{to}");
        }
    }
    let b = replace(
        &batch,
        "price",
        cast(batch.column_by_name("price").unwrap(), &DataType::Float32).unwrap(),
    );
    let b = replace(
        &b,
        "source_line",
        cast(b.column_by_name("source_line").unwrap(), &DataType::Int64).unwrap(),
    );
    assert_eq!(batch_to_table(&b, "spark.parquet").unwrap().event(0), e);
}

#[test]
fn missing_columns_wrong_types_and_nulls_are_typed_errors() {
    let t = sample();
    let batch = table_to_batch(&t).unwrap();

    let i = batch.schema().index_of("item_id").unwrap();
    let mut b = batch.clone();
    b.remove_column(i);
    let err = batch_to_table(&b, "part-7.parquet").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::MissingColumn {
                column: "item_id",
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("part-7.parquet") && msg.contains("item_id"),
        "{msg}"
    );

    let ints = cast(
        batch.column_by_name("source_line").unwrap(),
        &DataType::Int64,
    )
    .unwrap();
    let b = replace(&batch, "user_id", ints);
    let err = batch_to_table(&b, "part-8.parquet").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::WrongType {
                column: "user_id",
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("part-8.parquet") && msg.contains("Int64"),
        "{msg}"
    );

    let b = replace(
        &batch,
        "event_time",
        batch.column_by_name("source_line").unwrap().clone(),
    );
    let err = batch_to_table(&b, "f").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::WrongType {
                column: "event_time",
                ..
            }
        ),
        "{err:?}"
    );

    // A null in a required column: rows before it must not stay half-appended.
    let mut users: Vec<Option<String>> = (0..batch.num_rows())
        .map(|i| Some(t.event(i).user_id))
        .collect();
    users[5] = None;
    let b = replace(
        &batch,
        "user_id",
        Arc::new(arrow::array::StringArray::from(users)),
    );
    let mut into = sample();
    let err = append_batch(&mut into, &b, "part-9.parquet", TimeWindow::ALL).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NullValue {
                column: "user_id",
                row: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("part-9.parquet"));
    assert_eq!(into.len(), 17_434);
    assert_eq!(into.user.len(), 17_434);
    assert_eq!(into.kind.len(), 17_434);
}

#[test]
fn appending_a_batch_filters_by_window() {
    let t = sample();
    let batch = table_to_batch(&t).unwrap();
    let from = t.time_ms[100];
    let to = t.time_ms[200];
    let mut into = EventTable::new();
    let n = append_batch(
        &mut into,
        &batch,
        "x",
        TimeWindow::new(Some(from), Some(to)),
    )
    .unwrap();
    let mut want = t.clone();
    want.retain_time_window(Some(from), Some(to));
    assert_eq!(n, want.len());
    assert_same_rows(&into, &want);
}

/// A table read with numeric user ids kept as numbers (the session export's read) is refused
/// with a typed error naming the fix, not stored with empty users; interned, it converts.
#[test]
fn numeric_user_tables_are_refused_until_interned() {
    let mut t = sample();
    let n = t.len();
    t.user_num = (0..n as u64).collect();
    t.user = vec![shopsense_events::NONE; n];
    match table_to_batch(&t) {
        Err(StoreError::InvalidTable { message }) => {
            assert!(message.contains("intern_numeric_users"), "{message}")
        }
        other => panic!("expected InvalidTable, got {other:?}"),
    }
    t.intern_numeric_users();
    let batch = table_to_batch(&t).unwrap();
    assert_eq!(batch.num_rows(), n);
    let users = batch.column_by_name("user_id").unwrap();
    let users = cast(users, &DataType::Utf8).unwrap();
    let users = users
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap();
    assert_eq!(users.value(0), "0");
    assert_eq!(users.value(n - 1), (n - 1).to_string());
}
