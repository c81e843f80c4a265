//! Reading JSON records out of lines, and small helpers over `serde_json::Value`.
//!
//! Lines are found with one linear split, and each line is parsed once (twice at
//! most, when it needs repair), so a 20 MB line costs what its bytes cost.

use std::collections::HashMap;

use serde_json::{Deserializer, Value};

/// One non-blank line of a file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    /// 1-based.
    pub(crate) number: u64,
    /// Without the line break (and without a trailing `\r`).
    pub(crate) bytes: &'a [u8],
}

/// The non-blank lines of `bytes`, numbered from 1.
pub(crate) fn lines(bytes: &[u8]) -> impl Iterator<Item = Line<'_>> {
    bytes
        .split(|&byte| byte == b'\n')
        .zip(1_u64..)
        .filter_map(|(raw, number)| {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            (!raw.trim_ascii().is_empty()).then_some(Line { number, bytes: raw })
        })
}

/// What one line held: its records, and what was wrong with it.
#[derive(Debug, Default)]
pub(crate) struct LineRecords {
    pub(crate) values: Vec<Value>,
    pub(crate) error: Option<String>,
}

/// How many times one line may be re-cut at `}{` before giving up; bounds the
/// work on a hostile line to a few passes over its bytes.
const MAX_RESYNC_ATTEMPTS: usize = 16;

/// Parses the JSON values of one line. A torn line (a record cut short and
/// followed on the same line by the next one, `…}{"parentUuid":…`) yields the
/// records after the tear plus an error; lone UTF-16 surrogate escapes (which
/// serde_json rejects, and which cut-off emoji produce) are replaced by U+FFFD.
pub(crate) fn read_line(bytes: &[u8]) -> LineRecords {
    let first = read_values(bytes);
    if first.error.is_none() || !has_surrogate_escape(bytes) {
        return first;
    }
    let repaired = read_values(&repair_lone_surrogates(bytes));
    if repaired.error.is_none() || repaired.values.len() > first.values.len() {
        repaired
    } else {
        first
    }
}

/// Parses a whole JSON document (the single-document formats), repairing lone
/// surrogate escapes as [`read_line`] does.
pub(crate) fn read_document(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    match serde_json::from_slice(bytes) {
        Err(_) if has_surrogate_escape(bytes) => {
            serde_json::from_slice(&repair_lone_surrogates(bytes))
        }
        result => result,
    }
}

fn read_values(bytes: &[u8]) -> LineRecords {
    let mut records = LineRecords::default();
    let mut rest = bytes;
    let mut recovered = 0;
    for _ in 0..=MAX_RESYNC_ATTEMPTS {
        let mut stream = Deserializer::from_slice(rest).into_iter::<Value>();
        let failure = loop {
            match stream.next() {
                None => break None,
                Some(Ok(value)) => {
                    if records.error.is_some() {
                        recovered += 1;
                    }
                    records.values.push(value);
                }
                Some(Err(error)) => break Some(error),
            }
        };
        let Some(failure) = failure else { break };
        // Each line is parsed on its own, so serde's "line 1" says nothing.
        records.error.get_or_insert_with(|| {
            failure
                .to_string()
                .replace(" at line 1 column ", " at column ")
        });
        // Resume where the record after a tear starts, past the last good value.
        let tail = rest.get(stream.byte_offset()..).unwrap_or_default();
        match find_tear(tail) {
            Some(start) => rest = tail.get(start..).unwrap_or_default(),
            None => break,
        }
    }
    if let (Some(error), true) = (&mut records.error, recovered > 0) {
        error.push_str(&format!(
            " (torn line: recovered {recovered} record(s) after the tear)"
        ));
    }
    records
}

/// Where the record after a tear starts in `tail` (never at its first byte).
///
/// A raw `}{"` cannot occur in valid JSON (a quote inside a string is
/// escaped, objects are separated by commas), so it marks a junction; and a
/// record cut mid-string runs straight into the next record's first key,
/// which for Claude is `parentUuid` and for the Codex envelope `timestamp`.
/// Nested objects (`{"type":"text",…}`) are deliberately not candidates.
fn find_tear(tail: &[u8]) -> Option<usize> {
    const RECORD_STARTS: [&[u8]; 2] = [b"{\"parentUuid\":", b"{\"timestamp\":"];
    (1..tail.len()).find(|&at| {
        let rest = tail.get(at..).unwrap_or_default();
        rest.starts_with(b"{\"")
            && (tail.get(at - 1) == Some(&b'}')
                || RECORD_STARTS.iter().any(|start| rest.starts_with(start)))
    })
}

fn has_surrogate_escape(bytes: &[u8]) -> bool {
    bytes
        .windows(3)
        .any(|window| window[0] == b'\\' && window[1] == b'u' && matches!(window[2], b'd' | b'D'))
}

/// Rewrites `\uD800`–`\uDFFF` escapes that are not a valid pair to `\uFFFD`.
/// Backslashes only occur inside JSON strings, so no string tracking is needed.
fn repair_lone_surrogates(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte != b'\\' {
            out.push(byte);
            at += 1;
            continue;
        }
        match (bytes.get(at + 1), hex_escape(bytes, at)) {
            (Some(b'u'), Some(code)) if (0xD800..0xDC00).contains(&code) => {
                let pair = hex_escape(bytes, at + 6).filter(|low| (0xDC00..0xE000).contains(low));
                if pair.is_some() {
                    out.extend_from_slice(bytes.get(at..at + 12).unwrap_or_default());
                    at += 12;
                } else {
                    out.extend_from_slice(b"\\uFFFD");
                    at += 6;
                }
            }
            (Some(b'u'), Some(code)) if (0xDC00..0xE000).contains(&code) => {
                out.extend_from_slice(b"\\uFFFD");
                at += 6;
            }
            _ => {
                let end = (at + 2).min(bytes.len());
                out.extend_from_slice(bytes.get(at..end).unwrap_or_default());
                at = end;
            }
        }
    }
    out
}

/// The code unit of a `\uXXXX` escape starting at `at`.
fn hex_escape(bytes: &[u8], at: usize) -> Option<u32> {
    let escape = bytes.get(at..at + 6)?;
    if escape.get(..2)? != b"\\u" {
        return None;
    }
    let digits = std::str::from_utf8(escape.get(2..)?).ok()?;
    u32::from_str_radix(digits, 16).ok()
}

/// A string field of an object.
pub(crate) fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key)?.as_str()
}

/// A boolean field that is `true`.
pub(crate) fn is_true(value: &Value, key: &str) -> bool {
    value.get(key).and_then(Value::as_bool) == Some(true)
}

/// Compact JSON of a value (serializing a `Value` cannot fail).
pub(crate) fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// A tool call's display text: `name(arguments)`.
pub(crate) fn call_text(name: &str, arguments: &str) -> String {
    format!("{name}({arguments})")
}

/// Arguments that arrive as a JSON string, made compact when they parse.
pub(crate) fn compact_json_text(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(value) => compact(&value),
        Err(_) => text.to_owned(),
    }
}

/// 64-bit FNV-1a: a stable, dependency-free fingerprint of a line's bytes.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Uids for records that have no id of their own: the hash of the line's
/// bytes, plus which occurrence of an identical line this is (counted from
/// the start, so stable when the file grows), plus the message's index within
/// the line.
#[derive(Debug, Default)]
pub(crate) struct LineUids {
    seen: HashMap<u64, u32>,
}

impl LineUids {
    /// The uid prefix for the next line with these bytes.
    pub(crate) fn line(&mut self, bytes: &[u8]) -> String {
        let hash = fnv1a(bytes);
        let occurrence = self.seen.entry(hash).or_insert(0);
        let prefix = match *occurrence {
            0 => format!("{hash:016x}"),
            n => format!("{hash:016x}.{n}"),
        };
        *occurrence += 1;
        prefix
    }
}

/// The uid of the `index`th message made from a line with this prefix.
pub(crate) fn line_uid(prefix: &str, index: usize) -> String {
    format!("{prefix}:{index}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str, values: usize, error: bool) {
        let records = read_line(line.as_bytes());
        assert_eq!(records.values.len(), values, "{line}: {records:?}");
        assert_eq!(records.error.is_some(), error, "{line}: {records:?}");
    }

    #[test]
    fn reads_whole_torn_and_broken_lines() {
        check(r#"{"a":1}"#, 1, false);
        check(r#"{"a":1}{"b":2}"#, 2, false);
        check(r#"{"a":"cut sho}{"parentUuid":"x","b":2}"#, 1, true);
        check(r#"{"a":"cut sho{"parentUuid":"x","b":2}"#, 1, true);
        check(
            r#"{"a":[{"type":"text","text":"cut{"timestamp":"t","type":"x"}"#,
            1,
            true,
        );
        check(
            r#"{"a":"has }{" inside and is cut}{"parentUuid":"x"}"#,
            1,
            true,
        );
        check(r#"{"a":1}{"b":"#, 1, true);
        check(r#"{"a":"#, 0, true);
        check("\u{1}\u{2}garbage", 0, true);
        check(r#"}{"}{"}{"}{"#, 0, true);
    }

    #[test]
    fn torn_line_error_says_what_was_recovered() {
        let records = read_line(br#"{"a":"cut}{"uuid":"u1"}"#);
        let error = records.error.unwrap_or_default();
        assert!(error.contains("recovered 1 record"), "{error}");
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let records =
            read_line(br#"{"a":"x\ud83d y","b":"\ud83d\ude00","c":"\udc00","d":"\\ud800"}"#);
        assert!(records.error.is_none(), "{records:?}");
        let value = records.values.first().cloned().unwrap_or_default();
        assert_eq!(str_at(&value, "a"), Some("x\u{fffd} y"));
        assert_eq!(str_at(&value, "b"), Some("😀"));
        assert_eq!(str_at(&value, "c"), Some("\u{fffd}"));
        assert_eq!(str_at(&value, "d"), Some("\\ud800"));
    }

    #[test]
    fn lines_are_numbered_from_one_and_blank_ones_skipped() {
        let found: Vec<_> = lines(b"a\r\n\n  \nb")
            .map(|line| (line.number, line.bytes))
            .collect();
        assert_eq!(found, vec![(1, &b"a"[..]), (4, &b"b"[..])]);
    }

    #[test]
    fn identical_lines_get_distinct_stable_uids() {
        let mut uids = LineUids::default();
        let first = uids.line(b"same");
        let second = uids.line(b"same");
        assert_ne!(first, second);
        assert_eq!(LineUids::default().line(b"same"), first);
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
