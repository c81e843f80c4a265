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

/// RFC 3339 (`2026-11-21T08:00:00Z`, offsets and fractions allowed; any
/// year 0000-9999) to milliseconds since the Unix epoch, negative before
/// 1970. A space may stand for the `T`, and a time without an offset is UTC.
pub fn parse_time(text: &str) -> Result<i64, crate::ServiceError> {
    parse_rfc3339(text.trim()).ok_or_else(|| {
        crate::ServiceError::InvalidRequest(format!(
            "{text:?} is not a time (expected RFC 3339, like 2026-11-21T08:00:00Z)"
        ))
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]` to Unix milliseconds (a
/// leap second, `:60`, is the instant after `:59`).
fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let digits = |from: usize, len: usize| -> Option<i64> {
        let part = bytes.get(from..from + len)?;
        part.iter().try_fold(0_i64, |value, byte| {
            byte.is_ascii_digit()
                .then(|| value * 10 + i64::from(byte - b'0'))
        })
    };
    let at = |index: usize, expected: &[u8]| {
        bytes.get(index).is_some_and(|byte| expected.contains(byte))
    };
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt ") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut index = 19;
    let mut millis = 0;
    if at(index, b".") {
        index += 1;
        let start = index;
        while bytes.get(index).is_some_and(u8::is_ascii_digit) {
            if index - start < 3 {
                millis = millis * 10 + i64::from(bytes[index] - b'0');
            }
            index += 1;
        }
        if index == start {
            return None;
        }
        for _ in (index - start)..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match bytes.get(index) {
        None => 0,
        Some(b'Z' | b'z') if index + 1 == bytes.len() => 0,
        Some(sign @ (b'+' | b'-')) if index + 6 == bytes.len() && at(index + 3, b":") => {
            let (hours, minutes) = (digits(index + 1, 2)?, digits(index + 4, 2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 60 + minutes;
            if *sign == b'-' { -offset } else { offset }
        }
        Some(_) => return None,
    };
    let days = cairn_sessions::civil_days(year, month, day)?;
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000 + millis)
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
        assert_eq!(parse_time("1970-01-01T00:00:00").ok(), Some(0));
        assert_eq!(parse_time("1970-01-01 00:00:00.5z").ok(), Some(500));
        assert_eq!(parse_time("1969-12-31T23:59:59Z").ok(), Some(-1_000));
        assert_eq!(
            parse_time("2026-11-18T20:06:40.1234+09:00").ok(),
            Some(1_795_000_000_123)
        );
        assert_eq!(
            parse_time("0000-01-01T00:00:00Z").ok(),
            Some(-62_167_219_200_000)
        );
        assert_eq!(
            parse_time("9999-12-31T23:59:59.999Z").ok(),
            Some(MAX_MILLIS)
        );
        assert_eq!(
            parse_time("2016-12-31T23:59:60Z").ok(),
            Some(1_483_228_800_000)
        );
        assert_eq!(
            parse_time("2024-02-29T00:00:00-00:30").ok(),
            Some(1_709_166_600_000)
        );
        for bad in [
            "yesterday",
            "2023-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-18T24:00:00Z",
            "2026-11-18T11:06:40.Z",
            "2026-11-18T11:06:40+0900",
            "2026-11-18T11:06:40Zjunk",
            "+2026-11-18T11:06:40Z",
            "2026-11-18",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
