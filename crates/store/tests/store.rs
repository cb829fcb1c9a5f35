//! The store on the real REES46 and Taobao samples: round trips, day partitions, manifest,
//! re-ingest detection, windows with pruning, corruption.

mod common;

use common::*;
use shopsense_events::reject::{read_quarantine, write_quarantine};
use shopsense_events::{EventTable, RejectReason, Rejected};
use shopsense_store::{
    read_parquet_file, sort_canonical, FileEntry, Store, StoreError, TimeWindow,
};
use std::collections::BTreeMap;
use std::path::Path;

/// The UTC days of the Taobao sample and their row counts (counted independently from the
/// CSV's Unix-second timestamps).
const TAOBAO_DAYS: [(&str, u64); 14] = [
    ("2017-09-11", 1),
    ("2017-11-20", 1),
    ("2017-11-22", 1),
    ("2017-11-23", 4),
    ("2017-11-24", 1383),
    ("2017-11-25", 8328),
    ("2017-11-26", 8661),
    ("2017-11-27", 8520),
    ("2017-11-28", 8931),
    ("2017-11-29", 8642),
    ("2017-11-30", 8751),
    ("2017-12-01", 9669),
    ("2017-12-02", 11487),
    ("2017-12-03", 10096),
];

/// The `date=` folders found on disk, sorted.
fn day_folders(dir: &Path) -> Vec<String> {
    let mut days: Vec<String> = std::fs::read_dir(dir.join("events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    days.sort();
    days
}

#[test]
fn rees46_round_trips_row_for_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(dir.path()).unwrap();
    let (table, entry) = read(&rees46());
    assert_eq!(table.len(), 17_434);
    let recorded = store.append(&table, entry).unwrap().clone();
    assert_eq!(recorded.rows, 17_434);
    assert_eq!(recorded.sha256, REES46_SHA256);
    assert_eq!(recorded.size, 2_327_166);
    assert_eq!(recorded.format, "rees46");
    assert_eq!(recorded.rejected, 0);
    assert!(
        recorded.ingested_at.ends_with('Z'),
        "{}",
        recorded.ingested_at
    );
    assert_eq!(recorded.parts.len(), 1);
    let part = &recorded.parts[0];
    assert_eq!(part.date, "2019-10-01");
    assert_eq!(part.rows, 17_434);
    assert!(part.path.starts_with("events/date=2019-10-01/part-"));
    assert!(part.path.ends_with("-bfa48d18-0.parquet"), "{}", part.path);
    assert_eq!(day_folders(dir.path()), vec!["date=2019-10-01"]);

    // Read back from a freshly opened store: same events, row for row.
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.manifest().files, vec![recorded]);
    let back = store.read_all().unwrap();
    assert_same_rows(&back, &sort_canonical(&table).unwrap());
    // REES46 is already in time order, so the canonical order is the file order.
    assert_same_rows(&back, &table);
    let v = store.verify().unwrap();
    assert_eq!((v.parts, v.rows, v.orphans.len()), (1, 17_434, 0));
    // A part is also readable on its own, as any Parquet file in the event schema.
    let part = read_parquet_file(&store.part_paths()[0], TimeWindow::ALL).unwrap();
    assert_same_rows(&part, &table);
}

#[test]
fn taobao_round_trips_into_its_exact_day_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(dir.path()).unwrap();
    let (table, entry) = read(&taobao());
    assert_eq!(table.len(), 84_475);
    let recorded = store.append(&table, entry).unwrap().clone();
    assert_eq!(recorded.rows, 84_475);
    assert_eq!(recorded.format, "taobao");
    assert_eq!(recorded.sha256, TAOBAO_SHA256);

    let by_day: Vec<(String, u64)> = recorded
        .parts
        .iter()
        .map(|p| (p.date.clone(), p.rows))
        .collect();
    let expected: Vec<(String, u64)> = TAOBAO_DAYS
        .iter()
        .map(|(d, n)| (d.to_string(), *n))
        .collect();
    assert_eq!(by_day, expected);
    let folders: Vec<String> = TAOBAO_DAYS
        .iter()
        .map(|(d, _)| format!("date={d}"))
        .collect();
    assert_eq!(day_folders(dir.path()), folders);
    for p in &recorded.parts {
        // Every event of a part lies in its day.
        let day = shopsense_events::time::parse_date(&p.date).unwrap() * 86_400_000;
        assert!(
            p.min_time_ms >= day && p.max_time_ms < day + 86_400_000,
            "{p:?}"
        );
        assert!(dir.path().join(&p.path).is_file());
    }

    let back = store.read_all().unwrap();
    assert_same_rows(&back, &sort_canonical(&table).unwrap());
}

#[test]
fn reingesting_the_same_bytes_is_detected_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(dir.path()).unwrap();
    assert!(ingest(&mut store, &rees46()).unwrap());
    let manifest_before = std::fs::read(store.manifest_path()).unwrap();

    // Same file again, through a reopened store: skipped, nothing written.
    let mut store = Store::open_or_create(dir.path()).unwrap();
    assert!(store.is_ingested(REES46_SHA256).is_some());
    assert!(store.is_ingested(&REES46_SHA256.to_uppercase()).is_some());
    assert!(!ingest(&mut store, &rees46()).unwrap());

    // The same bytes under another name are the same file.
    let copy = dir.path().join("renamed.csv");
    std::fs::copy(rees46(), &copy).unwrap();
    assert!(!ingest(&mut store, &copy).unwrap());

    // Appending it anyway is refused, naming both paths.
    let (table, entry) = read(&copy);
    match store.append(&table, entry) {
        Err(e @ StoreError::AlreadyIngested { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("renamed.csv") && msg.contains("2019-Oct_head.csv"),
                "{msg}"
            );
        }
        other => panic!("expected AlreadyIngested, got {other:?}"),
    }
    assert_eq!(
        std::fs::read(store.manifest_path()).unwrap(),
        manifest_before
    );
    assert_eq!(store.manifest().files.len(), 1);
    assert_eq!(store.read_all().unwrap().len(), 17_434);
    assert_eq!(day_folders(dir.path()), vec!["date=2019-10-01"]);
    let parts = std::fs::read_dir(dir.path().join("events/date=2019-10-01"))
        .unwrap()
        .count();
    assert_eq!(parts, 1);
}

#[test]
fn a_second_file_appends_to_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(dir.path()).unwrap();
    assert!(ingest(&mut store, &taobao()).unwrap());
    assert!(ingest(&mut store, &rees46()).unwrap());

    let store = Store::open(dir.path()).unwrap();
    let m = store.manifest();
    assert_eq!(m.schema_version, 1);
    let files: Vec<(&str, &str, u64)> = m
        .files
        .iter()
        .map(|f| (f.format.as_str(), f.sha256.as_str(), f.rows))
        .collect();
    assert_eq!(
        files,
        vec![
            ("taobao", TAOBAO_SHA256, 84_475),
            ("rees46", REES46_SHA256, 17_434)
        ]
    );
    assert_eq!(m.rows(), 101_909);
    assert_eq!(m.days().len(), 15);
    assert_eq!(day_folders(dir.path()).len(), 15);

    let mut both = read(&taobao()).0;
    both.append(&read(&rees46()).0);
    let back = store.read_all().unwrap();
    assert_same_rows(&back, &sort_canonical(&both).unwrap());
    // The manifest is plain JSON with the documented fields.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.manifest_path()).unwrap()).unwrap();
    let f = &json["files"][1];
    for key in [
        "path",
        "sha256",
        "size",
        "format",
        "rows",
        "rejected",
        "rejects_by_reason",
        "duplicates",
        "ingested_at",
        "parts",
    ] {
        assert!(!f[key].is_null(), "manifest entry lacks {key}: {f}");
    }
    assert_eq!(json["schema_version"], 1);
}

#[test]
fn time_window_prunes_days_and_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(dir.path()).unwrap();
    store.set_row_group_rows(1000);
    let (table, entry) = read(&taobao());
    store.append(&table, entry).unwrap();

    // 2017-11-26 06:00 to 12:00 UTC: one day partition, a few of its row groups.
    let from = 1_511_676_000_000;
    let to = from + 6 * 3_600_000;
    let (got, stats) = store
        .read_window_with_stats(TimeWindow::new(Some(from), Some(to)))
        .unwrap();
    let mut want = table.clone();
    want.retain_time_window(Some(from), Some(to));
    assert!(!want.is_empty());
    assert_same_rows(&got, &sort_canonical(&want).unwrap());
    assert_eq!(stats.parts_total, 14);
    assert_eq!(stats.parts_read, 1);
    assert_eq!(stats.row_groups_total, 9); // 8,661 rows in groups of 1,000
    assert!(stats.row_groups_read < 9, "{stats:?}");
    assert_eq!(stats.rows_kept, want.len() as u64);

    // Open-ended windows.
    let dec = 1_512_086_400_000; // 2017-12-01
    let (late, stats) = store
        .read_window_with_stats(TimeWindow::new(Some(dec), None))
        .unwrap();
    assert_eq!(late.len(), 9669 + 11487 + 10096);
    assert_eq!(stats.parts_read, 3);
    let early = store
        .read_window(TimeWindow::new(None, Some(1_511_481_600_000))) // before 2017-11-24
        .unwrap();
    assert_eq!(early.len(), 1 + 1 + 1 + 4);
    assert_eq!(store.read_window(TimeWindow::ALL).unwrap().len(), 84_475);
}

#[test]
fn truncated_or_corrupted_parts_give_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(dir.path()).unwrap();
    ingest(&mut store, &rees46()).unwrap();
    let part = store.part_paths()[0].clone();
    let name = part.file_name().unwrap().to_string_lossy().into_owned();
    let good = std::fs::read(&part).unwrap();

    // Truncated: the footer is gone.
    std::fs::write(&part, &good[..good.len() / 2]).unwrap();
    let err = store.read_all().unwrap_err();
    assert!(matches!(err, StoreError::Parquet { .. }), "{err:?}");
    assert!(err.to_string().contains(&name), "{err}");
    let err = store.verify().unwrap_err();
    assert!(err.to_string().contains(&name), "{err}");

    // Corrupted: footer intact, data pages overwritten.
    let mut bad = good.clone();
    for b in &mut bad[4..good.len() / 2] {
        *b = 0xA5;
    }
    std::fs::write(&part, &bad).unwrap();
    let err = store.read_all().unwrap_err();
    assert!(
        matches!(err, StoreError::Decode { .. } | StoreError::Parquet { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&name), "{err}");

    // Not Parquet at all.
    std::fs::write(&part, b"hello").unwrap();
    let err = store.read_all().unwrap_err();
    assert!(err.to_string().contains(&name), "{err}");

    // Missing.
    std::fs::remove_file(&part).unwrap();
    let err = store.read_all().unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains(&name), "{err}");

    // Restored: fine again.
    std::fs::write(&part, &good).unwrap();
    assert_eq!(store.read_all().unwrap().len(), 17_434);
}

#[test]
fn a_valid_part_with_other_rows_is_caught_by_the_manifest_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(dir.path()).unwrap();
    ingest(&mut store, &taobao()).unwrap();
    let parts = store.part_paths();
    // Swap two day parts of different sizes: both stay valid Parquet.
    let (a, b) = (&parts[5], &parts[6]);
    let (ba, bb) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    std::fs::write(a, &bb).unwrap();
    std::fs::write(b, &ba).unwrap();
    let err = store.read_all().unwrap_err();
    assert!(
        matches!(err, StoreError::RowCountMismatch { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("date=2017-11-25"), "{err}");
}

#[test]
fn bad_manifests_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
    Store::open_or_create(dir.path()).unwrap();
    let path = dir.path().join("manifest.json");
    std::fs::write(&path, b"{ not json").unwrap();
    let err = Store::open_or_create(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Manifest { .. }), "{err:?}");
    assert!(err.to_string().contains("manifest.json"), "{err}");
    std::fs::write(&path, br#"{"schema_version": 2, "files": []}"#).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::UnsupportedSchemaVersion {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn bad_entries_and_empty_tables() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(dir.path()).unwrap();
    let empty = EventTable::new();
    let err = store
        .append(&empty, FileEntry::new("x.csv", "abc", 0, "rees46"))
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidEntry { .. }), "{err:?}");

    // A file whose rows were all rejected is still recorded (and so skipped next time).
    let sha = "0".repeat(64);
    let mut entry = FileEntry::new("all_bad.csv", sha.clone(), 10, "taobao");
    entry.rejected = 3;
    entry.rejects_by_reason = BTreeMap::from([("bad_time".to_string(), 3)]);
    let e = store.append(&empty, entry).unwrap();
    assert_eq!((e.rows, e.parts.len()), (0, 0));
    assert!(store.is_ingested(&sha).is_some());
    assert!(store.read_all().unwrap().is_empty());
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.manifest().files[0].rejects_by_reason["bad_time"], 3);
}

#[test]
fn quarantine_goes_beside_the_parts_by_convention() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_or_create(dir.path()).unwrap();
    let entry = FileEntry::for_file(&rees46(), "rees46").unwrap();
    let q = store.quarantine_path(&entry);
    assert_eq!(
        q,
        dir.path().join("quarantine/2019-Oct_head-bfa48d18.jsonl")
    );
    let rejects = vec![Rejected::new(
        &entry.path,
        7,
        b"2019-10-01 00:00:00 UTC,view",
        RejectReason::FieldCount {
            expected: 9,
            found: 2,
        },
    )];
    write_quarantine(&q, &rejects).unwrap();
    assert_eq!(read_quarantine(&q).unwrap(), rejects);
    // The quarantine folder is not part of the event data.
    assert!(store.read_all().unwrap().is_empty());
    assert!(store.verify().unwrap().orphans.is_empty());
}

#[test]
fn verify_lists_orphans_left_by_an_interrupted_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(dir.path()).unwrap();
    ingest(&mut store, &rees46()).unwrap();
    let stray = dir
        .path()
        .join("events/date=2019-10-01/part-20000101T000000Z-deadbeef-0.parquet");
    std::fs::copy(&store.part_paths()[0], &stray).unwrap();
    let report = store.verify().unwrap();
    assert_eq!(report.orphans, vec![stray]);
    // Readers of the store go by the manifest, not by globbing.
    assert_eq!(store.read_all().unwrap().len(), 17_434);
}
