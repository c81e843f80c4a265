//! Requests in the plain form of the HTTP router's fuzz corpus
//! (`fuzz/corpus/router/`), and what every answer must satisfy.
//!
//! Two harnesses share this file: the cargo-fuzz target
//! (`fuzz/fuzz_targets/router.rs` includes it by path, so it uses only crates
//! both depend on) and the test that replays
//! the corpus with mutations under nextest (`tests/tests/integration/router_corpus.rs`).
//!
//! The plain form: the first line is `METHOD TARGET` (the path and query),
//! each next line until an empty one is a header `name: value`, the rest is
//! the body. What hyper would refuse before the router (a malformed target or
//! header) is not a request.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use tower::ServiceExt as _;

/// What the router made of one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not a request hyper would pass on.
    NotARequest,
    /// Answered with this status (no 5xx: that is a failure) and body.
    Answered(StatusCode, Vec<u8>),
    /// An acknowledged put whose `ccr:` reference gave back the bytes sent.
    RoundTripped,
}

/// The request an input spells, and its body, or `None` where hyper would
/// not have passed it on.
pub fn request(data: &[u8]) -> Option<(Request<Body>, Vec<u8>)> {
    let (head, body) = match data.windows(2).position(|pair| pair == b"\n\n") {
        Some(end) => (&data[..end], &data[end + 2..]),
        None => (data, &[][..]),
    };
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split('\n');
    let (method, target) = lines.next()?.split_once(' ')?;
    let mut builder = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).ok()?)
        .uri(target);
    for line in lines {
        let (name, value) = line.split_once(':')?;
        builder = builder.header(
            HeaderName::from_bytes(name.trim().as_bytes()).ok()?,
            HeaderValue::from_str(value.trim()).ok()?,
        );
    }
    let request = builder.body(Body::from(body.to_vec())).ok()?;
    Some((request, body.to_vec()))
}

/// What a successful put stores: the body, or the `content` of a JSON body.
fn stored_content(request: &Request<Body>, body: &[u8]) -> Option<Vec<u8>> {
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Some(body.to_vec());
    }
    let put: cairn_types::PutRequest = serde_json::from_slice(body).ok()?;
    Some(put.content.into_bytes())
}

/// Sends the request `data` spells through `router`. An error names what
/// went wrong: a 5xx, a put acknowledged without a readable receipt, or an
/// original that does not come back byte for byte.
pub async fn exercise(router: &axum::Router, data: &[u8]) -> Result<Outcome, String> {
    let Some((request, body)) = request(data) else {
        return Ok(Outcome::NotARequest);
    };
    let is_put =
        request.method() == Method::PUT && request.uri().path().starts_with("/v1/contexts/");
    let content = if is_put {
        stored_content(&request, &body)
    } else {
        None
    };
    let (status, answer) = send(router, request).await?;
    if status.is_server_error() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&answer)));
    }
    if !(is_put && status == StatusCode::OK) {
        return Ok(Outcome::Answered(status, answer));
    }
    // The CCR round trip: the acknowledged bytes come back exactly.
    let receipt: cairn_types::PutReceipt = serde_json::from_slice(&answer).map_err(|error| {
        format!(
            "a put answered 200 without a receipt ({error}): {}",
            String::from_utf8_lossy(&answer)
        )
    })?;
    let retrieve = Request::get(format!("/v1/ccr/{}", receipt.reference))
        .header(header::ACCEPT, "application/octet-stream")
        .body(Body::empty())
        .map_err(|error| format!("{}: {error}", receipt.reference))?;
    let (status, original) = send(router, retrieve).await?;
    if status != StatusCode::OK {
        return Err(format!("{} answered {status}", receipt.reference));
    }
    let content = content.ok_or_else(|| {
        format!(
            "{} acknowledged a put whose content is unknown",
            receipt.reference
        )
    })?;
    if original != content {
        return Err(format!(
            "{} gave back {} bytes that differ from the {} sent",
            receipt.reference,
            original.len(),
            content.len()
        ));
    }
    Ok(Outcome::RoundTripped)
}

async fn send(
    router: &axum::Router,
    request: Request<Body>,
) -> Result<(StatusCode, Vec<u8>), String> {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .map_err(|error| format!("the router failed: {error}"))?;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(|error| format!("{status}: the response body did not read: {error}"))?;
    Ok((status, body.to_vec()))
}

/// The router as `cairn serve` builds it (REST and GraphQL behind the limits,
/// CORS and auth layers; auth off, bodies up to `body_limit`), over a SQLite
/// store and a tantivy index in `dir`.
pub async fn router_in(
    dir: &std::path::Path,
    body_limit: usize,
) -> Result<axum::Router, Box<dyn std::error::Error>> {
    use std::sync::Arc;

    let store =
        cairn_store::SqliteStore::open(&cairn_store::SqliteOptions::new(dir.join("cairn.db")))
            .await?;
    let search = cairn_service::SearchIndex::open(&dir.join("index"))?;
    let cairn = cairn_service::Cairn::new(Arc::new(store), cairn_service::ServiceConfig::default())
        .with_search(Arc::new(search));
    Ok(cairn_api::router(cairn_api::ApiState {
        cairn,
        config: cairn_api::ApiConfig {
            body_limit,
            ..cairn_api::ApiConfig::default()
        },
        auth: Arc::new(cairn_auth::Authenticator::off()),
    }))
}
