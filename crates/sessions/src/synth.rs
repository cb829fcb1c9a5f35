//! Scale-up data for throughput tests: copies whole real sessions with new ids and times.
//!
//! Each output session is a copy of a session drawn at random from a real sample; event
//! kinds, items, categories, brands, prices and the offsets between events are real, only
//! user id, session id and start time are new. Output is REES46 CSV in time order. This is for
//! measuring speed and memory at scale, never for measuring model quality.

use crate::index::Sessions;
use shopsense_events::EventTable;
use std::io::Write;

/// Parameters of the generator.
#[derive(Debug, Clone, Copy)]
pub struct SynthOptions {
    /// Events to write.
    pub events: u64,
    /// Days over which session starts are spread.
    pub days: u32,
    /// Start of the first day, UTC ms.
    pub start_ms: i64,
    /// Random seed.
    pub seed: u64,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            events: 1_000_000,
            days: 31,
            start_ms: 1_569_888_000_000, // 2019-10-01 00:00:00 UTC
            seed: 7,
        }
    }
}

/// SplitMix64: a small, well-mixed deterministic generator.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Seeds the generator.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthSummary {
    /// Events written.
    pub events: u64,
    /// Sessions written.
    pub sessions: u64,
}

/// Writes `opts.events` events copied from the sessions of `t` as REES46 CSV to `out`.
/// `progress` is called with the number of events written since its last call.
pub fn synth_rees46(
    t: &EventTable,
    sessions: &Sessions,
    opts: &SynthOptions,
    mut out: impl Write,
    mut progress: impl FnMut(u64),
) -> std::io::Result<SynthSummary> {
    if sessions.is_empty() || opts.events == 0 {
        writeln!(out, "{}", shopsense_events::formats::rees46::HEADER)?;
        return Ok(SynthSummary {
            events: 0,
            sessions: 0,
        });
    }
    let mut rng = SplitMix64::new(opts.seed);
    // Draw sessions until the event budget is met; the last copy is cut to fit.
    let mut picks: Vec<(u32, i64, u32)> = Vec::new(); // (source session, start, user)
    let mut total = 0u64;
    let span = opts.days.max(1) as u64 * 86_400_000;
    while total < opts.events {
        let s = rng.below(sessions.len() as u64) as u32;
        let start = opts.start_ms + (rng.below(span / 1000) * 1000) as i64;
        let user = 400_000_000 + rng.below(200_000_000) as u32;
        picks.push((s, start, user));
        total += sessions.events(s as usize).len() as u64;
    }
    // Every output event as (time, copy index, position in session); the last copy is cut
    // so that exactly `events` are written.
    let mut evs: Vec<(i64, u32, u32)> = Vec::with_capacity(opts.events as usize);
    let excess = (total - opts.events) as usize;
    for (c, &(s, start, _)) in picks.iter().enumerate() {
        let mut rows = sessions.events(s as usize);
        if c + 1 == picks.len() {
            rows = &rows[..rows.len() - excess];
        }
        let t0 = t.time_ms[rows[0] as usize];
        for (p, &r) in rows.iter().enumerate() {
            evs.push((start + (t.time_ms[r as usize] - t0), c as u32, p as u32));
        }
    }
    evs.sort_unstable();
    writeln!(out, "{}", shopsense_events::formats::rees46::HEADER)?;
    let mut line = String::with_capacity(256);
    let mut since = 0u64;
    for &(time, c, p) in &evs {
        use std::fmt::Write as _;
        let (s, _, user) = picks[c as usize];
        let r = sessions.events(s as usize)[p as usize] as usize;
        line.clear();
        let secs = time.div_euclid(1000);
        let dt = chrono_like(secs);
        let _ = writeln!(
            line,
            "{dt},{},{},{},{},{},{},{},{:08x}-0000-4000-8000-{:012x}",
            t.kind_name(t.kind[r]),
            t.items.get(t.item[r]),
            t.categories.get_opt(t.category[r]).unwrap_or(""),
            t.category_paths.get_opt(t.category_path[r]).unwrap_or(""),
            t.brands.get_opt(t.brand[r]).unwrap_or(""),
            PriceFmt(t.price[r]),
            user,
            c,
            user,
        );
        out.write_all(line.as_bytes())?;
        since += 1;
        if since == 100_000 {
            progress(since);
            since = 0;
        }
    }
    progress(since);
    out.flush()?;
    Ok(SynthSummary {
        events: evs.len() as u64,
        sessions: picks.len() as u64,
    })
}

struct PriceFmt(f64);

impl std::fmt::Display for PriceFmt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_nan() {
            Ok(())
        } else {
            write!(f, "{:.2}", self.0)
        }
    }
}

/// Formats Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
fn chrono_like(secs: i64) -> DateFmt {
    DateFmt(secs)
}

struct DateFmt(i64);

impl std::fmt::Display for DateFmt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let days = self.0.div_euclid(86_400);
        let sod = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        )
    }
}

/// Inverse of `days_from_civil` (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for d in (-100_000..100_000).step_by(37) {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(shopsense_events::time::days_from_civil(y, m, dd), d);
        }
        assert_eq!(
            DateFmt(1_569_888_000).to_string(),
            "2019-10-01 00:00:00 UTC"
        );
    }
}
