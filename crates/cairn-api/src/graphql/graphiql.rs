//! GraphiQL, served whole by the server: the page, its scripts and styles
//! (`assets/graphiql/`, vendored by `scripts/vendor-graphiql.sh` from npm at
//! pinned versions), so it loads nothing from elsewhere and runs under a
//! Content-Security-Policy that allows the server's own origin alone.

use axum::extract::Path;
use axum::response::Response;

use crate::ui::asset;

/// What the page may do: scripts and styles from this server (GraphiQL
/// sets some styles inline), fonts and images it carries as `data:` URLs,
/// requests to this server (its WebSocket included); no frames, forms or
/// `<base>`.
pub(crate) const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; font-src 'self' data:; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The files under `/graphql/assets/`: name, media type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    asset!(
        "graphiql",
        "react.production.min.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "graphiql",
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "graphiql",
        "graphiql.min.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("graphiql", "graphiql.min.css", "text/css; charset=utf-8"),
    asset!(
        "graphiql",
        "cairn-graphiql.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("graphiql", "cairn-graphiql.css", "text/css; charset=utf-8"),
];

const PAGE: &str = include_str!("../../assets/graphiql/index.html");

/// The GraphiQL page, with its policy.
pub(crate) fn page() -> Response {
    crate::ui::html_page(PAGE, PAGE_POLICY)
}

/// `GET /graphql/assets/{file}`: one of the page's scripts or styles.
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    crate::ui::asset_response(ASSETS, &file, "GraphiQL", "public, max-age=3600")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_only_files_the_server_has() {
        crate::ui::assert_page_names_its_assets(PAGE, "/graphql/assets/", ASSETS);
    }
}
