//! The clock prewarm uses for quota days, the backlog and state timestamps.
//!
//! `PREWARM_NOW` (Unix seconds or RFC 3339) sets it, for tests and for replaying a run. Request signing never uses
//! this clock: it always takes the real time, because the CDN rejects stale timestamps.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::{Error, Result};

/// A point in time that stands for "now" during one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    now: OffsetDateTime,
}

impl Clock {
    /// The real clock.
    #[must_use]
    pub fn system() -> Self {
        Self {
            now: OffsetDateTime::now_utc(),
        }
    }

    /// A fixed clock (tests).
    #[must_use]
    pub fn fixed(now: OffsetDateTime) -> Self {
        Self { now }
    }

    /// The clock from `PREWARM_NOW` when set, else the real one.
    ///
    /// # Errors
    /// A `PREWARM_NOW` that is neither Unix seconds nor RFC 3339.
    pub fn from_env() -> Result<Self> {
        match std::env::var("PREWARM_NOW") {
            Ok(v) if !v.trim().is_empty() => Self::parse(v.trim()),
            _ => Ok(Self::system()),
        }
    }

    /// Parses Unix seconds or an RFC 3339 date-time.
    ///
    /// # Errors
    /// Neither form.
    pub fn parse(v: &str) -> Result<Self> {
        if let Ok(secs) = v.parse::<i64>() {
            return OffsetDateTime::from_unix_timestamp(secs)
                .map(Self::fixed)
                .map_err(|e| Error::Usage(format!("PREWARM_NOW={v}: {e}")));
        }
        OffsetDateTime::parse(v, &Rfc3339)
            .map(|t| Self::fixed(t.to_offset(UtcOffset::UTC)))
            .map_err(|_| {
                Error::Usage(format!(
                    "PREWARM_NOW={v}: expected Unix seconds or an RFC 3339 date-time"
                ))
            })
    }

    /// Now, in UTC.
    #[must_use]
    pub fn now(&self) -> OffsetDateTime {
        self.now
    }

    /// Now as Unix seconds.
    #[must_use]
    pub fn unix(&self) -> i64 {
        self.now.unix_timestamp()
    }

    /// Now as RFC 3339 (UTC, seconds precision).
    #[must_use]
    pub fn rfc3339(&self) -> String {
        rfc3339(self.now)
    }

    /// The CDN day (`YYYY-MM-DD`) that now falls in, for a day that starts at midnight at `offset`.
    #[must_use]
    pub fn cdn_day(&self, offset: UtcOffset) -> String {
        let local = self.now.to_offset(offset);
        format!(
            "{:04}-{:02}-{:02}",
            local.year(),
            u8::from(local.month()),
            local.day()
        )
    }
}

/// Formats a time as RFC 3339 in UTC with seconds precision (`2024-01-02T03:04:05Z`).
#[must_use]
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t
        .to_offset(UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Parses a `±hh:mm` offset (or `Z`).
///
/// # Errors
/// Any other form.
pub fn parse_offset(v: &str) -> std::result::Result<UtcOffset, String> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("z") || v == "UTC" {
        return Ok(UtcOffset::UTC);
    }
    let bad = || format!("expected an offset like \"+08:00\", got {v:?}");
    let (sign, rest) = match v.as_bytes().first() {
        Some(b'+') => (1i8, &v[1..]),
        Some(b'-') => (-1i8, &v[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    let h: i8 = h.parse().map_err(|_| bad())?;
    let m: i8 = m.parse().map_err(|_| bad())?;
    if (0..=14).contains(&h) && (0..60).contains(&m) {
        UtcOffset::from_hms(sign * h, sign * m, 0).map_err(|_| bad())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdn_day_follows_the_offset() {
        // 2024-03-01T16:30:00Z is already 2024-03-02 in Beijing.
        let c = Clock::parse("2024-03-01T16:30:00Z").unwrap();
        assert_eq!(c.cdn_day(parse_offset("+08:00").unwrap()), "2024-03-02");
        assert_eq!(c.cdn_day(UtcOffset::UTC), "2024-03-01");
        assert_eq!(c.cdn_day(parse_offset("-05:30").unwrap()), "2024-03-01");
    }

    #[test]
    fn parses_unix_and_rfc3339() {
        assert_eq!(Clock::parse("0").unwrap().rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Clock::parse("2024-03-01T08:00:00+08:00").unwrap().rfc3339(),
            "2024-03-01T00:00:00Z"
        );
        assert!(Clock::parse("yesterday").is_err());
    }

    #[test]
    fn offsets() {
        assert!(parse_offset("+8").is_err());
        assert!(parse_offset("08:00").is_err());
        assert!(parse_offset("+15:00").is_err());
        assert_eq!(parse_offset("-03:30").unwrap().whole_minutes(), -210);
    }
}
