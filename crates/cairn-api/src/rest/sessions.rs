//! `/v1/sessions`: import agent session files, list sessions, read one.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use bytes::Bytes;
use cairn_service::{ImportSource, SessionQuery};
use cairn_types::{ErrorBody, ImportReport, SessionDetail, SessionList};
use serde::Deserialize;

use crate::auth::{Caller, Read, Write};
use crate::extract::{Path, Query, body_error};
use crate::{ApiError, ApiState};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportParams {
    /// `claude`, `codex` or `gemini`; detected from the content when absent.
    #[param(pattern = "^(claude|codex|gemini)$")]
    agent: Option<String>,
    /// The file's path on the agent's machine: it names subagents
    /// (`agent-<id>.jsonl`) and sessions that carry no id. Never opened.
    path: Option<String>,
    /// The project folder the file belongs to (Gemini CLI's chats do not
    /// name it).
    project: Option<String>,
    /// With `root`: the normalised git remote of the repository whose clone
    /// at `root` the session ran in; briefings of the repository's other
    /// clones include it.
    repository: Option<String>,
    root: Option<String>,
}

/// `POST /v1/sessions/import`: the body is one session file as the agent wrote it.
#[utoipa::path(
    post,
    path = "/v1/sessions/import",
    tag = "sessions",
    summary = "Import one session file of Claude Code, Codex CLI or Gemini CLI",
    description = "The body is the file: Claude Code or Codex JSONL, Gemini JSON or JSONL, or \
        any of them zstd-compressed. Importing a file again adds nothing; a grown copy adds only \
        its new records. Torn or corrupt lines are reported in `errors` and the rest imported.",
    params(ImportParams),
    request_body(content((crate::openapi::Binary = "application/octet-stream"))),
    responses(
        (status = 200, description = "Imported", body = ImportReport),
        (status = 400, description = "Empty, not a session file, or an unknown agent", body = ErrorBody),
        (status = 413, description = "Body over the limit, or a zstd body that expands past it", body = ErrorBody),
    ),
)]
pub(crate) async fn import(
    State(state): State<ApiState>,
    caller: Caller<Write>,
    Query(params): Query<ImportParams>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ImportReport>, ApiError> {
    let body = body.map_err(|rejection| body_error(rejection, state.config.body_limit))?;
    let report = state
        .cairn
        .import_session(
            &caller.tenant,
            body,
            params.agent.as_deref(),
            ImportSource {
                path: params.path.map(std::path::PathBuf::from),
                project_root: params.project,
                max_decompressed: Some(state.config.body_limit as u64),
                ..ImportSource::default()
            },
        )
        .await?;
    if let (Some(repository), Some(root)) = (&params.repository, &params.root) {
        state
            .cairn
            .note_repository(&caller.tenant, repository, root)
            .await?;
    }
    Ok(Json(report))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// Only this agent's sessions: `claude`, `codex` or `gemini`.
    #[param(pattern = "^(claude|codex|gemini)$")]
    agent: Option<String>,
    /// Only sessions of this project (its working directory, exactly).
    project: Option<String>,
    /// Only sessions updated at or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Sessions per page: 1 to 1000, 100 by default.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// `GET /v1/sessions`: imported sessions, most recently updated first.
#[utoipa::path(
    get,
    path = "/v1/sessions",
    tag = "sessions",
    summary = "Imported sessions, most recently updated first",
    params(ListParams),
    responses(
        (status = 200, description = "A page of sessions", body = SessionList),
        (status = 400, description = "A bad time, limit or cursor", body = ErrorBody),
    ),
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller<Read>,
    Query(params): Query<ListParams>,
) -> Result<Json<SessionList>, ApiError> {
    let query = SessionQuery {
        agent: params.agent,
        project: params.project,
        since: params.since.as_deref().map(parse_time).transpose()?,
        limit: params.limit,
        cursor: params.cursor,
    };
    Ok(Json(state.cairn.sessions(&caller.tenant, query).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionParams {
    /// The first message's position (`next_from` of the previous page).
    from: Option<u64>,
    /// Messages per page: 1 to 2000, 200 by default.
    #[param(minimum = 1, maximum = 2000)]
    limit: Option<u32>,
}

/// `GET /v1/sessions/{id}`: a session and its messages.
#[utoipa::path(
    get,
    path = "/v1/sessions/{id}",
    tag = "sessions",
    summary = "A session and a page of its messages; tool outputs as compressed views with refs",
    params(
        ("id" = String, Path, description = "The session id (a Claude subagent's is `parent/agent-id`)"),
        SessionParams,
    ),
    responses(
        (status = 200, description = "The session", body = SessionDetail),
        (status = 400, description = "A limit outside 1-2000", body = ErrorBody),
        (status = 404, description = "No such session for this tenant", body = ErrorBody),
    ),
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller<Read>,
    Path(id): Path<String>,
    Query(params): Query<SessionParams>,
) -> Result<Json<SessionDetail>, ApiError> {
    Ok(Json(
        state
            .cairn
            .session(&caller.tenant, &id, params.from.unwrap_or(0), params.limit)
            .await?,
    ))
}

/// RFC 3339 to unix milliseconds.
pub(crate) fn parse_time(text: &str) -> Result<i64, ApiError> {
    Ok(cairn_service::parse_time(text)?)
}
