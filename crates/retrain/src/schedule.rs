//! Cron schedules of the in-process scheduler (`shopsense scheduler --cron`).

use crate::error::{Result, RetrainError};
use chrono::{DateTime, Utc};
use std::str::FromStr;

/// A parsed cron expression (UTC).
///
/// Six or seven fields, seconds first (`sec min hour day-of-month month day-of-week [year]`,
/// the `cron` crate's syntax): `0 0 3 * * *` is 03:00 every day, `*/10 * * * * *` every ten
/// seconds. A classic five-field expression (`0 3 * * *`, as in the Kubernetes CronJob) is
/// accepted too and fires at second 0.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    expr: String,
    schedule: cron::Schedule,
}

impl CronSchedule {
    /// Parses `expr`; the error names the `--cron` flag.
    pub fn parse(expr: &str) -> Result<Self> {
        let fields = expr.split_whitespace().count();
        let full = if fields == 5 {
            format!("0 {expr}")
        } else {
            expr.to_string()
        };
        let schedule = cron::Schedule::from_str(&full).map_err(|e| {
            RetrainError::Config(format!(
                "--cron {expr:?} is not a cron expression ({e}); expected \
                 `sec min hour day month weekday` (e.g. \"0 0 3 * * *\") or the five-field form"
            ))
        })?;
        if schedule.upcoming(Utc).next().is_none() {
            return Err(RetrainError::Config(format!("--cron {expr:?} never fires")));
        }
        Ok(CronSchedule {
            expr: expr.to_string(),
            schedule,
        })
    }

    /// The expression as given.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The first fire time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.after(&t).next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seconds_and_five_fields_and_names_the_flag() {
        let s = CronSchedule::parse("*/1 * * * * *").unwrap();
        let now = Utc::now();
        let next = s.next_after(now).unwrap();
        assert!(next > now && (next - now).num_milliseconds() <= 1000);
        let five = CronSchedule::parse("0 3 * * *").unwrap();
        let n = five.next_after(now).unwrap();
        assert_eq!(n.format("%H:%M:%S").to_string(), "03:00:00");
        let e = CronSchedule::parse("every day").unwrap_err().to_string();
        assert!(e.contains("--cron") && e.contains("every day"), "{e}");
    }
}
