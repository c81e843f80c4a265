//! The line-selection engine the line-oriented compressors share.
//!
//! A compressor scores every line ([`Priority`]) and names its category; the
//! engine keeps what the default view keeps, drops lower priorities first to meet a
//! token budget (never a query match), and renders the view: kept lines as
//! they are (over-long ones cut around their query matches), and every run of
//! dropped lines as one marker saying how many lines of which categories it
//! left out, and where.

use std::collections::BTreeMap;

use cairn_core::{CcrRef, format_marker, tokens};

use crate::QueryMatcher;

/// How much a line matters. Ordered: higher is kept longer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Repetitive content: the first thing to go.
    Low,
    /// Context worth keeping when there is room (first and last lines, rare lines).
    Context,
    /// What the default view always keeps (errors, warnings, headers).
    Important,
    /// Matches the query: never cut.
    Query,
}

/// Lines longer than this many bytes are cut (around their query matches).
pub const MAX_LINE_BYTES: usize = 2_000;
/// Bytes of a long line kept at its start and end.
const LINE_HEAD_BYTES: usize = 300;
const LINE_TAIL_BYTES: usize = 120;
/// Bytes kept on each side of a query match in a long line.
const MATCH_WINDOW_BYTES: usize = 120;

/// One line as the engine sees it.
#[derive(Debug, Clone)]
pub struct Line<'a> {
    pub text: &'a str,
    pub priority: Priority,
    /// What the line is, for the summary of a cut ("INFO", "status=ok").
    pub category: Option<String>,
    /// Among lines of one priority, a budget drops lower ranks first.
    pub rank: u32,
    /// Which units of the original this line stands for (1-based, inclusive):
    /// markers name these ranges, so `?lines=A-B` fetches what a cut left out.
    pub origin: Option<(usize, usize)>,
}

/// The outcome of a selection: the view's text and its markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    pub content: String,
    pub markers: Vec<cairn_types::Marker>,
    /// Lines left out (whole lines; cuts inside long lines are not counted).
    pub omitted_lines: usize,
}

/// Selects and renders `lines`: everything above [`Priority::Low`] is kept,
/// and `max_tokens` cuts further. `reference` names the original every
/// marker points into; `unit` names what a line is ("lines", "rows").
pub fn select(
    lines: &[Line<'_>],
    max_tokens: Option<u64>,
    matcher: &QueryMatcher,
    reference: &CcrRef,
    unit: &str,
) -> Selected {
    select_with(lines, max_tokens, matcher, reference, unit, &[])
}

/// [`select`], with a marker that starts at line `i` indented by
/// `indents[i]`: a stub in code sits where the body was.
pub fn select_indented(
    lines: &[Line<'_>],
    indents: &[&str],
    max_tokens: Option<u64>,
    matcher: &QueryMatcher,
    reference: &CcrRef,
    unit: &str,
) -> Selected {
    select_with(lines, max_tokens, matcher, reference, unit, indents)
}

fn select_with(
    lines: &[Line<'_>],
    max_tokens: Option<u64>,
    matcher: &QueryMatcher,
    reference: &CcrRef,
    unit: &str,
    indents: &[&str],
) -> Selected {
    // What one marker costs: a cut that saves less is not worth making.
    let marker = tokens::count(&format_marker(
        &format!("1,234 {unit} omitted: 1,234 lines, 56 other ({unit} 1,234-5,678)"),
        reference,
    )) + 1;
    let mut keep: Vec<bool> = lines
        .iter()
        .map(|line| line.priority > Priority::Low)
        .collect();
    // Token costs, counted only where needed: every line under a budget,
    // otherwise just the runs short enough that their cut is in doubt.
    let mut costs: Vec<Option<u64>> = vec![None; lines.len()];
    let cost = |index: usize, costs: &mut Vec<Option<u64>>| -> u64 {
        *costs[index].get_or_insert_with(|| tokens::count(clip(lines[index].text)) + 1)
    };
    if max_tokens.is_some() {
        for index in 0..lines.len() {
            cost(index, &mut costs);
        }
    }
    for run in runs(&keep, false) {
        let bytes: usize = lines[run.clone()]
            .iter()
            .map(|line| line.text.len().min(MAX_LINE_BYTES) + 1)
            .sum();
        // Text runs one to about six bytes a token. Far from the marker's cost
        // either way, bytes decide; near it, the run is counted.
        let cheap = if bytes <= marker as usize {
            true
        } else if bytes > marker as usize * 8 {
            false
        } else {
            run.clone()
                .map(|index| cost(index, &mut costs))
                .sum::<u64>()
                <= marker
        };
        if cheap {
            keep[run].fill(true);
        }
    }
    if let Some(budget) = max_tokens {
        let costs: Vec<u64> = costs.into_iter().map(Option::unwrap_or_default).collect();
        fit_budget(lines, &mut keep, &costs, marker, budget);
        merge_cuts(lines, &mut keep, &costs, marker);
        // Whatever the budget cut that costs less than its marker comes back:
        // that only saves tokens.
        keep_cheap_runs(&mut keep, &costs, marker);
    }
    render(lines, &keep, matcher, reference, unit, indents)
}

/// The maximal runs of `false` in `keep`.
fn runs(keep: &[bool], of: bool) -> Vec<std::ops::Range<usize>> {
    let mut found = Vec::new();
    let mut index = 0;
    while index < keep.len() {
        if keep[index] != of {
            index += 1;
            continue;
        }
        let start = index;
        while index < keep.len() && keep[index] == of {
            index += 1;
        }
        found.push(start..index);
    }
    found
}

/// Keeps every dropped run that costs no more than the marker replacing it.
fn keep_cheap_runs(keep: &mut [bool], costs: &[u64], marker: u64) {
    for run in runs(keep, false) {
        if costs[run.clone()].iter().sum::<u64>() <= marker {
            keep[run].fill(true);
        }
    }
}

/// Drops a kept stretch between two cuts when it costs less than a marker and
/// holds no query match: the two markers become one.
fn merge_cuts(lines: &[Line<'_>], keep: &mut [bool], costs: &[u64], marker: u64) {
    for run in runs(keep, true) {
        let inside = run.start > 0 && run.end < keep.len();
        if inside
            && costs[run.clone()].iter().sum::<u64>() < marker
            && lines[run.clone()]
                .iter()
                .all(|line| line.priority < Priority::Query)
        {
            keep[run].fill(false);
        }
    }
}

/// Drops the lowest-priority kept lines (lower ranks first, then later ones)
/// until the estimate fits `budget`. Query matches stay.
fn fit_budget(lines: &[Line<'_>], keep: &mut [bool], costs: &[u64], marker: u64, budget: u64) {
    let estimate = |keep: &[bool]| -> u64 {
        let mut total = 0;
        let mut in_gap = false;
        for (kept, cost) in keep.iter().zip(costs) {
            if *kept {
                total += cost;
                in_gap = false;
            } else if !in_gap {
                total += marker;
                in_gap = true;
            }
        }
        total
    };
    if estimate(keep) <= budget {
        return;
    }
    let mut candidates: Vec<usize> = (0..lines.len())
        .filter(|&index| keep[index] && lines[index].priority < Priority::Query)
        .collect();
    candidates.sort_by_key(|&index| {
        (
            lines[index].priority,
            lines[index].rank,
            std::cmp::Reverse(index),
        )
    });
    let mut total = estimate(keep);
    for index in candidates {
        if total <= budget {
            break;
        }
        keep[index] = false;
        // Dropping a line saves its cost, and may open or join a gap.
        let before = index > 0 && !keep[index - 1];
        let after = index + 1 < keep.len() && !keep[index + 1];
        let marker_change: i64 = match (before, after) {
            (true, true) => -(marker as i64),
            (false, false) => marker as i64,
            _ => 0,
        };
        total = (total as i64 - costs[index] as i64 + marker_change).max(0) as u64;
    }
}

/// What a line shows at most: its first [`MAX_LINE_BYTES`] (for costing).
fn clip(text: &str) -> &str {
    &text[..floor_char_boundary(text, MAX_LINE_BYTES)]
}

fn render(
    lines: &[Line<'_>],
    keep: &[bool],
    matcher: &QueryMatcher,
    reference: &CcrRef,
    unit: &str,
    indents: &[&str],
) -> Selected {
    let mut content = String::new();
    let mut markers = Vec::new();
    let mut omitted_lines = 0;
    let mut index = 0;
    while index < lines.len() {
        if keep[index] {
            push_line(
                &mut content,
                lines[index].text,
                matcher,
                reference,
                &mut markers,
            );
            index += 1;
            continue;
        }
        let start = index;
        while index < lines.len() && !keep[index] {
            index += 1;
        }
        let run = &lines[start..index];
        omitted_lines += run.len();
        let counted: usize = run
            .iter()
            .map(|line| line.origin.map_or(1, |(a, b)| b + 1 - a))
            .sum();
        let range = match (
            run.first().and_then(|l| l.origin),
            run.last().and_then(|l| l.origin),
        ) {
            (Some((first, _)), Some((_, last))) => format!(" ({unit} {first}-{last})"),
            _ => String::new(),
        };
        let summary = format!(
            "{} {unit} omitted{}{range}",
            thousands(counted as u64),
            categories(run.iter().filter_map(|line| line.category.as_deref())),
        );
        let first = (start..index).find(|&at| !lines[at].text.trim().is_empty());
        if let Some(indent) = first.and_then(|at| indents.get(at)) {
            content.push_str(indent);
        }
        content.push_str(&format_marker(&summary, reference));
        content.push('\n');
        markers.push(cairn_types::Marker {
            reference: reference.to_string(),
            summary,
        });
    }
    Selected {
        content,
        markers,
        omitted_lines,
    }
}

/// Appends `line` and a newline, cutting it if it is over-long.
fn push_line(
    content: &mut String,
    line: &str,
    matcher: &QueryMatcher,
    reference: &CcrRef,
    markers: &mut Vec<cairn_types::Marker>,
) {
    if line.len() <= MAX_LINE_BYTES {
        content.push_str(line);
        content.push('\n');
        return;
    }
    // Keep the head, the tail and a window around each query match.
    let mut keep: Vec<std::ops::Range<usize>> = vec![
        0..floor_char_boundary(line, LINE_HEAD_BYTES),
        ceil_char_boundary(line, line.len() - LINE_TAIL_BYTES)..line.len(),
    ];
    for found in matcher.occurrences(line) {
        let start = floor_char_boundary(line, found.start.saturating_sub(MATCH_WINDOW_BYTES));
        let end = ceil_char_boundary(line, (found.end + MATCH_WINDOW_BYTES).min(line.len()));
        keep.push(start..end);
    }
    keep.sort_by_key(|range| range.start);
    let mut merged: Vec<std::ops::Range<usize>> = Vec::new();
    for range in keep {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    let mut at = 0;
    for range in merged {
        if range.start > at {
            let summary = format!(
                "{} bytes of this line omitted",
                thousands((range.start - at) as u64)
            );
            content.push_str(&format_marker(&summary, reference));
            markers.push(cairn_types::Marker {
                reference: reference.to_string(),
                summary,
            });
        }
        content.push_str(&line[range.start.max(at)..range.end]);
        at = range.end;
    }
    content.push('\n');
}

/// " (460 INFO, 9 DEBUG)"-style counts, largest first, at most four named.
pub fn categories<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for name in names {
        *counts.entry(name).or_default() += 1;
    }
    if counts.is_empty() {
        return String::new();
    }
    let mut sorted: Vec<(&str, u64)> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let shown: Vec<String> = sorted
        .iter()
        .take(4)
        .map(|(name, count)| format!("{} {}", thousands(*count), shorten(name)))
        .collect();
    let rest: u64 = sorted.iter().skip(4).map(|(_, count)| count).sum();
    if rest > 0 {
        format!(": {}, {} other", shown.join(", "), thousands(rest))
    } else {
        format!(": {}", shown.join(", "))
    }
}

/// A category name cut to its last 32 characters ("…/moto/wafv2/responses.py"):
/// markers are read in a context window, and every token counts.
fn shorten(name: &str) -> String {
    const KEEP: usize = 32;
    if name.chars().count() <= KEEP {
        return name.to_owned();
    }
    let tail: String = name
        .chars()
        .rev()
        .take(KEEP)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

/// 1204 → "1,204".
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The largest char boundary of `text` at or below `at`.
pub fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The smallest char boundary of `text` at or above `at`.
pub fn ceil_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use cairn_core::ContentHash;

    use super::*;

    fn line<'a>(text: &'a str, priority: Priority, category: &str) -> Line<'a> {
        Line {
            text,
            priority,
            category: Some(category.to_owned()),
            rank: 0,
            origin: None,
        }
    }

    #[test]
    fn runs_of_dropped_lines_become_one_marker_each() {
        let reference = ContentHash::of(b"x").ccr_ref();
        let long = |word: &str| format!("{word} {}", "lorem ipsum dolor sit amet ".repeat(8));
        let texts = [
            long("first"),
            long("a"),
            long("b"),
            long("c"),
            long("ERROR boom"),
            long("d"),
            long("last"),
        ];
        let mut lines = vec![
            line(&texts[0], Priority::Context, "INFO"),
            line(&texts[1], Priority::Low, "INFO"),
            line(&texts[2], Priority::Low, "INFO"),
            line(&texts[3], Priority::Low, "DEBUG"),
            line(&texts[4], Priority::Important, "ERROR"),
            line(&texts[5], Priority::Low, "INFO"),
            line(&texts[6], Priority::Context, "INFO"),
        ];
        for (index, line) in lines.iter_mut().enumerate() {
            line.origin = Some((index + 1, index + 1));
        }
        let selected = select(&lines, None, &QueryMatcher::default(), &reference, "lines");
        let expected = format!(
            "{}\n[cairn: 3 lines omitted: 2 INFO, 1 DEBUG (lines 2-4) — {reference}]\n{}\n\
             {}\n{}\n",
            texts[0], texts[4], texts[5], texts[6]
        );
        assert_eq!(
            selected.content, expected,
            "the one-line run costs less than a marker and stays"
        );
        assert_eq!(selected.markers.len(), 1);
        assert_eq!(selected.omitted_lines, 3);
    }

    #[test]
    fn a_cut_that_saves_less_than_its_marker_is_not_made() {
        let reference = ContentHash::of(b"x").ccr_ref();
        let lines = vec![
            line("a", Priority::Context, "x"),
            line("b", Priority::Low, "x"),
            line("c", Priority::Context, "x"),
        ];
        let selected = select(&lines, None, &QueryMatcher::default(), &reference, "lines");
        assert_eq!(selected.content, "a\nb\nc\n");
        assert!(selected.markers.is_empty());
    }

    #[test]
    fn a_budget_drops_low_priorities_first_and_never_query_matches() {
        let reference = ContentHash::of(b"x").ccr_ref();
        let text: Vec<String> = (0..200)
            .map(|i| format!("line number {i} with some words"))
            .collect();
        let lines: Vec<Line<'_>> = text
            .iter()
            .enumerate()
            .map(|(i, text)| Line {
                text,
                priority: if i == 150 {
                    Priority::Query
                } else {
                    Priority::Context
                },
                category: None,
                rank: 0,
                origin: None,
            })
            .collect();
        let selected = select(
            &lines,
            Some(100),
            &QueryMatcher::default(),
            &reference,
            "lines",
        );
        assert!(
            selected.content.contains("line number 150 "),
            "{}",
            selected.content
        );
        assert!(
            tokens::count(&selected.content) <= 140,
            "{}",
            selected.content
        );
    }

    #[test]
    fn long_lines_keep_head_tail_and_query_windows() {
        let reference = ContentHash::of(b"x").ccr_ref();
        let long = format!("{}NEEDLE{}", "a".repeat(50_000), "b".repeat(50_000));
        let matcher = QueryMatcher::from_terms(vec!["needle".into()]);
        let lines = vec![line(&long, Priority::Query, "x")];
        let selected = select(&lines, None, &matcher, &reference, "lines");
        assert!(selected.content.contains("NEEDLE"));
        assert!(selected.content.len() < 2_000, "{}", selected.content.len());
        assert_eq!(selected.markers.len(), 2);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1204), "1,204");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
