//! GraphiQL, served whole by the server: the page, its scripts and styles
//! (`assets/graphiql/`, vendored by `scripts/vendor-graphiql.sh` from npm at
//! pinned versions), so it loads nothing from elsewhere and runs under a
//! Content-Security-Policy that allows the server's own origin alone.

use axum::extract::Path;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use crate::ApiError;

/// What the page may do: scripts and styles from this server (GraphiQL
/// sets some styles inline), fonts and images it carries as `data:` URLs,
/// requests to this server (its WebSocket included); no frames, forms or
/// `<base>`.
pub(crate) const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; font-src 'self' data:; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

macro_rules! asset {
    ($name:literal, $kind:literal) => {
        (
            $name,
            $kind,
            include_bytes!(concat!("../../assets/graphiql/", $name)).as_slice(),
        )
    };
}

/// The files under `/graphql/assets/`: name, media type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    asset!("react.production.min.js", "text/javascript; charset=utf-8"),
    asset!(
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("graphiql.min.js", "text/javascript; charset=utf-8"),
    asset!("graphiql.min.css", "text/css; charset=utf-8"),
    asset!("cairn-graphiql.js", "text/javascript; charset=utf-8"),
    asset!("cairn-graphiql.css", "text/css; charset=utf-8"),
];

const PAGE: &str = include_str!("../../assets/graphiql/index.html");

/// The GraphiQL page, with its policy.
pub(crate) fn page() -> Response {
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_POLICY),
            ),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        PAGE,
    )
        .into_response()
}

/// `GET /graphql/assets/{file}`: one of the page's scripts or styles.
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, bytes)) => (
            [
                (CONTENT_TYPE, HeaderValue::from_static(kind)),
                (
                    CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                ),
            ],
            *bytes,
        )
            .into_response(),
        None => ApiError::new(
            cairn_types::ErrorCode::NotFound,
            format!("GraphiQL has no file {file:?}"),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_only_files_the_server_has() {
        let mut named = 0;
        for attribute in ["src=\"", "href=\""] {
            for part in PAGE.split(attribute).skip(1) {
                let url = part.split('"').next().unwrap_or("");
                if url == "data:," {
                    continue; // no favicon, and no request for one
                }
                let file = url
                    .strip_prefix("/graphql/assets/")
                    .unwrap_or_else(|| panic!("{url} is not one of the server's files"));
                assert!(ASSETS.iter().any(|(name, _, _)| *name == file), "{file}");
                named += 1;
            }
        }
        assert_eq!(named, ASSETS.len(), "every file is used");
        assert!(
            !PAGE.contains("<script>"),
            "no inline script: the policy forbids it"
        );
    }
}
