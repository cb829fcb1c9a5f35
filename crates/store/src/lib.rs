//! # shopsense-store
//!
//! The event store: plain Parquet partitioned by UTC day plus a JSON manifest.
//!
//! ```text
//! <dir>/manifest.json                                      schema version + one entry per source file
//! <dir>/events/date=YYYY-MM-DD/part-<run-id>-<n>.parquet   zstd Parquet, event schema v1
//! <dir>/quarantine/<source-stem>-<sha8>.jsonl              rejected rows (written by the caller)
//! ```
//!
//! * [`schema`]: the fixed, versioned Arrow schema of stored events ([`SCHEMA_VERSION`] = 1);
//! * [`convert`]: [`EventTable`](shopsense_events::EventTable) ⇄ Arrow
//!   [`RecordBatch`](arrow::array::RecordBatch);
//! * [`manifest`]: the manifest, its per-file entries and [`sha256_file`];
//! * [`Store`]: append a source file's table, skip files already ingested (by SHA-256), read
//!   everything or a time window back with day-partition and row-group pruning.
//!
//! The parts are ordinary Parquet with hive-style partition folders, so DuckDB
//! (`read_parquet('<dir>/events/*/*.parquet', hive_partitioning = true)`), Polars
//! (`pl.scan_parquet('<dir>/events/**/*.parquet')`) and Spark
//! (`spark.read.parquet('<dir>/events')`) read them as they are.

#![warn(missing_docs)]

pub mod convert;
pub mod error;
pub mod manifest;
pub mod schema;
pub mod store;

pub use convert::{append_batch, batch_to_table, rows_to_batch, table_to_batch};
pub use error::StoreError;
pub use manifest::{sha256_file, FileEntry, Manifest, PartEntry};
pub use schema::{event_schema, SCHEMA_VERSION};
pub use store::{
    is_canonical_order, read_parquet_file, sort_canonical, ReadStats, Store, TimeWindow,
    VerifyReport,
};
