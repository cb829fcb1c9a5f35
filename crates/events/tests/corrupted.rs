//! A corrupted copy of the real REES46 sample: every good row is ingested, exactly the bad
//! lines are quarantined (right line numbers and reason codes), whatever the reading path,
//! and the quarantine file round-trips.

mod common;

use common::{assert_same_table, data};
use shopsense_events::reject::{count_by_reason, read_quarantine, write_quarantine};
use shopsense_events::{read_file, Event, Format, ReadOptions, ReadOutput, RejectReason};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Replaces field `idx` of a plain (quote-free) REES46 line.
fn set_field(line: &str, idx: usize, value: &str) -> String {
    let mut f: Vec<&str> = line.split(',').collect();
    f[idx] = value;
    f.join(",")
}

fn remove_field(line: &str, idx: usize) -> String {
    let mut f: Vec<&str> = line.split(',').collect();
    f.remove(idx);
    f.join(",")
}

struct Corrupted {
    path: PathBuf,
    /// Bad lines: line number → expected reason.
    bad: BTreeMap<u64, RejectReason>,
    /// Lines whose good row was changed on purpose: line number → expected event.
    changed: BTreeMap<u64, Event>,
    /// Lines made blank.
    blank: Vec<u64>,
    _dir: tempfile::TempDir,
}

/// Builds the corrupted copy. `orig` maps line numbers of the real file to its events.
fn corrupt(orig: &BTreeMap<u64, Event>) -> Corrupted {
    let text = std::fs::read_to_string(data("rees46/2019-Oct_head.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 17_435);
    let n = lines.len() as u64;
    let mut bad = BTreeMap::new();
    let mut changed = BTreeMap::new();
    let mut blank = Vec::new();
    let mut out: Vec<Vec<u8>> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let no = i as u64 + 1;
        let line = *line;
        let mut bytes: Vec<u8> = match no {
            // A BOM at the start of the header.
            1 => [&b"\xEF\xBB\xBF"[..], line.as_bytes()].concat(),
            // CRLF endings on good rows.
            10 | 11 | 130 => {
                let mut b = line.as_bytes().to_vec();
                b.push(b'\r');
                b
            }
            // A line cut in the middle.
            20 => {
                let cut = &line[..60];
                bad.insert(
                    no,
                    RejectReason::FieldCount {
                        expected: 9,
                        found: cut.matches(',').count() + 1,
                    },
                );
                cut.as_bytes().to_vec()
            }
            200 => {
                bad.insert(
                    no,
                    RejectReason::FieldCount {
                        expected: 9,
                        found: 1,
                    },
                );
                line.as_bytes()[..15].to_vec()
            }
            // A binary blob (no line break inside).
            30 => {
                bad.insert(no, RejectReason::InvalidUtf8);
                (0x80u8..=0xFF).chain([0, 1, 2, 0x1b, 0xC3]).collect()
            }
            // Wrong types.
            40 => {
                bad.insert(no, RejectReason::bad_number("price", "abc"));
                set_field(line, 6, "abc").into_bytes()
            }
            50 => {
                let v = "2019-10-01 25:00:00 UTC";
                bad.insert(no, RejectReason::bad_time("event_time", v));
                set_field(line, 0, v).into_bytes()
            }
            60 => {
                let v = "P-1004873";
                bad.insert(no, RejectReason::bad_number("product_id", v));
                set_field(line, 2, v).into_bytes()
            }
            // A missing column.
            70 => {
                bad.insert(
                    no,
                    RejectReason::FieldCount {
                        expected: 9,
                        found: 8,
                    },
                );
                remove_field(line, 5).into_bytes()
            }
            // Quoted fields, one holding the delimiter.
            80 => {
                let mut e = orig[&no].clone();
                e.brand = Some("acme, inc".into());
                changed.insert(no, e);
                set_field(line, 5, "\"acme, inc\"").into_bytes()
            }
            81 => {
                changed.insert(no, orig[&no].clone());
                let brand = line.split(',').nth(5).unwrap();
                set_field(line, 5, &format!("\"{brand}\"")).into_bytes()
            }
            // Empty optional fields.
            90 => {
                let mut e = orig[&no].clone();
                e.brand = None;
                e.price = None;
                e.category_path = None;
                changed.insert(no, e);
                let l = set_field(line, 5, "");
                let l = set_field(&l, 6, "");
                set_field(&l, 4, "").into_bytes()
            }
            // A quote left open.
            100 => {
                bad.insert(no, RejectReason::BadQuoting);
                set_field(line, 5, "\"acme").into_bytes()
            }
            110 => {
                bad.insert(no, RejectReason::unknown_kind("event_type", ""));
                set_field(line, 1, "").into_bytes()
            }
            120 => {
                bad.insert(no, RejectReason::missing("user_id"));
                set_field(line, 7, "").into_bytes()
            }
            140 => {
                blank.push(no);
                b"  \r".to_vec()
            }
            // The last line is cut short and has no line break.
            _ if no == n => {
                let cut = &line[..70];
                bad.insert(
                    no,
                    RejectReason::Truncated {
                        expected: 9,
                        found: cut.matches(',').count() + 1,
                    },
                );
                cut.as_bytes().to_vec()
            }
            _ => line.as_bytes().to_vec(),
        };
        if no != n {
            bytes.push(b'\n');
        }
        out.push(bytes);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("2019-Oct_corrupted.csv");
    std::fs::write(&path, out.concat()).unwrap();
    Corrupted {
        path,
        bad,
        changed,
        blank,
        _dir: dir,
    }
}

fn opts(threads: usize, parallel: bool) -> ReadOptions {
    ReadOptions {
        threads,
        parallel_min_bytes: parallel.then_some(1),
        ..ReadOptions::default()
    }
}

fn check(c: &Corrupted, orig: &BTreeMap<u64, Event>, out: &ReadOutput) {
    let good = 17_434 - c.bad.len() - c.blank.len();
    assert_eq!(c.bad.len(), 11);
    assert_eq!(out.table.len(), good, "every good row is ingested");
    assert_eq!(out.table.len(), 17_422);
    assert_eq!(out.lines, 17_434 - c.blank.len() as u64);
    assert_eq!(out.blank_lines, c.blank.len() as u64);
    // Exactly the bad lines, with their reasons, in order.
    let got: Vec<(u64, RejectReason)> = out
        .rejects
        .iter()
        .map(|r| (r.line, r.reason.clone()))
        .collect();
    let want: Vec<(u64, RejectReason)> = c.bad.iter().map(|(l, r)| (*l, r.clone())).collect();
    assert_eq!(got, want);
    let codes = count_by_reason(&out.rejects);
    let codes: Vec<(&str, u64)> = codes.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        codes,
        vec![
            ("bad_number", 2),
            ("bad_quoting", 1),
            ("bad_time", 1),
            ("field_count", 3),
            ("invalid_utf8", 1),
            ("missing_id", 1),
            ("truncated", 1),
            ("unknown_kind", 1),
        ]
    );
    assert!(out
        .rejects
        .iter()
        .all(|r| r.file.ends_with("2019-Oct_corrupted.csv")));
    let bin = out.rejects.iter().find(|r| r.line == 30).unwrap();
    assert!(bin.raw.contains('\u{fffd}'));
    let cut = out.rejects.iter().find(|r| r.line == 20).unwrap();
    assert_eq!(cut.raw.len(), 60, "the raw line is kept");
    // Every good row carries the values of the original row at the same line.
    let mut seen = 0;
    for i in 0..out.table.len() {
        let mut e = out.table.event(i);
        let line = e.source_line;
        assert!(!c.bad.contains_key(&line) && !c.blank.contains(&line));
        e.source_file = None;
        let mut want = c.changed.get(&line).unwrap_or(&orig[&line]).clone();
        want.source_file = None;
        assert_eq!(e, want, "line {line}");
        seen += 1;
    }
    assert_eq!(seen, good);
}

fn original() -> BTreeMap<u64, Event> {
    let (_, out) = read_file(
        &data("rees46/2019-Oct_head.csv"),
        Some(Format::Rees46),
        &opts(1, false),
    )
    .unwrap();
    (0..out.table.len())
        .map(|i| {
            let e = out.table.event(i);
            (e.source_line, e)
        })
        .collect()
}

#[test]
fn corrupted_rees46_keeps_every_good_row_and_quarantines_exactly_the_bad_ones() {
    let orig = original();
    let c = corrupt(&orig);
    let (format, out) = read_file(&c.path, None, &opts(1, false)).unwrap();
    assert_eq!(format, Format::Rees46, "detected despite the BOM");
    check(&c, &orig, &out);

    // Parallel byte ranges give the same rows, rejects and line numbers.
    for threads in [2, 5] {
        let (_, par) = read_file(&c.path, None, &opts(threads, true)).unwrap();
        check(&c, &orig, &par);
        assert_same_table(&out.table, &par.table, true);
        assert_eq!(par.rejects, out.rejects);
    }

    // Quarantine round trip.
    let dir = tempfile::tempdir().unwrap();
    let q: &Path = &dir.path().join("q/quarantine.jsonl");
    write_quarantine(q, &out.rejects).unwrap();
    let back = read_quarantine(q).unwrap();
    assert_eq!(back, out.rejects);
    // Appending keeps earlier rows.
    write_quarantine(q, &out.rejects[..2]).unwrap();
    assert_eq!(read_quarantine(q).unwrap().len(), out.rejects.len() + 2);
}

#[test]
fn corrupted_rees46_through_gzip() {
    use std::io::Write;
    let orig = original();
    let c = corrupt(&orig);
    let gz = c.path.with_extension("csv.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(&std::fs::read(&c.path).unwrap()).unwrap();
    enc.finish().unwrap();
    let (format, out) = read_file(&gz, None, &opts(2, true)).unwrap();
    assert_eq!(format, Format::Rees46);
    assert_eq!(out.table.len(), 17_422);
    let got: Vec<(u64, &str)> = out
        .rejects
        .iter()
        .map(|r| (r.line, r.reason.code()))
        .collect();
    let want: Vec<(u64, &str)> = c.bad.iter().map(|(l, r)| (*l, r.code())).collect();
    assert_eq!(got, want);
}

#[test]
fn gzip_cut_mid_stream_keeps_whole_lines() {
    use std::io::Write;
    let src = std::fs::read(data("rees46/2019-Oct_head.csv")).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&src).unwrap();
    let gz = enc.finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.csv.gz");
    std::fs::write(&path, &gz[..gz.len() / 2]).unwrap();
    let (_, out) = read_file(&path, Some(Format::Rees46), &opts(1, false)).unwrap();
    // Some whole lines were read, and at most the partial tail is quarantined.
    assert!(out.table.len() > 1_000 && out.table.len() < 17_434);
    assert!(out.rejects.len() <= 1);
    assert_eq!(out.lines as usize, out.table.len() + out.rejects.len());
    if let Some(r) = out.rejects.first() {
        assert_eq!(r.line, out.table.line.last().unwrap() + 1);
    }
}
