//! `/v1/compress`: stateless compression of a text or of a conversation.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use bytes::Bytes;
use cairn_service::CompressInput;
use cairn_types::{CompressRequest, CompressResponse, ErrorBody, ErrorCode};

use crate::auth::{Caller, Write};
use crate::extract::body_error;
use crate::{ApiError, ApiState};

/// `POST /v1/compress`
#[utoipa::path(
    post,
    path = "/v1/compress",
    tag = "compress",
    summary = "Compress a text, or the tool results of a conversation",
    description = "Send `content` (with an optional `query`, `max_tokens` and `kind`), or \
        `messages` in OpenAI Chat or Anthropic Messages shape: their tool results are \
        compressed, each for the user turn before it; everything else is left as it is. The \
        original of every cut is stored, so each marker's ref resolves at /v1/ccr/{ref}.",
    request_body = CompressRequest,
    responses(
        (status = 200, description = "Compressed", body = CompressResponse),
        (status = 400, description = "Neither or both of content and messages, or a bad field", body = ErrorBody),
    ),
)]
pub(crate) async fn compress(
    State(state): State<ApiState>,
    caller: Caller<Write>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CompressResponse>, ApiError> {
    let body = body.map_err(|rejection| body_error(rejection, state.config.body_limit))?;
    let request: CompressRequest = serde_json::from_slice(&body).map_err(|error| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("the body must be a compress request: {error}"),
        )
    })?;
    let hint = match request.kind.as_deref() {
        None => None,
        Some(name) => Some(cairn_compress_kind(name)?),
    };
    match (request.content, request.messages) {
        (Some(content), None) => {
            let input = CompressInput {
                content: Bytes::from(content),
                query: request.query.filter(|query| !query.trim().is_empty()),
                max_tokens: request.max_tokens,
                hint,
            };
            let output = state.cairn.compress(&caller.tenant, input).await?;
            Ok(Json(CompressResponse {
                content: Some(output.content),
                messages: None,
                kind: Some(output.kind.as_str().to_owned()),
                reference: Some(output.hash.ccr_ref().to_string()),
                tokens_before: output.tokens_before,
                tokens_after: output.tokens_after,
                markers: output.markers,
            }))
        }
        (None, Some(messages)) => {
            if request.query.is_some() || request.max_tokens.is_some() || hint.is_some() {
                return Err(ApiError::invalid_request(
                    "query, max_tokens and kind go with content; messages take each question from the conversation",
                ));
            }
            let output = state
                .cairn
                .compress_messages(&caller.tenant, messages)
                .await?;
            Ok(Json(CompressResponse {
                content: None,
                messages: Some(output.messages),
                kind: None,
                reference: None,
                tokens_before: output.tokens_before,
                tokens_after: output.tokens_after,
                markers: output.markers,
            }))
        }
        _ => Err(ApiError::invalid_request("send either content or messages")),
    }
}

fn cairn_compress_kind(name: &str) -> Result<cairn_service::Kind, ApiError> {
    cairn_service::Kind::parse(name).ok_or_else(|| {
        let names: Vec<&str> = cairn_service::Kind::ALL
            .iter()
            .map(|kind| kind.as_str())
            .collect();
        ApiError::invalid_request(format!(
            "unknown kind {name:?}; one of: {}",
            names.join(", ")
        ))
    })
}
