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

pub(crate) async fn healthz() -> Json<Health> {
    Json(health())
}

pub(crate) async fn readyz(State(state): State<ApiState>) -> Result<Json<Health>, ApiError> {
    state.cairn.ready().await.map_err(|error| {
        tracing::warn!(%error, "not ready");
        ApiError::new(ErrorCode::Unavailable, "the database does not answer")
    })?;
    Ok(Json(health()))
}
