//! Attacks from a web page on the loopback server, which has no auth by
//! default: cross-site requests (a form's `text/plain` POST, a fetch, a
//! WebSocket) and DNS rebinding (`Host: rebind.evil.example`), on every
//! surface (REST, GraphQL over HTTP and WebSocket, MCP, the proxy). Each is
//! refused before it reaches a handler, and the store shows it changed
//! nothing; the same requests without a browser's marks (as agents, curl
//! and the SDKs send them) go through.

use cairn_tests::TestServer;
use futures::{SinkExt as _, StreamExt as _};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use super::put;

const EVIL: &str = "https://evil.example";

async fn exists(server: &TestServer, key: &str) -> anyhow::Result<bool> {
    let response = reqwest::get(format!("{}/v1/contexts/{key}", server.url())).await?;
    Ok(response.status() == StatusCode::OK)
}

/// The error code of a refusal in the API's shape.
async fn code(response: reqwest::Response) -> anyhow::Result<(StatusCode, String)> {
    let status = response.status();
    let body: Value = response.text().await?.parse().unwrap_or_default();
    Ok((
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    ))
}

#[tokio::test]
async fn a_cross_site_page_cannot_change_or_read_the_store() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    put(&server, "notes/secret", "the launch code is 0000").await?;
    let http = reqwest::Client::new();

    // A form's text/plain POST running a GraphQL delete mutation.
    let mutation = r#"{"query":"mutation { delete(key: \"notes/secret\") { versions } }"}"#;
    let response = http
        .post(format!("{}/graphql", server.url()))
        .header("origin", EVIL)
        .header("content-type", "text/plain")
        .header("sec-fetch-site", "cross-site")
        .body(mutation)
        .send()
        .await?;
    assert_eq!(
        code(response).await?,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    assert!(
        exists(&server, "notes/secret").await?,
        "nothing was deleted"
    );

    // A cross-site import that would plant a session.
    let session = r#"{"type":"user","sessionId":"planted","uuid":"u1","timestamp":"2026-01-01T00:00:00Z","message":{"role":"user","content":"planted"}}"#;
    let response = http
        .post(format!("{}/v1/sessions/import?agent=claude", server.url()))
        .header("origin", EVIL)
        .body(session)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let sessions: Value = http
        .get(format!("{}/v1/sessions", server.url()))
        .send()
        .await?
        .text()
        .await?
        .parse()?;
    assert_eq!(sessions["sessions"], json!([]), "no session planted");

    // A cross-site read (CORS would hide the answer; it is not even made).
    let response = http
        .get(format!("{}/v1/contexts/notes/secret", server.url()))
        .header("origin", EVIL)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(!response.text().await?.contains("launch code"));

    // An old browser's form POST without an Origin: its content type gives
    // it away.
    let response = http
        .post(format!("{}/graphql", server.url()))
        .header("content-type", "text/plain")
        .header("sec-fetch-site", "cross-site")
        .body(mutation)
        .send()
        .await?;
    assert_eq!(
        code(response).await?,
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type".into()
        )
    );
    assert!(exists(&server, "notes/secret").await?);

    // `Origin: null` (a sandboxed frame, a file:// page) is not an origin
    // anyone allowed.
    let response = http
        .delete(format!("{}/v1/contexts/notes/secret", server.url()))
        .header("origin", "null")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(exists(&server, "notes/secret").await?);

    // The server's own pages (the same origin) and programs are served.
    let own = format!("http://{}", server.url().trim_start_matches("http://"));
    let response = http
        .get(format!("{}/v1/contexts/notes/secret", server.url()))
        .header("origin", &own)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    // curl sends a form type by default; no browser marks, so it is served.
    let response = http
        .put(format!("{}/v1/contexts/notes/curl", server.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("from curl")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    // The refused mutation itself works when a program sends it: the
    // refusals above were the guard's, not a bad query's.
    let response = http
        .post(format!("{}/graphql", server.url()))
        .header("content-type", "text/plain")
        .body(mutation)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!exists(&server, "notes/secret").await?);
    server.stop().await
}

#[tokio::test]
async fn a_dns_rebinding_page_gets_nothing_on_any_surface() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    put(&server, "notes/secret", "the launch code is 0000").await?;
    let http = reqwest::Client::new();
    let rebound = "rebind.evil.example:8787";
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "page", "version": "1"}}});
    let requests = [
        http.get(format!("{}/v1/contexts", server.url())),
        http.get(format!("{}/v1/contexts/notes/secret", server.url())),
        http.post(format!("{}/graphql", server.url()))
            .header("content-type", "application/json")
            .body(r#"{"query":"{ context(key: \"notes/secret\") { content } }"}"#),
        http.post(format!("{}/mcp", server.url()))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(initialize.to_string()),
        http.post(format!("{}/v1/messages", server.url()))
            .header("content-type", "application/json")
            .body(r#"{"model":"m","max_tokens":1,"messages":[]}"#),
        http.get(format!("{}/metrics", server.url())),
    ];
    for request in requests {
        let response = request.header("host", rebound).send().await?;
        let status = response.status();
        let text = response.text().await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
        assert!(!text.contains("launch code"), "{text}");
    }
    server.stop().await?;

    // A name the operator configured is served.
    let server = TestServer::start_with(|config| {
        config.server.allowed_hosts = vec!["cairn.internal".to_owned()];
    })
    .await?;
    let response = http
        .get(format!("{}/v1/stats", server.url()))
        .header("host", "cairn.internal:8787")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    server.stop().await
}

#[tokio::test]
async fn a_cross_site_websocket_is_refused_and_a_local_client_is_served() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    put(&server, "notes/secret", "the launch code is 0000").await?;
    let url = format!("{}/graphql", server.url().replace("http://", "ws://"));
    let mut request = url.as_str().into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let mut evil = request.clone();
    evil.headers_mut().insert("origin", EVIL.parse()?);
    match tokio_tungstenite::connect_async(evil).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
        }
        Err(other) => panic!("refused with {other}"),
        Ok(_) => panic!("a cross-site WebSocket was accepted"),
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(
            json!({"type": "connection_init"}).to_string(),
        ))
        .await?;
    let ack = socket.next().await.expect("an answer")?;
    assert!(ack.to_string().contains("connection_ack"), "{ack}");
    server.stop().await
}

#[tokio::test]
async fn cors_answers_allowlisted_origins_only() -> anyhow::Result<()> {
    let allowed = "https://app.example.com";
    let server = TestServer::start_with(|config| {
        config.server.cors_allowed_origins = vec![allowed.to_owned()];
    })
    .await?;
    let preflight = |origin: &'static str| {
        reqwest::Client::new()
            .request(Method::OPTIONS, format!("{}/v1/contexts/k", server.url()))
            .header("origin", origin)
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let response = preflight(allowed).await?;
    assert_eq!(response.headers()["access-control-allow-origin"], allowed);
    let response = preflight("https://evil.example.net").await?;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let response = reqwest::Client::new()
        .get(format!("{}/v1/stats", server.url()))
        .header("origin", "https://evil.example.net")
        .send()
        .await?;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    server.stop().await?;

    // The default allows no origin at all.
    let server = TestServer::start().await?;
    let response = reqwest::Client::new()
        .get(format!("{}/v1/stats", server.url()))
        .header("origin", allowed)
        .send()
        .await?;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    server.stop().await
}
