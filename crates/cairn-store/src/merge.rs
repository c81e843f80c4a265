//! How an import changes the messages a session holds: one plan, made here
//! from the rows read inside the import's transaction, carried out by each
//! backend with its own SQL.
//!
//! A conversation reaches Cairn twice: through the proxy while the agent
//! talks to its model, and from the agent's own session file. Both copies
//! must end up as one session with no message twice, in either order. A
//! message is recognised across the two by its *anchor*: a tool call and a
//! tool result by their call id (the agent's, the same on the wire and in
//! its file), a user or assistant text by its content hash and how many
//! times the same text came before it. Injected text has no anchor.
//!
//! - Proxied messages ([`Origin::Proxy`]) carry uids made from their anchors
//!   (`p:` + anchor), so a conversation sent again adds nothing; a message
//!   the session already holds (from either source), and every message
//!   before the last such one, is not added again.
//! - A file ([`Origin::File`]) is the agent's own, complete record: its
//!   messages are upserted by their uids as always; the proxied messages it
//!   covers (up to the last one whose anchor it holds) are removed, and the
//!   proxied ones after that (turns the file does not have yet) move after
//!   its messages. Proxied sessions of the same conversation under another
//!   id (Gemini sends no session id) are folded into the file's session.

use std::collections::{HashMap, HashSet};

use crate::{ImportOutcome, Millis, NewMessage};

/// Where an import's messages come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Origin {
    /// An agent's session file: the complete record.
    #[default]
    File,
    /// The proxy: what went to the model and what came back.
    Proxy,
}

/// The prefix of a proxied message's uid.
pub const PROXY_UID: &str = "p:";

/// A message row, held or to be inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub session: String,
    pub position: i64,
    pub uid: String,
    pub role: String,
    pub tool: Option<String>,
    pub call_id: Option<String>,
    pub at: Option<Millis>,
    pub injected: bool,
    /// Inline text, or `None` when the body is the blob `hash`.
    pub text: Option<String>,
    pub hash: Option<String>,
}

/// A body as the `text` and `hash` columns hold it.
fn columns(body: &crate::MessageBody) -> (Option<String>, Option<String>) {
    match body {
        crate::MessageBody::Text(text) => (Some(text.clone()), None),
        crate::MessageBody::Blob(hash) => (None, Some(hash.to_hex())),
    }
}

impl Row {
    pub fn from_message(message: &NewMessage) -> Row {
        let (text, hash) = columns(&message.body);
        Row {
            session: message.session.clone(),
            position: 0,
            uid: message.uid.clone(),
            role: message.role.clone(),
            tool: message.tool.clone(),
            call_id: message.call_id.clone(),
            at: message.at,
            injected: message.injected,
            text,
            hash,
        }
    }

    fn from_record(message: &crate::MessageRecord) -> Row {
        let (text, hash) = columns(&message.body);
        Row {
            session: String::new(),
            position: message.position as i64,
            uid: message.uid.clone(),
            role: message.role.clone(),
            tool: message.tool.clone(),
            call_id: message.call_id.clone(),
            at: message.at,
            injected: message.injected,
            text,
            hash,
        }
    }

    fn is_proxied(&self) -> bool {
        self.uid.starts_with(PROXY_UID)
    }

    fn same_body(&self, other: &Row) -> bool {
        self.text == other.text && self.hash == other.hash
    }

    /// The anchor without its occurrence count: `None` for injected text,
    /// system notices and empty messages.
    fn anchor_base(&self) -> Option<String> {
        let call = self
            .call_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .map(|id| normalized_call_id(id, self.tool.as_deref()));
        match (self.role.as_str(), call) {
            ("assistant", Some(id)) if self.tool.is_some() => Some(format!("call:{id}")),
            ("tool", Some(id)) => Some(format!("result:{id}")),
            ("user" | "assistant", _) if !self.injected => {
                let content = match (&self.hash, &self.text) {
                    (Some(hash), _) => hash.clone(),
                    (None, Some(text)) if !text.trim().is_empty() => {
                        cairn_core::ContentHash::of(text.as_bytes()).to_hex()
                    }
                    _ => return None,
                };
                Some(format!(
                    "{}:{}",
                    self.role,
                    &content[..32.min(content.len())]
                ))
            }
            _ => None,
        }
    }
}

/// A stored message's anchor, without its occurrence count: how the same
/// message is recognised in the proxy's copy and the file's (`None` for
/// injected text, notices and empty messages).
pub fn message_anchor(message: &crate::MessageRecord) -> Option<String> {
    Row::from_record(message).anchor_base()
}

/// A new message's anchor, likewise.
pub fn new_message_anchor(message: &NewMessage) -> Option<String> {
    Row::from_message(message).anchor_base()
}

/// Gemini CLI files a call as `<tool>__<id>` where the wire has `<id>`.
fn normalized_call_id<'a>(id: &'a str, tool: Option<&str>) -> &'a str {
    tool.and_then(|tool| id.strip_prefix(tool))
        .and_then(|rest| rest.strip_prefix("__"))
        .filter(|rest| !rest.is_empty())
        .unwrap_or(id)
}

/// Whether an anchor names a call or its result: a call id is the same
/// message wherever it appears (Gemini CLI sends a resumed session's tool
/// results twice), and is what two copies of a conversation align on.
fn is_call(anchor: &str) -> bool {
    anchor.starts_with("call:") || anchor.starts_with("result:")
}

/// The anchor a proxied row was stored under: its uid less the prefix and
/// the occurrence count (`#2`).
fn stored_anchor(row: &Row) -> Option<&str> {
    let anchor = row
        .uid
        .strip_prefix(PROXY_UID)
        .filter(|anchor| !anchor.starts_with('~'))?;
    Some(anchor.split_once('#').map_or(anchor, |(base, _)| base))
}

/// A row's anchor: the stored one of a proxied row, else its own.
fn anchor_of(row: &Row) -> Option<String> {
    match stored_anchor(row) {
        Some(anchor) => Some(anchor.to_owned()),
        None => row.anchor_base(),
    }
}

/// The model's side of a conversation (its calls, their results, its
/// texts) among `anchors`, in order, each once (a client may send a message
/// twice): what tells two conversations that began alike apart.
pub fn conversation_answers(anchors: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    anchors
        .into_iter()
        .filter(|anchor| is_call(anchor) || anchor.starts_with("assistant:"))
        .filter(|anchor| seen.insert(anchor.clone()))
        .collect()
}

fn answers<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Vec<String> {
    conversation_answers(rows.into_iter().filter_map(anchor_of))
}

/// Whether two copies agree on the model's answers as far as both go (one's
/// answers begin the other's): the same conversation, or one that has only
/// begun.
pub(crate) fn same_conversation(a: &[String], b: &[String]) -> bool {
    let shared = a.len().min(b.len());
    a[..shared] == b[..shared]
}

/// What one import does to the messages table.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Rows to delete, by session and uid (before the inserts).
    pub deletes: Vec<(String, String)>,
    pub inserts: Vec<Row>,
    /// Sessions emptied and removed: proxied copies folded into a file's.
    pub removed_sessions: Vec<String>,
    /// Where the deleted rows were.
    deleted_at: Vec<(String, i64)>,
    pub outcome: ImportOutcome,
}

impl Plan {
    fn delete(&mut self, row: &Row) {
        self.deletes.push((row.session.clone(), row.uid.clone()));
        self.deleted_at.push((row.session.clone(), row.position));
    }

    /// The outcome, with the sessions `created` and the positions the import
    /// emptied (a row deleted, none inserted there).
    pub fn finish(&mut self, created: u64) -> ImportOutcome {
        let occupied: HashSet<(&str, i64)> = self
            .inserts
            .iter()
            .map(|row| (row.session.as_str(), row.position))
            .collect();
        let mut freed: Vec<(String, u64)> = self
            .deleted_at
            .iter()
            .filter(|(session, position)| !occupied.contains(&(session.as_str(), *position)))
            .map(|(session, position)| (session.clone(), (*position).max(0) as u64))
            .collect();
        freed.sort();
        freed.dedup();
        ImportOutcome {
            sessions_created: created,
            freed,
            ..std::mem::take(&mut self.outcome)
        }
    }
}

/// Plans one session's part of an import. `held` is what the session holds
/// (any order), `twins` the rows of proxied sessions under other ids that
/// began with the same prompt (folded in when `origin` is a file and they
/// are the same conversation), `incoming` the import's messages for this
/// session, in order.
pub(crate) fn plan_session(
    origin: Origin,
    session: &str,
    mut held: Vec<Row>,
    twins: Vec<Row>,
    incoming: Vec<Row>,
    plan: &mut Plan,
) {
    held.sort_by_key(|row| row.position);
    match origin {
        Origin::Proxy => plan_proxied(session, &held, incoming, plan),
        Origin::File => plan_file(session, held, twins, incoming, plan),
    }
}

/// A proxied conversation: what the session does not hold yet, at its end.
/// The two copies align on call ids: everything up to the last call or
/// result the session holds is held; after it, a text is held when the
/// session holds the same text after that point (in order), else it is new.
fn plan_proxied(session: &str, held: &[Row], incoming: Vec<Row>, plan: &mut Plan) {
    let held_anchors: Vec<Option<String>> = held.iter().map(anchor_of).collect();
    let incoming_anchors: Vec<Option<String>> = incoming.iter().map(Row::anchor_base).collect();
    // The last call or result both hold: where the copies align.
    let mut aligned: Option<(usize, usize)> = None;
    for (index, anchor) in incoming_anchors.iter().enumerate() {
        if let Some(anchor) = anchor.as_deref().filter(|anchor| is_call(anchor))
            && let Some(at) = held_anchors
                .iter()
                .rposition(|held| held.as_deref() == Some(anchor))
        {
            aligned = Some((index, at));
        }
    }
    let (skip_through, mut cursor) = match aligned {
        Some((index, at)) => (Some(index), at + 1),
        None => (None, 0),
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    for anchor in held_anchors.iter().flatten() {
        *counts.entry(anchor.clone()).or_default() += 1;
    }
    let uids: HashSet<&str> = held.iter().map(|row| row.uid.as_str()).collect();
    let mut planned: HashSet<String> = HashSet::new();
    let mut next = held.last().map_or(0, |row| row.position + 1);
    // Past the alignment, the texts the session holds next, in order, until
    // the first it does not: after a new message nothing is held.
    let mut diverged = false;
    for (index, (mut row, anchor)) in incoming.into_iter().zip(incoming_anchors).enumerate() {
        let before = skip_through.is_some_and(|last| index <= last);
        let held_already = match anchor.as_deref() {
            Some(anchor) if is_call(anchor) => {
                held_anchors.iter().flatten().any(|held| held == anchor)
            }
            // Before the alignment a text is held wherever it is (a compacted
            // history's summary is not).
            Some(anchor) if before => held_anchors.iter().flatten().any(|held| held == anchor),
            Some(_) if diverged => false,
            Some(anchor) => {
                let found = held_anchors[cursor.min(held_anchors.len())..]
                    .iter()
                    .position(|held| held.as_deref() == Some(anchor));
                match found {
                    Some(offset) => {
                        cursor += offset + 1;
                        true
                    }
                    None => {
                        diverged = true;
                        false
                    }
                }
            }
            // Injected text before the alignment is the held conversation's.
            None => before,
        };
        if held_already {
            plan.outcome.messages_unchanged += 1;
            continue;
        }
        let base = match &anchor {
            Some(anchor) => anchor.clone(),
            None => {
                let content = row
                    .hash
                    .clone()
                    .or_else(|| {
                        row.text
                            .as_ref()
                            .map(|text| cairn_core::ContentHash::of(text.as_bytes()).to_hex())
                    })
                    .unwrap_or_default();
                format!("~{}:{}", row.role, &content[..32.min(content.len())])
            }
        };
        row.uid = if base.starts_with('~') || !is_call(&base) {
            // The next occurrence number of these words; for injected text,
            // its place among the same injections of this request (a resent
            // request gives it the same uid again).
            let count = counts.entry(base.clone()).or_default();
            *count += 1;
            let mut uid = format!("{PROXY_UID}{base}#{count}");
            while anchor.is_some() && (uids.contains(uid.as_str()) || planned.contains(&uid)) {
                *count += 1;
                uid = format!("{PROXY_UID}{base}#{count}");
            }
            uid
        } else {
            format!("{PROXY_UID}{base}")
        };
        if uids.contains(row.uid.as_str()) || !planned.insert(row.uid.clone()) {
            plan.outcome.messages_unchanged += 1;
            continue;
        }
        row.session = session.to_owned();
        row.position = next;
        next += 1;
        plan.outcome.messages_added += 1;
        plan.inserts.push(row);
    }
}

/// An agent's file: the complete record. Its messages are upserted by uid;
/// the proxied copy (this session's, and twins of the same conversation
/// under other ids) is replaced where the file covers it, and its turns the
/// file does not hold yet move after the file's.
fn plan_file(session: &str, held: Vec<Row>, twins: Vec<Row>, incoming: Vec<Row>, plan: &mut Plan) {
    // A uid twice in one file (a rewritten Gemini record) keeps its first
    // place and its last body.
    let mut order: Vec<Row> = Vec::with_capacity(incoming.len());
    let mut places: HashMap<String, usize> = HashMap::new();
    for row in incoming {
        match places.get(&row.uid) {
            Some(&at) => order[at] = row,
            None => {
                places.insert(row.uid.clone(), order.len());
                order.push(row);
            }
        }
    }
    let in_file: HashSet<String> = order.iter().filter_map(Row::anchor_base).collect();
    let file_answers = answers(&order);
    let (own, filed): (Vec<Row>, Vec<Row>) = held.into_iter().partition(Row::is_proxied);
    // Twins, by session, in order; folded when they are this conversation.
    let mut by_twin: Vec<(String, Vec<Row>)> = Vec::new();
    let mut twins = twins;
    twins.sort_by(|a, b| (&a.session, a.position).cmp(&(&b.session, b.position)));
    for row in twins {
        match by_twin.last_mut() {
            Some((twin, rows)) if *twin == row.session => rows.push(row),
            _ => by_twin.push((row.session.clone(), vec![row])),
        }
    }
    let mut sources = vec![own];
    for (twin, rows) in by_twin {
        if same_conversation(&answers(&rows), &file_answers) {
            plan.removed_sessions.push(twin);
            sources.push(rows);
        }
    }
    let filed_uids: HashMap<&str, &Row> = filed.iter().map(|row| (row.uid.as_str(), row)).collect();
    let mut new = Vec::new();
    for mut row in order {
        match filed_uids.get(row.uid.as_str()) {
            Some(known) if known.same_body(&row) => plan.outcome.messages_unchanged += 1,
            // A newer copy of the same record keeps its place (and gets a
            // new sequence number, so the indexer sees it again).
            Some(known) => {
                row.session = session.to_owned();
                row.position = known.position;
                plan.delete(known);
                plan.outcome.messages_replaced += 1;
                plan.inserts.push(row);
            }
            None => {
                plan.outcome.messages_added += 1;
                new.push(row);
            }
        }
    }
    // In each proxied copy, what the file covers (up to its last message
    // the file holds) goes; the rest is kept: in place when it is this
    // session's and nothing new comes before it, else moved after the
    // file's new messages.
    let mut kept = Vec::new();
    let mut staying: Vec<i64> = filed.iter().map(|row| row.position).collect();
    let mut kept_uids: HashSet<String> = HashSet::new();
    for rows in sources {
        let covered = rows
            .iter()
            .rposition(|row| anchor_of(row).is_some_and(|anchor| in_file.contains(&anchor)));
        for (index, row) in rows.into_iter().enumerate() {
            let own = row.session == session;
            if covered.is_some_and(|last| index <= last) {
                plan.delete(&row);
            } else if own && new.is_empty() {
                staying.push(row.position);
                kept_uids.insert(row.uid.clone());
            } else {
                plan.delete(&row);
                if kept_uids.insert(row.uid.clone()) {
                    kept.push(row);
                }
            }
        }
    }
    let next = staying.iter().max().map_or(0, |last| last + 1);
    for (position, mut row) in (next..).zip(new.into_iter().chain(kept)) {
        row.session = session.to_owned();
        row.position = position;
        plan.inserts.push(row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row: `role:text`, `call:ID` (a tool call) or `result:ID`.
    fn row(session: &str, uid: &str, spec: &str) -> Row {
        let (role, rest) = spec.split_once(':').expect("role:rest");
        let mut row = Row {
            session: session.to_owned(),
            position: 0,
            uid: uid.to_owned(),
            role: role.to_owned(),
            tool: None,
            call_id: None,
            at: None,
            injected: false,
            text: None,
            hash: Some(cairn_core::ContentHash::of(rest.as_bytes()).to_hex()),
        };
        match role {
            "call" => {
                row.role = "assistant".to_owned();
                row.tool = Some("run_shell_command".to_owned());
                row.call_id = Some(rest.to_owned());
            }
            "result" => {
                row.role = "tool".to_owned();
                row.call_id = Some(rest.to_owned());
            }
            "injected" => {
                row.role = "user".to_owned();
                row.injected = true;
            }
            _ => {}
        }
        row
    }

    fn conversation(session: &str, specs: &[&str]) -> Vec<Row> {
        specs
            .iter()
            .enumerate()
            .map(|(index, spec)| row(session, &format!("f{index}"), spec))
            .collect()
    }

    /// What a session holds after a plan: (uid, position) in order.
    fn apply(held: Vec<Row>, plan: &Plan, session: &str) -> Vec<Row> {
        let mut rows: Vec<Row> = held
            .into_iter()
            .filter(|row| {
                !plan
                    .deletes
                    .iter()
                    .any(|(s, uid)| *s == row.session && *uid == row.uid)
            })
            .chain(plan.inserts.iter().cloned())
            .filter(|row| row.session == session)
            .collect();
        rows.sort_by_key(|row| row.position);
        let positions: HashSet<i64> = rows.iter().map(|row| row.position).collect();
        assert_eq!(positions.len(), rows.len(), "positions are unique");
        let uids: HashSet<&str> = rows.iter().map(|row| row.uid.as_str()).collect();
        assert_eq!(uids.len(), rows.len(), "uids are unique");
        rows
    }

    fn record(origin: Origin, held: Vec<Row>, absorbed: Vec<Row>, incoming: Vec<Row>) -> Vec<Row> {
        let mut plan = Plan::default();
        let everything: Vec<Row> = held.iter().chain(&absorbed).cloned().collect();
        plan_session(origin, "s", held, absorbed, incoming, &mut plan);
        apply(everything, &plan, "s")
    }

    fn roles(rows: &[Row]) -> Vec<(bool, String)> {
        rows.iter()
            .map(|row| {
                (
                    row.is_proxied(),
                    row.anchor_base().unwrap_or_else(|| "-".into()),
                )
            })
            .collect()
    }

    const TURN: [&str; 5] = [
        "injected:<reminder>",
        "user:run it",
        "call:c1",
        "result:c1",
        "assistant:done",
    ];

    #[test]
    fn a_conversation_proxied_twice_is_stored_once_and_grows_by_its_new_turn() {
        let first = record(Origin::Proxy, vec![], vec![], conversation("s", &TURN));
        assert_eq!(first.len(), 5);
        assert!(first.iter().all(Row::is_proxied));
        let again = record(
            Origin::Proxy,
            first.clone(),
            vec![],
            conversation("s", &TURN),
        );
        assert_eq!(again, first, "sent again: nothing added");
        let mut longer = TURN.to_vec();
        longer.extend(["user:run it", "call:c2", "result:c2", "assistant:done"]);
        let grown = record(Origin::Proxy, first, vec![], conversation("s", &longer));
        assert_eq!(
            grown.len(),
            9,
            "the same words again are a new turn: {:?}",
            roles(&grown)
        );
        assert_eq!(
            grown[5].uid,
            format!("{PROXY_UID}user:{}#2", &grown[1].uid[7..39])
        );
    }

    #[test]
    fn a_file_after_the_proxy_replaces_its_copy_and_keeps_newer_turns_after() {
        let mut proxied = TURN.to_vec();
        proxied.extend(["user:next", "call:c2", "result:c2"]);
        let held = record(Origin::Proxy, vec![], vec![], conversation("s", &proxied));
        // The file has the first turn only, with records the wire lacks.
        let file = conversation(
            "s",
            &[
                "user:run it",
                "assistant:thinking",
                "call:c1",
                "result:c1",
                "assistant:done",
            ],
        );
        let merged = record(Origin::File, held, vec![], file);
        let summary = roles(&merged);
        assert_eq!(summary.len(), 8, "{summary:?}");
        assert!(
            summary[..5].iter().all(|(proxied, _)| !proxied),
            "{summary:?}"
        );
        assert!(
            summary[5..].iter().all(|(proxied, _)| *proxied),
            "{summary:?}"
        );
        assert_eq!(
            merged[5].hash,
            row("s", "x", "user:next").hash,
            "the newer turn follows"
        );
        // The file grows to the second turn: the proxied rest goes too.
        let mut full = vec![
            "user:run it",
            "assistant:thinking",
            "call:c1",
            "result:c1",
            "assistant:done",
        ];
        full.extend(["user:next", "call:c2", "result:c2", "assistant:ok"]);
        let merged = record(Origin::File, merged, vec![], conversation("s", &full));
        assert_eq!(merged.len(), 9);
        assert!(
            merged.iter().all(|row| !row.is_proxied()),
            "{:?}",
            roles(&merged)
        );
    }

    #[test]
    fn the_proxy_after_a_file_adds_only_what_the_file_lacks() {
        let file = conversation(
            "s",
            &[
                "user:run it",
                "assistant:thinking",
                "call:c1",
                "result:c1",
                "assistant:done",
            ],
        );
        let held = record(Origin::File, vec![], vec![], file);
        let mut proxied = TURN.to_vec();
        proxied.extend(["user:next", "call:c2"]);
        let merged = record(Origin::Proxy, held, vec![], conversation("s", &proxied));
        assert_eq!(merged.len(), 7, "{:?}", roles(&merged));
        assert!(merged[5].is_proxied() && merged[6].is_proxied());
    }

    #[test]
    fn a_proxied_copy_under_another_id_is_folded_into_the_files_session() {
        let elsewhere: Vec<Row> = record(Origin::Proxy, vec![], vec![], conversation("s", &TURN))
            .into_iter()
            .map(|mut row| {
                row.session = "proxy-gemini-1".to_owned();
                row
            })
            .collect();
        let mut plan = Plan::default();
        let file = conversation(
            "s",
            &[
                "user:run it",
                "call:run_shell_command__c1",
                "result:run_shell_command__c1",
                "assistant:done",
            ],
        );
        let mut file = file;
        for row in &mut file {
            row.tool = Some("run_shell_command".to_owned());
        }
        plan_session(
            Origin::File,
            "s",
            vec![],
            elsewhere.clone(),
            file,
            &mut plan,
        );
        let after = apply(elsewhere.clone(), &plan, "s");
        assert_eq!(after.len(), 4, "{:?}", roles(&after));
        assert!(after.iter().all(|row| !row.is_proxied()));
        assert_eq!(
            apply(elsewhere, &plan, "proxy-gemini-1").len(),
            0,
            "the proxied copy is gone"
        );
    }

    #[test]
    fn a_rewritten_record_keeps_its_place_and_a_uid_twice_keeps_its_first_place() {
        let held = record(
            Origin::File,
            vec![],
            vec![],
            conversation("s", &["user:a", "assistant:b"]),
        );
        let mut incoming = conversation("s", &["user:a", "assistant:b2", "user:c"]);
        incoming.push(row("s", "f2", "user:c2"));
        let after = record(Origin::File, held, vec![], incoming);
        let uids: Vec<(&str, i64)> = after
            .iter()
            .map(|row| (row.uid.as_str(), row.position))
            .collect();
        assert_eq!(uids, [("f0", 0), ("f1", 1), ("f2", 2)]);
        assert_eq!(after[1].hash, row("s", "x", "assistant:b2").hash);
        assert_eq!(after[2].hash, row("s", "x", "user:c2").hash);
    }

    #[test]
    fn a_result_sent_twice_is_one_message() {
        // Gemini CLI sends a resumed session's tool results twice.
        let once = record(Origin::Proxy, vec![], vec![], conversation("s", &TURN));
        let twice = [
            "user:run it",
            "call:c1",
            "result:c1",
            "result:c1",
            "assistant:done",
            "user:next",
        ];
        let after = record(Origin::Proxy, once, vec![], conversation("s", &twice));
        assert_eq!(after.len(), 6, "only the new prompt: {:?}", roles(&after));
    }

    #[test]
    fn a_result_twice_in_a_new_conversation_is_stored_once() {
        let twice = [
            "user:run it",
            "call:c1",
            "result:c1",
            "result:c1",
            "assistant:done",
        ];
        let stored = record(Origin::Proxy, vec![], vec![], conversation("s", &twice));
        assert_eq!(stored.len(), 4, "{:?}", roles(&stored));
    }

    #[test]
    fn a_repeated_short_answer_in_a_shortened_history_is_not_taken_for_an_old_one() {
        let long = [
            "user:go",
            "assistant:yes",
            "user:go on",
            "call:c1",
            "result:c1",
            "assistant:yes",
        ];
        let held = record(Origin::Proxy, vec![], vec![], conversation("s", &long));
        // Compacted: the history restarts from a summary, then a new "yes".
        let compacted = [
            "user:summary so far",
            "call:c1",
            "result:c1",
            "user:and now?",
            "assistant:yes",
        ];
        let after = record(Origin::Proxy, held, vec![], conversation("s", &compacted));
        let summary = roles(&after);
        assert_eq!(
            summary.len(),
            9,
            "the summary, the question and the new answer: {summary:?}"
        );
    }

    /// Rows of a conversation proxied under its own id `session`.
    fn proxied_as(session: &str, specs: &[&str]) -> Vec<Row> {
        record(Origin::Proxy, vec![], vec![], conversation("s", specs))
            .into_iter()
            .map(|mut row| {
                row.session = session.to_owned();
                row
            })
            .collect()
    }

    #[test]
    fn another_conversation_with_the_same_prompt_is_not_folded_in() {
        let ours = proxied_as(
            "proxy-1",
            &["user:run it", "call:a1", "result:a1", "assistant:done"],
        );
        let theirs = proxied_as(
            "proxy-2",
            &["user:run it", "call:b1", "result:b1", "assistant:other"],
        );
        let file = conversation(
            "s",
            &["user:run it", "call:a1", "result:a1", "assistant:done"],
        );
        let mut plan = Plan::default();
        // Twins arrive in any order.
        let mut twins: Vec<Row> = theirs.iter().chain(&ours).cloned().collect();
        twins.reverse();
        plan_session(Origin::File, "s", vec![], twins.clone(), file, &mut plan);
        assert_eq!(plan.removed_sessions, ["proxy-1"]);
        assert_eq!(
            apply(twins.clone(), &plan, "proxy-2").len(),
            4,
            "theirs untouched"
        );
        assert_eq!(apply(twins.clone(), &plan, "proxy-1").len(), 0);
        assert_eq!(apply(twins, &plan, "s").len(), 4);
    }

    #[test]
    fn a_file_with_nothing_new_keeps_proxied_turns_and_folds_a_twins_after_them() {
        let file = conversation(
            "s",
            &["user:run it", "call:c1", "result:c1", "assistant:done"],
        );
        let held = record(Origin::File, vec![], vec![], file.clone());
        let held = record(
            Origin::Proxy,
            held,
            vec![],
            conversation(
                "s",
                &[
                    "user:run it",
                    "call:c1",
                    "result:c1",
                    "assistant:done",
                    "user:next",
                    "call:c2",
                ],
            ),
        );
        assert_eq!(held.len(), 6);
        let twin = proxied_as(
            "proxy-9",
            &[
                "user:run it",
                "call:c1",
                "result:c1",
                "assistant:done",
                "user:next",
                "call:c2",
                "result:c2",
            ],
        );
        let everything: Vec<Row> = held.iter().chain(&twin).cloned().collect();
        let mut plan = Plan::default();
        plan_session(Origin::File, "s", held, twin, file, &mut plan);
        let after = apply(everything, &plan, "s");
        assert_eq!(
            after.len(),
            7,
            "the twin's result joins once: {:?}",
            roles(&after)
        );
    }

    #[test]
    fn gemini_call_ids_match_with_and_without_the_tool_prefix() {
        assert_eq!(
            normalized_call_id("run_shell_command__abc_0", Some("run_shell_command")),
            "abc_0"
        );
        assert_eq!(
            normalized_call_id("abc_0", Some("run_shell_command")),
            "abc_0"
        );
        assert_eq!(normalized_call_id("toolu_1", None), "toolu_1");
        assert_eq!(normalized_call_id("x__", Some("x")), "x__");
    }
}
