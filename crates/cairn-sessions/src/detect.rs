//! Which agent wrote a file, from its shape: the top-level keys of its first
//! records. A tolerant scanner reads those keys without parsing (or even
//! having) the whole record, so detection works on a bounded prefix, on a
//! pretty-printed document and on a first line that is torn or 20 MB long.

use std::io::Read;

use crate::{Agent, ImportError};

/// The zstd frame magic number (`28 B5 2F FD`).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// How much of a compressed file [`detect`] decompresses.
const DETECT_PREFIX_BYTES: u64 = 1 << 20;

/// How many records detection looks at before giving up: enough to get past
/// the metadata-only kinds some files start with.
const DETECT_MAX_RECORDS: usize = 64;

/// How many keys of one record are kept; classification needs only a few.
const MAX_KEYS: usize = 64;

/// The agent whose session file this looks like, from its first records.
/// zstd-compressed content is judged by its decompressed prefix.
pub fn detect(bytes: &[u8]) -> Option<Agent> {
    if is_zstd(bytes) {
        return detect_plain(&decompress_prefix(bytes, DETECT_PREFIX_BYTES));
    }
    detect_plain(bytes)
}

pub(crate) fn is_zstd(bytes: &[u8]) -> bool {
    bytes.starts_with(&ZSTD_MAGIC)
}

/// Decompresses a whole zstd stream (all its frames), refusing to produce
/// more than `limit` bytes.
pub(crate) fn decompress(bytes: &[u8], limit: u64) -> Result<Vec<u8>, ImportError> {
    let decoder = zstd::stream::read::Decoder::with_buffer(bytes)
        .map_err(|error| ImportError::Decompress(error.to_string()))?;
    let mut plain = Vec::new();
    decoder
        .take(limit.saturating_add(1))
        .read_to_end(&mut plain)
        .map_err(|error| ImportError::Decompress(error.to_string()))?;
    if plain.len() as u64 > limit {
        return Err(ImportError::TooLarge { limit });
    }
    Ok(plain)
}

/// As much of the decompressed start as is readable, up to `limit` bytes; a
/// truncated or corrupt stream still gives what came before the damage.
pub(crate) fn decompress_prefix(bytes: &[u8], limit: u64) -> Vec<u8> {
    let mut plain = Vec::new();
    if let Ok(decoder) = zstd::stream::read::Decoder::with_buffer(bytes) {
        // On error, read_to_end keeps what it read so far, which is all we want.
        let _ = decoder.take(limit).read_to_end(&mut plain);
    }
    plain
}

/// [`detect`] on uncompressed bytes.
pub(crate) fn detect_plain(bytes: &[u8]) -> Option<Agent> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let mut at = 0;
    for _ in 0..DETECT_MAX_RECORDS {
        at += leading_whitespace(bytes.get(at..)?);
        let rest = bytes.get(at..).filter(|rest| !rest.is_empty())?;
        if rest.first() != Some(&b'{') {
            at += next_line_start(rest)?;
            continue;
        }
        let (fields, end) = scan_object(rest);
        if let Some(agent) = classify(&fields) {
            return Some(agent);
        }
        at += match end {
            Some(end) => end,
            None => next_line_start(rest)?,
        };
    }
    None
}

fn leading_whitespace(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .take_while(|byte| byte.is_ascii_whitespace())
        .count()
}

fn next_line_start(bytes: &[u8]) -> Option<usize> {
    bytes
        .iter()
        .position(|&byte| byte == b'\n')
        .map(|at| at + 1)
}

/// The top-level keys of one JSON object (as far as it goes) and its `type`.
#[derive(Debug, Default)]
struct Fields {
    keys: Vec<String>,
    kind: Option<String>,
}

impl Fields {
    fn has(&self, key: &str) -> bool {
        self.keys.iter().any(|seen| seen == key)
    }
}

fn classify(fields: &Fields) -> Option<Agent> {
    let kind = fields.kind.as_deref();
    let has = |key| fields.has(key);
    if (has("payload") && has("type") && has("timestamp"))
        || has("record_type")
        || (has("session") && has("items"))
    {
        return Some(Agent::Codex);
    }
    if has("$set")
        || has("$rewindTo")
        || (has("sessionId") && (has("projectHash") || has("startTime") || has("lastUpdated")))
    {
        return Some(Agent::Gemini);
    }
    if has("parentUuid") || has("uuid") || has("leafUuid") || kind.is_some_and(is_claude_only_kind)
    {
        return Some(Agent::Claude);
    }
    let bare_codex_meta =
        has("id") && has("timestamp") && !has("type") && (has("instructions") || has("git"));
    if bare_codex_meta || kind.is_some_and(is_codex_item_kind) {
        return Some(Agent::Codex);
    }
    let gemini_message = has("id")
        && has("content")
        && matches!(
            kind,
            Some("user" | "gemini" | "model" | "info" | "error" | "warning")
        );
    gemini_message.then_some(Agent::Gemini)
}

/// Claude Code record types no other agent writes.
fn is_claude_only_kind(kind: &str) -> bool {
    matches!(
        kind,
        "summary"
            | "file-history-snapshot"
            | "queue-operation"
            | "progress"
            | "custom-title"
            | "ai-title"
            | "agent-name"
            | "last-prompt"
            | "pr-link"
            | "attachment"
            | "permission-mode"
            | "agent-setting"
            | "bridge-session"
            | "worktree-state"
    )
}

/// ResponseItem types of the bare (pre-envelope) Codex rollouts.
fn is_codex_item_kind(kind: &str) -> bool {
    matches!(
        kind,
        "message"
            | "function_call"
            | "function_call_output"
            | "custom_tool_call"
            | "custom_tool_call_output"
            | "local_shell_call"
            | "web_search_call"
            | "reasoning"
    )
}

/// The top-level keys of the JSON object at the start of `bytes`, as far as
/// it goes (it may be cut short).
pub(crate) fn top_level_keys(bytes: &[u8]) -> Vec<String> {
    scan_object(bytes).0.keys
}

/// Scans one object at the start of `bytes`: its keys and `type` value, and
/// the offset just past it (None when it is cut short or malformed).
fn scan_object(bytes: &[u8]) -> (Fields, Option<usize>) {
    let mut fields = Fields::default();
    let mut scanner = Scanner { bytes, at: 0 };
    let end = scanner.object_fields(&mut fields);
    (fields, end)
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// The longest key or `type` value the scanner keeps (longer ones are cut).
const MAX_KEPT_STRING: usize = 256;

impl Scanner<'_> {
    fn object_fields(&mut self, fields: &mut Fields) -> Option<usize> {
        self.expect(b'{')?;
        self.skip_whitespace();
        if self.peek()? == b'}' {
            return Some(self.at + 1);
        }
        loop {
            self.skip_whitespace();
            let key = self.string()?;
            self.skip_whitespace();
            self.expect(b':')?;
            self.skip_whitespace();
            let is_type = key == "type";
            if fields.keys.len() < MAX_KEYS {
                fields.keys.push(key);
            }
            if self.peek()? == b'"' {
                let value = self.string()?;
                if is_type {
                    fields.kind = Some(value);
                }
            } else {
                self.skip_value()?;
            }
            self.skip_whitespace();
            match self.next()? {
                b',' => continue,
                b'}' => return Some(self.at),
                _ => return None,
            }
        }
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn expect(&mut self, wanted: u8) -> Option<()> {
        (self.next()? == wanted).then_some(())
    }

    fn skip_whitespace(&mut self) {
        self.at += leading_whitespace(self.bytes.get(self.at..).unwrap_or_default());
    }

    /// A string's raw contents (escapes left as they are; keys and types
    /// rarely have any), cut to [`MAX_KEPT_STRING`] bytes.
    fn string(&mut self) -> Option<String> {
        self.expect(b'"')?;
        let start = self.at;
        self.skip_string_body()?;
        let end = (self.at - 1).min(start + MAX_KEPT_STRING);
        let raw = self.bytes.get(start..end)?;
        Some(String::from_utf8_lossy(raw).into_owned())
    }

    /// Moves past the closing quote of a string whose opening quote was read.
    fn skip_string_body(&mut self) -> Option<()> {
        loop {
            match self.next()? {
                b'\\' => {
                    self.next()?;
                }
                b'"' => return Some(()),
                _ => {}
            }
        }
    }

    /// Moves past one value of any kind; nesting is counted, not recursed, so
    /// deep input cannot overflow the stack.
    fn skip_value(&mut self) -> Option<()> {
        if !matches!(self.peek()?, b'{' | b'[') {
            let start = self.at;
            while self
                .peek()
                .is_some_and(|byte| !b",}] \t\r\n".contains(&byte))
            {
                self.at += 1;
            }
            return (self.at > start).then_some(());
        }
        let mut depth = 0_usize;
        loop {
            match self.next()? {
                b'"' => self.skip_string_body()?,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(());
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: Option<Agent>) {
        assert_eq!(detect(text.as_bytes()), expect, "{text}");
    }

    #[test]
    fn detects_each_generation_by_shape() {
        check(
            r#"{"type":"summary","summary":"x","leafUuid":"u"}"#,
            Some(Agent::Claude),
        );
        check(
            "{\"type\":\"file-history-snapshot\",\"messageId\":\"m\"}\n{\"parentUuid\":null}",
            Some(Agent::Claude),
        );
        check(
            r#"{"timestamp":"t","type":"session_meta","payload":{"id":"x"}}"#,
            Some(Agent::Codex),
        );
        check(
            r#"{"id":"x","timestamp":"t","instructions":null}"#,
            Some(Agent::Codex),
        );
        check(r#"{"record_type":"state"}"#, Some(Agent::Codex));
        check(
            "{\n  \"session\": {\"id\": \"x\"},\n  \"items\": []\n}",
            Some(Agent::Codex),
        );
        check(
            "{\n  \"sessionId\": \"s\",\n  \"projectHash\": \"h\",\n  \"messages\": [",
            Some(Agent::Gemini),
        );
        check(r#"{"$rewindTo":"m1"}"#, Some(Agent::Gemini));
        check(
            r#"{"id":"m","timestamp":"t","type":"gemini","content":"hi"}"#,
            Some(Agent::Gemini),
        );
    }

    #[test]
    fn looks_past_junk_and_undecided_records() {
        check(
            "garbage\n\n{\"a\":1}\n{\"parentUuid\":\"p\"}",
            Some(Agent::Claude),
        );
        check("\u{feff}{\"uuid\":\"u\"}", Some(Agent::Claude));
    }

    #[test]
    fn a_cut_short_first_record_is_enough() {
        check(
            r#"{"parentUuid":"p","isSidechain":false,"message":{"content":"aaaa"#,
            Some(Agent::Claude),
        );
    }

    #[test]
    fn decompression_is_capped() {
        // About 1 MB: several zstd blocks (128 KiB each), so half the stream
        // still holds whole blocks to decode.
        let plain: Vec<u8> = (0..40_000)
            .flat_map(|n| format!("{{\"record_type\":\"state\",\"n\":{n}}}\n").into_bytes())
            .collect();
        let packed = zstd::encode_all(&plain[..], 3).unwrap_or_default();
        let half = packed.get(..packed.len() / 2).unwrap_or_default();
        let whole = decompress(&packed, 1 << 24);
        assert!(
            whole.as_ref().is_ok_and(|whole| *whole == plain),
            "round trip failed"
        );
        let capped = decompress(&packed, 100).err();
        assert!(
            matches!(capped, Some(ImportError::TooLarge { limit: 100 })),
            "{capped:?}"
        );
        let torn = decompress(half, 1 << 24).err();
        assert!(matches!(torn, Some(ImportError::Decompress(_))), "{torn:?}");
        assert_eq!(detect(&packed), Some(Agent::Codex));
        assert_eq!(detect(half), Some(Agent::Codex));
    }

    #[test]
    fn rejects_what_no_agent_wrote() {
        check("", None);
        check("hello world", None);
        check("[1,2,3]", None);
        check(r#"{"name":"package","version":"1.0.0"}"#, None);
        check("\u{0}\u{ff}\u{1}{{{{[[[[", None);
        check(&"[".repeat(100_000), None);
        check(&format!("{{\"a\":{}", "[".repeat(100_000)), None);
    }
}
