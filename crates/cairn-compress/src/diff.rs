//! Unified diffs.
//!
//! Kept: file headers, hunk headers and every changed line. Context lines are
//! trimmed to one on each side of a change. Hunks of lockfiles and generated
//! files are summarised (their changed-line counts) instead of shown. With a
//! query that matches some hunk, the hunks it does not touch fold into
//! markers that say which file and how many lines they add and remove.

use cairn_core::CcrRef;

use crate::QueryMatcher;
use crate::lines::{Line, Priority, Selected, select};

/// Context lines kept next to a change.
const CONTEXT: usize = 1;

/// Whether `text` is a unified diff.
pub fn looks_like_diff(text: &str) -> bool {
    let mut headers = 0;
    let mut hunks = 0;
    for line in text.lines().take(400) {
        if line.starts_with("diff --git ") || line.starts_with("--- ") || line.starts_with("+++ ") {
            headers += 1;
        } else if line.starts_with("@@ ") {
            hunks += 1;
        }
    }
    headers >= 2 && hunks >= 1
}

fn is_generated(path: &str) -> bool {
    const NAMES: &[&str] = &[
        "Cargo.lock",
        "package-lock.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "go.sum",
        "poetry.lock",
        "Gemfile.lock",
        "composer.lock",
        "uv.lock",
        "Pipfile.lock",
    ];
    let name = path.rsplit('/').next().unwrap_or(path);
    NAMES.contains(&name)
        || name.ends_with(".min.js")
        || name.ends_with(".min.css")
        || name.ends_with(".map")
}

/// When some hunk holds a query match, every hunk that holds none becomes
/// one run of low-priority lines named `file +A −D`: the question is about
/// the other hunks, and the marker says where this one is and how big.
fn fold_untouched_hunks(
    raw: &[&str],
    priorities: &mut [Priority],
    categories: &mut [Option<String>],
) {
    // Hunks: from an `@@` line to the next `@@`, file header or commit.
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    let mut start: Option<usize> = None;
    for (index, line) in raw.iter().enumerate() {
        let file_header = line.starts_with("--- ")
            && raw
                .get(index + 1)
                .is_some_and(|next| next.starts_with("+++ "));
        let boundary = line.starts_with("@@")
            || line.starts_with("diff --git ")
            || file_header
            || crate::records::is_commit(line);
        if boundary && let Some(from) = start.take() {
            hunks.push((from, index));
        }
        if line.starts_with("@@") {
            start = Some(index);
        }
    }
    if let Some(from) = start {
        hunks.push((from, raw.len()));
    }
    // Only a question about the changes folds the others: one that matches
    // a commit message or a file name alone leaves every change in view.
    if !hunks
        .iter()
        .any(|&(from, to)| priorities[from..to].contains(&Priority::Query))
    {
        return;
    }
    let mut file = String::new();
    let mut files: Vec<String> = Vec::with_capacity(raw.len());
    for line in raw {
        if let Some(path) = line.strip_prefix("+++ ") {
            file = path.trim_start_matches("b/").to_owned();
        } else if let Some(rest) = line.strip_prefix("diff --git ") {
            file = rest
                .rsplit(' ')
                .next()
                .unwrap_or("")
                .trim_start_matches("b/")
                .to_owned();
        }
        files.push(file.clone());
    }
    for (from, to) in hunks {
        if priorities[from..to].contains(&Priority::Query) {
            continue;
        }
        let added = raw[from..to]
            .iter()
            .filter(|line| line.starts_with('+'))
            .count();
        let removed = raw[from..to]
            .iter()
            .filter(|line| line.starts_with('-'))
            .count();
        let name = format!("{} +{added} −{removed}", files[from]);
        for index in from..to {
            priorities[index] = Priority::Low;
            categories[index] = Some(name.clone());
        }
    }
}

pub fn compress(
    text: &str,
    matcher: &QueryMatcher,
    reference: &CcrRef,
    max_tokens: Option<u64>,
) -> Selected {
    let raw: Vec<&str> = text.lines().collect();
    let mut generated = false;
    let mut in_hunk = false;
    let mut priorities: Vec<Priority> = Vec::with_capacity(raw.len());
    let mut categories: Vec<Option<String>> = Vec::with_capacity(raw.len());
    let mut file = String::new();
    for line in &raw {
        let header = line.starts_with("diff --git ")
            || line.starts_with("--- ")
            || line.starts_with("+++ ")
            || line.starts_with("index ")
            || line.starts_with("new file")
            || line.starts_with("deleted file")
            || line.starts_with("rename ")
            || line.starts_with("similarity ");
        if line.starts_with("diff --git ") || line.starts_with("+++ ") {
            let path = line
                .rsplit(' ')
                .next()
                .unwrap_or("")
                .trim_start_matches("b/");
            if line.starts_with("diff --git ") || path != "/dev/null" {
                file = path.to_owned();
                generated = is_generated(path);
            }
            in_hunk = false;
        }
        if line.starts_with("@@") {
            in_hunk = true;
        }
        let (priority, category) = if matcher.matches(line) && !header {
            (Priority::Query, None)
        } else if header || line.starts_with("@@") {
            (Priority::Important, None)
        } else if generated && in_hunk {
            (Priority::Low, Some(format!("{file} (generated)")))
        } else if in_hunk && (line.starts_with('+') || line.starts_with('-')) {
            (Priority::Important, None)
        } else {
            (Priority::Low, Some("context".to_owned()))
        };
        priorities.push(priority);
        categories.push(category);
    }
    fold_untouched_hunks(&raw, &mut priorities, &mut categories);
    // Keep a line of context on each side of every change.
    let changed: Vec<bool> = raw
        .iter()
        .zip(&categories)
        .map(|(line, category)| {
            category.is_none()
                && (line.starts_with('+') || line.starts_with('-'))
                && !line.starts_with("+++")
                && !line.starts_with("---")
        })
        .collect();
    for index in 0..raw.len() {
        if priorities[index] == Priority::Low && categories[index].as_deref() == Some("context") {
            let near = (index.saturating_sub(CONTEXT)..=(index + CONTEXT).min(raw.len() - 1))
                .any(|at| changed[at]);
            if near {
                priorities[index] = Priority::Context;
            }
        }
    }
    let lines: Vec<Line<'_>> = raw
        .iter()
        .zip(priorities)
        .zip(categories)
        .enumerate()
        .map(|(index, ((text, priority), category))| Line {
            text,
            priority,
            category,
            rank: 0,
            origin: Some((index + 1, index + 1)),
        })
        .collect();
    select(&lines, max_tokens, matcher, reference, "lines")
}

#[cfg(test)]
mod tests {
    use cairn_core::ContentHash;

    use super::*;

    #[test]
    fn keeps_changes_trims_context_and_summarises_lockfiles() {
        let mut text = String::from(
            "diff --git a/src/lib.rs b/src/lib.rs\nindex 1..2 100644\n--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,12 +1,12 @@\n",
        );
        for i in 0..30 {
            text.push_str(&format!(" context before {i}\n"));
        }
        text.push_str("-old line\n+new line\n");
        for i in 0..5 {
            text.push_str(&format!(" context after {i}\n"));
        }
        text.push_str("diff --git a/Cargo.lock b/Cargo.lock\n--- a/Cargo.lock\n+++ b/Cargo.lock\n@@ -1,3 +1,3 @@\n");
        for i in 0..30 {
            text.push_str(&format!(
                "-version = \"0.{i}\"\n+version = \"0.{}\"\n",
                i + 1
            ));
        }
        assert!(looks_like_diff(&text));
        let reference = ContentHash::of(text.as_bytes()).ccr_ref();
        let selected = compress(&text, &QueryMatcher::default(), &reference, None);
        let view = &selected.content;
        assert!(
            view.contains(" context before 29\n-old line\n+new line\n context after 0\n"),
            "{view}"
        );
        assert!(!view.contains("context before 0"), "{view}");
        assert!(
            view.contains("60 lines omitted: 60 Cargo.lock (generated)"),
            "{view}"
        );
    }

    #[test]
    fn a_query_folds_the_hunks_it_does_not_touch() {
        let mut text = String::from(
            "diff --git a/src/net.rs b/src/net.rs
--- a/src/net.rs
+++ b/src/net.rs
",
        );
        for hunk in 0..4 {
            text.push_str(&format!(
                "@@ -{0},6 +{0},6 @@ fn part_{hunk}()
",
                hunk * 40 + 1
            ));
            text.push_str(&format!(
                " let a{hunk} = 1;
"
            ));
            if hunk == 2 {
                text.push_str(
                    "-    retry_limit = 3
+    retry_limit = 5
",
                );
            } else {
                text.push_str(&format!(
                    "-    width_{hunk} = 10
+    width_{hunk} = 12
"
                ));
            }
            text.push_str(&format!(
                " let b{hunk} = 2;
"
            ));
        }
        let reference = ContentHash::of(text.as_bytes()).ccr_ref();
        let matcher = QueryMatcher::new(Some("what is the new retry_limit"), text.lines());
        let view = compress(&text, &matcher, &reference, None).content;
        assert!(view.contains("+    retry_limit = 5"), "{view}");
        assert!(view.contains("@@ -81,6 +81,6 @@ fn part_2()"), "{view}");
        assert!(
            view.contains("+++ b/src/net.rs"),
            "the file header stays: {view}"
        );
        assert!(!view.contains("width_0"), "{view}");
        assert!(
            view.contains("src/net.rs +1 −1"),
            "the fold says where and how big: {view}"
        );
        // Without a query every change stays.
        let plain = compress(&text, &QueryMatcher::default(), &reference, None).content;
        assert!(plain.contains("width_0 = 12"), "{plain}");
        // A question that matches only the commit message (`git show`)
        // folds nothing.
        let shown = format!(
            "commit 0123456789abcdef0123456789abcdef01234567\nAuthor: A <a@example.org>\n\n    \
             Widen the panels\n\n{text}"
        );
        let matcher = QueryMatcher::new(Some("why widen the panels"), shown.lines());
        let view = compress(&shown, &matcher, &reference, None).content;
        assert!(
            view.contains("width_0 = 12") && view.contains("width_3 = 12"),
            "{view}"
        );
    }
}
