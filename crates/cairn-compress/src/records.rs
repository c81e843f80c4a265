//! Records in plain text, found from the content alone: the unit a query
//! match keeps whole. A line that matches a query is rarely the answer by
//! itself: `Package: zlib1g` without its `Version:` line, a log entry's
//! first line without its stack trace, a commit's message without its
//! author. So a match keeps the record it falls in, and only that:
//!
//! - **entries** of a log: a line that starts with a timestamp and the lines
//!   after it that do not (continuations, stack traces), when at least 30% of
//!   the lines start with one;
//! - **commits** of `git log`: from one `commit <hash>` line to the next;
//! - **exchanges** of an HTTP client's verbose dump (`curl -v`): from one
//!   request line (`> GET /path HTTP/1.1`) to the next, the response's
//!   status and headers with it;
//! - **entries headed flush left**: from one line at the left margin to the
//!   next, when at least two lines are, most lines are indented and blank
//!   lines fall inside entries (a Debian changelog entry: its header, its
//!   indented changes and blank lines, its ` -- uploader` trailer);
//! - **stanzas**: runs of lines between blank lines (`dpkg -s`, `apt show`,
//!   `Field: value` listings, paragraphs), when there are at least two;
//! - **blocks** by indentation: a line and the more-indented lines under it
//!   (`kubectl describe` sections, YAML, an exception and its frames).
//!
//! A match keeps its entry, commit or stanza when that is at most
//! [`MAX_RECORD_LINES`] lines; otherwise the innermost indented block around
//! it, and the record's first line (what the record is).

use std::ops::Range;

/// Records longer than this many lines are not kept whole for one match.
pub const MAX_RECORD_LINES: usize = 40;

/// For each line, the lines a query match on it keeps with it (ascending,
/// itself included).
pub fn record_of(lines: &[&str], at: usize) -> Vec<usize> {
    Records::new(lines).around(at)
}

/// The records of one text.
#[derive(Debug)]
pub struct Records {
    /// Entries, commits or stanzas (sorted, disjoint), if the text has them.
    primary: Vec<Range<usize>>,
    /// Each line's indentation (`None` for a blank line).
    indents: Vec<Option<usize>>,
}

impl Records {
    pub fn new(lines: &[&str]) -> Records {
        Records {
            primary: primary(lines),
            indents: lines.iter().map(|line| indent(line)).collect(),
        }
    }

    /// The lines a match at `at` keeps: see the module's documentation.
    pub fn around(&self, at: usize) -> Vec<usize> {
        if at >= self.indents.len() {
            return Vec::new();
        }
        // Sorted and disjoint: the last one starting at or before `at`.
        let record = self
            .primary
            .partition_point(|range| range.start <= at)
            .checked_sub(1)
            .map(|index| self.primary[index].clone())
            .filter(|range| range.contains(&at));
        if let Some(record) = &record
            && record.len() <= MAX_RECORD_LINES
        {
            return record.clone().collect();
        }
        let mut kept: Vec<usize> = match self.block(at) {
            Some(block) if block.len() <= MAX_RECORD_LINES => block.collect(),
            _ => vec![at],
        };
        if let Some(record) = record
            && !kept.contains(&record.start)
        {
            kept.insert(0, record.start);
        }
        kept
    }

    /// The innermost indented block holding line `at`: the nearest line
    /// above it (or itself) that has more-indented lines right under it, and
    /// those lines. Looks no further than a record's length each way: a
    /// longer block is not kept whole anyway.
    fn block(&self, at: usize) -> Option<Range<usize>> {
        let own = self.indents[at]?;
        let reach = MAX_RECORD_LINES + 1;
        // `at` itself opens a block when the next non-blank line is deeper.
        let opens = |line: usize| {
            let base = self.indents[line]?;
            let next =
                (line + 1..self.indents.len().min(line + reach)).find_map(|n| self.indents[n])?;
            (next > base).then_some(base)
        };
        let (start, base) = match opens(at) {
            Some(base) => (at, base),
            None => {
                // The nearest line above that is less indented.
                if own == 0 {
                    return None;
                }
                let parent = (at.saturating_sub(reach)..at)
                    .rev()
                    .find(|&n| self.indents[n].is_some_and(|i| i < own))?;
                (parent, self.indents[parent]?)
            }
        };
        let mut end = start + 1;
        let mut last = start;
        while end < self.indents.len().min(start + reach + 1) {
            match self.indents[end] {
                Some(indent) if indent > base => last = end,
                Some(_) => break,
                None => {}
            }
            end += 1;
        }
        (last > start).then_some(start..last + 1)
    }
}

/// Leading whitespace, tabs as four; `None` for a blank line.
fn indent(line: &str) -> Option<usize> {
    if line.trim().is_empty() {
        return None;
    }
    Some(
        line.chars()
            .take_while(|c| c.is_whitespace())
            .map(|c| if c == '\t' { 4 } else { 1 })
            .sum(),
    )
}

/// Entries, commits or stanzas, whichever the text is made of.
fn primary(lines: &[&str]) -> Vec<Range<usize>> {
    let filled = lines.iter().filter(|line| !line.trim().is_empty()).count();
    let stamped = lines.iter().filter(|line| starts_with_time(line)).count();
    if filled >= 4 && stamped * 10 >= filled * 3 && stamped < filled {
        return split_before(lines, starts_with_time);
    }
    if lines.iter().filter(|line| is_commit(line)).count() >= 2 {
        return split_before(lines, is_commit);
    }
    if lines.iter().filter(|line| is_http_request(line)).count() >= 2 {
        return split_before(lines, is_http_request);
    }
    let flush_left = lines.iter().filter(|line| indent(line) == Some(0)).count();
    if flush_left >= 2 && (filled - flush_left) * 10 >= filled * 6 {
        let entries = split_before(lines, |line| indent(line) == Some(0));
        // Only where blank lines fall inside entries: otherwise stanzas and
        // indented blocks find the same records, or finer ones.
        let broken = entries
            .iter()
            .filter(|entry| {
                let last = (entry.start..entry.end)
                    .rev()
                    .find(|&at| indent(lines[at]).is_some());
                last.is_some_and(|last| (entry.start..last).any(|at| indent(lines[at]).is_none()))
            })
            .count();
        if broken >= 2 {
            return entries;
        }
    }
    let stanzas = stanzas(lines);
    if stanzas.len() >= 2 {
        stanzas
    } else {
        Vec::new()
    }
}

/// Ranges that each start at a line `starts` accepts (the lines before the
/// first such line are a range of their own).
fn split_before(lines: &[&str], starts: impl Fn(&str) -> bool) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    for (at, line) in lines.iter().enumerate() {
        if at > from && starts(line) {
            out.push(from..at);
            from = at;
        }
    }
    if from < lines.len() {
        out.push(from..lines.len());
    }
    out
}

/// Runs of non-blank lines.
fn stanzas(lines: &[&str]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut from = None;
    for (at, line) in lines.iter().enumerate() {
        match (from, line.trim().is_empty()) {
            (None, false) => from = Some(at),
            (Some(start), true) => {
                out.push(start..at);
                from = None;
            }
            _ => {}
        }
    }
    if let Some(start) = from {
        out.push(start..lines.len());
    }
    out
}

/// Whether `lines` read as `git log` output: at least two `commit <hash>`
/// lines, each soon followed by an `Author:` line.
pub fn is_git_log(lines: &[&str]) -> bool {
    let headed = lines
        .iter()
        .enumerate()
        .filter(|(at, line)| {
            is_commit(line)
                && lines[at + 1..]
                    .iter()
                    .take(3)
                    .any(|next| next.starts_with("Author:"))
        })
        .count();
    headed >= 2
}

/// The lines of a `git log` that say who changed what when: each commit's
/// `commit`, `Merge:`, `Author:` and `Date:` lines and its subject (the first
/// line of its message).
pub fn commit_outline(lines: &[&str]) -> Vec<bool> {
    let mut outline = vec![false; lines.len()];
    let mut in_header = false;
    let mut subject_next = false;
    for (at, line) in lines.iter().enumerate() {
        if is_commit(line) {
            outline[at] = true;
            in_header = true;
            subject_next = false;
        } else if in_header {
            if line.trim().is_empty() {
                in_header = false;
                subject_next = true;
            } else {
                outline[at] = line.contains(':');
            }
        } else if subject_next && !line.trim().is_empty() {
            outline[at] = true;
            subject_next = false;
        }
    }
    outline
}

/// An HTTP/1 request line, as a verbose client prints it (`> HEAD /a
/// HTTP/1.1`) or a server logs it bare: a method, a target, a version.
fn is_http_request(line: &str) -> bool {
    const METHODS: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    let line = line.strip_prefix("> ").unwrap_or(line);
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    METHODS.contains(&method) && !target.is_empty() && version.trim_end().starts_with("HTTP/")
}

/// `commit 1a2b3c4…` (git log).
pub(crate) fn is_commit(line: &str) -> bool {
    line.strip_prefix("commit ").is_some_and(|rest| {
        let hash: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
        (7..=64).contains(&hash.len())
    })
}

/// Whether a line starts with a date or a time: `2026-12-04`, `2026/12/04`,
/// `12:04:05`, `[2026-12-04 …`, `Dec  4 12:04:05` (syslog), `I1204 12:04`
/// (glog) or an epoch in seconds or milliseconds.
pub(crate) fn starts_with_time(line: &str) -> bool {
    let line = line.trim_start_matches(['[', '(']);
    let bytes = line.as_bytes();
    let digits = |from: usize, count: usize| {
        bytes.len() >= from + count && bytes[from..from + count].iter().all(u8::is_ascii_digit)
    };
    let at = |index: usize, set: &[u8]| bytes.get(index).is_some_and(|b| set.contains(b));
    // 2026-12-04, 2026/12/04, 2026.12.04
    if digits(0, 4) && at(4, b"-/.") && digits(5, 2) && at(7, b"-/.") && digits(8, 2) {
        return true;
    }
    // 12:04:05
    if digits(0, 2) && at(2, b":") && digits(3, 2) && at(5, b":") && digits(6, 2) {
        return true;
    }
    // glog: I1204 12:04:05
    if at(0, b"IWEF") && digits(1, 4) && at(5, b" ") && digits(6, 2) && at(8, b":") {
        return true;
    }
    // An epoch: ten or thirteen digits, then not a digit.
    let run = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if (run == 10 || run == 13) && !at(run, b"0123456789") {
        return true;
    }
    // syslog: Dec  4 12:04:05
    const MONTHS: [&str; 12] = [
        "Jan ", "Feb ", "Mar ", "Apr ", "May ", "Jun ", "Jul ", "Aug ", "Sep ", "Oct ", "Nov ",
        "Dec ",
    ];
    if let Some(rest) = MONTHS.iter().find_map(|month| line.strip_prefix(month)) {
        let rest = rest.trim_start();
        let day: String = rest.chars().take_while(char::is_ascii_digit).collect();
        return (1..=2).contains(&day.len())
            && rest[day.len()..].trim_start().as_bytes().get(2) == Some(&b':');
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines a match on the line holding `needle` keeps, as text.
    fn kept<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
        let lines: Vec<&str> = text.lines().collect();
        let at = lines
            .iter()
            .position(|line| line.contains(needle))
            .expect("the needle is in the text");
        record_of(&lines, at)
            .into_iter()
            .map(|index| lines[index])
            .collect()
    }

    #[test]
    fn a_stanza_is_kept_whole_and_its_neighbours_are_not() {
        let text = "Package: bash\nStatus: install ok installed\nVersion: 5.2\n\n\
                    Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13\n\
                    Description: compression library\n zlib is a library\n\n\
                    Package: tar\nVersion: 1.34\n";
        assert_eq!(
            kept(text, "zlib1g"),
            [
                "Package: zlib1g",
                "Status: install ok installed",
                "Version: 1:1.2.13",
                "Description: compression library",
                " zlib is a library"
            ]
        );
    }

    #[test]
    fn a_log_entry_keeps_its_continuation_and_stack_trace() {
        let text = "2026-12-04 10:00:01 INFO started\n\
                    2026-12-04 10:00:02 ERROR order 42 failed\n\
                    java.lang.NullPointerException: total\n\
                    \tat shop.Order.total(Order.java:12)\n\
                    \tat shop.Cart.checkout(Cart.java:40)\n\
                    2026-12-04 10:00:03 INFO retrying\n\
                    2026-12-04 10:00:04 INFO done\n";
        let entry = kept(text, "Cart.checkout");
        assert_eq!(entry.len(), 4);
        assert!(entry[0].contains("order 42 failed"));
        assert!(!entry.iter().any(|line| line.contains("retrying")));
    }

    #[test]
    fn a_commit_keeps_its_author_and_date() {
        let text = "commit 1111111111111111111111111111111111111111\n\
                    Author: Ann <ann@example.com>\nDate:   Mon Dec 1 10:00:00 2026\n\n\
                    \x20   Fix the retry loop in the uploader\n\n\
                    commit 2222222222222222222222222222222222222222\n\
                    Author: Bob <bob@example.com>\nDate:   Tue Dec 2 10:00:00 2026\n\n\
                    \x20   Add a changelog\n";
        let commit = kept(text, "retry loop");
        assert_eq!(
            commit.first(),
            Some(&"commit 1111111111111111111111111111111111111111")
        );
        assert!(commit.contains(&"Author: Ann <ann@example.com>"));
        assert!(!commit.iter().any(|line| line.contains("Bob")));
    }

    #[test]
    fn a_git_log_outline_is_each_commits_header_and_subject() {
        let text = "commit 1111111111111111111111111111111111111111\n\
                    Author: Ann <ann@example.com>\nDate:   Mon Dec 1 10:00:00 2026\n\n\
                    \x20   Fix the retry loop\n\n\x20   The loop never slept.\n\n\
                    commit 2222222222222222222222222222222222222222\n\
                    Merge: 1111111 3333333\nAuthor: Bob <bob@example.com>\n\
                    Date:   Tue Dec 2 10:00:00 2026\n\n\x20   Merge the release\n";
        let lines: Vec<&str> = text.lines().collect();
        assert!(is_git_log(&lines));
        let outline: Vec<&str> = commit_outline(&lines)
            .into_iter()
            .zip(&lines)
            .filter_map(|(kept, line)| kept.then_some(*line))
            .collect();
        assert_eq!(
            outline,
            [
                "commit 1111111111111111111111111111111111111111",
                "Author: Ann <ann@example.com>",
                "Date:   Mon Dec 1 10:00:00 2026",
                "    Fix the retry loop",
                "commit 2222222222222222222222222222222222222222",
                "Merge: 1111111 3333333",
                "Author: Bob <bob@example.com>",
                "Date:   Tue Dec 2 10:00:00 2026",
                "    Merge the release",
            ]
        );
        assert!(!is_git_log(&["commit abcdef1", "the rest"]));
    }

    #[test]
    fn an_indented_block_is_the_record_of_describe_output() {
        let text = "Name:         web-1\nNamespace:    default\nContainers:\n  nginx:\n    \
                    Image:   nginx:1.25\n    Port:    80/TCP\n  sidecar:\n    Image:   envoy:1.30\n    \
                    Port:    9901/TCP\nConditions:\n  Type   Status\n  Ready  True\n";
        assert_eq!(
            kept(text, "envoy"),
            [
                "  sidecar:",
                "    Image:   envoy:1.30",
                "    Port:    9901/TCP"
            ]
        );
        assert_eq!(
            kept(text, "nginx:"),
            ["  nginx:", "    Image:   nginx:1.25", "    Port:    80/TCP"]
        );
    }

    #[test]
    fn a_long_record_keeps_its_first_line_and_the_block_around_the_match() {
        let mut text = String::from("Package: big\n");
        for n in 0..60 {
            text.push_str(&format!("Field-{n}: value {n}\n"));
        }
        text.push_str("\nPackage: small\nVersion: 1\n");
        assert_eq!(
            kept(&text, "Field-30:"),
            ["Package: big", "Field-30: value 30"]
        );
    }

    #[test]
    fn timestamps_of_common_shapes_are_recognised() {
        for line in [
            "2026-12-04T10:00:00Z x",
            "[2026-12-04 10:00:00] x",
            "2026/12/04 x",
            "10:00:00.123 x",
            "Dec  4 10:00:00 host x",
            "I1204 10:00:00.1 x",
            "1733306400 x",
            "1733306400123 x",
        ] {
            assert!(starts_with_time(line), "{line}");
        }
        for line in [
            "2026 was a year",
            "Version: 1.2",
            "  at x",
            "12345 items",
            "",
        ] {
            assert!(!starts_with_time(line), "{line}");
        }
    }

    #[test]
    fn odd_input_never_panics() {
        for text in ["", "\n\n\n", " ", "\t\tx\n\ty\nz", "é\n  ü\n"] {
            let lines: Vec<&str> = text.lines().collect();
            for at in 0..lines.len() + 2 {
                let _ = record_of(&lines, at);
            }
        }
    }
}
