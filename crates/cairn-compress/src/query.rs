//! Query matching: which units (lines, rows, items, sentences) a query asks
//! for. Everything a query matches is kept in a view, never cut.
//!
//! A query is split into terms (words and numbers, lower-cased; quoted
//! phrases stay whole). Stop words are dropped, and so are terms that occur in
//! most units, since they single nothing out ("status" in a table of
//! statuses). A unit matches when a remaining term starts a word in it: at
//! its start, after a character that is not a letter or digit, or where a
//! capital follows a small letter (`user_prompts` in `'user_prompts.db'`,
//! `config` in `parseConfig`), but `error` not in `liberror-perl`.

use aho_corasick::AhoCorasick;

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
/// The same, when the rarest term is an identifier (`gnupg-utils`,
/// `libssl3`, `user_prompts`): a name that precise is the question, and
/// the words around it ("upgraded", "version") only describe it.
const IDENTIFIER_SPREAD: usize = 4;
const MIN_IDENTIFIER_LIMIT: usize = 10;

/// A query prepared against a set of units.
#[derive(Debug, Clone, Default)]
pub struct QueryMatcher {
    terms: Vec<String>,
    /// The terms as one automaton, ASCII case-insensitive: how ASCII units
    /// are searched, without lower-casing a copy of each.
    finder: Option<Finder>,
}

/// The terms of a query, searched for at once.
#[derive(Debug, Clone)]
struct Finder {
    automaton: AhoCorasick,
    /// Whether each term starts with a letter or digit (and so must start a word).
    wordlike: Vec<bool>,
}

impl Finder {
    /// `None` for terms an ASCII-only case fold cannot find (non-ASCII ones).
    fn new(terms: &[String]) -> Option<Finder> {
        if terms.is_empty() || !terms.iter().all(|term| term.is_ascii()) {
            return None;
        }
        let automaton = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(terms)
            .ok()?;
        Some(Finder {
            automaton,
            wordlike: terms.iter().map(|term| starts_alphanumeric(term)).collect(),
        })
    }

    /// Each term found where a word starts in the ASCII `unit`, as indices
    /// into the terms (repeats possible).
    fn found<'u>(&'u self, unit: &'u str) -> impl Iterator<Item = usize> + 'u {
        self.automaton
            .find_overlapping_iter(unit)
            .filter(|found| {
                !self.wordlike[found.pattern().as_usize()] || word_starts_at(unit, found.start())
            })
            .map(|found| found.pattern().as_usize())
    }
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
        let finder = Finder::new(&candidates);
        let mut seen = vec![usize::MAX; candidates.len()];
        for unit in units {
            match &finder {
                Some(finder) if unit.is_ascii() => {
                    for term in finder.found(unit) {
                        if seen[term] != total {
                            seen[term] = total;
                            counts[term] += 1;
                        }
                    }
                }
                _ => {
                    let lower = unit.to_lowercase();
                    for (count, term) in counts.iter_mut().zip(&candidates) {
                        if starts_a_word(unit, &lower, term) {
                            *count += 1;
                        }
                    }
                }
            }
            total += 1;
        }
        let limit = ((total as f64) * MAX_SELECTIVE_SHARE).max(3.0);
        // Beside a rare term, a common one only adds noise: "libssl" singles
        // out a few lines, "installed" a thousand.
        let rarest = counts
            .iter()
            .zip(&candidates)
            .filter(|(count, _)| **count > 0)
            .min_by_key(|(count, term)| (**count, !is_identifier(term)));
        let relative_limit = match rarest {
            Some((&count, term)) if is_identifier(term) => {
                (count * IDENTIFIER_SPREAD).max(MIN_IDENTIFIER_LIMIT)
            }
            Some((&count, _)) => (count * RELATIVE_SPREAD).max(MIN_RELATIVE_LIMIT),
            None => 0,
        };
        let terms = candidates
            .into_iter()
            .zip(counts)
            .filter(|(_, count)| *count > 0 && (*count as f64) <= limit && *count <= relative_limit)
            .map(|(term, _)| term)
            .collect();
        QueryMatcher::from_terms(terms)
    }

    /// A matcher that matches whatever contains one of `terms` (already lower-cased).
    pub fn from_terms(terms: Vec<String>) -> QueryMatcher {
        let finder = Finder::new(&terms);
        QueryMatcher { terms, finder }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// Whether one of the selective terms starts a word of `unit`.
    pub fn matches(&self, unit: &str) -> bool {
        if self.terms.is_empty() {
            return false;
        }
        if let Some(finder) = &self.finder
            && unit.is_ascii()
        {
            return finder.found(unit).next().is_some();
        }
        let lower = unit.to_lowercase();
        self.terms
            .iter()
            .any(|term| starts_a_word(unit, &lower, term))
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
                if !word_starts_at(unit, start) && starts_alphanumeric(term) {
                    from = start + 1;
                    continue;
                }
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

/// Whether `term` (lower-cased) occurs in `unit` (whose lower-cased form is
/// `lower`) where a word starts. A term that starts with a sign (`--flag`,
/// `.rs`) may start anywhere.
fn starts_a_word(unit: &str, lower: &str, term: &str) -> bool {
    if !starts_alphanumeric(term) {
        return lower.contains(term);
    }
    // Lower-casing keeps offsets where it keeps lengths; elsewhere the
    // boundary is read from the lower-cased text, where capitals are gone.
    lower.match_indices(term).any(|(at, _)| {
        let original = if unit.len() == lower.len() && unit.is_char_boundary(at) {
            unit
        } else {
            lower
        };
        word_starts_at(original, at)
    })
}

/// Whether a term names something rather than says something: it has a
/// digit or joins parts with `-`, `_`, `.`, `:` or `/`.
fn is_identifier(term: &str) -> bool {
    !term.contains(' ')
        && term
            .chars()
            .any(|c| c.is_ascii_digit() || matches!(c, '-' | '_' | '.' | ':' | '/'))
}

fn starts_alphanumeric(term: &str) -> bool {
    term.chars().next().is_some_and(char::is_alphanumeric)
}

/// Whether a word starts at byte `at` (a character boundary) of `text`: at
/// its start, after a character that is not a letter or digit (`—`, `'`,
/// `_`), or a capital after a small letter.
fn word_starts_at(text: &str, at: usize) -> bool {
    let Some(before) = text.get(..at).and_then(|head| head.chars().next_back()) else {
        return true;
    };
    !before.is_alphanumeric()
        || before.is_lowercase()
            && text
                .get(at..)
                .and_then(|rest| rest.chars().next())
                .is_some_and(char::is_uppercase)
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
    fn terms_match_where_a_word_starts() {
        let matcher = QueryMatcher::from_terms(vec!["error".into(), "prompts".into()]);
        assert!(matcher.matches("ERROR: disk full"));
        assert!(matcher.matches("3 errors found"));
        assert!(matcher.matches("parseError at line 3"));
        assert!(matcher.matches("opened 'user_prompts.db'"));
        assert!(!matcher.matches("Unpacking liberror-perl (0.17029-2) ..."));
        assert!(!matcher.matches("no matching text here: terror"));
        assert!(matcher.matches("disk full—error 28") && matcher.matches("«error» in café"));
        assert!(!matcher.matches("Ünterror") && matcher.matches("naïveError"));
        let signs = QueryMatcher::from_terms(vec!["--verbose".into(), ".rs".into()]);
        assert!(signs.matches("run with x--verbose") && signs.matches("src/main.rs:12"));
        let versions = QueryMatcher::from_terms(vec!["libssl".into()]);
        assert!(versions.matches("status installed libssl3 3.0.15"));
        assert!(!versions.matches("status installed xlibssl3"));
        assert_eq!(matcher.occurrences("liberror, error, terror"), vec![10..15]);
    }

    #[test]
    fn beside_a_rare_identifier_the_words_describing_it_are_dropped() {
        let mut units: Vec<String> = (0..100)
            .map(|i| format!("2026-05-09 07:29:05 configure pkg{i}:amd64 1.{i}"))
            .collect();
        units.extend(
            (0..14)
                .map(|i| format!("2026-05-09 07:29:05 upgrade lib{i}:amd64 1.{i} 1.{i}+deb12u2")),
        );
        units.push("2026-05-09 07:29:05 upgrade gnupg-utils:amd64 2.2.40 2.2.40+deb12u2".into());
        units.push("2026-05-09 07:29:05 status unpacked gnupg-utils:amd64 2.2.40".into());
        let matcher = QueryMatcher::new(
            Some("Which version was gnupg-utils:amd64 upgraded from?"),
            units.iter().map(String::as_str),
        );
        assert_eq!(matcher.terms(), ["gnupg-utils"]);
        // A plain rare word keeps the wider spread: "demos" stays beside "total".
        let mut units: Vec<String> = (0..100).map(|i| format!("filler line {i}")).collect();
        units.extend((0..15).map(|i| format!("the demos of week {i}")));
        units.push("the total is 90 minutes".into());
        let matcher = QueryMatcher::new(
            Some("the total time for all the demos"),
            units.iter().map(String::as_str),
        );
        assert!(
            matcher.terms().contains(&"demos".to_owned()),
            "{:?}",
            matcher.terms()
        );
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
