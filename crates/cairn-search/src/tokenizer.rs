//! The tokenizer for agent transcripts and tool output: words as people
//! search for them in code. Each word-like chunk (`getUserById`,
//! `src/cairn/lib.rs`, `os.path.join`, `snake_case_name`) is indexed whole
//! and, at the same position, by its parts (`get`, `user`, `by`, `id`; `src`,
//! `cairn`, `lib.rs`, `lib`, `rs`) and by every run of consecutive parts
//! between joiners (`'user_prompts.db'` gives `user_prompts` and
//! `prompts.db`; `path/to/file_name.rs:12` gives `file_name.rs`;
//! `Foo::bar_baz` gives `bar_baz`), so an identifier is found however it is
//! embedded, and a phrase still matches chunk by chunk. Queries use the same
//! chunking without the parts: a query word is looked up as typed.

pub use tantivy::tokenizer::Token;
use tantivy::tokenizer::{TokenStream, Tokenizer};

/// Tokens longer than this many bytes are dropped (base64, minified code).
const MAX_TOKEN_BYTES: usize = 96;
/// Runs of at most this many consecutive parts of a chunk are indexed: an
/// identifier inside a compound (`file_name.rs` in a long path) is rarely
/// longer, and a chunk of n parts gives at most n × this many runs.
const MAX_RUN_PARTS: usize = 5;

/// Splits text into lowercased chunks and, when `parts` is set, their parts.
#[derive(Debug, Clone, Copy)]
pub struct CodeTokenizer {
    pub parts: bool,
    /// Every token carries its chunk's offsets (for snippets).
    pub whole_offsets: bool,
}

impl CodeTokenizer {
    /// The tokenizer documents are indexed with (chunks and their parts).
    pub const INDEX: CodeTokenizer = CodeTokenizer {
        parts: true,
        whole_offsets: false,
    };
    /// The tokenizer queries are read with (chunks only).
    pub const QUERY: CodeTokenizer = CodeTokenizer {
        parts: false,
        whole_offsets: false,
    };
    /// The tokenizer snippets are cut with: the index's tokens, each with
    /// the offsets of its whole chunk.
    pub const SNIPPET: CodeTokenizer = CodeTokenizer {
        parts: true,
        whole_offsets: true,
    };
}

/// The tokens of one text, produced up front.
#[derive(Debug)]
pub struct CodeTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl Tokenizer for CodeTokenizer {
    type TokenStream<'a> = CodeTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CodeTokenStream {
        CodeTokenStream {
            tokens: tokens_with(text, self.parts, self.whole_offsets),
            next: 0,
        }
    }
}

impl TokenStream for CodeTokenStream {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self
            .next
            .saturating_sub(1)
            .min(self.tokens.len().saturating_sub(1))]
    }

    fn token_mut(&mut self) -> &mut Token {
        let at = self
            .next
            .saturating_sub(1)
            .min(self.tokens.len().saturating_sub(1));
        &mut self.tokens[at]
    }
}

/// Characters that join a chunk's parts: `a.b`, `a/b`, `a::b`, `a-b`, `a_b`.
fn joins(c: char) -> bool {
    matches!(c, '.' | '/' | '\\' | ':' | '-' | '_')
}

/// The tokens of `text`: every chunk at its own position, and with `parts`
/// its parts at the same position.
pub fn tokens(text: &str, parts: bool) -> Vec<Token> {
    tokens_with(text, parts, false)
}

fn tokens_with(text: &str, parts: bool, whole_offsets: bool) -> Vec<Token> {
    let mut out = Vec::new();
    let mut position = 0;
    let mut start = None;
    for (at, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        let inside = c.is_alphanumeric() || joins(c);
        match (start, inside) {
            (None, true) => start = Some(at),
            (Some(from), false) => {
                if push_chunk(&mut out, text, from, at, position, parts, whole_offsets) {
                    position += 1;
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// Pushes the chunk `text[from..to]` (trimmed of joiners at its ends) and
/// its parts; returns whether it held a token.
fn push_chunk(
    out: &mut Vec<Token>,
    text: &str,
    from: usize,
    to: usize,
    position: usize,
    parts: bool,
    whole_offsets: bool,
) -> bool {
    let chunk = &text[from..to];
    let trimmed = chunk.trim_matches(joins);
    if trimmed.is_empty() {
        return false;
    }
    let from = from + (chunk.len() - chunk.trim_start_matches(joins).len());
    let to = from + trimmed.len();
    let before = out.len();
    push(out, &text[from..to], from, position);
    if parts {
        let mut seen = std::collections::HashSet::from([trimmed.to_lowercase()]);
        for (part_from, part_to) in split_parts(trimmed).into_iter().chain(runs(trimmed)) {
            let part = &trimmed[part_from..part_to];
            let lower = part.to_lowercase();
            if seen.insert(lower) {
                push(out, part, from + part_from, position);
            }
        }
        if whole_offsets {
            // Every token of the chunk spans the chunk: offsets never go
            // back, as tantivy's snippet generator needs (it subtracts them),
            // and a match inside a compound highlights the compound.
            for token in &mut out[before..] {
                token.offset_from = from;
                token.offset_to = to;
            }
        }
    }
    out.len() > before
}

fn push(out: &mut Vec<Token>, text: &str, offset: usize, position: usize) {
    if text.is_empty() || text.len() > MAX_TOKEN_BYTES {
        return;
    }
    out.push(Token {
        offset_from: offset,
        offset_to: offset + text.len(),
        position,
        text: text.to_lowercase(),
        position_length: 1,
    });
}

/// The parts of a chunk, as byte ranges: segments between path separators
/// (`src`, `lib.rs`), then between dots, dashes and underscores (`lib`,
/// `rs`), then camelCase humps and digit runs (`get`, `User`, `By`, `Id`).
fn split_parts(chunk: &str) -> Vec<(usize, usize)> {
    let mut parts = Vec::new();
    for (a, b) in segments(chunk, 0, |c| matches!(c, '/' | '\\' | ':')) {
        if (a, b) != (0, chunk.len()) {
            parts.push((a, b));
        }
        for (c, d) in segments(&chunk[a..b], a, |c| matches!(c, '.' | '-' | '_')) {
            if (c, d) != (a, b) {
                parts.push((c, d));
            }
            for (e, f) in humps(&chunk[c..d], c) {
                if (e, f) != (c, d) {
                    parts.push((e, f));
                }
            }
        }
    }
    parts
}

/// Runs of 2 to [`MAX_RUN_PARTS`] consecutive parts between joiners, as
/// byte ranges, the joiners between them kept: `a.b_c.d` gives `a.b`,
/// `a.b_c`, `b_c`, `b_c.d`, `c.d` … (the whole chunk aside).
fn runs(chunk: &str) -> Vec<(usize, usize)> {
    let atoms = segments(chunk, 0, joins);
    let mut out = Vec::new();
    for first in 0..atoms.len() {
        for last in first + 1..atoms.len().min(first + MAX_RUN_PARTS) {
            let run = (atoms[first].0, atoms[last].1);
            if run != (0, chunk.len()) {
                out.push(run);
            }
        }
    }
    out
}

/// The non-empty stretches of `text` between characters `split` accepts,
/// offset by `base`.
fn segments(text: &str, base: usize, split: impl Fn(char) -> bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (at, c) in text.char_indices() {
        if split(c) {
            if at > start {
                out.push((base + start, base + at));
            }
            start = at + c.len_utf8();
        }
    }
    if text.len() > start {
        out.push((base + start, base + text.len()));
    }
    out
}

/// camelCase humps and digit runs: `getHTTPResponse2` → get, HTTP, Response, 2.
fn humps(word: &str, base: usize) -> Vec<(usize, usize)> {
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    let mut out = Vec::new();
    let mut start = 0;
    for index in 1..chars.len() {
        let (at, c) = chars[index];
        let previous = chars[index - 1].1;
        let next = chars.get(index + 1).map(|(_, c)| *c);
        let boundary = (previous.is_lowercase() && c.is_uppercase())
            || (previous.is_alphabetic() && c.is_numeric())
            || (previous.is_numeric() && c.is_alphabetic())
            // The last capital of a run starts the next hump: HTTPResponse.
            || (previous.is_uppercase() && c.is_uppercase() && next.is_some_and(char::is_lowercase));
        if boundary {
            out.push((base + chars[start].0, base + at));
            start = index;
        }
    }
    if !chars.is_empty() {
        out.push((base + chars[start].0, base + word.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str, parts: bool) -> Vec<(usize, String)> {
        tokens(text, parts)
            .into_iter()
            .map(|token| (token.position, token.text))
            .collect()
    }

    fn check(text: &str, expected: &[(usize, &str)]) {
        let expected: Vec<(usize, String)> = expected
            .iter()
            .map(|(position, text)| (*position, (*text).to_owned()))
            .collect();
        assert_eq!(texts(text, true), expected, "{text}");
    }

    #[test]
    fn identifiers_are_indexed_whole_and_by_their_parts() {
        check(
            "getUserById(x)",
            &[
                (0, "getuserbyid"),
                (0, "get"),
                (0, "user"),
                (0, "by"),
                (0, "id"),
                (1, "x"),
            ],
        );
        check(
            "snake_case",
            &[(0, "snake_case"), (0, "snake"), (0, "case")],
        );
        check(
            "see src/cairn/lib.rs.",
            &[
                (0, "see"),
                (1, "src/cairn/lib.rs"),
                (1, "src"),
                (1, "cairn"),
                (1, "lib.rs"),
                (1, "lib"),
                (1, "rs"),
                (1, "src/cairn"),
                (1, "src/cairn/lib"),
                (1, "cairn/lib"),
                (1, "cairn/lib.rs"),
            ],
        );
        check(
            "HTTPResponse2",
            &[(0, "httpresponse2"), (0, "http"), (0, "response"), (0, "2")],
        );
        check("std::io", &[(0, "std::io"), (0, "std"), (0, "io")]);
    }

    /// Whether every chunk of `query` is a token of `text`.
    fn finds(text: &str, query: &str) -> bool {
        let indexed: Vec<String> = tokens(text, true).into_iter().map(|t| t.text).collect();
        tokens(query, false)
            .iter()
            .all(|wanted| indexed.contains(&wanted.text))
    }

    #[test]
    fn identifiers_are_found_however_they_are_embedded() {
        for (text, query) in [
            ("opened 'user_prompts.db' for writing", "user_prompts"),
            ("opened 'user_prompts.db' for writing", "prompts.db"),
            ("a.b_c.d", "b_c"),
            ("a.b_c.d", "b_c.d"),
            ("at path/to/file_name.rs:12 in", "file_name.rs"),
            ("at path/to/file_name.rs:12 in", "file_name"),
            ("at path/to/file_name.rs:12 in", "file_name.rs:12"),
            ("call Foo::bar_baz()", "bar_baz"),
            ("call Foo::bar_baz()", "Foo::bar"),
            ("run with --flag-name=3", "--flag-name"),
            ("run with --flag-name=3", "flag"),
            (
                "GET https://x.example.com/api/getUserById?id=1",
                "getUserById",
            ),
            ("GET https://x.example.com/api/getUserById?id=1", "user"),
            (
                "GET https://x.example.com/api/getUserById?id=1",
                "example.com",
            ),
        ] {
            assert!(finds(text, query), "{query:?} is not found in {text:?}");
        }
        assert!(
            !finds("a.b_c.d", "a_d"),
            "parts that are not next to each other"
        );
    }

    #[test]
    fn snippet_token_offsets_never_go_back() {
        for text in [
            "a.b_c.d e",
            "path/to/file_name.rs:12 x",
            "getHTTPResponse2.foo_bar y",
        ] {
            let spans: Vec<(usize, usize)> = tokens_with(text, true, true)
                .iter()
                .map(|t| (t.offset_from, t.offset_to))
                .collect();
            assert!(
                spans
                    .windows(2)
                    .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1),
                "{text}: {spans:?}"
            );
        }
    }

    #[test]
    fn long_compounds_give_a_bounded_number_of_tokens() {
        let path = (0..40)
            .map(|n| format!("d{n}"))
            .collect::<Vec<_>>()
            .join("/");
        let count = tokens(&path, true).len();
        assert!(count <= 40 * (MAX_RUN_PARTS + 3), "{count} tokens");
    }

    #[test]
    fn queries_keep_chunks_whole() {
        assert_eq!(
            texts("getUserById \"connection reset\"", false),
            vec![
                (0, "getuserbyid".to_owned()),
                (1, "connection".to_owned()),
                (2, "reset".to_owned())
            ]
        );
    }

    #[test]
    fn punctuation_and_odd_text_never_panic() {
        for text in [
            "",
            "...",
            "-- --",
            "é_Ü",
            "日本語テキスト",
            "a\u{0}b",
            "::::",
            "x".repeat(500).as_str(),
        ] {
            let _ = tokens(text, true);
        }
        assert!(
            tokens(&"x".repeat(500), true).is_empty(),
            "over-long tokens are dropped"
        );
    }
}
