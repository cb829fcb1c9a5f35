//! Fast, allocation-free time parsing for the formats' fixed layouts, plus flexible parsing
//! (RFC 3339, strftime patterns) for mapped CSVs and command-line bounds.

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[inline]
fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses `YYYY-MM-DD`, returning days since the epoch.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = digits(&b[0..4])? as i64;
    let m = digits(&b[5..7])?;
    let d = digits(&b[8..10])?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Parses `YYYY-MM-DD HH:MM:SS[.fff][ UTC]` (also with `T` between date and time), as UTC,
/// into milliseconds since the epoch. This is REES46's layout.
pub fn parse_datetime_utc(s: &str) -> Option<i64> {
    parse_datetime_utc_cached(s, &mut DateCache::default())
}

/// The date a [`parse_datetime_utc_cached`] call parsed last: time-ordered logs repeat one
/// date for thousands of rows, so its day number is looked up instead of recomputed.
#[derive(Debug, Clone, Copy, Default)]
pub struct DateCache {
    key: [u8; 10],
    days: i64,
    valid: bool,
}

/// [`parse_datetime_utc`] remembering the last date in `cache` (same results).
#[inline]
pub fn parse_datetime_utc_cached(s: &str, cache: &mut DateCache) -> Option<i64> {
    let s = s.strip_suffix(" UTC").unwrap_or(s);
    let s = s.strip_suffix('Z').unwrap_or(s);
    let b = s.as_bytes();
    if b.len() < 19 || (b[10] != b' ' && b[10] != b'T') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let mut key = [0u8; 10];
    key.copy_from_slice(&b[..10]);
    let days = if cache.valid && cache.key == key {
        cache.days
    } else {
        // Byte 10 is an ASCII separator (checked above), so 10 is a char boundary.
        let days = parse_date(&s[..10])?;
        *cache = DateCache {
            key,
            days,
            valid: true,
        };
        days
    };
    let h = digits(&b[11..13])?;
    let mi = digits(&b[14..16])?;
    let se = digits(&b[17..19])?;
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut ms = 0i64;
    if b.len() > 19 {
        if b[19] != b'.' || b.len() == 20 {
            return None;
        }
        let frac = &b[20..];
        let mut scale = 100;
        for &c in frac {
            if !c.is_ascii_digit() {
                return None;
            }
            ms += (c - b'0') as i64 * scale;
            scale /= 10;
        }
    }
    Some(((days * 24 + h as i64) * 60 + mi as i64) * 60_000 + se as i64 * 1000 + ms)
}

/// Parses an integer field.
#[inline]
pub fn parse_i64(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let (neg, b) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    if b.is_empty() || b.len() > 18 {
        return s.parse().ok();
    }
    let mut v = 0i64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as i64;
    }
    Some(if neg { -v } else { v })
}

/// True when `s` is a non-empty run of ASCII digits.
#[inline]
pub fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

/// Parses a time given on the command line or in a mapping: RFC 3339
/// (`2017-11-25T00:00:00+08:00`), `YYYY-MM-DD HH:MM:SS[ UTC]` (UTC), or `YYYY-MM-DD`
/// (midnight UTC). Returns UTC milliseconds.
pub fn parse_time_arg(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    if let Some(ms) = parse_datetime_utc(s) {
        return Some(ms);
    }
    parse_date(s).map(|d| d * 86_400_000)
}

/// Formats UTC milliseconds as RFC 3339 with millisecond precision (`2019-10-01T00:00:00.000Z`).
pub fn format_ms(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => format!("{ms}ms"),
    }
}

/// Formats UTC milliseconds as the day `YYYY-MM-DD`.
pub fn format_day(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%d").to_string(),
        None => "invalid".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rees46_times() {
        assert_eq!(parse_datetime_utc("1970-01-01 00:00:00 UTC"), Some(0));
        assert_eq!(
            parse_datetime_utc("2019-10-01 00:00:00 UTC"),
            Some(1_569_888_000_000)
        );
        assert_eq!(
            parse_datetime_utc("2019-10-01 02:50:00.25"),
            Some(1_569_898_200_250)
        );
        assert_eq!(parse_datetime_utc("2019-02-29 00:00:00 UTC"), None);
        assert_eq!(parse_datetime_utc("2019-10-01 24:00:00 UTC"), None);
        assert_eq!(parse_datetime_utc("2019-10-01"), None);
        assert_eq!(parse_datetime_utc("garbage"), None);
    }

    #[test]
    fn time_args() {
        assert_eq!(
            parse_time_arg("2017-11-25T00:00:00+08:00"),
            Some(1_511_539_200_000)
        );
        assert_eq!(parse_time_arg("2017-12-04"), Some(1_512_345_600_000));
        assert_eq!(format_ms(1_569_888_000_000), "2019-10-01T00:00:00.000Z");
        assert_eq!(format_day(1_569_898_200_250), "2019-10-01");
    }

    #[test]
    fn agrees_with_chrono() {
        for days in (-800_000i64..800_000).step_by(997) {
            let d = chrono::DateTime::from_timestamp(days * 86400, 0).unwrap();
            let s = d.format("%Y-%m-%d").to_string();
            if s.len() == 10 {
                assert_eq!(parse_date(&s), Some(days), "{s}");
            }
        }
    }
}
