//! The parts are plain Parquet: read them with the `parquet` crate's low-level
//! `SerializedFileReader` only, without any code of this crate.

mod common;

use common::*;
use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use shopsense_store::Store;
use std::fs::File;
use std::path::PathBuf;

/// Every `*.parquet` under `dir/events/*/`, found by listing folders (not via the manifest).
fn glob_parts(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut parts = Vec::new();
    for day in std::fs::read_dir(dir.join("events")).unwrap() {
        let day = day.unwrap().path();
        assert!(day
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("date="));
        for f in std::fs::read_dir(&day).unwrap() {
            let f = f.unwrap().path();
            assert_eq!(f.extension().unwrap(), "parquet", "{f:?}");
            parts.push(f);
        }
    }
    parts.sort();
    parts
}

#[test]
fn parts_are_plain_parquet_with_the_documented_schema() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(dir.path()).unwrap();
    ingest(&mut store, &rees46()).unwrap();
    ingest(&mut store, &taobao()).unwrap();
    drop(store);

    let parts = glob_parts(dir.path());
    assert_eq!(parts.len(), 15);
    let expected: [(&str, PhysicalType, Option<LogicalType>, Repetition); 12] = [
        (
            "event_time",
            PhysicalType::INT64,
            Some(LogicalType::timestamp(true, TimeUnit::MILLIS)),
            Repetition::REQUIRED,
        ),
        (
            "event_type",
            PhysicalType::BYTE_ARRAY,
            Some(LogicalType::String),
            Repetition::REQUIRED,
        ),
        (
            "user_id",
            PhysicalType::BYTE_ARRAY,
            Some(LogicalType::String),
            Repetition::REQUIRED,
        ),
        (
            "session_id",
            PhysicalType::BYTE_ARRAY,
            Some(LogicalType::String),
            Repetition::OPTIONAL,
        ),
        (
            "item_id",
            PhysicalType::BYTE_ARRAY,
            Some(LogicalType::String),
            Repetition::REQUIRED,
        ),
        (
            "category_id",
            PhysicalType::BYTE_ARRAY,
            Some(LogicalType::String),
            Repetition::OPTIONAL,
        ),
        (
            "category_path",
            PhysicalType::BYTE_ARRAY,
            Some(LogicalType::String),
            Repetition::OPTIONAL,
        ),
        (
            "brand",
            PhysicalType::BYTE_ARRAY,
            Some(LogicalType::String),
            Repetition::OPTIONAL,
        ),
        ("price", PhysicalType::DOUBLE, None, Repetition::OPTIONAL),
        (
            "order_id",
            PhysicalType::BYTE_ARRAY,
            Some(LogicalType::String),
            Repetition::OPTIONAL,
        ),
        (
            "source_file",
            PhysicalType::BYTE_ARRAY,
            Some(LogicalType::String),
            Repetition::REQUIRED,
        ),
        (
            "source_line",
            PhysicalType::INT64,
            Some(LogicalType::integer(64, false)),
            Repetition::REQUIRED,
        ),
    ];

    let mut total = 0i64;
    let mut rees46_rows = 0i64;
    for path in &parts {
        let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
        let meta = reader.metadata();
        let fm = meta.file_metadata();
        let schema = fm.schema_descr();
        assert_eq!(schema.num_columns(), 12, "{path:?}");
        for (i, (name, physical, logical, repetition)) in expected.iter().enumerate() {
            let c = schema.column(i);
            assert_eq!(c.name(), *name, "{path:?}");
            assert_eq!(c.physical_type(), *physical, "{name}");
            assert_eq!(c.logical_type_ref(), logical.as_ref(), "{name}");
            assert_eq!(
                c.self_type().get_basic_info().repetition(),
                *repetition,
                "{name}"
            );
        }
        let kv = fm.key_value_metadata().unwrap();
        assert!(kv
            .iter()
            .any(|k| k.key == "shopsense.schema_version" && k.value.as_deref() == Some("1")));
        let mut rows_in_groups = 0;
        for rg in meta.row_groups() {
            rows_in_groups += rg.num_rows();
            for c in rg.columns() {
                assert!(matches!(c.compression(), Compression::ZSTD(_)), "{path:?}");
            }
        }
        assert_eq!(rows_in_groups, fm.num_rows());
        total += fm.num_rows();
        if path.to_string_lossy().contains("date=2019-10-01") {
            rees46_rows += fm.num_rows();
            // The first record is the first line of the REES46 CSV:
            // 2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c
            let row = reader.get_row_iter(None).unwrap().next().unwrap().unwrap();
            let fields: Vec<(String, Field)> = row.into_columns();
            let get = |n: &str| fields.iter().find(|(k, _)| k == n).unwrap().1.clone();
            assert_eq!(get("event_time"), Field::TimestampMillis(1_569_888_000_000));
            assert_eq!(get("event_type"), Field::Str("view".into()));
            assert_eq!(get("item_id"), Field::Str("44600062".into()));
            assert_eq!(get("category_id"), Field::Str("2103807459595387724".into()));
            assert_eq!(get("category_path"), Field::Null);
            assert_eq!(get("brand"), Field::Str("shiseido".into()));
            assert_eq!(get("price"), Field::Double(35.79));
            assert_eq!(get("user_id"), Field::Str("541312140".into()));
            assert_eq!(
                get("session_id"),
                Field::Str("72d76fde-8bb3-4e00-8c23-a032dfed738c".into())
            );
            assert_eq!(get("order_id"), Field::Null);
            assert_eq!(get("source_line"), Field::ULong(2));
            match get("source_file") {
                Field::Str(s) => assert!(s.ends_with("2019-Oct_head.csv"), "{s}"),
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(rees46_rows, 17_434);
    assert_eq!(total, 17_434 + 84_475);
}
