//! CSV and TSV: parsed into rows and compressed like JSON rows, shown as
//! delimited lines under their header.

use cairn_core::CcrRef;

use crate::QueryMatcher;
use crate::lines::{Line, Priority, Selected, select};

/// Splits one delimited record (quotes honoured for CSV).
fn fields(line: &str, delimiter: char) -> Vec<&str> {
    if delimiter == '\t' || !line.contains('"') {
        return line.split(delimiter).collect();
    }
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (at, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == delimiter && !quoted => {
                out.push(&line[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    out.push(&line[start..]);
    out
}

/// The delimiter `text` is a table in, if it is one: every one of the first
/// lines has the same number (≥ 2) of fields.
pub fn delimiter(text: &str) -> Option<char> {
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.is_empty())
        .take(50)
        .collect();
    if lines.len() < 4 {
        return None;
    }
    ['\t', ','].into_iter().find(|&delimiter| {
        let width = fields(lines[0], delimiter).len();
        width >= 2
            && lines
                .iter()
                .all(|line| fields(line, delimiter).len() == width)
    })
}

pub fn compress(
    text: &str,
    delimiter: char,
    matcher: &QueryMatcher,
    reference: &CcrRef,
    max_tokens: Option<u64>,
) -> Selected {
    let raw: Vec<&str> = text.lines().collect();
    let records: Vec<Vec<&str>> = raw.iter().map(|line| fields(line, delimiter)).collect();
    let width = records.first().map_or(0, Vec::len);
    let rows = raw.len().saturating_sub(1);
    // Per column: how often each value occurs, for rare values and summaries.
    let mut counts: Vec<std::collections::BTreeMap<&str, usize>> = vec![Default::default(); width];
    for record in records.iter().skip(1) {
        for (column, value) in record.iter().enumerate().take(width) {
            *counts[column].entry(value).or_default() += 1;
        }
    }
    let summary_column = (0..width)
        .filter(|&column| {
            (2..=8).contains(&counts[column].len()) && counts[column].len() * 4 <= rows.max(8)
        })
        .min_by_key(|&column| counts[column].len());
    let header = records.first().cloned().unwrap_or_default();
    let lines: Vec<Line<'_>> = raw
        .iter()
        .enumerate()
        .map(|(index, text)| {
            if index == 0 {
                return Line {
                    text,
                    priority: Priority::Query,
                    category: None,
                    rank: 0,
                    origin: None,
                };
            }
            let record = &records[index];
            let rare = record
                .iter()
                .enumerate()
                .take(width)
                .any(|(column, value)| {
                    let seen = counts[column].get(value).copied().unwrap_or(0);
                    counts[column].len() * 10 <= rows && seen <= 2 && seen * 100 <= rows
                });
            let priority = if matcher.matches(text) {
                Priority::Query
            } else if rows <= 12
                || rare
                || record
                    .iter()
                    .any(|value| value.to_lowercase().contains("error"))
            {
                Priority::Important
            } else if index <= 2 || index == raw.len() - 1 {
                Priority::Context
            } else {
                Priority::Low
            };
            let category = summary_column.and_then(|column| {
                Some(format!(
                    "{}={}",
                    header.get(column)?.trim_matches('"'),
                    record.get(column)?.trim_matches('"')
                ))
            });
            Line {
                text,
                priority,
                category,
                rank: 0,
                origin: Some((index + 1, index + 1)),
            }
        })
        .collect();
    select(&lines, max_tokens, matcher, reference, "lines")
}

#[cfg(test)]
mod tests {
    use cairn_core::ContentHash;

    use super::*;

    #[test]
    fn detects_delimiters() {
        assert_eq!(delimiter("a,b\n1,2\n3,4\n5,6\n"), Some(','));
        assert_eq!(delimiter("a\tb\n1\t2\n3\t4\n5\t6\n"), Some('\t'));
        assert_eq!(delimiter("a,\"b,c\"\n1,\"2,3\"\n4,5\n6,7\n"), Some(','));
        assert_eq!(delimiter("just\nsome\nlines\nhere\n"), None);
    }

    #[test]
    fn keeps_header_ends_and_rare_rows() {
        let mut text = String::from("id,state,ms\n");
        for id in 0..400 {
            text.push_str(&format!(
                "{id},{},{}\n",
                if id == 222 { "failed" } else { "done" },
                id % 9
            ));
        }
        let reference = ContentHash::of(text.as_bytes()).ccr_ref();
        let selected = compress(&text, ',', &QueryMatcher::default(), &reference, None);
        let view = &selected.content;
        assert!(
            view.starts_with("id,state,ms\n0,done,0\n1,done,1\n"),
            "{view}"
        );
        assert!(view.contains("222,failed,6"), "{view}");
        assert!(view.contains("state=done"), "{view}");
        assert!(view.contains("399,done,3"), "{view}");
    }
}
