//! Cairn's HTTP API: the REST surface under `/v1`, health probes, and the
//! error shape every HTTP surface shares.
//!
//! API boundary: handlers are thin. They parse the request, call one verb of
//! [`cairn_service::Cairn`] and shape the answer; no storage or compression
//! logic lives here. Depends on `cairn-service`, `cairn-core` and
//! `cairn-types`; never on a concrete store.

mod error;
mod extract;
mod openapi;
mod rest;
mod trace;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use cairn_service::Cairn;

pub use error::ApiError;
pub use openapi::openapi_json;

/// Settings of the HTTP surface.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub body_limit: usize,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            body_limit: 32 * 1024 * 1024,
        }
    }
}

/// What every handler can reach. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub cairn: Cairn,
    pub config: ApiConfig,
}

/// The whole HTTP API as one router.
pub fn router(state: ApiState) -> Router {
    let body_limit = state.config.body_limit;
    rest::router()
        .fallback(error::unknown_route)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(trace::request_span))
        .with_state(state)
}
