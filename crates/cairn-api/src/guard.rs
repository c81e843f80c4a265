//! Which requests the server answers at all, on every route (REST,
//! GraphQL and its WebSocket, MCP, the proxy): a web page must not reach a
//! memory server on loopback, where auth is off by default.
//!
//! - `Host`: on a loopback listener only loopback names (`localhost`,
//!   `127.0.0.1`, `[::1]`, any port) and the names configured, so a DNS
//!   rebinding page (`Host: rebind.evil.example`) gets nothing. A listener
//!   beyond loopback (which requires auth) takes any `Host` unless names
//!   are configured.
//! - `Origin`: when a browser sends one, it must be the server's own (the
//!   scheme and the `Host` the request came to) or in the CORS allowlist;
//!   `null` never is. Agents and other programs send none.
//! - A state-changing request a browser sent without an `Origin` (it still
//!   says `Sec-Fetch-Site`) with a content type a form can send without a
//!   preflight (`text/plain`, form-encoded, multipart) is refused.
//!
//! Refusals are 403 (`forbidden`), or 415 for the content type, in the API's
//! error shape, before authentication or any handler runs.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cairn_types::ErrorCode;

use crate::ApiError;

/// The Host and Origin policy.
#[derive(Debug, Clone, Default)]
pub struct SiteGuard {
    /// Accept any `Host` (a listener beyond loopback with no names set).
    pub any_host: bool,
    /// Host names accepted besides loopback ones, lowercase, without port.
    pub hosts: Vec<String>,
    /// Browser origins allowed besides the server's own (the CORS list).
    pub origins: Vec<String>,
}

impl SiteGuard {
    /// Why a request is refused, if it is: the status code and message.
    pub fn refusal(&self, method: &Method, headers: &HeaderMap) -> Option<(ErrorCode, String)> {
        let host = headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .map(str::trim);
        if let Some(host) = host
            && !self.host_allowed(host)
        {
            return Some((
                ErrorCode::Forbidden,
                format!(
                    "this server answers to its own names, not to Host {host:?} (set \
                     server.allowed_hosts to add one)"
                ),
            ));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("").trim();
            let own = host.is_some_and(|host| {
                origin.eq_ignore_ascii_case(&format!("http://{host}"))
                    || origin.eq_ignore_ascii_case(&format!("https://{host}"))
            });
            if !own && !self.origins.iter().any(|allowed| allowed == origin) {
                return Some((
                    ErrorCode::Forbidden,
                    format!(
                        "requests from the web page at {origin:?} are refused (add it to \
                         server.cors_allowed_origins to allow it)"
                    ),
                ));
            }
            return None;
        }
        let from_a_browser = headers.contains_key("sec-fetch-site");
        let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if from_a_browser && changes_state && form_content_type(headers) {
            return Some((
                ErrorCode::UnsupportedMediaType,
                "a browser request that changes state must not come as a form".to_owned(),
            ));
        }
        None
    }

    fn host_allowed(&self, host: &str) -> bool {
        if self.any_host && self.hosts.is_empty() {
            return true;
        }
        let name = host_name(host);
        is_loopback(&name) || self.hosts.contains(&name)
    }
}

/// A `Host` header's name: lowercase, without its port or IPv6 brackets.
fn host_name(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_owned();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name.to_owned(),
        _ => host,
    }
    .trim_end_matches('.')
    .to_owned()
}

fn is_loopback(name: &str) -> bool {
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether the body comes as a type an HTML form (or a no-CORS fetch) can
/// send without asking the server first.
fn form_content_type(headers: &HeaderMap) -> bool {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("text/plain")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        kind.as_str(),
        "text/plain" | "application/x-www-form-urlencoded" | "multipart/form-data"
    )
}

/// The middleware: refuses what [`SiteGuard::refusal`] names.
pub(crate) async fn guard(
    State(guard): State<Arc<SiteGuard>>,
    request: Request,
    next: Next,
) -> Response {
    match guard.refusal(request.method(), request.headers()) {
        Some((code, message)) => {
            tracing::info!(%message, "request refused by the site guard");
            ApiError::new(code, message).into_response()
        }
        None => {
            let mut response = next.run(request).await;
            let headers = response.headers_mut();
            // A browser that opens an answer as a page runs nothing in it
            // and frames it nowhere; GraphiQL's page sets its own policy.
            if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
                headers.insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
                );
            }
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn refused(
        guard: &SiteGuard,
        method: Method,
        pairs: &[(&'static str, &'static str)],
    ) -> Option<ErrorCode> {
        guard
            .refusal(&method, &headers(pairs))
            .map(|(code, _)| code)
    }

    #[test]
    fn loopback_names_pass_and_a_rebinding_host_does_not() {
        let guard = SiteGuard::default();
        for host in [
            "127.0.0.1:8787",
            "localhost:8787",
            "[::1]:8787",
            "LOCALHOST",
            "127.0.0.2",
        ] {
            assert_eq!(
                refused(&guard, Method::GET, &[("host", host)]),
                None,
                "{host}"
            );
        }
        for host in [
            "rebind.evil.example",
            "rebind.evil.example:8787",
            "10.0.0.5:8787",
            "localhost.evil.example",
        ] {
            assert_eq!(
                refused(&guard, Method::GET, &[("host", host)]),
                Some(ErrorCode::Forbidden),
                "{host}"
            );
        }
        let named = SiteGuard {
            hosts: vec!["cairn.internal".into()],
            ..SiteGuard::default()
        };
        assert_eq!(
            refused(&named, Method::GET, &[("host", "cairn.internal:8787")]),
            None
        );
        let open = SiteGuard {
            any_host: true,
            ..SiteGuard::default()
        };
        assert_eq!(
            refused(&open, Method::GET, &[("host", "cairn.example.com")]),
            None
        );
    }

    #[test]
    fn only_the_servers_own_origin_and_allowed_ones_pass() {
        let guard = SiteGuard {
            origins: vec!["https://app.example.com".into()],
            ..SiteGuard::default()
        };
        let host = ("host", "127.0.0.1:8787");
        assert_eq!(
            refused(
                &guard,
                Method::POST,
                &[host, ("origin", "http://127.0.0.1:8787")]
            ),
            None
        );
        assert_eq!(
            refused(
                &guard,
                Method::POST,
                &[host, ("origin", "https://app.example.com")]
            ),
            None
        );
        for origin in [
            "https://evil.example",
            "null",
            "http://127.0.0.1:9999",
            "http://localhost:8787",
        ] {
            assert_eq!(
                refused(&guard, Method::GET, &[host, ("origin", origin)]),
                Some(ErrorCode::Forbidden),
                "{origin}"
            );
        }
    }

    #[test]
    fn a_browser_form_post_without_an_origin_is_refused_but_curl_is_not() {
        let guard = SiteGuard::default();
        let host = ("host", "127.0.0.1:8787");
        let browser = ("sec-fetch-site", "cross-site");
        assert_eq!(
            refused(
                &guard,
                Method::POST,
                &[host, browser, ("content-type", "text/plain")]
            ),
            Some(ErrorCode::UnsupportedMediaType)
        );
        assert_eq!(
            refused(
                &guard,
                Method::PUT,
                &[
                    host,
                    browser,
                    ("content-type", "application/x-www-form-urlencoded")
                ]
            ),
            Some(ErrorCode::UnsupportedMediaType)
        );
        assert_eq!(refused(&guard, Method::GET, &[host, browser]), None);
        assert_eq!(
            refused(
                &guard,
                Method::POST,
                &[host, browser, ("content-type", "application/json")]
            ),
            None
        );
        // curl sends a form type by default, and no browser headers.
        assert_eq!(
            refused(
                &guard,
                Method::PUT,
                &[host, ("content-type", "application/x-www-form-urlencoded")]
            ),
            None
        );
    }
}
