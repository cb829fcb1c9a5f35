//! The manifest (`manifest.json`): schema version and one entry per ingested source file.
//!
//! ```json
//! {
//!   "schema_version": 1,
//!   "created_by": "shopsense-store 0.1.0",
//!   "files": [
//!     {
//!       "path": "data/rees46/2019-Oct_head.csv",
//!       "sha256": "bfa48d18…",
//!       "size": 2327166,
//!       "format": "rees46",
//!       "rows": 17434,
//!       "rejected": 0,
//!       "rejects_by_reason": {},
//!       "duplicates": 0,
//!       "ingested_at": "2026-11-25T17:18:20.123Z",
//!       "parts": [
//!         { "path": "events/date=2019-10-01/part-20261125T171820Z-bfa48d18-0.parquet",
//!           "date": "2019-10-01", "rows": 17434,
//!           "min_time_ms": 1569888000000, "max_time_ms": 1569890000000 }
//!       ]
//!     }
//!   ]
//! }
//! ```

use crate::error::StoreError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Version of the event schema of every part (see [`crate::SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The program that created the store.
    #[serde(default)]
    pub created_by: String,
    /// Ingested source files, in ingest order.
    #[serde(default)]
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// An empty manifest of the current schema version.
    pub fn new() -> Self {
        Manifest {
            schema_version: crate::SCHEMA_VERSION,
            created_by: format!("shopsense-store {}", env!("CARGO_PKG_VERSION")),
            files: Vec::new(),
        }
    }

    /// Total rows stored, over all files.
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// Every part, in ingest order.
    pub fn parts(&self) -> impl Iterator<Item = &PartEntry> + '_ {
        self.files.iter().flat_map(|f| f.parts.iter())
    }

    /// The distinct day partitions (`YYYY-MM-DD`), sorted.
    pub fn days(&self) -> Vec<String> {
        let mut d: Vec<String> = self.parts().map(|p| p.date.clone()).collect();
        d.sort();
        d.dedup();
        d
    }
}

impl Default for Manifest {
    fn default() -> Self {
        Self::new()
    }
}

/// One ingested source file.
///
/// The caller fills in what it knows about the source (`path`, `sha256`, `size`, `format`,
/// `rejected`, `rejects_by_reason`, `duplicates`); [`crate::Store::append`] sets `rows`,
/// `ingested_at` and `parts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The source file as the caller named it.
    pub path: String,
    /// SHA-256 of the source file's bytes, lowercase hex (see [`sha256_file`]).
    pub sha256: String,
    /// Size of the source file in bytes.
    pub size: u64,
    /// Name of the input format (`rees46`, `taobao`, …), as the caller gives it.
    pub format: String,
    /// Rows stored from this file (set by [`crate::Store::append`]).
    #[serde(default)]
    pub rows: u64,
    /// Rows rejected while reading (they went to the quarantine file).
    #[serde(default)]
    pub rejected: u64,
    /// Rejected rows by reason code (`field_count`, `bad_time`, …).
    #[serde(default)]
    pub rejects_by_reason: BTreeMap<String, u64>,
    /// Exact duplicate rows found in this file (the caller decides whether they were kept).
    #[serde(default)]
    pub duplicates: u64,
    /// When the file was ingested, RFC 3339 UTC (set by [`crate::Store::append`]).
    #[serde(default)]
    pub ingested_at: String,
    /// The Parquet parts written for this file (set by [`crate::Store::append`]).
    #[serde(default)]
    pub parts: Vec<PartEntry>,
}

impl FileEntry {
    /// An entry for a source file whose hash and size the caller already has.
    pub fn new(
        path: impl Into<String>,
        sha256: impl Into<String>,
        size: u64,
        format: &str,
    ) -> Self {
        FileEntry {
            path: path.into(),
            sha256: sha256.into(),
            size,
            format: format.to_string(),
            rows: 0,
            rejected: 0,
            rejects_by_reason: BTreeMap::new(),
            duplicates: 0,
            ingested_at: String::new(),
            parts: Vec::new(),
        }
    }

    /// An entry for the file at `path`: hashes it (streaming) and takes its size from the
    /// bytes hashed.
    pub fn for_file(path: &Path, format: &str) -> Result<Self, StoreError> {
        let (sha256, size) = hash_file(path)?;
        Ok(FileEntry::new(
            path.display().to_string(),
            sha256,
            size,
            format,
        ))
    }

    /// The first 8 hex digits of the hash, as used in file names.
    pub fn sha8(&self) -> &str {
        self.sha256.get(..8).unwrap_or(&self.sha256)
    }
}

/// One Parquet part file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartEntry {
    /// Path relative to the store folder, `/`-separated
    /// (`events/date=YYYY-MM-DD/part-<run-id>-<n>.parquet`).
    pub path: String,
    /// The UTC day of every event in the part, `YYYY-MM-DD`.
    pub date: String,
    /// Rows in the part.
    pub rows: u64,
    /// Earliest `event_time` in the part, UTC ms.
    pub min_time_ms: i64,
    /// Latest `event_time` in the part, UTC ms.
    pub max_time_ms: i64,
}

/// SHA-256 of a file's bytes as lowercase hex, reading it in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> Result<String, StoreError> {
    hash_file(path).map(|(h, _)| h)
}

/// SHA-256 (lowercase hex) and byte count of a file.
fn hash_file(path: &Path) -> Result<(String, u64), StoreError> {
    let mut f = std::fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(StoreError::io(path, e)),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex(&hasher.finalize()), size))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// True for 64 hex digits.
pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_known_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let e = FileEntry::for_file(&p, "x").unwrap();
        assert_eq!(e.size, 3);
        assert_eq!(e.sha8(), "ba7816bf");
        let err = sha256_file(&dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
