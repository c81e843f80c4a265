//! Timestamps to unix milliseconds: RFC 3339 / ISO-8601 strings as the three
//! agents write them (`2026-01-11T09:53:23.575Z`, offsets, any number of
//! fraction digits), or bare numbers.

use serde_json::Value;

/// A JSON timestamp (string or number) as unix milliseconds.
pub(crate) fn value_to_millis(value: &Value) -> Option<i64> {
    match value {
        Value::String(text) => parse_rfc3339(text),
        Value::Number(number) => {
            let number = number.as_f64()?;
            // Numbers below 10^11 cannot be milliseconds of any date we care
            // about (that is 1973 in ms but year 5138 in seconds).
            let millis = if number.abs() < 1e11 {
                number * 1000.0
            } else {
                number
            };
            if millis.is_finite() && millis.abs() < 1e17 {
                Some(millis as i64)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// `YYYY-MM-DD[T ]hh:mm:ss[.fff…][Z|±hh:mm|±hhmm]`; a missing offset means UTC.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    let mut cursor = Cursor {
        bytes: text.trim().as_bytes(),
        at: 0,
    };
    let year = cursor.digits(4)?;
    cursor.expect(b'-')?;
    let month = cursor.digits(2)?;
    cursor.expect(b'-')?;
    let day = cursor.digits(2)?;
    if !matches!(cursor.next()?, b'T' | b't' | b' ') {
        return None;
    }
    let hour = cursor.digits(2)?;
    cursor.expect(b':')?;
    let minute = cursor.digits(2)?;
    cursor.expect(b':')?;
    let second = cursor.digits(2)?;
    let millis = cursor.fraction_millis();
    let offset_minutes = cursor.offset_minutes()?;
    if !cursor.done() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = civil_days(year, month, day)?;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn next(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn expect(&mut self, wanted: u8) -> Option<()> {
        (self.next()? == wanted).then_some(())
    }

    fn digits(&mut self, count: usize) -> Option<i64> {
        let mut value = 0;
        for _ in 0..count {
            let byte = self.next()?;
            if !byte.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i64::from(byte - b'0');
        }
        Some(value)
    }

    /// Milliseconds from an optional `.fff…` (extra digits truncated).
    fn fraction_millis(&mut self) -> i64 {
        if !matches!(self.peek(), Some(b'.' | b',')) {
            return 0;
        }
        self.at += 1;
        let mut millis = 0;
        let mut seen = 0;
        while let Some(byte) = self.peek().filter(u8::is_ascii_digit) {
            if seen < 3 {
                millis = millis * 10 + i64::from(byte - b'0');
            }
            seen += 1;
            self.at += 1;
        }
        for _ in seen..3 {
            millis *= 10;
        }
        millis
    }

    fn offset_minutes(&mut self) -> Option<i64> {
        let sign = match self.peek() {
            None => return Some(0),
            Some(b'Z' | b'z') => {
                self.at += 1;
                return Some(0);
            }
            Some(b'+') => 1,
            Some(b'-') => -1,
            Some(_) => return None,
        };
        self.at += 1;
        let hours = self.digits(2)?;
        if self.peek() == Some(b':') {
            self.at += 1;
        }
        let minutes = self.digits(2)?;
        (hours < 24 && minutes < 60).then_some(sign * (hours * 60 + minutes))
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`), or `None` when the month has no such day.
pub fn civil_days(year: i64, month: i64, day: i64) -> Option<i64> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=days_in_month).contains(&day) {
        return None;
    }
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: Option<i64>) {
        assert_eq!(parse_rfc3339(text), expect, "{text}");
    }

    #[test]
    fn parses_the_shapes_agents_write() {
        check("1970-01-01T00:00:00Z", Some(0));
        check("2026-01-11T09:53:23.575Z", Some(1_768_125_203_575));
        check("2026-01-11T09:53:23.5755555Z", Some(1_768_125_203_575));
        check("2026-01-11T09:53:23.5Z", Some(1_768_125_203_500));
        check("2026-01-11T10:53:23.575+01:00", Some(1_768_125_203_575));
        check("2026-01-11T08:53:23.575-0100", Some(1_768_125_203_575));
        check("2026-01-11 09:53:23", Some(1_768_125_203_000));
        check("2000-02-29T00:00:00Z", Some(951_782_400_000));
        check("1969-12-31T23:59:59Z", Some(-1000));
    }

    #[test]
    fn rejects_what_is_not_a_timestamp() {
        for text in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-01-11T25:00:00Z",
            "2026-01-11T09:53:23Zjunk",
            "2026-01-11T09:53:23+5",
            "٢٠٢٦-01-11T09:53:23Z",
        ] {
            check(text, None);
        }
    }

    #[test]
    fn numbers_are_seconds_or_millis() {
        assert_eq!(
            value_to_millis(&serde_json::json!(1_747_130_400)),
            Some(1_747_130_400_000)
        );
        assert_eq!(
            value_to_millis(&serde_json::json!(1_747_130_400_123_i64)),
            Some(1_747_130_400_123)
        );
        assert_eq!(value_to_millis(&serde_json::json!(1e300)), None);
        assert_eq!(value_to_millis(&serde_json::json!(null)), None);
    }
}
