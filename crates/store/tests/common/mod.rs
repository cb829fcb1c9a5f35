//! Helpers shared by the store tests.
#![allow(dead_code)]

use shopsense_events::reject::count_by_reason;
use shopsense_events::{read_file, EventTable, ReadOptions};
use shopsense_store::{FileEntry, Store, StoreError};
use std::path::{Path, PathBuf};

/// The REES46 sample.
pub fn rees46() -> PathBuf {
    repo().join("data/rees46/2019-Oct_head.csv")
}

/// The Taobao sample.
pub fn taobao() -> PathBuf {
    repo().join("data/taobao/UserBehavior_head.csv")
}

/// The workspace root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub const REES46_SHA256: &str = "bfa48d18457853e8de9c7bf491bc95aa795bdb0d55e87731a1e5d1e2a0325690";
pub const TAOBAO_SHA256: &str = "e3013a3a225cf384b66dbbd7557f50829f28bd0de2555e31604eef6891ffa0c7";

/// Reads a sample and builds its manifest entry the way the ingest job does.
pub fn read(path: &Path) -> (EventTable, FileEntry) {
    let (format, out) = read_file(path, None, &ReadOptions::default()).unwrap();
    let mut entry = FileEntry::for_file(path, format.name()).unwrap();
    entry.rejected = out.rejects.len() as u64;
    entry.rejects_by_reason = count_by_reason(&out.rejects);
    entry.duplicates = out.table.duplicate_rows().len() as u64;
    (out.table, entry)
}

/// Ingests `path` unless a file with the same bytes is already in the store; returns whether
/// it was written.
pub fn ingest(store: &mut Store, path: &Path) -> Result<bool, StoreError> {
    let sha = shopsense_store::sha256_file(path)?;
    if store.is_ingested(&sha).is_some() {
        return Ok(false);
    }
    let (table, entry) = read(path);
    store.append(&table, entry)?;
    Ok(true)
}

/// Asserts that two tables hold the same events row for row.
pub fn assert_same_rows(a: &EventTable, b: &EventTable) {
    assert_eq!(a.len(), b.len(), "row counts differ");
    for i in 0..a.len() {
        assert_eq!(a.event(i), b.event(i), "row {i} differs");
    }
}
