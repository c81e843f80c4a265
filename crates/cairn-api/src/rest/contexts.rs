//! `/v1/contexts`: put, get, list and delete contexts.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cairn_service::{GetOptions, ListQuery, PutInput, format_millis};
use cairn_types::{
    ContextKey, ContextList, ContextView, Deleted, ErrorCode, InvalidKey, PutReceipt, PutRequest,
    View,
};
use serde::Deserialize;

use super::negotiate::{Wanted, raw_response, wanted};
use crate::extract::{Caller, Path, Query, body_error, header_text};
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
pub(crate) async fn put(
    State(state): State<ApiState>,
    caller: Caller,
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
    Ok(Json(state.cairn.put(&caller.tenant, &key, input).await?))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"))
}

fn parse_ttl(text: &str) -> Result<Duration, ApiError> {
    text.trim()
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| {
            ApiError::invalid_request(format!("{TTL_HEADER} must be a whole number of seconds"))
        })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GetParams {
    #[serde(default)]
    view: View,
    query: Option<String>,
    max_tokens: Option<u64>,
    version: Option<i64>,
}

/// `GET /v1/contexts/{key}`: the compressed view by default; `?view=full` for
/// the original; JSON unless `Accept` asks for the bare bytes.
pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(key): Path<String>,
    Query(params): Query<GetParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = ContextKey::parse(key)?;
    if params.max_tokens == Some(0) {
        return Err(ApiError::invalid_request("max_tokens must be at least 1"));
    }
    let options = GetOptions {
        view: params.view,
        version: params.version,
        query: params.query.filter(|query| !query.trim().is_empty()),
        max_tokens: params.max_tokens,
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
    let (content, encoding) = read.content_for_json();
    let record = read.record;
    Ok(Json(ContextView {
        key: record.key,
        hash: record.blob.hash.to_hex(),
        reference: record.blob.hash.ccr_ref().to_string(),
        version: record.version,
        view: read.view,
        content,
        encoding,
        tokens: read.tokens,
        tokens_original: record.blob.tokens_original,
        markers: read.markers,
        bytes: record.blob.bytes_original,
        content_type: record.blob.content_type,
        agent: record.agent,
        session: record.session,
        metadata: record
            .metadata
            .and_then(|text| serde_json::from_str(&text).ok()),
        created_at: format_millis(record.created_at),
        expires_at: record.expires_at.map(format_millis),
    })
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    prefix: Option<String>,
    agent: Option<String>,
    session: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// `GET /v1/contexts`: live keys in key order, a page at a time.
pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<Json<ContextList>, ApiError> {
    let query = ListQuery {
        prefix: params.prefix,
        agent: params.agent,
        session: params.session,
        limit: params.limit,
        cursor: params.cursor,
    };
    Ok(Json(state.cairn.list(&caller.tenant, query).await?))
}

/// `DELETE /v1/contexts/{key}`: every version of the key.
pub(crate) async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path(key): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let key = ContextKey::parse(key)?;
    let versions = state.cairn.delete(&caller.tenant, &key).await?;
    Ok(Json(Deleted {
        key: key.into_string(),
        versions,
    }))
}
