//! `/v1/contexts`: put, get, list and delete contexts.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cairn_service::{GetOptions, ListQuery, PutInput};
use cairn_types::{
    ContextKey, ContextList, ContextView, Deleted, ErrorBody, ErrorCode, InvalidKey, PutReceipt,
    PutRequest, View,
};
use serde::Deserialize;

use super::negotiate::{Wanted, raw_response, wanted};
use crate::auth::{Caller, Read, Write};
use crate::extract::{Path, Query, body_error, header_text};
use crate::{ApiError, ApiState};

const AGENT_HEADER: &str = "x-cairn-agent";
const SESSION_HEADER: &str = "x-cairn-session";
const TTL_HEADER: &str = "x-cairn-ttl-seconds";

pub(crate) async fn empty_key() -> ApiError {
    ApiError::from(InvalidKey::Empty)
}

/// `PUT /v1/contexts/{key}`: the body is the content, or the JSON form
/// `{"content", "agent", "session", "ttl_seconds", "metadata"}` when the
/// content type is `application/json`.
#[utoipa::path(
    put,
    path = "/v1/contexts/{key}",
    tag = "contexts",
    summary = "Store content under a key as its next version",
    description = "The body is the content itself (any bytes, any content type but \
        `application/json`; agent, session and TTL may come from the headers), or, with \
        `Content-Type: application/json`, the JSON form. To store raw JSON, send it as \
        `text/plain` or `application/octet-stream`. No body stores empty content.",
    params(
        ("key" = String, Path, min_length = 1, max_length = 512, pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$",
            description = "1-512 bytes of UTF-8 without control characters; slashes allowed; not `.` or `..`"),
        ("x-cairn-agent" = Option<String>, Header, description = "Agent recorded with a raw body"),
        ("x-cairn-session" = Option<String>, Header, description = "Session recorded with a raw body"),
        ("x-cairn-ttl-seconds" = Option<u64>, Header, nullable = false, minimum = 1, maximum = 3_155_760_000_u64, description = "Time to live of a raw body, in seconds (1 to 3155760000, 100 years)"),
    ),
    request_body(content(
        (PutRequest = "application/json"),
        (crate::openapi::Binary = "application/octet-stream"),
        (String = "text/plain"),
    )),
    responses(
        (status = 200, description = "Stored", body = PutReceipt),
        (status = 400, description = "Bad key, JSON or field", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 507, description = "Storage full; nothing written", body = ErrorBody),
    ),
)]
pub(crate) async fn put(
    State(state): State<ApiState>,
    caller: Caller<Write>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PutReceipt>, ApiError> {
    let key = ContextKey::parse(key)?;
    let body = body.map_err(|rejection| body_error(rejection, state.config.body_limit))?;
    let mut input = PutInput {
        agent: header_text(&headers, AGENT_HEADER)?,
        session: header_text(&headers, SESSION_HEADER)?,
        ttl: header_text(&headers, TTL_HEADER)?
            .map(|ttl| parse_ttl(&ttl))
            .transpose()?,
        ..PutInput::default()
    };
    if is_json(&headers) {
        let request: PutRequest = serde_json::from_slice(&body).map_err(|error| {
            ApiError::new(
                ErrorCode::InvalidJson,
                format!(
                    "a JSON body must be {{\"content\": \"...\", \"agent\", \"session\", \
                     \"ttl_seconds\", \"metadata\"}} ({error}); to store raw JSON, send it \
                     with Content-Type: text/plain or application/octet-stream"
                ),
            )
        })?;
        input.content = Bytes::from(request.content);
        input.agent = request.agent.or(input.agent);
        input.session = request.session.or(input.session);
        input.ttl = request.ttl_seconds.map(Duration::from_secs).or(input.ttl);
        input.metadata = request.metadata;
    } else {
        input.content = body;
    }
    input.agent = caller.agent_or(input.agent.take());
    Ok(Json(state.cairn.put(&caller.tenant, &key, input).await?))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"))
}

/// The TTL header, checked even when a JSON body's `ttl_seconds` stands in
/// for it.
fn parse_ttl(text: &str) -> Result<Duration, ApiError> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|seconds| (1..=cairn_service::MAX_TTL_SECONDS).contains(seconds))
        .map(Duration::from_secs)
        .ok_or_else(|| {
            ApiError::invalid_request(format!(
                "{TTL_HEADER} must be a whole number of seconds, 1 to {} (100 years)",
                cairn_service::MAX_TTL_SECONDS
            ))
        })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct GetParams {
    /// `compressed` (default) or `full`.
    #[serde(default)]
    view: View,
    /// Keep everything matching this query in the view.
    query: Option<String>,
    /// Cap the view at this many tokens (at least 1).
    #[param(minimum = 1)]
    max_tokens: Option<i64>,
    /// Read this version instead of the latest (versions count from 1).
    #[param(minimum = 1)]
    version: Option<i64>,
}

/// `GET /v1/contexts/{key}`: the compressed view by default; `?view=full` for
/// the original; JSON unless `Accept` asks for the bare bytes.
#[utoipa::path(
    get,
    path = "/v1/contexts/{key}",
    tag = "contexts",
    summary = "Read a context: the compressed view, or the original",
    description = "JSON by default. With `Accept: text/plain` or `application/octet-stream` \
        the body is the view's bytes alone (binary originals byte for byte with `view=full`), \
        and hash, ref, version and tokens come in `x-cairn-*` headers.",
    params(("key" = String, Path, min_length = 1, max_length = 512, pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$", description = "The key"), GetParams),
    responses(
        (status = 200, description = "The view", content(
            (ContextView = "application/json"),
            (String = "text/plain"),
            (crate::openapi::Binary = "application/octet-stream"),
        )),
        (status = 400, description = "Bad key or parameter", body = ErrorBody),
        (status = 404, description = "No such key or version", body = ErrorBody),
        (status = 410, description = "The version's TTL has passed", body = ErrorBody),
    ),
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller<Read>,
    Path(key): Path<String>,
    Query(params): Query<GetParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = ContextKey::parse(key)?;
    let max_tokens = params
        .max_tokens
        .map(|max_tokens| {
            u64::try_from(max_tokens)
                .ok()
                .filter(|max_tokens| *max_tokens >= 1)
                .ok_or_else(|| ApiError::invalid_request("max_tokens must be at least 1"))
        })
        .transpose()?;
    let options = GetOptions {
        view: params.view,
        version: params.version,
        query: params.query.filter(|query| !query.trim().is_empty()),
        max_tokens,
    };
    let read = state.cairn.get(&caller.tenant, &key, options).await?;
    let record = &read.record;
    let wanted = wanted(&headers);
    if wanted != Wanted::Json {
        let facts = [
            ("x-cairn-hash", record.blob.hash.to_hex()),
            ("x-cairn-ref", record.blob.hash.ccr_ref().to_string()),
            ("x-cairn-version", record.version.to_string()),
            ("x-cairn-view", read.view.as_str().to_owned()),
            ("x-cairn-tokens", read.tokens.to_string()),
            (
                "x-cairn-tokens-original",
                record.blob.tokens_original.to_string(),
            ),
        ];
        return Ok(raw_response(wanted, read.content.clone(), &facts));
    }
    Ok(Json(read.into_view()).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// Only keys starting with this.
    prefix: Option<String>,
    /// Only keys whose latest version this agent wrote.
    agent: Option<String>,
    /// Only keys whose latest version belongs to this session.
    session: Option<String>,
    /// Only keys whose latest version has this media type (`application/json`).
    content_type: Option<String>,
    /// Only keys whose latest version was written at or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Page size, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// `GET /v1/contexts`: live keys in key order, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/contexts",
    tag = "contexts",
    summary = "List live keys, latest versions, in key order",
    params(ListParams),
    responses(
        (status = 200, description = "A page; pass `next_cursor` back as `cursor`", body = ContextList),
        (status = 400, description = "Bad parameter or cursor", body = ErrorBody),
    ),
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller<Read>,
    Query(params): Query<ListParams>,
) -> Result<Json<ContextList>, ApiError> {
    let query = ListQuery {
        prefix: params.prefix,
        agent: params.agent,
        session: params.session,
        content_type: params.content_type,
        since: params.since,
        limit: params.limit,
        cursor: params.cursor,
    };
    Ok(Json(state.cairn.list(&caller.tenant, query).await?))
}

/// `DELETE /v1/contexts/{key}`: every version of the key.
#[utoipa::path(
    delete,
    path = "/v1/contexts/{key}",
    tag = "contexts",
    summary = "Delete every version of a key",
    description = "A blob nothing references any more is deleted with it.",
    params(("key" = String, Path, min_length = 1, max_length = 512, pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$", description = "The key")),
    responses(
        (status = 200, description = "Deleted", body = Deleted),
        (status = 400, description = "An invalid key", body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody),
    ),
)]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    caller: Caller<Write>,
    Path(key): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let key = ContextKey::parse(key)?;
    let versions = state.cairn.delete(&caller.tenant, &key).await?;
    Ok(Json(Deleted {
        key: key.into_string(),
        versions,
    }))
}
