//! A property test of tenant isolation: two tenants share one server with
//! auth on; tenant B does random things (puts, overwrites, deletes, session
//! imports, compressions) with words of its own, and after each, tenant A
//! looks for them on every read surface (REST, GraphQL, MCP): lists,
//! reads by key, refs, search, sessions, stats. Nothing of B is ever
//! visible to A, and A's search scores do not move.

use cairn_auth::{Scopes, SigningKey, TokenRequest};
use cairn_core::ContentHash;
use cairn_tests::TestServer;
use serde_json::{Value, json};

const SECRET: &str = "a tenant isolation test secret, long enough";

/// A small deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Tenant {
    token: String,
    http: reqwest::Client,
    url: String,
}

impl Tenant {
    fn new(server: &TestServer, tenant: &str) -> Tenant {
        let token = SigningKey::secret(SECRET.as_bytes())
            .expect("a key")
            .issue(&TokenRequest {
                sub: format!("agent-{tenant}"),
                tenant: tenant.to_owned(),
                scopes: Scopes::all(),
                ttl_seconds: 3600,
            })
            .expect("a token");
        Tenant {
            token,
            http: reqwest::Client::new(),
            url: server.url(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
    ) -> (u16, String) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("a body"))
    }

    async fn get(&self, path: &str) -> (u16, String) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn graphql(&self, query: &str) -> String {
        self.call(
            reqwest::Method::POST,
            "/graphql",
            Some(json!({ "query": query }).to_string()),
        )
        .await
        .1
    }

    /// One MCP POST in `session` (none for the handshake); the answer's
    /// text and the session id it gives.
    async fn mcp_post(&self, session: Option<&str>, body: Value) -> (String, Option<String>) {
        let mut request = self
            .http
            .post(format!("{}/mcp", self.url))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .body(body.to_string());
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        let response = request.send().await.expect("the server answers");
        let id = response
            .headers()
            .get("mcp-session-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        (response.text().await.expect("a body"), id)
    }

    /// One MCP tool call, in a session of this tenant's opened for it.
    async fn mcp(&self, tool: &str, arguments: Value) -> String {
        let (_, session) = self
            .mcp_post(
                None,
                json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                       "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                  "clientInfo": {"name": "isolation", "version": "1"}}}),
            )
            .await;
        let session = session.expect("an MCP session");
        self.mcp_post(
            Some(&session),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .await;
        let (answer, _) = self
            .mcp_post(
                Some(&session),
                json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                       "params": {"name": tool, "arguments": arguments}}),
            )
            .await;
        assert!(answer.contains("\"result\""), "{tool}: {answer}");
        answer
    }

    /// The score of A's one-hit search for its own word.
    async fn own_score(&self) -> f64 {
        for _ in 0..100 {
            let (_, body) = self.get("/v1/search?q=aardvarkian").await;
            let hits: Value = body.parse().unwrap_or_default();
            if let Some(score) = hits["hits"][0]["score"].as_f64() {
                return score;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("A's own document was never found");
    }
}

#[tokio::test]
async fn nothing_of_one_tenant_is_ever_visible_to_another() -> anyhow::Result<()> {
    let server =
        TestServer::start_with(|config| config.auth.jwt_secret = Some(SECRET.to_owned())).await?;
    let a = Tenant::new(&server, "alpha");
    let b = Tenant::new(&server, "beta");
    let (status, _) = a
        .call(
            reqwest::Method::PUT,
            "/v1/contexts/notes/own",
            Some(json!({"content": "the aardvarkian report, alpha's own"}).to_string()),
        )
        .await;
    assert_eq!(status, 200);
    let baseline = a.own_score().await;

    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut b_words: Vec<String> = Vec::new();
    let mut b_refs: Vec<String> = Vec::new();
    let mut b_keys: Vec<String> = Vec::new();
    for step in 0..60 {
        // A word only B ever writes, and one A also has (its score must not move).
        let word = format!("betaword{}x{}", step, rng.below(1_000_000));
        let content = format!(
            "{word} aardvarkian {} filler {}",
            "lorem ".repeat(rng.below(40) as usize),
            step
        );
        match rng.below(5) {
            0 | 1 => {
                let key = format!("b/{}", rng.below(8));
                let (status, _) = b
                    .call(
                        reqwest::Method::PUT,
                        &format!("/v1/contexts/{key}"),
                        Some(json!({ "content": content }).to_string()),
                    )
                    .await;
                assert_eq!(status, 200);
                b_refs.push(ContentHash::of(content.as_bytes()).ccr_ref().to_string());
                b_keys.push(key);
            }
            2 => {
                let key = format!("b/{}", rng.below(8));
                b.call(
                    reqwest::Method::DELETE,
                    &format!("/v1/contexts/{key}"),
                    None,
                )
                .await;
            }
            3 => {
                let record = json!({"type": "user", "sessionId": format!("beta-session-{step}"),
                    "uuid": format!("u{step}"), "timestamp": "2026-11-01T10:00:00Z", "cwd": "/beta",
                    "message": {"role": "user", "content": content}});
                let (status, _) = b
                    .call(
                        reqwest::Method::POST,
                        "/v1/sessions/import?agent=claude",
                        Some(record.to_string()),
                    )
                    .await;
                assert_eq!(status, 200);
            }
            _ => {
                let output: String = (0..400).map(|n| format!("row {n} {word}\n")).collect();
                b.call(
                    reqwest::Method::POST,
                    "/v1/compress",
                    Some(json!({ "content": output }).to_string()),
                )
                .await;
                b_refs.push(ContentHash::of(output.as_bytes()).ccr_ref().to_string());
            }
        }
        b_words.push(word);

        // What A can see, on every surface, after each step.
        let seen = [
            a.get("/v1/contexts?limit=1000").await.1,
            a.get(&format!("/v1/search?q={}", b_words.join("%20OR%20")))
                .await
                .1,
            a.get("/v1/sessions").await.1,
            a.get("/v1/stats").await.1,
            a.graphql(
                "{ contexts(first: 100) { nodes { key ref } } sessions { nodes { id title } } }",
            )
            .await,
            a.graphql(&format!(
                "{{ search(query: \"{}\") {{ hits {{ snippet ref }} }} }}",
                b_words.last().map(String::as_str).unwrap_or("")
            ))
            .await,
            a.mcp("cairn_search", json!({"query": b_words.last()}))
                .await,
            a.mcp("cairn_stats", json!({})).await,
        ];
        for text in &seen {
            for word in &b_words {
                assert!(
                    !text.contains(word.as_str()),
                    "step {step}: A saw {word}: {text}"
                );
            }
            assert!(
                !text.contains("beta-session"),
                "step {step}: A saw a session of B: {text}"
            );
        }
        for key in &b_keys {
            let (status, body) = a.get(&format!("/v1/contexts/{key}")).await;
            assert_eq!(status, 404, "step {step}: A read B's key {key}: {body}");
        }
        for reference in &b_refs {
            let (status, body) = a.get(&format!("/v1/ccr/{reference}")).await;
            assert_eq!(status, 404, "step {step}: A read B's {reference}: {body}");
            let mcp = a.mcp("cairn_retrieve", json!({"ref": reference})).await;
            assert!(!mcp.contains("betaword"), "step {step}: {mcp}");
        }
        if step % 10 == 9 {
            // Only time moves it (the recency boost), by far less than this.
            let score = a.own_score().await;
            assert!(
                (score - baseline).abs() <= baseline * 1e-4,
                "step {step}: B's documents moved A's score: {baseline} → {score}"
            );
        }
    }
    let (_, stats) = a.get("/v1/stats").await;
    let stats: Value = stats.parse()?;
    assert_eq!(stats["contexts"], 1, "A's stats count A's own: {stats}");
    server.stop().await
}
