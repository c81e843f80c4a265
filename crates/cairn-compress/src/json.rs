//! JSON: arrays of objects as rows, and nested documents (API responses).
//!
//! The parser here keeps what a view must not change: numbers as their exact
//! text (no rounding of big or precise numbers), keys in document order, and
//! duplicate keys. Depth is limited; deeper documents are treated as text.
//!
//! Rows, lossless stage: the columns once, each row as a tuple; columns with
//! one value in every row, or none, factored out. Lossy stage: the first and
//! last rows, rows with rare or anomalous values (error-like strings, outlier
//! numbers, unique values in a low-cardinality column) and query matches are
//! kept; every run of other rows becomes a marker counting them by the most
//! telling column ("480 rows omitted: 470 status=ok, 10 status=retry").
//!
//! Nested documents, lossless stage: whitespace stripped, key order kept.
//! Lossy stage: large arrays inside keep their ends and query matches, long
//! strings (base64, HTML) keep their start; each cut is a marker.

use std::collections::{BTreeMap, HashMap};

use cairn_core::{CcrRef, format_marker};

use crate::QueryMatcher;
use crate::lines::{Line, Priority, Selected, categories, select, thousands};

/// Deepest nesting parsed; deeper documents are compressed as text.
pub const MAX_DEPTH: usize = 256;
/// Arrays with at most this many rows are shown whole.
const SMALL_ARRAY: usize = 12;
/// Strings longer than this (in bytes) are cut inside nested documents.
const LONG_STRING: usize = 400;
/// Kept at the start of a cut string.
const STRING_HEAD: usize = 120;
/// Items kept at each end of a large array inside a nested document.
const ARRAY_HEAD: usize = 3;
const ARRAY_TAIL: usize = 1;

/// A parsed JSON value that remembers the exact text of numbers and strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    /// The number's text, exactly as written.
    Number(&'a str),
    /// The string's text between its quotes, still escaped.
    String(&'a str),
    Array(Vec<Json<'a>>),
    /// Members in document order; duplicates kept.
    Object(Vec<(&'a str, Json<'a>)>),
}

/// Parses a whole JSON document, or says why not.
pub fn parse(text: &str) -> Result<Json<'_>, String> {
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    parser.skip_space();
    let value = parser.value(0)?;
    parser.skip_space();
    if parser.at != parser.bytes.len() {
        return Err(format!("trailing characters at byte {}", parser.at));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn skip_space(&mut self) {
        while self.at < self.bytes.len()
            && matches!(self.bytes[self.at], b' ' | b'\t' | b'\n' | b'\r')
        {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.bytes.get(self.at) == Some(&byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at byte {}", byte as char, self.at))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json<'a>, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH}"));
        }
        match self.bytes.get(self.at) {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(format!("unexpected input at byte {}", self.at)),
        }
    }

    fn literal(&mut self, word: &str, value: Json<'a>) -> Result<Json<'a>, String> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(format!("unexpected input at byte {}", self.at))
        }
    }

    fn number(&mut self) -> Result<Json<'a>, String> {
        let start = self.at;
        if self.bytes[self.at] == b'-' {
            self.at += 1;
        }
        let digits = |parser: &mut Parser<'a>| {
            let from = parser.at;
            while parser.at < parser.bytes.len() && parser.bytes[parser.at].is_ascii_digit() {
                parser.at += 1;
            }
            parser.at - from
        };
        if digits(self) == 0 {
            return Err(format!("bad number at byte {start}"));
        }
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            if digits(self) == 0 {
                return Err(format!("bad number at byte {start}"));
            }
        }
        if matches!(self.bytes.get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.bytes.get(self.at), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(format!("bad number at byte {start}"));
            }
        }
        Ok(Json::Number(&self.text[start..self.at]))
    }

    /// The raw text between the quotes.
    fn string(&mut self) -> Result<&'a str, String> {
        self.expect(b'"')?;
        let start = self.at;
        while self.at < self.bytes.len() {
            match self.bytes[self.at] {
                b'"' => {
                    let raw = &self.text[start..self.at];
                    self.at += 1;
                    return Ok(raw);
                }
                b'\\' => self.at += 2,
                byte if byte < 0x20 => {
                    return Err(format!("control character in string at byte {}", self.at));
                }
                _ => self.at += 1,
            }
        }
        Err("unterminated string".to_owned())
    }

    fn array(&mut self, depth: usize) -> Result<Json<'a>, String> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.skip_space();
        if self.bytes.get(self.at) == Some(&b']') {
            self.at += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_space();
            items.push(self.value(depth + 1)?);
            self.skip_space();
            match self.bytes.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(format!("expected ',' or ']' at byte {}", self.at)),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json<'a>, String> {
        self.expect(b'{')?;
        let mut members = Vec::new();
        self.skip_space();
        if self.bytes.get(self.at) == Some(&b'}') {
            self.at += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_space();
            let key = self.string()?;
            self.skip_space();
            self.expect(b':')?;
            self.skip_space();
            members.push((key, self.value(depth + 1)?));
            self.skip_space();
            match self.bytes.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(format!("expected ',' or '}}' at byte {}", self.at)),
            }
        }
    }
}

impl Json<'_> {
    /// Compact JSON text, numbers and strings exactly as in the original.
    pub fn write_compact(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(value) => out.push_str(if *value { "true" } else { "false" }),
            Json::Number(text) => out.push_str(text),
            Json::String(raw) => {
                out.push('"');
                out.push_str(raw);
                out.push('"');
            }
            Json::Array(items) => {
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    item.write_compact(out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (index, (key, value)) in members.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    out.push('"');
                    out.push_str(key);
                    out.push_str("\":");
                    value.write_compact(out);
                }
                out.push('}');
            }
        }
    }

    pub fn compact(&self) -> String {
        let mut out = String::new();
        self.write_compact(&mut out);
        out
    }

    fn is_empty_value(&self) -> bool {
        match self {
            Json::Null => true,
            Json::String(raw) => raw.is_empty(),
            Json::Array(items) => items.is_empty(),
            Json::Object(members) => members.is_empty(),
            _ => false,
        }
    }
}

/// Whether `value` is an array of objects worth showing as rows.
pub fn is_rows(value: &Json<'_>) -> bool {
    match value {
        Json::Array(items) => {
            items.len() >= 2 && items.iter().all(|item| matches!(item, Json::Object(_)))
        }
        _ => false,
    }
}

/// Compresses an array of objects as rows.
pub fn compress_rows(
    rows: &[Json<'_>],
    matcher: &QueryMatcher,
    reference: &CcrRef,
    max_tokens: Option<u64>,
) -> Selected {
    // Columns in first-seen order; a missing member is an empty cell.
    let mut columns: Vec<&str> = Vec::new();
    let mut cells: Vec<HashMap<&str, String>> = Vec::with_capacity(rows.len());
    for row in rows {
        let mut map = HashMap::new();
        if let Json::Object(members) = row {
            for (key, value) in members {
                if !columns.contains(key) {
                    columns.push(key);
                }
                // A duplicate key: the later value wins in most readers; keep both
                // visible by joining them.
                let text = value.compact();
                map.entry(*key)
                    .and_modify(|existing: &mut String| {
                        existing.push_str(" | ");
                        existing.push_str(&text);
                    })
                    .or_insert(text);
            }
        }
        cells.push(map);
    }
    let cell =
        |row: usize, column: &str| -> &str { cells[row].get(column).map_or("", String::as_str) };

    // Lossless: factor out columns constant across rows, or always empty.
    let mut constant: Vec<(&str, &str)> = Vec::new();
    let mut empty: Vec<&str> = Vec::new();
    let mut shown: Vec<&str> = Vec::new();
    for &column in &columns {
        let first = cell(0, column);
        let all_same = (0..rows.len()).all(|row| cell(row, column) == first);
        let all_empty = (0..rows.len()).all(|row| {
            let value = cell(row, column);
            value.is_empty() || value == "null" || value == "\"\"" || value == "[]" || value == "{}"
        });
        if all_empty {
            empty.push(column);
        } else if all_same && rows.len() > 2 {
            constant.push((column, first));
        } else {
            shown.push(column);
        }
    }

    // Statistics for anomalies and summaries.
    let mut distinct: Vec<BTreeMap<&str, usize>> = vec![BTreeMap::new(); shown.len()];
    for row in 0..rows.len() {
        for (column, counts) in shown.iter().zip(distinct.iter_mut()) {
            *counts.entry(cell(row, column)).or_default() += 1;
        }
    }
    let summary_column = summary_column(&shown, &distinct, rows.len());
    let numeric: Vec<Option<(f64, f64)>> = shown
        .iter()
        .map(|column| numeric_spread((0..rows.len()).map(|row| cell(row, column))))
        .collect();

    let mut header = String::from("rows of [");
    for (index, column) in shown.iter().enumerate() {
        if index > 0 {
            header.push(',');
        }
        header.push('"');
        header.push_str(column);
        header.push('"');
    }
    header.push(']');
    if !constant.is_empty() {
        header.push_str("; the same in every row: {");
        for (index, (column, value)) in constant.iter().enumerate() {
            if index > 0 {
                header.push(',');
            }
            header.push_str(&format!("\"{column}\":{value}"));
        }
        header.push('}');
    }
    if !empty.is_empty() {
        header.push_str(&format!("; always empty: {}", empty.join(", ")));
    }

    let texts: Vec<String> = (0..rows.len())
        .map(|row| {
            let mut text = String::from("[");
            for (index, column) in shown.iter().enumerate() {
                if index > 0 {
                    text.push(',');
                }
                let value = cell(row, column);
                text.push_str(if value.is_empty() { "null" } else { value });
            }
            text.push(']');
            text
        })
        .collect();

    let small = rows.len() <= SMALL_ARRAY;
    // One sample row of every value of the summary column.
    let mut sampled: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    let mut lines = Vec::with_capacity(rows.len() + 1);
    lines.push(Line {
        text: &header,
        priority: Priority::Query,
        category: None,
        rank: 0,
        origin: None,
    });
    for (row, text) in texts.iter().enumerate() {
        let first_of_value = summary_column.is_some_and(|column| sampled.insert(cell(row, column)));
        let anomalous = shown.iter().enumerate().any(|(index, column)| {
            let value = cell(row, column);
            is_error_like(value)
                || is_rare(&distinct[index], value, rows.len())
                || numeric[index].is_some_and(|spread| is_outlier(value, spread))
        });
        let priority = if matcher.matches(text) {
            Priority::Query
        } else if small || anomalous {
            Priority::Important
        } else if row < 2 || row + 1 == rows.len() || first_of_value {
            Priority::Context
        } else {
            Priority::Low
        };
        let category = summary_column
            .map(|column| format!("{}={}", column, cell(row, column).trim_matches('"')));
        lines.push(Line {
            text,
            priority,
            category,
            rank: 0,
            origin: Some((row + 1, row + 1)),
        });
    }
    select(&lines, max_tokens, matcher, reference, "rows")
}

/// The column whose values best describe rows: few distinct values, ideally
/// named like a status.
fn summary_column<'a>(
    shown: &[&'a str],
    distinct: &[BTreeMap<&str, usize>],
    rows: usize,
) -> Option<&'a str> {
    const TELLING: &[&str] = &[
        "status", "state", "level", "severity", "type", "kind", "result", "outcome",
    ];
    let candidates: Vec<usize> = (0..shown.len())
        .filter(|&index| {
            let count = distinct[index].len();
            (2..=8).contains(&count) && count * 4 <= rows.max(8)
        })
        .collect();
    candidates
        .iter()
        .copied()
        .find(|&index| {
            TELLING
                .iter()
                .any(|name| shown[index].to_lowercase().contains(name))
        })
        .or_else(|| {
            candidates
                .iter()
                .copied()
                .min_by_key(|&index| distinct[index].len())
        })
        .map(|index| shown[index])
}

fn is_error_like(value: &str) -> bool {
    let lower = value.to_lowercase();
    [
        "error",
        "fail",
        "exception",
        "timeout",
        "denied",
        "fatal",
        "panic",
        "refused",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

/// A value seen at most 1% of the time (and at most twice) in a column of few values.
fn is_rare(counts: &BTreeMap<&str, usize>, value: &str, rows: usize) -> bool {
    let count = counts.get(value).copied().unwrap_or(0);
    counts.len() * 10 <= rows && count <= 2 && count * 100 <= rows
}

/// Median and spread (median absolute deviation) of a numeric column.
fn numeric_spread<'a>(values: impl Iterator<Item = &'a str>) -> Option<(f64, f64)> {
    let mut numbers: Vec<f64> = Vec::new();
    for value in values {
        numbers.push(value.parse::<f64>().ok().filter(|n| n.is_finite())?);
    }
    if numbers.len() < 8 {
        return None;
    }
    numbers.sort_by(f64::total_cmp);
    let median = numbers[numbers.len() / 2];
    let mut deviations: Vec<f64> = numbers.iter().map(|n| (n - median).abs()).collect();
    deviations.sort_by(f64::total_cmp);
    let spread = deviations[deviations.len() / 2];
    (spread > 0.0).then_some((median, spread))
}

fn is_outlier(value: &str, (median, spread): (f64, f64)) -> bool {
    value
        .parse::<f64>()
        .is_ok_and(|n| (n - median).abs() > 8.0 * spread)
}

/// Compresses a nested document: compact, with large arrays and long strings cut.
pub fn compress_nested(
    value: &Json<'_>,
    matcher: &QueryMatcher,
    reference: &CcrRef,
) -> (String, Vec<cairn_types::Marker>) {
    let mut out = String::new();
    let mut markers = Vec::new();
    write_nested(value, matcher, reference, &mut out, &mut markers);
    (out, markers)
}

fn write_nested(
    value: &Json<'_>,
    matcher: &QueryMatcher,
    reference: &CcrRef,
    out: &mut String,
    markers: &mut Vec<cairn_types::Marker>,
) {
    let mut mark = |summary: String, out: &mut String| {
        out.push_str(&format_marker(&summary, reference));
        markers.push(cairn_types::Marker {
            reference: reference.to_string(),
            summary,
        });
    };
    match value {
        Json::String(raw) if raw.len() > LONG_STRING && !matcher.matches(raw) => {
            let head = crate::lines::floor_char_boundary(raw, STRING_HEAD);
            // Do not cut an escape sequence in half.
            let head = raw[..head]
                .rfind('\\')
                .filter(|at| head - at < 6)
                .unwrap_or(head);
            out.push('"');
            out.push_str(&raw[..head]);
            let kind = if looks_base64(raw) {
                "base64"
            } else if raw.contains('<') && raw.contains('>') {
                "markup"
            } else {
                "text"
            };
            mark(
                format!(
                    "{} more bytes of {kind} omitted",
                    thousands((raw.len() - head) as u64)
                ),
                out,
            );
            out.push('"');
        }
        Json::Array(items)
            if items.len() > ARRAY_HEAD + ARRAY_TAIL + 2
                && is_rows(value)
                && items.len() > SMALL_ARRAY =>
        {
            // Rows inside a document: keep the ends and the query matches.
            write_array_cut(items, matcher, reference, out, markers);
        }
        Json::Array(items) if items.len() > 50 => {
            write_array_cut(items, matcher, reference, out, markers);
        }
        Json::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_nested(item, matcher, reference, out, markers);
            }
            out.push(']');
        }
        Json::Object(members) => {
            out.push('{');
            for (index, (key, member)) in members.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push('"');
                out.push_str(key);
                out.push_str("\":");
                write_nested(member, matcher, reference, out, markers);
            }
            out.push('}');
        }
        other => other.write_compact(out),
    }
}

fn write_array_cut(
    items: &[Json<'_>],
    matcher: &QueryMatcher,
    reference: &CcrRef,
    out: &mut String,
    markers: &mut Vec<cairn_types::Marker>,
) {
    let texts: Vec<String> = items.iter().map(Json::compact).collect();
    let keep: Vec<bool> = (0..items.len())
        .map(|index| {
            index < ARRAY_HEAD
                || index + ARRAY_TAIL >= items.len()
                || matcher.matches(&texts[index])
                || is_error_like(&texts[index])
        })
        .collect();
    out.push('[');
    let mut first = true;
    let mut index = 0;
    while index < items.len() {
        if !first {
            out.push(',');
        }
        first = false;
        if keep[index] {
            write_nested(&items[index], matcher, reference, out, markers);
            index += 1;
            continue;
        }
        let start = index;
        while index < items.len() && !keep[index] {
            index += 1;
        }
        let summary = format!(
            "{} of {} items omitted{} (items {}-{})",
            thousands((index - start) as u64),
            thousands(items.len() as u64),
            categories(items[start..index].iter().map(item_category)),
            start + 1,
            index
        );
        out.push('"');
        out.push_str(&format_marker(&summary, reference));
        out.push('"');
        markers.push(cairn_types::Marker {
            reference: reference.to_string(),
            summary,
        });
    }
    out.push(']');
}

fn item_category(item: &Json<'_>) -> &'static str {
    match item {
        Json::Object(_) => "objects",
        Json::Array(_) => "arrays",
        Json::String(_) => "strings",
        Json::Number(_) => "numbers",
        Json::Bool(_) => "booleans",
        Json::Null => "nulls",
    }
}

fn looks_base64(raw: &str) -> bool {
    raw.len() >= 64
        && !raw.contains(' ')
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
}

/// Whether `value` has nothing worth keeping.
pub fn is_trivial(value: &Json<'_>) -> bool {
    value.is_empty_value()
}

#[cfg(test)]
mod tests {
    use cairn_core::ContentHash;

    use super::*;

    #[test]
    fn parses_and_keeps_exact_numbers_order_and_duplicates() {
        let text =
            r#" {"b": 123456789012345678901234567890, "a": 1.50, "a": -0.0e+5, "s": "x\"y"} "#;
        let value = parse(text).expect("valid JSON");
        assert_eq!(
            value.compact(),
            r#"{"b":123456789012345678901234567890,"a":1.50,"a":-0.0e+5,"s":"x\"y"}"#
        );
    }

    #[test]
    fn refuses_bad_and_too_deep_documents_without_panicking() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "01x",
            "\"unterminated",
            "[1] 2",
            "tru",
            "-",
            "1.",
            "1e",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(
            parse(&deep)
                .expect_err("too deep")
                .contains("nested deeper")
        );
    }

    fn table(rows: usize) -> String {
        let items: Vec<String> = (0..rows)
            .map(|id| {
                let status = if id % 50 == 7 { "retry" } else { "ok" };
                format!(r#"{{"id":{id},"region":"us-east-1","status":"{status}","latency_ms":{},"note":null}}"#, 20 + (id * 37) % 180)
            })
            .collect();
        format!("[{}]", items.join(","))
    }

    #[test]
    fn rows_factor_constants_keep_anomalies_and_summarise_by_status() {
        let text = table(500);
        let value = parse(&text).expect("valid");
        let Json::Array(rows) = &value else {
            panic!("an array")
        };
        let reference = ContentHash::of(text.as_bytes()).ccr_ref();
        let selected = compress_rows(rows, &QueryMatcher::default(), &reference, None);
        let view = &selected.content;
        assert!(view.starts_with(r#"rows of ["id","status","latency_ms"]; the same in every row: {"region":"us-east-1"}; always empty: note"#), "{view}");
        assert!(view.contains(r#"[0,"ok",20]"#), "first row kept");
        assert!(view.contains(r#"[499,"ok","#), "last row kept");
        assert!(
            view.contains(r#"[7,"retry","#),
            "a sample of every status kept: {view}"
        );
        assert!(!view.contains(r#"[57,"retry","#), "{view}");
        assert!(view.contains("status=retry"), "{view}");
        assert!(view.contains("rows omitted: "), "{view}");
        assert!(view.contains("status=ok"), "{view}");
        assert!(
            view.len() * 5 < text.len(),
            "{} of {}",
            view.len(),
            text.len()
        );
    }

    #[test]
    fn rows_keep_query_matches() {
        let text = table(300);
        let value = parse(&text).expect("valid");
        let Json::Array(rows) = &value else {
            panic!("an array")
        };
        let reference = ContentHash::of(text.as_bytes()).ccr_ref();
        let matcher = QueryMatcher::from_terms(vec!["\"id\":123,".into(), "[123,".into()]);
        let selected = compress_rows(rows, &matcher, &reference, Some(60));
        assert!(selected.content.contains("[123,"), "{}", selected.content);
    }

    #[test]
    fn nested_documents_cut_long_strings_and_big_arrays() {
        let blob = "QUJD".repeat(500);
        let list: Vec<String> = (0..200).map(|i| i.to_string()).collect();
        let text = format!(
            r#"{{"meta":{{"page":1}},"image":"{blob}","ids":[{}]}}"#,
            list.join(",")
        );
        let value = parse(&text).expect("valid");
        let reference = ContentHash::of(text.as_bytes()).ccr_ref();
        let (view, markers) = compress_nested(&value, &QueryMatcher::default(), &reference);
        assert!(
            view.starts_with(r#"{"meta":{"page":1},"image":"QUJD"#),
            "{view}"
        );
        assert!(view.contains("bytes of base64 omitted"), "{view}");
        assert!(
            view.contains("196 of 200 items omitted: 196 numbers (items 4-199)"),
            "{view}"
        );
        assert_eq!(markers.len(), 2);
    }
}
