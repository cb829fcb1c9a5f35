//! The input formats: detection from the first line, and one reader per format.

pub mod diginetica;
pub mod mapped;
pub mod otto;
pub mod rees46;
pub mod retailrocket;
pub mod taobao;

use crate::error::EventsError;
use crate::read::{first_line, read_lines, ReadOptions, ReadOutput};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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
    let header: Vec<&str> = l
        .split([',', ';'])
        .map(|s| s.trim().trim_matches('"'))
        .collect();
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

/// Where and how to read an input: an explicit format (detected from the first line when
/// `None`) and, for [`Format::Mapped`], the TOML mapping file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    /// The format; `None` means: [`Format::Mapped`] when a mapping is given, else detected.
    pub format: Option<Format>,
    /// The mapping file (see [`mapped`]); needed by, and only allowed with, `Mapped`.
    pub mapping: Option<PathBuf>,
}

impl Source {
    /// A source in `format` (detected when `None`).
    pub fn format(format: Option<Format>) -> Self {
        Source {
            format,
            mapping: None,
        }
    }

    /// A mapped source read through the mapping file at `mapping`.
    pub fn mapped(mapping: impl Into<PathBuf>) -> Self {
        Source {
            format: Some(Format::Mapped),
            mapping: Some(mapping.into()),
        }
    }
}

/// Reads one input file in `format` (detected from its first line when `None`). Formats
/// with companion files (Retailrocket, Diginetica) find them in the same folder.
/// [`Format::Mapped`] needs a mapping file: use [`read_file_with`].
pub fn read_file(
    path: &Path,
    format: Option<Format>,
    opts: &ReadOptions,
) -> Result<(Format, ReadOutput), EventsError> {
    read_file_with(path, &Source::format(format), opts)
}

/// Reads one input file as `source` says: every format, including [`Format::Mapped`] with
/// its mapping file. Returns the format used.
pub fn read_file_with(
    path: &Path,
    source: &Source,
    opts: &ReadOptions,
) -> Result<(Format, ReadOutput), EventsError> {
    let format = match (source.format, &source.mapping) {
        (Some(f), _) => f,
        (None, Some(_)) => Format::Mapped,
        (None, None) => detect(path)?,
    };
    if let (Some(m), true) = (&source.mapping, format != Format::Mapped) {
        return Err(EventsError::BadMapping {
            path: m.clone(),
            message: format!("a mapping file only applies to format `mapped`, not `{format}`"),
        });
    }
    let out = match format {
        Format::Rees46 => read_lines(path, &rees46::Rees46, opts)?,
        Format::Taobao => read_lines(path, &taobao::Taobao, opts)?,
        Format::Otto => read_lines(path, &otto::Otto, opts)?,
        Format::Retailrocket => retailrocket::read(path, opts)?,
        Format::Diginetica => diginetica::read(path, opts)?,
        Format::Mapped => match &source.mapping {
            Some(m) => mapped::read_mapped(path, m, opts)?,
            None => {
                return Err(EventsError::BadMapping {
                    path: path.to_path_buf(),
                    message: "format `mapped` needs a mapping file (--mapping FILE.toml)".into(),
                })
            }
        },
    };
    Ok((format, out))
}

/// A stack buffer for printing integers without allocating.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NumBuf {
    b: [u8; 20],
}

impl NumBuf {
    /// An empty buffer.
    pub(crate) fn new() -> Self {
        NumBuf { b: [0; 20] }
    }

    /// `v` in decimal.
    pub(crate) fn u64(&mut self, mut v: u64) -> &str {
        let mut i = self.b.len();
        loop {
            i -= 1;
            self.b[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        // Only ASCII digits were written.
        std::str::from_utf8(&self.b[i..]).unwrap_or("")
    }
}

/// Files in the folder of `path` whose names start with `prefix` and end with `.csv` or
/// `.csv.gz`, sorted by name.
pub(crate) fn companions(path: &Path, prefix: &str) -> Result<Vec<PathBuf>, EventsError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let entries = std::fs::read_dir(dir).map_err(|e| EventsError::io(dir, e))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| EventsError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(prefix) && (name.ends_with(".csv") || name.ends_with(".csv.gz")) {
            let p = entry.path();
            if p.is_file() {
                found.push(p);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The companion file `name` (or `name.gz`) in the folder of `path`, if there is one.
pub(crate) fn companion(path: &Path, name: &str) -> Option<PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    [dir.join(name), dir.join(format!("{name}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
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
