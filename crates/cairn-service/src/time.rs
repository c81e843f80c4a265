//! Wall-clock time as stored (milliseconds since the Unix epoch) and as shown
//! (RFC 3339, UTC).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

/// The last instant RFC 3339 can show: 9999-12-31T23:59:59.999Z.
const MAX_MILLIS: i64 = 253_402_300_799_999;

/// RFC 3339 with milliseconds, for example `2026-11-21T04:36:20.123Z`.
/// Instants outside the years 1970–9999 are shown as the nearest of those.
pub fn format_millis(millis: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(millis.clamp(0, MAX_MILLIS).unsigned_abs());
    humantime::format_rfc3339_millis(at).to_string()
}

/// RFC 3339 (`2026-11-21T08:00:00Z`, offsets and fractions allowed) to
/// milliseconds since the Unix epoch.
pub fn parse_time(text: &str) -> Result<i64, crate::ServiceError> {
    let at = humantime::parse_rfc3339_weak(text.trim()).map_err(|error| {
        crate::ServiceError::InvalidRequest(format!(
            "{text:?} is not a time: {error} (expected RFC 3339, like 2026-11-21T08:00:00Z)"
        ))
    })?;
    let millis = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| crate::ServiceError::InvalidRequest(format!("{text:?} is before 1970")))?
        .as_millis();
    Ok(i64::try_from(millis).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_utc() {
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
        assert_eq!(format_millis(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_millis(-5), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn parses_rfc3339() {
        assert_eq!(
            parse_time("2026-11-18T11:06:40.123Z").ok(),
            Some(1_795_000_000_123)
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z").ok(), Some(0));
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("1969-12-31T23:59:59Z").is_err());
    }
}
