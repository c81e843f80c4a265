//! The security suite of the REST surface: tokens (missing, forged, `alg:
//! none`, HS/RS confusion, expired, wrong audience, too few scopes), tenants
//! that never see each other (reads, lists, search, sessions, stats and refs
//! known or guessed all answer like a key that does not exist), secrets
//! masked in views, snippets and the index, and CORS by allowlist only.
//! GraphQL and MCP carry their own auth tests beside their other tests.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cairn_auth::{Scope, Scopes, SigningKey, TokenRequest};
use cairn_tests::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";

fn key_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/auth")
        .join(name)
}

fn read_key(name: &str) -> Vec<u8> {
    std::fs::read(key_file(name)).unwrap_or_else(|error| panic!("{name}: {error}"))
}

async fn hs256_server() -> anyhow::Result<TestServer> {
    TestServer::start_with(|config| config.auth.jwt_secret = Some(SECRET.to_owned())).await
}

fn token(sub: &str, tenant: &str, scopes: &[Scope]) -> String {
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

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// A token with any claims, signed by jsonwebtoken with `key` and `algorithm`.
fn crafted(
    algorithm: jsonwebtoken::Algorithm,
    key: &jsonwebtoken::EncodingKey,
    claims: &Value,
) -> String {
    jsonwebtoken::encode(&jsonwebtoken::Header::new(algorithm), claims, key).expect("encodes")
}

fn claims(aud: &str, exp: u64) -> Value {
    json!({"sub": "agent-a", "tenant": "a", "scopes": ["read", "write"], "aud": aud, "exp": exp})
}

/// One request; the status and the body as JSON (`Null` when it is not JSON).
async fn call(
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
const ROUTES: &[(&str, &str)] = &[
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
    ("POST", "/v1/compress"),
];

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).expect("a method name")
}

#[tokio::test]
async fn every_route_refuses_a_missing_or_bad_token_with_401() -> anyhow::Result<()> {
    let server = hs256_server().await?;
    let rsa_private = jsonwebtoken::EncodingKey::from_rsa_pem(&read_key("rsa-private.pem"))?;
    let in_an_hour = now() + 3600;
    let bad_tokens = [
        ("forged with another secret", {
            let key =
                jsonwebtoken::EncodingKey::from_secret(b"another-secret-that-is-long-enough-000");
            crafted(
                jsonwebtoken::Algorithm::HS256,
                &key,
                &claims("cairn", in_an_hour),
            )
        }),
        ("alg none", {
            let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
            let payload = URL_SAFE_NO_PAD.encode(claims("cairn", in_an_hour).to_string());
            format!("{header}.{payload}.")
        }),
        (
            "RS256 where HS256 is configured",
            crafted(
                jsonwebtoken::Algorithm::RS256,
                &rsa_private,
                &claims("cairn", in_an_hour),
            ),
        ),
        ("expired", {
            let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
            crafted(
                jsonwebtoken::Algorithm::HS256,
                &key,
                &claims("cairn", now() - 600),
            )
        }),
        ("wrong audience", {
            let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
            crafted(
                jsonwebtoken::Algorithm::HS256,
                &key,
                &claims("someone-else", in_an_hour),
            )
        }),
        ("not a JWT", "hello".to_owned()),
    ];
    for (name, path) in ROUTES {
        let (status, body) = call(&server, method(name), path, None, Some("x")).await?;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{name} {path} without a token"
        );
        assert_eq!(
            body["error"]["code"], "unauthorized",
            "{name} {path}: {body}"
        );
        for (what, bad) in &bad_tokens {
            let (status, body) = call(&server, method(name), path, Some(bad), Some("x")).await?;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{name} {path}: {what}");
            assert_eq!(body["error"]["code"], "unauthorized", "{what}: {body}");
        }
    }
    // The reasons are told, and the scheme is named.
    let response = reqwest::Client::new()
        .get(format!("{}/v1/stats", server.url()))
        .bearer_auth(&bad_tokens[3].1)
        .send()
        .await?;
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"cairn\""
    );
    let body: Value = serde_json::from_slice(&response.bytes().await?)?;
    assert_eq!(body["error"]["message"], "invalid token: expired");
    // Probes stay open, for load balancers.
    let (status, _) = call(&server, Method::GET, "/healthz", None, None).await?;
    assert_eq!(status, StatusCode::OK);
    // And a good token works.
    let good = token("agent-a", "a", &[Scope::Read]);
    let (status, _) = call(&server, Method::GET, "/v1/stats", Some(&good), None).await?;
    assert_eq!(status, StatusCode::OK);
    server.stop().await
}

#[tokio::test]
async fn public_key_tokens_work_and_hs_rs_confusion_does_not() -> anyhow::Result<()> {
    let server = TestServer::start_with(|config| {
        config.auth.jwt_public_key_files =
            vec![key_file("rsa-public.pem"), key_file("ed25519-public.pem")];
    })
    .await?;
    let in_an_hour = now() + 3600;
    for private in ["rsa-private.pem", "ed25519-private.pem"] {
        let key = SigningKey::private_key(&read_key(private), private)?;
        let token = key.issue(&TokenRequest {
            sub: "agent-a".into(),
            tenant: "a".into(),
            scopes: [Scope::Read].into_iter().collect(),
            ttl_seconds: 600,
        })?;
        let (status, body) = call(&server, Method::GET, "/v1/stats", Some(&token), None).await?;
        assert_eq!(status, StatusCode::OK, "{private}: {body}");
    }
    // The classic confusion: HS256 "signed" with the public key's bytes.
    let public_as_secret = jsonwebtoken::EncodingKey::from_secret(&read_key("rsa-public.pem"));
    let confused = crafted(
        jsonwebtoken::Algorithm::HS256,
        &public_as_secret,
        &claims("cairn", in_an_hour),
    );
    let (status, body) = call(&server, Method::GET, "/v1/stats", Some(&confused), None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        body["error"]["message"],
        "invalid token: the algorithm HS256 is not accepted here"
    );
    server.stop().await
}

#[tokio::test]
async fn a_read_only_token_cannot_write() -> anyhow::Result<()> {
    let server = hs256_server().await?;
    let reader = token("reader", "a", &[Scope::Read]);
    for (name, path) in [
        ("PUT", "/v1/contexts/some/key"),
        ("DELETE", "/v1/contexts/some/key"),
        ("POST", "/v1/sessions/import"),
        ("POST", "/v1/compress"),
    ] {
        let (status, body) = call(&server, method(name), path, Some(&reader), Some("x")).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name} {path}");
        assert_eq!(body["error"]["code"], "forbidden");
        assert_eq!(
            body["error"]["message"],
            "the token lacks the `write` scope"
        );
    }
    // A write-only token cannot read.
    let writer = token("writer", "a", &[Scope::Write]);
    let (status, _) = call(&server, Method::GET, "/v1/contexts", Some(&writer), None).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        &server,
        Method::PUT,
        "/v1/contexts/k",
        Some(&writer),
        Some("x"),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    server.stop().await
}

#[tokio::test]
async fn the_agent_recorded_on_a_put_is_the_tokens_subject() -> anyhow::Result<()> {
    let server = hs256_server().await?;
    let token = token("agent-a", "a", &[Scope::Read, Scope::Write]);
    let response = reqwest::Client::new()
        .put(format!("{}/v1/contexts/who", server.url()))
        .bearer_auth(&token)
        .header("x-cairn-agent", "mallory")
        .body("written by agent-a")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, body) = call(&server, Method::GET, "/v1/contexts/who", Some(&token), None).await?;
    assert_eq!(body["agent"], "agent-a", "{body}");
    server.stop().await
}

/// The error body with the key's name taken out, to compare shapes.
fn without(body: &Value, name: &str) -> String {
    body.to_string().replace(name, "KEY")
}

#[tokio::test]
async fn tenants_never_see_each_other() -> anyhow::Result<()> {
    let server = hs256_server().await?;
    let a = token("agent-a", "a", &[Scope::Read, Scope::Write]);
    let b = token("agent-b", "b", &[Scope::Read, Scope::Write]);
    let text = "tenant a's build log: zebracorn failure in module quux\n".repeat(40);
    let (status, put) = call(
        &server,
        Method::PUT,
        "/v1/contexts/a/log",
        Some(&a),
        Some(&text),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let reference = put["ref"].as_str().expect("a ref").to_owned();
    let session = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/sessions/claude/session-9eda1058.jsonl"),
    )?;
    let imported = reqwest::Client::new()
        .post(format!("{}/v1/sessions/import?agent=claude", server.url()))
        .bearer_auth(&a)
        .body(session)
        .send()
        .await?;
    assert_eq!(imported.status(), StatusCode::OK);
    let (_, sessions) = call(&server, Method::GET, "/v1/sessions", Some(&a), None).await?;
    let session_id = sessions["sessions"][0]["id"]
        .as_str()
        .expect("a session id")
        .to_owned();

    // Tenant a finds its own, once indexed.
    let started = Instant::now();
    loop {
        let (_, found) = call(
            &server,
            Method::GET,
            "/v1/search?q=zebracorn",
            Some(&a),
            None,
        )
        .await?;
        if found["total"] == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never indexed: {found}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Tenant b: a's key answers exactly like a key nobody stored.
    let (status, theirs) = call(&server, Method::GET, "/v1/contexts/a/log", Some(&b), None).await?;
    let (_, nobodys) = call(&server, Method::GET, "/v1/contexts/a/nop", Some(&b), None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(without(&theirs, "a/log"), without(&nobodys, "a/nop"));
    // A known ref and a guessed one answer alike.
    let guessed = "ccr:0123456789abcdef01234567";
    let (status, known) = call(
        &server,
        Method::GET,
        &format!("/v1/ccr/{reference}"),
        Some(&b),
        None,
    )
    .await?;
    let (_, guess) = call(
        &server,
        Method::GET,
        &format!("/v1/ccr/{guessed}"),
        Some(&b),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(without(&known, &reference), without(&guess, guessed));
    // Lists, search, sessions and stats hold nothing of a's.
    let (_, list) = call(&server, Method::GET, "/v1/contexts", Some(&b), None).await?;
    assert_eq!(list["items"], json!([]), "{list}");
    let (_, found) = call(
        &server,
        Method::GET,
        "/v1/search?q=zebracorn",
        Some(&b),
        None,
    )
    .await?;
    assert_eq!(found["total"], 0, "{found}");
    let (_, sessions) = call(&server, Method::GET, "/v1/sessions", Some(&b), None).await?;
    assert_eq!(sessions["sessions"], json!([]), "{sessions}");
    let (status, _) = call(
        &server,
        Method::GET,
        &format!("/v1/sessions/{session_id}"),
        Some(&b),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, stats) = call(&server, Method::GET, "/v1/stats", Some(&b), None).await?;
    assert_eq!(stats["contexts"], 0, "{stats}");
    // Deleting a's key from b deletes nothing.
    let (status, _) = call(
        &server,
        Method::DELETE,
        "/v1/contexts/a/log",
        Some(&b),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&server, Method::GET, "/v1/contexts/a/log", Some(&a), None).await?;
    assert_eq!(status, StatusCode::OK);

    // Dedup stays invisible: b storing the same bytes learns nothing.
    let (_, put_b) = call(
        &server,
        Method::PUT,
        "/v1/contexts/b/log",
        Some(&b),
        Some(&text),
    )
    .await?;
    assert_eq!(put_b["deduplicated"], false, "{put_b}");
    let (_, again) = call(
        &server,
        Method::PUT,
        "/v1/contexts/b/log2",
        Some(&b),
        Some(&text),
    )
    .await?;
    assert_eq!(again["deduplicated"], true, "b's own second copy: {again}");
    // Now b references the blob, so the ref resolves for b too.
    let (status, _) = call(
        &server,
        Method::GET,
        &format!("/v1/ccr/{reference}"),
        Some(&b),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    server.stop().await
}

#[tokio::test]
async fn secrets_are_masked_in_views_snippets_and_the_index_but_not_in_the_full_view()
-> anyhow::Result<()> {
    let server = hs256_server().await?;
    let a = token("agent-a", "a", &[Scope::Read, Scope::Write]);
    let anthropic = "sk-ant-api03-Qx7vLmZpW3rT9yKcB2nJdF5hGs8aE1uo";
    let aws = "AKIAZ7QW3ERT5YUI9OPL";
    let mut output = String::from("$ env | sort\n");
    output.push_str(&format!("ANTHROPIC_API_KEY={anthropic}\n"));
    output.push_str(&format!("AWS_ACCESS_KEY_ID={aws}\n"));
    for line in 0..60 {
        output.push_str(&format!(
            "VARIABLE_{line}=ordinary value number {line} marmoset\n"
        ));
    }
    let (status, _) = call(
        &server,
        Method::PUT,
        "/v1/contexts/tool/env",
        Some(&a),
        Some(&output),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);

    let (_, view) = call(
        &server,
        Method::GET,
        "/v1/contexts/tool/env",
        Some(&a),
        None,
    )
    .await?;
    let content = view["content"].as_str().expect("content");
    assert!(
        !content.contains(anthropic) && !content.contains(aws),
        "{content}"
    );
    assert!(content.contains("[masked Anthropic API key]"), "{content}");
    // A query for the variable keeps its line, still masked.
    let (_, queried) = call(
        &server,
        Method::GET,
        "/v1/contexts/tool/env?query=ANTHROPIC_API_KEY",
        Some(&a),
        None,
    )
    .await?;
    let queried = queried["content"].as_str().expect("content");
    assert!(
        queried.contains("ANTHROPIC_API_KEY=[masked Anthropic API key]"),
        "{queried}"
    );

    let (_, full) = call(
        &server,
        Method::GET,
        "/v1/contexts/tool/env?view=full",
        Some(&a),
        None,
    )
    .await?;
    assert_eq!(full["content"], output.as_str());

    // Search: the document is found by its other words, its snippet is
    // masked, and the secret's parts are not terms.
    let started = Instant::now();
    let hit = loop {
        let (_, found) = call(
            &server,
            Method::GET,
            "/v1/search?q=ANTHROPIC_API_KEY",
            Some(&a),
            None,
        )
        .await?;
        if found["total"] == 1 {
            break found["hits"][0].clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never indexed: {found}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let snippet = hit["snippet"].as_str().expect("a snippet");
    assert!(
        !snippet.contains(anthropic) && !snippet.contains("Qx7vLmZpW3rT9yKcB2nJdF5hGs8aE1uo"),
        "{snippet}"
    );
    for part in [anthropic, "Qx7vLmZpW3rT9yKcB2nJdF5hGs8aE1uo", aws] {
        let (_, found) = call(
            &server,
            Method::GET,
            &format!("/v1/search?q={part}"),
            Some(&a),
            None,
        )
        .await?;
        assert_eq!(found["total"], 0, "{part} is a term: {found}");
    }
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

/// A session's title is its first prompt or one the agent wrote (Claude
/// Code's `custom-title`): it is masked like the messages, on REST and
/// GraphQL.
#[tokio::test]
async fn session_titles_are_masked_like_messages() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let key = "sk-ant-api03-Qx7vLmZpW3rT9yKcB2nJdF5hGs8aE1uo";
    let records = [
        json!({"type": "user", "sessionId": "titled", "uuid": "u1", "timestamp": "2026-11-01T10:00:00Z",
               "cwd": "/work", "message": {"role": "user", "content": format!("use ANTHROPIC_API_KEY={key} to test")}}),
        json!({"type": "user", "sessionId": "named", "uuid": "u2", "timestamp": "2026-11-01T10:00:00Z",
               "cwd": "/work", "message": {"role": "user", "content": "hello"}}),
        json!({"type": "custom-title", "sessionId": "named", "customTitle": format!("deploy with {key}")}),
    ];
    let file: String = records.iter().map(|record| format!("{record}\n")).collect();
    let response = reqwest::Client::new()
        .post(format!("{}/v1/sessions/import?agent=claude", server.url()))
        .body(file)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let listed = reqwest::get(format!("{}/v1/sessions", server.url()))
        .await?
        .text()
        .await?;
    assert!(!listed.contains(key), "{listed}");
    assert_eq!(listed.matches("\"title\"").count(), 2, "{listed}");
    for id in ["titled", "named"] {
        let one = reqwest::get(format!("{}/v1/sessions/{id}", server.url()))
            .await?
            .text()
            .await?;
        assert!(!one.contains(key), "{one}");
    }
    let graphql = reqwest::Client::new()
        .post(format!("{}/graphql", server.url()))
        .header("content-type", "application/json")
        .body(r#"{"query":"{ sessions { nodes { id title } } }"}"#)
        .send()
        .await?
        .text()
        .await?;
    assert!(graphql.contains("\"title\""), "{graphql}");
    assert!(!graphql.contains(key), "{graphql}");
    server.stop().await
}

/// Tokens the server must refuse though their signature is good: not valid
/// yet (`nbf` in the future), or naming a critical header extension it
/// does not understand; and a public key too small to trust.
#[tokio::test]
async fn premature_tokens_critical_extensions_and_weak_rsa_keys_are_refused() -> anyhow::Result<()>
{
    use base64::Engine as _;
    let server = hs256_server().await?;
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    let mut early = claims("cairn", now() + 3600);
    early["nbf"] = json!(now() + 1800);
    let premature = crafted(jsonwebtoken::Algorithm::HS256, &key, &early);
    let header = URL_SAFE_NO_PAD
        .encode(br#"{"alg":"HS256","typ":"JWT","crit":["x-unknown"],"x-unknown":1}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims("cairn", now() + 3600).to_string());
    let message = format!("{header}.{payload}");
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)?;
    let critical = format!("{message}.{signature}");
    for (name, token) in [("nbf in the future", premature), ("crit", critical)] {
        let (status, body) = call(&server, Method::GET, "/v1/stats", Some(&token), None).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
    }
    // The same claims without either are accepted (the test is sound).
    let fine = crafted(
        jsonwebtoken::Algorithm::HS256,
        &key,
        &claims("cairn", now() + 3600),
    );
    let (status, _) = call(&server, Method::GET, "/v1/stats", Some(&fine), None).await?;
    assert_eq!(status, StatusCode::OK);
    server.stop().await?;

    let weak = cairn_auth::Authenticator::off()
        .with_public_key(&read_key("rsa-1024-public.pem"), "rsa-1024-public.pem");
    let Err(error) = weak else {
        panic!("a 1024-bit RSA key was accepted");
    };
    assert!(error.to_string().contains("1024-bit"), "{error}");
    assert!(
        cairn_auth::Authenticator::off()
            .with_public_key(&read_key("rsa-public.pem"), "rsa-public.pem")
            .is_ok()
    );
    Ok(())
}
