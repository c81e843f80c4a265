//! Content negotiation: JSON by default, the bare bytes when the client asks
//! for `text/plain` or `application/octet-stream`.

use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

/// What the client asked the body to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted {
    Json,
    Text,
    Octets,
}

/// Reads `Accept`: the first listed of `application/json`, `text/plain` and
/// `application/octet-stream` wins; nothing recognised means JSON.
pub(crate) fn wanted(headers: &HeaderMap) -> Wanted {
    let Some(accept) = headers.get(ACCEPT).and_then(|value| value.to_str().ok()) else {
        return Wanted::Json;
    };
    for media_range in accept.split(',') {
        let media_type = media_range.split(';').next().unwrap_or("").trim();
        match media_type.to_ascii_lowercase().as_str() {
            "application/json" | "*/*" | "application/*" => return Wanted::Json,
            "text/plain" | "text/*" => return Wanted::Text,
            "application/octet-stream" => return Wanted::Octets,
            _ => {}
        }
    }
    Wanted::Json
}

/// The bare bytes of a view, with our facts about them in headers.
pub(crate) fn raw_response(
    wanted: Wanted,
    content: Bytes,
    facts: &[(&'static str, String)],
) -> Response {
    let media_type = match wanted {
        Wanted::Text if std::str::from_utf8(&content).is_ok() => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    let mut response = content.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(media_type));
    for (name, value) in facts {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(accept: Option<&str>, expected: Wanted) {
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(ACCEPT, HeaderValue::from_str(accept).expect("valid header"));
        }
        assert_eq!(wanted(&headers), expected, "{accept:?}");
    }

    #[test]
    fn accept_header_picks_the_body() {
        check(None, Wanted::Json);
        check(Some("application/json"), Wanted::Json);
        check(Some("*/*"), Wanted::Json);
        check(Some("text/plain"), Wanted::Text);
        check(Some("Text/Plain; charset=utf-8"), Wanted::Text);
        check(Some("application/octet-stream"), Wanted::Octets);
        check(Some("text/html, text/plain;q=0.9"), Wanted::Text);
        check(Some("image/png"), Wanted::Json);
    }
}
