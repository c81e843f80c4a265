//! Cairn's HTTP API: the REST surface under `/v1`, GraphQL at `/graphql`,
//! health probes, and the error shape every HTTP surface shares.
//!
//! API boundary: handlers are thin. They parse the request, call one verb of
//! [`cairn_service::Cairn`] and shape the answer; no storage or compression
//! logic lives here. Depends on `cairn-service`, `cairn-core` and
//! `cairn-types`; never on a concrete store.

pub mod auth;
mod error;
mod extract;
mod graphql;
mod guard;
mod limits;
mod openapi;
mod rest;
mod throttle;
mod trace;
mod ui;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use cairn_auth::Authenticator;
use cairn_service::Cairn;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use error::ApiError;
pub use graphql::{MAX_COMPLEXITY, MAX_DEPTH, sdl as graphql_sdl};
pub use guard::SiteGuard;
pub use openapi::openapi_json;

/// Settings of the HTTP surface.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub body_limit: usize,
    /// Browser origins allowed to call the API; empty allows none.
    pub cors_allowed_origins: Vec<String>,
    /// Requests handled at once; more are answered 503 at once.
    pub max_concurrent_requests: usize,
    /// How long a request may take until its response starts.
    pub request_timeout: std::time::Duration,
    /// Host names the server answers to besides loopback ones.
    pub allowed_hosts: Vec<String>,
    /// Answer any `Host` (a listener beyond loopback, where auth is on)
    /// when `allowed_hosts` is empty.
    pub any_host: bool,
    /// Route patterns whose responses may take longer than
    /// `request_timeout` to start (the proxy's model calls, bounded by the
    /// proxy's own upstream timeout).
    pub long_routes: Vec<String>,
    /// Failed authentications (401) allowed per client address a minute;
    /// past it the address is answered 429 until its budget refills. 0: no
    /// limit.
    pub auth_failures_per_minute: u32,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            body_limit: 32 * 1024 * 1024,
            cors_allowed_origins: Vec::new(),
            max_concurrent_requests: 1024,
            request_timeout: std::time::Duration::from_secs(120),
            allowed_hosts: Vec::new(),
            any_host: false,
            long_routes: Vec::new(),
            auth_failures_per_minute: 30,
        }
    }
}

/// What every handler can reach. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub cairn: Cairn,
    pub config: ApiConfig,
    /// Who may call; [`Authenticator::off`] lets everyone in as the local tenant.
    pub auth: Arc<Authenticator>,
}

/// The whole HTTP API as one router: [`routes`] with [`layered`]'s layers.
pub fn router(state: ApiState) -> Router {
    let routes = routes(state.clone());
    layered(routes, &state)
}

/// Every REST and GraphQL route, with the API's body limit and
/// authentication, and none of the layers every route of the server shares:
/// the server merges MCP and the proxy beside them, then calls [`layered`]
/// once for all.
pub fn routes(state: ApiState) -> Router {
    let body_limit = state.config.body_limit;
    rest::router()
        .merge(graphql::router(&state))
        .merge(ui::router())
        .fallback(error::unknown_route)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(axum::middleware::map_response(json_newline))
        .with_state(state)
}

/// Ends a JSON answer with a newline, as a line of text should, so `curl`'s
/// output does not run into what the terminal prints next.
async fn json_newline(response: axum::response::Response) -> axum::response::Response {
    use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
    let json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if !json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // The API's JSON answers are whole in memory already: this takes them.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(error) => {
            let message = format!("the answer could not be read: {error}");
            return axum::response::IntoResponse::into_response(error::ApiError::new(
                cairn_types::ErrorCode::Internal,
                message,
            ));
        }
    };
    if bytes.ends_with(b"\n") {
        return axum::response::Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    let mut lined = Vec::with_capacity(bytes.len() + 1);
    lined.extend_from_slice(&bytes);
    lined.push(b'\n');
    parts.headers.remove(CONTENT_LENGTH);
    axum::response::Response::from_parts(parts, axum::body::Body::from(lined))
}

/// The layers every route gets, whatever surface it belongs to, from the
/// outside in: the request span (and `x-request-id`), the in-flight cap
/// and the deadline (except for `long_routes`, whose handlers bound
/// themselves), the failed-authentication budget of each client address
/// (`throttle.rs`), the site guard (`Host` and `Origin`, see `guard.rs`),
/// and CORS for the allowlisted origins.
pub fn layered(routes: Router, state: &ApiState) -> Router {
    let config = &state.config;
    let limits = Arc::new(limits::Limits::new(
        config.max_concurrent_requests.max(1),
        config.request_timeout,
        config.long_routes.clone(),
    ));
    let guard = Arc::new(SiteGuard {
        any_host: config.any_host,
        hosts: config
            .allowed_hosts
            .iter()
            .map(|host| host.trim().to_ascii_lowercase())
            .collect(),
        origins: config.cors_allowed_origins.clone(),
    });
    let routes = routes
        .layer(cors(&config.cors_allowed_origins))
        .layer(axum::middleware::from_fn_with_state(guard, guard::guard));
    let routes = match throttle::Throttle::new(config.auth_failures_per_minute) {
        Some(throttle) => routes.layer(axum::middleware::from_fn_with_state(
            Arc::new(throttle),
            throttle::throttle,
        )),
        None => routes,
    };
    routes
        .layer(axum::middleware::from_fn_with_state(limits, limits::limit))
        .layer(axum::middleware::from_fn(trace::request_span))
}

/// CORS for the origins in the allowlist only; never a wildcard. Preflights
/// are answered before authentication (browsers send them without tokens).
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    let cairn_headers =
        ["x-cairn-agent", "x-cairn-session", "x-cairn-ttl-seconds"].map(HeaderName::from_static);
    let exposed = [
        "x-cairn-hash",
        "x-cairn-ref",
        "x-cairn-version",
        "x-cairn-tokens",
        "x-cairn-tokens-original",
        "x-cairn-view",
        "x-request-id",
    ]
    .map(HeaderName::from_static);
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::PUT, Method::POST, Method::DELETE])
        .allow_headers(
            [header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT]
                .into_iter()
                .chain(cairn_headers)
                .collect::<Vec<_>>(),
        )
        .expose_headers(exposed)
        .max_age(std::time::Duration::from_secs(600))
}
