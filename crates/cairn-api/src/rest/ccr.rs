//! `/v1/ccr/{ref}`: the original a `ccr:` reference names, or a part of it.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use cairn_service::Selection;
use cairn_types::{ErrorBody, Retrieved};
use serde::Deserialize;

use super::negotiate::{Wanted, raw_response, wanted};
use crate::auth::{Caller, Read};
use crate::extract::{Path, Query};
use crate::{ApiError, ApiState};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct CcrParams {
    /// `A-B` or `A`, 1-based: those lines of a text original, or those items
    /// of a JSON array (what a view's markers count); B is not below A.
    /// Not with `query`.
    #[param(pattern = r"^[1-9][0-9]{0,18}(-[1-9][0-9]{0,18})?$")]
    lines: Option<String>,
    /// Only the lines (or items) matching these words, each with its
    /// position. Not with `lines`.
    query: Option<String>,
}

/// `GET /v1/ccr/{ref}`: the full original, or `?lines=` / `?query=` of it, as
/// JSON or (with `Accept`) bare.
#[utoipa::path(
    get,
    path = "/v1/ccr/{reference}",
    tag = "ccr",
    summary = "The original a `ccr:` reference names, or part of it",
    params(
        ("reference" = String, Path, pattern = r"^(ccr:)?[0-9a-f]{24}$",
            description = "`ccr:` and 24 lowercase hex digits (the prefix may be left out)"),
        CcrParams,
    ),
    responses(
        (status = 200, description = "The original or the part selected", content(
            (Retrieved = "application/json"),
            (String = "text/plain"),
            (crate::openapi::Binary = "application/octet-stream"),
        )),
        (status = 400, description = "Not a reference, a bad range, or a binary original asked for lines", body = ErrorBody),
        (status = 404, description = "Nothing stored under it for this tenant", body = ErrorBody),
    ),
)]
pub(crate) async fn retrieve(
    State(state): State<ApiState>,
    caller: Caller<Read>,
    Path(reference): Path<String>,
    Query(params): Query<CcrParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let selection = Selection::from_request(params.lines, params.query)?;
    let wanted = wanted(&headers);
    let (retrieved, part) = state
        .cairn
        .retrieve_selected(&caller.tenant, &reference, selection)
        .await?;
    let blob = &retrieved.blob;
    if wanted != Wanted::Json {
        let facts = [
            ("x-cairn-hash", blob.hash.to_hex()),
            ("x-cairn-ref", blob.hash.ccr_ref().to_string()),
            ("x-cairn-tokens", blob.tokens_original.to_string()),
        ];
        let content = match part {
            Some(part) => bytes::Bytes::from(part.content),
            None => retrieved.content,
        };
        return Ok(raw_response(wanted, content, &facts));
    }
    Ok(Json(retrieved.into_wire(part)).into_response())
}
