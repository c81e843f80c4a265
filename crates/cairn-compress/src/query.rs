//! Query matching: which units (lines, rows, items, sentences) a query asks
//! for. Everything a query matches is kept in a view, never cut.
//!
//! A query is split into terms (words and numbers, lower-cased; quoted
//! phrases stay whole). Stop words are dropped, and so are terms that occur in
//! most units, since they single nothing out ("status" in a table of
//! statuses). A unit matches when it contains a remaining term.

/// Words too common to single anything out.
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "all", "an", "and", "any", "are", "as", "at", "be", "been", "before",
    "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "how",
    "i", "if", "in", "into", "is", "it", "its", "list", "me", "my", "of", "on", "or", "show",
    "tell", "that", "the", "their", "there", "these", "this", "to", "was", "we", "were", "what",
    "when", "where", "which", "who", "why", "will", "with", "you",
];

/// Terms occurring in more than this share of the units are not selective.
const MAX_SELECTIVE_SHARE: f64 = 0.3;
/// Terms occurring this many times more often than the query's rarest term
/// are not selective either (but any term found at most
/// [`MIN_RELATIVE_LIMIT`] times is).
const RELATIVE_SPREAD: usize = 10;
const MIN_RELATIVE_LIMIT: usize = 20;

/// A query prepared against a set of units.
#[derive(Debug, Clone, Default)]
pub struct QueryMatcher {
    terms: Vec<String>,
}

/// The terms of `query`: quoted phrases whole, other words and numbers alone,
/// all lower-cased, stop words and one-letter words left out.
pub fn query_terms(query: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut rest = query;
    // Quoted phrases and `backticked` identifiers are terms as they are, even
    // short or common words ("`is`").
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        let (before, after) = rest.split_at(open);
        push_words(before, &mut terms);
        let after = &after[1..];
        match after.find(quote) {
            Some(close) => {
                let phrase = after[..close].trim().to_lowercase();
                if !phrase.is_empty() && !terms.contains(&phrase) {
                    terms.push(phrase);
                }
                rest = &after[close + 1..];
            }
            None => {
                rest = after;
            }
        }
    }
    push_words(rest, &mut terms);
    terms
}

fn push_words(text: &str, terms: &mut Vec<String>) {
    for word in text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '.')) {
        let word = word.trim_matches(|c| c == '.' || c == '-').to_lowercase();
        if word.chars().count() < 2 && !word.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if word.is_empty() || STOP_WORDS.contains(&word.as_str()) || terms.contains(&word) {
            continue;
        }
        let stem = stem(&word);
        terms.push(word);
        if let Some(stem) = stem
            && !terms.contains(&stem)
        {
            terms.push(stem);
        }
    }
}

/// A crude English stem, so "retried" also finds "retry", "retry" finds
/// "retried" and "failing" finds "fail".
fn stem(word: &str) -> Option<String> {
    if word.len() < 4 || !word.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    for (suffix, replacement) in [
        ("ies", "y"),
        ("ied", "y"),
        ("y", "i"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ] {
        if let Some(base) = word.strip_suffix(suffix)
            && base.len() >= 3
        {
            return Some(format!("{base}{replacement}"));
        }
    }
    None
}

impl QueryMatcher {
    /// Prepares `query` against `units`, keeping only its selective terms.
    pub fn new<'a>(
        query: Option<&str>,
        units: impl Iterator<Item = &'a str> + Clone,
    ) -> QueryMatcher {
        let Some(query) = query else {
            return QueryMatcher::default();
        };
        let candidates = query_terms(query);
        if candidates.is_empty() {
            return QueryMatcher::default();
        }
        let mut counts = vec![0usize; candidates.len()];
        let mut total = 0usize;
        for unit in units {
            total += 1;
            let lower = unit.to_lowercase();
            for (count, term) in counts.iter_mut().zip(&candidates) {
                if lower.contains(term.as_str()) {
                    *count += 1;
                }
            }
        }
        let limit = ((total as f64) * MAX_SELECTIVE_SHARE).max(3.0);
        // Beside a rare term, a common one only adds noise: "libssl" singles
        // out a few lines, "installed" a thousand.
        let rarest = counts
            .iter()
            .copied()
            .filter(|count| *count > 0)
            .min()
            .unwrap_or(0);
        let relative_limit = (rarest * RELATIVE_SPREAD).max(MIN_RELATIVE_LIMIT);
        let terms = candidates
            .into_iter()
            .zip(counts)
            .filter(|(_, count)| *count > 0 && (*count as f64) <= limit && *count <= relative_limit)
            .map(|(term, _)| term)
            .collect();
        QueryMatcher { terms }
    }

    /// A matcher that matches whatever contains one of `terms` (already lower-cased).
    pub fn from_terms(terms: Vec<String>) -> QueryMatcher {
        QueryMatcher { terms }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// Whether `unit` contains one of the selective terms.
    pub fn matches(&self, unit: &str) -> bool {
        if self.terms.is_empty() {
            return false;
        }
        let lower = unit.to_lowercase();
        self.terms.iter().any(|term| lower.contains(term.as_str()))
    }

    /// Byte ranges of `unit` where a term occurs (for windows in long lines).
    pub fn occurrences(&self, unit: &str) -> Vec<std::ops::Range<usize>> {
        let mut found = Vec::new();
        if self.terms.is_empty() || !unit.is_ascii() {
            // Lower-casing non-ASCII text can change byte offsets; such lines
            // are kept whole when they match.
            return found;
        }
        let lower = unit.to_ascii_lowercase();
        for term in &self.terms {
            let mut from = 0;
            while let Some(at) = lower[from..].find(term.as_str()) {
                let start = from + at;
                found.push(start..start + term.len());
                from = start + term.len().max(1);
                if found.len() >= 64 {
                    return found;
                }
            }
        }
        found.sort_by_key(|range| range.start);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_drop_stop_words_and_keep_phrases() {
        assert_eq!(
            query_terms("Which service had retries?"),
            ["service", "retries", "retry"]
        );
        assert_eq!(
            query_terms("error \"connection reset\" id 4999"),
            ["error", "connection reset", "id", "4999"]
        );
        assert_eq!(
            query_terms("parse_config in src/config.rs"),
            ["parse_config", "src", "config.rs"]
        );
        assert_eq!(
            query_terms("failed jobs"),
            ["failed", "fail", "jobs", "job"]
        );
        assert!(query_terms("the a of").is_empty());
        assert_eq!(query_terms("the signature of `is`"), ["signature", "is"]);
    }

    #[test]
    fn terms_common_to_most_units_are_not_selective() {
        let units: Vec<String> = (0..100)
            .map(|i| format!("status={}", if i == 42 { "retry" } else { "ok" }))
            .collect();
        let matcher = QueryMatcher::new(Some("status retry"), units.iter().map(String::as_str));
        assert_eq!(
            matcher.terms(),
            ["retry"],
            "a stem found nowhere is no term"
        );
        assert!(matcher.matches("status=retry"));
        assert!(!matcher.matches("status=ok"));
    }

    #[test]
    fn a_common_term_beside_a_rare_one_is_dropped() {
        let mut units: Vec<String> = (0..1000)
            .map(|i| format!("status installed pkg{i}"))
            .collect();
        units.push("status installed libssl3 3.0.15".to_owned());
        let matcher = QueryMatcher::new(
            Some("which version of libssl was installed"),
            units.iter().map(String::as_str),
        );
        assert_eq!(matcher.terms(), ["libssl"]);
    }

    #[test]
    fn occurrences_are_found_case_insensitively() {
        let matcher = QueryMatcher::from_terms(vec!["needle".into()]);
        assert_eq!(
            matcher.occurrences("hay NEEDLE hay needle"),
            [4..10, 15..21]
        );
    }
}
