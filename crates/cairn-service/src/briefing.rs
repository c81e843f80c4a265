//! Briefings: what the other agents did in a project, digested from their
//! stored sessions without a model, within a token budget.
//!
//! Per session, newest first: the agent and when, the task (the first real
//! prompt), the files written and read, the commands that failed and whether
//! the same command passed later, the last state (the final assistant
//! message) and what was left open. Every item names the `ccr:` reference of
//! the message it comes from. The digest is a pure function of the stored
//! sessions and the arguments: the same store gives the same bytes.

use std::collections::HashMap;
use std::sync::LazyLock;

use cairn_core::{secrets, tokens};
use cairn_store::{MessageBody, MessageRecord, SessionFilter, SessionRecord};
use cairn_types::{Briefing, BriefingFailure, BriefingItem, BriefingSession, TenantId};
use regex::Regex;
use serde_json::Value;

use crate::{Cairn, ServiceError, format_millis};

/// The budget of a briefing unless asked otherwise, in o200k tokens.
pub const DEFAULT_BRIEFING_TOKENS: u32 = 1_500;
/// The smallest budget a briefing takes: its frame alone needs about 60.
pub const MIN_BRIEFING_TOKENS: u32 = 100;
pub const MAX_BRIEFING_TOKENS: u32 = 32_000;

/// The tag a briefing's text is wrapped in. Importers take a message that
/// starts with it for injected context, never for a task.
pub const BRIEFING_TAG: &str = "cairn-briefing";

/// Sessions of the project listed to count what was left out.
const SESSIONS_LISTED: u32 = 1_000;
/// Sessions digested at most, newest first: more never fit a budget.
const SESSIONS_DIGESTED: usize = 12;
/// A session's messages read at most: its first ones and its latest ones.
const HEAD_MESSAGES: u32 = 2_000;
const TAIL_MESSAGES: u32 = 1_000;

/// How long the lines of a briefing may grow, in characters.
const TASK_CHARS: usize = 240;
const STATE_CHARS: usize = 480;
const COMMAND_CHARS: usize = 160;
/// How many of each list a session shows in full.
const WRITTEN_SHOWN: usize = 10;
const READ_SHOWN: usize = 8;
const FAILURES_SHOWN: usize = 6;
const OPEN_SHOWN: usize = 4;

/// What to brief on.
#[derive(Debug, Clone, Default)]
pub struct BriefingQuery {
    /// A project folder: sessions whose working directory is it or lies
    /// under it.
    pub project: String,
    /// The agent being briefed: its own sessions are left out.
    pub agent: Option<String>,
    /// [`DEFAULT_BRIEFING_TOKENS`] when `None`.
    pub max_tokens: Option<u32>,
    /// A session to leave out (the one being started).
    pub exclude_session: Option<String>,
    /// The project's repository (its normalised git remote): the folders
    /// of other clones of it that hooks have named count as the project too.
    pub repository: Option<String>,
}

/// Folders of one repository kept at most.
const CLONES_KEPT: usize = 64;

/// The context that lists the folders a repository was seen in.
fn clones_key(repository: &str) -> Option<cairn_types::ContextKey> {
    let hash = cairn_core::ContentHash::of(repository.as_bytes()).to_hex();
    cairn_types::ContextKey::parse(format!("cairn/repositories/{}", &hash[..32])).ok()
}

impl Cairn {
    /// A digest of the other agents' recent work in a project, newest
    /// first, within `max_tokens` o200k tokens.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn briefing(
        &self,
        tenant: &TenantId,
        query: BriefingQuery,
    ) -> Result<Briefing, ServiceError> {
        let budget = query.max_tokens.unwrap_or(DEFAULT_BRIEFING_TOKENS);
        if !(MIN_BRIEFING_TOKENS..=MAX_BRIEFING_TOKENS).contains(&budget) {
            return Err(ServiceError::InvalidRequest(format!(
                "max_tokens must be between {MIN_BRIEFING_TOKENS} and {MAX_BRIEFING_TOKENS}"
            )));
        }
        let project = project_folder(&query.project)?;
        let agent = crate::validate_label("agent", query.agent)?;
        // The project's folder, and the other clones of its repository.
        let mut folders = vec![project.clone()];
        if let Some(repository) = &query.repository {
            for folder in self.repository_folders(tenant, repository).await? {
                let inside = |outer: &str| {
                    folder == outer
                        || folder.starts_with(&format!("{}/", outer.trim_end_matches('/')))
                };
                if !folders.iter().any(|known| inside(known)) {
                    folders.push(folder);
                }
            }
        }
        let mut listed = Vec::new();
        for folder in &folders {
            listed.extend(
                self.store
                    .list_sessions(
                        tenant,
                        &SessionFilter {
                            // `/` holds every folder.
                            project: (folder != "/").then(|| folder.clone()),
                            limit: SESSIONS_LISTED,
                            ..SessionFilter::default()
                        },
                    )
                    .await?,
            );
        }
        // Newest first, as one listing.
        listed.sort_by(|a, b| {
            let at = |record: &SessionRecord| record.row.updated_at.unwrap_or(record.imported_at);
            at(b).cmp(&at(a)).then_with(|| a.row.id.cmp(&b.row.id))
        });
        listed.dedup_by(|a, b| a.row.id == b.row.id);
        let candidates: Vec<SessionRecord> = listed
            .into_iter()
            // Subagents' work is their parent's; the parent is briefed.
            .filter(|record| record.row.parent.is_none())
            .filter(|record| agent.as_deref() != Some(record.row.agent.as_str()))
            .filter(|record| query.exclude_session.as_deref() != Some(record.row.id.as_str()))
            .collect();
        let mut digests = Vec::new();
        for record in candidates.iter().take(SESSIONS_DIGESTED) {
            let messages = self.briefing_messages(tenant, record).await?;
            let digest = digest(record, &messages);
            // A session with nothing to tell (no prompt, no answer) is left out.
            if digest.task.is_some() || digest.last_state.is_some() || digest.calls_seen {
                digests.push(digest);
            }
        }
        Ok(render(
            &project,
            agent.as_deref(),
            budget,
            digests,
            candidates.len(),
        ))
    }

    /// Notes that `folder` holds a clone of `repository` (hooks say so when
    /// they send a transcript), for briefings of the repository's other
    /// clones. Kept as the context `cairn/repositories/…`, one folder a line.
    pub async fn note_repository(
        &self,
        tenant: &TenantId,
        repository: &str,
        folder: &str,
    ) -> Result<(), ServiceError> {
        let repository = repository.trim();
        let folder = project_folder(folder)?;
        if repository.is_empty() || repository.len() > 1024 {
            return Err(ServiceError::InvalidRequest(
                "repository must be 1-1024 bytes".to_owned(),
            ));
        }
        let mut folders = self.repository_folders(tenant, repository).await?;
        if folders.contains(&folder) {
            return Ok(());
        }
        folders.push(folder);
        folders.sort();
        if folders.len() > CLONES_KEPT {
            folders.drain(..folders.len() - CLONES_KEPT);
        }
        let Some(key) = clones_key(repository) else {
            return Ok(());
        };
        let input = crate::PutInput {
            content: bytes::Bytes::from(folders.join("\n") + "\n"),
            agent: Some("cairn".to_owned()),
            ..crate::PutInput::default()
        };
        self.put(tenant, &key, input).await.map(drop)
    }

    /// The folders `repository` was seen in.
    async fn repository_folders(
        &self,
        tenant: &TenantId,
        repository: &str,
    ) -> Result<Vec<String>, ServiceError> {
        let Some(key) = clones_key(repository.trim()) else {
            return Ok(Vec::new());
        };
        let full = crate::GetOptions {
            view: cairn_types::View::Full,
            ..crate::GetOptions::default()
        };
        match self.get(tenant, &key, full).await {
            Ok(stored) => Ok(String::from_utf8_lossy(&stored.content)
                .lines()
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
                .collect()),
            Err(ServiceError::NotFound(_)) => Ok(Vec::new()),
            Err(error) => Err(error),
        }
    }

    /// The messages of a session a briefing reads, with their texts: the
    /// first [`HEAD_MESSAGES`] and, of a longer session, the latest
    /// [`TAIL_MESSAGES`].
    async fn briefing_messages(
        &self,
        tenant: &TenantId,
        record: &SessionRecord,
    ) -> Result<Vec<Read>, ServiceError> {
        let id = &record.row.id;
        let mut records = self
            .store
            .session_messages(tenant, id, 0, HEAD_MESSAGES)
            .await?;
        if records.len() == HEAD_MESSAGES as usize {
            let from = record
                .messages
                .saturating_sub(u64::from(TAIL_MESSAGES))
                .max(records.last().map_or(0, |last| last.position + 1));
            records.extend(
                self.store
                    .session_messages(tenant, id, from, TAIL_MESSAGES)
                    .await?,
            );
        }
        // Only the texts a digest looks at are read: the first prompts, tool
        // calls and results, and the final answer.
        let last_answer = records
            .iter()
            .rposition(|message| is_answer(message) && !is_empty(message));
        let mut first_prompt_seen = 0;
        let mut read = Vec::with_capacity(records.len());
        for (index, message) in records.into_iter().enumerate() {
            let wanted = message.tool.is_some()
                || message.role == "tool"
                || Some(index) == last_answer
                || (message.role == "user" && !message.injected && first_prompt_seen < 4);
            if message.role == "user" && !message.injected {
                first_prompt_seen += 1;
            }
            let (text, reference) = match &message.body {
                MessageBody::Text(text) => (wanted.then(|| text.clone()), None),
                MessageBody::Blob(hash) => {
                    let text = if wanted {
                        match self.store.resolve_ref(tenant, &hash.ccr_ref()).await? {
                            Some(blob) => Some(
                                String::from_utf8_lossy(&self.original(tenant, &blob).await?)
                                    .into_owned(),
                            ),
                            None => None,
                        }
                    } else {
                        None
                    };
                    (text, Some(hash.ccr_ref().to_string()))
                }
            };
            read.push(Read {
                message,
                text,
                reference,
            });
        }
        Ok(read)
    }
}

/// A project folder as matched: not empty, without trailing slashes (but `/`
/// stays `/`).
fn project_folder(project: &str) -> Result<String, ServiceError> {
    let trimmed = project.trim();
    if trimmed.is_empty() {
        return Err(ServiceError::InvalidRequest(
            "project is required: the folder (repository root) to brief on".to_owned(),
        ));
    }
    if trimmed.len() > 4096 {
        return Err(ServiceError::InvalidRequest(
            "project is longer than 4096 bytes".to_owned(),
        ));
    }
    let folder = trimmed.trim_end_matches(['/', '\\']);
    Ok(if folder.is_empty() {
        trimmed[..1].to_owned()
    } else {
        folder.to_owned()
    })
}

/// A message and, when the digest needs it, its text.
struct Read {
    message: MessageRecord,
    text: Option<String>,
    /// Its `ccr:` reference (every message with text has one).
    reference: Option<String>,
}

fn is_answer(message: &MessageRecord) -> bool {
    message.role == "assistant" && message.tool.is_none() && !message.injected
}

fn is_empty(message: &MessageRecord) -> bool {
    matches!(&message.body, MessageBody::Text(text) if text.trim().is_empty())
}

/// What a session's messages tell.
#[derive(Debug, Default)]
struct Digest {
    id: String,
    agent: String,
    project: Option<String>,
    started_at: Option<i64>,
    updated_at: Option<i64>,
    messages: u64,
    task: Option<BriefingItem>,
    written: Vec<BriefingItem>,
    read: Vec<BriefingItem>,
    failures: Vec<BriefingFailure>,
    last_state: Option<BriefingItem>,
    open: Vec<BriefingItem>,
    /// Whether it made any tool call.
    calls_seen: bool,
}

/// A tool call as a briefing sees it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Call {
    command: Option<String>,
    reads: Vec<String>,
    writes: Vec<String>,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed(Option<i64>),
}

fn digest(record: &SessionRecord, messages: &[Read]) -> Digest {
    let row = &record.row;
    let mut digest = Digest {
        id: row.id.clone(),
        agent: row.agent.clone(),
        project: row.project.clone(),
        started_at: row.started_at,
        updated_at: row.updated_at.or(Some(record.imported_at)),
        messages: record.messages,
        ..Digest::default()
    };
    let base = row.project.as_deref().unwrap_or("");
    // Calls by id, waiting for their results.
    let mut pending: HashMap<&str, (Call, &str)> = HashMap::new();
    // Every command run, in order: (command, outcome, output ref).
    let mut runs: Vec<(String, Outcome, String)> = Vec::new();
    // The id of the session's last call.
    let mut last_call: Option<&str> = None;
    for read in messages {
        let message = &read.message;
        let (Some(text), Some(reference)) = (read.text.as_deref(), read.reference.as_deref())
        else {
            continue;
        };
        if message.role == "user" && !message.injected && digest.task.is_none() {
            let prompt = without_hook_context(text);
            if !prompt.contains(BRIEFING_TAG) && !prompt.trim().is_empty() {
                digest.task = Some(item(one_line(&prompt, TASK_CHARS), reference));
            }
        } else if let Some(tool) = message.tool.as_deref().filter(|_| message.role != "tool") {
            digest.calls_seen = true;
            let call = call(tool, text);
            for path in &call.writes {
                let shown = relative(path, base);
                digest.written.retain(|known| known.text != shown);
                digest.written.push(item(shown, reference));
            }
            for path in &call.reads {
                let shown = relative(path, base);
                if !digest.read.iter().any(|known| known.text == shown) {
                    digest.read.push(item(shown, reference));
                }
            }
            last_call = message.call_id.as_deref();
            if let Some(id) = message.call_id.as_deref() {
                pending.insert(id, (call, reference));
            }
        } else if message.role == "tool" {
            let Some((call, _)) = message.call_id.as_deref().and_then(|id| pending.remove(id))
            else {
                continue;
            };
            if let Some(command) = call.command {
                runs.push((
                    one_line(&command, COMMAND_CHARS),
                    outcome(text),
                    reference.to_owned(),
                ));
            }
        }
    }
    if let Some(last) = messages.iter().rev().find(|read| {
        is_answer(&read.message) && read.text.as_deref().is_some_and(|t| !t.trim().is_empty())
    }) && let (Some(text), Some(reference)) = (&last.text, &last.reference)
    {
        digest.last_state = Some(item(one_line(text, STATE_CHARS), reference));
    }
    // Each command that failed, once, at its last failure, with the first
    // pass after it.
    let mut commands: Vec<&str> = Vec::new();
    for (command, _, _) in &runs {
        if !commands.contains(&command.as_str()) {
            commands.push(command);
        }
    }
    for command in commands {
        let of_it: Vec<&(String, Outcome, String)> =
            runs.iter().filter(|(c, _, _)| c == command).collect();
        let Some(failed_at) = of_it
            .iter()
            .rposition(|(_, outcome, _)| matches!(outcome, Outcome::Failed(_)))
        else {
            continue;
        };
        let (_, Outcome::Failed(exit_code), reference) = of_it[failed_at] else {
            continue;
        };
        let passed_later = of_it[failed_at + 1..]
            .iter()
            .find(|(_, outcome, _)| *outcome == Outcome::Passed)
            .map(|(_, _, reference)| reference.clone());
        if passed_later.is_none() {
            digest.open.push(item(
                format!("`{command}` still fails{}", exit_text(*exit_code)),
                reference,
            ));
        }
        digest.failures.push(BriefingFailure {
            command: mask(command),
            exit_code: *exit_code,
            reference: reference.clone(),
            passed_later,
        });
    }
    // The last call, when it never got a result: interrupted, or running.
    if let Some((call, reference)) = last_call.and_then(|id| pending.get(id))
        && let Some(command) = &call.command
    {
        digest.open.push(item(
            format!("`{}` got no result", one_line(command, COMMAND_CHARS)),
            reference,
        ));
    }
    // A last prompt that got no answer.
    if let Some(last) = messages
        .iter()
        .rev()
        .find(|read| !read.message.injected && read.message.role != "system")
        && last.message.role == "user"
        && let (Some(text), Some(reference)) = (&last.text, &last.reference)
        && digest
            .task
            .as_ref()
            .is_none_or(|task| task.reference != *reference)
    {
        digest.open.push(item(
            format!(
                "the last prompt got no answer: {}",
                one_line(text, TASK_CHARS)
            ),
            reference,
        ));
    }
    digest
}

/// A prompt without the context hooks put in front of it (Gemini CLI
/// wraps it in `<hook_context>…</hook_context>`).
fn without_hook_context(text: &str) -> String {
    const OPEN: &str = "<hook_context>";
    const CLOSE: &str = "</hook_context>";
    let mut rest = text;
    let mut out = String::new();
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        match rest[start..].find(CLOSE) {
            Some(end) => rest = &rest[start + end + CLOSE.len()..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// An item, its text masked.
fn item(text: String, reference: &str) -> BriefingItem {
    BriefingItem {
        text: mask(&text),
        reference: reference.to_owned(),
    }
}

fn mask(text: &str) -> String {
    secrets::mask(text).into_owned()
}

fn exit_text(code: Option<i64>) -> String {
    code.map(|code| format!(" (exit {code})"))
        .unwrap_or_default()
}

/// A text on one line, whitespace runs made one space, cut at `chars`
/// characters with an ellipsis.
fn one_line(text: &str, chars: usize) -> String {
    let mut line = String::with_capacity(text.len().min(chars * 4));
    let mut count = 0;
    for word in text.split_whitespace() {
        let needed = word.chars().count() + usize::from(!line.is_empty());
        if count + needed > chars {
            let room = chars.saturating_sub(count + usize::from(!line.is_empty()));
            if room > 0 {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.extend(word.chars().take(room));
            }
            line.push('…');
            return line;
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        count += needed;
    }
    line
}

/// A path as shown: relative to the session's folder when under it.
fn relative(path: &str, base: &str) -> String {
    let path = path.trim();
    if !base.is_empty()
        && let Some(rest) = path.strip_prefix(base)
        && let Some(rest) = rest.strip_prefix('/')
        && !rest.is_empty()
    {
        return rest.to_owned();
    }
    path.to_owned()
}

/// Tool names that write the files they name (Claude `Write`, `Edit`,
/// `MultiEdit`, `NotebookEdit`; Gemini `write_file`, `replace`; Codex
/// `apply_patch`; editors' `str_replace`, `create`, `insert`).
fn writes_files(tool: &str) -> bool {
    let tool = tool.to_ascii_lowercase();
    ["write", "edit", "replace", "patch", "create", "insert"]
        .iter()
        .any(|verb| tool.contains(verb))
}

/// Tool names that read the files they name (Claude `Read`, Gemini
/// `read_file` and `read_many_files`, `view`, `cat`).
fn reads_files(tool: &str) -> bool {
    let tool = tool.to_ascii_lowercase();
    ["read", "view", "cat", "open"]
        .iter()
        .any(|verb| tool.contains(verb))
}

/// What a tool call's text (`name(arguments)`) runs, reads and writes.
fn call(tool: &str, text: &str) -> Call {
    let arguments = text
        .strip_prefix(tool)
        .and_then(|rest| rest.strip_prefix('('))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or(text);
    let mut call = Call::default();
    let parsed: Option<Value> = serde_json::from_str(arguments).ok();
    if let Some(Value::Object(fields)) = &parsed {
        call.command = ["command", "cmd"]
            .iter()
            .find_map(|key| match fields.get(*key)? {
                Value::String(command) => Some(command.clone()),
                // `["bash", "-lc", "…"]`: the script.
                Value::Array(words) => {
                    let words: Vec<&str> = words.iter().filter_map(Value::as_str).collect();
                    match words.as_slice() {
                        [shell, flag, script] if shell.ends_with("sh") && flag.starts_with('-') => {
                            Some((*script).to_owned())
                        }
                        _ => (!words.is_empty()).then(|| words.join(" ")),
                    }
                }
                _ => None,
            });
        let mut paths: Vec<String> = ["file_path", "absolute_path", "notebook_path", "path"]
            .iter()
            .filter_map(|key| fields.get(*key)?.as_str().map(str::to_owned))
            .collect();
        if let Some(Value::Array(many)) = fields.get("paths") {
            paths.extend(many.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        if call.command.is_none() {
            if writes_files(tool) {
                call.writes = paths;
            } else if reads_files(tool) {
                call.reads = paths;
            }
        }
    } else if parsed.is_none() {
        // Free-form input (Codex's `exec` runs JavaScript that calls
        // `tools.exec_command({cmd: "…"})`).
        call.command = COMMAND_IN_CODE
            .captures(arguments)
            .and_then(|found| serde_json::from_str::<String>(&found[1]).ok());
    }
    // A patch names the files it adds and changes (Codex `apply_patch`,
    // also inside `exec` code, where its lines are escaped).
    for found in PATCHED_FILE.captures_iter(arguments) {
        let path = found[1].trim().to_owned();
        if !call.writes.contains(&path) {
            call.writes.push(path);
        }
    }
    call
}

/// A command in code: `cmd: "…"` or `command: "…"`, a JSON string literal.
static COMMAND_IN_CODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\b(?:cmd|command)\s*:\s*("(?:[^"\\]|\\.)*")"#).expect("a valid pattern")
});

/// A file a patch adds or changes: `*** Update File: path`.
static PATCHED_FILE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\*\*\* (?:Update|Add) File: ([^\n\\]+)").expect("a valid pattern")
});

/// An exit code in a command's output, as the agents write it: Claude
/// `Exit code 1`, Gemini `Exit Code: 1`, Codex `Exit code: 1` or
/// `"exit_code": 1`, shells `exited with code 1`.
static EXIT_CODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\bexit(?:ed with)?[ _]?(?:code|status)"?\s*[:=]?\s*(-?\d+)"#)
        .expect("a valid pattern")
});

/// How a command's output says it ended: the first exit code it names, or an
/// error the tool reported; passed otherwise.
fn outcome(output: &str) -> Outcome {
    if let Some(found) = EXIT_CODE.captures(output) {
        let code = found[1].parse::<i64>().ok();
        return if code == Some(0) {
            Outcome::Passed
        } else {
            Outcome::Failed(code)
        };
    }
    let start = output.trim_start();
    if start.starts_with("Error") || start.starts_with("<tool_use_error>") {
        Outcome::Failed(None)
    } else {
        Outcome::Passed
    }
}

/// A time as a briefing shows it: to the second, UTC.
fn when(millis: i64) -> String {
    let full = format_millis(millis);
    match full.split_once('.') {
        Some((seconds, _)) => format!("{seconds}Z"),
        None => full,
    }
}

/// The briefing's text and record, within `budget` tokens: each session in
/// full while it fits, then in short (task and last state), then no more.
fn render(
    project: &str,
    agent: Option<&str>,
    budget: u32,
    digests: Vec<Digest>,
    candidates: usize,
) -> Briefing {
    let budget = u64::from(budget);
    let project_shown = mask(project).replace('"', "'");
    let head = match agent {
        Some(agent) => format!(
            "<{BRIEFING_TAG} project=\"{project_shown}\" for=\"{}\">\n",
            mask(agent).replace('"', "'")
        ),
        None => format!("<{BRIEFING_TAG} project=\"{project_shown}\">\n"),
    };
    let mut text = head;
    if digests.is_empty() {
        text.push_str("No other agent's work is stored for this project yet.\n");
    } else {
        text.push_str(
            "Recent work by other agents in this project, newest first. \
             Expand any ccr: reference with cairn_retrieve.\n",
        );
    }
    let mut sessions = Vec::new();
    let footer = |omitted: usize| {
        let mut footer = String::new();
        if omitted > 0 {
            footer.push_str(&format!(
                "\n({omitted} older session{} not shown: search them with cairn_search project:{project_shown})\n",
                if omitted == 1 { "" } else { "s" }
            ));
        }
        footer.push_str(&format!("</{BRIEFING_TAG}>\n"));
        footer
    };
    // The longest footer this briefing can have, so that whatever is left
    // out, the frame fits.
    let reserve = footer(candidates);
    for digest in digests {
        let full = section(&digest, false);
        let fits =
            |section: &str| tokens::count(&format!("{text}{section}{reserve}")) as u64 <= budget;
        let abridged = if fits(&full) {
            text.push_str(&full);
            false
        } else {
            let short = section(&digest, true);
            if !fits(&short) {
                break;
            }
            text.push_str(&short);
            true
        };
        sessions.push(briefed(digest, abridged));
    }
    let omitted = candidates.saturating_sub(sessions.len());
    text.push_str(&footer(omitted));
    Briefing {
        project: project.to_owned(),
        agent: agent.map(str::to_owned),
        tokens: tokens::count(&text) as u64,
        text,
        sessions,
        omitted: omitted as u64,
    }
}

/// One session's part of the text.
fn section(digest: &Digest, short: bool) -> String {
    let mut out = String::new();
    let at = digest.updated_at.map(when).unwrap_or_default();
    out.push_str(&format!(
        "\n## {} · {} · session {} · {} messages\n",
        mask(&digest.agent),
        at,
        mask(&digest.id),
        digest.messages
    ));
    let refd = |item: &BriefingItem| format!("{} [{}]", item.text, item.reference);
    if let Some(task) = &digest.task {
        out.push_str(&format!("Task: {}\n", refd(task)));
    }
    if !short {
        let list = |label: &str, items: &[BriefingItem], shown: usize, out: &mut String| {
            if items.is_empty() {
                return;
            }
            let mut line: Vec<String> = items.iter().take(shown).map(refd).collect();
            if items.len() > shown {
                line.push(format!("and {} more", items.len() - shown));
            }
            out.push_str(&format!("{label}: {}\n", line.join(", ")));
        };
        list("Wrote", &digest.written, WRITTEN_SHOWN, &mut out);
        list("Read", &digest.read, READ_SHOWN, &mut out);
        for failure in digest.failures.iter().take(FAILURES_SHOWN) {
            out.push_str(&format!(
                "Failed: `{}`{} [{}]",
                failure.command,
                exit_text(failure.exit_code),
                failure.reference
            ));
            match &failure.passed_later {
                Some(reference) => out.push_str(&format!(", passed later [{reference}]\n")),
                None => out.push_str(", not fixed\n"),
            }
        }
        if digest.failures.len() > FAILURES_SHOWN {
            out.push_str(&format!(
                "Failed: {} more commands\n",
                digest.failures.len() - FAILURES_SHOWN
            ));
        }
    }
    if let Some(state) = &digest.last_state {
        out.push_str(&format!("Last state: {}\n", refd(state)));
    }
    if !short {
        // A failure shown above already says it is not fixed.
        let shown: Vec<&str> = digest
            .failures
            .iter()
            .take(FAILURES_SHOWN)
            .map(|failure| failure.reference.as_str())
            .collect();
        for open in digest
            .open
            .iter()
            .filter(|open| !shown.contains(&open.reference.as_str()))
            .take(OPEN_SHOWN)
        {
            out.push_str(&format!("Open: {}\n", refd(open)));
        }
    }
    out
}

fn briefed(digest: Digest, abridged: bool) -> BriefingSession {
    BriefingSession {
        id: digest.id,
        agent: digest.agent,
        project: digest.project,
        started_at: digest.started_at.map(format_millis),
        updated_at: digest.updated_at.map(format_millis),
        task: digest.task,
        files_written: digest.written,
        files_read: digest.read,
        failures: digest.failures,
        last_state: digest.last_state,
        open: digest.open,
        abridged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_files_are_read_from_every_agents_calls() {
        let claude = call(
            "Bash",
            r#"Bash({"command":"pytest -q","description":"run"})"#,
        );
        assert_eq!(claude.command.as_deref(), Some("pytest -q"));
        let edit = call(
            "Edit",
            r#"Edit({"file_path":"/p/calc.py","old_string":"-","new_string":"+"})"#,
        );
        assert_eq!(edit.writes, ["/p/calc.py"]);
        assert!(edit.reads.is_empty());
        let read = call("read_file", r#"read_file({"absolute_path":"/p/a.rs"})"#);
        assert_eq!(read.reads, ["/p/a.rs"]);
        let shell = call("shell", r#"shell({"command":["bash","-lc","cargo test"]})"#);
        assert_eq!(shell.command.as_deref(), Some("cargo test"));
        let exec = call(
            "exec",
            "exec(const r = await tools.exec_command({cmd: \"python3 -m pytest \\\"t.py\\\"\", max_output_tokens: 20000});\ntext(r.output);)",
        );
        assert_eq!(exec.command.as_deref(), Some("python3 -m pytest \"t.py\""));
        let patch = call(
            "apply_patch",
            "apply_patch(*** Begin Patch\n*** Update File: src/lib.rs\n@@\n-a\n+b\n*** Add File: src/new.rs\n+x\n*** End Patch)",
        );
        assert_eq!(patch.writes, ["src/lib.rs", "src/new.rs"]);
    }

    #[test]
    fn outcomes_follow_the_exit_code_each_agent_writes() {
        assert_eq!(outcome("Exit code 1\nFAILED"), Outcome::Failed(Some(1)));
        assert_eq!(
            outcome("Error: Exit code 5\njq: error"),
            Outcome::Failed(Some(5))
        );
        assert_eq!(outcome("Output: ok\nExit Code: 0"), Outcome::Passed);
        assert_eq!(
            outcome(r#"{"output":"x","metadata":{"exit_code":2}}"#),
            Outcome::Failed(Some(2))
        );
        assert_eq!(outcome("Process exited with code 0"), Outcome::Passed);
        assert_eq!(
            outcome("<tool_use_error>File does not exist.</tool_use_error>"),
            Outcome::Failed(None)
        );
        assert_eq!(outcome("3 passed in 0.02s"), Outcome::Passed);
    }

    #[test]
    fn lines_are_cut_on_characters_and_paths_shown_relative() {
        assert_eq!(one_line("a  b\n\nc", 10), "a b c");
        assert_eq!(one_line("héllo wörld again", 8), "héllo wö…");
        assert_eq!(relative("/p/src/a.rs", "/p"), "src/a.rs");
        assert_eq!(relative("/pq/a.rs", "/p"), "/pq/a.rs");
        assert_eq!(project_folder("/p/").expect("a folder"), "/p");
        assert_eq!(project_folder("/").expect("a folder"), "/");
        assert!(project_folder("  ").is_err());
        assert_eq!(
            without_hook_context("<hook_context>&lt;cairn-briefing&gt;</hook_context>\n\nfix it"),
            "\n\nfix it"
        );
    }
}
