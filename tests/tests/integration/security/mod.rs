//! The security suite: every attack the server is defended against, made
//! against a real server on a loopback port, one module per kind of attack.
//! A module's test names say what holds; docs/auth.md lists the defences.
//!
//! - `tokens`: missing, forged, `alg: none`, HS/RS confusion, expired,
//!   another audience, premature, critical extensions, weak keys, scopes.
//! - `guessing`: the failed-authentication budget of each address.
//! - `tenants`: tenants never see each other (reads, lists, search,
//!   sessions, stats, refs known or guessed answer like a missing key).
//! - `tenant_isolation`: the same as a property test over every surface,
//!   scores included.
//! - `masking`: secrets masked in views, snippets, titles and the index.
//! - `cross_site`: web pages and DNS rebinding, by request, on every
//!   surface; CORS by allowlist only.
//! - `browser`: the same attacks from a real Chromium, and GraphiQL under
//!   its Content-Security-Policy.
//! - `resource_limits`: bodies that expand (a zstd bomb) and GraphQL
//!   aliases that multiply work.
//!
//! GraphQL and MCP carry their own auth tests beside their other tests.

mod browser;
mod cross_site;
mod guessing;
mod masking;
mod resource_limits;
mod tenant_isolation;
mod tenants;
mod tokens;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use cairn_auth::{Scope, Scopes, SigningKey, TokenRequest};
use cairn_tests::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub(crate) const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";

pub(crate) fn key_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/auth")
        .join(name)
}

pub(crate) fn read_key(name: &str) -> Vec<u8> {
    std::fs::read(key_file(name)).unwrap_or_else(|error| panic!("{name}: {error}"))
}

pub(crate) async fn hs256_server() -> anyhow::Result<TestServer> {
    TestServer::start_with(|config| config.auth.jwt_secret = Some(SECRET.to_owned())).await
}

pub(crate) fn token(sub: &str, tenant: &str, scopes: &[Scope]) -> String {
    SigningKey::secret(SECRET.as_bytes())
        .expect("the test secret is long enough")
        .issue(&TokenRequest {
            sub: sub.to_owned(),
            tenant: tenant.to_owned(),
            scopes: scopes.iter().copied().collect::<Scopes>(),
            ttl_seconds: 3600,
        })
        .expect("a token")
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// A token with any claims, signed by jsonwebtoken with `key` and `algorithm`.
pub(crate) fn crafted(
    algorithm: jsonwebtoken::Algorithm,
    key: &jsonwebtoken::EncodingKey,
    claims: &Value,
) -> String {
    jsonwebtoken::encode(&jsonwebtoken::Header::new(algorithm), claims, key).expect("encodes")
}

pub(crate) fn claims(aud: &str, exp: u64) -> Value {
    json!({"sub": "agent-a", "tenant": "a", "scopes": ["read", "write"], "aud": aud, "exp": exp})
}

/// One request; the status and the body as JSON (`Null` when it is not JSON).
pub(crate) async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> anyhow::Result<(StatusCode, Value)> {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", server.url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "text/plain")
            .body(body.to_owned());
    }
    let response = request.send().await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, body))
}

/// Every route that reads or writes data, as a user would call it.
pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/contexts"),
    ("GET", "/v1/contexts/some/key"),
    ("PUT", "/v1/contexts/some/key"),
    ("DELETE", "/v1/contexts/some/key"),
    ("GET", "/v1/ccr/ccr:0123456789abcdef01234567"),
    ("GET", "/v1/stats"),
    ("POST", "/v1/sessions/import"),
    ("GET", "/v1/sessions"),
    ("GET", "/v1/sessions/some-id"),
    ("GET", "/v1/search?q=anything"),
    ("GET", "/v1/briefing?project=/work"),
    ("POST", "/v1/compress"),
];

pub(crate) fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).expect("a method name")
}

/// Stores `body` under `key` (auth off).
pub(crate) async fn put(server: &TestServer, key: &str, body: &str) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .put(format!("{}/v1/contexts/{key}", server.url()))
        .body(body.to_owned())
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    Ok(())
}
