//! `/v1/stats`: counts, bytes, dedup and tokens saved, for the caller's tenant.

use axum::Json;
use axum::extract::State;
use cairn_types::Stats;

use crate::auth::{Caller, Read};
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
