//! `/v1/ccr/{ref}`: the original a `ccr:` reference names.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use cairn_service::encode_for_json;
use cairn_types::{ErrorBody, Retrieved};

use super::negotiate::{Wanted, raw_response, wanted};
use crate::extract::{Caller, Path};
use crate::{ApiError, ApiState};

/// `GET /v1/ccr/{ref}`: the full original, as JSON or (with `Accept`) bare.
#[utoipa::path(
    get,
    path = "/v1/ccr/{reference}",
    tag = "ccr",
    summary = "The original a `ccr:` reference names",
    params(("reference" = String, Path, description = "`ccr:` and 24 lowercase hex digits (the prefix may be left out)")),
    responses(
        (status = 200, description = "The original", content(
            (Retrieved = "application/json"),
            (String = "text/plain"),
            (crate::openapi::Binary = "application/octet-stream"),
        )),
        (status = 400, description = "Not a reference", body = ErrorBody),
        (status = 404, description = "Nothing stored under it for this tenant", body = ErrorBody),
    ),
)]
pub(crate) async fn retrieve(
    State(state): State<ApiState>,
    caller: Caller,
    Path(reference): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let retrieved = state.cairn.retrieve(&caller.tenant, &reference).await?;
    let blob = retrieved.blob;
    let wanted = wanted(&headers);
    if wanted != Wanted::Json {
        let facts = [
            ("x-cairn-hash", blob.hash.to_hex()),
            ("x-cairn-ref", blob.hash.ccr_ref().to_string()),
            ("x-cairn-tokens", blob.tokens_original.to_string()),
        ];
        return Ok(raw_response(wanted, retrieved.content, &facts));
    }
    let (content, encoding) = encode_for_json(&retrieved.content);
    Ok(Json(Retrieved {
        reference: blob.hash.ccr_ref().to_string(),
        hash: blob.hash.to_hex(),
        bytes: blob.bytes_original,
        content_type: blob.content_type,
        tokens: blob.tokens_original,
        content,
        encoding,
    })
    .into_response())
}
