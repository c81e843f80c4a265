//! Logs and test output (and any other line-oriented text).
//!
//! Lossless stage: every line's template is mined (numbers, hex ids and
//! timestamps become variables), and consecutive repeats of one line collapse
//! into the line and a count.
//! Lossy stage: errors, warnings and their stack traces, the first and last
//! lines, the first line of every rare template and every query match are
//! kept; the rest is cut, each run summarised by level ("1,204 lines omitted:
//! 1,180 INFO, 24 DEBUG").

use std::collections::HashMap;

use cairn_core::CcrRef;

use crate::QueryMatcher;
use crate::lines::{Line, Priority, Selected, select};
use crate::records::Records;

/// Lines kept at each end of the text.
const HEAD_LINES: usize = 5;
const TAIL_LINES: usize = 5;
/// A template seen at most this often is rare, and its first line is kept.
const RARE_TEMPLATE: usize = 2;
/// Continuation lines kept after an error line (a stack trace).
const TRACE_LINES: usize = 60;

/// Log level of a line, as far as its words say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
    Other,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
            Level::Other => "other",
        }
    }
}

/// The level of `line`, from its words: upper-case level names, and the
/// bracketed or `level=` forms in any case (`[warning]`, `level=error`).
pub fn level(line: &str) -> Level {
    const ERROR: &[&str] = &[
        "ERROR",
        "FATAL",
        "CRITICAL",
        "PANIC",
        "FAILED",
        "FAILURE",
        "FAIL:",
        "Traceback",
        "Exception",
        "panicked",
        "error:",
        "error[",
        "Error:",
        "ERR ",
        "[E]",
        "SEVERE",
    ];
    const WARN: &[&str] = &["WARN", "WARNING", "warning:", "Warning:", "DEPRECAT", "[W]"];
    if ERROR.iter().any(|word| line.contains(word)) {
        return Level::Error;
    }
    if WARN.iter().any(|word| line.contains(word)) {
        return Level::Warn;
    }
    for (word, level) in [
        ("INFO", Level::Info),
        ("DEBUG", Level::Debug),
        ("TRACE", Level::Trace),
        ("[I]", Level::Info),
        ("[D]", Level::Debug),
    ] {
        if line.contains(word) {
            return level;
        }
    }
    // Lower-case forms only where they are marked as a level, so prose that
    // mentions an error is not one.
    let head = &line[..crate::lines::floor_char_boundary(line, 120)];
    let lower = head.to_ascii_lowercase();
    for (forms, level) in [
        (
            &[
                "[error]",
                "[err]",
                "[fatal]",
                "[critical]",
                "[crit]",
                "[alert]",
                "[emerg]",
                "level=error",
                "level=fatal",
                "\"level\":\"error\"",
            ][..],
            Level::Error,
        ),
        (
            &["[warning]", "[warn]", "level=warn", "\"level\":\"warn"][..],
            Level::Warn,
        ),
        (
            &["[info]", "[notice]", "level=info", "\"level\":\"info\""][..],
            Level::Info,
        ),
        (
            &["[debug]", "level=debug", "\"level\":\"debug\""][..],
            Level::Debug,
        ),
        (&["[trace]", "level=trace"][..], Level::Trace),
    ] {
        if forms.iter().any(|form| lower.contains(form)) {
            return level;
        }
    }
    Level::Other
}

/// Whether `line` continues a stack trace or an error's detail.
fn continues_trace(line: &str) -> bool {
    let trimmed = line.trim_start();
    line.starts_with([' ', '\t'])
        || trimmed.starts_with("at ")
        || trimmed.starts_with("File \"")
        || trimmed.starts_with("Caused by")
        || trimmed.starts_with("... ")
        || trimmed.starts_with('|')
        || trimmed.starts_with("-->")
        || trimmed.starts_with("note:")
        || trimmed.starts_with("help:")
}

/// Whether line `index` opens a block: the first non-blank line after a blank
/// one (or a less indented line after an indented one, for code).
fn opens_block(lines: &[(&str, usize)], index: usize) -> bool {
    let line = lines[index].0;
    if line.trim().is_empty() {
        return false;
    }
    let Some(previous) = index.checked_sub(1).map(|at| lines[at].0) else {
        return true;
    };
    let indent = |line: &str| line.len() - line.trim_start().len();
    previous.trim().is_empty() || indent(line) < indent(previous) && indent(line) == 0
}

/// Whether a line of code declares something: a function, a type, an import.
fn declares(line: &str) -> bool {
    const DECLARATIONS: &[&str] = &[
        "fn ",
        "pub fn ",
        "pub(crate) fn ",
        "async fn ",
        "pub async fn ",
        "const fn ",
        "unsafe fn ",
        "def ",
        "async def ",
        "class ",
        "func ",
        "function ",
        "export ",
        "impl",
        "struct ",
        "pub struct ",
        "enum ",
        "pub enum ",
        "trait ",
        "pub trait ",
        "interface ",
        "type ",
        "pub type ",
        "mod ",
        "pub mod ",
        "use ",
        "pub use ",
        "import ",
        "from ",
        "package ",
        "#include",
        "public ",
        "private ",
        "protected ",
        "static ",
        "template",
        "namespace ",
        "var ",
        "let ",
        "const ",
    ];
    let trimmed = line.trim_start();
    DECLARATIONS.iter().any(|start| trimmed.starts_with(start))
        && (trimmed.contains('(')
            || trimmed.ends_with('{')
            || trimmed.ends_with(':')
            || trimmed.ends_with(';'))
}

/// The template of a line: runs of digits and long hex or id-like tokens
/// replaced by placeholders, so lines that differ only in values share one.
pub fn template(line: &str) -> String {
    let mut out = String::with_capacity(line.len().min(256));
    for word in line.split_inclusive(|c: char| c.is_whitespace() || "=:,;()[]{}\"'/".contains(c)) {
        let (body, tail) = match word.char_indices().last() {
            Some((at, c)) if c.is_whitespace() || "=:,;()[]{}\"'/".contains(c) => word.split_at(at),
            _ => (word, ""),
        };
        let digits = body.chars().filter(char::is_ascii_digit).count();
        if digits > 0 && (digits * 2 >= body.len() || body.len() >= 8) {
            out.push('#');
        } else {
            out.push_str(body);
        }
        out.push_str(tail);
        if out.len() > 240 {
            break;
        }
    }
    out
}

/// How to read the lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Records: repetitive templates are cut, rare ones kept.
    Log,
    /// Free text: an outline, the first line of every block (headers,
    /// entries) kept and the rest of each block cut.
    Outline,
    /// Source code, until its tree-sitter compressor: the outline and every
    /// line that declares something (functions, types, imports).
    Code,
}

/// Compresses line-oriented text.
pub fn compress(
    text: &str,
    mode: Mode,
    matcher: &QueryMatcher,
    reference: &CcrRef,
    max_tokens: Option<u64>,
) -> Selected {
    let raw: Vec<&str> = text.lines().collect();
    // Lossless: a run of identical lines becomes the line once and a count.
    let mut collapsed: Vec<(&str, usize)> = Vec::with_capacity(raw.len());
    // The original line (0-based) each collapsed line starts at.
    let mut starts: Vec<usize> = Vec::with_capacity(raw.len());
    for (index, line) in raw.iter().enumerate() {
        match collapsed.last_mut() {
            Some((last, count)) if last == line => *count += 1,
            _ => {
                collapsed.push((line, 1));
                starts.push(index);
            }
        }
    }
    let repeated: Vec<String> = collapsed
        .iter()
        .map(|(line, count)| {
            if *count > 1 {
                format!("{line} [×{count}]")
            } else {
                String::new()
            }
        })
        .collect();

    let templates: Vec<String> = collapsed.iter().map(|(line, _)| template(line)).collect();
    let mut template_counts: HashMap<&str, usize> = HashMap::new();
    for template in &templates {
        *template_counts.entry(template.as_str()).or_default() += 1;
    }
    let mut first_of_template: HashMap<&str, usize> = HashMap::new();
    // Where most lines are one of a kind, rarity says nothing.
    let rare_lines = template_counts
        .values()
        .filter(|count| **count <= RARE_TEMPLATE)
        .count();
    let texts: Vec<&str> = collapsed.iter().map(|(line, _)| *line).collect();
    let matched: Vec<bool> = texts.iter().map(|line| matcher.matches(line)).collect();
    // Rare lines and an outline's block openers are what a reader without a
    // question would look at; a question that found its lines has them, and
    // the records around them.
    let answered = matched.contains(&true);
    // In a log whose lines carry their time, the kept lines say when they
    // were; the first and last add nothing to an answer.
    let stamped = texts
        .iter()
        .filter(|line| crate::records::starts_with_time(line))
        .count()
        * 10
        >= texts.len() * 7;
    let rarity_tells = mode == Mode::Log && rare_lines * 10 <= collapsed.len() * 3 && !answered;
    // A `git log`: who changed what when is the outline worth keeping.
    let commit_outline =
        crate::records::is_git_log(&texts).then(|| crate::records::commit_outline(&texts));
    let mut lines = Vec::with_capacity(collapsed.len());
    let mut trace_left = 0usize;
    let total = collapsed.len();
    for (index, (line, _)) in collapsed.iter().enumerate() {
        let level = level(line);
        let template = templates[index].as_str();
        let first = *first_of_template.entry(template).or_insert(index) == index;
        let in_trace = trace_left > 0 && continues_trace(line);
        trace_left = match level {
            Level::Error => TRACE_LINES,
            _ if in_trace => trace_left - 1,
            _ => 0,
        };
        let priority = if matched[index] {
            Priority::Query
        } else if matches!(level, Level::Error | Level::Warn) || in_trace {
            Priority::Important
        } else if commit_outline
            .as_ref()
            .is_some_and(|outline| outline[index])
            || !(answered && stamped) && (index < HEAD_LINES || index + TAIL_LINES >= total)
            || (rarity_tells && first && template_counts[template] <= RARE_TEMPLATE)
            || (mode == Mode::Outline && !answered || mode == Mode::Code)
                && opens_block(&collapsed, index)
            || (mode == Mode::Code && declares(line))
        {
            Priority::Context
        } else {
            Priority::Low
        };
        let text = if repeated[index].is_empty() {
            *line
        } else {
            repeated[index].as_str()
        };
        // An outline's lines are mostly of no level: naming that says nothing.
        let category =
            (mode == Mode::Log || level != Level::Other).then(|| level.name().to_owned());
        let origin = Some((starts[index] + 1, starts[index] + collapsed[index].1));
        lines.push(Line {
            text,
            priority,
            category,
            rank: 0,
            origin,
        });
    }
    // A match keeps the record it falls in (a stanza, a log entry with its
    // trace, a commit, an indented block), not only its own line. Code has
    // its own units (the outline keeps a match's declaration).
    if mode != Mode::Code && lines.iter().any(|line| line.priority == Priority::Query) {
        let records = Records::new(&texts);
        let matches: Vec<usize> = (0..lines.len())
            .filter(|&index| lines[index].priority == Priority::Query)
            .collect();
        // Important, not Query: a budget may still cut a record's other
        // lines when thousands of records match, never the matches.
        for index in matches {
            for kept in records.around(index) {
                lines[kept].priority = lines[kept].priority.max(Priority::Important);
            }
        }
    }
    select(&lines, max_tokens, matcher, reference, "lines")
}

#[cfg(test)]
mod tests {
    use cairn_core::ContentHash;

    use super::*;

    #[test]
    fn templates_abstract_values() {
        assert_eq!(
            template("2026-11-21T04:36:20Z INFO worker-3 id=00ab34cd ms=4999"),
            template("2026-11-21T05:01:02Z INFO worker-7 id=77fe0012 ms=12")
        );
        assert_ne!(
            template("INFO request handled"),
            template("INFO cache miss")
        );
    }

    #[test]
    fn levels_come_from_words() {
        assert_eq!(level("2026 ERROR db down"), Level::Error);
        assert_eq!(level("thread 'main' panicked at src/main.rs"), Level::Error);
        assert_eq!(level("warning: unused variable"), Level::Warn);
        assert_eq!(level("INFO ok"), Level::Info);
        assert_eq!(level("test foo ... ok"), Level::Other);
        assert_eq!(
            level("2026-11-21 04:35:51 [warning] <0.625.0> Message store"),
            Level::Warn
        );
        assert_eq!(level("ts=1 level=error msg=boom"), Level::Error);
        assert_eq!(level("2026 [info] <0.223.0> ready"), Level::Info);
        assert_eq!(
            level("the error rate was low, said the report"),
            Level::Other
        );
    }

    #[test]
    fn keeps_errors_traces_ends_and_rare_lines_and_summarises_the_rest() {
        let mut log = String::new();
        for i in 0..300 {
            log.push_str(&format!(
                "2026-11-21T04:00:{:02}Z INFO request {i} handled in {}ms\n",
                i % 60,
                i % 17
            ));
            if i == 150 {
                log.push_str("2026-11-21T04:02:30Z ERROR upstream timeout after 30s\n");
                log.push_str("    at client.call (client.js:42)\n");
                log.push_str("    at main (main.js:7)\n");
            }
        }
        let reference = ContentHash::of(log.as_bytes()).ccr_ref();
        let selected = compress(&log, Mode::Log, &QueryMatcher::default(), &reference, None);
        assert!(selected.content.contains("ERROR upstream timeout"));
        assert!(selected.content.contains("at client.call (client.js:42)"));
        assert!(selected.content.contains("request 0 handled"));
        assert!(selected.content.contains("request 299 handled"));
        assert!(!selected.content.contains("request 100 handled"));
        assert!(
            selected.content.contains("lines omitted: "),
            "{}",
            selected.content
        );
        assert!(
            selected.content.len() < log.len() / 5,
            "{}",
            selected.content.len()
        );
    }

    #[test]
    fn repeats_collapse_with_a_count() {
        let log = "start\nsame\nsame\nsame\nend\n";
        let reference = ContentHash::of(log.as_bytes()).ccr_ref();
        let selected = compress(log, Mode::Log, &QueryMatcher::default(), &reference, None);
        assert_eq!(selected.content, "start\nsame [×3]\nend\n");
    }

    #[test]
    fn outlines_keep_the_first_line_of_every_block() {
        let mut text = String::new();
        for entry in 0..30 {
            text.push_str(&format!("pkg (1.{entry}-1) unstable; urgency=medium\n\n"));
            for bullet in 0..6 {
                text.push_str(&format!(
                    "  * Change number {bullet} of release {entry}, described at some length.\n"
                ));
            }
            text.push_str(&format!(
                "\n -- Maintainer <m@example.org>  Mon, {entry:02} Aug 2022\n\n"
            ));
        }
        let reference = ContentHash::of(text.as_bytes()).ccr_ref();
        let selected = compress(
            &text,
            Mode::Outline,
            &QueryMatcher::default(),
            &reference,
            None,
        );
        let view = &selected.content;
        assert!(
            view.contains("pkg (1.17-1) unstable; urgency=medium"),
            "{view}"
        );
        assert!(view.contains("  * Change number 0 of release 17"), "{view}");
        assert!(
            !view.contains("  * Change number 3 of release 17"),
            "{view}"
        );
        assert!(view.contains("6 lines omitted (lines 15-20)"), "{view}");
        assert!(
            cairn_core::tokens::count(view) * 4 < cairn_core::tokens::count(&text) * 3,
            "{view}"
        );
    }

    #[test]
    fn query_matches_are_kept_wherever_they_are() {
        let log: String = (0..500).map(|i| format!("INFO step {i} done\n")).collect();
        let reference = ContentHash::of(log.as_bytes()).ccr_ref();
        let matcher = QueryMatcher::new(Some("step 337"), log.lines());
        let selected = compress(&log, Mode::Log, &matcher, &reference, Some(50));
        assert!(
            selected.content.contains("INFO step 337 done"),
            "{}",
            selected.content
        );
    }

    /// In a log whose lines carry their time, an answered question keeps its
    /// lines, not the first and last of the log.
    #[test]
    fn an_answered_question_in_a_timestamped_log_drops_its_ends() {
        let log: String = (0..300)
            .map(|i| {
                format!(
                    "2026-12-04 10:{:02}:{:02} INFO step {i} done\n",
                    i / 60,
                    i % 60
                )
            })
            .collect();
        let reference = ContentHash::of(log.as_bytes()).ccr_ref();
        let plain = compress(&log, Mode::Log, &QueryMatcher::default(), &reference, None);
        assert!(plain.content.contains("step 0 done"), "{}", plain.content);
        let matcher = QueryMatcher::new(Some("when was step 137 done"), log.lines());
        let answered = compress(&log, Mode::Log, &matcher, &reference, None);
        assert!(
            answered.content.contains("step 137 done"),
            "{}",
            answered.content
        );
        assert!(
            !answered.content.contains("step 0 done"),
            "{}",
            answered.content
        );
        assert!(
            !answered.content.contains("step 299 done"),
            "{}",
            answered.content
        );
    }

    /// Without a question an outline keeps each block's first line; a
    /// question that found its lines keeps those and their block only.
    #[test]
    fn an_answered_question_drops_the_outline() {
        let text: String = (0..60)
            .map(|i| format!("Created unit-{i} for the machine.\n  detail line {i}\n\n"))
            .collect();
        let reference = ContentHash::of(text.as_bytes()).ccr_ref();
        let outline = compress(
            &text,
            Mode::Outline,
            &QueryMatcher::default(),
            &reference,
            None,
        );
        assert!(
            outline.content.contains("Created unit-30 for"),
            "{}",
            outline.content
        );
        let matcher = QueryMatcher::new(Some("what detail does unit-42 have"), text.lines());
        let answered = compress(&text, Mode::Outline, &matcher, &reference, None);
        assert!(
            answered.content.contains("  detail line 42"),
            "{}",
            answered.content
        );
        assert!(
            !answered.content.contains("Created unit-30 for"),
            "{}",
            answered.content
        );
    }
}
