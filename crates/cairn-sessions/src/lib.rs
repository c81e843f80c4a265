//! Cairn's session importers: the transcripts that Claude Code, Codex CLI and
//! Gemini CLI write to disk, parsed into one normalized model.
//!
//! # The normalized model
//!
//! [`parse`] turns the bytes of one session file into a [`Parsed`]:
//!
//! * [`Session`]s: usually one per file. Its `id` is the agent's own session id,
//!   except a Claude subagent transcript, whose records carry the *parent's*
//!   session id: it becomes `"<parentSessionId>/<agentId>"` with `parent` set.
//! * [`Message`]s in file order, each with a [`Role`] (user, assistant, tool,
//!   system), the text to show and index, and an `injected` flag for content the
//!   agent injected rather than the human or the model wrote (Claude `isMeta`
//!   and `<command-name>` wrappers, Codex AGENTS.md / `<environment_context>` /
//!   developer messages, Gemini `<session_context>` and info/warning/error
//!   notices; see [`is_injected_text`]). A tool result's text is the tool's
//!   full output where the agent kept one beside what the model saw (Claude
//!   spill files, Codex command events, Gemini `resultDisplay`). A tool call is an
//!   assistant message `Name(arguments-json)` with `tool` and `call_id`; its
//!   result is a [`Role::Tool`] message with the same `call_id`.
//! * Every message has a `uid` that is stable when the same record is parsed
//!   again from a grown file, so a re-import only adds what is new. It is the
//!   record's own id where the format has one, else a hash of the line:
//!   Claude `<uuid>`, or `<uuid>#<block index>` when one record yields several
//!   messages; Gemini `<message id>`, `<message id>/<tool call id>` for a call
//!   and `<message id>/<tool call id>:result` for its result; Codex
//!   `<FNV-1a 64 of the line, hex>:<message index in the line>`, with `.<n>`
//!   after the hash for the n-th repeat of an identical line (the TypeScript
//!   CLI's items use their own `id` instead of the hash). A uid is unique
//!   within its session, not across sessions (a forked transcript copies its
//!   parent's records).
//! * Counters: `tool_calls`, `skipped` (records and content blocks of unknown
//!   or deliberately ignored kinds, such as Claude `progress` and `thinking`)
//!   and `errors` (torn or corrupt lines, each with its 1-based line number).
//!
//! # Format generations handled (detected by shape, never by version number)
//!
//! * Claude Code: JSONL records (`user`, `assistant`, `system`, `summary`,
//!   `custom-title`, `ai-title`, and many kinds that are skipped), one content
//!   block per assistant line; torn lines (`…}{"parentUuid":…`) are split and
//!   the record after the tear recovered; `<persisted-output>` previews are
//!   replaced by the spilled `tool-results/<name>.txt` when the caller
//!   provides it ([`SourceHints::spill`]; the name comes from the preview's
//!   `Full output saved to:` line or `toolUseResult.persistedOutputPath`,
//!   else it is the `tool_use_id`).
//! * Codex CLI: the `{timestamp, type, payload}` envelope (Sept 2025 on), the
//!   earlier bare Rust rollouts (a `{id, timestamp, instructions}` first line,
//!   bare ResponseItems and `{"record_type":"state"}` markers), the TypeScript
//!   CLI's single `{session, items}` JSON document, and any of them compressed
//!   as `.jsonl.zst`.
//! * Gemini CLI: the JSON `ConversationRecord` (v0.4–v0.38) and the JSONL log
//!   of v0.39+ (metadata line, message lines where a re-appearing `id` replaces
//!   the earlier copy in place, `$set` and `$rewindTo`).
//!
//! Unknown record types and fields are skipped and counted, never fatal. Only
//! whole-file failures are errors ([`ImportError`]): an empty file, a file in
//! which no line is a JSON object, a bad zstd stream, and a single-document
//! format (Gemini `.json`, TypeScript Codex `.json`) that does not parse as a
//! whole: those files are rewritten in place, so a torn copy is refused
//! rather than imported as a fragment of the session.
//!
//! [`discover`] walks an agent's home folder (`~/.claude`, `~/.codex`,
//! `~/.gemini`) or any folder of session files and lists what to import.
//!
//! Architecture invariant: pure parsing. No database, no HTTP, no async, no
//! other Cairn crate; the only I/O is [`discover`] reading directories (and a
//! few small metadata files). Nothing here panics on any input.

mod claude;
mod codex;
mod detect;
mod discover;
mod gemini;
mod json;
mod output;
mod time;

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use detect::detect;
pub use discover::{Found, discover};
pub use time::civil_days;

/// The most a `.zst` file may decompress to (2 GiB); past it, [`parse`]
/// answers [`ImportError::TooLarge`] instead of exhausting memory.
pub const MAX_DECOMPRESSED_BYTES: u64 = 2 << 30;

/// A coding agent whose transcripts we import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Agent {
    Claude,
    Codex,
    Gemini,
}

impl Agent {
    /// Every agent, in a fixed order.
    pub const ALL: [Agent; 3] = [Agent::Claude, Agent::Codex, Agent::Gemini];

    pub fn as_str(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
        }
    }

    /// The agent named by [`Agent::as_str`]'s spelling, if any.
    pub fn parse(name: &str) -> Option<Agent> {
        Agent::ALL.into_iter().find(|agent| agent.as_str() == name)
    }
}

impl fmt::Display for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a message is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
    /// A tool's result (the call itself is an assistant message).
    Tool,
    /// Notices and instructions from the agent program itself.
    System,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::User, Role::Assistant, Role::Tool, Role::System];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::System => "system",
        }
    }

    /// The role named by [`Role::as_str`]'s spelling, if any.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One conversation (or one subagent's conversation) found in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The agent's session id; a Claude subagent gets `"<parentSessionId>/<agentId>"`.
    pub id: String,
    pub agent: Agent,
    /// The session's real working directory (never decoded from a folder name).
    pub project: Option<String>,
    /// The agent's own title when it wrote one, else the first prompt cut to 120 characters.
    pub title: Option<String>,
    /// The parent session's id, for subagents.
    pub parent: Option<String>,
    /// Unix milliseconds of the earliest record.
    pub started_at: Option<i64>,
    /// Unix milliseconds of the latest record.
    pub updated_at: Option<i64>,
}

/// One message, tool call or tool result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The [`Session::id`] it belongs to.
    pub session: String,
    /// Stable id for idempotent re-import, unique within the session.
    pub uid: String,
    pub role: Role,
    /// The tool's name, on tool calls and tool results.
    pub tool: Option<String>,
    /// Pairs a tool call with its result.
    pub call_id: Option<String>,
    /// Unix milliseconds.
    pub at: Option<i64>,
    /// The text to show and index (`Name(arguments)` for a tool call).
    pub text: String,
    /// Injected or meta content rather than words of the human or the model.
    pub injected: bool,
}

/// A line that could not be read; the rest of the file was imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineError {
    /// 1-based line number, 0 for the file as a whole.
    pub line: u64,
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Everything read from one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub agent: Agent,
    pub sessions: Vec<Session>,
    /// In file order.
    pub messages: Vec<Message>,
    /// Tool call messages (Claude `tool_use`, Codex function/custom/shell/web
    /// search calls, Gemini `toolCalls` entries).
    pub tool_calls: u64,
    /// Records and content blocks of unknown or deliberately ignored kinds.
    pub skipped: u64,
    /// Torn or corrupt lines. At most [`MAX_LISTED_ERRORS`] are listed one by
    /// one; a last entry with line 0 counts the rest.
    pub errors: Vec<LineError>,
}

/// How many [`LineError`]s a [`Parsed`] lists before summing up the rest.
pub const MAX_LISTED_ERRORS: usize = 1000;

/// Reads the full text of a spilled Claude tool result, by the spill file's
/// stem (an alias only to keep [`SourceHints::spill`] readable: the field is
/// exactly `Option<&'a dyn Fn(&str) -> Option<String>>`).
pub type SpillFn<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// What the caller knows about where the bytes came from.
#[derive(Default)]
pub struct SourceHints<'a> {
    /// The file's path: gives Claude subagent ids (`agent-<id>.jsonl`), Gemini
    /// subagent parents (`chats/<parent>/<id>.jsonl`) and fallback session ids.
    pub path: Option<&'a Path>,
    /// Gemini: the real project path (from `.project_root` or `projects.json`).
    pub project_root: Option<&'a str>,
    /// Claude: the full text of a tool result spilled to
    /// `<sessionId>/tool-results/<name>.txt`, by `<name>`: the stem of the
    /// file the transcript names (a random id in recent versions), else the
    /// `tool_use_id`. The parser only ever asks for plain `[A-Za-z0-9_-]`
    /// names, never for a path, so a transcript cannot point it elsewhere.
    pub spill: Option<&'a SpillFn<'a>>,
}

impl fmt::Debug for SourceHints<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceHints")
            .field("path", &self.path)
            .field("project_root", &self.project_root)
            .field("spill", &self.spill.map(|_| "Fn"))
            .finish()
    }
}

/// Largest spilled tool output read (Claude Code spills outputs past
/// 30 KB; its files run to megabytes).
pub const MAX_SPILL_BYTES: u64 = 64 << 20;

/// The full text of a spilled tool output: `<dir>/<name>.txt`, for a plain
/// `name` (letters, digits, `_`, `-`: a transcript cannot name another
/// path), a regular file (not a link elsewhere), read up to
/// [`MAX_SPILL_BYTES`]. What [`SourceHints::spill`] is for a session's
/// `tool-results` folder.
pub fn read_spilled(dir: &Path, name: &str) -> Option<String> {
    use std::io::Read as _;
    if !claude::is_plain_name(name) {
        return None;
    }
    let path = dir.join(format!("{name}.txt"));
    if !std::fs::symlink_metadata(&path).ok()?.file_type().is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .ok()?
        .take(MAX_SPILL_BYTES)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Why a whole file could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file is empty")]
    Empty,
    #[error("not a session file: {0}")]
    NotASession(String),
    #[error("cannot decompress: {0}")]
    Decompress(String),
    #[error("decompressed content exceeds {limit} bytes")]
    TooLarge { limit: u64 },
}

/// How user-role text starts when an agent program, not the human, wrote it:
/// one list for the three importers (and for the proxy, through
/// [`is_injected_text`]), so a wrapper learned from one agent is recognized
/// wherever it shows up.
const INJECTED_PREFIXES: &[&str] = &[
    // Gemini CLI: the first user message of every session (0.61+).
    "<session_context>",
    // Codex CLI: instructions, environment, skills, notices.
    "<environment_context>",
    "<user_instructions>",
    "<permissions instructions>",
    "# AGENTS.md instructions",
    "<INSTRUCTIONS>",
    "<skill>",
    "<skills_instructions>",
    "<turn_aborted>",
    "<subagent_notification>",
    "<collaboration_mode>",
    // Claude Code: reminders, slash commands and local command output.
    "<system-reminder>",
    "<command-name>",
    "<command-message>",
    "<command-args>",
    "<local-command-stdout>",
    "<local-command-stderr>",
    "<local-command-caveat>",
    "Caveat: The messages below were generated by the user while running local commands",
    "[Request interrupted by user",
    // Cairn's own briefing, injected at session start by its hooks.
    "<cairn-briefing",
];

/// Whether a user-role text is content an agent program injected (context,
/// instructions, reminders, command wrappers) rather than the human's words:
/// it starts, after leading whitespace, with one of the wrappers the agents
/// use. Such messages are kept but flagged, and never become a title.
pub fn is_injected_text(text: &str) -> bool {
    let text = text.trim_start();
    INJECTED_PREFIXES
        .iter()
        .any(|prefix| text.starts_with(prefix))
}

/// Parses one session file. `agent` None means [`detect`] it; zstd-compressed
/// content (`.jsonl.zst`) is decompressed first, up to
/// [`MAX_DECOMPRESSED_BYTES`].
pub fn parse(
    bytes: &[u8],
    agent: Option<Agent>,
    hints: &SourceHints<'_>,
) -> Result<Parsed, ImportError> {
    parse_limited(bytes, agent, hints, MAX_DECOMPRESSED_BYTES)
}

/// [`parse`], with zstd-compressed content refused past `max_decompressed`
/// bytes once decompressed (an upload may expand no further than the
/// server takes uncompressed). Decompression stops at the limit: memory
/// stays bounded by it, however the stream expands.
pub fn parse_limited(
    bytes: &[u8],
    agent: Option<Agent>,
    hints: &SourceHints<'_>,
    max_decompressed: u64,
) -> Result<Parsed, ImportError> {
    if detect::is_zstd(bytes) {
        let plain = detect::decompress(bytes, max_decompressed.min(MAX_DECOMPRESSED_BYTES))?;
        return parse_plain(&plain, agent, hints);
    }
    parse_plain(bytes, agent, hints)
}

fn parse_plain(
    bytes: &[u8],
    agent: Option<Agent>,
    hints: &SourceHints<'_>,
) -> Result<Parsed, ImportError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ImportError::Empty);
    }
    let agent = match agent {
        Some(agent) => agent,
        None => detect::detect_plain(bytes).ok_or_else(|| {
            ImportError::NotASession("no Claude, Codex or Gemini record found".to_owned())
        })?,
    };
    match agent {
        Agent::Claude => claude::parse(bytes, hints),
        Agent::Codex => codex::parse(bytes, hints),
        Agent::Gemini => gemini::parse(bytes, hints),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spilled_output_is_read_by_a_plain_name_from_a_regular_file_only() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let outside = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join("b2wq4yejx.txt"), "the full output").expect("written");
        std::fs::write(outside.path().join("secret.txt"), "not ours").expect("written");
        assert_eq!(
            read_spilled(dir.path(), "b2wq4yejx").as_deref(),
            Some("the full output")
        );
        for name in ["../secret", "", "a/b", "b2wq4yejx.txt"] {
            assert_eq!(read_spilled(dir.path(), name), None, "{name:?}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(
                outside.path().join("secret.txt"),
                dir.path().join("linked.txt"),
            )
            .expect("a link");
            assert_eq!(
                read_spilled(dir.path(), "linked"),
                None,
                "a link is not followed"
            );
        }
    }

    #[test]
    fn injected_text_is_told_by_its_opening_wrapper() {
        let check = |text: &str, expected: bool| {
            assert_eq!(is_injected_text(text), expected, "{text:?}");
        };
        check("<session_context>\nThis is the Gemini CLI.", true);
        check("  \n<environment_context>\n  <cwd>/p</cwd>", true);
        check("<system-reminder>Be brief.</system-reminder>", true);
        check("<user_instructions>x</user_instructions>", true);
        check("<permissions instructions>x", true);
        check("# AGENTS.md instructions for /p\n\n<INSTRUCTIONS>", true);
        check("<INSTRUCTIONS>x</INSTRUCTIONS>", true);
        check("<command-name>/clear</command-name>", true);
        check("<local-command-stdout></local-command-stdout>", true);
        check("<local-command-caveat>Caveat: …", true);
        check("[Request interrupted by user for tool use]", true);
        // The human's words, even when they mention a wrapper.
        check("fix the bug", false);
        check("why does <environment_context> show up?", false);
        check("<session_contexts>", false);
        check("<Session_Context>", false);
        check("", false);
        check("   ", false);
    }
}
