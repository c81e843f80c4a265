//! What every format parser fills in: sessions (in order of first appearance),
//! messages, counters and line errors, and the finishing touches they share
//! (tool names of results found through `call_id`, fallback titles, duplicate
//! uids dropped).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::json::{self, Line};
use crate::{Agent, ImportError, LineError, MAX_LISTED_ERRORS, Message, Parsed, Role, Session};

/// The longest title made from a prompt, in characters.
const TITLE_CHARS: usize = 120;

#[derive(Debug)]
pub(crate) struct Output {
    agent: Agent,
    sessions: Vec<Session>,
    session_index: HashMap<String, usize>,
    messages: Vec<Message>,
    tool_calls: u64,
    skipped: u64,
    errors: Vec<LineError>,
    unlisted_errors: u64,
}

impl Output {
    pub(crate) fn new(agent: Agent) -> Output {
        Output {
            agent,
            sessions: Vec::new(),
            session_index: HashMap::new(),
            messages: Vec::new(),
            tool_calls: 0,
            skipped: 0,
            errors: Vec::new(),
            unlisted_errors: 0,
        }
    }

    /// The session with this id, created on first use.
    pub(crate) fn session(&mut self, id: &str) -> &mut Session {
        let agent = self.agent;
        let sessions = &mut self.sessions;
        let index = *self.session_index.entry(id.to_owned()).or_insert_with(|| {
            sessions.push(Session {
                id: id.to_owned(),
                agent,
                project: None,
                title: None,
                parent: None,
                started_at: None,
                updated_at: None,
            });
            sessions.len() - 1
        });
        // Every index in `session_index` was taken from a push just above.
        &mut self.sessions[index]
    }

    /// Widens the session's time span to include `at`.
    pub(crate) fn touch(&mut self, session: &str, at: Option<i64>) {
        let Some(at) = at else { return };
        let session = self.session(session);
        session.started_at = Some(session.started_at.map_or(at, |start| start.min(at)));
        session.updated_at = Some(session.updated_at.map_or(at, |end| end.max(at)));
    }

    pub(crate) fn push(&mut self, message: Message) {
        self.touch(&message.session, message.at);
        self.messages.push(message);
    }

    /// Pushes a tool call message and counts it.
    pub(crate) fn push_call(&mut self, message: Message) {
        self.tool_calls += 1;
        self.push(message);
    }

    pub(crate) fn skip(&mut self) {
        self.skipped += 1;
    }

    pub(crate) fn error(&mut self, line: u64, message: impl Into<String>) {
        if self.errors.len() < MAX_LISTED_ERRORS {
            self.errors.push(LineError {
                line,
                message: message.into(),
            });
        } else {
            self.unlisted_errors += 1;
        }
    }

    /// Calls `record` with every JSON object of a JSONL file, with its line
    /// and its position within the line (a torn line can hold two), and
    /// records the errors of the lines that do not parse. A file in which no
    /// line holds a JSON object is not a session file at all.
    pub(crate) fn read_jsonl(
        &mut self,
        bytes: &[u8],
        mut record: impl FnMut(&mut Output, Line<'_>, usize, Value),
    ) -> Result<(), ImportError> {
        let mut objects = 0_u64;
        let mut first_error = None;
        for line in json::lines(bytes) {
            let records = json::read_line(line.bytes);
            if let Some(error) = records.error {
                first_error.get_or_insert_with(|| format!("line {}: {error}", line.number));
                self.error(line.number, error);
            }
            for (index, value) in records.values.into_iter().enumerate() {
                if value.is_object() {
                    objects += 1;
                    record(self, line, index, value);
                } else {
                    self.error(line.number, "not a json object");
                }
            }
        }
        if objects == 0 {
            let why = first_error.unwrap_or_else(|| "no line holds a json object".to_owned());
            return Err(ImportError::NotASession(why));
        }
        Ok(())
    }

    /// Removes messages the predicate rejects, counting each as skipped.
    pub(crate) fn retain_messages(&mut self, mut keep: impl FnMut(&Message) -> bool) {
        let before = self.messages.len();
        self.messages.retain(|message| keep(message));
        self.skipped += (before - self.messages.len()) as u64;
    }

    pub(crate) fn finish(mut self) -> Parsed {
        self.name_tool_results();
        self.drop_duplicate_uids();
        self.title_from_first_prompts();
        if self.unlisted_errors > 0 {
            let message = format!("{} more corrupt lines not listed", self.unlisted_errors);
            self.errors.push(LineError { line: 0, message });
        }
        Parsed {
            agent: self.agent,
            sessions: self.sessions,
            messages: self.messages,
            tool_calls: self.tool_calls,
            skipped: self.skipped,
            errors: self.errors,
        }
    }

    /// Tool results name their tool through the call they answer, which may
    /// come later in the file (or not at all).
    fn name_tool_results(&mut self) {
        let names: HashMap<String, String> = self
            .messages
            .iter()
            .filter(|message| message.role == Role::Assistant)
            .filter_map(|message| Some((message.call_id.clone()?, message.tool.clone()?)))
            .collect();
        for message in &mut self.messages {
            if message.role == Role::Tool && message.tool.is_none() {
                message.tool = message
                    .call_id
                    .as_ref()
                    .and_then(|id| names.get(id))
                    .cloned();
            }
        }
    }

    /// A record written twice (Claude re-writes, copied history) must not
    /// yield two messages with one uid.
    fn drop_duplicate_uids(&mut self) {
        let mut seen = HashSet::new();
        self.retain_messages(|message| seen.insert((message.session.clone(), message.uid.clone())));
    }

    fn title_from_first_prompts(&mut self) {
        let mut prompts: HashMap<&str, &str> = HashMap::new();
        for message in &self.messages {
            if message.role == Role::User && !message.injected && !message.text.trim().is_empty() {
                prompts
                    .entry(message.session.as_str())
                    .or_insert(message.text.as_str());
            }
        }
        for session in &mut self.sessions {
            if session.title.is_none() {
                session.title = prompts
                    .get(session.id.as_str())
                    .and_then(|text| title_from(text));
            }
        }
    }
}

/// A session file's name without its extensions (`.jsonl`, `.json`, `.zst`).
pub(crate) fn file_stem(path: &std::path::Path) -> Option<&str> {
    let mut name = path.file_name()?.to_str()?;
    for extension in [".zst", ".jsonl", ".json"] {
        name = name.strip_suffix(extension).unwrap_or(name);
    }
    (!name.is_empty()).then_some(name)
}

/// A title from free text: whitespace runs collapsed, cut to 120 characters.
pub(crate) fn title_from(text: &str) -> Option<String> {
    let title: String = text
        .split_whitespace()
        .flat_map(|word| std::iter::once(' ').chain(word.chars()))
        .skip(1)
        .take(TITLE_CHARS)
        .collect();
    (!title.is_empty()).then_some(title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_collapsed_and_cut() {
        assert_eq!(
            title_from("  fix\n\n the   bug "),
            Some("fix the bug".to_owned())
        );
        assert_eq!(title_from(" \n "), None);
        let long = "é".repeat(300);
        assert_eq!(
            title_from(&long).map(|title| title.chars().count()),
            Some(120)
        );
    }
}
