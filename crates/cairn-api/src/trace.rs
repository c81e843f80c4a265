//! The request span: method, route, request id and principal (the token's
//! subject, filled in by the auth layer); the outcome logged once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

static NEXT_REQUEST_ID: AtomicU64 = AtomicU64::new(1);

/// Wraps every request in a span carrying its method, matched route and id,
/// and returns the id in `x-request-id`. Payloads are never logged.
pub(crate) async fn request_span(request: Request, next: Next) -> Response {
    let request_id = NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        route = %route,
        request_id,
        principal = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let micros = started.elapsed().as_micros() as u64;
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, micros, "request finished");
        } else {
            tracing::debug!(status, micros, "request finished");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&request_id.to_string()) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
