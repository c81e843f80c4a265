//! Search results: `path:line:text` (grep -n, ripgrep) and `path:line:col:text`.
//!
//! Lossless stage: hits grouped by file (in first-seen order), the path said
//! once per file, and the directory every path shares said once.
//! Lossy stage: a few hits per file and a cap on files, query matches first
//! and never cut; each cut is a marker counting hits by file.

use cairn_core::CcrRef;

use crate::QueryMatcher;
use crate::lines::{Line, Priority, Selected, select};

/// Hits shown per file, beyond query matches.
const HITS_PER_FILE: usize = 4;
/// Files whose hits are shown, beyond files with query matches.
const FILES_SHOWN: usize = 25;

/// One parsed hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit<'a> {
    pub path: &'a str,
    pub line: &'a str,
    pub text: &'a str,
}

/// Parses `path:line:text` or `path:line:col:text`; `None` for anything else.
pub fn parse_hit(line: &str) -> Option<Hit<'_>> {
    let (path, rest) = line.split_once(':')?;
    // A path: no whitespace, and a directory or an extension in it (so a
    // timestamp such as `2026-11-21T04:00:00Z` is not taken for one).
    let path_like = !path.is_empty()
        && path.len() <= 400
        && !path.contains(char::is_whitespace)
        && (path.contains('/')
            || path
                .rsplit_once('.')
                .is_some_and(|(_, ext)| ext.chars().any(char::is_alphabetic)));
    if !path_like {
        return None;
    }
    let (number, mut text) = rest.split_once(':')?;
    if number.is_empty() || number.len() > 9 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some((column, after)) = text.split_once(':')
        && !column.is_empty()
        && column.len() <= 5
        && column.bytes().all(|b| b.is_ascii_digit())
    {
        text = after;
    }
    Some(Hit {
        path,
        line: number,
        text,
    })
}

/// Whether most non-empty lines of `text` are search hits.
pub fn looks_like_search(text: &str) -> bool {
    let mut hits = 0usize;
    let mut total = 0usize;
    for line in text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .take(200)
    {
        total += 1;
        if parse_hit(line).is_some() {
            hits += 1;
        }
    }
    total >= 3 && hits * 10 >= total * 8
}

pub fn compress(
    text: &str,
    matcher: &QueryMatcher,
    reference: &CcrRef,
    max_tokens: Option<u64>,
) -> Selected {
    let parsed: Vec<Option<Hit<'_>>> = text.lines().map(parse_hit).collect();
    let raw: Vec<&str> = text.lines().collect();
    // Group by path, in first-seen order.
    let mut files: Vec<(&str, Vec<usize>)> = Vec::new();
    let mut other: Vec<usize> = Vec::new();
    for (index, hit) in parsed.iter().enumerate() {
        match hit {
            Some(hit) => match files.iter_mut().find(|(path, _)| *path == hit.path) {
                Some((_, indices)) => indices.push(index),
                None => files.push((hit.path, vec![index])),
            },
            None => other.push(index),
        }
    }
    let prefix = common_directory(files.iter().map(|(path, _)| *path));
    let mut rendered: Vec<String> = Vec::new();
    let mut meta: Vec<(Priority, Option<String>)> = Vec::new();
    if !prefix.is_empty() {
        rendered.push(format!("(paths below are under {prefix} unless whole)"));
        meta.push((Priority::Query, None));
    }
    let mut files_shown = 0usize;
    for (path, indices) in &files {
        let file_has_match = indices.iter().any(|&index| matcher.matches(raw[index]));
        // A file the query is about keeps its whole path.
        let short = if file_has_match {
            path
        } else {
            &path[prefix.len()..]
        };
        let shown = file_has_match || files_shown < FILES_SHOWN;
        if shown && !file_has_match {
            files_shown += 1;
        }
        rendered.push(format!("{short}:"));
        meta.push((
            if shown {
                Priority::Important
            } else {
                Priority::Low
            },
            Some(short.to_owned()),
        ));
        let mut kept_in_file = 0usize;
        for &index in indices {
            let Some(hit) = parsed[index] else { continue };
            let priority = if matcher.matches(raw[index]) {
                Priority::Query
            } else if shown && kept_in_file < HITS_PER_FILE {
                kept_in_file += 1;
                Priority::Context
            } else {
                Priority::Low
            };
            // The hit as it was (`line:text`), so its text is found verbatim.
            rendered.push(format!("  {}:{}", hit.line, hit.text));
            meta.push((priority, Some(short.to_owned())));
        }
    }
    for index in other {
        rendered.push(raw[index].to_owned());
        meta.push((
            if matcher.matches(raw[index]) {
                Priority::Query
            } else {
                Priority::Context
            },
            None,
        ));
    }
    let lines: Vec<Line<'_>> = rendered
        .iter()
        .zip(meta)
        .map(|(text, (priority, category))| Line {
            text,
            priority,
            category,
            rank: 0,
            origin: None,
        })
        .collect();
    select(&lines, max_tokens, matcher, reference, "lines")
}

/// The longest directory prefix (ending in `/`) all `paths` share.
fn common_directory<'a>(mut paths: impl Iterator<Item = &'a str>) -> &'a str {
    let Some(first) = paths.next() else { return "" };
    let mut length = first.rfind('/').map_or(0, |at| at + 1);
    for path in paths {
        while length > 0
            && !(path.len() >= length && path.as_bytes()[..length] == first.as_bytes()[..length])
        {
            length = first[..length - 1].rfind('/').map_or(0, |at| at + 1);
        }
    }
    &first[..length]
}

#[cfg(test)]
mod tests {
    use cairn_core::ContentHash;

    use super::*;

    #[test]
    fn hits_parse_with_and_without_columns() {
        assert_eq!(
            parse_hit("src/a.rs:12:fn main() {"),
            Some(Hit {
                path: "src/a.rs",
                line: "12",
                text: "fn main() {"
            })
        );
        assert_eq!(
            parse_hit("src/a.rs:12:5:let x = 1;").map(|h| h.text),
            Some("let x = 1;")
        );
        assert_eq!(parse_hit("2026-11-21 04:36:20 INFO x"), None);
        assert_eq!(parse_hit("2026-11-21T04:00:00Z INFO compiling"), None);
        assert!(parse_hit("setup.py:3:import os").is_some());
        assert_eq!(parse_hit("no colon"), None);
    }

    #[test]
    fn groups_by_file_folds_the_shared_directory_and_caps_hits() {
        let mut text = String::new();
        for file in 0..40 {
            for line in 0..10 {
                text.push_str(&format!(
                    "/usr/lib/python3.11/pkg/mod{file}.py:{}:    import os  # {line}\n",
                    line * 7 + 1
                ));
            }
        }
        text.push_str("/usr/lib/python3.11/pkg/special.py:99:    import needle_module\n");
        assert!(looks_like_search(&text));
        let reference = ContentHash::of(text.as_bytes()).ccr_ref();
        let matcher = QueryMatcher::new(Some("needle_module"), text.lines());
        let selected = compress(&text, &matcher, &reference, None);
        let view = &selected.content;
        assert!(view.starts_with("(paths below are under /usr/lib/python3.11/pkg/ unless whole)\nmod0.py:\n  1:    import os  # 0\n"), "{view}");
        assert!(
            view.contains("/usr/lib/python3.11/pkg/special.py:\n  99:    import needle_module"),
            "{view}"
        );
        assert!(view.contains("lines omitted: "), "{view}");
        assert!(view.len() * 2 < text.len());
    }
}
