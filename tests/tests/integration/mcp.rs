//! MCP over streamable HTTP at `/mcp`, driven by a client the project did not
//! write: the official MCP Python SDK (`mcp` 2.3.0, installed into
//! `.venv-mcp` by `scripts/install-mcp-client.sh`). Each run of
//! `tests/mcp/client.py` is one client session; its checks are assertions
//! in the script, and the facts it prints are checked here again.
//!
//! The stdio transports (`cairn mcp --url`, `cairn mcp --data-dir`) are
//! tested in `server/tests/mcp.rs`, beside the binary.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_auth::{Scope, Scopes, SigningKey, TokenRequest};
use cairn_mcp::bridge::{Bridge, BridgeOptions};
use cairn_server::RunningServer;
use cairn_tests::{TestServer, test_config};
use serde_json::{Value, json};

const SECRET: &str = "an mcp test secret of at least thirty-two bytes";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_owned()
}

/// The venv's python. A missing venv fails the test: it is never skipped.
fn python() -> PathBuf {
    let python = workspace_root().join(".venv-mcp/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-mcp-client.sh .venv-mcp (scripts/test.sh does)",
        python.display()
    );
    python
}

/// Runs one client session of `scenario` against `endpoint` and returns the
/// facts it printed; panics with its standard error when it fails.
async fn session(scenario: &str, endpoint: &str, extra: &[&str]) -> Value {
    let script = workspace_root().join("tests/mcp/client.py");
    let run = tokio::process::Command::new(python())
        .arg(script)
        .arg(scenario)
        .args(extra)
        .args(["--http", endpoint])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the client session ends within two minutes")
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "client.py {scenario} failed:\n{stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|error| {
        panic!("client.py {scenario} printed no JSON ({error}):\n{stdout}\n{stderr}")
    })
}

#[tokio::test]
async fn a_put_in_one_session_is_read_retrieved_and_found_from_another() {
    let server = TestServer::start().await.expect("server starts");
    let endpoint = format!("{}/mcp", server.url());
    let written = session(
        "writer",
        &endpoint,
        &["--protocol", "2025-06-18", "--name", "writer-agent"],
    )
    .await;
    assert_eq!(written["protocol"], "2025-06-18");
    assert_eq!(
        written["tools"],
        serde_json::json!([
            "cairn_briefing",
            "cairn_compress",
            "cairn_get",
            "cairn_put",
            "cairn_retrieve",
            "cairn_search",
            "cairn_stats"
        ])
    );
    let reference = written["ref"].as_str().expect("a ref").to_owned();
    let read = session(
        "reader",
        &endpoint,
        &[
            "--protocol",
            "2025-11-25",
            "--name",
            "reader-agent",
            "--ref",
            &reference,
        ],
    )
    .await;
    assert_eq!(read["protocol"], "2025-11-25");
    // The put recorded the writer's clientInfo.name as the agent.
    assert_eq!(read["agent"], "writer-agent");
    assert_eq!(read["search_agent"], "writer-agent");
    // The session Codex sends in `_meta` is recorded with the put.
    assert_eq!(read["session"], "codex-session-1");
    assert!(read["markers"].as_u64().unwrap_or_default() > 0);
    // The REST API sees the same context: one implementation behind both.
    let view = server
        .client()
        .get("build/log")
        .await
        .expect("REST reads the MCP put");
    assert_eq!(view.reference, reference);
    server.stop().await.expect("server stops");
}

#[tokio::test]
async fn the_stateless_2026_07_28_revision_works_too() {
    let server = TestServer::start().await.expect("server starts");
    let endpoint = format!("{}/mcp", server.url());
    // `auto` probes `server/discover` and, finding it, skips the handshake.
    let written = session("writer", &endpoint, &["--mode", "auto", "--name", "modern"]).await;
    assert_eq!(written["protocol"], "2026-07-28");
    let reference = written["ref"].as_str().expect("a ref").to_owned();
    let read = session(
        "reader",
        &endpoint,
        &["--mode", "auto", "--ref", &reference],
    )
    .await;
    assert_eq!(read["protocol"], "2026-07-28");
    // The client's name travels in each request's `_meta` there.
    assert_eq!(read["agent"], "modern");
    server.stop().await.expect("server stops");
}

#[tokio::test]
async fn bad_arguments_and_unknown_refs_are_tool_errors_and_the_session_goes_on() {
    let server = TestServer::start().await.expect("server starts");
    let endpoint = format!("{}/mcp", server.url());
    let facts = session("errors", &endpoint, &[]).await;
    assert_eq!(facts["errors"].as_array().map(Vec::len), Some(14));
    assert_eq!(facts["stats_after"], true);
    server.stop().await.expect("server stops");
}

#[tokio::test]
async fn with_auth_on_mcp_needs_a_token_and_records_its_subject() {
    let server = TestServer::start_with(|config| config.auth.jwt_secret = Some(SECRET.into()))
        .await
        .expect("server starts");
    let endpoint = format!("{}/mcp", server.url());
    let initialize = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "raw", "version": "1"}}
    });
    let post = |token: Option<&str>| {
        let mut request = reqwest::Client::new()
            .post(&endpoint)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(initialize.to_string());
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.send()
    };
    let refused = post(None).await.expect("an answer");
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().contains_key("www-authenticate"));
    let body: Value =
        serde_json::from_slice(&refused.bytes().await.expect("a body")).expect("our error body");
    assert_eq!(body["error"]["code"], "unauthorized");
    let forged = post(Some("not.a.token")).await.expect("an answer");
    assert_eq!(forged.status(), 401);

    let key = SigningKey::secret(SECRET.as_bytes()).expect("a key");
    let issue = |sub: &str, scopes: Scopes| {
        key.issue(&TokenRequest {
            sub: sub.into(),
            tenant: "team".into(),
            scopes,
            ttl_seconds: 600,
        })
        .expect("a token")
    };
    let writer = issue("token-writer", Scopes::all());
    let accepted = post(Some(&writer)).await.expect("an answer");
    assert_eq!(accepted.status(), 200);

    let written = session(
        "writer",
        &endpoint,
        &["--token", &writer, "--name", "client-name-ignored"],
    )
    .await;
    let reference = written["ref"].as_str().expect("a ref").to_owned();
    let reader = issue("token-reader", [Scope::Read].into_iter().collect());
    let read = session(
        "reader",
        &endpoint,
        &["--token", &writer, "--ref", &reference],
    )
    .await;
    // The token's subject wins over clientInfo.name.
    assert_eq!(read["agent"], "token-writer");
    // A read-only token reads; its puts and compressions are `forbidden`
    // tool errors.
    let read_only = session("readonly", &endpoint, &["--token", &reader]).await;
    assert_eq!(
        read_only["denied"],
        serde_json::json!(["cairn_compress", "cairn_put"])
    );
    assert_eq!(read_only["read"], true);
    server.stop().await.expect("server stops");
}

#[tokio::test]
async fn a_web_page_cannot_reach_mcp_and_an_allowed_origin_can() {
    let server = TestServer::start_with(|config| {
        config.server.cors_allowed_origins = vec!["https://app.example.com".into()];
    })
    .await
    .expect("server starts");
    let endpoint = format!("{}/mcp", server.url());
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "page", "version": "1"}}
    });
    let post = |origin: Option<&str>| {
        let mut request = reqwest::Client::new()
            .post(&endpoint)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(initialize.to_string());
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let evil = post(Some("https://evil.example")).await.expect("an answer");
    assert_eq!(evil.status(), 403);
    let allowed = post(Some("https://app.example.com"))
        .await
        .expect("an answer");
    assert_eq!(allowed.status(), 200);
    // Agents send no Origin.
    let agent = post(None).await.expect("an answer");
    assert_eq!(agent.status(), 200);
    server.stop().await.expect("server stops");
}

/// Every event of an SSE answer carries one JSON-RPC message: no priming
/// event with an empty `data:` (rmcp's default), which Gemini CLI's client
/// parses as JSON and then drops the server.
#[tokio::test]
async fn every_event_of_an_sse_answer_is_a_json_rpc_message() {
    let server = TestServer::start().await.expect("server starts");
    let endpoint = format!("{}/mcp", server.url());
    let http = reqwest::Client::new();
    let post = |body: Value, session: Option<String>| {
        let mut request = http
            .post(&endpoint)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .body(body.to_string());
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.send()
    };
    let initialize = post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
               "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                          "clientInfo": {"name": "gemini-cli-mcp-client", "version": "1"}}}),
        None,
    )
    .await
    .expect("an answer");
    let session = initialize
        .headers()
        .get("mcp-session-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let mut bodies = vec![initialize.text().await.expect("a body")];
    post(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        session.clone(),
    )
    .await
    .expect("an answer");
    let listed = post(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        session,
    )
    .await
    .expect("an answer");
    bodies.push(listed.text().await.expect("a body"));
    for body in bodies {
        let events: Vec<&str> = body
            .split("\n\n")
            .filter(|e| !e.trim().is_empty())
            .collect();
        assert!(!events.is_empty(), "an SSE answer: {body:?}");
        for event in events {
            let data: String = event
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            let message: Value = serde_json::from_str(&data)
                .unwrap_or_else(|error| panic!("event {event:?} is not JSON: {error}"));
            assert_eq!(message["jsonrpc"], "2.0", "{event}");
        }
    }
    server.stop().await.expect("server stops");
}

#[tokio::test]
async fn the_server_stops_while_a_client_holds_an_event_stream_open() {
    let server = TestServer::start().await.expect("server starts");
    let endpoint = format!("{}/mcp", server.url());
    let http = reqwest::Client::new();
    let initialized = http
        .post(&endpoint)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "listener", "version": "1"}}})
            .to_string(),
        )
        .send()
        .await
        .expect("initialized");
    let session = initialized
        .headers()
        .get("mcp-session-id")
        .and_then(|value| value.to_str().ok())
        .expect("a session id")
        .to_owned();
    let notified = http
        .post(&endpoint)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .body(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string())
        .send()
        .await
        .expect("notified");
    assert_eq!(notified.status(), 202);
    // The stream agents open for what the server sends unasked; it stays open.
    let stream = http
        .get(&endpoint)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .expect("a stream");
    assert_eq!(stream.status(), 200);
    tokio::time::timeout(Duration::from_secs(15), server.stop())
        .await
        .expect("graceful shutdown does not wait for the stream")
        .expect("server stops");
    drop(stream);
}

/// Sends `message` through the bridge and returns what it wrote back.
async fn through(bridge: &mut Bridge, message: Value) -> Vec<Value> {
    let mut out = Vec::new();
    bridge
        .forward(&message.to_string(), &mut out)
        .await
        .expect("the bridge writes");
    String::from_utf8(out)
        .expect("UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON message a line"))
        .collect()
}

#[tokio::test]
async fn the_bridge_survives_a_server_restart_and_a_server_that_is_down() {
    let data = tempfile::tempdir().expect("a temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let mut config = test_config(data.path());
    config.server.bind = format!("127.0.0.1:{port}").parse().expect("an address");
    let server = RunningServer::start(config.clone())
        .await
        .expect("server starts");
    let mut bridge = Bridge::new(BridgeOptions {
        endpoint: format!("http://127.0.0.1:{port}/mcp"),
        token: None,
    })
    .expect("a bridge");
    let answers = through(
        &mut bridge,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "restart-test", "version": "1"}}}),
    )
    .await;
    assert_eq!(answers[0]["result"]["protocolVersion"], "2025-11-25");
    let none = through(
        &mut bridge,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert!(none.is_empty(), "a notification gets no answer: {none:?}");
    let call = |id: u64, name: &str, arguments: Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": name, "arguments": arguments}})
    };
    let put = through(
        &mut bridge,
        call(
            2,
            "cairn_put",
            json!({"key": "kept", "content": "across restarts"}),
        ),
    )
    .await;
    assert_eq!(put[0]["result"]["isError"], false);

    server.stop().await.expect("server stops");
    // Down: the request gets an error naming the problem; the bridge goes on.
    let down = through(&mut bridge, call(3, "cairn_stats", json!({}))).await;
    assert_eq!(down[0]["id"], 3);
    let message = down[0]["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("cannot reach the Cairn server"),
        "{message}"
    );

    // Back (it forgot the MCP session): the bridge initializes a new one by
    // replaying the client's initialize, then retries the call.
    let server = RunningServer::start(config).await.expect("server restarts");
    let read = through(
        &mut bridge,
        call(4, "cairn_get", json!({"key": "kept", "full": true})),
    )
    .await;
    assert_eq!(
        read.len(),
        1,
        "only the call's answer reaches the client: {read:?}"
    );
    assert_eq!(read[0]["id"], 4);
    assert_eq!(
        read[0]["result"]["structuredContent"]["content"],
        "across restarts"
    );
    assert_eq!(
        read[0]["result"]["structuredContent"]["agent"],
        "restart-test"
    );
    bridge.close().await;
    server.stop().await.expect("server stops");
}

/// The server's JSON-RPC errors reach the stdio client as the server wrote
/// them (an unknown method is `-32601`, a malformed call its own code), not as a
/// generic bridge failure, and the session goes on.
#[tokio::test]
async fn the_bridge_passes_the_servers_json_rpc_errors_through() {
    let server = TestServer::start().await.expect("server starts");
    let mut bridge = Bridge::new(BridgeOptions {
        endpoint: format!("{}/mcp", server.url()),
        token: None,
    })
    .expect("a bridge");
    through(
        &mut bridge,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "errors-test", "version": "1"}}}),
    )
    .await;
    through(
        &mut bridge,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    let unknown = through(
        &mut bridge,
        json!({"jsonrpc": "2.0", "id": 2, "method": "no/such/method"}),
    )
    .await;
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert_eq!(unknown[0]["id"], 2);
    assert_eq!(unknown[0]["error"]["code"], -32601, "{unknown:?}");
    let bad = through(
        &mut bridge,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"arguments": 7}}),
    )
    .await;
    assert_eq!(bad[0]["id"], 3);
    let code = bad[0]["error"]["code"].as_i64().unwrap_or_default();
    assert!(
        (-32768..-32000).contains(&code),
        "the server's own JSON-RPC code, not the bridge's -32000: {bad:?}"
    );
    let listed = through(
        &mut bridge,
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}),
    )
    .await;
    assert!(listed[0]["result"]["tools"].is_array(), "{listed:?}");
    bridge.close().await;
    server.stop().await.expect("server stops");
}

/// An MCP session belongs to the tenant that opened it: another tenant's
/// token naming its `Mcp-Session-Id` (to call through it, or to end it) is
/// answered like a session that does not exist, and the session goes on.
#[tokio::test]
async fn another_tenant_cannot_use_or_end_an_mcp_session() {
    let server = TestServer::start_with(|config| config.auth.jwt_secret = Some(SECRET.into()))
        .await
        .expect("server starts");
    let endpoint = format!("{}/mcp", server.url());
    let key = SigningKey::secret(SECRET.as_bytes()).expect("a key");
    let token = |tenant: &str| {
        key.issue(&TokenRequest {
            sub: "agent".into(),
            tenant: tenant.into(),
            scopes: Scopes::all(),
            ttl_seconds: 600,
        })
        .expect("a token")
    };
    let (ours, theirs) = (token("acme"), token("globex"));
    let http = reqwest::Client::new();
    let send = |method: reqwest::Method, token: &str, session: Option<&str>, body: Value| {
        let mut request = http
            .request(method, &endpoint)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .bearer_auth(token)
            .body(body.to_string());
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.send()
    };
    let opened = send(
        reqwest::Method::POST,
        &ours,
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
               "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                          "clientInfo": {"name": "acme-agent", "version": "1"}}}),
    )
    .await
    .expect("an answer");
    let session = opened
        .headers()
        .get("mcp-session-id")
        .and_then(|value| value.to_str().ok())
        .expect("a session id")
        .to_owned();
    send(
        reqwest::Method::POST,
        &ours,
        Some(&session),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await
    .expect("an answer");
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let used = send(reqwest::Method::POST, &theirs, Some(&session), list.clone())
        .await
        .expect("an answer");
    assert_eq!(used.status(), 404, "another tenant cannot call through it");
    let ended = send(reqwest::Method::DELETE, &theirs, Some(&session), json!({}))
        .await
        .expect("an answer");
    assert_eq!(ended.status(), 404, "another tenant cannot end it");
    let still = send(reqwest::Method::POST, &ours, Some(&session), list)
        .await
        .expect("an answer");
    assert_eq!(still.status(), 200, "the session goes on");
    assert!(still.text().await.expect("a body").contains("cairn_put"));
    server.stop().await.expect("server stops");
}
