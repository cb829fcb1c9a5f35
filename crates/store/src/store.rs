//! The store folder: day-partitioned Parquet parts plus `manifest.json`.

use crate::convert::{append_batch, check_table, rows_to_batch_checked};
use crate::error::StoreError;
use crate::manifest::{is_sha256_hex, FileEntry, Manifest, PartEntry};
use crate::schema::{event_schema, COLUMNS, EVENT_TIME, SCHEMA_VERSION, SCHEMA_VERSION_KEY};
use arrow::datatypes::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::{KeyValue, ParquetMetaData, SortingColumn};
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use shopsense_events::EventTable;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Name of the manifest file in the store folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Folder of the day partitions in the store folder.
pub const EVENTS_DIR: &str = "events";
/// Folder of the quarantine files in the store folder.
pub const QUARANTINE_DIR: &str = "quarantine";
/// Default rows per Parquet row group.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 256 * 1024;
/// zstd level of the parts.
pub const ZSTD_LEVEL: i32 = 3;
/// Rows per record batch when writing and reading.
const BATCH_ROWS: usize = 64 * 1024;
/// Milliseconds per day.
const DAY_MS: i64 = 86_400_000;

/// A half-open time window `from_ms <= event_time < to_ms` in UTC ms; either bound optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeWindow {
    /// Inclusive lower bound.
    pub from_ms: Option<i64>,
    /// Exclusive upper bound.
    pub to_ms: Option<i64>,
}

impl TimeWindow {
    /// No bounds: everything.
    pub const ALL: TimeWindow = TimeWindow {
        from_ms: None,
        to_ms: None,
    };

    /// A window with the given bounds.
    pub fn new(from_ms: Option<i64>, to_ms: Option<i64>) -> Self {
        TimeWindow { from_ms, to_ms }
    }

    /// True when `t` is inside the window.
    #[inline]
    pub fn contains(&self, t: i64) -> bool {
        self.from_ms.is_none_or(|f| t >= f) && self.to_ms.is_none_or(|e| t < e)
    }

    /// True when the closed range `[min, max]` has a point inside the window.
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        min <= max && self.from_ms.is_none_or(|f| max >= f) && self.to_ms.is_none_or(|e| min < e)
    }
}

/// What a read touched, to show (and test) pruning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Parts in the manifest.
    pub parts_total: usize,
    /// Parts opened (the others were pruned by their day and time range).
    pub parts_read: usize,
    /// Row groups in the parts opened.
    pub row_groups_total: usize,
    /// Row groups decoded (the others were pruned by their `event_time` statistics).
    pub row_groups_read: usize,
    /// Rows decoded.
    pub rows_decoded: u64,
    /// Rows kept (inside the window).
    pub rows_kept: u64,
}

/// What [`Store::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Parts checked.
    pub parts: usize,
    /// Rows in them.
    pub rows: u64,
    /// Files under `events/` that no manifest entry lists (left by an interrupted append;
    /// safe to delete, and they should be, since globbing readers would see them).
    pub orphans: Vec<PathBuf>,
}

/// A store folder:
///
/// ```text
/// <dir>/manifest.json
/// <dir>/events/date=YYYY-MM-DD/part-<run-id>-<n>.parquet
/// <dir>/quarantine/<source-stem>-<sha8>.jsonl
/// ```
///
/// Parts are plain Parquet (zstd, the event schema of [`crate::schema`]) in hive-style
/// day partitions by the UTC day of `event_time`, readable by DuckDB, Polars or Spark as
/// `events/*/*.parquet`. Within a part rows are sorted by (`event_time`, source file,
/// `source_line`). The `<run-id>` of an append is `<UTC time of ingest>-<sha8 of the source>`
/// and `<n>` counts its parts.
///
/// One writer at a time: appends are not locked against concurrent writers.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    manifest: Manifest,
    row_group_rows: usize,
}

impl Store {
    /// Opens the store at `dir`, creating the folder and an empty manifest when there is no
    /// manifest yet.
    pub fn open_or_create(dir: impl AsRef<Path>) -> Result<Store, StoreError> {
        let dir = dir.as_ref();
        if dir.join(MANIFEST_FILE).exists() {
            return Store::open(dir);
        }
        let events = dir.join(EVENTS_DIR);
        std::fs::create_dir_all(&events).map_err(|e| StoreError::io(&events, e))?;
        let store = Store {
            dir: dir.to_path_buf(),
            manifest: Manifest::new(),
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
        };
        store.write_manifest(&store.manifest)?;
        Ok(store)
    }

    /// Opens an existing store; fails with [`StoreError::NotAStore`] when `dir` has no
    /// manifest.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store, StoreError> {
        let dir = dir.as_ref();
        let path = dir.join(MANIFEST_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotAStore {
                    path: dir.to_path_buf(),
                })
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Manifest {
                path: path.clone(),
                message: e.to_string(),
            })?;
        if manifest.schema_version > SCHEMA_VERSION {
            return Err(StoreError::UnsupportedSchemaVersion {
                path,
                found: manifest.schema_version,
                supported: SCHEMA_VERSION,
            });
        }
        if let Some(bad) = manifest.parts().find(|p| !is_part_path(&p.path)) {
            return Err(StoreError::Manifest {
                path,
                message: format!(
                    "part path {:?} is not a relative path under {EVENTS_DIR}/",
                    bad.path
                ),
            });
        }
        if manifest.schema_version == 0 {
            return Err(StoreError::Manifest {
                path,
                message: "schema_version 0 is not a valid version".to_string(),
            });
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            manifest,
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
        })
    }

    /// The store folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest as last written.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Path of `manifest.json`.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(MANIFEST_FILE)
    }

    /// Sets the rows per Parquet row group of later appends (at least 1; default
    /// [`DEFAULT_ROW_GROUP_ROWS`]).
    pub fn set_row_group_rows(&mut self, rows: usize) {
        self.row_group_rows = rows.max(1);
    }

    /// The entry of an already ingested source file with this SHA-256 (hex, any case).
    pub fn is_ingested(&self, sha256: &str) -> Option<&FileEntry> {
        self.manifest
            .files
            .iter()
            .find(|f| f.sha256.eq_ignore_ascii_case(sha256))
    }

    /// Where the quarantine file of a source file goes:
    /// `<dir>/quarantine/<source-file-stem>-<sha8>.jsonl` (the stem without compression and
    /// format extensions, e.g. `UserBehavior` for `UserBehavior.csv.gz`). The caller writes
    /// it (`shopsense_events::reject::write_quarantine`).
    pub fn quarantine_path(&self, entry: &FileEntry) -> PathBuf {
        self.dir.join(QUARANTINE_DIR).join(format!(
            "{}-{}.jsonl",
            source_stem(&entry.path),
            entry.sha8().to_ascii_lowercase()
        ))
    }

    /// Absolute paths of every part, in manifest order.
    pub fn part_paths(&self) -> Vec<PathBuf> {
        self.manifest
            .parts()
            .map(|p| self.dir.join(&p.path))
            .collect()
    }

    /// Writes the events of `table` (one source file's good rows) as day partitions and
    /// records `entry` in the manifest, setting its `rows`, `ingested_at` and `parts`.
    ///
    /// Atomic for readers of the manifest: each part is written to a hidden temporary file
    /// and renamed, then the manifest is replaced through a temporary file and a rename. If
    /// anything fails, the parts written so far are removed and the manifest is unchanged.
    /// A table with no rows records the entry with no parts (so the file still counts as
    /// ingested).
    ///
    /// Fails with [`StoreError::AlreadyIngested`] when a file with the same SHA-256 is
    /// already in the manifest (check [`Store::is_ingested`] first to skip it before reading
    /// it), and with [`StoreError::InvalidEntry`] when `entry.sha256` is not 64 hex digits.
    pub fn append(
        &mut self,
        table: &EventTable,
        mut entry: FileEntry,
    ) -> Result<&FileEntry, StoreError> {
        if !is_sha256_hex(&entry.sha256) {
            return Err(StoreError::InvalidEntry {
                path: entry.path,
                message: format!("sha256 {:?} is not 64 hex digits", entry.sha256),
            });
        }
        entry.sha256.make_ascii_lowercase();
        if let Some(earlier) = self.is_ingested(&entry.sha256) {
            return Err(StoreError::AlreadyIngested {
                path: entry.path,
                sha256: entry.sha256,
                earlier: earlier.path.clone(),
                ingested_at: earlier.ingested_at.clone(),
            });
        }
        check_table(table)?;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let run_id = format!("{}-{}", compact_utc(now_ms), entry.sha8());

        // Rows sorted by (time, file, line): day runs are then contiguous.
        let t = table;
        let mut perm: Vec<u32> = (0..t.len() as u32).collect();
        perm.sort_unstable_by_key(|&r| {
            let r = r as usize;
            (t.time_ms[r], t.file[r], t.line[r])
        });
        let mut parts: Vec<PartEntry> = Vec::new();
        let mut start = 0;
        while start < perm.len() {
            let day = t.time_ms[perm[start] as usize].div_euclid(DAY_MS);
            let len = perm[start..]
                .iter()
                .position(|&r| t.time_ms[r as usize].div_euclid(DAY_MS) != day)
                .unwrap_or(perm.len() - start);
            let rows = &perm[start..start + len];
            match self.write_part(t, rows, &format_date(day), &run_id, parts.len()) {
                Ok(p) => parts.push(p),
                Err(e) => {
                    self.remove_parts(&parts);
                    return Err(e);
                }
            }
            start += len;
        }

        entry.rows = t.len() as u64;
        entry.ingested_at = shopsense_events::time::format_ms(now_ms);
        entry.parts = parts;
        let mut next = self.manifest.clone();
        next.schema_version = SCHEMA_VERSION;
        next.files.push(entry);
        if let Err(e) = self.write_manifest(&next) {
            if let Some(entry) = next.files.last() {
                self.remove_parts(&entry.parts);
            }
            return Err(e);
        }
        self.manifest = next;
        self.manifest
            .files
            .last()
            .ok_or_else(|| StoreError::InvalidTable {
                message: "manifest lost its last entry".to_string(),
            })
    }

    fn writer_properties(&self) -> Result<WriterProperties, StoreError> {
        let level = ZstdLevel::try_new(ZSTD_LEVEL).map_err(|e| StoreError::Parquet {
            path: self.dir.clone(),
            source: e,
        })?;
        Ok(WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_key_value_metadata(Some(vec![KeyValue::new(
                SCHEMA_VERSION_KEY.to_string(),
                SCHEMA_VERSION.to_string(),
            )]))
            .set_sorting_columns(Some(vec![SortingColumn {
                column_idx: 0,
                descending: false,
                nulls_first: false,
            }]))
            .build())
    }

    /// Writes the rows `rows` (sorted, all of UTC day `date`) as one part.
    fn write_part(
        &self,
        t: &EventTable,
        rows: &[u32],
        date: &str,
        run_id: &str,
        n: usize,
    ) -> Result<PartEntry, StoreError> {
        let rel_dir = format!("{EVENTS_DIR}/date={date}");
        let abs_dir = self.dir.join(EVENTS_DIR).join(format!("date={date}"));
        std::fs::create_dir_all(&abs_dir).map_err(|e| StoreError::io(&abs_dir, e))?;
        let name = format!("part-{run_id}-{n}.parquet");
        let path = abs_dir.join(&name);
        if path.exists() {
            return Err(StoreError::io(
                &path,
                std::io::Error::new(std::io::ErrorKind::AlreadyExists, "part already exists"),
            ));
        }
        let tmp = abs_dir.join(format!(".{name}.tmp"));
        let result = self
            .write_parquet(t, rows, &tmp)
            .and_then(|()| std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, e)));
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        let first = rows.first().map(|&r| t.time_ms[r as usize]).unwrap_or(0);
        let last = rows.last().map(|&r| t.time_ms[r as usize]).unwrap_or(0);
        Ok(PartEntry {
            path: format!("{rel_dir}/{name}"),
            date: date.to_string(),
            rows: rows.len() as u64,
            min_time_ms: first,
            max_time_ms: last,
        })
    }

    fn write_parquet(&self, t: &EventTable, rows: &[u32], path: &Path) -> Result<(), StoreError> {
        let file = File::create(path).map_err(|e| StoreError::io(path, e))?;
        let mut w = ArrowWriter::try_new(file, event_schema(), Some(self.writer_properties()?))
            .map_err(|e| StoreError::parquet(path, e))?;
        for chunk in rows.chunks(BATCH_ROWS) {
            let batch = rows_to_batch_checked(t, chunk)?;
            w.write(&batch).map_err(|e| StoreError::parquet(path, e))?;
        }
        let file = w.into_inner().map_err(|e| StoreError::parquet(path, e))?;
        file.sync_all().map_err(|e| StoreError::io(path, e))
    }

    fn remove_parts(&self, parts: &[PartEntry]) {
        for p in parts {
            let _ = std::fs::remove_file(self.dir.join(&p.path));
        }
    }

    /// Replaces the manifest atomically: temporary file, fsync, rename, fsync of the folder.
    fn write_manifest(&self, m: &Manifest) -> Result<(), StoreError> {
        let path = self.manifest_path();
        let tmp = self.dir.join(format!("{MANIFEST_FILE}.tmp"));
        let mut json = serde_json::to_vec_pretty(m).map_err(|e| StoreError::Manifest {
            path: path.clone(),
            message: e.to_string(),
        })?;
        json.push(b'\n');
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(StoreError::io(&tmp, e));
        }
        std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, e))?;
        // Make the rename durable where the platform allows syncing a folder.
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Reads every stored event. Rows come back in canonical order: by `event_time`, then
    /// source file name, then `source_line` (see [`sort_canonical`]), whatever the order of
    /// ingest. Each part's row count is checked against the manifest.
    pub fn read_all(&self) -> Result<EventTable, StoreError> {
        self.read_window(TimeWindow::ALL)
    }

    /// Reads the events inside `window`, in canonical order (see [`Store::read_all`]).
    /// Whole day partitions outside the window are skipped, and so are row groups whose
    /// `event_time` statistics lie outside it.
    pub fn read_window(&self, window: TimeWindow) -> Result<EventTable, StoreError> {
        self.read_window_with_stats(window).map(|(t, _)| t)
    }

    /// [`Store::read_window`], also telling how many parts and row groups were read.
    pub fn read_window_with_stats(
        &self,
        window: TimeWindow,
    ) -> Result<(EventTable, ReadStats), StoreError> {
        let mut parts: Vec<&PartEntry> = self.manifest.parts().collect();
        // By day, then ingest order: mostly sorted already, so the final sort is cheap.
        parts.sort_by(|a, b| a.date.cmp(&b.date));
        let mut stats = ReadStats {
            parts_total: parts.len(),
            ..ReadStats::default()
        };
        let mut table = EventTable::new();
        for part in parts {
            if !part_may_overlap(part, &window) {
                continue;
            }
            stats.parts_read += 1;
            self.read_part(part, window, &mut table, &mut stats)?;
        }
        if !is_canonical_order(&table) {
            table = sort_canonical(&table)?;
        }
        Ok((table, stats))
    }

    fn read_part(
        &self,
        part: &PartEntry,
        window: TimeWindow,
        table: &mut EventTable,
        stats: &mut ReadStats,
    ) -> Result<(), StoreError> {
        read_parquet_into(
            &self.dir.join(&part.path),
            Some(part.rows),
            window,
            table,
            stats,
        )
    }

    /// Checks every part: it exists, its footer and schema can be read, it has every column
    /// of the event schema and the row count the manifest records. Also lists orphan files
    /// under `events/`. Decodes no data pages.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let mut report = VerifyReport::default();
        let mut listed = std::collections::HashSet::new();
        for part in self.manifest.parts() {
            let path = self.dir.join(&part.path);
            let file = File::open(&path).map_err(|e| StoreError::io(&path, e))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| StoreError::parquet(&path, e))?;
            for column in COLUMNS {
                if builder.schema().field_with_name(column).is_err() {
                    return Err(StoreError::MissingColumn {
                        origin: path.display().to_string(),
                        column,
                    });
                }
            }
            let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
            if rows != part.rows {
                return Err(StoreError::RowCountMismatch {
                    path,
                    expected: part.rows,
                    found: rows,
                });
            }
            report.parts += 1;
            report.rows += rows;
            listed.insert(path);
        }
        let events = self.dir.join(EVENTS_DIR);
        let days = match std::fs::read_dir(&events) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
            Err(e) => return Err(StoreError::io(&events, e)),
        };
        for day in days {
            let day = day.map_err(|e| StoreError::io(&events, e))?.path();
            if !day.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&day).map_err(|e| StoreError::io(&day, e))? {
                let f = f.map_err(|e| StoreError::io(&day, e))?.path();
                if f.is_file() && !listed.contains(&f) {
                    report.orphans.push(f);
                }
            }
        }
        report.orphans.sort();
        Ok(report)
    }
}

/// Reads any Parquet file in the event schema (a part, or an export written by Polars,
/// DuckDB, Spark, …; see [`crate::convert`] for the types accepted), keeping the events
/// inside `window`, in file order.
pub fn read_parquet_file(path: &Path, window: TimeWindow) -> Result<EventTable, StoreError> {
    let mut table = EventTable::new();
    read_parquet_into(path, None, window, &mut table, &mut ReadStats::default())?;
    Ok(table)
}

/// Appends the events of the Parquet file at `path` inside `window` to `table`, pruning row
/// groups by their `event_time` statistics. With `expected_rows`, the file must hold exactly
/// that many rows.
fn read_parquet_into(
    path: &Path,
    expected_rows: Option<u64>,
    window: TimeWindow,
    table: &mut EventTable,
    stats: &mut ReadStats,
) -> Result<(), StoreError> {
    let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| StoreError::parquet(path, e))?;
    let meta = builder.metadata().clone();
    let in_file = meta.file_metadata().num_rows().max(0) as u64;
    if let Some(expected) = expected_rows {
        if in_file != expected {
            return Err(StoreError::RowCountMismatch {
                path: path.to_path_buf(),
                expected,
                found: in_file,
            });
        }
    }
    let ms_time = builder
        .schema()
        .field_with_name(EVENT_TIME)
        .map(|f| matches!(f.data_type(), DataType::Timestamp(TimeUnit::Millisecond, _)))
        .unwrap_or(false);
    let groups = if ms_time {
        row_groups_overlapping(&meta, &window)
    } else {
        (0..meta.num_row_groups()).collect()
    };
    stats.row_groups_total += meta.num_row_groups();
    stats.row_groups_read += groups.len();
    if groups.is_empty() {
        return Ok(());
    }
    let expected: u64 = groups
        .iter()
        .map(|&g| meta.row_group(g).num_rows().max(0) as u64)
        .sum();
    let reader = builder
        .with_row_groups(groups)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| StoreError::parquet(path, e))?;
    let origin = path.display().to_string();
    let mut decoded = 0u64;
    for batch in reader {
        let batch = batch.map_err(|source| StoreError::Decode {
            path: path.to_path_buf(),
            source,
        })?;
        decoded += batch.num_rows() as u64;
        stats.rows_kept += append_batch(table, &batch, &origin, window)? as u64;
    }
    stats.rows_decoded += decoded;
    if decoded != expected {
        return Err(StoreError::RowCountMismatch {
            path: path.to_path_buf(),
            expected,
            found: decoded,
        });
    }
    Ok(())
}

/// True for a relative `/`-separated path under `events/` with no `..`, `.` or empty
/// components (so a manifest cannot point reads outside the store).
fn is_part_path(p: &str) -> bool {
    let mut parts = p.split('/');
    parts.next() == Some(EVENTS_DIR)
        && p.contains('/')
        && parts.all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\\'))
}

/// True when a part's day and time range may hold events inside `window`.
fn part_may_overlap(part: &PartEntry, window: &TimeWindow) -> bool {
    if *window == TimeWindow::ALL {
        return true;
    }
    let (mut lo, mut hi) = (part.min_time_ms, part.max_time_ms);
    if let Some(day) = shopsense_events::time::parse_date(&part.date) {
        let start = day.saturating_mul(DAY_MS);
        lo = lo.max(start);
        hi = hi.min(start.saturating_add(DAY_MS - 1));
    }
    window.overlaps(lo, hi)
}

/// Row groups whose `event_time` min/max statistics may overlap `window` (row groups
/// without statistics are kept).
fn row_groups_overlapping(meta: &ParquetMetaData, window: &TimeWindow) -> Vec<usize> {
    let n = meta.num_row_groups();
    if *window == TimeWindow::ALL {
        return (0..n).collect();
    }
    let column = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.path().parts() == [EVENT_TIME]);
    (0..n)
        .filter(|&g| {
            let Some(c) = column else { return true };
            let rg = meta.row_group(g);
            if c >= rg.num_columns() {
                return true;
            }
            match rg.column(c).statistics() {
                Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                    (Some(&min), Some(&max)) => window.overlaps(min, max),
                    _ => true,
                },
                _ => true,
            }
        })
        .collect()
}

/// True when the rows of `t` are in canonical order (see [`sort_canonical`]).
pub fn is_canonical_order(t: &EventTable) -> bool {
    let rank = file_ranks(t);
    let key = |r: usize| {
        (
            t.time_ms[r],
            rank.get(t.file[r] as usize).copied().unwrap_or(u32::MAX),
            t.line[r],
        )
    };
    let n = t.len().min(t.file.len()).min(t.line.len());
    (1..n).all(|r| key(r - 1) <= key(r))
}

/// A copy of `t` with its rows in canonical order: by `event_time`, then source file name,
/// then `source_line`; rows equal on all three keep their order.
pub fn sort_canonical(t: &EventTable) -> Result<EventTable, StoreError> {
    check_table(t)?;
    let rank = file_ranks(t);
    let mut perm: Vec<u32> = (0..t.len() as u32).collect();
    perm.sort_by_key(|&r| {
        let r = r as usize;
        (t.time_ms[r], rank[t.file[r] as usize], t.line[r])
    });
    Ok(take_rows(t, &perm))
}

/// Rank of each file index when files are sorted by name.
fn file_ranks(t: &EventTable) -> Vec<u32> {
    let mut order: Vec<usize> = (0..t.files.len()).collect();
    order.sort_by(|&a, &b| t.files[a].cmp(&t.files[b]));
    let mut rank = vec![0u32; t.files.len()];
    for (k, &i) in order.iter().enumerate() {
        rank[i] = k as u32;
    }
    rank
}

/// The rows `perm` of `t` (checked table, indices in range), sharing nothing with `t`.
fn take_rows(t: &EventTable, perm: &[u32]) -> EventTable {
    fn g<T: Copy>(v: &[T], perm: &[u32]) -> Vec<T> {
        perm.iter().map(|&r| v[r as usize]).collect()
    }
    EventTable {
        time_ms: g(&t.time_ms, perm),
        kind: g(&t.kind, perm),
        user: g(&t.user, perm),
        user_num: if t.has_numeric_users() {
            g(&t.user_num, perm)
        } else {
            Vec::new()
        },
        session: g(&t.session, perm),
        item: g(&t.item, perm),
        category: g(&t.category, perm),
        category_path: g(&t.category_path, perm),
        brand: g(&t.brand, perm),
        price: g(&t.price, perm),
        order: g(&t.order, perm),
        file: g(&t.file, perm),
        line: g(&t.line, perm),
        users: t.users.clone(),
        sessions: t.sessions.clone(),
        items: t.items.clone(),
        categories: t.categories.clone(),
        category_paths: t.category_paths.clone(),
        brands: t.brands.clone(),
        orders: t.orders.clone(),
        other_kinds: t.other_kinds.clone(),
        files: t.files.clone(),
    }
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01), proleptic Gregorian.
pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYYMMDDTHHMMSSZ` of UTC ms.
fn compact_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The stem of a source file name for quarantine names: compression and format extensions
/// dropped, characters other than ASCII letters, digits, `-`, `_` and `.` replaced by `_`.
fn source_stem(path: &str) -> String {
    let name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name = name.as_str();
    for ext in [".gz", ".bz2", ".xz", ".zst", ".zip"] {
        if let Some(s) = name.strip_suffix(ext) {
            name = s;
            break;
        }
    }
    let stem = Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() || clean.chars().all(|c| c == '.') {
        "source".to_string()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_agree_with_events_crate() {
        for days in (-800_000i64..800_000).step_by(991) {
            let s = format_date(days);
            if s.len() == 10 && !s.starts_with('-') {
                assert_eq!(shopsense_events::time::parse_date(&s), Some(days), "{s}");
            }
        }
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_date(-1), "1969-12-31");
        assert_eq!(format_date(18_170), "2019-10-01");
        assert_eq!(compact_utc(1_569_898_200_250), "20191001T025000Z");
    }

    #[test]
    fn windows_are_half_open() {
        let w = TimeWindow::new(Some(10), Some(20));
        assert!(!w.contains(9) && w.contains(10) && w.contains(19) && !w.contains(20));
        assert!(w.overlaps(0, 10) && w.overlaps(19, 30) && !w.overlaps(20, 30));
        assert!(!w.overlaps(0, 9));
        assert!(TimeWindow::ALL.contains(i64::MIN));
    }

    #[test]
    fn part_paths_stay_inside_the_store() {
        assert!(is_part_path("events/date=2019-10-01/part-x-0.parquet"));
        assert!(!is_part_path("events"));
        assert!(!is_part_path("events/../manifest.json"));
        assert!(!is_part_path("/etc/passwd"));
        assert!(!is_part_path("quarantine/x.jsonl"));
        assert!(!is_part_path("events//x.parquet"));
        assert!(!is_part_path("events/a\\..\\b"));
    }

    #[test]
    fn quarantine_stems() {
        assert_eq!(
            source_stem("data/taobao/UserBehavior.csv.gz"),
            "UserBehavior"
        );
        assert_eq!(source_stem("/x/2019-Oct_head.csv"), "2019-Oct_head");
        assert_eq!(source_stem("a b/ü x.csv"), "__x");
        assert_eq!(source_stem(""), "source");
        assert_eq!(source_stem("noext"), "noext");
    }
}
