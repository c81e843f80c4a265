//! Claude Code transcripts: `~/.claude/projects/<sanitized-cwd>/<sessionId>.jsonl`
//! and its subagents (`<sessionId>/subagents/agent-<id>.jsonl` from 2.1.2,
//! `agent-<id>.jsonl` beside the session before).
//!
//! Every record is one JSON line. `user` and `assistant` records carry an
//! Anthropic API message; each assistant content block is written as its own
//! line. Subagent records carry the *parent's* `sessionId` plus `agentId` and
//! `isSidechain: true`, so a subagent becomes the session
//! `"<parentSessionId>/<agentId>"`. Titles come from `custom-title`, `ai-title`
//! or a `summary` whose `leafUuid` is a record of this file (Claude Code also
//! writes summaries of *other* sessions at the top of a file; those are
//! ignored), else from the first prompt.

use std::collections::HashMap;

use serde_json::Value;

use crate::json::{self, Line, LineUids, is_true, str_at};
use crate::output::{self, Output};
use crate::{Agent, ImportError, Message, Parsed, Role, SourceHints, is_injected_text, time};

pub(crate) fn parse(bytes: &[u8], hints: &SourceHints<'_>) -> Result<Parsed, ImportError> {
    let mut reader = Reader::new(hints);
    let mut out = Output::new(Agent::Claude);
    out.read_jsonl(bytes, |out, line, index, value| {
        reader.record(out, line, index, &value)
    })?;
    reader.apply_titles(&mut out);
    Ok(out.finish())
}

/// How a spilled tool result's inline preview starts.
const PERSISTED_OUTPUT: &str = "<persisted-output>";

/// The preview line naming the spill file: `Full output saved to: <path>`.
const SAVED_TO: &str = "Full output saved to:";

struct Reader<'h> {
    hints: &'h SourceHints<'h>,
    /// From an `agent-<id>.jsonl` file name.
    file_agent_id: Option<String>,
    /// The file name's session id, for records that carry none.
    file_session: Option<String>,
    /// The last `sessionId` seen: records without one (summaries) belong to it.
    current_session: Option<String>,
    /// Session of every record uuid, to place summaries by their `leafUuid`.
    uuid_sessions: HashMap<String, String>,
    summaries: Vec<(String, String)>,
    custom_titles: HashMap<String, String>,
    ai_titles: HashMap<String, String>,
    line_uids: LineUids,
}

/// One message-to-be from a record's content: consecutive text-like blocks
/// are joined, each tool call and tool result stands alone.
enum Piece {
    Text {
        block: usize,
        text: String,
    },
    Call {
        block: usize,
        id: Option<String>,
        name: String,
        input: String,
    },
    Result {
        block: usize,
        call_id: Option<String>,
        text: String,
    },
}

impl Piece {
    fn block(&self) -> usize {
        match self {
            Piece::Text { block, .. } | Piece::Call { block, .. } | Piece::Result { block, .. } => {
                *block
            }
        }
    }
}

impl<'h> Reader<'h> {
    fn new(hints: &'h SourceHints<'h>) -> Reader<'h> {
        let stem = hints.path.and_then(output::file_stem);
        let file_agent_id = stem
            .and_then(|stem| stem.strip_prefix("agent-"))
            .map(str::to_owned);
        let file_session = stem.filter(|_| file_agent_id.is_none()).map(str::to_owned);
        Reader {
            hints,
            file_agent_id,
            file_session,
            current_session: None,
            uuid_sessions: HashMap::new(),
            summaries: Vec::new(),
            custom_titles: HashMap::new(),
            ai_titles: HashMap::new(),
            line_uids: LineUids::default(),
        }
    }

    fn record(&mut self, out: &mut Output, line: Line<'_>, index: usize, value: &Value) {
        let session = self.session_of(out, value);
        let at = value.get("timestamp").and_then(time::value_to_millis);
        if let Some(session) = &session {
            out.touch(session, at);
            if let Some(uuid) = str_at(value, "uuid") {
                self.uuid_sessions.insert(uuid.to_owned(), session.clone());
            }
        }
        let kind = str_at(value, "type").unwrap_or_default();
        match (kind, session) {
            ("user" | "assistant", Some(session)) => {
                let uid = self.uid_base(value, line, index);
                self.conversation(out, value, &session, &uid, at);
            }
            ("system", Some(session)) => {
                let uid = self.uid_base(value, line, index);
                system(out, value, &session, uid, at);
            }
            ("summary", _) => {
                if let (Some(leaf), Some(summary)) =
                    (str_at(value, "leafUuid"), str_at(value, "summary"))
                {
                    self.summaries.push((leaf.to_owned(), summary.to_owned()));
                }
            }
            ("custom-title", Some(session)) => {
                remember(
                    &mut self.custom_titles,
                    session,
                    str_at(value, "customTitle"),
                );
            }
            ("ai-title", Some(session)) => {
                remember(&mut self.ai_titles, session, str_at(value, "aiTitle"));
            }
            // progress, file-history-snapshot, queue-operation, attachment and
            // every type still to come: not conversation, not indexed.
            _ => out.skip(),
        }
    }

    /// The session a record belongs to (created with its project and parent).
    fn session_of(&mut self, out: &mut Output, value: &Value) -> Option<String> {
        let own = str_at(value, "sessionId").filter(|id| !id.is_empty());
        if let Some(own) = own {
            self.current_session = Some(own.to_owned());
        }
        let parent = own
            .map(str::to_owned)
            .or_else(|| self.current_session.clone());
        let agent_id = match str_at(value, "agentId") {
            Some(agent_id) if is_true(value, "isSidechain") => Some(agent_id.to_owned()),
            _ => self.file_agent_id.clone(),
        };
        let id = match (&agent_id, &parent) {
            (Some(agent_id), Some(parent)) => format!("{parent}/{agent_id}"),
            (Some(agent_id), None) => format!("agent-{agent_id}"),
            (None, Some(parent)) => parent.clone(),
            (None, None) => self.file_session.clone()?,
        };
        if own.is_some() {
            let session = out.session(&id);
            if agent_id.is_some() {
                session.parent = session.parent.take().or(parent);
            }
            if session.project.is_none() {
                session.project = str_at(value, "cwd")
                    .filter(|cwd| !cwd.is_empty())
                    .map(str::to_owned);
            }
        }
        Some(id)
    }

    /// The record's uuid, or (for records without one) a hash of its line.
    fn uid_base(&mut self, value: &Value, line: Line<'_>, index: usize) -> String {
        match str_at(value, "uuid") {
            Some(uuid) if !uuid.is_empty() => uuid.to_owned(),
            _ => json::line_uid(&self.line_uids.line(line.bytes), index),
        }
    }

    fn conversation(
        &mut self,
        out: &mut Output,
        record: &Value,
        session: &str,
        uid: &str,
        at: Option<i64>,
    ) {
        let role = match str_at(record, "type") {
            Some("assistant") => Role::Assistant,
            _ => Role::User,
        };
        let message = record.get("message");
        let pieces = match message.and_then(|message| message.get("content")) {
            Some(Value::String(text)) => text_piece(0, text.clone()).into_iter().collect(),
            Some(Value::Array(blocks)) => self.pieces(out, record, blocks),
            _ => {
                out.skip();
                return;
            }
        };
        let injected = is_true(record, "isMeta")
            || is_true(record, "isCompactSummary")
            || is_true(record, "isApiErrorMessage")
            || message.and_then(|message| str_at(message, "model")) == Some("<synthetic>");
        let several = pieces.len() > 1;
        for piece in pieces {
            let uid = if several {
                format!("{uid}#{}", piece.block())
            } else {
                uid.to_owned()
            };
            let message = Message {
                session: session.to_owned(),
                uid,
                role,
                tool: None,
                call_id: None,
                at,
                text: String::new(),
                injected,
            };
            push_piece(out, message, piece);
        }
    }

    fn pieces(&self, out: &mut Output, record: &Value, blocks: &[Value]) -> Vec<Piece> {
        let mut pieces: Vec<Piece> = Vec::new();
        for (block_index, block) in blocks.iter().enumerate() {
            let text = match str_at(block, "type").unwrap_or_default() {
                "text" => str_at(block, "text").unwrap_or_default().to_owned(),
                "image" => "[image]".to_owned(),
                "document" => "[document]".to_owned(),
                "tool_use" | "server_tool_use" => {
                    pieces.push(call_piece(block_index, block));
                    continue;
                }
                "tool_result" => {
                    pieces.push(self.result_piece(block_index, block, record));
                    continue;
                }
                // thinking and redacted_thinking are the model's scratch
                // work, not conversation; unknown blocks are skipped too.
                _ => {
                    out.skip();
                    continue;
                }
            };
            match pieces.last_mut() {
                Some(Piece::Text { text: joined, .. }) => {
                    if !text.is_empty() {
                        joined.push('\n');
                        joined.push_str(&text);
                    }
                }
                _ => pieces.extend(text_piece(block_index, text)),
            }
        }
        pieces
    }

    fn result_piece(&self, block: usize, content: &Value, record: &Value) -> Piece {
        let call_id = str_at(content, "tool_use_id").map(str::to_owned);
        let mut text = result_text(content.get("content"));
        if text.trim_start().starts_with(PERSISTED_OUTPUT)
            && let Some(full) = self.spilled(call_id.as_deref(), record, &text)
        {
            text = full;
        }
        Piece::Result {
            block,
            call_id,
            text,
        }
    }

    /// The full text behind a `<persisted-output>` preview: the spilled file
    /// when the caller can read it, else the record's own `toolUseResult.stdout`
    /// (some versions kept the full output there as well).
    fn spilled(&self, call_id: Option<&str>, record: &Value, preview: &str) -> Option<String> {
        if let Some(spill) = self.hints.spill {
            let full = spill_names(call_id, record, preview)
                .into_iter()
                .find_map(|name| spill(&name));
            if full.is_some() {
                return full;
            }
        }
        let stdout = record
            .get("toolUseResult")
            .and_then(|result| str_at(result, "stdout"))?;
        (stdout.len() > preview.len()).then(|| stdout.to_owned())
    }

    /// Custom title, then AI title, then the latest summary of a branch that
    /// ends in this file; the first prompt is the fallback (in `Output`).
    fn apply_titles(&mut self, out: &mut Output) {
        let mut summaries: HashMap<String, String> = HashMap::new();
        for (leaf, summary) in self.summaries.drain(..) {
            if let Some(session) = self.uuid_sessions.get(&leaf) {
                summaries.insert(session.clone(), summary);
            }
        }
        for titles in [
            summaries,
            std::mem::take(&mut self.ai_titles),
            std::mem::take(&mut self.custom_titles),
        ] {
            for (session, title) in titles {
                if let Some(title) = output::title_from(&title) {
                    out.session(&session).title = Some(title);
                }
            }
        }
    }
}

/// The names to ask [`SourceHints::spill`] for, best first. Claude Code
/// names the spill file with a random id (not the `tool_use_id`, as early
/// versions did) and says which in the preview's `Full output saved to:`
/// line and in `toolUseResult.persistedOutputPath`; the preview comes first
/// because it belongs to this very block, while `toolUseResult` describes the
/// whole record. Only the stem of a `.txt` file name is passed on, never the
/// path: the caller reads it from the session's own `tool-results` folder.
fn spill_names(call_id: Option<&str>, record: &Value, preview: &str) -> Vec<String> {
    let persisted = record
        .get("toolUseResult")
        .and_then(|result| str_at(result, "persistedOutputPath"));
    let mut names: Vec<String> = Vec::new();
    let candidates = [saved_to(preview), persisted.and_then(spill_stem), call_id];
    for name in candidates.into_iter().flatten() {
        if is_plain_name(name) && !names.iter().any(|known| known == name) {
            names.push(name.to_owned());
        }
    }
    names
}

/// The spill file's stem from the preview's `Full output saved to: <path>`.
fn saved_to(preview: &str) -> Option<&str> {
    let at = preview.find(SAVED_TO)? + SAVED_TO.len();
    let path = preview.get(at..)?.lines().next()?.trim();
    spill_stem(path)
}

/// `bx5llwyx6` from `/…/tool-results/bx5llwyx6.txt` (either slash).
fn spill_stem(path: &str) -> Option<&str> {
    let name = path.rsplit(['/', '\\']).next()?;
    name.strip_suffix(".txt")
}

/// A name that can only be a file in the spill folder: `[A-Za-z0-9_-]+`.
pub(crate) fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn remember(titles: &mut HashMap<String, String>, session: String, title: Option<&str>) {
    if let Some(title) = title {
        titles.insert(session, title.to_owned());
    }
}

fn text_piece(block: usize, text: String) -> Option<Piece> {
    (!text.trim().is_empty()).then_some(Piece::Text { block, text })
}

fn call_piece(block: usize, content: &Value) -> Piece {
    let name = str_at(content, "name").unwrap_or("tool").to_owned();
    let input = content.get("input").map(json::compact).unwrap_or_default();
    Piece::Call {
        block,
        id: str_at(content, "id").map(str::to_owned),
        name,
        input,
    }
}

fn push_piece(out: &mut Output, message: Message, piece: Piece) {
    match piece {
        Piece::Text { text, .. } => {
            let injected =
                message.injected || (message.role == Role::User && is_injected_text(&text));
            out.push(Message {
                text,
                injected,
                ..message
            });
        }
        Piece::Call {
            id, name, input, ..
        } => {
            let text = json::call_text(&name, &input);
            out.push_call(Message {
                role: Role::Assistant,
                tool: Some(name),
                call_id: id,
                text,
                ..message
            });
        }
        Piece::Result { call_id, text, .. } => {
            out.push(Message {
                role: Role::Tool,
                call_id,
                text,
                injected: false,
                ..message
            });
        }
    }
}

/// `system` records with text (local command output, API errors, compaction
/// notices) are kept as injected system messages; the rest (turn durations,
/// hook summaries) are skipped.
fn system(out: &mut Output, record: &Value, session: &str, uid: String, at: Option<i64>) {
    match str_at(record, "content").filter(|text| !text.trim().is_empty()) {
        Some(text) => out.push(Message {
            session: session.to_owned(),
            uid,
            role: Role::System,
            tool: None,
            call_id: None,
            at,
            text: text.to_owned(),
            injected: true,
        }),
        None => out.skip(),
    }
}

/// A tool result's `content`: a string, or blocks whose texts are joined with
/// newlines (images and other blocks become placeholders).
fn result_text(content: Option<&Value>) -> String {
    let Some(content) = content else {
        return String::new();
    };
    let blocks = match content {
        Value::String(text) => return text.clone(),
        Value::Array(blocks) => blocks,
        Value::Null => return String::new(),
        other => return json::compact(other),
    };
    let parts: Vec<String> = blocks
        .iter()
        .map(|block| match block {
            Value::String(text) => text.clone(),
            _ => match str_at(block, "type").unwrap_or_default() {
                "text" => str_at(block, "text").unwrap_or_default().to_owned(),
                "tool_reference" => format!(
                    "[tool_reference {}]",
                    str_at(block, "tool_name").unwrap_or_default()
                ),
                kind => format!("[{kind}]"),
            },
        })
        .collect();
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spill_names_come_from_the_preview_the_record_and_the_call() {
        let preview = "<persisted-output>\nOutput too large (575.1KB). Full output saved to: /home/u/.claude/projects/-tmp-x/165ace28/tool-results/bx5llwyx6.txt\n\nPreview (first 2KB):\n1\n</persisted-output>";
        let check = |call_id: Option<&str>, record: Value, preview: &str, expected: &[&str]| {
            assert_eq!(
                spill_names(call_id, &record, preview),
                expected,
                "{record} {preview:?}"
            );
        };
        let none = serde_json::json!({});
        let persisted =
            |path: &str| serde_json::json!({"toolUseResult": {"persistedOutputPath": path}});
        let same = persisted("/home/u/.claude/projects/-tmp-x/165ace28/tool-results/bx5llwyx6.txt");
        check(Some("toolu_1"), same, preview, &["bx5llwyx6", "toolu_1"]);
        check(
            Some("toolu_1"),
            none.clone(),
            preview,
            &["bx5llwyx6", "toolu_1"],
        );
        check(
            Some("toolu_1"),
            persisted("C:\\Users\\u\\tool-results\\q1w2e3r4t.txt"),
            "<persisted-output>\nPreview (first 2KB):\n1\n</persisted-output>",
            &["q1w2e3r4t", "toolu_1"],
        );
        check(
            Some("toolu_1"),
            none.clone(),
            "<persisted-output>\n1",
            &["toolu_1"],
        );
        check(None, none.clone(), "<persisted-output>\n1", &[]);
        // Names that are not plain file stems are never asked for.
        check(
            Some("../../etc/passwd"),
            persisted("/x/tool-results/a b.txt"),
            "Full output saved to: /x/tool-results/...txt\n",
            &[],
        );
        check(None, persisted("/x/tool-results/out.json"), "", &[]);
        check(None, none, "Full output saved to: \n", &[]);
    }
}
