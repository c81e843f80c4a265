//! `/v1/stats`: counts, bytes, dedup and tokens saved, for the caller's
//! tenant; `/v1/activity`: the same over time.

use axum::Json;
use axum::extract::State;
use cairn_types::{Activity, Stats};
use serde::Deserialize;

use crate::auth::{Caller, Read};
use crate::extract::Query;
use crate::{ApiError, ApiState};

#[utoipa::path(
    get,
    path = "/v1/stats",
    tag = "stats",
    summary = "Counts, bytes, dedup and tokens saved, for the caller's tenant",
    responses((status = 200, description = "The tenant's stats", body = Stats)),
)]
pub(crate) async fn stats(
    State(state): State<ApiState>,
    caller: Caller<Read>,
) -> Result<Json<Stats>, ApiError> {
    Ok(Json(state.cairn.stats(&caller.tenant).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActivityParams {
    /// Days counted back from today (UTC), today included: 1 to 366, 30 by default.
    #[param(minimum = 1, maximum = 366)]
    days: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/v1/activity",
    tag = "stats",
    summary = "What the agents put and imported, day by day, and the proxy's savings by provider",
    params(ActivityParams),
    responses(
        (status = 200, description = "The tenant's activity", body = Activity),
        (status = 400, description = "`days` out of range", body = cairn_types::ErrorBody),
    ),
)]
pub(crate) async fn activity(
    State(state): State<ApiState>,
    caller: Caller<Read>,
    Query(params): Query<ActivityParams>,
) -> Result<Json<Activity>, ApiError> {
    let days = params.days.unwrap_or(30);
    Ok(Json(state.cairn.activity(&caller.tenant, days).await?))
}
