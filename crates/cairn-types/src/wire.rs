//! The JSON bodies of the REST API (`/v1`). Field names are the contract;
//! adding optional fields is compatible, renaming is not.

use serde::{Deserialize, Serialize};

/// The JSON form of `PUT /v1/contexts/{key}`. A body that is not JSON is
/// stored as it is, with agent and session taken from headers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutRequest {
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Time to live in seconds, 1 to 3155760000 (100 years). A whole
    /// number written as a float (`60.0`) counts as that number.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_seconds"
    )]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3_155_760_000_u64))]
    pub ttl_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Value>,
}

/// An optional count of seconds: an unsigned integer, or a float with no
/// fractional part (JSON has one number type, and some clients write every
/// number as a float).
fn whole_seconds<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    struct Seconds;

    impl serde::de::Visitor<'_> for Seconds {
        type Value = Option<u64>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("a whole number of seconds")
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Self::Value, E> {
            Ok(Some(value))
        }

        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Self::Value, E> {
            u64::try_from(value)
                .map(Some)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(value), &self))
        }

        fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Self::Value, E> {
            // 2^64 is the first whole float past u64::MAX.
            if value.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&value) {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Ok(Some(value as u64))
            } else {
                Err(E::invalid_value(serde::de::Unexpected::Float(value), &self))
            }
        }
    }

    deserializer.deserialize_any(Seconds)
}

/// What a successful put returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "PutResult")
)]
pub struct PutReceipt {
    pub key: String,
    /// BLAKE3 of the exact bytes, 64 lowercase hex digits.
    pub hash: String,
    /// `ccr:` + the first 24 hex digits of `hash`.
    #[serde(rename = "ref")]
    #[cfg_attr(feature = "graphql", graphql(name = "ref"))]
    pub reference: String,
    pub version: i64,
    /// Size of the original in bytes.
    pub bytes: u64,
    pub tokens_original: u64,
    pub tokens_compressed: u64,
    pub content_type: String,
    /// Whether this tenant already referenced these exact bytes, under any
    /// key. Whether another tenant stored them is never reported.
    pub deduplicated: bool,
    /// Whether the default view is still being rendered (the server was
    /// busy): `tokens_compressed` is `tokens_original` until it is, and a read
    /// meanwhile renders it at once. REST leaves it out when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub view_pending: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// Which view of a context to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// The compressed view, with a marker for every cut.
    #[default]
    Compressed,
    /// The original, byte for byte.
    Full,
}

impl View {
    pub fn as_str(self) -> &'static str {
        match self {
            View::Compressed => "compressed",
            View::Full => "full",
        }
    }
}

/// How `content` is encoded in a JSON body: text as it is, binary as base64.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::Enum),
    graphql(name = "Encoding")
)]
#[serde(rename_all = "snake_case")]
pub enum ContentEncoding {
    #[default]
    Utf8,
    Base64,
}

/// One cut in a compressed view: where it points and what it left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct Marker {
    /// The `ccr:` reference of the original the cut points into.
    #[serde(rename = "ref")]
    #[cfg_attr(feature = "graphql", graphql(name = "ref"))]
    pub reference: String,
    /// What was omitted, in words ("480 of 500 rows omitted ...").
    pub summary: String,
}

/// A version of a context, as one view (`GET /v1/contexts/{key}` as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "Context")
)]
pub struct ContextView {
    pub key: String,
    /// BLAKE3 of the original, 64 lowercase hex digits.
    pub hash: String,
    /// `ccr:` + the first 24 hex digits of `hash`.
    #[serde(rename = "ref")]
    #[cfg_attr(feature = "graphql", graphql(name = "ref"))]
    pub reference: String,
    pub version: i64,
    pub view: View,
    pub content: String,
    #[serde(default)]
    pub encoding: ContentEncoding,
    /// Tokens of `content` as served.
    pub tokens: u64,
    /// Tokens of the original.
    pub tokens_original: u64,
    pub markers: Vec<Marker>,
    /// Size of the original in bytes.
    pub bytes: u64,
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Value>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// A key's latest version, as listed (`GET /v1/contexts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct ContextSummary {
    pub key: String,
    pub version: i64,
    pub hash: String,
    #[serde(rename = "ref")]
    #[cfg_attr(feature = "graphql", graphql(name = "ref"))]
    pub reference: String,
    pub bytes: u64,
    pub tokens_original: u64,
    pub tokens_compressed: u64,
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// A page of `GET /v1/contexts`; pass `next_cursor` back as `cursor` for the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContextList {
    pub items: Vec<ContextSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// What this tenant has stored and what compression saved (`GET /v1/stats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct Stats {
    /// Live keys (latest version not expired).
    pub contexts: u64,
    /// Stored versions, all keys.
    pub versions: u64,
    /// Distinct originals this tenant references.
    pub blobs: u64,
    /// Sum of the original sizes of every version (what a store without dedup would hold).
    pub bytes_original: u64,
    /// Sum of the original sizes of the distinct blobs.
    pub bytes_unique: u64,
    /// What the distinct blobs take at rest (zstd).
    pub bytes_stored: u64,
    /// `bytes_original / bytes_stored` (1.0 when empty).
    pub dedup_ratio: f64,
    /// Tokens of every version's original.
    pub tokens_original: u64,
    /// Tokens of every version's default compressed view.
    pub tokens_compressed: u64,
    /// `tokens_original - tokens_compressed`.
    pub tokens_saved: u64,
    /// Distinct originals whose default view is still being rendered (puts
    /// acknowledged while the server was busy); their tokens count as not
    /// compressed until then.
    #[serde(default)]
    pub views_pending: u64,
    /// What the LLM proxy saved since the server started.
    #[serde(default)]
    pub proxy: ProxyStats,
}

/// The LLM proxy's traffic for a tenant since the server started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct ProxyStats {
    /// Requests forwarded upstream.
    pub requests: u64,
    /// Tokens of those requests as the clients sent them.
    pub tokens_original: u64,
    /// Tokens of those requests as sent upstream.
    pub tokens_sent: u64,
    /// `tokens_original - tokens_sent`.
    pub tokens_saved: u64,
}

/// `GET /v1/activity`: what the agents put and imported, day by day (UTC),
/// and what the LLM proxy saved for each provider since the server started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Activity {
    /// The first day counted (`YYYY-MM-DD`).
    pub since: String,
    /// Versions put, by day, agent and content type; days without puts are absent.
    pub contexts: Vec<ContextActivity>,
    /// Sessions imported or captured, by the day they started and agent.
    pub sessions: Vec<SessionActivity>,
    /// Every session of the tenant, whenever it started.
    pub sessions_total: u64,
    /// Every message of those sessions.
    pub messages_total: u64,
    /// The proxy's traffic by provider (`anthropic`, `openai`, `gemini`).
    pub proxy: Vec<ProviderTraffic>,
}

/// The versions one agent put on one day, of one content type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContextActivity {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub agent: Option<String>,
    pub content_type: String,
    pub versions: u64,
    pub tokens_original: u64,
    pub tokens_compressed: u64,
    /// `tokens_original - tokens_compressed`.
    pub tokens_saved: u64,
}

/// The sessions of one agent that started on one day, and their messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionActivity {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub agent: String,
    pub sessions: u64,
    pub messages: u64,
}

/// The proxy's traffic to one provider for a tenant since the server started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProviderTraffic {
    pub provider: String,
    pub requests: u64,
    pub tokens_original: u64,
    pub tokens_sent: u64,
    pub tokens_saved: u64,
}

/// What a delete removed (`DELETE /v1/contexts/{key}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "DeleteResult")
)]
pub struct Deleted {
    pub key: String,
    /// How many versions were deleted.
    pub versions: u64,
}

/// The original a `ccr:` reference names, or the part of it a line range or
/// a query selected (`GET /v1/ccr/{ref}` as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "Original")
)]
pub struct Retrieved {
    #[serde(rename = "ref")]
    #[cfg_attr(feature = "graphql", graphql(name = "ref"))]
    pub reference: String,
    pub hash: String,
    pub bytes: u64,
    pub content_type: String,
    /// Tokens of the original.
    pub tokens: u64,
    /// The original, or the selected lines (or items of a JSON array).
    pub content: String,
    #[serde(default)]
    pub encoding: ContentEncoding,
    /// What was selected: `lines 3-9`, `items 3-9` or `query`; absent for the whole original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<String>,
    /// Lines (or items) in the whole original, when a part was selected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// With a query: each matching line or item and its 1-based position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<Match>>,
}

/// A line (or JSON array item) of an original that matched a query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct Match {
    pub position: u64,
    pub text: String,
}

/// `POST /v1/compress`: one text (`content`), or the `messages` of an OpenAI
/// Chat or Anthropic Messages request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CompressRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub messages: Option<Vec<serde_json::Value>>,
    /// Keep everything matching this (for `content`; `messages` take each tool
    /// result's question from the user turn before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// What `content` is (json_rows, json, log, search, diff, csv, tsv, html,
    /// prose, code, text); detected when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// What `POST /v1/compress` returns. The original of every cut is stored, so
/// each marker's `ref` resolves at `GET /v1/ccr/{ref}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompressResponse {
    /// The compressed text (for a `content` request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The messages with their tool results compressed (for a `messages` request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub messages: Option<Vec<serde_json::Value>>,
    /// What the content was taken for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The `ccr:` reference of the original `content`.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub tokens_before: u64,
    pub tokens_after: u64,
    pub markers: Vec<Marker>,
}

/// `GET /healthz` and `GET /readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: String,
    pub version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_request_refuses_unknown_fields_and_needs_content() {
        let err = serde_json::from_str::<PutRequest>(r#"{"content":"x","agnet":"a"}"#)
            .expect_err("typo refused");
        assert!(err.to_string().contains("unknown field `agnet`"), "{err}");
        let err = serde_json::from_str::<PutRequest>(r#"{"agent":"a"}"#).expect_err("no content");
        assert!(err.to_string().contains("missing field `content`"), "{err}");
        let ok: PutRequest =
            serde_json::from_str(r#"{"content":"x","ttl_seconds":5,"metadata":{"a":1}}"#)
                .expect("valid");
        assert_eq!(ok.ttl_seconds, Some(5));
    }

    #[test]
    fn ttl_seconds_may_be_a_whole_float() {
        let ttl = |json: &str| {
            serde_json::from_str::<PutRequest>(&format!(
                r#"{{"content":"x","ttl_seconds":{json}}}"#
            ))
            .map(|request| request.ttl_seconds)
        };
        assert_eq!(ttl("610.0").ok(), Some(Some(610)));
        assert_eq!(ttl("6.1e2").ok(), Some(Some(610)));
        assert_eq!(ttl("null").ok(), Some(None));
        for bad in ["610.5", "-1", "-1.0", "1e20", "\"60\""] {
            assert!(ttl(bad).is_err(), "{bad}");
        }
        let absent: PutRequest = serde_json::from_str(r#"{"content":"x"}"#).expect("valid");
        assert_eq!(absent.ttl_seconds, None);
    }

    #[test]
    fn reference_is_spelled_ref_on_the_wire() {
        let marker = Marker {
            reference: "ccr:0123".into(),
            summary: "s".into(),
        };
        let json = serde_json::to_value(&marker).expect("serializes");
        assert_eq!(json, serde_json::json!({"ref": "ccr:0123", "summary": "s"}));
    }
}

/// What importing one session file did (`POST /v1/sessions/import`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "ImportResult")
)]
pub struct ImportReport {
    /// `claude`, `codex` or `gemini`: given, or detected from the content.
    pub agent: String,
    /// Sessions in the file (a Claude subagent transcript is one of its own).
    pub sessions: u64,
    /// Messages the import added (records already imported are not counted).
    pub messages: u64,
    /// Records imported before and since rewritten (a newer copy replaced them).
    #[serde(default)]
    pub replaced: u64,
    /// Records of types Cairn does not import (progress, snapshots, telemetry).
    pub skipped: u64,
    /// Torn or corrupt lines: reported, and the rest imported.
    pub errors: Vec<ImportLineError>,
}

/// One line an import could not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct ImportLineError {
    /// 1-based; 0 for the file as a whole.
    pub line: u64,
    pub message: String,
}

/// One imported session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionSummary {
    pub id: String,
    pub agent: String,
    /// The session's working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A subagent's parent session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    pub messages: u64,
    pub tool_calls: u64,
}

/// A page of `GET /v1/sessions`, most recently updated first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionList {
    pub sessions: Vec<SessionSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One message of a session. Tool outputs come as a compressed view whose
/// markers (and `ref`) lead to the full output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "Message")
)]
pub struct SessionMessage {
    pub position: u64,
    /// `user`, `assistant`, `tool` or `system`.
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Injected by the agent (reminders, instructions), not typed or answered.
    #[serde(default)]
    pub injected: bool,
    /// The message; a tool output as its compressed view.
    pub content: String,
    /// The full output's reference, for tool outputs stored as blobs.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "graphql", graphql(name = "ref"))]
    pub reference: Option<String>,
    #[serde(default)]
    pub markers: Vec<Marker>,
    /// Tokens of `content`.
    pub tokens: u64,
    /// Tokens of the full message.
    pub tokens_original: u64,
}

/// `GET /v1/sessions/{id}`: a session and a page of its messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionDetail {
    pub session: SessionSummary,
    pub messages: Vec<SessionMessage>,
    /// Pass back as `from` for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_from: Option<u64>,
}

/// One message or context that matched a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct SearchHit {
    /// `message` or `context`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The message's position in its session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    /// The context's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Every key that holds this same content, `key` first, when more than
    /// one does: identical contexts are one hit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The full message or context.
    #[serde(rename = "ref")]
    #[cfg_attr(feature = "graphql", graphql(name = "ref"))]
    pub reference: String,
    pub at: String,
    pub score: f32,
    /// Around the best match, matches in `**`.
    pub snippet: String,
}

/// Ranked search hits (`GET /v1/search`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct SearchResults {
    /// Every match, before the limit.
    pub total: u64,
    pub hits: Vec<SearchHit>,
}

/// What the other agents did in a project, newest first, digested within a
/// token budget (`GET /v1/briefing`). The same store and arguments give the
/// same bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct Briefing {
    /// The project folder asked about (sessions in it and its subfolders).
    pub project: String,
    /// The agent it is for: its own sessions are left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The digest, ready to put in front of a model.
    pub text: String,
    /// o200k tokens of `text`, never more than the budget.
    pub tokens: u64,
    /// The sessions `text` describes, in its order.
    pub sessions: Vec<BriefingSession>,
    /// Sessions of the project that did not fit the budget.
    pub omitted: u64,
}

/// One session of a briefing. Every item names the `ccr:` reference that
/// expands it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct BriefingSession {
    pub id: String,
    pub agent: String,
    /// The session's working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// The first real prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<BriefingItem>,
    /// Files the agent wrote or edited, each with the last call that did.
    pub files_written: Vec<BriefingItem>,
    /// Files the agent read, each with the first call that did.
    pub files_read: Vec<BriefingItem>,
    /// Commands that failed, each with whether the same command later passed.
    pub failures: Vec<BriefingFailure>,
    /// The final assistant message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_state: Option<BriefingItem>,
    /// What was left open: failures never fixed, an unanswered prompt, a
    /// call without a result.
    pub open: Vec<BriefingItem>,
    /// Whether `text` shows this session only in short (task and last state).
    pub abridged: bool,
}

/// A line of a briefing and the reference that expands it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct BriefingItem {
    pub text: String,
    #[serde(rename = "ref")]
    #[cfg_attr(feature = "graphql", graphql(name = "ref"))]
    pub reference: String,
}

/// A command that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct BriefingFailure {
    pub command: String,
    /// Its exit code, when the output says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// The failed output.
    #[serde(rename = "ref")]
    #[cfg_attr(feature = "graphql", graphql(name = "ref"))]
    pub reference: String,
    /// The output of the same command passing later, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed_later: Option<String>,
}
