//! Codex CLI rollouts, in every generation (told apart line by line, by shape):
//!
//! * the envelope `{timestamp, type, payload}` (Sept 2025 on): `session_meta`,
//!   `response_item`, `event_msg`, `turn_context`, `compacted`, and newer types
//!   that are skipped;
//! * the bare Rust rollouts before it: a `{id, timestamp, instructions}` first
//!   line, then bare ResponseItems and `{"record_type":"state"}` markers;
//! * the TypeScript CLI's single JSON document `{session, items}`.
//!
//! The same words appear twice: as a `response_item` message (what the model
//! saw) and as an `event_msg` `user_message`/`agent_message` (what the UI
//! showed). Builds around 0.128 persisted the user's turn only as an
//! `event_msg`, later ones as both, so an event message is kept only when no
//! response item in the file has the same text.
//!
//! A tool result is what the model saw, and Codex truncates long command
//! output for the model. The command's own output is kept in an event: an
//! `item_completed` CommandExecution item (0.171+, where shell commands run
//! inside the `exec` custom tool, several per call) or the older
//! `exec_command_end`, each with an `aggregated_output` (capped at 64 KiB by
//! Codex, still more than the model saw). The rule: a tool result's text is
//! the model-visible text followed, for each of its commands whose output the
//! text does not already contain, by a line `$ <command>` and that output, in
//! the order the commands completed. A command belongs to the call its event
//! names (`call_id`, or an item id that is a call id); otherwise to the first
//! output, in the same turn, of a call made before the command completed.
//! Command events with no output or that belong to no result (an interrupted
//! turn) are counted as skipped, like the other events that are not kept.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::json::{self, Line, LineUids, str_at};
use crate::output::{self, Output};
use crate::{
    Agent, ImportError, Message, Parsed, Role, SourceHints, detect, is_injected_text, time,
};

pub(crate) fn parse(bytes: &[u8], hints: &SourceHints<'_>) -> Result<Parsed, ImportError> {
    let mut reader = Reader::new(hints);
    let mut out = Output::new(Agent::Codex);
    if is_typescript_document(bytes) {
        reader.typescript_document(&mut out, bytes)?;
    } else {
        out.read_jsonl(bytes, |out, line, index, value| {
            reader.line(out, line, index, &value)
        })?;
    }
    reader.finish(&mut out);
    Ok(out.finish())
}

/// Where a message came from, for the duplicate rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Item,
    Event,
}

/// A message read but not yet handed to `Output`: the session id is only
/// final once `session_meta` has been read, and event duplicates only known
/// at the end of the file.
struct Pending {
    source: Source,
    message: Message,
    is_call: bool,
}

struct Reader {
    session: String,
    project: Option<String>,
    parent: Option<String>,
    first_at: Option<i64>,
    last_at: Option<i64>,
    seen_meta: bool,
    line_uids: LineUids,
    pending: Vec<Pending>,
    /// Texts of `response_item` user and assistant messages.
    item_texts: HashSet<(Role, String)>,
    /// Where in `pending` each tool call is, by call id.
    calls: HashMap<String, usize>,
    /// Where in `pending` each tool result is, by call id, for command
    /// events that name their call and come after its result.
    outputs: HashMap<String, usize>,
    /// Commands of this turn not yet joined to a tool result.
    commands: Vec<Command>,
}

/// A command Codex ran for a tool call, with the output it kept.
struct Command {
    /// `pending.len()` when it completed: it comes after every message
    /// read before it.
    at: usize,
    /// The call id its event names, or its own item id.
    link: Option<String>,
    command: String,
    output: String,
}

/// Where the message being read sits, for its uid and time.
struct Place {
    uid_prefix: String,
    at: Option<i64>,
    next_index: usize,
}

impl Place {
    fn uid(&mut self) -> String {
        let uid = json::line_uid(&self.uid_prefix, self.next_index);
        self.next_index += 1;
        uid
    }
}

impl Reader {
    fn new(hints: &SourceHints<'_>) -> Reader {
        let session = hints.path.and_then(output::file_stem).map_or_else(
            || "unknown".to_owned(),
            |stem| session_id_from_file_name(stem).to_owned(),
        );
        Reader {
            session,
            project: None,
            parent: None,
            first_at: None,
            last_at: None,
            seen_meta: false,
            line_uids: LineUids::default(),
            pending: Vec::new(),
            item_texts: HashSet::new(),
            calls: HashMap::new(),
            outputs: HashMap::new(),
            commands: Vec::new(),
        }
    }

    /// One record of a JSONL rollout, of whichever generation.
    fn line(&mut self, out: &mut Output, line: Line<'_>, index: usize, value: &Value) {
        let prefix = self.line_uids.line(line.bytes);
        let uid_prefix = if index == 0 {
            prefix
        } else {
            format!("{prefix}/{index}")
        };
        let at = value.get("timestamp").and_then(time::value_to_millis);
        let mut place = Place {
            uid_prefix,
            at,
            next_index: 0,
        };
        let payload = value.get("payload");
        match (str_at(value, "type"), payload) {
            (Some(kind), Some(payload)) => self.envelope(out, kind, payload, &mut place),
            _ if value.get("record_type").is_some() => out.skip(),
            (None, None) if value.get("id").is_some() && value.get("timestamp").is_some() => {
                self.meta(value);
            }
            (Some(_), None) => self.item(out, value, &mut place),
            _ => out.skip(),
        }
        self.saw_time(at);
    }

    fn envelope(&mut self, out: &mut Output, kind: &str, payload: &Value, place: &mut Place) {
        match kind {
            "session_meta" => self.meta(payload),
            "response_item" => self.item(out, payload, place),
            "event_msg" => self.event(out, payload, place),
            "turn_context" => {
                self.remember_project(str_at(payload, "cwd"));
                out.skip();
            }
            "compacted" => {
                match str_at(payload, "message").filter(|text| !text.trim().is_empty()) {
                    Some(text) => self.push(place, Role::System, text.to_owned(), true),
                    None => out.skip(),
                }
            }
            _ => out.skip(),
        }
    }

    /// `session_meta` (or the bare first line of early rollouts): the first one
    /// names the session; later ones (a resumed or forked history) add nothing.
    fn meta(&mut self, meta: &Value) {
        if self.seen_meta {
            return;
        }
        self.seen_meta = true;
        if let Some(id) = str_at(meta, "id")
            .or_else(|| str_at(meta, "session_id"))
            .filter(|id| !id.is_empty())
        {
            self.session = id.to_owned();
        }
        self.remember_project(str_at(meta, "cwd"));
        self.parent = subagent_parent(meta);
        self.saw_time(meta.get("timestamp").and_then(time::value_to_millis));
    }

    fn saw_time(&mut self, at: Option<i64>) {
        let Some(at) = at else { return };
        self.first_at = Some(self.first_at.map_or(at, |first| first.min(at)));
        self.last_at = Some(self.last_at.map_or(at, |last| last.max(at)));
    }

    fn remember_project(&mut self, cwd: Option<&str>) {
        if self.project.is_none() {
            self.project = cwd.filter(|cwd| !cwd.is_empty()).map(str::to_owned);
        }
    }

    /// A ResponseItem: what the model saw and did.
    fn item(&mut self, out: &mut Output, item: &Value, place: &mut Place) {
        match str_at(item, "type").unwrap_or_default() {
            "message" => self.item_message(out, item, place),
            "reasoning" => match reasoning_text(item) {
                Some(text) => self.push(place, Role::Assistant, text, false),
                None => out.skip(),
            },
            "function_call" => {
                let arguments = str_at(item, "arguments")
                    .map(json::compact_json_text)
                    .unwrap_or_default();
                self.call(
                    place,
                    item,
                    str_at(item, "name").unwrap_or("function"),
                    &arguments,
                );
            }
            "custom_tool_call" => {
                let input = str_at(item, "input").unwrap_or_default().to_owned();
                self.call(
                    place,
                    item,
                    str_at(item, "name").unwrap_or("custom_tool"),
                    &input,
                );
            }
            "local_shell_call" => {
                let action = item.get("action").map(json::compact).unwrap_or_default();
                self.call(place, item, "local_shell", &action);
            }
            "web_search_call" => {
                let action = item.get("action").map(json::compact).unwrap_or_default();
                self.call(place, item, "web_search", &action);
            }
            "function_call_output" | "custom_tool_call_output" => self.output(item, place),
            // ghost snapshots, compaction blobs, tool search, image generation
            // and whatever comes next.
            _ => out.skip(),
        }
    }

    fn item_message(&mut self, out: &mut Output, item: &Value, place: &mut Place) {
        let text = content_text(item.get("content"));
        if text.trim().is_empty() {
            out.skip();
            return;
        }
        let (role, injected) = match str_at(item, "role").unwrap_or_default() {
            "user" => (Role::User, is_injected_text(&text)),
            "assistant" => (Role::Assistant, false),
            // developer and system messages are instructions, never the human.
            _ => (Role::System, true),
        };
        if matches!(role, Role::User | Role::Assistant) {
            self.item_texts.insert((role, text.trim().to_owned()));
        }
        self.push(place, role, text, injected);
    }

    fn call(&mut self, place: &mut Place, item: &Value, name: &str, arguments: &str) {
        let mut message = self.message(
            place,
            Role::Assistant,
            json::call_text(name, arguments),
            false,
        );
        message.tool = Some(name.to_owned());
        message.call_id = str_at(item, "call_id")
            .or_else(|| str_at(item, "id"))
            .map(str::to_owned);
        if let Some(call_id) = &message.call_id {
            self.calls.insert(call_id.clone(), self.pending.len());
        }
        self.pending.push(Pending {
            source: Source::Item,
            message,
            is_call: true,
        });
    }

    /// A tool result: what the model saw, plus the output of the commands
    /// that ran for its call (see the module notes).
    fn output(&mut self, item: &Value, place: &mut Place) {
        let mut message = self.message(place, Role::Tool, output_text(item.get("output")), false);
        message.call_id = str_at(item, "call_id").map(str::to_owned);
        let call_at = message
            .call_id
            .as_ref()
            .and_then(|call_id| self.calls.get(call_id))
            .copied();
        let (mine, others): (Vec<Command>, Vec<Command>) = std::mem::take(&mut self.commands)
            .into_iter()
            .partition(|command| self.belongs(command, message.call_id.as_deref(), call_at));
        self.commands = others;
        for command in &mine {
            append_command(&mut message.text, command);
        }
        if let Some(call_id) = &message.call_id {
            self.outputs.insert(call_id.clone(), self.pending.len());
        }
        self.pending.push(Pending {
            source: Source::Item,
            message,
            is_call: false,
        });
    }

    /// Whether a command ran for the call whose result is being read: the
    /// call its event names, else (an event naming no known call) any call
    /// made before the command completed.
    fn belongs(&self, command: &Command, call_id: Option<&str>, call_at: Option<usize>) -> bool {
        match &command.link {
            Some(link) if self.calls.contains_key(link) => Some(link.as_str()) == call_id,
            _ => call_at.is_some_and(|at| at < command.at),
        }
    }

    /// A command event: joined at once to the result of the call it names
    /// when that result was already read, else kept for the next result.
    fn command(&mut self, out: &mut Output, command: Option<Command>) {
        let Some(command) = command.filter(|command| !command.output.trim().is_empty()) else {
            out.skip();
            return;
        };
        let written = command
            .link
            .as_ref()
            .and_then(|link| self.outputs.get(link))
            .and_then(|&at| self.pending.get_mut(at));
        match written {
            Some(result) => append_command(&mut result.message.text, &command),
            None => self.commands.push(command),
        }
    }

    /// Commands whose result never came (an interrupted turn) are skipped.
    fn drop_commands(&mut self, out: &mut Output) {
        for _ in self.commands.drain(..) {
            out.skip();
        }
    }

    /// `event_msg`: the user's and the agent's words are kept (and later
    /// dropped again when a response item has the same text), command outputs
    /// are joined to their tool result, the rest is skipped.
    fn event(&mut self, out: &mut Output, payload: &Value, place: &mut Place) {
        let role = match str_at(payload, "type") {
            Some("user_message") => Role::User,
            Some("agent_message") => Role::Assistant,
            Some("item_completed") => {
                let command = command_execution(payload.get("item"), self.pending.len());
                self.command(out, command);
                return;
            }
            Some("exec_command_end") => {
                let command = command_end(payload, self.pending.len());
                self.command(out, command);
                return;
            }
            Some(kind) => {
                if matches!(kind, "task_started" | "turn_started") {
                    self.drop_commands(out);
                }
                out.skip();
                return;
            }
            None => {
                out.skip();
                return;
            }
        };
        let mut text = str_at(payload, "message").unwrap_or_default().to_owned();
        let images = payload
            .get("images")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        for _ in 0..images {
            text.push_str("\n[image]");
        }
        if text.trim().is_empty() {
            out.skip();
            return;
        }
        let injected = role == Role::User && is_injected_text(&text);
        let message = self.message(place, role, text, injected);
        self.pending.push(Pending {
            source: Source::Event,
            message,
            is_call: false,
        });
    }

    fn message(&self, place: &mut Place, role: Role, text: String, injected: bool) -> Message {
        Message {
            session: self.session.clone(),
            uid: place.uid(),
            role,
            tool: None,
            call_id: None,
            at: place.at,
            text,
            injected,
        }
    }

    fn push(&mut self, place: &mut Place, role: Role, text: String, injected: bool) {
        let message = self.message(place, role, text, injected);
        self.pending.push(Pending {
            source: Source::Item,
            message,
            is_call: false,
        });
    }

    /// The TypeScript CLI's `{session:{timestamp,id,instructions}, items:[…]}`,
    /// rewritten whole every few seconds: a torn document is a failed import.
    fn typescript_document(&mut self, out: &mut Output, bytes: &[u8]) -> Result<(), ImportError> {
        let document = json::read_document(bytes).map_err(|error| {
            ImportError::NotASession(format!("codex session document is not valid json: {error}"))
        })?;
        if let Some(session) = document.get("session") {
            self.meta(session);
        }
        let items = document
            .get("items")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut uids = LineUids::default();
        for item in items {
            // Items carry an `id` in this generation; otherwise their JSON is
            // hashed like a line.
            let uid_prefix = match str_at(item, "id") {
                Some(id) if !id.is_empty() => id.to_owned(),
                _ => uids.line(json::compact(item).as_bytes()),
            };
            let mut place = Place {
                uid_prefix,
                at: None,
                next_index: 0,
            };
            self.item(out, item, &mut place);
        }
        Ok(())
    }

    /// Drops event duplicates, then hands the messages over under the
    /// session id `session_meta` gave.
    fn finish(&mut self, out: &mut Output) {
        self.drop_commands(out);
        if self.project.is_none() {
            self.project = self
                .pending
                .iter()
                .find_map(|pending| environment_cwd(&pending.message.text));
        }
        let title = self
            .pending
            .iter()
            .map(|pending| &pending.message)
            .find(|message| {
                message.role == Role::User && !message.injected && !message.text.trim().is_empty()
            })
            .and_then(|message| output::title_from(prompt_of(&message.text)));
        let session = out.session(&self.session);
        session.project = self.project.take();
        session.parent = self.parent.take();
        session.title = title;
        out.touch(&self.session, self.first_at);
        out.touch(&self.session, self.last_at);
        for Pending {
            source,
            mut message,
            is_call,
        } in std::mem::take(&mut self.pending)
        {
            let duplicate = source == Source::Event
                && self
                    .item_texts
                    .contains(&(message.role, message.text.trim().to_owned()));
            message.session.clone_from(&self.session);
            match (duplicate, is_call) {
                (true, _) => out.skip(),
                (false, true) => out.push_call(message),
                (false, false) => out.push(message),
            }
        }
    }
}

/// The TypeScript CLI wrote one JSON object with `session` and `items`; every
/// later generation is JSONL, whose first record has neither.
fn is_typescript_document(bytes: &[u8]) -> bool {
    let keys = detect::top_level_keys(bytes.trim_ascii_start());
    keys.iter().any(|key| key == "session") && keys.iter().any(|key| key == "items")
}

fn session_id_from_file_name(stem: &str) -> &str {
    // rollout-YYYY-MM-DDThh-mm-ss-<uuid>[_<rollout uuid>]: the uuid is 36 characters.
    let stem = stem.split('_').next().unwrap_or(stem);
    stem.char_indices()
        .rev()
        .nth(35)
        .and_then(|(at, _)| stem.get(at..))
        .filter(|tail| tail.len() == 36 && tail.chars().filter(|&c| c == '-').count() == 4)
        .unwrap_or(stem)
}

/// A subagent's parent thread: `source.subagent.thread_spawn.parent_thread_id`
/// (or a top-level `parent_thread_id` in newer builds).
fn subagent_parent(meta: &Value) -> Option<String> {
    let spawn = meta.get("source")?.get("subagent");
    let nested = spawn
        .and_then(|spawn| spawn.get("thread_spawn"))
        .and_then(|spawn| str_at(spawn, "parent_thread_id"));
    nested
        .or_else(|| str_at(meta, "parent_thread_id"))
        .map(str::to_owned)
}

/// What the human asked: Codex Desktop and the IDE extensions prefix the
/// prompt with the files in view, then `## My request for Codex:`.
fn prompt_of(text: &str) -> &str {
    const REQUEST: &str = "## My request for Codex:";
    text.find(REQUEST)
        .and_then(|at| text.get(at + REQUEST.len()..))
        .unwrap_or(text)
}

/// An `item_completed` event's CommandExecution item (other items, such as
/// UserMessage and AgentMessage, repeat what response items hold: None).
fn command_execution(item: Option<&Value>, at: usize) -> Option<Command> {
    let item = item?;
    let kind = str_at(item, "type")?;
    if !kind.eq_ignore_ascii_case("CommandExecution") && kind != "command_execution" {
        return None;
    }
    let output = str_at(item, "aggregated_output").or_else(|| str_at(item, "aggregatedOutput"))?;
    Some(Command {
        at,
        link: str_at(item, "call_id")
            .or_else(|| str_at(item, "id"))
            .map(str::to_owned),
        command: command_line(item.get("command")),
        output: output.to_owned(),
    })
}

/// An older `exec_command_end` event: `aggregated_output`, else the output
/// formatted for the model, else stdout and stderr.
fn command_end(payload: &Value, at: usize) -> Option<Command> {
    let output = match str_at(payload, "aggregated_output")
        .or_else(|| str_at(payload, "formatted_output"))
    {
        Some(output) => output.to_owned(),
        None => [str_at(payload, "stdout"), str_at(payload, "stderr")]
            .into_iter()
            .flatten()
            .filter(|text| !text.is_empty())
            .collect::<Vec<_>>()
            .join("\n"),
    };
    Some(Command {
        at,
        link: str_at(payload, "call_id").map(str::to_owned),
        command: command_line(payload.get("command")),
        output,
    })
}

/// A command as typed: the script of a `[shell, -lc, script]` wrapper, else
/// the words joined.
fn command_line(command: Option<&Value>) -> String {
    match command {
        Some(Value::String(line)) => line.clone(),
        Some(Value::Array(words)) => {
            let words: Vec<&str> = words.iter().filter_map(Value::as_str).collect();
            match words.as_slice() {
                [_, "-lc" | "-c" | "-Command", script] => (*script).to_owned(),
                _ => words.join(" "),
            }
        }
        _ => String::new(),
    }
}

/// Adds `$ <command>` and its output to a tool result, unless the result
/// already holds that output (small outputs are shown to the model whole).
fn append_command(text: &mut String, command: &Command) {
    let output = command.output.trim_end();
    if output.trim().is_empty() || text.contains(output.trim_start()) {
        return;
    }
    if !text.is_empty() {
        text.push_str(if text.ends_with('\n') { "\n" } else { "\n\n" });
    }
    text.push_str("$ ");
    text.push_str(&command.command);
    text.push('\n');
    text.push_str(output);
}

/// Message content parts: texts joined with newlines, images as placeholders.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => {
            let texts: Vec<String> = parts.iter().filter_map(part_text).collect();
            texts.join("\n")
        }
        _ => String::new(),
    }
}

fn part_text(part: &Value) -> Option<String> {
    match str_at(part, "type").unwrap_or_default() {
        "input_text" | "output_text" | "text" | "summary_text" | "reasoning_text" => {
            str_at(part, "text").map(str::to_owned)
        }
        "input_image" | "image" => Some("[image]".to_owned()),
        "input_file" => Some("[file]".to_owned()),
        _ => None,
    }
}

/// A reasoning item's readable text (summary, then raw content); usually it
/// has none, only `encrypted_content`.
fn reasoning_text(item: &Value) -> Option<String> {
    let summary = content_text(item.get("summary"));
    let content = content_text(item.get("content"));
    let text = [summary, content]
        .into_iter()
        .filter(|text| !text.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    (!text.is_empty()).then_some(text)
}

/// A tool output: a string (older shell outputs wrap it in a JSON string
/// `{"output":…,"metadata":…}`), or content parts.
fn output_text(output: Option<&Value>) -> String {
    match output {
        Some(Value::String(text)) => unwrap_legacy_output(text).unwrap_or_else(|| text.clone()),
        Some(Value::Array(_)) => content_text(output),
        Some(Value::Object(object)) => match object.get("content") {
            Some(Value::String(text)) => text.clone(),
            Some(content @ Value::Array(_)) => content_text(Some(content)),
            _ => json::compact(&Value::Object(object.clone())),
        },
        Some(Value::Null) | None => String::new(),
        Some(other) => json::compact(other),
    }
}

fn unwrap_legacy_output(text: &str) -> Option<String> {
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let value: Value = serde_json::from_str(text).ok()?;
    value.get("metadata")?;
    str_at(&value, "output").map(str::to_owned)
}

/// The `<cwd>` of an `<environment_context>` message: the project of rollouts
/// that predate `session_meta.cwd`.
fn environment_cwd(text: &str) -> Option<String> {
    let context = text.trim_start().strip_prefix("<environment_context>")?;
    let start = context.find("<cwd>")? + "<cwd>".len();
    let rest = context.get(start..)?;
    let cwd = rest.get(..rest.find("</cwd>")?)?.trim();
    (!cwd.is_empty()).then(|| cwd.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_come_from_rollout_names() {
        let check = |stem, expect| assert_eq!(session_id_from_file_name(stem), expect, "{stem}");
        check(
            "rollout-2026-05-11T13-28-45-019e1695-0522-7c83-8b39-0dd379793f80",
            "019e1695-0522-7c83-8b39-0dd379793f80",
        );
        check(
            "rollout-2026-05-11T13-28-45-019e1695-0522-7c83-8b39-0dd379793f80_019e1695-0522-7c83-8b39-0dd379793f81",
            "019e1695-0522-7c83-8b39-0dd379793f80",
        );
        check("turn-1", "turn-1");
        check("", "");
    }

    #[test]
    fn legacy_outputs_are_unwrapped() {
        let wrapped = serde_json::json!(r#"{"output":"hello\n","metadata":{"exit_code":0}}"#);
        assert_eq!(output_text(Some(&wrapped)), "hello\n");
        let plain = serde_json::json!("{not json");
        assert_eq!(output_text(Some(&plain)), "{not json");
        let parts = serde_json::json!([{"type":"input_text","text":"a"},{"type":"input_image","image_url":"x"}]);
        assert_eq!(output_text(Some(&parts)), "a\n[image]");
    }

    #[test]
    fn command_lines_show_the_script_of_a_shell_wrapper() {
        let check = |command: Value, expected: &str| {
            assert_eq!(command_line(Some(&command)), expected, "{command}");
        };
        check(
            serde_json::json!(["/bin/bash", "-lc", "seq 1 3"]),
            "seq 1 3",
        );
        check(serde_json::json!(["zsh", "-c", "ls -la"]), "ls -la");
        check(serde_json::json!(["git", "status"]), "git status");
        check(serde_json::json!("cargo test"), "cargo test");
        check(serde_json::json!({"cmd": "x"}), "");
    }

    #[test]
    fn command_output_is_added_only_when_the_result_lacks_it() {
        let check = |text: &str, output: &str, expected: &str| {
            let mut text = text.to_owned();
            let command = Command {
                at: 0,
                link: None,
                command: "run".to_owned(),
                output: output.to_owned(),
            };
            append_command(&mut text, &command);
            assert_eq!(text, expected, "{output:?}");
        };
        check("Output:\nhi\n", "hi\n", "Output:\nhi\n");
        check("Output:\nhi\n", "  \n", "Output:\nhi\n");
        check(
            "Output:\n1\n…\n9",
            "1\n5\n9\n",
            "Output:\n1\n…\n9\n\n$ run\n1\n5\n9",
        );
        check("cut\n", "full\n", "cut\n\n$ run\nfull");
        check("", "full", "$ run\nfull");
    }

    #[test]
    fn environment_context_names_the_cwd() {
        let text = "<environment_context>\n  <cwd>/home/me/p</cwd>\n</environment_context>";
        assert_eq!(environment_cwd(text), Some("/home/me/p".to_owned()));
        assert_eq!(environment_cwd("<cwd>/x</cwd>"), None);
    }
}
