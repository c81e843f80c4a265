//! Imported agent sessions: parse a session file, store each message's text
//! as a blob (deduplicated like every original, so every message has a `ccr:`
//! reference), and read sessions back with long messages, tool outputs
//! above all, as compressed views.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use cairn_core::{ContentHash, RenderedView, ViewOptions, tokens};
use cairn_sessions::{Agent, ImportError, Parsed, SourceHints};
use cairn_store::{
    MessageBody, NewMessage, Origin, SessionFilter, SessionImport, SessionRecord, SessionRow,
};
use cairn_types::{
    ImportLineError, ImportReport, SessionDetail, SessionList, SessionMessage, SessionSummary,
    TenantId,
};

use crate::{Cairn, ServiceError, encode, format_millis, now_millis, spawn_cpu};

/// Messages per page of `GET /v1/sessions/{id}` unless asked otherwise.
pub const DEFAULT_MESSAGES: u32 = 200;
pub const MAX_MESSAGES: u32 = 2000;

/// Where a session file came from, when it came from disk.
#[derive(Debug, Clone, Default)]
pub struct ImportSource {
    pub path: Option<PathBuf>,
    /// Gemini: the project folder the chats belong to.
    pub project_root: Option<String>,
    /// Claude: the folder of spilled tool results (`<session>/tool-results`).
    pub spill_dir: Option<PathBuf>,
    /// How large zstd-compressed content may grow once decompressed: an
    /// upload, no larger than the server takes uncompressed (the body
    /// limit). `None`: [`cairn_sessions::MAX_DECOMPRESSED_BYTES`].
    pub max_decompressed: Option<u64>,
}

/// Which sessions to list.
#[derive(Debug, Clone, Default)]
pub struct SessionQuery {
    pub agent: Option<String>,
    pub project: Option<String>,
    /// Unix milliseconds.
    pub since: Option<i64>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl Cairn {
    /// Imports one session file (JSONL, JSON, or zstd of either). Importing
    /// it again adds nothing; a grown copy adds only its new records.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, bytes = content.len()))]
    pub async fn import_session(
        &self,
        tenant: &TenantId,
        content: Bytes,
        agent: Option<&str>,
        source: ImportSource,
    ) -> Result<ImportReport, ServiceError> {
        let agent = agent.map(parse_agent).transpose()?;
        let level = self.config.zstd_level;
        let (parsed, hashes) = spawn_cpu(move || {
            let spill_dir = source.spill_dir.clone();
            let spill = move |name: &str| cairn_sessions::read_spilled(spill_dir.as_ref()?, name);
            let hints = SourceHints {
                path: source.path.as_deref(),
                project_root: source.project_root.as_deref(),
                spill: Some(&spill),
            };
            let limit = source
                .max_decompressed
                .unwrap_or(cairn_sessions::MAX_DECOMPRESSED_BYTES);
            let parsed = cairn_sessions::parse_limited(&content, agent, &hints, limit)
                .map_err(import_error)?;
            let hashes = tool_hashes(&parsed);
            Ok::<_, ServiceError>((parsed, hashes))
        })
        .await??;
        // Texts repeat (the same file read again, the same test run, the same
        // prompt): only the ones this tenant has not stored yet are encoded.
        let mut missing = Vec::new();
        for (hash, index) in hashes {
            let known = self.known_blobs.get(&(tenant.clone(), hash)).is_some()
                || self
                    .store
                    .resolve_ref(tenant, &hash.ccr_ref())
                    .await?
                    .is_some_and(|blob| blob.hash == hash);
            if !known {
                missing.push((hash, index));
            }
        }
        let parsed = Arc::new(parsed);
        let blobs = {
            let parsed = parsed.clone();
            spawn_cpu(move || {
                missing
                    .into_iter()
                    .map(|(hash, index)| {
                        let content =
                            Bytes::copy_from_slice(parsed.messages[index].text.as_bytes());
                        encode(hash, &content, level).map(|(blob, _)| blob)
                    })
                    .collect::<Result<Vec<_>, ServiceError>>()
            })
            .await??
        };
        let import = SessionImport {
            origin: Origin::File,
            sessions: parsed
                .sessions
                .iter()
                .map(|session| SessionRow {
                    id: session.id.clone(),
                    agent: session.agent.as_str().to_owned(),
                    project: session.project.clone(),
                    title: session.title.clone(),
                    parent: session.parent.clone(),
                    started_at: session.started_at,
                    updated_at: session.updated_at,
                    thread_key: thread_key(
                        session.agent.as_str(),
                        parsed
                            .messages
                            .iter()
                            .filter(|message| message.session == session.id)
                            .find(|message| {
                                message.role == cairn_sessions::Role::User
                                    && !message.injected
                                    && !message.text.trim().is_empty()
                            })
                            .map(|message| message.text.as_str()),
                    ),
                })
                .collect(),
            messages: parsed
                .messages
                .iter()
                .map(|message| NewMessage {
                    session: message.session.clone(),
                    uid: message.uid.clone(),
                    role: message.role.as_str().to_owned(),
                    tool: message.tool.clone(),
                    call_id: message.call_id.clone(),
                    at: message.at,
                    injected: message.injected,
                    body: if is_blob(message) {
                        MessageBody::Blob(ContentHash::of(message.text.as_bytes()))
                    } else {
                        MessageBody::Text(message.text.clone())
                    },
                })
                .collect(),
            blobs,
        };
        // The emptied positions leave the index before another import can
        // fill them again.
        let one_at_a_time = self.session_writes.lock().await;
        let outcome = self
            .store
            .import_sessions(tenant, &import, now_millis())
            .await?;
        self.unindex_messages(tenant, &outcome.freed).await;
        drop(one_at_a_time);
        for blob in &import.blobs {
            self.known_blobs
                .insert((tenant.clone(), blob.hash), blob.info());
        }
        self.wake_indexer();
        Ok(ImportReport {
            agent: parsed.agent.as_str().to_owned(),
            sessions: parsed.sessions.len() as u64,
            messages: outcome.messages_added,
            replaced: outcome.messages_replaced,
            skipped: parsed.skipped,
            errors: parsed
                .errors
                .iter()
                .map(|error| ImportLineError {
                    line: error.line,
                    message: error.message.clone(),
                })
                .collect(),
        })
    }

    /// Sessions, most recently updated first, a page at a time.
    pub async fn sessions(
        &self,
        tenant: &TenantId,
        query: SessionQuery,
    ) -> Result<SessionList, ServiceError> {
        let limit = crate::page_limit(query.limit, crate::DEFAULT_PAGE, crate::MAX_PAGE)?;
        // An agent that does not exist is refused, as on import, rather than
        // matching nothing; an empty cursor is the first page, as for contexts.
        if let Some(name) = query.agent.as_deref() {
            parse_agent(name)?;
        }
        let after = query
            .cursor
            .as_deref()
            .filter(|cursor| !cursor.is_empty())
            .map(decode_cursor)
            .transpose()?;
        let records = self
            .store
            .list_sessions(
                tenant,
                &SessionFilter {
                    agent: query.agent,
                    project: query.project,
                    since: query.since,
                    after,
                    limit: limit + 1,
                },
            )
            .await?;
        let more = records.len() > limit as usize;
        let sessions: Vec<Summarized> = records
            .into_iter()
            .take(limit as usize)
            .map(session_summary)
            .collect();
        let next_cursor = more
            .then(|| sessions.last())
            .flatten()
            .map(|last| encode_cursor(last.updated_millis, &last.summary.id));
        Ok(SessionList {
            sessions: sessions.into_iter().map(|s| s.summary).collect(),
            next_cursor,
        })
    }

    /// A session and a page of its messages, tool outputs as views.
    pub async fn session(
        &self,
        tenant: &TenantId,
        id: &str,
        from: u64,
        limit: Option<u32>,
    ) -> Result<SessionDetail, ServiceError> {
        let limit = crate::page_limit(limit, DEFAULT_MESSAGES, MAX_MESSAGES)?;
        let record = self
            .store
            .get_session(tenant, id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no session {id:?}")))?;
        let records = self
            .store
            .session_messages(tenant, id, from, limit + 1)
            .await?;
        let more = records.len() > limit as usize;
        let mut messages = Vec::with_capacity(records.len().min(limit as usize));
        for message in records.into_iter().take(limit as usize) {
            let (content, reference, markers, tokens, tokens_original) = match message.body {
                MessageBody::Text(text) => {
                    let count = tokens::count(&text);
                    let shown = cairn_core::secrets::mask(&text).into_owned();
                    let shown_tokens = if shown == text {
                        count
                    } else {
                        tokens::count(&shown)
                    };
                    (shown, None, Vec::new(), shown_tokens, count)
                }
                MessageBody::Blob(hash) => {
                    let blob = self
                        .store
                        .resolve_ref(tenant, &hash.ccr_ref())
                        .await?
                        .ok_or_else(|| {
                            ServiceError::Internal(format!("message blob {hash} is missing"))
                        })?;
                    let view = self.view(tenant, &blob, ViewOptions::default()).await?;
                    let (content, markers, tokens) = match view.as_ref() {
                        RenderedView::Rendered {
                            content,
                            tokens,
                            markers,
                        } => (content.clone(), markers.clone(), *tokens),
                        RenderedView::Original => {
                            let bytes = self.original(tenant, &blob).await?;
                            (
                                String::from_utf8_lossy(&bytes).into_owned(),
                                Vec::new(),
                                blob.tokens_original,
                            )
                        }
                    };
                    (
                        content,
                        Some(hash.ccr_ref().to_string()),
                        markers,
                        tokens,
                        blob.tokens_original,
                    )
                }
            };
            messages.push(SessionMessage {
                position: message.position,
                role: message.role,
                tool: message.tool,
                call_id: message.call_id,
                at: message.at.map(format_millis),
                injected: message.injected,
                content,
                reference,
                markers,
                tokens,
                tokens_original,
            });
        }
        let next_from = more
            .then(|| messages.last().map(|last| last.position + 1))
            .flatten();
        Ok(SessionDetail {
            session: session_summary(record).summary,
            messages,
            next_from,
        })
    }
}

/// Whether a message's text is stored as a blob: every message with text,
/// so that every message (a search hit's, a view's) has a `ccr:` reference
/// that resolves, and repeated texts are stored once.
fn is_blob(message: &cairn_sessions::Message) -> bool {
    !message.text.is_empty()
}

/// The hashes of an import's message texts, each once, with the index of a
/// message holding it.
fn tool_hashes(parsed: &Parsed) -> Vec<(ContentHash, usize)> {
    let mut seen = HashSet::new();
    parsed
        .messages
        .iter()
        .enumerate()
        .filter(|(_, message)| is_blob(message))
        .filter_map(|(index, message)| {
            let hash = ContentHash::of(message.text.as_bytes());
            seen.insert(hash).then_some((hash, index))
        })
        .collect()
}

fn import_error(error: ImportError) -> ServiceError {
    match error {
        ImportError::TooLarge { limit } => ServiceError::TooLarge(format!(
            "cannot import: the compressed file expands past {limit} bytes (the body limit); \
             import it from disk with `cairn import`"
        )),
        other => ServiceError::InvalidRequest(format!("cannot import: {other}")),
    }
}

/// `claude`, `codex` or `gemini`.
fn parse_agent(name: &str) -> Result<Agent, ServiceError> {
    Agent::parse(name).ok_or_else(|| {
        ServiceError::InvalidRequest(format!(
            "unknown agent {name:?}: expected claude, codex or gemini"
        ))
    })
}

/// A page cursor: the last session's listing time and id, base64url.
fn encode_cursor(at: i64, id: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{at}:{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), ServiceError> {
    use base64::Engine as _;
    let invalid = || ServiceError::InvalidRequest(format!("invalid cursor {cursor:?}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (at, id) = text.split_once(':').ok_or_else(invalid)?;
    Ok((at.parse().map_err(|_| invalid())?, id.to_owned()))
}

/// A summary, and the time the listing orders it by.
struct Summarized {
    summary: SessionSummary,
    updated_millis: i64,
}

fn session_summary(record: SessionRecord) -> Summarized {
    let updated = record.row.updated_at.unwrap_or(record.imported_at);
    Summarized {
        updated_millis: updated,
        summary: SessionSummary {
            id: record.row.id,
            agent: record.row.agent,
            project: record.row.project,
            // A title is a prompt's first words, or one the agent wrote: it
            // can hold a secret like any message, and is masked like one.
            title: record
                .row
                .title
                .map(|title| cairn_core::secrets::mask(&title).into_owned()),
            parent: record.row.parent,
            started_at: record.row.started_at.map(format_millis),
            updated_at: record.row.updated_at.map(format_millis),
            messages: record.messages,
            tool_calls: record.tool_calls,
        },
    }
}

/// A conversation that passed through the proxy, recorded like an imported
/// session.
#[derive(Debug, Clone, Default)]
pub struct ProxiedSession {
    /// The agent's own session id when it sent one (Claude Code and Codex
    /// do); without one the conversation is found by its first prompt and
    /// the model's answers.
    pub id: Option<String>,
    pub agent: String,
    pub project: Option<String>,
    pub messages: Vec<ProxiedMessage>,
    /// The subject of a token that may not write (a `proxy` token): its
    /// recordings go into sessions of its own (`proxy-<agent>-<subject>-…`),
    /// never into a session another token wrote or imported; a file's
    /// import folds them in when they are the same conversation. `None`:
    /// the caller may write (or auth is off).
    pub owner: Option<String>,
}

/// One message of a proxied conversation, in conversation order. Its uid in
/// the store comes from what it is (a call id, or its text and how often
/// that text came before), so a conversation resent with more turns adds
/// only them, and the agent's own file, imported later, replaces the copy.
#[derive(Debug, Clone, Default)]
pub struct ProxiedMessage {
    pub role: String,
    pub tool: Option<String>,
    pub call_id: Option<String>,
    pub text: String,
    /// Injected by the agent program (system reminders, environment and
    /// session preambles); user text starting with one of their tags is
    /// marked so too.
    pub injected: bool,
}

/// Most messages of a session read to tell whether a proxied conversation
/// continues it.
const MATCH_MESSAGES: u32 = 2000;

impl Cairn {
    /// Records a proxied conversation: a new session, or the new messages
    /// of one seen before (through the proxy or from the agent's file).
    /// Every text is stored as a blob, the same hash and reference a put of
    /// the same bytes gets.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, messages = session.messages.len()))]
    pub async fn record_proxied_session(
        &self,
        tenant: &TenantId,
        mut session: ProxiedSession,
    ) -> Result<u64, ServiceError> {
        let now = now_millis();
        for message in &mut session.messages {
            message.injected |= message.role == "system"
                || (message.role == "user" && cairn_sessions::is_injected_text(&message.text));
        }
        let prompt = session
            .messages
            .iter()
            .find(|message| {
                message.role == "user" && !message.injected && !message.text.trim().is_empty()
            })
            .map(|message| message.text.clone());
        let key = thread_key(&session.agent, prompt.as_deref());
        let messages: Vec<NewMessage> = session
            .messages
            .iter()
            .map(|message| NewMessage {
                session: String::new(),
                uid: String::new(),
                role: message.role.clone(),
                tool: message.tool.clone(),
                call_id: message.call_id.clone(),
                at: Some(now),
                injected: message.injected,
                body: if message.text.is_empty() {
                    MessageBody::Text(String::new())
                } else {
                    MessageBody::Blob(ContentHash::of(message.text.as_bytes()))
                },
            })
            .collect();
        let session = Arc::new(session);
        let hashes = {
            let session = session.clone();
            spawn_cpu(move || {
                let mut seen = HashSet::new();
                session
                    .messages
                    .iter()
                    .enumerate()
                    .filter(|(_, message)| !message.text.is_empty())
                    .filter_map(|(index, message)| {
                        let hash = ContentHash::of(message.text.as_bytes());
                        seen.insert(hash).then_some((hash, index))
                    })
                    .collect::<Vec<_>>()
            })
            .await?
        };
        let mut missing = Vec::new();
        for (hash, index) in hashes {
            let known = self.known_blobs.get(&(tenant.clone(), hash)).is_some()
                || self
                    .store
                    .resolve_ref(tenant, &hash.ccr_ref())
                    .await?
                    .is_some_and(|blob| blob.hash == hash);
            if !known {
                missing.push((hash, index));
            }
        }
        let level = self.config.zstd_level;
        let blobs = {
            let session = session.clone();
            spawn_cpu(move || {
                missing
                    .into_iter()
                    .map(|(hash, index)| {
                        let content =
                            Bytes::copy_from_slice(session.messages[index].text.as_bytes());
                        encode(hash, &content, level).map(|(blob, _)| blob)
                    })
                    .collect::<Result<Vec<_>, ServiceError>>()
            })
            .await??
        };
        // One session write at a time: which session a conversation joins
        // depends on what is stored.
        let _one_at_a_time = self.session_writes.lock().await;
        let scope = match &session.owner {
            Some(owner) => format!(
                "proxy-{}-{}",
                session.agent,
                &ContentHash::of(owner.as_bytes()).to_hex()[..8]
            ),
            None => format!("proxy-{}", session.agent),
        };
        let id = match (&session.id, &session.owner) {
            (Some(id), None) => id.clone(),
            (Some(id), Some(_)) => {
                format!("{scope}-{}", &ContentHash::of(id.as_bytes()).to_hex()[..16])
            }
            (None, _) => {
                self.proxied_session_id(tenant, &session.agent, &scope, key.as_deref(), &messages)
                    .await?
            }
        };
        let title = prompt.map(|prompt| prompt.trim().chars().take(80).collect::<String>());
        let import = SessionImport {
            origin: Origin::Proxy,
            sessions: vec![SessionRow {
                id: id.clone(),
                agent: session.agent.clone(),
                project: session.project.clone(),
                title: title.filter(|title| !title.is_empty()),
                parent: None,
                started_at: Some(now),
                updated_at: Some(now),
                thread_key: key,
            }],
            messages: messages
                .into_iter()
                .map(|message| NewMessage {
                    session: id.clone(),
                    ..message
                })
                .collect(),
            blobs,
        };
        let outcome = self.store.import_sessions(tenant, &import, now).await?;
        drop(_one_at_a_time);
        for blob in &import.blobs {
            self.known_blobs
                .insert((tenant.clone(), blob.hash), blob.info());
        }
        self.wake_indexer();
        Ok(outcome.messages_added + outcome.messages_replaced)
    }

    /// The session a proxied conversation without the agent's session id
    /// belongs to: one that began with the same prompt and whose model
    /// answers agree with it so far (one's answers begin the other's; a
    /// conversation with none yet joins the first), else a new one.
    /// `scope` prefixes its name; a caller that may not write (`scope` is
    /// its own) joins only sessions under it.
    async fn proxied_session_id(
        &self,
        tenant: &TenantId,
        agent: &str,
        scope: &str,
        key: Option<&str>,
        messages: &[NewMessage],
    ) -> Result<String, ServiceError> {
        let Some(key) = key else {
            // Nothing but injected text: named after its first message,
            // which every later request of the conversation repeats.
            let first = messages
                .iter()
                .find_map(|message| match &message.body {
                    MessageBody::Blob(hash) => Some(hash.to_hex()),
                    MessageBody::Text(_) => None,
                })
                .unwrap_or_default();
            return Ok(format!("{scope}-{}", &first[..16.min(first.len())]));
        };
        let ours = cairn_store::conversation_answers(
            messages.iter().filter_map(cairn_store::new_message_anchor),
        );
        let own_only = scope != format!("proxy-{agent}");
        let mut candidates = self.store.find_thread(tenant, agent, key).await?;
        if own_only {
            candidates.retain(|candidate| candidate.starts_with(&format!("{scope}-")));
        }
        for candidate in &candidates {
            let held = self
                .store
                .session_messages(tenant, candidate, 0, MATCH_MESSAGES)
                .await?;
            let theirs = cairn_store::conversation_answers(
                held.iter().filter_map(cairn_store::message_anchor),
            );
            let shared = ours.len().min(theirs.len());
            if ours[..shared] == theirs[..shared] {
                return Ok(candidate.clone());
            }
        }
        // A new session: the first free name (more conversations may share
        // the prompt than `find_thread` lists).
        let base = format!("{scope}-{}", &key[..16.min(key.len())]);
        let mut n = 1;
        loop {
            let id = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            if !candidates.contains(&id) && self.store.get_session(tenant, &id).await?.is_none() {
                return Ok(id);
            }
            n += 1;
        }
    }

    /// Drops emptied message positions from the search index.
    async fn unindex_messages(&self, tenant: &TenantId, freed: &[(String, u64)]) {
        if freed.is_empty() {
            return;
        }
        let ids: Vec<String> = freed
            .iter()
            .map(|(session, position)| {
                crate::search::message_doc_id(tenant.as_str(), session, *position)
            })
            .collect();
        self.unindex(tenant, ids).await;
    }
}

/// A conversation's thread key: its agent and its first real prompt,
/// hashed. `None` without a prompt.
pub(crate) fn thread_key(agent: &str, prompt: Option<&str>) -> Option<String> {
    let prompt = prompt?.trim();
    if prompt.is_empty() {
        return None;
    }
    let hash = ContentHash::of(format!("{agent}\0{prompt}").as_bytes()).to_hex();
    Some(hash[..32].to_owned())
}
