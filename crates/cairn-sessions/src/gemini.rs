//! Gemini CLI sessions: `~/.gemini/tmp/<projectId>/chats/session-*.json` (one
//! JSON `ConversationRecord`, rewritten whole, v0.4–v0.38) and `.jsonl`
//! (v0.39+, appended), subagents in `chats/<parentSessionId>/<sessionId>.jsonl`.
//!
//! The JSONL log is replayed the way the CLI loads it: a metadata line; message
//! lines where an `id` seen before replaces the earlier copy *in its place*
//! (the CLI re-appends a message whenever it changes); `{"$set":{…}}` updating
//! metadata, whose `messages`, when present, replaces the whole list; and
//! `{"$rewindTo": id}` deleting that message and all after it (an unknown id
//! deletes everything). The legacy JSON document is the same thing in one
//! record, so both generations share this replay.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::{Map, Value};

use crate::json::{self, LineUids, str_at};
use crate::output::{self, Output};
use crate::{Agent, ImportError, Message, Parsed, Role, SourceHints, is_injected_text, time};

pub(crate) fn parse(bytes: &[u8], hints: &SourceHints<'_>) -> Result<Parsed, ImportError> {
    let mut log = Log::default();
    let mut out = Output::new(Agent::Gemini);
    match json::read_document(bytes) {
        Ok(document @ Value::Object(_)) => log.apply(&mut out, document),
        Ok(_) => {
            return Err(ImportError::NotASession(
                "gemini session is not a json object".to_owned(),
            ));
        }
        // The legacy document is pretty-printed: a first line of just `{` that
        // does not parse as a whole is a torn rewrite, not JSONL.
        Err(error) if first_line_opens_document(bytes) => {
            return Err(ImportError::NotASession(format!(
                "gemini session document is not valid json: {error}"
            )));
        }
        Err(_) => out.read_jsonl(bytes, |out, _line, _index, value| log.apply(out, value))?,
    }
    log.emit(&mut out, hints);
    Ok(out.finish())
}

fn first_line_opens_document(bytes: &[u8]) -> bool {
    let first = bytes
        .trim_ascii_start()
        .split(|&byte| byte == b'\n')
        .next()
        .unwrap_or_default();
    first.trim_ascii() == b"{"
}

/// Session metadata, the latest value of each field winning.
#[derive(Debug, Default)]
struct Meta {
    session_id: Option<String>,
    start_time: Option<i64>,
    last_updated: Option<i64>,
    summary: Option<String>,
    kind: Option<String>,
}

/// The replayed state of a session: metadata and the message list.
#[derive(Debug, Default)]
struct Log {
    meta: Meta,
    /// In order of first appearance.
    messages: Vec<Value>,
    positions: HashMap<String, usize>,
    /// Each tool call's full output (`resultDisplay`), by call id, from every
    /// record read: a resumed session rewrites its history (`$set
    /// messages`) with the calls as content parts and their results as the
    /// model saw them, and the full output survives only in the records
    /// before.
    full_outputs: HashMap<String, String>,
}

impl Log {
    /// One record: metadata (or a whole legacy document), a message, `$set`
    /// or `$rewindTo`.
    fn apply(&mut self, out: &mut Output, mut record: Value) {
        let Some(object) = record.as_object_mut() else {
            out.skip();
            return;
        };
        if let Some(set) = object.remove("$set") {
            match set {
                Value::Object(set) => self.update(out, set),
                _ => out.skip(),
            }
        } else if let Some(target) = object.get("$rewindTo") {
            self.rewind(target.as_str());
        } else if object.get("id").is_some_and(Value::is_string) && object.contains_key("type") {
            self.upsert(record);
        } else if object.contains_key("sessionId") || object.contains_key("messages") {
            let metadata = std::mem::take(object);
            self.update(out, metadata);
        } else {
            out.skip();
        }
    }

    fn update(&mut self, out: &mut Output, mut fields: Map<String, Value>) {
        let text = |fields: &Map<String, Value>, key: &str| {
            fields
                .get(key)
                .and_then(Value::as_str)
                .filter(|text| !text.is_empty())
                .map(str::to_owned)
        };
        let meta = &mut self.meta;
        meta.session_id = text(&fields, "sessionId").or(meta.session_id.take());
        meta.summary = text(&fields, "summary").or(meta.summary.take());
        meta.kind = text(&fields, "kind").or(meta.kind.take());
        meta.start_time = fields
            .get("startTime")
            .and_then(time::value_to_millis)
            .or(meta.start_time);
        meta.last_updated = fields
            .get("lastUpdated")
            .and_then(time::value_to_millis)
            .or(meta.last_updated);
        if let Some(messages) = fields.remove("messages") {
            self.messages.clear();
            self.positions.clear();
            match messages {
                Value::Array(messages) => {
                    for message in messages {
                        if message.get("id").is_some() {
                            self.upsert(message);
                        } else {
                            out.skip();
                        }
                    }
                }
                _ => out.skip(),
            }
        }
    }

    /// A message: new ids are appended, known ones replaced where they stand.
    fn upsert(&mut self, message: Value) {
        self.remember_outputs(&message);
        let id = str_at(&message, "id").unwrap_or_default().to_owned();
        match self
            .positions
            .get(&id)
            .and_then(|&at| self.messages.get_mut(at))
        {
            Some(slot) => *slot = message,
            None => {
                self.positions.insert(id, self.messages.len());
                self.messages.push(message);
            }
        }
    }

    fn remember_outputs(&mut self, message: &Value) {
        for call in message
            .get("toolCalls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(id), Some(text)) = (str_at(call, "id"), result_text(call)) {
                let longer = self
                    .full_outputs
                    .get(id)
                    .is_none_or(|known| known.len() < text.len());
                if longer {
                    self.full_outputs.insert(id.to_owned(), text);
                }
            }
        }
    }

    fn rewind(&mut self, target: Option<&str>) {
        match target.and_then(|id| self.positions.get(id)).copied() {
            Some(at) => {
                for removed in self.messages.drain(at..) {
                    if let Some(id) = str_at(&removed, "id") {
                        self.positions.remove(id);
                    }
                }
            }
            None => {
                self.messages.clear();
                self.positions.clear();
            }
        }
    }

    /// The replayed session and its messages, into `out`.
    fn emit(self, out: &mut Output, hints: &SourceHints<'_>) {
        let id = self
            .meta
            .session_id
            .clone()
            .or_else(|| hints.path.and_then(output::file_stem).map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned());
        let session = out.session(&id);
        session.project = hints
            .project_root
            .filter(|root| !root.is_empty())
            .map(str::to_owned);
        session.parent = subagent_parent(hints.path, self.meta.kind.as_deref());
        session.title = self.meta.summary.as_deref().and_then(output::title_from);
        out.touch(&id, self.meta.start_time);
        out.touch(&id, self.meta.last_updated);
        let mut uids = LineUids::default();
        let mut calls = Calls {
            full_outputs: &self.full_outputs,
            answered: HashSet::new(),
            owners: HashMap::new(),
        };
        for message in &self.messages {
            let uid = match str_at(message, "id") {
                Some(own) if !own.is_empty() => own.to_owned(),
                _ => json::line_uid(&uids.line(json::compact(message).as_bytes()), 0),
            };
            emit_message(out, &id, uid, message, &mut calls);
        }
    }
}

/// A subagent chat lives in `chats/<parentSessionId>/<sessionId>.jsonl`.
fn subagent_parent(path: Option<&Path>, kind: Option<&str>) -> Option<String> {
    let folder = path?.parent()?;
    let folder_name = folder.file_name()?.to_str()?;
    let in_parent_folder = folder.parent()?.file_name()?.to_str()? == "chats";
    (in_parent_folder && (kind == Some("subagent") || kind.is_none()))
        .then(|| folder_name.to_owned())
}

/// What the messages emitted so far tell of tool calls: their full outputs
/// (see [`Log::full_outputs`]) and which already have their result.
struct Calls<'a> {
    full_outputs: &'a HashMap<String, String>,
    answered: HashSet<String>,
    /// The uid of the message that made each call: its result's uid is the
    /// same whichever form brought it (a result record, or parts after a
    /// resume), so importing the file again replaces rather than repeats.
    owners: HashMap<String, String>,
}

fn emit_message(
    out: &mut Output,
    session: &str,
    uid: String,
    record: &Value,
    calls: &mut Calls<'_>,
) {
    let at = record.get("timestamp").and_then(time::value_to_millis);
    let text = parts_text(record.get("content"));
    let message = Message {
        session: session.to_owned(),
        uid,
        role: Role::User,
        tool: None,
        call_id: None,
        at,
        text,
        injected: false,
    };
    match str_at(record, "type").unwrap_or_default() {
        // 0.61+ opens every session with a `<session_context>` user message
        // (date, folder listing) that the CLI wrote, not the human.
        "user" => {
            let injected = is_injected_text(&message.text);
            push_text(
                out,
                Message {
                    injected,
                    ..message.clone()
                },
            );
            // A resumed history's results, as content parts (a result the
            // call's record already gave, or sent twice, once).
            for part in content_parts(record) {
                let Some(response) = part.get("functionResponse") else {
                    continue;
                };
                let Some(call_id) = str_at(response, "id").filter(|id| !id.is_empty()) else {
                    continue;
                };
                if !calls.answered.insert(call_id.to_owned()) {
                    continue;
                }
                let text = calls
                    .full_outputs
                    .get(call_id)
                    .cloned()
                    .or_else(|| result_part_text(part))
                    .unwrap_or_default();
                let owner = calls.owners.get(call_id).unwrap_or(&message.uid);
                out.push(Message {
                    uid: format!("{owner}/{call_id}:result"),
                    role: Role::Tool,
                    tool: str_at(response, "name").map(str::to_owned),
                    call_id: Some(call_id.to_owned()),
                    text,
                    ..message.clone()
                });
            }
        }
        // `model` is not written by the recorder, but older docs name it.
        "gemini" | "model" => {
            // The text first, then the calls it made, as the CLI shows them.
            push_text(
                out,
                Message {
                    role: Role::Assistant,
                    ..message.clone()
                },
            );
            let recorded = record
                .get("toolCalls")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for (index, call) in recorded.iter().enumerate() {
                let answered = tool_call(out, &message, index, call);
                if let Some(id) = str_at(call, "id") {
                    calls.owners.insert(id.to_owned(), message.uid.clone());
                    if answered {
                        calls.answered.insert(id.to_owned());
                    }
                }
            }
            // A resumed history keeps its calls as content parts.
            if recorded.is_empty() {
                for (index, part) in content_parts(record).enumerate() {
                    if let Some(call) = part.get("functionCall") {
                        tool_call(out, &message, index, call);
                        if let Some(id) = str_at(call, "id") {
                            calls.owners.insert(id.to_owned(), message.uid.clone());
                        }
                    }
                }
            }
        }
        "info" | "warning" | "error" => push_text(
            out,
            Message {
                role: Role::System,
                injected: true,
                ..message
            },
        ),
        _ => out.skip(),
    }
}

fn push_text(out: &mut Output, message: Message) {
    if !message.text.trim().is_empty() {
        out.push(message);
    }
}

/// The parts of a record's `content`, when it is a list.
fn content_parts(record: &Value) -> impl Iterator<Item = &Value> {
    record
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Pushes a tool call and, when it finished, its result; whether it did.
fn tool_call(out: &mut Output, message: &Message, index: usize, call: &Value) -> bool {
    let name = str_at(call, "name").unwrap_or("tool").to_owned();
    let call_id = str_at(call, "id")
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    let key = call_id.clone().unwrap_or_else(|| index.to_string());
    let at = call
        .get("timestamp")
        .and_then(time::value_to_millis)
        .or(message.at);
    let arguments = call.get("args").map(json::compact).unwrap_or_default();
    out.push_call(Message {
        uid: format!("{}/{key}", message.uid),
        role: Role::Assistant,
        tool: Some(name.clone()),
        call_id: call_id.clone(),
        at,
        text: json::call_text(&name, &arguments),
        ..message.clone()
    });
    let Some(text) = result_text(call) else {
        return false;
    };
    out.push(Message {
        uid: format!("{}/{key}:result", message.uid),
        role: Role::Tool,
        tool: Some(name),
        call_id,
        at,
        text,
        ..message.clone()
    });
    true
}

/// A tool call's result: `functionResponse.response.output` (or `.error`), else
/// the display string. None when the call never finished.
///
/// The model sees long shell output cut ("Output too large. Showing first
/// 8,000 and last 32,000 characters. For full output see: …") while
/// `resultDisplay` keeps all of it, so a display string longer than what the
/// model saw is the text: search must find a word from the middle too.
fn result_text(call: &Value) -> Option<String> {
    let seen = model_result_text(call);
    match call.get("resultDisplay") {
        Some(Value::String(full)) if full.len() > seen.len() => Some(full.clone()),
        _ if !seen.is_empty() => Some(seen),
        Some(display @ Value::Object(object)) => match object.get("fileDiff") {
            Some(Value::String(diff)) => Some(diff.clone()),
            _ => Some(json::compact(display)),
        },
        _ => None,
    }
}

/// What the model saw of a tool call's result (`result`, the functionResponse
/// parts), empty when there is none.
fn model_result_text(call: &Value) -> String {
    match call.get("result") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(result_part_text)
            .collect::<Vec<_>>()
            .join("\n"),
        Some(part @ Value::Object(_)) => result_part_text(part).unwrap_or_default(),
        _ => String::new(),
    }
}

fn result_part_text(part: &Value) -> Option<String> {
    let Some(response) = part.get("functionResponse") else {
        return part_text(part);
    };
    let response = response.get("response")?;
    let value = response
        .get("output")
        .or_else(|| response.get("error"))
        .unwrap_or(response);
    Some(match value {
        Value::String(text) => text.clone(),
        other => json::compact(other),
    })
}

/// A PartListUnion: a plain string, one Part, or an array of Parts/strings.
fn parts_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(part_text)
            .collect::<Vec<_>>()
            .join("\n"),
        Some(part @ Value::Object(_)) => part_text(part).unwrap_or_default(),
        _ => String::new(),
    }
}

/// One Part's text; media become placeholders; thoughts and function
/// calls/responses (recorded in `toolCalls`) give nothing.
fn part_text(part: &Value) -> Option<String> {
    if let Value::String(text) = part {
        return Some(text.clone());
    }
    if json::is_true(part, "thought") {
        return None;
    }
    if let Some(text) = str_at(part, "text") {
        return Some(text.to_owned());
    }
    let media = |key: &str| {
        part.get(key)
            .map(|data| str_at(data, "mimeType").unwrap_or("data").to_owned())
    };
    if let Some(mime) = media("inlineData") {
        return Some(if mime.starts_with("image/") {
            "[image]".to_owned()
        } else {
            format!("[{mime}]")
        });
    }
    if let Some(file) = part.get("fileData") {
        return Some(format!(
            "[file {}]",
            str_at(file, "fileUri").unwrap_or_default()
        ));
    }
    None
}
