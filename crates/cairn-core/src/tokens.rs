//! Token counting with the o200k_base BPE (GPT-4o's), not a character
//! estimate. The ranks are compiled into `bpe-openai`, so this works offline.
//!
//! Counting runs on every new original, so it is on the write path and must be
//! fast. The regex pre-tokenizer is most of the cost, and tool output is
//! overwhelmingly ASCII, so ASCII text is split by [`AsciiPieces`], a
//! hand-written scanner equivalent to the o200k pattern on ASCII; text with
//! any other character goes through the pattern itself. Both agree with
//! tiktoken exactly (see the tests, which compare against `tiktoken-rs`).

use bpe_openai::Tokenizer;

fn o200k() -> &'static Tokenizer {
    bpe_openai::o200k_base()
}

/// The number of o200k_base tokens in `text`.
///
/// Mostly-ASCII text with a few other characters (a view with markers, a log
/// with one accented name) is cut at positions where a piece always starts,
/// so its ASCII chunks still take the fast path: after a line feed, a
/// character that is neither whitespace nor `/` begins a new piece, since no
/// alternative of the pattern carries past a line feed but whitespace runs and
/// punctuation's trailing `[\r\n/]*`.
pub fn count(text: &str) -> u64 {
    if text.is_ascii() {
        return count_ascii(text);
    }
    let mut total = 0;
    let mut start = 0;
    let bytes = text.as_bytes();
    for at in 1..bytes.len() {
        let next = bytes[at];
        if bytes[at - 1] == b'\n' && !next.is_ascii_whitespace() && next != b'/' {
            total += count_chunk(&text[start..at]);
            start = at;
        }
    }
    total + count_chunk(&text[start..])
}

fn count_chunk(chunk: &str) -> u64 {
    if chunk.is_ascii() {
        count_ascii(chunk)
    } else {
        o200k().count(chunk) as u64
    }
}

/// [`count`] for ASCII text: the hand-written pre-tokenizer and BPE.
fn count_ascii(text: &str) -> u64 {
    let tokenizer = o200k();
    PIECE_COUNTS.with_borrow_mut(|memo| {
        if memo.len() > MAX_MEMO_PIECES {
            memo.clear();
        }
        AsciiPieces::new(text.as_bytes())
            .map(|piece| {
                if piece.len() > MAX_MEMO_PIECE_BYTES {
                    return tokenizer.bpe.count(piece) as u64;
                }
                if let Some(tokens) = memo.get(piece) {
                    return u64::from(*tokens);
                }
                let tokens = tokenizer.bpe.count(piece);
                memo.insert(piece.to_vec().into_boxed_slice(), tokens as u32);
                tokens as u64
            })
            .sum()
    })
}

/// Pieces of tool output repeat (words, indentation, punctuation), and the
/// BPE of a piece is pure, so each thread remembers the counts of short pieces.
const MAX_MEMO_PIECES: usize = 64 * 1024;
const MAX_MEMO_PIECE_BYTES: usize = 32;

type PieceMemo = std::collections::HashMap<Box<[u8]>, u32, foldhash::fast::FixedState>;

thread_local! {
    static PIECE_COUNTS: std::cell::RefCell<PieceMemo> = const {
        std::cell::RefCell::new(PieceMemo::with_hasher(foldhash::fast::FixedState::with_seed(0)))
    };
}

/// The number of tokens in `bytes` read as text; invalid UTF-8 is replaced
/// with U+FFFD first, which is what an agent pasting the bytes would send.
pub fn count_bytes(bytes: &[u8]) -> u64 {
    count(&String::from_utf8_lossy(bytes))
}

/// The pieces the o200k pre-tokenizer splits ASCII text into. The pattern is
///
/// ```text
/// [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
/// |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
/// |\p{N}{1,3}
/// | ?[^\s\p{L}\p{N}]+[\r\n/]*
/// |\s*[\r\n]+
/// |\s+(?!\S)
/// |\s+
/// ```
///
/// tried leftmost-first; on ASCII, letters are `A-Za-z`, numbers `0-9` and
/// `\s` is `\t\n\x0B\x0C\r` and space.
struct AsciiPieces<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> AsciiPieces<'a> {
    fn new(text: &'a [u8]) -> AsciiPieces<'a> {
        AsciiPieces { text, at: 0 }
    }

    /// The end of the piece that starts at `start`.
    fn piece_end(&self, start: usize) -> usize {
        let text = self.text;
        let byte = text[start];
        // Alternatives 1 and 2: letters, after at most one prefix character.
        let letters = if is_letter(byte) {
            Some(start)
        } else if is_prefix(byte) && text.get(start + 1).is_some_and(|b| is_letter(*b)) {
            Some(start + 1)
        } else {
            None
        };
        if let Some(letters) = letters {
            let upper_end = run_end(text, letters, |b| b.is_ascii_uppercase());
            let lower_end = run_end(text, upper_end, |b| b.is_ascii_lowercase());
            // Alternative 1 needs a lowercase run; alternative 2 an uppercase one.
            // The scan guarantees one of them is non-empty.
            return contraction_end(text, lower_end);
        }
        // Alternative 3: one to three digits.
        if byte.is_ascii_digit() {
            let digits_end = run_end(text, start, |b| b.is_ascii_digit());
            return digits_end.min(start + 3);
        }
        // Alternative 4: punctuation, after at most one space, then newlines and slashes.
        let punctuation = if is_punctuation(byte) {
            Some(start)
        } else if byte == b' ' && text.get(start + 1).is_some_and(|b| is_punctuation(*b)) {
            Some(start + 1)
        } else {
            None
        };
        if let Some(punctuation) = punctuation {
            let punctuation_end = run_end(text, punctuation, is_punctuation);
            return run_end(text, punctuation_end, |b| matches!(b, b'\r' | b'\n' | b'/'));
        }
        // What is left starts with whitespace.
        let space_end = run_end(text, start, is_space);
        // Alternative 5: whitespace up to and including its last line break.
        if let Some(last_break) = text[start..space_end]
            .iter()
            .rposition(|b| matches!(b, b'\r' | b'\n'))
        {
            return start + last_break + 1;
        }
        // Alternative 6: whitespace not followed by a non-space, i.e. all of it at
        // the end of the text, or all but its last character before a word.
        if space_end == text.len() {
            return space_end;
        }
        if space_end - start >= 2 {
            return space_end - 1;
        }
        // Alternative 7: the single whitespace character.
        space_end
    }
}

impl<'a> Iterator for AsciiPieces<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.at >= self.text.len() {
            return None;
        }
        let start = self.at;
        self.at = self.piece_end(start);
        Some(&self.text[start..self.at])
    }
}

fn is_letter(byte: u8) -> bool {
    byte.is_ascii_alphabetic()
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

/// `[^\r\n\p{L}\p{N}]`
fn is_prefix(byte: u8) -> bool {
    !matches!(byte, b'\r' | b'\n') && !byte.is_ascii_alphanumeric()
}

/// `[^\s\p{L}\p{N}]`
fn is_punctuation(byte: u8) -> bool {
    !is_space(byte) && !byte.is_ascii_alphanumeric()
}

fn run_end(text: &[u8], from: usize, class: impl Fn(u8) -> bool) -> usize {
    from + text[from..].iter().take_while(|b| class(**b)).count()
}

/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)?` at `at`.
fn contraction_end(text: &[u8], at: usize) -> usize {
    if text.get(at) != Some(&b'\'') {
        return at;
    }
    let lower = |offset: usize| text.get(at + offset).map(u8::to_ascii_lowercase);
    match (lower(1), lower(2)) {
        (Some(b's' | b't' | b'm' | b'd'), _) => at + 2,
        (Some(b'r' | b'v'), Some(b'e')) | (Some(b'l'), Some(b'l')) => at + 3,
        _ => at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiktoken_count(text: &str) -> u64 {
        tiktoken_rs::o200k_base_singleton()
            .encode_ordinary(text)
            .len() as u64
    }

    /// Pieces as tiktoken's own pattern splits them.
    fn tiktoken_pieces(text: &str) -> Vec<String> {
        fancy_pattern()
            .find_iter(text)
            .map(|found| found.expect("the pattern runs").as_str().to_owned())
            .collect()
    }

    fn fancy_pattern() -> &'static fancy_regex::Regex {
        static PATTERN: std::sync::OnceLock<fancy_regex::Regex> = std::sync::OnceLock::new();
        PATTERN.get_or_init(|| {
            fancy_regex::Regex::new(
                [
                    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
                    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
                    r"\p{N}{1,3}",
                    r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
                    r"\s*[\r\n]+",
                    r"\s+(?!\S)",
                    r"\s+",
                ]
                .join("|")
                .as_str(),
            )
            .expect("the o200k pattern compiles")
        })
    }

    fn check(text: &str) {
        let ours: Vec<String> = AsciiPieces::new(text.as_bytes())
            .map(|piece| String::from_utf8_lossy(piece).into_owned())
            .collect();
        if text.is_ascii() {
            assert_eq!(ours, tiktoken_pieces(text), "pieces of {text:?}");
        }
        assert_eq!(count(text), tiktoken_count(text), "tokens of {text:?}");
    }

    #[test]
    fn counts_real_bpe_tokens() {
        assert_eq!(count(""), 0);
        assert_eq!(count("hello world"), 2);
        // A character estimate would say 11 (44 chars / 4); o200k merges the repeats.
        assert!(count(&"a".repeat(44)) < 11);
        assert_eq!(count_bytes(b"hello world"), 2);
    }

    #[test]
    fn ascii_pieces_match_the_o200k_pattern_on_tricky_text() {
        for text in [
            "hello world",
            "  leading and trailing  ",
            "HTTPServer parseJSON getHTTPResponseCode ABC abc Abc aBC",
            "don't I'LL we're they've she'd it's 'tis O'Neil 's",
            "x = foo(bar, 42) + 12345678 / 3.14159;",
            "line one\nline two\r\n\r\n  indented\n\t\ttabbed\n",
            "path/to/file.rs:42:7: error[E0599]: no method",
            "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}\n",
            "  \n  x",
            " \t \n\n \t",
            "a  b   c    d",
            "!!!???...---///\n\n//",
            " {\n    }\n//\n",
            "\x00\x01\x7f control \x0b\x0c chars",
            "trailing spaces   ",
            "'''",
            "2026-11-21T04:36:20.123Z INFO worker-3 id=00ab34cd ms=4999",
        ] {
            check(text);
        }
    }

    #[test]
    fn non_ascii_text_counts_like_tiktoken() {
        for text in [
            "héllo wörld",
            "日本語のテキスト",
            "emoji 🎉 mixed ünïcode\n",
            "Ⓐ Ǆ ǅ ǆ ʰ",
        ] {
            check(text);
        }
    }

    #[test]
    fn random_mixed_text_counts_exactly_like_tiktoken() {
        const PIECES: &[&str] = &[
            "a",
            "Bc",
            "9",
            " ",
            "\n",
            "\n\n",
            "\t",
            "/",
            "//",
            ".",
            "—",
            "é",
            "日本",
            "🎉",
            "[cairn: x — ccr:0f]",
            "'s",
            "-",
            "(",
            "\r\n",
            "  ",
            "é\n",
            "\n/",
            "\n ",
            "x.\n//y",
        ];
        let mut state = 0x1234_5678_9abc_def1u64;
        for length in 0..3000 {
            let text: String = (0..length % 40)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    PIECES[(state % PIECES.len() as u64) as usize]
                })
                .collect();
            assert_eq!(count(&text), tiktoken_count(&text), "tokens of {text:?}");
        }
    }

    #[test]
    fn random_ascii_text_splits_exactly_like_the_pattern() {
        const ALPHABET: &[u8] = b"aAbZz09 \t\n\r'sSlLdD.,/({-_\x0b\x00~";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for length in 0..5000 {
            let text: String = (0..length % 64)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    ALPHABET[(state % ALPHABET.len() as u64) as usize] as char
                })
                .collect();
            check(&text);
        }
    }
}
