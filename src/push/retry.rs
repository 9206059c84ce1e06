//! Retry policy: which failures are worth another attempt, and how long to wait first.
//!
//! Takes a classified [`PushError`] (or an HTTP status), the attempt number and the back-off settings; returns
//! whether to retry and the wait: capped doubling from `base` to `max` with full jitter, never shorter than a
//! server's `Retry-After`. Pure apart from the random jitter; it never sleeps itself.
//!
//! What is retried follows TENCENT.md §5 (PushUrlsCache spends quota on every accepted call): throttling,
//! transient server trouble and expired signatures — not quota, parameter, auth or domain errors.

use std::time::Duration;

use rand::Rng;

use super::PushError;

/// The longest `Retry-After` prewarm honours; a longer one is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Types that know whether another attempt could succeed (STYLE.md habit 6).
pub trait RetryExt {
    /// True when the same request may succeed if sent again later.
    fn should_retry(&self) -> bool;
}

impl RetryExt for PushError {
    fn should_retry(&self) -> bool {
        matches!(
            self,
            Self::Transient(_) | Self::Throttled(_) | Self::Expired(_)
        )
    }
}

impl RetryExt for reqwest::StatusCode {
    fn should_retry(&self) -> bool {
        // 501 is the API's "request too large": resending the same request cannot help.
        (self.is_server_error() && self.as_u16() != 501) || matches!(self.as_u16(), 408 | 429)
    }
}

/// The capped doubling ceiling for retry number `retry` (0-based): `min(max, base * 2^retry)`.
#[must_use]
pub fn ceiling(retry: u32, base: Duration, max: Duration) -> Duration {
    let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(max.max(base))
}

/// A full-jitter wait for retry number `retry`: uniform in `[0, ceiling]`.
#[must_use]
pub fn backoff(retry: u32, base: Duration, max: Duration, rng: &mut impl Rng) -> Duration {
    let cap = ceiling(retry, base, max);
    let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.gen_range(0..=nanos))
}

/// How long to wait before retrying after `err` (retry number `retry`, 0-based), or `None` when it is not
/// worth retrying. Throttling waits at least `base`; an expired signature is retried at once (the provider signs
/// every attempt anew); a server's `Retry-After` (capped at [`MAX_RETRY_AFTER`]) is a lower bound.
#[must_use]
pub fn wait_before_retry(
    err: &PushError,
    retry: u32,
    base: Duration,
    max: Duration,
    retry_after: Option<Duration>,
    rng: &mut impl Rng,
) -> Option<Duration> {
    let wait = match err {
        PushError::Expired(_) => Duration::ZERO,
        PushError::Throttled(_) => backoff(retry, base, max, rng).max(base),
        PushError::Transient(_) => backoff(retry, base, max, rng),
        _ => return None,
    };
    Some(match retry_after {
        Some(ra) if !matches!(err, PushError::Expired(_)) => wait.max(ra.min(MAX_RETRY_AFTER)),
        _ => wait,
    })
}

/// Parses a `Retry-After` value: delay-seconds or an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the latter
/// relative to the real clock.
#[must_use]
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value, &format)
        .ok()?
        .assume_utc();
    let delta = at - time::OffsetDateTime::now_utc();
    Some(if delta.is_positive() {
        delta.unsigned_abs()
    } else {
        Duration::ZERO
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    const B: Duration = Duration::from_millis(500);
    const M: Duration = Duration::from_secs(30);

    #[test]
    fn ceiling_doubles_and_caps() {
        assert_eq!(ceiling(0, B, M), B);
        assert_eq!(ceiling(1, B, M), Duration::from_secs(1));
        assert_eq!(ceiling(3, B, M), Duration::from_secs(4));
        assert_eq!(ceiling(6, B, M), M);
        assert_eq!(ceiling(200, B, M), M);
        // A cap below the base never shortens the base.
        assert_eq!(ceiling(0, B, Duration::from_millis(1)), B);
    }

    #[test]
    fn backoff_stays_within_bounds_and_jitters() {
        let mut rng = StdRng::seed_from_u64(7);
        for retry in 0..40 {
            let mut seen = std::collections::HashSet::new();
            for _ in 0..50 {
                let w = backoff(retry, B, M, &mut rng);
                assert!(w <= ceiling(retry, B, M), "{retry}: {w:?}");
                seen.insert(w);
            }
            assert!(seen.len() > 1, "no jitter at retry {retry}");
        }
    }

    #[test]
    fn what_is_retried() {
        let mut rng = StdRng::seed_from_u64(1);
        let t = PushError::Throttled("x".into());
        for retry in 0..10 {
            let w = wait_before_retry(&t, retry, B, M, None, &mut rng).unwrap();
            assert!(w >= B && w <= M, "{w:?}");
        }
        let e = PushError::Expired("x".into());
        assert_eq!(
            wait_before_retry(&e, 3, B, M, Some(Duration::from_secs(9)), &mut rng),
            Some(Duration::ZERO)
        );
        let tr = PushError::Transient("x".into());
        assert!(wait_before_retry(&tr, 0, B, M, None, &mut rng).unwrap() <= B);
        assert_eq!(
            wait_before_retry(&tr, 0, B, M, Some(Duration::from_secs(12)), &mut rng),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            wait_before_retry(&tr, 0, B, M, Some(Duration::from_secs(9999)), &mut rng),
            Some(MAX_RETRY_AFTER)
        );
        for not in [
            PushError::Auth("x".into()),
            PushError::Migrated("x".into()),
            PushError::QuotaExceeded("x".into()),
            PushError::BatchTooLarge("x".into()),
            PushError::DomainRejected("x".into()),
            PushError::InvalidParameter("x".into()),
            PushError::Other("x".into()),
        ] {
            assert!(!not.should_retry(), "{not}");
            assert_eq!(
                wait_before_retry(&not, 0, B, M, None, &mut rng),
                None,
                "{not}"
            );
        }
        assert!(t.should_retry() && e.should_retry() && tr.should_retry());
    }

    #[test]
    fn status_codes() {
        use reqwest::StatusCode;
        for s in [500, 502, 503, 504, 408, 429] {
            assert!(StatusCode::from_u16(s).unwrap().should_retry(), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 501] {
            assert!(!StatusCode::from_u16(s).unwrap().should_retry(), "{s}");
        }
    }

    #[test]
    fn retry_after_values() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        let later = time::OffsetDateTime::now_utc() + time::Duration::seconds(100);
        let format = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        let text = later.format(&format).unwrap();
        let got = parse_retry_after(&text).unwrap();
        assert!(
            got <= Duration::from_secs(100) && got >= Duration::from_secs(95),
            "{got:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-5"), None);
    }
}
