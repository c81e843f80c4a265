//! `/healthz` (the process answers) and `/readyz` (the database answers too).

use axum::Json;
use axum::extract::State;
use cairn_types::{ErrorCode, Health};

use crate::{ApiError, ApiState};

fn health() -> Health {
    Health {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    security(()),
    summary = "Liveness: the process answers",
    responses((status = 200, description = "Alive", body = Health)),
)]
pub(crate) async fn healthz() -> Json<Health> {
    Json(health())
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    security(()),
    summary = "Readiness: the database answers too",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The database does not answer", body = cairn_types::ErrorBody),
    ),
)]
pub(crate) async fn readyz(State(state): State<ApiState>) -> Result<Json<Health>, ApiError> {
    state.cairn.ready().await.map_err(|error| {
        tracing::warn!(%error, "not ready");
        ApiError::new(ErrorCode::Unavailable, "the database does not answer")
    })?;
    Ok(Json(health()))
}
