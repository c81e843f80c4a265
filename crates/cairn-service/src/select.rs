//! Parts of an original, for `GET /v1/ccr/{ref}?lines=` and `?query=`: lines
//! of text, or items of a JSON array (what a view's row markers count).

use cairn_compress::json::{self, Json};
use cairn_types::Match;

use crate::ServiceError;

/// Most matches a query returns.
pub const MAX_MATCHES: usize = 1_000;

/// Which part of an original to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// 1-based, inclusive.
    Lines(u64, u64),
    Query(String),
}

impl Selection {
    /// The part a request names by `lines` or by `query` (never both);
    /// `None` asks for the whole original.
    pub fn from_request(
        lines: Option<String>,
        query: Option<String>,
    ) -> Result<Option<Selection>, ServiceError> {
        match (lines, query) {
            (Some(_), Some(_)) => Err(ServiceError::InvalidRequest(
                "ask for lines or for a query, not both".to_owned(),
            )),
            (Some(lines), None) => Selection::parse_lines(&lines).map(Some),
            (None, Some(query)) => Ok(Some(Selection::Query(query))),
            (None, None) => Ok(None),
        }
    }

    /// Parses `A-B` or `A` (1-based line numbers).
    pub fn parse_lines(text: &str) -> Result<Selection, ServiceError> {
        let bad = || {
            ServiceError::InvalidRequest(format!("lines must be A-B or A (1-based), got {text:?}"))
        };
        let (start, end) = match text.split_once('-') {
            Some((start, end)) => (start.trim(), end.trim()),
            None => (text.trim(), text.trim()),
        };
        let start: u64 = start.parse().map_err(|_| bad())?;
        let end: u64 = end.parse().map_err(|_| bad())?;
        if start == 0 || end < start {
            return Err(bad());
        }
        Ok(Selection::Lines(start, end))
    }
}

/// A selected part: its text, what it is, the total units and the matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub content: String,
    pub selection: String,
    pub total: u64,
    pub matches: Option<Vec<Match>>,
}

/// The units of `text`: the items of a JSON array (compact), else its lines.
fn units(text: &str) -> (Vec<String>, &'static str) {
    if text.trim_start().starts_with('[')
        && let Ok(Json::Array(items)) = json::parse(text)
    {
        return (items.iter().map(Json::compact).collect(), "items");
    }
    (text.lines().map(str::to_owned).collect(), "lines")
}

pub fn select(original: &[u8], selection: &Selection) -> Result<Part, ServiceError> {
    let text = std::str::from_utf8(original).map_err(|_| {
        ServiceError::InvalidRequest(
            "the original is binary: it has no lines; fetch it whole".into(),
        )
    })?;
    let (units, unit) = units(text);
    let total = units.len() as u64;
    match selection {
        Selection::Lines(start, end) => {
            let from = usize::try_from(*start - 1)
                .unwrap_or(usize::MAX)
                .min(units.len());
            let to = usize::try_from(*end).unwrap_or(usize::MAX).min(units.len());
            let mut content = units[from..to].join("\n");
            if !content.is_empty() {
                content.push('\n');
            }
            Ok(Part {
                content,
                selection: format!("{unit} {start}-{end}"),
                total,
                matches: None,
            })
        }
        Selection::Query(query) => {
            let terms: Vec<String> = cairn_compress::query_terms(query);
            if terms.is_empty() {
                return Err(ServiceError::InvalidRequest(
                    "the query has no words to look for".into(),
                ));
            }
            let matcher = cairn_compress::QueryMatcher::from_terms(terms);
            let matches: Vec<Match> = units
                .iter()
                .enumerate()
                .filter(|(_, unit)| matcher.matches(unit))
                .take(MAX_MATCHES)
                .map(|(index, unit)| Match {
                    position: index as u64 + 1,
                    text: unit.clone(),
                })
                .collect();
            let content = matches
                .iter()
                .map(|m| format!("{}: {}\n", m.position, m.text))
                .collect();
            Ok(Part {
                content,
                selection: "query".to_owned(),
                total,
                matches: Some(matches),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_items_are_selected_by_position() {
        let part = select(
            b"a\nb\nc\nd\n",
            &Selection::parse_lines("2-3").expect("valid"),
        )
        .expect("ok");
        assert_eq!((part.content.as_str(), part.total), ("b\nc\n", 4));
        assert_eq!(part.selection, "lines 2-3");
        let part = select(br#"[{"a":1}, {"a":2}, {"a":3}]"#, &Selection::Lines(2, 9)).expect("ok");
        assert_eq!(part.content, "{\"a\":2}\n{\"a\":3}\n");
        assert_eq!(part.selection, "items 2-9");
    }

    #[test]
    fn queries_return_matches_with_positions() {
        let part = select(
            b"ok\nERROR disk full\nok\nretried once\n",
            &Selection::Query("errors retry".into()),
        )
        .expect("ok");
        let positions: Vec<u64> = part
            .matches
            .expect("matches")
            .iter()
            .map(|m| m.position)
            .collect();
        assert_eq!(positions, [2, 4]);
    }

    #[test]
    fn bad_ranges_and_binary_are_refused() {
        for bad in ["0-3", "5-2", "x", "1-", ""] {
            assert!(Selection::parse_lines(bad).is_err(), "{bad:?}");
        }
        assert!(select(b"\xff\x00", &Selection::Lines(1, 2)).is_err());
    }
}
