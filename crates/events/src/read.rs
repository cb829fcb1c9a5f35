//! The streaming line driver shared by every line-based format: opens plain or gzip input,
//! splits it into lines (in parallel byte ranges for large plain files), handles BOM, CRLF,
//! quoting, invalid UTF-8 and truncated last lines, and hands each line to a format's
//! [`LineParser`]. Nothing is loaded whole: input is read in fixed-size blocks.

use crate::error::EventsError;
use crate::reject::{RejectReason, Rejected};
use crate::table::{EventTable, Pipelines, RawEvent};
use flate2::read::MultiGzDecoder;
use std::any::Any;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

/// Block size for reading input.
const BLOCK: usize = 1 << 20;
/// Plain files at least this large are parsed in parallel byte ranges (unless
/// [`ReadOptions::parallel_min_bytes`] says otherwise).
pub const PARALLEL_MIN_BYTES: u64 = 8 << 20;

/// Called with the number of input bytes consumed since the last call.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// How to read.
#[derive(Clone, Default)]
pub struct ReadOptions {
    /// Worker threads for large plain files (0 = all cores).
    pub threads: usize,
    /// Progress callback (bytes).
    pub progress: Option<Progress>,
    /// Plain files at least this many bytes long are parsed in parallel byte ranges;
    /// `None` means [`PARALLEL_MIN_BYTES`] (8 MiB). Tests set it low to force the parallel
    /// path on small files; results are identical either way, line numbers included.
    pub parallel_min_bytes: Option<u64>,
    /// Which optional columns to keep (projection); rows are still fully validated.
    pub columns: Columns,
}

/// The optional columns a read keeps. Dropping the ones a job does not need (the session
/// export needs none of them) saves interning work and memory; the row is still parsed and
/// validated in full, so the same rows are accepted and rejected either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns {
    /// Keep category ids.
    pub category: bool,
    /// Keep category paths.
    pub category_path: bool,
    /// Keep brands.
    pub brand: bool,
    /// Keep order ids.
    pub order: bool,
    /// Keep user ids that are plain decimal numbers as numbers
    /// ([`EventTable::user_num`](crate::EventTable::user_num)) instead of interning them;
    /// `user` is then [`NONE`](crate::NONE) on those rows. For jobs that need only each
    /// session's user (the session export): interning a user per row was ≈ 8 % of its time.
    pub numeric_users: bool,
}

impl Default for Columns {
    fn default() -> Self {
        Columns::ALL
    }
}

impl Columns {
    /// Every column.
    pub const ALL: Columns = Columns {
        category: true,
        category_path: true,
        brand: true,
        order: true,
        numeric_users: false,
    };
    /// Only time, kind, user, session, item and price.
    pub const CORE: Columns = Columns {
        category: false,
        category_path: false,
        brand: false,
        order: false,
        numeric_users: false,
    };
    /// [`Columns::CORE`] with numeric user ids kept as numbers (what the session export reads).
    pub const SESSION_EXPORT: Columns = Columns {
        numeric_users: true,
        ..Columns::CORE
    };

    #[inline]
    fn project<'a>(&self, ev: &RawEvent<'a>) -> RawEvent<'a> {
        let mut e = *ev;
        if !self.category {
            e.category = None;
        }
        if !self.category_path {
            e.category_path = None;
        }
        if !self.brand {
            e.brand = None;
        }
        if !self.order {
            e.order = None;
        }
        e
    }
}

impl std::fmt::Debug for ReadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOptions")
            .field("threads", &self.threads)
            .field("progress", &self.progress.is_some())
            .field("parallel_min_bytes", &self.parallel_min_bytes)
            .field("columns", &self.columns)
            .finish()
    }
}

/// What reading one input produced.
#[derive(Debug, Default)]
pub struct ReadOutput {
    /// The good events, in input order.
    pub table: EventTable,
    /// The rejected rows, in input order.
    pub rejects: Vec<Rejected>,
    /// Data lines seen (header and blank lines excluded).
    pub lines: u64,
    /// Blank lines skipped.
    pub blank_lines: u64,
}

/// Most fields a row can hand to a parser; rows with more are counted, not stored.
pub const MAX_FIELDS: usize = 32;

/// The fields of one row, on the stack (no allocation, and no initialisation of the unused
/// slots, per row).
#[derive(Debug, Default)]
pub struct Fields<'a> {
    f: arrayvec::ArrayVec<&'a str, MAX_FIELDS>,
    n: usize,
}

impl<'a> Fields<'a> {
    /// Removes all fields.
    pub fn clear(&mut self) {
        self.f.clear();
        self.n = 0;
    }
    /// Appends a field (counted past [`MAX_FIELDS`], but not stored).
    #[inline]
    pub fn push(&mut self, s: &'a str) {
        // Past MAX_FIELDS the field is only counted (the row is refused by its count).
        let _ = self.f.try_push(s);
        self.n += 1;
    }
    /// Number of fields in the row.
    pub fn len(&self) -> usize {
        self.n
    }
    /// True when the row has no fields.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    /// The stored fields.
    pub fn as_slice(&self) -> &[&'a str] {
        &self.f
    }
    /// Checks the row has exactly `n` fields.
    pub fn expect(&self, n: usize) -> Result<&[&'a str], RejectReason> {
        if self.n == n {
            Ok(self.as_slice())
        } else {
            Err(RejectReason::FieldCount {
                expected: n,
                found: self.n,
            })
        }
    }
}

/// Reusable per-thread buffers for splitting a line into fields, plus one slot of
/// format-specific reusable state (see [`Scratch::state`]).
pub struct Scratch {
    csv: csv_core::Reader,
    csv_delim: u8,
    out: Vec<u8>,
    ends: Vec<usize>,
    state: Option<Box<dyn Any + Send>>,
    /// The last date a parser read (see [`crate::time::DateCache`]).
    pub(crate) date: crate::time::DateCache,
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scratch")
            .field("csv_delim", &self.csv_delim)
            .field("out", &self.out.len())
            .field("ends", &self.ends.len())
            .field("state", &self.state.is_some())
            .finish()
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            csv: csv_core::Reader::new(),
            csv_delim: b',',
            out: vec![0; 1024],
            ends: vec![0; 32],
            state: None,
            date: crate::time::DateCache::default(),
        }
    }
}

impl Scratch {
    /// Format-specific reusable state of type `T`, created with `T::default()` on first use
    /// (or when a different type was stored before). Parsers keep buffers here so that
    /// parsing a line allocates nothing once the buffers have grown.
    pub fn state<T: Default + Send + 'static>(&mut self) -> &mut T {
        if !self.state.as_ref().is_some_and(|s| s.is::<T>()) {
            self.state = Some(Box::new(T::default()));
        }
        match self.state.as_mut().and_then(|s| s.downcast_mut::<T>()) {
            Some(t) => t,
            // Unreachable: the slot was just filled with a `T`.
            None => unreachable!("scratch state holds the requested type"),
        }
    }

    /// Splits `line` on `delim`, honouring double quotes, into `fields`. Lines without a quote
    /// byte take a copy-free fast path.
    pub fn split<'a>(
        &'a mut self,
        line: &'a str,
        delim: u8,
        fields: &mut Fields<'a>,
    ) -> Result<(), RejectReason> {
        fields.clear();
        if memchr::memchr(b'"', line.as_bytes()).is_none() {
            split_unquoted(line, delim, fields);
            return Ok(());
        }
        if delim != self.csv_delim {
            self.csv = csv_core::ReaderBuilder::new().delimiter(delim).build();
            self.csv_delim = delim;
        }
        self.csv.reset();
        let mut input = line.as_bytes();
        let mut nout = 0;
        let mut nend = 0;
        loop {
            let (res, i, o, e) =
                self.csv
                    .read_record(input, &mut self.out[nout..], &mut self.ends[nend..]);
            input = &input[i..];
            nout += o;
            nend += e;
            match res {
                // The line holds no terminator: an empty input next tells csv_core the
                // record is complete.
                csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::OutputFull => {
                    let n = self.out.len() * 2;
                    self.out.resize(n, 0)
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0)
                }
                csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End => break,
            }
        }
        let input = line.as_bytes();
        // A quote left open swallows the rest of the line: refuse it.
        let quotes = input.iter().filter(|&&c| c == b'"').count();
        if quotes % 2 == 1 {
            return Err(RejectReason::BadQuoting);
        }
        let out = std::str::from_utf8(&self.out[..nout]).map_err(|_| RejectReason::InvalidUtf8)?;
        let mut start = 0;
        for &end in &self.ends[..nend] {
            // Field boundaries from csv_core fall on byte positions of the unquoted output;
            // they are char boundaries because the delimiter is ASCII.
            fields.push(out.get(start..end).ok_or(RejectReason::InvalidUtf8)?);
            start = end;
        }
        Ok(())
    }
}

/// Splits a line without quotes on `delim`, eight bytes at a time: fields are short, and
/// finding each delimiter with a separate search cost more than the search itself.
#[inline]
fn split_unquoted<'a>(line: &'a str, delim: u8, fields: &mut Fields<'a>) {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let b = line.as_bytes();
    let pattern = u64::from_ne_bytes([delim; 8]);
    let mut start = 0;
    let mut base = 0;
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        let x = u64::from_le_bytes(word) ^ pattern;
        // The high bit of each byte of `m` is set exactly where `x` has a zero byte, i.e.
        // where the line has the delimiter.
        let mut m = !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7);
        while m != 0 {
            let i = base + (m.trailing_zeros() / 8) as usize;
            // The delimiter is ASCII, so `start..i` falls on char boundaries.
            fields.push(&line[start..i]);
            start = i + 1;
            m &= m - 1;
        }
        base += 8;
    }
    for (k, &c) in words.remainder().iter().enumerate() {
        if c == delim {
            let i = base + k;
            fields.push(&line[start..i]);
            start = i + 1;
        }
    }
    fields.push(&line[start..]);
}

/// A line-oriented format: knows how many header lines to skip and turns one line into zero
/// or more events.
pub trait LineParser: Sync {
    /// Lines to skip at the start of the input (headers).
    fn header_lines(&self) -> u64;
    /// Parses one line (terminator and `\r` removed). Calls `emit` once per event. Must not
    /// emit anything when it returns an error.
    fn parse_line(
        &self,
        line: &str,
        scratch: &mut Scratch,
        emit: &mut dyn FnMut(&RawEvent<'_>),
    ) -> Result<(), RejectReason>;
    /// The reason to give when the input's last line has no terminator and fails to parse
    /// with `reason`: by default such a line is reported as truncated.
    fn truncated(&self, reason: RejectReason) -> RejectReason {
        match reason {
            RejectReason::FieldCount { expected, found } => {
                RejectReason::Truncated { expected, found }
            }
            other => other,
        }
    }
}

/// Opens `path`, transparently decompressing gzip (detected by its magic bytes).
pub fn open_maybe_gz(path: &Path) -> Result<(Box<dyn Read + Send>, bool), EventsError> {
    let mut f = File::open(path).map_err(|e| EventsError::io(path, e))?;
    let mut magic = [0u8; 2];
    let n = read_full(&mut f, &mut magic).map_err(|e| EventsError::io(path, e))?;
    f.seek(SeekFrom::Start(0))
        .map_err(|e| EventsError::io(path, e))?;
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok((
            Box::new(MultiGzDecoder::new(BufReader::with_capacity(BLOCK, f))),
            true,
        ))
    } else {
        Ok((Box::new(f), false))
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads the first line of `path` (decompressed, BOM and `\r` removed), at most 64 KiB.
pub fn first_line(path: &Path) -> Result<String, EventsError> {
    let (mut r, _) = open_maybe_gz(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let n = read_full(&mut r, &mut buf).map_err(|e| EventsError::io(path, e))?;
    let buf = &buf[..n];
    let buf = buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(buf);
    let end = memchr::memchr(b'\n', buf).unwrap_or(buf.len());
    let line = &buf[..end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Ok(String::from_utf8_lossy(line).into_owned())
}

/// One worker's state while parsing a byte range.
struct Worker<'p> {
    parser: &'p dyn LineParser,
    file_name: &'p str,
    out: ReadOutput,
    file_idx: u16,
    scratch: Scratch,
    /// Lines seen so far in this range (1-based numbering within the range).
    line_no: u64,
    /// Lines to skip as header (only for the range that starts the input).
    skip: u64,
    /// True for the range that starts the input (the only one that can hold a BOM).
    at_start: bool,
    /// Projection.
    columns: Columns,
    /// Ids in flight (see [`EventTable::push_pipelined`]); flushed when the range is done.
    pipes: Pipelines,
}

impl<'p> Worker<'p> {
    fn new(
        parser: &'p dyn LineParser,
        file_name: &'p str,
        at_start: bool,
        columns: Columns,
    ) -> Self {
        let mut out = ReadOutput::default();
        let file_idx = out.table.add_file(file_name);
        Worker {
            parser,
            file_name,
            out,
            file_idx,
            scratch: Scratch::default(),
            line_no: 0,
            skip: if at_start { parser.header_lines() } else { 0 },
            at_start,
            columns,
            pipes: Pipelines::new(columns.numeric_users),
        }
    }

    /// Handles one line. `ascii`: the caller checked that `raw` is all ASCII (so valid UTF-8).
    #[inline]
    fn line(&mut self, raw: &[u8], terminated: bool, ascii: bool) {
        self.line_no += 1;
        let mut l = raw.strip_suffix(b"\r").unwrap_or(raw);
        if self.line_no == 1 && self.at_start {
            l = l.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(l);
        }
        if self.line_no <= self.skip {
            return;
        }
        if l.is_empty() || l.iter().all(|c| c.is_ascii_whitespace()) {
            self.out.blank_lines += 1;
            return;
        }
        self.out.lines += 1;
        let line_no = self.line_no;
        let text = if ascii {
            // SAFETY: every byte is ASCII (checked for the whole block by the caller), and
            // ASCII is valid UTF-8; checking each line again was a measurable share of parsing.
            unsafe { std::str::from_utf8_unchecked(l) }
        } else {
            match std::str::from_utf8(l) {
                Ok(t) => t,
                Err(_) => {
                    self.reject(line_no, l, RejectReason::InvalidUtf8);
                    return;
                }
            }
        };
        let table = &mut self.out.table;
        let pipes = &mut self.pipes;
        let file_idx = self.file_idx;
        let cols = self.columns;
        let res = if cols == Columns::ALL {
            self.parser.parse_line(text, &mut self.scratch, &mut |ev| {
                table.push_pipelined(ev, file_idx, line_no, pipes)
            })
        } else {
            self.parser.parse_line(text, &mut self.scratch, &mut |ev| {
                table.push_pipelined(&cols.project(ev), file_idx, line_no, pipes)
            })
        };
        if let Err(reason) = res {
            let reason = if terminated {
                reason
            } else {
                self.parser.truncated(reason)
            };
            self.reject(line_no, l, reason);
        }
    }

    fn reject(&mut self, line: u64, raw: &[u8], reason: RejectReason) {
        self.out
            .rejects
            .push(Rejected::new(self.file_name, line, raw, reason));
    }

    /// Feeds a stream to the line splitter. `limit` bounds the bytes read.
    ///
    /// `size_for` is the number of input bytes whose rows this worker's columns should be
    /// sized for: its own range, or the whole input for the first range, whose table the
    /// others are appended to (so that appending them copies nothing).
    fn run(
        &mut self,
        mut r: impl Read,
        limit: u64,
        size_for: u64,
        progress: Option<&Progress>,
        path: &Path,
    ) -> Result<(), EventsError> {
        let mut buf = vec![0u8; BLOCK];
        let mut carry: Vec<u8> = Vec::new();
        let mut remaining = limit;
        let mut first_block = true;
        let mut dictionaries_sized = false;
        loop {
            let want = (buf.len() as u64).min(remaining) as usize;
            if want == 0 {
                break;
            }
            let n = match r.read(&mut buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    // A compressed stream that stops mid-way: keep every whole line read so
                    // far; the partial tail is quarantined below as truncated.
                    break;
                }
                Err(e) => return Err(EventsError::io(path, e)),
            };
            remaining -= n as u64;
            if let Some(p) = progress {
                p(n as u64);
            }
            let chunk = &buf[..n];
            let ascii = chunk.is_ascii();
            let mut start = 0;
            for nl in memchr::memchr_iter(b'\n', chunk) {
                if carry.is_empty() {
                    self.line(&chunk[start..nl], true, ascii);
                } else {
                    carry.extend_from_slice(&chunk[start..nl]);
                    let line = std::mem::take(&mut carry);
                    self.line(&line, true, false);
                    carry = line;
                    carry.clear();
                }
                start = nl + 1;
            }
            carry.extend_from_slice(&chunk[start..]);
            if !dictionaries_sized && limit != u64::MAX && (limit - remaining) * 20 >= limit {
                // After 5 % of the range, size the dictionaries for the rest at the rate of new
                // strings seen so far: growing a multi-million-entry hash table by doubling
                // moves every entry to a random new slot, once per doubling. The lookup tables
                // are sized for this range's strings (with a quarter to spare), the strings'
                // room for all the input when this is the first range, since the other
                // ranges' strings are appended to it, unindexed ([`Interner::absorb`]).
                dictionaries_sized = true;
                let done = (limit - remaining) as f64;
                let rows = self.out.table.len() as f64;
                let expect = |bytes: u64| {
                    ((rows * bytes as f64 / done) as usize).saturating_sub(self.out.table.len())
                };
                let own = expect(limit + limit / 4);
                let all = expect(size_for.max(limit));
                self.out.table.reserve_dictionaries_split(own, all);
            }
            if first_block && limit != u64::MAX && self.out.table.len() > 64 {
                // Size the columns once from the first block's rows per byte, so they do not
                // grow by doubling (which costs copies and up to 2x memory).
                first_block = false;
                let per_byte = self.out.table.len() as f64 / (limit - remaining) as f64;
                let expect = (per_byte * size_for.max(limit) as f64 * 1.02) as usize;
                self.out
                    .table
                    .reserve(expect.saturating_sub(self.out.table.len()));
            }
        }
        if !carry.is_empty() {
            let line = std::mem::take(&mut carry);
            self.line(&line, false, false);
        }
        self.out.table.flush_pipelines(&mut self.pipes);
        Ok(())
    }
}

/// Reads one line-based input with `parser`.
pub fn read_lines(
    path: &Path,
    parser: &dyn LineParser,
    opts: &ReadOptions,
) -> Result<ReadOutput, EventsError> {
    let name = path.display().to_string();
    let (reader, gz) = open_maybe_gz(path)?;
    let size = std::fs::metadata(path)
        .map_err(|e| EventsError::io(path, e))?
        .len();
    let threads = if opts.threads == 0 {
        rayon::current_num_threads()
    } else {
        opts.threads
    };
    let min_bytes = opts.parallel_min_bytes.unwrap_or(PARALLEL_MIN_BYTES);
    if gz || size < min_bytes || threads < 2 {
        let mut w = Worker::new(parser, &name, true, opts.columns);
        w.run(reader, u64::MAX, u64::MAX, opts.progress.as_ref(), path)?;
        return Ok(w.out);
    }
    drop(reader);
    let clock = std::time::Instant::now();
    let bounds = split_points(path, size, threads)?;
    let ranges: Vec<(u64, u64)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
    let results: Vec<Result<(Worker<'_>, u64), EventsError>> = {
        use rayon::prelude::*;
        ranges
            .par_iter()
            .enumerate()
            .map(|(k, &(start, end))| {
                let mut f = File::open(path).map_err(|e| EventsError::io(path, e))?;
                f.seek(SeekFrom::Start(start))
                    .map_err(|e| EventsError::io(path, e))?;
                // Ranges after the first never hold header lines or a BOM.
                let mut w = Worker::new(parser, &name, k == 0, opts.columns);
                let size_for = if k == 0 { size } else { end - start };
                w.run(f, end - start, size_for, opts.progress.as_ref(), path)?;
                tracing::debug!(
                    "range {k}: {} bytes parsed in {:.3} s",
                    end - start,
                    clock.elapsed().as_secs_f64()
                );
                let lines = w.line_no;
                Ok((w, lines))
            })
            .collect()
    };
    let mut out = ReadOutput::default();
    let mut offset = 0u64;
    let mut tables = Vec::with_capacity(results.len());
    for r in results {
        let (mut w, lines) = r?;
        if offset > 0 {
            for l in w.out.table.line.iter_mut() {
                *l += offset;
            }
            for rj in w.out.rejects.iter_mut() {
                rj.line += offset;
            }
        }
        offset += lines;
        tables.push(std::mem::take(&mut w.out.table));
        out.rejects.append(&mut w.out.rejects);
        out.lines += w.out.lines;
        out.blank_lines += w.out.blank_lines;
    }
    let merge = std::time::Instant::now();
    out.table = EventTable::concat(tables);
    tracing::debug!(
        "{} ranges merged in {:.3} s",
        ranges.len(),
        merge.elapsed().as_secs_f64()
    );
    Ok(out)
}

/// Streams the lines of a plain or gzip file to `f` with their 1-based line numbers: the
/// terminator, a trailing `\r` and a BOM at the start are removed; nothing else is skipped
/// (headers and blank lines included). Used for companion files (lookup tables) that are
/// not event streams. `f` may stop the scan early by returning an error.
pub fn for_each_line(
    path: &Path,
    mut f: impl FnMut(u64, &[u8]) -> Result<(), EventsError>,
) -> Result<(), EventsError> {
    use std::io::BufRead;
    let (r, _) = open_maybe_gz(path)?;
    let mut r = BufReader::with_capacity(BLOCK, r);
    let mut buf = Vec::with_capacity(256);
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = match r.read_until(b'\n', &mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // A compressed stream that stops mid-way: keep what was read.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(EventsError::io(path, e)),
        };
        if n == 0 && buf.is_empty() {
            return Ok(());
        }
        line_no += 1;
        let mut l = buf.strip_suffix(b"\n").unwrap_or(&buf);
        l = l.strip_suffix(b"\r").unwrap_or(l);
        if line_no == 1 {
            l = l.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(l);
        }
        f(line_no, l)?;
    }
}

/// Byte offsets that cut a plain file into `parts` ranges, each starting at a line start.
fn split_points(path: &Path, size: u64, parts: usize) -> Result<Vec<u64>, EventsError> {
    let mut f = File::open(path).map_err(|e| EventsError::io(path, e))?;
    let mut pts = vec![0u64];
    let mut buf = vec![0u8; 64 * 1024];
    for k in 1..parts {
        let guess = size * k as u64 / parts as u64;
        let prev = *pts.last().unwrap_or(&0);
        if guess <= prev {
            continue;
        }
        f.seek(SeekFrom::Start(guess))
            .map_err(|e| EventsError::io(path, e))?;
        let mut pos = guess;
        loop {
            let n = read_full(&mut f, &mut buf).map_err(|e| EventsError::io(path, e))?;
            if n == 0 {
                pos = size;
                break;
            }
            if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
                pos += i as u64 + 1;
                break;
            }
            pos += n as u64;
        }
        if pos < size && pos > prev {
            pts.push(pos);
        }
    }
    pts.push(size);
    Ok(pts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_plain_and_quoted() {
        let mut s = Scratch::default();
        let mut f = Fields::default();
        s.split("a,b,,c", b',', &mut f).unwrap();
        assert_eq!(f.as_slice(), ["a", "b", "", "c"]);
        let mut s = Scratch::default();
        let mut f = Fields::default();
        s.split("\"x,y\",\"he said \"\"hi\"\"\",z", b',', &mut f)
            .unwrap();
        assert_eq!(f.as_slice(), ["x,y", "he said \"hi\"", "z"]);
        let mut s = Scratch::default();
        let mut f = Fields::default();
        assert_eq!(
            s.split("\"open,b", b',', &mut f),
            Err(RejectReason::BadQuoting)
        );
        let mut s = Scratch::default();
        let mut f = Fields::default();
        s.split("a;\"b;c\";", b';', &mut f).unwrap();
        assert_eq!(f.as_slice(), ["a", "b;c", ""]);
    }

    /// The word-at-a-time splitter agrees with `str::split` on every length and delimiter
    /// position (word boundaries, remainders, empty fields, multi-byte text, > MAX_FIELDS).
    #[test]
    fn word_splitter_matches_str_split() {
        let alphabet = ["a", ",", "é", "", ",,", "xyz", ";", "€1"];
        let mut x: u32 = 12345;
        for len in 0..400 {
            let mut line = String::new();
            for _ in 0..len % 60 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                line.push_str(alphabet[(x >> 16) as usize % alphabet.len()]);
            }
            for delim in [b',', b';'] {
                let mut f = Fields::default();
                split_unquoted(&line, delim, &mut f);
                let want: Vec<&str> = line.split(delim as char).collect();
                assert_eq!(f.len(), want.len(), "{line:?}");
                let stored = want.len().min(MAX_FIELDS);
                assert_eq!(f.as_slice(), &want[..stored], "{line:?}");
            }
        }
    }
}
