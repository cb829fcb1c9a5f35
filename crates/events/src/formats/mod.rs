//! The input formats: detection from the first line, and one reader per format.

pub mod rees46;
pub mod taobao;

use crate::error::EventsError;
use crate::read::{first_line, read_lines, ReadOptions, ReadOutput};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A supported input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// REES46 multi-category store CSV.
    Rees46,
    /// Retailrocket `events.csv` (with `item_properties*.csv` and `category_tree.csv` beside it).
    Retailrocket,
    /// Taobao UserBehavior CSV (no header).
    Taobao,
    /// OTTO JSON lines.
    Otto,
    /// Diginetica `train-item-views.csv` (with `train-purchases.csv` and
    /// `product-categories.csv` beside it).
    Diginetica,
    /// Any CSV described by a TOML mapping file.
    Mapped,
}

impl Format {
    /// All formats, for help texts.
    pub const ALL: [Format; 6] = [
        Format::Rees46,
        Format::Retailrocket,
        Format::Taobao,
        Format::Otto,
        Format::Diginetica,
        Format::Mapped,
    ];

    /// The format's name as given to `--format`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Rees46 => "rees46",
            Format::Retailrocket => "retailrocket",
            Format::Taobao => "taobao",
            Format::Otto => "otto",
            Format::Diginetica => "diginetica",
            Format::Mapped => "mapped",
        }
    }

    /// Parses a `--format` value.
    pub fn from_name(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == s)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Tells the format of a file from its first line.
pub fn detect(path: &Path) -> Result<Format, EventsError> {
    let line = first_line(path)?;
    detect_line(&line).ok_or_else(|| EventsError::UnknownFormat {
        path: path.to_path_buf(),
        first_line: line.chars().take(120).collect(),
    })
}

/// Tells the format from a first line, if it is one of the known layouts.
pub fn detect_line(line: &str) -> Option<Format> {
    let l = line.trim_start_matches('\u{feff}');
    let header: Vec<&str> = l.split([',', ';']).map(|s| s.trim().trim_matches('"')).collect();
    if l.starts_with(rees46::HEADER) {
        return Some(Format::Rees46);
    }
    if header.starts_with(&["timestamp", "visitorid", "event", "itemid"]) {
        return Some(Format::Retailrocket);
    }
    if header.starts_with(&["sessionId", "userId", "itemId", "timeframe", "eventdate"])
        || header.starts_with(&["session_id", "user_id", "item_id", "timeframe", "eventdate"])
    {
        return Some(Format::Diginetica);
    }
    if l.starts_with('{') && l.contains("\"session\"") && l.contains("\"events\"") {
        return Some(Format::Otto);
    }
    if taobao::looks_like(l) {
        return Some(Format::Taobao);
    }
    None
}

/// Reads one input file in `format` (detected from its first line when `None`). Formats
/// with companion files (Retailrocket, Diginetica) find them in the same folder.
pub fn read_file(
    path: &Path,
    format: Option<Format>,
    opts: &ReadOptions,
) -> Result<(Format, ReadOutput), EventsError> {
    let format = match format {
        Some(f) => f,
        None => detect(path)?,
    };
    let out = match format {
        Format::Rees46 => read_lines(path, &rees46::Rees46, opts)?,
        Format::Taobao => read_lines(path, &taobao::Taobao, opts)?,
        other => {
            return Err(EventsError::BadHeader {
                path: path.to_path_buf(),
                message: format!("format {other} is not supported by this build"),
            })
        }
    };
    Ok((format, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_known_headers() {
        assert_eq!(detect_line(rees46::HEADER), Some(Format::Rees46));
        assert_eq!(
            detect_line("timestamp,visitorid,event,itemid,transactionid"),
            Some(Format::Retailrocket)
        );
        assert_eq!(
            detect_line("1,2268318,2520377,pv,1511544070"),
            Some(Format::Taobao)
        );
        assert_eq!(
            detect_line("sessionId;userId;itemId;timeframe;eventdate"),
            Some(Format::Diginetica)
        );
        assert_eq!(
            detect_line(r#"{"session":0,"events":[]}"#),
            Some(Format::Otto)
        );
        assert_eq!(detect_line("a,b,c"), None);
    }
}
