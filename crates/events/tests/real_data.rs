//! Exact numbers on the real samples bundled in `data/`, and identical results through every
//! reading path (plain, gzip, parallel byte ranges, a mapping file).

mod common;

use common::{assert_same_table, data, example, kind_counts};
use flate2::write::GzEncoder;
use flate2::Compression;
use shopsense_events::formats::mapped::read_mapped;
use shopsense_events::{read_file, read_file_with, Format, ReadOptions, ReadOutput, Source};
use std::io::Write;
use std::path::Path;

fn read(path: &Path, format: Option<Format>, opts: &ReadOptions) -> ReadOutput {
    let (f, out) = read_file(path, format, opts).unwrap();
    if let Some(want) = format {
        assert_eq!(f, want);
    }
    out
}

fn sequential() -> ReadOptions {
    ReadOptions {
        threads: 1,
        ..ReadOptions::default()
    }
}

/// Forces the parallel byte-range path on a small file.
fn parallel(threads: usize) -> ReadOptions {
    ReadOptions {
        threads,
        parallel_min_bytes: Some(1),
        ..ReadOptions::default()
    }
}

fn gzip_copy(src: &Path, dir: &Path) -> std::path::PathBuf {
    let dst = dir.join(format!("{}.gz", src.file_name().unwrap().to_string_lossy()));
    let mut enc = GzEncoder::new(std::fs::File::create(&dst).unwrap(), Compression::fast());
    enc.write_all(&std::fs::read(src).unwrap()).unwrap();
    enc.finish().unwrap();
    dst
}

#[test]
fn rees46_head_exact_counts() {
    let path = data("rees46/2019-Oct_head.csv");
    let (format, out) = read_file(&path, None, &sequential()).unwrap();
    assert_eq!(format, Format::Rees46);
    let t = &out.table;
    assert_eq!(t.len(), 17_434);
    assert_eq!(out.lines, 17_434);
    assert_eq!(out.blank_lines, 0);
    assert!(out.rejects.is_empty(), "{:?}", out.rejects.first());
    assert_eq!(t.users.len(), 4_504);
    assert_eq!(t.items.len(), 6_493);
    assert_eq!(t.categories.len(), 434);
    assert_eq!(t.brands.len(), 864);
    assert_eq!(t.sessions.len(), 5_066);
    assert!(t.has_native_sessions());
    assert_eq!(kind_counts(t), [17_055, 165, 0, 214, 0, 0]);
    assert_eq!(t.duplicate_rows().len(), 5);
    // Line numbers are 1-based and count the header.
    assert_eq!(t.line.first(), Some(&2));
    assert_eq!(t.line.last(), Some(&17_435));
    let e = t.event(0);
    assert_eq!(e.time_ms, 1_569_888_000_000);
    assert_eq!(e.item_id, "44600062");
    assert_eq!(e.brand.as_deref(), Some("shiseido"));
    assert_eq!(e.price, Some(35.79));
    assert_eq!(e.category_path, None);
    assert_eq!(
        e.session_id.as_deref(),
        Some("72d76fde-8bb3-4e00-8c23-a032dfed738c")
    );
    assert_eq!(
        t.event(1).category_path.as_deref(),
        Some("appliances.environment.water_heater")
    );
}

#[test]
fn rees46_gzip_and_parallel_ranges_give_identical_tables() {
    let path = data("rees46/2019-Oct_head.csv");
    let base = read(&path, Some(Format::Rees46), &sequential());
    for threads in [2, 3, 7] {
        let par = read(&path, Some(Format::Rees46), &parallel(threads));
        assert_same_table(&base.table, &par.table, true);
        assert_eq!(par.lines, base.lines);
        assert!(par.rejects.is_empty());
    }
    let dir = tempfile::tempdir().unwrap();
    let gz = gzip_copy(&path, dir.path());
    let (format, out) = read_file(&gz, None, &parallel(2)).unwrap();
    assert_eq!(format, Format::Rees46, "detected through gzip");
    assert_same_table(&base.table, &out.table, false);
    assert_eq!(out.lines, 17_434);
    assert!(out.rejects.is_empty());
}

#[test]
fn taobao_head_exact_counts() {
    let path = data("taobao/UserBehavior_head.csv");
    let (format, out) = read_file(&path, None, &sequential()).unwrap();
    assert_eq!(format, Format::Taobao);
    let t = &out.table;
    assert_eq!(t.len(), 84_475);
    assert!(out.rejects.is_empty());
    assert_eq!(t.users.len(), 815);
    assert_eq!(t.items.len(), 55_368);
    assert_eq!(t.categories.len(), 2_914);
    assert_eq!(t.sessions.len(), 0);
    assert_eq!(kind_counts(t), [75_872, 4_497, 0, 1_750, 2_356, 0]);
    assert_eq!(t.line.first(), Some(&1), "no header");
    let e = t.event(0);
    assert_eq!(
        (e.user_id.as_str(), e.item_id.as_str(), e.time_ms),
        ("1", "2268318", 1_511_544_070_000)
    );
    let par = read(&path, Some(Format::Taobao), &parallel(2));
    assert_same_table(t, &par.table, true);
}

#[test]
fn otto_fixture_exact_counts() {
    let path = data("otto/train_fixture_20_sessions.jsonl");
    let (format, out) = read_file(&path, None, &sequential()).unwrap();
    assert_eq!(format, Format::Otto);
    let t = &out.table;
    assert!(out.rejects.is_empty(), "{:?}", out.rejects.first());
    assert_eq!(out.lines, 20);
    assert_eq!(t.len(), 862);
    assert_eq!(t.sessions.len(), 20);
    assert_eq!(t.users.len(), 20, "the user is the session");
    assert_eq!(t.items.len(), 510);
    assert_eq!(kind_counts(t), [800, 52, 0, 10, 0, 0]);
    assert!(t.has_native_sessions());
    for i in 0..t.len() {
        assert_eq!(t.users.get(t.user[i]), t.sessions.get(t.session[i]));
    }
    // All events of a session come from its line, in order.
    let mut lines = t.line.clone();
    lines.dedup();
    assert_eq!(lines, (1..=20).collect::<Vec<u64>>());
    let e = t.event(0);
    assert_eq!(
        (e.user_id.as_str(), e.item_id.as_str(), e.time_ms),
        ("0", "1517085", 1_659_304_800_025)
    );
    let par = read(&path, Some(Format::Otto), &parallel(2));
    assert_same_table(t, &par.table, true);
    let dir = tempfile::tempdir().unwrap();
    let gz = gzip_copy(&path, dir.path());
    let (format, gz) = read_file(&gz, None, &sequential()).unwrap();
    assert_eq!(format, Format::Otto);
    assert_same_table(t, &gz.table, false);
}

#[test]
fn taobao_through_mapping_equals_native_reader() {
    let path = data("taobao/UserBehavior_head.csv");
    let native = read(&path, Some(Format::Taobao), &sequential());
    let mapping = example("mappings/taobao_userbehavior.toml");
    let mapped = read_mapped(&path, &mapping, &sequential()).unwrap();
    assert!(mapped.rejects.is_empty(), "{:?}", mapped.rejects.first());
    assert_eq!(mapped.lines, native.lines);
    assert_same_table(&native.table, &mapped.table, true);
    // The same through the generic entry point, in parallel ranges.
    let (format, par) = read_file_with(&path, &Source::mapped(&mapping), &parallel(2)).unwrap();
    assert_eq!(format, Format::Mapped);
    assert_same_table(&native.table, &par.table, true);
}

#[test]
fn rees46_through_mapping_equals_native_reader() {
    let path = data("rees46/2019-Oct_head.csv");
    let native = read(&path, Some(Format::Rees46), &sequential());
    let source = Source {
        format: None,
        mapping: Some(example("mappings/rees46.toml")),
    };
    let (format, mapped) = read_file_with(&path, &source, &sequential()).unwrap();
    assert_eq!(format, Format::Mapped);
    assert!(mapped.rejects.is_empty(), "{:?}", mapped.rejects.first());
    assert_same_table(&native.table, &mapped.table, true);
}

#[test]
fn mapping_and_format_must_agree() {
    let path = data("rees46/2019-Oct_head.csv");
    let err = read_file(&path, Some(Format::Mapped), &sequential()).unwrap_err();
    assert!(err.to_string().contains("needs a mapping file"), "{err}");
    let source = Source {
        format: Some(Format::Rees46),
        mapping: Some(example("mappings/rees46.toml")),
    };
    let err = read_file_with(&path, &source, &sequential()).unwrap_err();
    assert!(
        err.to_string().contains("only applies to format `mapped`"),
        "{err}"
    );
}

#[test]
fn projection_keeps_rows_and_drops_only_the_unrequested_columns() {
    let path = data("rees46/2019-Oct_head.csv");
    let (_, full) = read_file(&path, None, &sequential()).unwrap();
    let core = ReadOptions {
        columns: shopsense_events::read::Columns::CORE,
        ..parallel(2)
    };
    let (_, proj) = read_file(&path, None, &core).unwrap();
    assert_eq!(proj.table.len(), 17_434);
    assert_eq!(proj.rejects.len(), full.rejects.len());
    assert_eq!(proj.table.time_ms, full.table.time_ms);
    assert_eq!(proj.table.user, full.table.user);
    assert_eq!(proj.table.session, full.table.session);
    assert_eq!(proj.table.item, full.table.item);
    assert_eq!(proj.table.kind, full.table.kind);
    assert!(proj.table.brands.is_empty());
    assert!(proj.table.categories.is_empty());
    assert!(proj
        .table
        .brand
        .iter()
        .all(|&b| b == shopsense_events::NONE));
}
