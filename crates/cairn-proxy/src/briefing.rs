//! `proxy.briefing = "first-turn"`: for clients without hooks, the briefing
//! goes in front of the first user turn of a new conversation, and the same
//! bytes in front of that turn on every later request of it, so the
//! conversation's prefix (what a provider's prompt cache keys on) never
//! changes. The client's own request (what is recorded) does not hold it.
//!
//! A conversation is new when its request holds no answer of the model yet.
//! It is known again by its agent's session id (Claude Code and Codex send
//! one) or else by its first user turn; what was put in front of it is kept
//! as a context (`cairn/proxy-briefings/…`, a week) so every node and a
//! restarted server put the same bytes there.
//!
//! The project is the `x-cairn-project` header, or the working directory
//! the agent names in its request (Claude Code's `Primary working directory:`,
//! Codex's `<cwd>`, Gemini CLI's first `Workspace Directories:` entry).

use std::time::Duration;

use axum::http::HeaderMap;
use bytes::Bytes;
use cairn_service::{BriefingQuery, GetOptions, PutInput};
use cairn_types::TenantId;
use serde_json::Value;

use crate::ProxyState;
use crate::provider::Provider;

/// The header a client names its project with.
pub const PROJECT_HEADER: &str = "x-cairn-project";

/// How long what was put in front of a conversation is kept.
const KEPT: Duration = Duration::from_secs(7 * 24 * 3600);

/// Where the first user turn's text is (a JSON pointer to a string), in a
/// request of `provider`.
fn first_user_text(provider: Provider, request: &Value) -> Option<String> {
    let text_in = |content: &Value, base: String, part_types: &[&str]| -> Option<String> {
        match content {
            Value::String(_) => Some(base),
            Value::Array(parts) => parts
                .iter()
                .position(|part| {
                    part["text"].is_string()
                        && part["type"]
                            .as_str()
                            .is_none_or(|kind| part_types.contains(&kind))
                })
                .map(|index| format!("{base}/{index}/text")),
            _ => None,
        }
    };
    match provider {
        Provider::Anthropic | Provider::OpenAiChat => {
            let messages = request["messages"].as_array()?;
            let index = messages
                .iter()
                .position(|message| message["role"] == "user")?;
            text_in(
                &messages[index]["content"],
                format!("/messages/{index}/content"),
                &["text"],
            )
        }
        Provider::OpenAiResponses => match &request["input"] {
            Value::String(_) => Some("/input".to_owned()),
            Value::Array(items) => {
                let index = items.iter().position(|item| {
                    item["role"] == "user"
                        && item["type"].as_str().is_none_or(|kind| kind == "message")
                })?;
                text_in(
                    &items[index]["content"],
                    format!("/input/{index}/content"),
                    &["input_text", "text"],
                )
            }
            _ => None,
        },
        Provider::Gemini => {
            let contents = request["contents"].as_array()?;
            let index = contents
                .iter()
                .position(|content| content["role"].as_str().is_none_or(|role| role == "user"))?;
            let parts = contents[index]["parts"].as_array()?;
            let part = parts.iter().position(|part| part["text"].is_string())?;
            Some(format!("/contents/{index}/parts/{part}/text"))
        }
    }
}

/// Whether the request holds no answer of the model yet.
fn is_new(provider: Provider, request: &Value) -> bool {
    let answered = |items: Option<&Vec<Value>>, role_key: &str, model_roles: &[&str]| {
        items.into_iter().flatten().any(|item| {
            item[role_key]
                .as_str()
                .is_some_and(|role| model_roles.contains(&role))
        })
    };
    match provider {
        Provider::Anthropic => !answered(request["messages"].as_array(), "role", &["assistant"]),
        Provider::OpenAiChat => !answered(
            request["messages"].as_array(),
            "role",
            &["assistant", "tool"],
        ),
        Provider::OpenAiResponses => {
            let items = request["input"].as_array();
            !answered(items, "role", &["assistant"])
                && !items.into_iter().flatten().any(|item| {
                    item["type"].as_str().is_some_and(|kind| {
                        kind.ends_with("_call") || kind.ends_with("_output") || kind == "reasoning"
                    })
                })
        }
        Provider::Gemini => !answered(request["contents"].as_array(), "role", &["model"]),
    }
}

/// The project a request belongs to: the header, else the working
/// directory the agent names.
pub(crate) fn project_of(headers: &HeaderMap, request: &Value) -> Option<String> {
    if let Some(project) = headers
        .get(PROJECT_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|project| !project.is_empty() && project.len() <= 4096)
    {
        return Some(project.to_owned());
    }
    named_directory(request)
}

/// The first working directory a string of `value` names, depth first.
fn named_directory(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => [
            ("Primary working directory: ", "\n"),
            ("Working directory: ", "\n"),
            ("<cwd>", "</cwd>"),
            ("I'm currently working in the directory: ", "\n"),
            // Gemini CLI 0.61's `<session_context>`: its first workspace.
            ("- **Workspace Directories:**\n  - ", "\n"),
        ]
        .iter()
        .find_map(|(open, close)| {
            let start = text.find(open)? + open.len();
            let rest = &text[start..];
            let end = rest.find(close).unwrap_or(rest.len());
            let path = rest[..end].trim();
            (path.starts_with('/') && path.len() <= 4096).then(|| path.to_owned())
        }),
        Value::Array(items) => items.iter().find_map(named_directory),
        Value::Object(fields) => fields.values().find_map(named_directory),
        _ => None,
    }
}

/// Who is talking, as far as the proxy knows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conversation<'a> {
    /// `claude`, `codex` or `gemini`: its own sessions are left out.
    pub agent: Option<&'a str>,
    /// The agent's session id, when it sends one.
    pub id: Option<&'a str>,
    pub project: Option<&'a str>,
}

/// Puts the briefing in front of the first user turn of `request` (edited
/// in place; `original` is the client's), if the proxy briefs and there is
/// one: a fresh one for a new conversation, the one it got before for a
/// later request of it.
pub(crate) async fn brief(
    state: &ProxyState,
    tenant: &TenantId,
    provider: Provider,
    conversation: Conversation<'_>,
    original: &Value,
    request: &mut Value,
) {
    let Conversation {
        agent,
        id: conversation,
        project,
    } = conversation;
    let Some(budget) = state.config.briefing_tokens else {
        return;
    };
    let Some(pointer) = first_user_text(provider, original) else {
        return;
    };
    let Some(Value::String(first)) = original.pointer(&pointer) else {
        return;
    };
    let key = {
        let mut hasher = blake3::Hasher::new();
        hasher.update(provider.family().as_bytes());
        hasher.update(&[0]);
        match conversation {
            Some(id) => hasher.update(b"id\0").update(id.as_bytes()),
            None => hasher.update(b"text\0").update(first.as_bytes()),
        };
        format!(
            "cairn/proxy-briefings/{}",
            &hasher.finalize().to_hex()[..32]
        )
    };
    let Ok(key) = cairn_types::ContextKey::parse(&key) else {
        return;
    };
    let cairn = &state.cairn;
    let briefing = if is_new(provider, original) {
        let Some(project) = project else {
            return;
        };
        let query = BriefingQuery {
            project: project.to_owned(),
            agent: agent.map(str::to_owned),
            max_tokens: Some(budget),
            exclude_session: conversation.map(str::to_owned),
            repository: None,
        };
        let briefing = match cairn.briefing(tenant, query).await {
            Ok(briefing) if !briefing.sessions.is_empty() => briefing.text,
            Ok(_) => return,
            Err(error) => {
                tracing::warn!(%error, "no briefing for a new conversation");
                return;
            }
        };
        let put = PutInput {
            content: Bytes::from(briefing.clone()),
            agent: Some("cairn-proxy".to_owned()),
            ttl: Some(KEPT),
            ..PutInput::default()
        };
        if let Err(error) = cairn.put(tenant, &key, put).await {
            // Later turns will go without it: their prefix changes once.
            tracing::warn!(%error, "cannot keep a conversation's briefing");
        }
        briefing
    } else {
        let full = GetOptions {
            view: cairn_types::View::Full,
            ..GetOptions::default()
        };
        match cairn.get(tenant, &key, full).await {
            Ok(stored) => match String::from_utf8(stored.content.to_vec()) {
                Ok(text) => text,
                Err(_) => return,
            },
            Err(_) => return,
        }
    };
    if let Some(target) = request.pointer_mut(&pointer) {
        *target = Value::String(format!("{briefing}\n{first}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_user_turn_is_found_in_every_wire_api() {
        let anthropic = json!({"system": "s", "messages": [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "fix it"}]}]});
        assert_eq!(
            first_user_text(Provider::Anthropic, &anthropic).as_deref(),
            Some("/messages/0/content/1/text")
        );
        let chat = json!({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]});
        assert_eq!(
            first_user_text(Provider::OpenAiChat, &chat).as_deref(),
            Some("/messages/1/content")
        );
        let responses = json!({"input": [
            {"type": "message", "role": "developer", "content": "d"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context>"}]}]});
        assert_eq!(
            first_user_text(Provider::OpenAiResponses, &responses).as_deref(),
            Some("/input/1/content/0/text")
        );
        let gemini =
            json!({"contents": [{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}]});
        assert_eq!(
            first_user_text(Provider::Gemini, &gemini).as_deref(),
            Some("/contents/0/parts/0/text")
        );
    }

    #[test]
    fn a_conversation_is_new_until_the_model_has_answered() {
        let first = json!({"messages": [{"role": "user", "content": "hi"}]});
        assert!(is_new(Provider::Anthropic, &first));
        let later = json!({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]});
        assert!(!is_new(Provider::Anthropic, &later));
        let called = json!({"input": [{"role": "user", "content": "hi"}, {"type": "function_call_output", "call_id": "c"}]});
        assert!(!is_new(Provider::OpenAiResponses, &called));
        let gemini = json!({"contents": [{"role": "user", "parts": [{"text": "a"}]}, {"role": "model", "parts": []}]});
        assert!(!is_new(Provider::Gemini, &gemini));
    }

    #[test]
    fn the_project_is_the_header_or_the_directory_the_agent_names() {
        let mut headers = HeaderMap::new();
        let codex = json!({"input": [{"role": "user", "content": "<environment_context>\n  <cwd>/work/shop</cwd>\n</environment_context>"}]});
        assert_eq!(project_of(&headers, &codex).as_deref(), Some("/work/shop"));
        let claude = json!({"system": [{"type": "text", "text": "Here is useful information:\nWorking directory: /work/api\nIs a git repo: true"}]});
        assert_eq!(project_of(&headers, &claude).as_deref(), Some("/work/api"));
        let gemini = json!({"contents": [{"role": "user", "parts": [{"text": "<session_context>\nMy operating system is: linux\n- **Workspace Directories:**\n  - /work/app\n- **Directory Structure:**"}]}]});
        assert_eq!(project_of(&headers, &gemini).as_deref(), Some("/work/app"));
        headers.insert(PROJECT_HEADER, "/work/named".parse().expect("a header"));
        assert_eq!(
            project_of(&headers, &claude).as_deref(),
            Some("/work/named")
        );
        assert_eq!(
            project_of(&HeaderMap::new(), &json!({"messages": []})),
            None
        );
    }
}
