//! Limits every request meets: at most so many in flight (more are shed at
//! once with 503 and `Retry-After`, rather than queued until they time out),
//! and a deadline for each (503 when it passes). Probes are exempt from the
//! cap, so an overloaded server still answers its load balancer.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::RETRY_AFTER;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cairn_types::ErrorCode;
use tokio::sync::Semaphore;

use crate::ApiError;

/// The shared state of the limits layer.
#[derive(Debug)]
pub(crate) struct Limits {
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    timeout: Duration,
    /// Route patterns exempt from the deadline (not from the cap).
    long_routes: Vec<String>,
}

impl Limits {
    pub(crate) fn new(max_in_flight: usize, timeout: Duration, long_routes: Vec<String>) -> Limits {
        Limits {
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
            timeout,
            long_routes,
        }
    }
}

/// Whether the request is a probe (`/healthz`, `/readyz`), which every
/// limit lets through so a load balancer always gets its answer.
pub(crate) fn is_probe(request: &Request) -> bool {
    matches!(request.uri().path(), "/healthz" | "/readyz")
}

/// An error answer that says when to try again (`Retry-After`, seconds).
pub(crate) fn retry_later(code: ErrorCode, message: String, seconds: u64) -> Response {
    let mut response = ApiError::new(code, message).into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    response
}

pub(crate) async fn limit(
    State(limits): State<Arc<Limits>>,
    request: Request,
    next: Next,
) -> Response {
    if is_probe(&request) {
        return next.run(request).await;
    }
    let Ok(_permit) = limits.in_flight.clone().try_acquire_owned() else {
        tracing::warn!(
            limit = limits.max_in_flight,
            "request shed: too many in flight"
        );
        return retry_later(
            ErrorCode::Unavailable,
            format!(
                "the server is handling its limit of {} requests; retry shortly",
                limits.max_in_flight
            ),
            1,
        );
    };
    let long = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .is_some_and(|route| limits.long_routes.iter().any(|long| long == route.as_str()));
    if long {
        return next.run(request).await;
    }
    match tokio::time::timeout(limits.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(seconds = limits.timeout.as_secs(), "request timed out");
            ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "the request did not finish within {} s (a write may or may not have \
                     been applied; reading it back tells)",
                    limits.timeout.as_secs()
                ),
            )
            .into_response()
        }
    }
}
