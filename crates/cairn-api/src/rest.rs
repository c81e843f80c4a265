//! The REST surface (`/v1`), one module per resource.

pub(crate) mod briefing;
pub(crate) mod ccr;
pub(crate) mod compress;
pub(crate) mod contexts;
pub(crate) mod health;
mod negotiate;
pub(crate) mod search;
pub(crate) mod sessions;
pub(crate) mod stats;

use axum::Router;
use axum::routing::get;

use crate::ApiState;

pub(crate) fn router() -> Router<ApiState> {
    Router::new()
        .route("/v1/contexts", get(contexts::list))
        .route(
            "/v1/contexts/",
            get(contexts::empty_key)
                .put(contexts::empty_key)
                .delete(contexts::empty_key),
        )
        .route(
            "/v1/contexts/{*key}",
            get(contexts::get)
                .put(contexts::put)
                .delete(contexts::delete),
        )
        .route("/v1/ccr/{reference}", get(ccr::retrieve))
        .route("/v1/stats", get(stats::stats))
        .route("/v1/activity", get(stats::activity))
        .route("/v1/sessions/import", axum::routing::post(sessions::import))
        .route("/v1/sessions", get(sessions::list))
        .route("/v1/sessions/{*id}", get(sessions::get))
        .route("/v1/search", get(search::search))
        .route("/v1/briefing", get(briefing::briefing))
        .route("/v1/compress", axum::routing::post(compress::compress))
        .route("/v1/openapi.json", get(crate::openapi::serve))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
}
