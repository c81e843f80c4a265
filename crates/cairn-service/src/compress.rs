//! Stateless compression (`POST /v1/compress`): a single text, or the
//! messages of an OpenAI Chat or Anthropic Messages request with their tool
//! results compressed. The original of every cut is retained, so each
//! marker's reference can be retrieved.
//!
//! Which query a tool result is compressed for: the user turn before it (the
//! question it was fetched to answer). Never a later turn: a message's
//! compressed form depends only on the conversation up to it, so resending a
//! conversation with one more turn compresses everything before it the same
//! way (SPEC invariant 3; provider prompt caches keep hitting).

use std::time::Duration;

use bytes::Bytes;
use cairn_compress::Kind;
use cairn_core::{ContentHash, RenderedView, tokens};
use cairn_types::{Marker, TenantId};
use serde_json::Value;

use crate::{Cairn, MAX_QUERY_BYTES, ServiceError, check_query, now_millis, spawn_cpu};

/// How long a compressed original is retained when nothing else keeps it.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// A text to compress.
#[derive(Debug, Clone, Default)]
pub struct CompressInput {
    pub content: Bytes,
    pub query: Option<String>,
    pub max_tokens: Option<u64>,
    pub hint: Option<Kind>,
}

/// A compressed text.
#[derive(Debug, Clone)]
pub struct CompressOutput {
    pub content: String,
    pub kind: Kind,
    pub hash: ContentHash,
    pub tokens_before: u64,
    pub tokens_after: u64,
    pub markers: Vec<Marker>,
}

/// Compressed messages.
#[derive(Debug, Clone)]
pub struct MessagesOutput {
    pub messages: Vec<Value>,
    pub tokens_before: u64,
    pub tokens_after: u64,
    pub markers: Vec<Marker>,
}

impl Cairn {
    /// Compresses one text, retaining its original if the view cut anything.
    pub async fn compress(
        &self,
        tenant: &TenantId,
        input: CompressInput,
    ) -> Result<CompressOutput, ServiceError> {
        if let Some(query) = &input.query {
            check_query(query)?;
        }
        if input.max_tokens == Some(0) {
            return Err(ServiceError::InvalidRequest(
                "max_tokens must be at least 1".into(),
            ));
        }
        let content = input.content;
        let (hash, blob, compressed, tokens_before) = {
            let (content, query, max_tokens, hint) =
                (content.clone(), input.query, input.max_tokens, input.hint);
            let level = self.config.zstd_level;
            // Hashing, encoding and compressing are CPU work, off the async workers.
            spawn_cpu(move || -> Result<_, ServiceError> {
                let hash = ContentHash::of(&content);
                // Without options the answer is the default view, which the
                // encoding renders anyway.
                if query.is_none() && max_tokens.is_none() && hint.is_none() {
                    let (blob, default) = crate::encode(hash, &content, level)?;
                    let tokens_before = blob.tokens_original;
                    return Ok((hash, blob, default, tokens_before));
                }
                // Otherwise the engine runs once, for the view asked for; the
                // retained original's default view is left to the renderer
                // (it is stored only if that view cut anything, and a stored
                // view is never replaced by a pending one).
                let blob = crate::encode_without_view(hash, &content, level)?;
                let tokens_before = blob.tokens_original;
                let options = cairn_compress::Options {
                    query: query.as_deref(),
                    max_tokens,
                    hint,
                    tokens_original: Some(tokens_before),
                    scorer: None,
                };
                let compressed = cairn_compress::compress(&content, &hash, &options);
                Ok((hash, blob, compressed, tokens_before))
            })
            .await??
        };
        let (text, tokens_after, markers) = match compressed.view {
            RenderedView::Original => (
                String::from_utf8_lossy(&content).into_owned(),
                tokens_before,
                Vec::new(),
            ),
            RenderedView::Rendered {
                content,
                tokens,
                markers,
            } => (content, tokens, markers),
        };
        if !markers.is_empty() {
            let now = now_millis();
            let until = now.saturating_add(
                i64::try_from(self.config.retention.as_millis()).unwrap_or(i64::MAX),
            );
            self.store.retain_blob(tenant, &blob, now, until).await?;
        }
        Ok(CompressOutput {
            content: text,
            kind: compressed.kind,
            hash,
            tokens_before,
            tokens_after,
            markers,
        })
    }

    /// Compresses the tool results of a conversation, each for the user turn
    /// before it. Everything else (system prompts, tool definitions, user and
    /// assistant text) is left exactly as it is.
    pub async fn compress_messages(
        &self,
        tenant: &TenantId,
        mut messages: Vec<Value>,
    ) -> Result<MessagesOutput, ServiceError> {
        let tokens_before = count_json(&messages);
        let mut markers = Vec::new();
        let mut question: Option<String> = None;
        for message in &mut messages {
            let Some(object) = message.as_object_mut() else {
                return Err(ServiceError::InvalidRequest(
                    "every message must be an object".into(),
                ));
            };
            let role = object
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let Some(content) = object.get_mut("content") else {
                continue;
            };
            match role.as_str() {
                // OpenAI Chat: a tool result is a message of its own.
                "tool" => {
                    self.compress_content(tenant, content, question.as_deref(), &mut markers)
                        .await?;
                }
                // Anthropic: tool results are blocks of a user message, beside
                // which any text is the user's own words.
                "user" => {
                    if let Some(text) = user_text(content) {
                        question = Some(text);
                    }
                    if let Value::Array(blocks) = content {
                        for block in blocks.iter_mut() {
                            if block.get("type").and_then(Value::as_str) == Some("tool_result")
                                && let Some(inner) = block.get_mut("content")
                            {
                                self.compress_content(
                                    tenant,
                                    inner,
                                    question.as_deref(),
                                    &mut markers,
                                )
                                .await?;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        let tokens_after = count_json(&messages);
        Ok(MessagesOutput {
            messages,
            tokens_before,
            tokens_after,
            markers,
        })
    }

    /// Compresses a message content in place: a string, or the `text` of
    /// every text part of an array.
    async fn compress_content(
        &self,
        tenant: &TenantId,
        content: &mut Value,
        question: Option<&str>,
        markers: &mut Vec<Marker>,
    ) -> Result<(), ServiceError> {
        let mut texts: Vec<&mut Value> = match content {
            Value::String(_) => vec![content],
            Value::Array(parts) => parts
                .iter_mut()
                .filter(|part| part.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|part| part.get_mut("text"))
                .collect(),
            _ => Vec::new(),
        };
        for text in texts.iter_mut() {
            let Value::String(original) = &**text else {
                continue;
            };
            let input = CompressInput {
                content: Bytes::from(original.clone()),
                query: question.map(str::to_owned),
                ..CompressInput::default()
            };
            let output = self.compress(tenant, input).await?;
            if !output.markers.is_empty() {
                **text = Value::String(output.content);
                markers.extend(output.markers);
            }
        }
        Ok(())
    }
}

/// The user's own words in a user message: its string content, or its text
/// blocks (not its tool results).
fn user_text(content: &Value) -> Option<String> {
    let text = match content {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|block| block.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|block| block.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    let text = text.trim();
    // Long pastes are not questions; keep the query to what fits one.
    (!text.is_empty()).then(|| {
        let end = cairn_compress::lines::floor_char_boundary(text, MAX_QUERY_BYTES);
        text[..end].to_owned()
    })
}

fn count_json(messages: &[Value]) -> u64 {
    tokens::count(&serde_json::to_string(messages).unwrap_or_default())
}
