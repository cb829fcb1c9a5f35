//! Rejected rows and the quarantine file.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Why a row was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum RejectReason {
    /// The row has the wrong number of fields.
    #[error("expected {expected} fields, found {found}")]
    FieldCount {
        /// Fields the format has.
        expected: usize,
        /// Fields the row has.
        found: usize,
    },
    /// The last line of the input ends early (no line terminator and too few fields, or a
    /// compressed stream that stops mid-way).
    #[error("truncated line: expected {expected} fields, found {found}")]
    Truncated {
        /// Fields the format has.
        expected: usize,
        /// Fields the row has.
        found: usize,
    },
    /// A time field could not be parsed.
    #[error("field `{field}`: cannot parse time {value:?}")]
    BadTime {
        /// The field name.
        field: String,
        /// The value found.
        value: String,
    },
    /// A numeric field could not be parsed.
    #[error("field `{field}`: expected a number, found {value:?}")]
    BadNumber {
        /// The field name.
        field: String,
        /// The value found.
        value: String,
    },
    /// The event kind is empty, not a name, or not allowed by the mapping.
    #[error("field `{field}`: unknown event kind {value:?}")]
    UnknownKind {
        /// The field name.
        field: String,
        /// The value found.
        value: String,
    },
    /// A required id is empty.
    #[error("field `{field}`: missing id")]
    MissingId {
        /// The field name.
        field: String,
    },
    /// The row is not valid UTF-8 (binary data).
    #[error("row is not valid UTF-8 text")]
    InvalidUtf8,
    /// A JSON line could not be decoded.
    #[error("invalid JSON: {message}")]
    BadJson {
        /// The decoder's message.
        message: String,
    },
    /// A quoted field is not closed or has text after the closing quote.
    #[error("malformed quoting")]
    BadQuoting,
}

impl RejectReason {
    /// A short stable code for counting (`field_count`, `bad_time`, …).
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::FieldCount { .. } => "field_count",
            RejectReason::Truncated { .. } => "truncated",
            RejectReason::BadTime { .. } => "bad_time",
            RejectReason::BadNumber { .. } => "bad_number",
            RejectReason::UnknownKind { .. } => "unknown_kind",
            RejectReason::MissingId { .. } => "missing_id",
            RejectReason::InvalidUtf8 => "invalid_utf8",
            RejectReason::BadJson { .. } => "bad_json",
            RejectReason::BadQuoting => "bad_quoting",
        }
    }

    /// Shorthand for [`RejectReason::BadNumber`].
    pub fn bad_number(field: &str, value: &str) -> Self {
        RejectReason::BadNumber {
            field: field.to_string(),
            value: clip(value),
        }
    }

    /// Shorthand for [`RejectReason::BadTime`].
    pub fn bad_time(field: &str, value: &str) -> Self {
        RejectReason::BadTime {
            field: field.to_string(),
            value: clip(value),
        }
    }

    /// Shorthand for [`RejectReason::MissingId`].
    pub fn missing(field: &str) -> Self {
        RejectReason::MissingId {
            field: field.to_string(),
        }
    }

    /// Shorthand for [`RejectReason::UnknownKind`].
    pub fn unknown_kind(field: &str, value: &str) -> Self {
        RejectReason::UnknownKind {
            field: field.to_string(),
            value: clip(value),
        }
    }
}

fn clip(s: &str) -> String {
    if s.len() <= 80 {
        return s.to_string();
    }
    let mut end = 80;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// One rejected row: where it was, what it said, and why it was refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    /// Source file.
    pub file: String,
    /// 1-based line number in that file.
    pub line: u64,
    /// The reason.
    #[serde(flatten)]
    pub reason: RejectReason,
    /// Human-readable reason.
    pub message: String,
    /// The raw line (invalid UTF-8 bytes replaced by U+FFFD).
    pub raw: String,
}

impl Rejected {
    /// A rejected row.
    pub fn new(file: &str, line: u64, raw: &[u8], reason: RejectReason) -> Self {
        Rejected {
            file: file.to_string(),
            line,
            message: reason.to_string(),
            reason,
            raw: String::from_utf8_lossy(raw).into_owned(),
        }
    }
}

/// Counts of rejected rows by reason code.
pub fn count_by_reason(rejects: &[Rejected]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in rejects {
        *m.entry(r.reason.code().to_string()).or_insert(0) += 1;
    }
    m
}

/// Writes rejected rows as JSON lines (one object per row: file, line, reason, message, raw,
/// and the reason's own fields), appending to `path`.
pub fn write_quarantine(path: &Path, rejects: &[Rejected]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut w = std::io::BufWriter::new(f);
    for r in rejects {
        serde_json::to_writer(&mut w, r)?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// Reads a quarantine file back.
pub fn read_quarantine(path: &Path) -> std::io::Result<Vec<Rejected>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).map_err(std::io::Error::other))
        .collect()
}
