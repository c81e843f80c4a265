//! Prose, markdown and HTML.
//!
//! Lossless stage: HTML becomes text (scripts, styles and markup dropped,
//! headings and list items kept as markdown), whitespace runs collapse, and a
//! paragraph repeated word for word is kept once.
//! Lossy stage: headings, code and the first sentence of every paragraph are
//! kept; other sentences are kept when they match the query, and a budget
//! keeps the sentences most relevant to the query (BM25) first. A view of
//! prose shows one sentence a line.

use std::collections::{BTreeMap, HashSet};

use cairn_core::CcrRef;

use crate::QueryMatcher;
use crate::lines::{Line, Priority, Selected, select};

/// Under this many tokens, prose with no query and no budget is kept whole.
const KEEP_WHOLE_TOKENS: u64 = 1_500;

/// One unit of prose: a sentence, a heading, a line of a list or of code.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Unit {
    text: String,
    kind: UnitKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnitKind {
    Heading,
    /// The first sentence of a paragraph.
    Lead,
    Sentence,
    /// A list item or a line inside a code block.
    Line,
    /// A paragraph that repeats an earlier one word for word.
    Repeat,
}

/// Whether `text` reads as HTML.
pub fn looks_like_html(text: &str) -> bool {
    let head = text
        .trim_start()
        .get(..200)
        .unwrap_or(text.trim_start())
        .to_ascii_lowercase();
    head.starts_with("<!doctype html") || head.starts_with("<html") || head.contains("<body")
}

/// Whether `text` reads as prose: sentences, not records. Text laid out by
/// indentation (a rendered man page, a changelog: most lines indented) is
/// not: its layout is its structure, which the line outline and its records
/// keep and re-flowing sentences would lose.
pub fn looks_like_prose(text: &str) -> bool {
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .take(200)
        .collect();
    if lines.is_empty() {
        return false;
    }
    let indented = lines
        .iter()
        .filter(|line| line.starts_with([' ', '\t']))
        .count();
    if indented * 10 >= lines.len() * 6 {
        return false;
    }
    let words = lines
        .iter()
        .map(|line| line.split_whitespace().count())
        .sum::<usize>();
    let sentences = text.matches(". ").count() + text.matches(".\n").count();
    let headings = lines.iter().filter(|line| line.starts_with('#')).count();
    words / lines.len() >= 8 && sentences * 4 >= lines.len()
        || headings * 10 >= lines.len() && words >= 50
}

/// HTML to markdown-ish text. Returns the text and the bytes of markup dropped.
pub fn html_to_text(html: &str) -> (String, usize) {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    let mut dropped = 0usize;
    while let Some(open) = rest.find('<') {
        out.push_str(&decode_entities(&rest[..open]));
        let after = &rest[open..];
        let lower: String = after
            .chars()
            .take(12)
            .collect::<String>()
            .to_ascii_lowercase();
        // Skip whole elements whose content is not text.
        let skip_to = ["script", "style", "noscript", "svg", "head"]
            .iter()
            .find(|name| lower.starts_with(&format!("<{name}")))
            .and_then(|name| {
                find_ascii_case_insensitive(after, &format!("</{name}>"))
                    .map(|end| end + name.len() + 3)
            });
        if let Some(end) = skip_to {
            dropped += end;
            rest = &after[end..];
            continue;
        }
        if after.starts_with("<!--") {
            let end = after.find("-->").map_or(after.len(), |end| end + 3);
            dropped += end;
            rest = &after[end..];
            continue;
        }
        let end = after.find('>').map_or(after.len(), |end| end + 1);
        let tag = &lower;
        let name: String = tag
            .trim_start_matches("</")
            .trim_start_matches('<')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let closing = tag.starts_with("</");
        match name.as_str() {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" if !closing => {
                let level = name[1..].parse::<usize>().unwrap_or(1);
                out.push_str("\n\n");
                out.push_str(&"#".repeat(level));
                out.push(' ');
            }
            "li" if !closing => out.push_str("\n- "),
            "br" => out.push('\n'),
            "p" | "div" | "section" | "article" | "header" | "footer" | "tr" | "table" | "ul"
            | "ol" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "pre" | "blockquote" => {
                out.push_str("\n\n")
            }
            "td" | "th" => out.push(' '),
            _ => {}
        }
        dropped += end;
        rest = &after[end..];
    }
    out.push_str(&decode_entities(rest));
    (out, dropped)
}

fn find_ascii_case_insensitive(haystack: &str, needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
}

fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let end = after[..after.len().min(12)].find(';');
        let decoded = end.and_then(|end| {
            let entity = &after[1..end];
            let c = match entity {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" | "#39" => '\'',
                "nbsp" => ' ',
                _ if entity.starts_with("#x") || entity.starts_with("#X") => {
                    char::from_u32(u32::from_str_radix(&entity[2..], 16).ok()?)?
                }
                _ if entity.starts_with('#') => char::from_u32(entity[1..].parse().ok()?)?,
                _ => return None,
            };
            Some((c, end + 1))
        });
        match decoded {
            Some((c, length)) => {
                out.push(c);
                rest = &after[length..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Splits a paragraph into sentences at `. `, `? `, `! ` before a capital,
/// digit or quote.
fn sentences(paragraph: &str) -> Vec<String> {
    let text: String = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for at in 1..bytes.len().saturating_sub(1) {
        if matches!(bytes[at - 1], b'.' | b'?' | b'!')
            && bytes[at] == b' '
            && (bytes[at + 1].is_ascii_uppercase()
                || bytes[at + 1].is_ascii_digit()
                || bytes[at + 1] == b'"')
        {
            // Not after an initial ("J. Smith") or an abbreviation ("e.g. This").
            let word_start = text[..at - 1].rfind(' ').map_or(0, |space| space + 1);
            let word = &text[word_start..at - 1];
            if word.len() <= 1 || word.contains('.') {
                continue;
            }
            out.push(text[start..at].to_owned());
            start = at + 1;
        }
    }
    if start < text.len() {
        out.push(text[start..].to_owned());
    }
    out
}

fn units(text: &str) -> Vec<Unit> {
    let mut units = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut in_code = false;
    let mut paragraph = String::new();
    let flush = |paragraph: &mut String, units: &mut Vec<Unit>, seen: &mut HashSet<String>| {
        if paragraph.trim().is_empty() {
            paragraph.clear();
            return;
        }
        let normalized: String = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
        if normalized.len() > 40 && !seen.insert(normalized.clone()) {
            units.push(Unit {
                text: normalized,
                kind: UnitKind::Repeat,
            });
        } else {
            for (index, sentence) in sentences(paragraph).into_iter().enumerate() {
                let kind = if index == 0 {
                    UnitKind::Lead
                } else {
                    UnitKind::Sentence
                };
                units.push(Unit {
                    text: sentence,
                    kind,
                });
            }
        }
        paragraph.clear();
    };
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            flush(&mut paragraph, &mut units, &mut seen);
            in_code = !in_code;
            units.push(Unit {
                text: line.to_owned(),
                kind: UnitKind::Line,
            });
            continue;
        }
        if in_code {
            units.push(Unit {
                text: line.to_owned(),
                kind: UnitKind::Line,
            });
            continue;
        }
        if trimmed.is_empty() {
            flush(&mut paragraph, &mut units, &mut seen);
        } else if trimmed.starts_with('#') {
            flush(&mut paragraph, &mut units, &mut seen);
            units.push(Unit {
                text: trimmed.to_owned(),
                kind: UnitKind::Heading,
            });
        } else if trimmed.starts_with("- ")
            || trimmed.starts_with("* ")
            || trimmed.starts_with("| ")
            || starts_numbered(trimmed)
        {
            flush(&mut paragraph, &mut units, &mut seen);
            units.push(Unit {
                text: line.trim_end().to_owned(),
                kind: UnitKind::Line,
            });
        } else {
            if !paragraph.is_empty() {
                paragraph.push(' ');
            }
            paragraph.push_str(trimmed);
        }
    }
    flush(&mut paragraph, &mut units, &mut seen);
    units
}

fn starts_numbered(line: &str) -> bool {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && digits < 4 && line[digits..].starts_with(". ")
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// BM25 scores of `documents` for the words of `query`.
pub fn bm25(documents: &[&str], query: &str) -> Vec<f64> {
    const K1: f64 = 1.2;
    const B: f64 = 0.75;
    let terms: Vec<String> = crate::query_terms(query)
        .iter()
        .flat_map(|term| words(term))
        .collect();
    let tokenized: Vec<Vec<String>> = documents.iter().map(|document| words(document)).collect();
    let count = tokenized.len().max(1) as f64;
    let average = tokenized.iter().map(Vec::len).sum::<usize>() as f64 / count;
    let mut frequency: BTreeMap<&str, usize> = BTreeMap::new();
    for term in &terms {
        frequency.insert(
            term,
            tokenized
                .iter()
                .filter(|words| words.contains(term))
                .count(),
        );
    }
    tokenized
        .iter()
        .map(|words| {
            terms
                .iter()
                .map(|term| {
                    let tf = words.iter().filter(|word| *word == term).count() as f64;
                    if tf == 0.0 {
                        return 0.0;
                    }
                    let df = frequency[term.as_str()] as f64;
                    let idf = ((count - df + 0.5) / (df + 0.5) + 1.0).ln();
                    idf * tf * (K1 + 1.0)
                        / (tf + K1 * (1.0 - B + B * words.len() as f64 / average.max(1.0)))
                })
                .sum()
        })
        .collect()
}

/// BM25 scores plus similarity: BM25 scaled to [0, 1] by the best one,
/// plus the similarity (negative counted as 0). Unchanged when the scorer
/// declined or answered for another number of sentences.
fn with_similarity(scores: &mut [f64], similarity: Option<Vec<f32>>) {
    let Some(similarity) = similarity.filter(|s| s.len() == scores.len()) else {
        return;
    };
    let best = scores.iter().copied().fold(0.0, f64::max);
    for (score, similar) in scores.iter_mut().zip(similarity) {
        let lexical = if best > 0.0 { *score / best } else { 0.0 };
        *score = lexical + f64::from(similar.max(0.0));
    }
}

pub fn compress(
    text: &str,
    query: Option<&str>,
    reference: &CcrRef,
    max_tokens: Option<u64>,
    scorer: Option<&dyn crate::SentenceScorer>,
) -> Selected {
    let units = units(text);
    let texts: Vec<&str> = units.iter().map(|unit| unit.text.as_str()).collect();
    let matcher = QueryMatcher::new(query, texts.iter().copied().filter(|text| !text.is_empty()));
    let mut scores = query.map(|query| bm25(&texts, query)).unwrap_or_default();
    if let (Some(query), Some(scorer)) = (query, scorer) {
        with_similarity(&mut scores, scorer.scores(query, &texts));
    }
    let whole = query.is_none()
        && max_tokens.is_none()
        && cairn_core::tokens::count(text) < KEEP_WHOLE_TOKENS;
    let lines: Vec<Line<'_>> = units
        .iter()
        .enumerate()
        .map(|(index, unit)| {
            let priority = match unit.kind {
                UnitKind::Heading => Priority::Query,
                UnitKind::Repeat => Priority::Low,
                _ if matcher.matches(&unit.text) => Priority::Query,
                _ if whole => Priority::Important,
                UnitKind::Lead | UnitKind::Line => Priority::Context,
                UnitKind::Sentence => Priority::Low,
            };
            let category = match unit.kind {
                UnitKind::Repeat => "repeated paragraph",
                UnitKind::Line => "lines",
                _ => "sentences",
            };
            let rank = scores
                .get(index)
                .map_or(0, |score| (score * 1000.0).min(u32::MAX as f64) as u32);
            Line {
                text: &unit.text,
                priority,
                category: Some(category.to_owned()),
                rank,
                origin: None,
            }
        })
        .collect();
    select(&lines, max_tokens, &matcher, reference, "units")
}

#[cfg(test)]
mod tests {
    use cairn_core::ContentHash;

    use super::*;

    #[test]
    fn html_becomes_text_without_scripts_or_markup() {
        let html = "<!DOCTYPE html><html><head><title>x</title><style>p{}</style></head><body>\
                    <h1>Release notes</h1><p>Fixed a crash &amp; a leak.</p><script>alert(1)</script>\
                    <ul><li>one</li><li>two</li></ul></body></html>";
        assert!(looks_like_html(html));
        let (text, dropped) = html_to_text(html);
        assert!(text.contains("# Release notes"), "{text}");
        assert!(text.contains("Fixed a crash & a leak."), "{text}");
        assert!(text.contains("- one") && text.contains("- two"), "{text}");
        assert!(!text.contains("alert") && !text.contains("p{}"), "{text}");
        assert!(dropped > 50);
    }

    /// A rendered man page: a query keeps its option's lines as they are
    /// (man justifies with double spaces), not re-flowed into sentences.
    #[test]
    fn indented_layout_is_not_prose_and_keeps_its_lines() {
        let mut text = String::from("NAME\n       tool - an archiving utility\n\nOPTIONS\n");
        for n in 0..40 {
            text.push_str(&format!(
                "       -{n}, --option-number-{n}\n              When  listing or extracting, \
                 accept  incomplete  input  {n}.  This option is used for a\n              \
                 purpose that is described at length here, sentence by sentence.\n\n"
            ));
        }
        assert!(!looks_like_prose(&text));
        let hash = ContentHash::of(text.as_bytes());
        let options = crate::Options {
            query: Some("What does the --option-number-17 option of tool do?"),
            ..crate::Options::default()
        };
        let compressed = crate::compress(text.as_bytes(), &hash, &options);
        let cairn_core::RenderedView::Rendered { content, .. } = compressed.view else {
            panic!("the view is the original");
        };
        assert!(
            content.contains(
                "              When  listing or extracting, accept  incomplete  input  17."
            ),
            "{content}"
        );
        assert!(!content.contains("input  16."), "{content}");
        assert!(content.len() * 5 < text.len(), "{content}");
    }

    #[test]
    fn sentences_split_at_sentence_ends_not_abbreviations() {
        assert_eq!(
            sentences("One. Two? Three! e.g. Four. 5 is five."),
            ["One.", "Two?", "Three! e.g. Four.", "5 is five."]
        );
    }

    #[test]
    fn keeps_headings_leads_and_query_matches_and_ranks_by_bm25_under_a_budget() {
        let mut text = String::from("# Install\n\n");
        for paragraph in 0..40 {
            text.push_str(&format!(
                "Paragraph {paragraph} opens here. It goes on about general matters at length. \
                 Then it adds more general detail that nobody asked about.\n\n"
            ));
        }
        text.push_str("The configuration file lives at /etc/cairn/cairn.toml and is read at start. Nothing else.\n");
        let reference = ContentHash::of(text.as_bytes()).ccr_ref();
        let selected = compress(
            &text,
            Some("where does the configuration file live"),
            &reference,
            Some(300),
            None,
        );
        let view = &selected.content;
        assert!(view.starts_with("# Install\n"), "{view}");
        assert!(view.contains("/etc/cairn/cairn.toml"), "{view}");
        assert!(cairn_core::tokens::count(view) < cairn_core::tokens::count(&text) / 2);
        assert!(view.contains("units omitted: 119 sentences"), "{view}");
    }

    #[test]
    fn repeated_paragraphs_are_kept_once() {
        let paragraph = "This boilerplate paragraph appears on every page of the site, word for word, \
                         and it says nothing the reader needs: cookies, consent, newsletters, \
                         social links, legal notices and a long list of partner logos to scroll past, \
                         then the same disclaimers again in smaller print, a sitemap, the address \
                         of the head office and the opening hours of a help desk nobody calls.";
        let text = format!("{paragraph}\n\nReal content here.\n\n{paragraph}\n");
        let reference = ContentHash::of(text.as_bytes()).ccr_ref();
        let selected = compress(&text, None, &reference, None, None);
        assert_eq!(
            selected.content.matches("boilerplate").count(),
            1,
            "{}",
            selected.content
        );
        assert!(
            selected
                .content
                .contains("1 units omitted: 1 repeated paragraph"),
            "{}",
            selected.content
        );
    }

    /// Similarity as a fixed table: the combination with BM25, not the model
    /// (tests/tests/integration/ml.rs runs the real one).
    #[derive(Debug)]
    struct Table(Vec<(&'static str, f32)>);

    impl crate::SentenceScorer for Table {
        fn scores(&self, _query: &str, sentences: &[&str]) -> Option<Vec<f32>> {
            Some(
                sentences
                    .iter()
                    .map(|s| {
                        self.0
                            .iter()
                            .find(|(needle, _)| s.contains(needle))
                            .map_or(0.0, |(_, score)| *score)
                    })
                    .collect(),
            )
        }
    }

    #[test]
    fn similarity_adds_to_bm25_and_a_declining_scorer_changes_nothing() {
        let mut scores = vec![2.0, 0.0, 1.0];
        with_similarity(&mut scores, Some(vec![0.0, 0.9, -0.5]));
        assert_eq!(scores, vec![1.0, 0.9f32 as f64, 0.5]);
        let mut same = vec![2.0, 0.0];
        with_similarity(&mut same, None);
        with_similarity(&mut same, Some(vec![1.0]));
        assert_eq!(same, vec![2.0, 0.0]);

        // Through compress: the scorer is asked, and a declining one is BM25.
        let text = "A first line.\nThe pool ran dry.\nAnother line.\n";
        let reference = ContentHash::of(text.as_bytes()).ccr_ref();
        let table = Table(vec![("ran dry", 0.8)]);
        let scored = compress(text, Some("exhausted"), &reference, None, Some(&table));
        let plain = compress(text, Some("exhausted"), &reference, None, None);
        assert_eq!(scored.content, plain.content);
    }

    #[test]
    fn bm25_prefers_the_matching_sentence() {
        let scores = bm25(
            &["the cat sat", "configuration file path", "nothing"],
            "configuration file",
        );
        assert!(scores[1] > scores[0] && scores[1] > scores[2]);
    }
}
