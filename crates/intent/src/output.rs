//! Files the pipeline writes: batch scores (`predict`) and the feature matrices
//! (`--export-features`, for training another library on exactly the same inputs). Parquet
//! (zstd) unless the file name ends in `.csv`.

use crate::data::Prepared;
use crate::error::{IntentError, Result};
use arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int64Array, RecordBatch, StringBuilder,
    TimestampMillisecondArray, UInt32Array, UInt8Array,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use shopsense_events::EventTable;
use shopsense_features::{FeatureMatrix, Prefix};
use shopsense_sessions::Sessions;
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

const CHUNK: usize = 1 << 18;

fn is_csv(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

fn create(path: &Path) -> Result<std::fs::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| IntentError::io(dir, e))?;
    }
    std::fs::File::create(path).map_err(|e| IntentError::io(path, e))
}

fn pq_err(path: &Path) -> impl Fn(String) -> IntentError + '_ {
    move |message| IntentError::Parquet {
        path: path.to_path_buf(),
        message,
    }
}

fn parquet_writer(
    path: &Path,
    file: std::fs::File,
    schema: Arc<Schema>,
) -> Result<ArrowWriter<std::fs::File>> {
    let err = pq_err(path);
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).map_err(|e| err(e.to_string()))?,
        ))
        .set_max_row_group_row_count(Some(1 << 20))
        .build();
    ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| err(e.to_string()))
}

/// The session id of session `s` into `buf` (native id, or `<user>:<n>` for gap sessions),
/// without allocating per row.
fn session_id<'a>(t: &'a EventTable, s: &Sessions, i: usize, buf: &'a mut String) -> &'a str {
    match t.sessions.get_opt(s.native[i]) {
        Some(id) => id,
        None => {
            buf.clear();
            let _ = write!(buf, "{}:{}", t.users.get(s.user[i]), s.gap_seq[i]);
            buf
        }
    }
}

fn csv_field(out: &mut String, v: &str) {
    if v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

/// The columns of a scores file.
pub fn scores_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("session_id", DataType::Utf8, false),
        Field::new("user_id", DataType::Utf8, false),
        Field::new(
            "cutoff_time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("score", DataType::Float64, false),
        Field::new("decision", DataType::Boolean, false),
        Field::new("model_version", DataType::Utf8, false),
    ]))
}

/// Writes one row per prefix: session id, user id, cutoff time (the last visible event),
/// final score, decision (`score >= threshold`) and model version.
pub fn write_scores(
    path: &Path,
    t: &EventTable,
    sessions: &Sessions,
    prefixes: &[Prefix],
    probs: &[f64],
    threshold: f64,
    model_version: &str,
) -> Result<()> {
    if prefixes.len() != probs.len() {
        return Err(IntentError::data(format!(
            "{} prefixes but {} scores",
            prefixes.len(),
            probs.len()
        )));
    }
    let file = create(path)?;
    let mut buf = String::new();
    if is_csv(path) {
        let io = |e| IntentError::io(path, e);
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        writeln!(
            w,
            "session_id,user_id,cutoff_time,score,decision,model_version"
        )
        .map_err(io)?;
        let mut line = String::new();
        for (p, &score) in prefixes.iter().zip(probs) {
            let s = p.session as usize;
            line.clear();
            csv_field(&mut line, session_id(t, sessions, s, &mut buf));
            line.push(',');
            csv_field(&mut line, t.users.get(sessions.user[s]));
            let _ = write!(
                line,
                ",{},{score},{},",
                shopsense_events::time::format_ms(p.cutoff_ms),
                score >= threshold
            );
            csv_field(&mut line, model_version);
            line.push('\n');
            w.write_all(line.as_bytes()).map_err(io)?;
        }
        return w.flush().map_err(io);
    }
    let err = pq_err(path);
    let schema = scores_schema();
    let mut w = parquet_writer(path, file, schema.clone())?;
    for (pc, sc) in prefixes.chunks(CHUNK).zip(probs.chunks(CHUNK)) {
        let n = pc.len();
        let mut sid = StringBuilder::with_capacity(n, n * 36);
        let mut uid = StringBuilder::with_capacity(n, n * 10);
        let mut ver = StringBuilder::with_capacity(n, n * model_version.len());
        for p in pc {
            let s = p.session as usize;
            sid.append_value(session_id(t, sessions, s, &mut buf));
            uid.append_value(t.users.get(sessions.user[s]));
            ver.append_value(model_version);
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(sid.finish()),
            Arc::new(uid.finish()),
            Arc::new(
                TimestampMillisecondArray::from_iter_values(pc.iter().map(|p| p.cutoff_ms))
                    .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from(sc.to_vec())),
            Arc::new(BooleanArray::from_iter(
                sc.iter().map(|&v| Some(v >= threshold)),
            )),
            Arc::new(ver.finish()),
        ];
        let b = RecordBatch::try_new(schema.clone(), cols).map_err(|e| err(e.to_string()))?;
        w.write(&b).map_err(|e| err(e.to_string()))?;
    }
    w.close().map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// Writes the train / validation / test matrices of a run, exactly as the model sees them
/// (training rows with their out-of-fold priors): columns `part` (0 train, 1 validation,
/// 2 test), `session`, `start_ms`, `label`, then one `f32` column per feature (`NaN` =
/// missing; an empty field in CSV). Returns the rows written.
pub fn write_features(path: &Path, prep: &Prepared) -> Result<usize> {
    write_feature_parts(path, [&prep.train, &prep.valid, &prep.test])
}

/// Writes three matrices (train, validation, test) in the format of [`write_features`]; the
/// matrices must have the same columns. Used for matrices computed elsewhere (on Spark).
pub fn write_feature_parts(path: &Path, parts: [&FeatureMatrix; 3]) -> Result<usize> {
    let names = &parts[0].names;
    if parts.iter().any(|m| &m.names != names) {
        return Err(IntentError::data(
            "the train / validation / test matrices have different columns",
        ));
    }
    let parts: [(u8, &FeatureMatrix); 3] = [(0, parts[0]), (1, parts[1]), (2, parts[2])];
    let file = create(path)?;
    let total: usize = parts.iter().map(|(_, m)| m.n_rows).sum();
    if is_csv(path) {
        let io = |e| IntentError::io(path, e);
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut line = String::from("part,session,start_ms,label");
        for n in names {
            line.push(',');
            line.push_str(n);
        }
        writeln!(w, "{line}").map_err(io)?;
        for (part, m) in parts {
            for i in 0..m.n_rows {
                line.clear();
                let _ = write!(
                    line,
                    "{part},{},{},{}",
                    m.session[i], m.start_ms[i], m.labels[i]
                );
                for &v in m.row(i) {
                    line.push(',');
                    if !v.is_nan() {
                        let _ = write!(line, "{v}");
                    }
                }
                line.push('\n');
                w.write_all(line.as_bytes()).map_err(io)?;
            }
        }
        w.flush().map_err(io)?;
        return Ok(total);
    }
    let mut fields = vec![
        Field::new("part", DataType::UInt8, false),
        Field::new("session", DataType::UInt32, false),
        Field::new("start_ms", DataType::Int64, false),
        Field::new("label", DataType::UInt8, false),
    ];
    fields.extend(
        names
            .iter()
            .map(|n| Field::new(n, DataType::Float32, false)),
    );
    let schema = Arc::new(Schema::new(fields));
    let err = pq_err(path);
    let mut w = parquet_writer(path, file, schema.clone())?;
    for (part, m) in parts {
        let mut a = 0;
        while a < m.n_rows {
            let b = (a + CHUNK).min(m.n_rows);
            let mut cols: Vec<ArrayRef> = vec![
                Arc::new(UInt8Array::from(vec![part; b - a])),
                Arc::new(UInt32Array::from(m.session[a..b].to_vec())),
                Arc::new(Int64Array::from(m.start_ms[a..b].to_vec())),
                Arc::new(UInt8Array::from(m.labels[a..b].to_vec())),
            ];
            for j in 0..m.n_cols {
                cols.push(Arc::new(Float32Array::from_iter_values(
                    (a..b).map(|i| m.data[i * m.n_cols + j]),
                )));
            }
            let batch =
                RecordBatch::try_new(schema.clone(), cols).map_err(|e| err(e.to_string()))?;
            w.write(&batch).map_err(|e| err(e.to_string()))?;
            a = b;
        }
    }
    w.close().map_err(|e| err(e.to_string()))?;
    Ok(total)
}
