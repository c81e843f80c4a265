//! The router: what a payload is, from its content. A hint is honoured but
//! never required.

use crate::{code, diff, json, prose, search, table};

/// The kinds of content the engine tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A JSON array of objects.
    JsonRows,
    /// Any other JSON document.
    Json,
    Log,
    Search,
    Diff,
    Csv,
    Tsv,
    Html,
    Prose,
    Code,
    Text,
    Binary,
}

impl Kind {
    pub const ALL: &'static [Kind] = &[
        Kind::JsonRows,
        Kind::Json,
        Kind::Log,
        Kind::Search,
        Kind::Diff,
        Kind::Csv,
        Kind::Tsv,
        Kind::Html,
        Kind::Prose,
        Kind::Code,
        Kind::Text,
        Kind::Binary,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::JsonRows => "json_rows",
            Kind::Json => "json",
            Kind::Log => "log",
            Kind::Search => "search",
            Kind::Diff => "diff",
            Kind::Csv => "csv",
            Kind::Tsv => "tsv",
            Kind::Html => "html",
            Kind::Prose => "prose",
            Kind::Code => "code",
            Kind::Text => "text",
            Kind::Binary => "binary",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|kind| kind.as_str() == name)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `text` is.
pub fn detect(text: &str) -> Kind {
    detect_parsed(text).0
}

/// What `text` is, and its syntax tree when telling it took one.
pub(crate) fn detect_parsed(text: &str) -> (Kind, Option<(code::Language, tree_sitter::Tree)>) {
    let kind = match detect_unparsed(text) {
        Some(kind) => kind,
        None => match code::read(text) {
            Some(parsed) => return (Kind::Code, Some(parsed)),
            None => prose_or_text(text),
        },
    };
    (kind, None)
}

/// The kind, or `None` when only a parse can tell code from the rest.
fn detect_unparsed(text: &str) -> Option<Kind> {
    let trimmed = text.trim_start();
    if (trimmed.starts_with('{') || trimmed.starts_with('['))
        && let Ok(value) = json::parse(text)
    {
        return Some(if json::is_rows(&value) {
            Kind::JsonRows
        } else {
            Kind::Json
        });
    }
    if diff::looks_like_diff(text) {
        return Some(Kind::Diff);
    }
    if prose::looks_like_html(text) {
        return Some(Kind::Html);
    }
    if search::looks_like_search(text) {
        return Some(Kind::Search);
    }
    match table::delimiter(text) {
        Some('\t') => return Some(Kind::Tsv),
        Some(_) => return Some(Kind::Csv),
        None => {}
    }
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .take(400)
        .collect();
    if lines.is_empty() {
        return Some(Kind::Text);
    }
    let share = |test: &dyn Fn(&str) -> bool| {
        lines.iter().filter(|line| test(line)).count() * 100 / lines.len()
    };
    if share(&looks_like_log_line) >= 30 || crate::records::is_git_log(&lines) {
        return Some(Kind::Log);
    }
    // Code with long docstrings or comments has fewer lines that look like
    // code: a grammar that reads it cleanly settles it.
    let code_lines = share(&looks_like_code_line);
    if code_lines >= 35 {
        return Some(Kind::Code);
    }
    if code_lines >= 10 {
        return None;
    }
    Some(prose_or_text(text))
}

fn prose_or_text(text: &str) -> Kind {
    if prose::looks_like_prose(text) {
        Kind::Prose
    } else {
        Kind::Text
    }
}

/// A timestamp, a level word, or a test runner's verdict.
fn looks_like_log_line(line: &str) -> bool {
    let bytes = line.as_bytes();
    let timestamp = bytes.windows(5).take(40).any(|w| {
        w[0].is_ascii_digit()
            && w[1].is_ascii_digit()
            && w[2] == b':'
            && w[3].is_ascii_digit()
            && w[4].is_ascii_digit()
    });
    let dated = bytes.windows(5).take(40).any(|w| {
        w[0].is_ascii_digit()
            && w[1].is_ascii_digit()
            && w[2] == b'-'
            && w[3].is_ascii_digit()
            && w[4].is_ascii_digit()
    });
    timestamp
        || dated
        || crate::log::level(line) != crate::log::Level::Other
        || line.ends_with(" ok")
        || line.ends_with(" ... ok")
        || line.contains(" PASSED")
        || line.contains(" FAILED")
        || line.starts_with("test ")
}

fn looks_like_code_line(line: &str) -> bool {
    let trimmed = line.trim();
    const STARTS: &[&str] = &[
        "def ",
        "class ",
        "import ",
        "from ",
        "fn ",
        "pub ",
        "let ",
        "const ",
        "func ",
        "package ",
        "#include",
        "public ",
        "private ",
        "protected ",
        "return",
        "if ",
        "if(",
        "for ",
        "while ",
        "else",
        "}",
        "use ",
        "impl ",
        "struct ",
        "enum ",
        "type ",
        "var ",
        "function ",
        "export ",
        "async ",
        "static ",
        "@",
        "//",
        "/*",
        "* ",
        "#[",
        "try",
        "except",
        "catch",
        "switch",
    ];
    trimmed.ends_with('{')
        || trimmed.ends_with(';')
        || trimmed.ends_with(':') && line.starts_with([' ', '\t'])
        || STARTS.iter().any(|start| trimmed.starts_with(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Kind) {
        assert_eq!(detect(text), expected, "{text:.80}");
    }

    #[test]
    fn kinds_are_detected_from_content() {
        check(r#"[{"a":1},{"a":2}]"#, Kind::JsonRows);
        check(r#"{"data": {"items": [1, 2]}}"#, Kind::Json);
        check(
            "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n",
            Kind::Diff,
        );
        check(
            "<!DOCTYPE html><html><body><p>hi</p></body></html>",
            Kind::Html,
        );
        check(
            "src/a.rs:1:fn a()\nsrc/a.rs:9:fn b()\nsrc/b.rs:3:fn c()\n",
            Kind::Search,
        );
        check("id,name\n1,a\n2,b\n3,c\n", Kind::Csv);
        check("id\tname\n1\ta\n2\tb\n3\tc\n", Kind::Tsv);
        check(
            "2026-11-21 04:36:20 INFO start\n2026-11-21 04:36:21 INFO ready\n",
            Kind::Log,
        );
        check(
            "test a ... ok\ntest b ... ok\ntest c ... FAILED\n",
            Kind::Log,
        );
        check(
            "def main():\n    x = 1\n    return x\n\nclass A:\n    pass\n",
            Kind::Code,
        );
        check(
            "Cairn keeps what agents produce. It stores each original once. Views are compressed, \
             and every cut is marked with a reference, so nothing is lost for good.\n",
            Kind::Prose,
        );
        check("a\nb\n", Kind::Text);
    }

    #[test]
    fn kind_names_round_trip() {
        for &kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
    }
}
