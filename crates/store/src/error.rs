//! Errors of the store crate.

use std::path::{Path, PathBuf};

/// Everything that can go wrong writing or reading the store. Every variant names the file
/// (or, for in-memory record batches, the origin the caller gave) it is about.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O error on a file or folder.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A Parquet file could not be written or read (corrupt, truncated, not Parquet, …).
    #[error("{path}: not a readable Parquet part: {source}")]
    Parquet {
        /// The Parquet file.
        path: PathBuf,
        /// The cause.
        source: parquet::errors::ParquetError,
    },
    /// The data pages of a Parquet file could not be decoded (corrupt part).
    #[error("{path}: corrupt Parquet part, cannot decode its data: {source}")]
    Decode {
        /// The Parquet file.
        path: PathBuf,
        /// The cause.
        source: arrow::error::ArrowError,
    },
    /// Arrow refused to build a record batch.
    #[error("{origin}: {source}")]
    Arrow {
        /// The file or origin of the batch.
        origin: String,
        /// The cause.
        source: arrow::error::ArrowError,
    },
    /// A column of the event schema is missing.
    #[error("{origin}: missing column `{column}` (event schema version {version})", version = crate::SCHEMA_VERSION)]
    MissingColumn {
        /// The file or origin of the batch.
        origin: String,
        /// The missing column.
        column: &'static str,
    },
    /// A column has a type the event schema does not allow.
    #[error("{origin}: column `{column}` has type {found}, expected {expected}")]
    WrongType {
        /// The file or origin of the batch.
        origin: String,
        /// The column.
        column: &'static str,
        /// The type found.
        found: String,
        /// The types accepted.
        expected: &'static str,
    },
    /// A required column holds a null.
    #[error("{origin}: column `{column}` is null at row {row}, but it is required")]
    NullValue {
        /// The file or origin of the batch.
        origin: String,
        /// The column.
        column: &'static str,
        /// 0-based row within the batch.
        row: usize,
    },
    /// A value is out of the range the event table can hold.
    #[error("{origin}: column `{column}` at row {row}: {message}")]
    BadValue {
        /// The file or origin of the batch.
        origin: String,
        /// The column.
        column: &'static str,
        /// 0-based row within the batch.
        row: usize,
        /// What is wrong.
        message: String,
    },
    /// The event table handed to the store is inconsistent (columns of different lengths,
    /// ids out of range, too many rows or source files).
    #[error("invalid event table: {message}")]
    InvalidTable {
        /// What is wrong.
        message: String,
    },
    /// The manifest cannot be read or parsed.
    #[error("{path}: bad manifest: {message}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The folder has no manifest (see [`crate::Store::open_or_create`]).
    #[error("{path}: not a shopsense store (no manifest.json)")]
    NotAStore {
        /// The folder.
        path: PathBuf,
    },
    /// The store was written by a newer version of the schema than this build knows.
    #[error("{path}: schema version {found} is newer than the supported version {supported}; upgrade shopsense")]
    UnsupportedSchemaVersion {
        /// The manifest file.
        path: PathBuf,
        /// The version found.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A file with the same sha256 is already in the store.
    #[error("{path}: already ingested (sha256 {sha256}, as {earlier} at {ingested_at})")]
    AlreadyIngested {
        /// The file being appended.
        path: String,
        /// Its sha256.
        sha256: String,
        /// The path recorded when it was first ingested.
        earlier: String,
        /// When it was first ingested.
        ingested_at: String,
    },
    /// A manifest entry handed to [`crate::Store::append`] is not valid.
    #[error("{path}: invalid file entry: {message}")]
    InvalidEntry {
        /// The source file of the entry.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A part holds a different number of rows than the manifest records.
    #[error("{path}: holds {found} rows but the manifest records {expected}; the part was changed or truncated after ingest")]
    RowCountMismatch {
        /// The part file.
        path: PathBuf,
        /// Rows recorded in the manifest.
        expected: u64,
        /// Rows in the file.
        found: u64,
    },
}

impl StoreError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A Parquet error on `path`.
    pub fn parquet(path: &Path, source: parquet::errors::ParquetError) -> Self {
        StoreError::Parquet {
            path: path.to_path_buf(),
            source,
        }
    }
}
