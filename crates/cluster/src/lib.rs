//! # shopsense-cluster
//!
//! Runs the session export job (`shopsense sessionize`) on Apache Spark through Spark Connect.
//!
//! * [`Engine`]: `local` (the in-process path of `shopsense-sessions`) or `sc://host:port`
//!   (a Spark Connect server). `ballista://…` is recognised and rejected (see the README:
//!   27 min cold build and 4× slower than plain DataFusion on one box).
//! * [`session_sql`]: the Spark SQL plan, generated from Rust, that reproduces
//!   [`shopsense_sessions::session_summaries`] over a `shopsense ingest` Parquet store:
//!   native session ids where present, otherwise per-user inactivity gaps (a gap strictly
//!   greater than the limit starts a new session, ids `<user>:<n>`), events in canonical
//!   order (time, source file, source line), each session cut at its first purchase (events at
//!   or before its time), counts by kind, label, mean/max price, distinct items, position of
//!   the first purchase and the whole session's length. Rows come back in the local order
//!   (by each session's first event).
//! * [`run_spark`]: runs it and collects the rows ([`ClusterSummaries`]), which
//!   [`ClusterSummaries::write`] writes in exactly the local export's format.
//!
//! The Spark Connect client ([`connect`]) is a few `prost` messages over `tonic`; it and its
//! gRPC dependencies stay inside this crate.

#![warn(missing_docs)]

pub mod connect;
pub mod features;

pub use features::{run_spark_features, SparkFeatures};

use arrow::array::{Array, AsArray};
use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    UInt32Array,
};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use shopsense_events::NONE;
use shopsense_sessions::export::summary_schema;
use shopsense_sessions::{SessionConfig, SessionSummaries, SummaryOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Errors of the cluster crate.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The `--engine` value is not understood or not supported.
    #[error("engine {0:?}: {1}")]
    Engine(String, String),
    /// Spark refused or failed the job.
    #[error("spark ({remote}): {message}")]
    Spark {
        /// The Spark Connect address.
        remote: String,
        /// Spark's message.
        message: String,
    },
    /// The result had an unexpected shape.
    #[error("spark result column {column}: {message}")]
    Result {
        /// The column.
        column: String,
        /// What is wrong.
        message: String,
    },
    /// Reading the input or writing the output failed.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        message: String,
    },
}

/// Where the heavy data work runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// In process (`shopsense-sessions`).
    Local,
    /// A Spark Connect server, `sc://host:port`.
    Spark(String),
}

impl Engine {
    /// Parses `local`, `sc://host:port`; `ballista://…` and anything else are errors.
    pub fn parse(s: &str) -> Result<Engine, ClusterError> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("local") {
            return Ok(Engine::Local);
        }
        if let Some(rest) = s.strip_prefix("sc://") {
            if rest.is_empty() || !rest.contains(':') {
                return Err(ClusterError::Engine(
                    s.into(),
                    "expected sc://host:port (e.g. sc://127.0.0.1:15002)".into(),
                ));
            }
            return Ok(Engine::Spark(s.to_string()));
        }
        if s.starts_with("ballista://") || s.starts_with("df://") {
            return Err(ClusterError::Engine(
                s.into(),
                "Ballista is not supported (see README: Distributed engine); use sc://host:port"
                    .into(),
            ));
        }
        Err(ClusterError::Engine(
            s.into(),
            "expected local or sc://host:port".into(),
        ))
    }
}

/// What the Spark job does: the same options as the local path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobConfig {
    /// Session rules.
    pub sessions: SessionConfig,
    /// Cut at the first purchase or not.
    pub summary: SummaryOptions,
    /// Keep only events with `from_ms <= time` (UTC ms), as `--from` does locally.
    pub from_ms: Option<i64>,
    /// Keep only events with `time < to_ms` (UTC ms), as `--to` does locally.
    pub to_ms: Option<i64>,
}

fn sql_str(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// The first common table expressions of every job over the store at `store_dir`: `ev` (the
/// store's events in the time window: `t` ms, `f` file, `l` line, `k` kind, `u` user, `sid`
/// native session or null, `item`, `cat`, `br` (null when empty), `p` price or null) and
/// `keyed` (each event with its session key: `nat` native or not, `skey` the native id or
/// `<user>:<n>` for inactivity-gap sessions), ending with a comma.
pub(crate) fn keyed_ctes(store_dir: &Path, cfg: &JobConfig) -> String {
    let events = store_dir.join("events");
    let path = format!("file://{}", events.display());
    let sid = if cfg.sessions.force_gap {
        "CAST(NULL AS STRING)"
    } else {
        "session_id"
    };
    let gap = cfg.sessions.gap_ms;
    // The window applies to events before sessions are built, as on the local path.
    let mut window = Vec::new();
    if let Some(f) = cfg.from_ms {
        window.push(format!("unix_millis(event_time) >= {f}"));
    }
    if let Some(t) = cfg.to_ms {
        window.push(format!("unix_millis(event_time) < {t}"));
    }
    let window = if window.is_empty() {
        String::new()
    } else {
        format!("\n  WHERE {}", window.join(" AND "))
    };
    format!(
        "WITH ev AS (
  SELECT unix_millis(event_time) AS t, source_file AS f, source_line AS l, event_type AS k,
         user_id AS u, {sid} AS sid, item_id AS item,
         NULLIF(category_id, '') AS cat, NULLIF(brand, '') AS br,
         CASE WHEN isnan(price) THEN NULL ELSE price END AS p
  FROM parquet.`{path}`{window}
),
gap AS (
  SELECT *, CASE WHEN t - lag(t) OVER (PARTITION BY u ORDER BY t, f, l) > {gap} THEN 1 ELSE 0 END AS brk
  FROM ev WHERE sid IS NULL
),
keyed AS (
  SELECT true AS nat, sid AS skey, t, f, l, k, u, item, cat, br, p FROM ev WHERE sid IS NOT NULL
  UNION ALL
  SELECT false AS nat,
         concat(u, ':', CAST(1 + sum(brk) OVER (PARTITION BY u ORDER BY t, f, l
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS STRING)) AS skey,
         t, f, l, k, u, item, cat, br, p
  FROM gap
),
",
        path = sql_str(&path)
    )
}

/// The Spark SQL plan of the session export over the Parquet store at `store_dir`
/// (its `events/` folder, read with hive partitions).
pub fn session_sql(store_dir: &Path, cfg: &JobConfig) -> String {
    let cut = cfg.summary.cut_at_first_purchase;
    let row = "named_struct('t', t, 'f', f, 'l', l)";
    format!(
        "{keyed}marked AS (
  SELECT *, min(CASE WHEN k = 'purchase' THEN {row} END) OVER (PARTITION BY nat, skey) AS fp
  FROM keyed
),
flagged AS (
  SELECT *, (fp IS NULL OR NOT {cut} OR t <= fp.t) AS kept FROM marked
)
SELECT skey AS session_id,
  min_by(u, {row}) AS user_id,
  min({row}) AS first_row,
  min(CASE WHEN kept THEN t END) AS start_ms,
  max(CASE WHEN kept THEN t END) AS end_ms,
  count_if(kept) AS events,
  count_if(kept AND k = 'view') AS views,
  count_if(kept AND k = 'cart') AS carts,
  count_if(kept AND k = 'remove_from_cart') AS removes,
  count_if(kept AND k = 'purchase') AS purchases,
  count_if(kept AND k = 'wishlist') AS wishlists,
  count_if(kept AND k NOT IN ('view', 'cart', 'remove_from_cart', 'purchase', 'wishlist')) AS others,
  bool_or(fp IS NOT NULL) AS label,
  avg(CASE WHEN kept THEN p END) AS mean_price,
  max(CASE WHEN kept THEN p END) AS max_price,
  count(DISTINCT CASE WHEN kept THEN item END) AS distinct_items,
  CASE WHEN bool_or(fp IS NOT NULL) THEN count_if({row} < fp) END AS first_purchase_pos,
  count(*) AS session_events
FROM flagged
GROUP BY nat, skey
ORDER BY first_row",
        keyed = keyed_ctes(store_dir, cfg)
    )
}

/// The session export computed on Spark: ids plus the same summaries as the local path.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterSummaries {
    /// Session ids (native, or `<user>:<n>` for gap sessions).
    pub session_id: Vec<String>,
    /// User of each session.
    pub user_id: Vec<String>,
    /// The summaries, in the local order.
    pub sum: SessionSummaries,
}

fn col_err(column: &str, message: impl Into<String>) -> ClusterError {
    ClusterError::Result {
        column: column.into(),
        message: message.into(),
    }
}

fn column<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, ClusterError> {
    b.column_by_name(name)
        .ok_or_else(|| col_err(name, "missing"))
}

fn strings(b: &RecordBatch, name: &str) -> Result<Vec<String>, ClusterError> {
    let a = column(b, name)?;
    match a.data_type() {
        DataType::Utf8 => Ok(a
            .as_string::<i32>()
            .iter()
            .map(|s| s.unwrap_or_default().to_string())
            .collect()),
        DataType::LargeUtf8 => Ok(a
            .as_string::<i64>()
            .iter()
            .map(|s| s.unwrap_or_default().to_string())
            .collect()),
        t => Err(col_err(name, format!("expected strings, got {t}"))),
    }
}

fn ints(b: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>, ClusterError> {
    let a = column(b, name)?;
    let a = a
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| col_err(name, format!("expected int64, got {}", a.data_type())))?;
    Ok(a.iter().collect())
}

fn u32s(b: &RecordBatch, name: &str) -> Result<Vec<u32>, ClusterError> {
    ints(b, name)?
        .into_iter()
        .map(|v| {
            v.and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| col_err(name, "null or out of range"))
        })
        .collect()
}

fn floats(b: &RecordBatch, name: &str) -> Result<Vec<f64>, ClusterError> {
    let a = column(b, name)?;
    let a = a
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| col_err(name, format!("expected double, got {}", a.data_type())))?;
    Ok(a.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

impl ClusterSummaries {
    fn from_batch(b: &RecordBatch) -> Result<ClusterSummaries, ClusterError> {
        let times = |name: &str| -> Result<Vec<i64>, ClusterError> {
            ints(b, name)?
                .into_iter()
                .map(|v| v.ok_or_else(|| col_err(name, "null")))
                .collect()
        };
        let label = column(b, "label")?;
        let label = label
            .as_boolean_opt()
            .ok_or_else(|| col_err("label", "expected boolean"))?;
        let sum = SessionSummaries {
            start_ms: times("start_ms")?,
            end_ms: times("end_ms")?,
            events: u32s(b, "events")?,
            views: u32s(b, "views")?,
            carts: u32s(b, "carts")?,
            removes: u32s(b, "removes")?,
            purchases: u32s(b, "purchases")?,
            wishlists: u32s(b, "wishlists")?,
            others: u32s(b, "others")?,
            label: label.iter().map(|v| v.unwrap_or(false)).collect(),
            mean_price: floats(b, "mean_price")?,
            max_price: floats(b, "max_price")?,
            distinct_items: u32s(b, "distinct_items")?,
            first_purchase_pos: ints(b, "first_purchase_pos")?
                .into_iter()
                .map(|v| v.and_then(|v| u32::try_from(v).ok()).unwrap_or(NONE))
                .collect(),
            session_events: u32s(b, "session_events")?,
        };
        Ok(ClusterSummaries {
            session_id: strings(b, "session_id")?,
            user_id: strings(b, "user_id")?,
            sum,
        })
    }

    /// Appends `other`'s rows after this one's.
    fn append(&mut self, other: ClusterSummaries) {
        self.session_id.extend(other.session_id);
        self.user_id.extend(other.user_id);
        let (a, b) = (&mut self.sum, other.sum);
        a.start_ms.extend(b.start_ms);
        a.end_ms.extend(b.end_ms);
        a.events.extend(b.events);
        a.views.extend(b.views);
        a.carts.extend(b.carts);
        a.removes.extend(b.removes);
        a.purchases.extend(b.purchases);
        a.wishlists.extend(b.wishlists);
        a.others.extend(b.others);
        a.label.extend(b.label);
        a.mean_price.extend(b.mean_price);
        a.max_price.extend(b.max_price);
        a.distinct_items.extend(b.distinct_items);
        a.first_purchase_pos.extend(b.first_purchase_pos);
        a.session_events.extend(b.session_events);
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.session_id.len()
    }

    /// True when there are no sessions.
    pub fn is_empty(&self) -> bool {
        self.session_id.is_empty()
    }

    /// Writes the export in the local path's format: Parquet (zstd) unless the name ends
    /// in `.csv`.
    pub fn write(&self, path: &Path) -> Result<(), ClusterError> {
        let io = |e: String| ClusterError::Io {
            path: path.to_path_buf(),
            message: e,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io(e.to_string()))?;
        }
        let file = std::fs::File::create(path).map_err(|e| io(e.to_string()))?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            return self
                .write_csv(std::io::BufWriter::with_capacity(1 << 20, file))
                .map_err(|e| io(e.to_string()));
        }
        let b = self.batch().map_err(|e| io(e.to_string()))?;
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::ZSTD(
                parquet::basic::ZstdLevel::try_new(1).map_err(|e| io(e.to_string()))?,
            ))
            .build();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, summary_schema(), Some(props))
            .map_err(|e| io(e.to_string()))?;
        w.write(&b).map_err(|e| io(e.to_string()))?;
        w.close().map_err(|e| io(e.to_string()))?;
        Ok(())
    }

    fn batch(&self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let s = &self.sum;
        let u = |v: &[u32]| Arc::new(UInt32Array::from(v.to_vec())) as ArrayRef;
        let f = |v: &[f64]| {
            Arc::new(Float64Array::from_iter(
                v.iter().map(|x| (!x.is_nan()).then_some(*x)),
            )) as ArrayRef
        };
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(&self.session_id)),
            Arc::new(StringArray::from_iter_values(&self.user_id)),
            Arc::new(TimestampMillisecondArray::from(s.start_ms.clone()).with_timezone("UTC")),
            Arc::new(TimestampMillisecondArray::from(s.end_ms.clone()).with_timezone("UTC")),
            u(&s.events),
            u(&s.views),
            u(&s.carts),
            u(&s.removes),
            u(&s.purchases),
            u(&s.wishlists),
            u(&s.others),
            Arc::new(BooleanArray::from(s.label.clone())),
            Arc::new(Float64Array::from_iter_values(
                (0..s.len()).map(|i| s.duration_s(i)),
            )),
            f(&s.mean_price),
            f(&s.max_price),
            u(&s.distinct_items),
            Arc::new(UInt32Array::from_iter(
                s.first_purchase_pos
                    .iter()
                    .map(|&p| (p != NONE).then_some(p)),
            )),
            u(&s.session_events),
        ];
        RecordBatch::try_new(summary_schema(), cols)
    }

    fn write_csv(&self, mut w: impl Write) -> std::io::Result<()> {
        writeln!(
            w,
            "session_id,user_id,start_time,end_time,events,views,carts,remove_from_carts,purchases,wishlists,other_events,label,duration_s,mean_price,max_price,distinct_items,first_purchase_pos,session_events"
        )?;
        let opt = |x: f64| {
            if x.is_nan() {
                String::new()
            } else {
                format!("{x}")
            }
        };
        let s = &self.sum;
        for i in 0..self.len() {
            let sid = &self.session_id[i];
            let quoted = if sid.contains([',', '"', '\n']) {
                format!("\"{}\"", sid.replace('"', "\"\""))
            } else {
                sid.clone()
            };
            writeln!(
                w,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                quoted,
                self.user_id[i],
                shopsense_events::time::format_ms(s.start_ms[i]),
                shopsense_events::time::format_ms(s.end_ms[i]),
                s.events[i],
                s.views[i],
                s.carts[i],
                s.removes[i],
                s.purchases[i],
                s.wishlists[i],
                s.others[i],
                s.label[i] as u8,
                s.duration_s(i),
                opt(s.mean_price[i]),
                opt(s.max_price[i]),
                s.distinct_items[i],
                if s.first_purchase_pos[i] == NONE {
                    String::new()
                } else {
                    s.first_purchase_pos[i].to_string()
                },
                s.session_events[i],
            )?;
        }
        w.flush()
    }
}

/// The canonical path of a store directory; fails unless it holds an `events/` folder.
pub(crate) fn check_store(store_dir: &Path) -> Result<PathBuf, ClusterError> {
    let store_dir = store_dir.canonicalize().map_err(|e| ClusterError::Io {
        path: store_dir.to_path_buf(),
        message: e.to_string(),
    })?;
    if !store_dir.join("events").is_dir() {
        return Err(ClusterError::Io {
            path: store_dir,
            message: "not a shopsense store (no events/ folder; run `shopsense ingest` first)"
                .into(),
        });
    }
    Ok(store_dir)
}

/// Runs `setup` then `sql` in one Spark session on `remote` and collects the result.
pub(crate) fn collect(
    remote: &str,
    setup: &[&str],
    sql: &str,
) -> Result<connect::Collected, ClusterError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClusterError::Spark {
            remote: remote.to_string(),
            message: e.to_string(),
        })?;
    let got = rt.block_on(connect::sql_collect_in_session(remote, setup, sql))?;
    tracing::info!(
        batches = got.batches.len(),
        bytes = got.bytes,
        "collected the Spark result"
    );
    Ok(got)
}

/// Runs the session export of the Parquet store at `store_dir` on the Spark Connect server
/// `remote` (`sc://host:port`) and collects the rows.
pub fn run_spark(
    remote: &str,
    store_dir: &Path,
    cfg: &JobConfig,
) -> Result<ClusterSummaries, ClusterError> {
    let store_dir = check_store(store_dir)?;
    let sql = session_sql(&store_dir, cfg);
    tracing::info!(remote, "running the session export on Spark");
    let got = collect(remote, &[], &sql)?;
    let mut out = ClusterSummaries::default();
    for b in &got.batches {
        out.append(ClusterSummaries::from_batch(b)?);
    }
    Ok(out)
}
