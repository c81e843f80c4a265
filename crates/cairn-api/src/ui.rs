//! The dashboard at `/ui`: one page and its script and styles
//! (`assets/ui/`, plain HTML, CSS and JavaScript, no build step), embedded in
//! the binary, so it works offline and loads nothing from elsewhere. The page
//! holds no data: it reads the API with the caller's token like any client
//! (asked for once when the server has auth on, kept in session storage), so
//! the same guard, auth and tenants apply.

use axum::Router;
use axum::extract::Path;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::{ApiError, ApiState};

/// Scripts, styles and requests of this server only (its WebSocket
/// included); images as `data:` URLs; no inline script or style, frames,
/// forms or `<base>`.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// One file of `assets/DIR/`, embedded: name, media type, bytes.
macro_rules! asset {
    ($dir:literal, $name:literal, $kind:literal) => {
        (
            $name,
            $kind,
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/",
                $dir,
                "/",
                $name
            ))
            .as_slice(),
        )
    };
}
pub(crate) use asset;

/// The files under `/ui/assets/`: name, media type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    asset!("ui", "app.js", "text/javascript; charset=utf-8"),
    asset!("ui", "app.css", "text/css; charset=utf-8"),
];

const PAGE: &str = include_str!("../assets/ui/index.html");

pub(crate) fn router() -> Router<ApiState> {
    Router::new()
        .route("/ui", get(|| async { html_page(PAGE, POLICY) }))
        .route("/ui/", get(|| async { Redirect::permanent("/ui") }))
        .route(
            "/ui/assets/{file}",
            get(|Path(file): Path<String>| async move {
                asset_response(ASSETS, &file, "the dashboard", "no-cache")
            }),
        )
}

/// An HTML page under its Content-Security-Policy, never cached (it names
/// the assets, which change with the binary).
pub(crate) fn html_page(page: &'static str, policy: &'static str) -> Response {
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy)),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        page,
    )
        .into_response()
}

/// One of `assets` by name, or a 404 that says whose files were asked for.
pub(crate) fn asset_response(
    assets: &[(&str, &'static str, &'static [u8])],
    file: &str,
    whose: &str,
    cache: &'static str,
) -> Response {
    match assets.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, bytes)) => (
            [
                (CONTENT_TYPE, HeaderValue::from_static(kind)),
                (CACHE_CONTROL, HeaderValue::from_static(cache)),
            ],
            *bytes,
        )
            .into_response(),
        None => ApiError::new(
            cairn_types::ErrorCode::NotFound,
            format!("{whose} has no file {file:?}"),
        )
        .into_response(),
    }
}

/// Asserts that `page` asks the server for its `assets` (under `prefix`)
/// and nothing else, and runs no inline script, which both pages' policies
/// forbid. In-page anchors and the empty favicon (`data:,`) ask for nothing.
#[cfg(test)]
pub(crate) fn assert_page_names_its_assets(
    page: &str,
    prefix: &str,
    assets: &[(&str, &str, &[u8])],
) {
    let mut named = 0;
    for attribute in ["src=\"", "href=\""] {
        for part in page.split(attribute).skip(1) {
            let url = part.split('"').next().unwrap_or("");
            if url == "data:," || url.starts_with('#') {
                continue;
            }
            let file = url
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{url} is not one of the server's files"));
            assert!(assets.iter().any(|(name, _, _)| *name == file), "{file}");
            named += 1;
        }
    }
    assert_eq!(named, assets.len(), "every file is used");
    assert!(
        !page.contains("<script>"),
        "no inline script: the policy forbids it"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_only_files_the_server_has() {
        assert_page_names_its_assets(PAGE, "/ui/assets/", ASSETS);
        assert!(
            !PAGE.contains("style=\""),
            "no inline style: the policy forbids it"
        );
    }
}
