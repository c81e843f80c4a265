//! `/v1/briefing`: what the other agents did in a project, within a budget.

use axum::Json;
use axum::extract::State;
use cairn_service::BriefingQuery;
use cairn_types::{Briefing, ErrorBody};
use serde::Deserialize;

use crate::auth::{Caller, Read};
use crate::extract::Query;
use crate::{ApiError, ApiState};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct BriefingParams {
    /// The project folder (a repository root, or a working directory):
    /// sessions in it and its subfolders. Not blank.
    #[param(
        min_length = 1,
        pattern = r"[^\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    project: String,
    /// The agent being briefed (`claude`, `codex`, `gemini`, or another
    /// name): its own sessions are left out.
    agent: Option<String>,
    /// Budget in o200k tokens, 100–32000; 1500 by default.
    #[param(minimum = 100, maximum = 32000)]
    max_tokens: Option<u32>,
    /// A session to leave out (the one starting).
    session: Option<String>,
    /// The project's git remote, normalised (`github.com/acme/shop`): the
    /// folders of its other clones that hooks have named count too.
    repository: Option<String>,
}

/// `GET /v1/briefing`.
#[utoipa::path(
    get,
    path = "/v1/briefing",
    tag = "sessions",
    summary = "A digest of the other agents' recent work in a project",
    description = "Newest first, per session: the agent and when, the task, files written \
        and read, commands that failed and whether they passed later, the last state and \
        what was left open, each with the `ccr:` reference that expands it. No model is \
        involved: the same store and arguments give the same bytes. `text` is never \
        longer than `max_tokens`.",
    params(BriefingParams),
    responses(
        (status = 200, description = "The briefing", body = Briefing),
        (status = 400, description = "No project, or a budget out of range", body = ErrorBody),
    ),
)]
pub(crate) async fn briefing(
    State(state): State<ApiState>,
    caller: Caller<Read>,
    Query(params): Query<BriefingParams>,
) -> Result<Json<Briefing>, ApiError> {
    let query = BriefingQuery {
        project: params.project,
        agent: params.agent,
        max_tokens: params.max_tokens,
        exclude_session: params.session,
        repository: params.repository,
    };
    Ok(Json(state.cairn.briefing(&caller.tenant, query).await?))
}
