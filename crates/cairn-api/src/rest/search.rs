//! `/v1/search`: sessions and contexts, ranked, filtered, with snippets.

use axum::Json;
use axum::extract::State;
use cairn_service::SearchQuery;
use cairn_types::{ErrorBody, SearchResults};
use serde::Deserialize;

use super::sessions::parse_time;
use crate::auth::{Caller, Read};
use crate::extract::Query;
use crate::{ApiError, ApiState};

/// Results per search unless asked otherwise.
const DEFAULT_LIMIT: usize = 20;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchParams {
    /// Words (an identifier is found by its parts: `user` finds `getUserById`),
    /// `"phrases"`, `field:value` (agent, project, session, kind, role, tool),
    /// `AND`, `OR`, `-word`. Empty: everything the filters let through.
    q: Option<String>,
    agent: Option<String>,
    project: Option<String>,
    session: Option<String>,
    /// `message` or `context`; empty (or absent) for both.
    #[param(pattern = "^(message|context)?$")]
    kind: Option<String>,
    /// RFC 3339, inclusive.
    #[param(format = DateTime)]
    since: Option<String>,
    /// RFC 3339, exclusive.
    #[param(format = DateTime)]
    until: Option<String>,
    /// Hits: 1 to 1000, 20 by default.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// `GET /v1/search`.
#[utoipa::path(
    get,
    path = "/v1/search",
    tag = "search",
    summary = "Search imported sessions and contexts (BM25 with a recency boost)",
    params(SearchParams),
    responses(
        (status = 200, description = "Ranked hits with snippets", body = SearchResults),
        (status = 400, description = "A malformed query (the message says where), time or limit", body = ErrorBody),
        (status = 503, description = "Search is not enabled on this server", body = ErrorBody),
    ),
)]
pub(crate) async fn search(
    State(state): State<ApiState>,
    caller: Caller<Read>,
    Query(params): Query<SearchParams>,
) -> Result<Json<SearchResults>, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > cairn_search_max() {
        return Err(ApiError::invalid_request(format!(
            "limit must be between 1 and {}",
            cairn_search_max()
        )));
    }
    let query = SearchQuery {
        text: params.q.unwrap_or_default(),
        agent: params.agent,
        project: params.project,
        session: params.session,
        kind: params.kind,
        since: params.since.as_deref().map(parse_time).transpose()?,
        until: params.until.as_deref().map(parse_time).transpose()?,
        limit,
        ..SearchQuery::default()
    };
    Ok(Json(state.cairn.search(&caller.tenant, query).await?))
}

fn cairn_search_max() -> usize {
    cairn_service::MAX_SEARCH_RESULTS
}
