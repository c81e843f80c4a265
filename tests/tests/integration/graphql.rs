//! GraphQL end to end, over real HTTP and a real WebSocket: one agent puts
//! and imports, another lists, reads, searches and walks a session; a
//! subscriber sees another client's put; limits, syntax errors and unknown
//! fields get coded errors and never a 500; with auth on, a query needs a
//! token and a subscription authenticates in `connection_init`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn_tests::TestServer;
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

fn fixture(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/sessions");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// A GraphQL client over HTTP, with an optional bearer token.
pub(crate) struct Graphql {
    url: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl Graphql {
    pub(crate) fn new(server: &TestServer) -> Graphql {
        Graphql {
            url: format!("{}/graphql", server.url()),
            http: reqwest::Client::new(),
            token: None,
        }
    }

    fn with_token(mut self, token: &str) -> Graphql {
        self.token = Some(token.to_owned());
        self
    }

    /// Posts `body` as it is; the status and the parsed answer.
    async fn post_raw(&self, body: Vec<u8>) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        let value = serde_json::from_slice(&bytes).map_err(|error| {
            anyhow::anyhow!("{status}: {error}: {}", String::from_utf8_lossy(&bytes))
        })?;
        Ok((status, value))
    }

    /// Runs a query; the status and the whole answer (`data` and `errors`).
    async fn request(&self, query: &str, variables: Value) -> anyhow::Result<(u16, Value)> {
        let body = serde_json::to_vec(&json!({"query": query, "variables": variables}))?;
        self.post_raw(body).await
    }

    /// Runs a query that must succeed; its `data`.
    pub(crate) async fn data(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let (status, answer) = self.request(query, variables).await?;
        anyhow::ensure!(
            status == 200 && answer.get("errors").is_none(),
            "{status}: {answer}"
        );
        Ok(answer["data"].clone())
    }

    /// Runs a query that must fail; its first error's code and message.
    async fn error(&self, query: &str, variables: Value) -> anyhow::Result<(u16, String, String)> {
        let (status, answer) = self.request(query, variables).await?;
        let error = &answer["errors"][0];
        anyhow::ensure!(error.is_object(), "{status}: expected an error: {answer}");
        let code = error["extensions"]["code"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("an error without a code: {answer}"))?;
        let message = error["message"].as_str().unwrap_or_default();
        Ok((status, code.to_owned(), message.to_owned()))
    }
}

const PUT: &str = "mutation($key: String!, $content: String!, $agent: String) {
    put(key: $key, content: $content, agent: $agent) {
        key hash ref version tokensOriginal tokensCompressed
    }
}";

fn build_log() -> String {
    let mut log = String::new();
    for line in 0..400 {
        if line == 317 {
            log.push_str(
                "2026-05-01T10:00:00Z ERROR linker failed: undefined symbol frobnicate_widget\n",
            );
        } else {
            log.push_str(&format!(
                "2026-05-01T10:00:00Z INFO compiling crate number {line} of the workspace\n"
            ));
        }
    }
    log
}

#[tokio::test]
async fn agent_b_reads_over_graphql_what_agent_a_put_and_imported() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let a = Graphql::new(&server);
    let b = Graphql::new(&server);

    // Agent A: three contexts and a session, all over GraphQL.
    let log = build_log();
    let contents = [
        ("run/42/build.log", log.clone()),
        (
            "run/42/plan.md",
            "# Plan\n\nFix the linker error first.\n".to_owned(),
        ),
        (
            "run/42/notes.txt",
            "frobnicate_widget lives in widgets.rs\n".to_owned(),
        ),
    ];
    for (key, content) in &contents {
        let data = a
            .data(PUT, json!({"key": key, "content": content, "agent": "A"}))
            .await?;
        let put = &data["put"];
        assert_eq!(put["key"], *key);
        assert_eq!(put["version"], 1);
        assert!(put["ref"].as_str().is_some_and(|r| r.starts_with("ccr:")));
        assert!(put["tokensOriginal"].as_u64() >= put["tokensCompressed"].as_u64());
    }
    // Another agent's put, which A's listing must leave out.
    a.data(
        PUT,
        json!({"key": "run/42/other", "content": "x", "agent": "C"}),
    )
    .await?;
    let imported = a
        .data(
            "mutation($content: String!) {
                importSession(content: $content) { agent sessions messages errors { line } }
            }",
            json!({"content": fixture("claude/session-3fe1b6bc.jsonl")}),
        )
        .await?;
    assert_eq!(imported["importSession"]["agent"], "claude");
    assert_eq!(imported["importSession"]["messages"], 196);

    // Agent B lists A's contexts, two to a page.
    let list = "query($after: String) {
        contexts(filter: {prefix: \"run/42/\", agent: \"A\"}, first: 2, after: $after) {
            nodes { key agent tokensOriginal }
            pageInfo { hasNextPage endCursor }
        }
    }";
    let first = b.data(list, json!({})).await?;
    let page = &first["contexts"];
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let cursor = page["pageInfo"]["endCursor"].clone();
    let second = b.data(list, json!({"after": cursor})).await?;
    let mut keys: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|data| {
            data["contexts"]["nodes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|node| {
            assert_eq!(node["agent"], "A");
            node["key"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["run/42/build.log", "run/42/notes.txt", "run/42/plan.md"]
    );
    assert_eq!(second["contexts"]["pageInfo"]["hasNextPage"], false);

    // B reads the log compressed (the default) and full.
    let read = "query($key: String!, $view: View!) {
        context(key: $key, view: $view) {
            key hash ref version view content tokens tokensOriginal agent session createdAt
            markers { ref summary }
        }
    }";
    let compressed = b
        .data(
            read,
            json!({"key": "run/42/build.log", "view": "COMPRESSED"}),
        )
        .await?;
    let compressed = &compressed["context"];
    assert_eq!(compressed["view"], "COMPRESSED");
    assert_eq!(compressed["agent"], "A");
    let view_text = compressed["content"].as_str().unwrap_or_default();
    assert!(
        view_text.contains("frobnicate_widget"),
        "the error line is kept"
    );
    assert!(compressed["tokens"].as_u64() < compressed["tokensOriginal"].as_u64());
    let markers = compressed["markers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !markers.is_empty(),
        "the repeated lines are cut: {compressed}"
    );
    assert_eq!(markers[0]["ref"], compressed["ref"]);
    let full = b
        .data(read, json!({"key": "run/42/build.log", "view": "FULL"}))
        .await?;
    assert_eq!(full["context"]["content"], log.as_str());
    assert_eq!(full["context"]["tokens"], compressed["tokensOriginal"]);
    // The marker's ref resolves, whole or in part.
    let part = b
        .data(
            "query($ref: String!) { ccr(ref: $ref, lines: \"318-318\") { content selection total } }",
            json!({"ref": compressed["ref"]}),
        )
        .await?;
    assert!(
        part["ccr"]["content"]
            .as_str()
            .is_some_and(|line| line.contains("ERROR"))
    );
    assert_eq!(part["ccr"]["total"], 400);

    // B searches; the indexer runs in the background.
    let search =
        "query { search(query: \"frobnicate_widget\", filter: {kind: \"context\"}, first: 5) {
        total hits { kind key ref snippet }
    } }";
    let started = Instant::now();
    let results = loop {
        let data = b.data(search, json!({})).await?;
        if data["search"]["total"].as_u64() >= Some(2)
            || started.elapsed() > Duration::from_secs(20)
        {
            break data;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let hits = results["search"]["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let found: Vec<&str> = hits.iter().filter_map(|hit| hit["key"].as_str()).collect();
    assert!(
        found.contains(&"run/42/build.log") && found.contains(&"run/42/notes.txt"),
        "{results}"
    );
    assert!(hits.iter().all(|hit| hit["kind"] == "context"));

    // B walks the imported session's messages, fifty at a time.
    let sessions = b
        .data(
            "query { sessions(filter: {agent: \"claude\"}) {
                nodes { id project messageCount toolCalls }
                pageInfo { hasNextPage }
            } }",
            json!({}),
        )
        .await?;
    let summary = &sessions["sessions"]["nodes"][0];
    assert_eq!(summary["messageCount"], 196);
    assert_eq!(sessions["sessions"]["pageInfo"]["hasNextPage"], false);
    let id = summary["id"].as_str().unwrap_or_default().to_owned();
    let walk = "query($id: String!, $after: String) {
        session(id: $id) {
            id agent messageCount
            messages(first: 50, after: $after) {
                nodes { position role tool content ref tokens tokensOriginal markers { ref } }
                pageInfo { hasNextPage endCursor }
            }
        }
    }";
    let mut after = Value::Null;
    let mut messages = Vec::new();
    loop {
        let data = b.data(walk, json!({"id": id, "after": after})).await?;
        let page = &data["session"]["messages"];
        messages.extend(page["nodes"].as_array().cloned().unwrap_or_default());
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(messages.len(), 196);
    let positions: Vec<u64> = messages
        .iter()
        .filter_map(|m| m["position"].as_u64())
        .collect();
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "in order"
    );
    // A cut tool output: its view is smaller, and its ref holds the output.
    let cut = messages
        .iter()
        .find(|m| m["role"] == "tool" && m["markers"].as_array().is_some_and(|m| !m.is_empty()))
        .expect("some tool output is long enough to be cut");
    assert!(cut["tokens"].as_u64() < cut["tokensOriginal"].as_u64());
    let original = b
        .data(
            "query($ref: String!) { ccr(ref: $ref) { content tokens } }",
            json!({"ref": cut["ref"]}),
        )
        .await?;
    let original = original["ccr"]["content"].as_str().unwrap_or_default();
    assert!(original.len() > cut["content"].as_str().unwrap_or_default().len());

    // The same services as REST: what GraphQL wrote, REST reads.
    let rest = server.client().get("run/42/notes.txt").await?;
    assert_eq!(rest.agent.as_deref(), Some("A"));
    let stats = b.data("{ stats { contexts versions } }", json!({})).await?;
    assert_eq!(stats["stats"]["contexts"], 4);
    server.stop().await
}

/// A graphql-transport-ws connection, acknowledged.
pub(crate) async fn subscribe(
    server: &TestServer,
    init: Value,
    query: &str,
) -> anyhow::Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
> {
    let url = format!("{}/graphql", server.url().replacen("http://", "ws://", 1));
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await?;
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|value| value.to_str().ok()),
        Some("graphql-transport-ws")
    );
    let init = json!({"type": "connection_init", "payload": init});
    socket.send(Message::text(init.to_string())).await?;
    let ack = next_json(&mut socket).await?;
    anyhow::ensure!(ack["type"] == "connection_ack", "not acknowledged: {ack}");
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": query}});
    socket.send(Message::text(subscribe.to_string())).await?;
    Ok(socket)
}

/// Puts probes (`handoff/probe`, agent A) until the subscription delivers
/// one: graphql-transport-ws does not say when a subscription has started.
pub(crate) async fn wait_until_subscribed<S>(socket: &mut S, writer: &Graphql) -> anyhow::Result<()>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        writer
            .data(
                PUT,
                json!({"key": "handoff/probe", "content": "probe", "agent": "A"}),
            )
            .await?;
        let delivered = tokio::time::timeout(Duration::from_millis(200), next_json(socket)).await;
        if let Ok(message) = delivered {
            let message = message?;
            anyhow::ensure!(message["type"] == "next", "{message}");
            return Ok(());
        }
    }
    anyhow::bail!("the subscription never started")
}

/// The next put the subscription delivers, past any late probe.
pub(crate) async fn next_put<S>(socket: &mut S) -> anyhow::Result<Value>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = next_json(socket).await?;
        anyhow::ensure!(
            message["type"] == "next" && message["id"] == "1",
            "{message}"
        );
        let put = message["payload"]["data"]["contextPut"].clone();
        if put["key"] != "handoff/probe" {
            return Ok(put);
        }
    }
}

/// The next text message, as JSON, within five seconds.
async fn next_json<S>(socket: &mut S) -> anyhow::Result<Value>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the socket closed"))??;
        match message {
            Message::Text(text) => return Ok(serde_json::from_str(text.as_str())?),
            Message::Close(frame) => anyhow::bail!("closed: {frame:?}"),
            _ => {}
        }
    }
}

pub(crate) const WAIT_FOR_A: &str = "subscription {
    contextPut(filter: {keyPrefix: \"handoff/\", agent: \"A\"}) {
        key version ref agent session tokensOriginal createdAt
    }
}";

#[tokio::test]
async fn a_subscriber_receives_another_clients_put_within_a_second() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut socket = subscribe(&server, json!({}), WAIT_FOR_A).await?;
    wait_until_subscribed(&mut socket, &Graphql::new(&server)).await?;

    // Another client (REST, agent A) puts; only the matching put is delivered.
    let agent_a = server.agent("A");
    agent_a.put("elsewhere/result", "not this one").await?;
    server
        .agent("B")
        .put("handoff/result", "nor this one")
        .await?;
    let put_at = Instant::now();
    let receipt = agent_a
        .put("handoff/result", "the output B waits for")
        .await?;
    let put = next_put(&mut socket).await?;
    let elapsed = put_at.elapsed();
    assert_eq!(put["key"], "handoff/result");
    assert_eq!(put["agent"], "A");
    assert_eq!(put["version"], receipt.version);
    assert_eq!(put["ref"], receipt.reference.as_str());
    assert!(
        elapsed < Duration::from_secs(1),
        "delivered after {elapsed:?}"
    );

    // A put over GraphQL is delivered too.
    Graphql::new(&server)
        .data(
            PUT,
            json!({"key": "handoff/second", "content": "more", "agent": "A"}),
        )
        .await?;
    let put = next_put(&mut socket).await?;
    assert_eq!(put["key"], "handoff/second");
    socket.close(None).await?;
    server.stop().await
}

/// A selection `depth` levels of `ofType` deep, through introspection (the
/// only recursion in the schema).
fn deep_query(depth: usize) -> String {
    let mut selection = "name".to_owned();
    for _ in 0..depth {
        selection = format!("name ofType {{ {selection} }}");
    }
    format!("{{ __type(name: \"Context\") {{ fields {{ type {{ {selection} }} }} }} }}")
}

#[tokio::test]
async fn limits_syntax_errors_and_unknown_fields_get_coded_errors_never_500() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let client = Graphql::new(&server);

    // One level too deep (three levels, the chain, and `name`): refused
    // before anything runs, with the limit named.
    let (status, code, message) = client
        .error(&deep_query(cairn_api::MAX_DEPTH - 3), json!({}))
        .await?;
    assert_eq!((status, code.as_str()), (200, "invalid_request"));
    assert!(
        message.contains("deeper than the limit")
            && message.contains(&cairn_api::MAX_DEPTH.to_string()),
        "{message}"
    );
    // At the limit is fine.
    client
        .data(&deep_query(cairn_api::MAX_DEPTH - 4), json!({}))
        .await?;

    // Too complex: the messages of a hundred sessions at once (lists count
    // their selection once per item of the page) ...
    let (status, code, message) = client
        .error(
            "{ sessions(first: 100) { nodes { messages { nodes { content } } } } }",
            json!({}),
        )
        .await?;
    assert_eq!((status, code.as_str()), (200, "invalid_request"));
    assert!(message.contains("complexity"), "{message}");
    // ... the same page size, set in a variable ...
    let (_, code, _) = client
        .error(
            "query($n: Int) { sessions(first: $n) { nodes { messages { nodes { content } } } } }",
            json!({"n": 100}),
        )
        .await?;
    assert_eq!(code, "invalid_request");
    // ... and many aliases of one field.
    let aliases: String = (0..cairn_api::MAX_COMPLEXITY / 2 + 1)
        .map(|index| format!("s{index}: stats {{ contexts }} "))
        .collect();
    let (_, code, message) = client.error(&format!("{{ {aliases} }}"), json!({})).await?;
    assert_eq!(code, "invalid_request");
    assert!(message.contains("complexity"), "{message}");
    // A few sessions' messages are fine.
    client
        .data(
            "{ sessions(first: 5) { nodes { messages(first: 20) { nodes { content } } } } }",
            json!({}),
        )
        .await?;

    // A syntax error and an unknown field.
    let (status, code, message) = client.error("{ stats { contexts ", json!({})).await?;
    assert_eq!((status, code.as_str()), (200, "invalid_request"));
    assert!(!message.is_empty());
    let (status, code, message) = client.error("{ stats { nope } }", json!({})).await?;
    assert_eq!((status, code.as_str()), (200, "invalid_request"));
    assert!(message.contains("nope"), "{message}");
    // A variable of the wrong type.
    let (status, code, _) = client
        .error(
            "query($n: Int) { contexts(first: $n) { nodes { key } } }",
            json!({"n": "ten"}),
        )
        .await?;
    assert_eq!((status, code.as_str()), (200, "invalid_request"));

    // A subscription belongs on the WebSocket; over POST it is refused.
    let (status, code, message) = client
        .error("subscription { contextPut { key } }", json!({}))
        .await?;
    assert_eq!(
        (status, code.as_str()),
        (200, "invalid_request"),
        "{message}"
    );

    // Errors of the service keep their catalogue codes.
    let missing = "{ context(key: \"no/such/key\") { key } }";
    let (status, code, _) = client.error(missing, json!({})).await?;
    assert_eq!((status, code.as_str()), (200, "not_found"));
    let (_, answer) = client.request(missing, json!({})).await?;
    assert_eq!(answer["data"]["context"], Value::Null);
    let (_, code, _) = client
        .error("{ context(key: \"\") { key } }", json!({}))
        .await?;
    assert_eq!(code, "invalid_key");
    let (_, code, _) = client
        .error("{ ccr(ref: \"ccr:nothex\") { content } }", json!({}))
        .await?;
    assert_eq!(code, "invalid_ref");
    let (_, code, _) = client
        .error("{ contexts(first: 0) { nodes { key } } }", json!({}))
        .await?;
    assert_eq!(code, "invalid_request");
    // Every page size outside its bounds, negative ones included, is refused
    // with the bounds (not "Failed to parse Int").
    for query in [
        "{ contexts(first: -1) { nodes { key } } }",
        "{ sessions(first: -1) { nodes { id } } }",
        "{ sessions(first: 5000) { nodes { id } } }",
        "{ search(query: \"x\", first: -1) { total } }",
    ] {
        let (_, code, message) = client.error(query, json!({})).await?;
        assert_eq!(code, "invalid_request", "{query}");
        assert!(
            message.contains("first must be between 1 and"),
            "{query}: {message}"
        );
    }
    let (_, code, _) = client
        .error(
            "mutation { delete(key: \"never/put\") { versions } }",
            json!({}),
        )
        .await?;
    assert_eq!(code, "not_found");
    let (_, code, _) = client
        .error(
            "mutation { put(key: \"k\", content: \"c\", metadata: [1]) { version } }",
            json!({}),
        )
        .await?;
    assert_eq!(code, "invalid_request");

    // A body that is no GraphQL request: 400, still with a code.
    let (status, answer) = client.post_raw(b"{not json".to_vec()).await?;
    assert_eq!(status, 400);
    assert_eq!(answer["errors"][0]["extensions"]["code"], "invalid_json");
    // A request without a query is an empty document: a GraphQL error.
    let (status, answer) = client.post_raw(b"{\"variables\": {}}".to_vec()).await?;
    assert_eq!(status, 200);
    assert_eq!(answer["errors"][0]["extensions"]["code"], "invalid_request");

    // GraphiQL on GET.
    let page = reqwest::get(format!("{}/graphql", server.url())).await?;
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await?.contains("graphiql"));
    server.stop().await
}

/// The introspection query GraphiQL sends, in substance: it must pass the
/// depth and complexity limits.
const INTROSPECTION: &str = "query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}";

#[tokio::test]
async fn graphiql_can_introspect_the_schema_within_the_limits() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let data = Graphql::new(&server).data(INTROSPECTION, json!({})).await?;
    let types = data["__schema"]["types"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for name in ["Context", "PutResult", "Session", "Message", "ContextPut"] {
        assert!(
            types.iter().any(|t| t["name"] == name),
            "{name} is in the schema"
        );
    }
    assert_eq!(data["__schema"]["subscriptionType"]["name"], "Subscription");
    server.stop().await
}

const SECRET: &str = "graphql-tests-secret-of-at-least-32-bytes";

fn token(scopes: &str, agent: &str) -> anyhow::Result<String> {
    token_of("acme", scopes, agent)
}

fn token_of(tenant: &str, scopes: &str, agent: &str) -> anyhow::Result<String> {
    let key = cairn_auth::SigningKey::secret(SECRET.as_bytes())?;
    Ok(key.issue(&cairn_auth::TokenRequest {
        sub: agent.to_owned(),
        tenant: tenant.to_owned(),
        scopes: cairn_auth::Scopes::parse_list(scopes)?,
        ttl_seconds: 600,
    })?)
}

#[tokio::test]
async fn with_auth_on_queries_need_a_token_and_subscriptions_authenticate_in_connection_init()
-> anyhow::Result<()> {
    let server = TestServer::start_with(|config| {
        config.auth.jwt_secret = Some(SECRET.to_owned());
    })
    .await?;
    let anonymous = Graphql::new(&server);
    let (status, answer) = anonymous
        .request("{ stats { contexts } }", json!({}))
        .await?;
    assert_eq!(status, 401);
    assert_eq!(answer["error"]["code"], "unauthorized");

    let reader = Graphql::new(&server).with_token(&token("read", "B")?);
    let writer = Graphql::new(&server).with_token(&token("read,write", "A")?);
    reader.data("{ stats { contexts } }", json!({})).await?;
    let (status, code, _) = reader
        .error(PUT, json!({"key": "handoff/x", "content": "x"}))
        .await?;
    assert_eq!((status, code.as_str()), (200, "forbidden"));

    // A subscription without a token in connection_init is refused with
    // 4403, as is one with a bad token ...
    for init in [json!({}), json!({"token": "not-a-token"})] {
        let refused = subscribe(&server, init, WAIT_FOR_A).await;
        let error = refused
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(error.contains("4403"), "refused with 4403: {error}");
    }
    // ... and one with a token works, seeing the writer's put as agent A
    // (the token's subject, whatever the put says).
    let read_token = token("read", "B")?;
    let mut socket = subscribe(
        &server,
        json!({"Authorization": format!("Bearer {read_token}")}),
        WAIT_FOR_A,
    )
    .await?;
    wait_until_subscribed(&mut socket, &writer).await?;
    // Another tenant's agent A puts a matching key first: never delivered.
    Graphql::new(&server)
        .with_token(&token_of("globex", "read,write", "A")?)
        .data(PUT, json!({"key": "handoff/x", "content": "theirs"}))
        .await?;
    writer
        .data(
            PUT,
            json!({"key": "handoff/x", "content": "x", "agent": "someone-else"}),
        )
        .await?;
    let put = next_put(&mut socket).await?;
    assert_eq!(put["key"], "handoff/x", "{put}");
    assert_eq!(put["agent"], "A");
    // The put delivered is acme's: the ref of acme's content, not globex's.
    let ours = writer
        .data(
            "{ context(key: \"handoff/x\", view: FULL) { ref version } }",
            json!({}),
        )
        .await?;
    assert_eq!(put["ref"], ours["context"]["ref"], "{put}");
    socket.close(None).await?;
    server.stop().await
}

#[tokio::test]
async fn put_with_metadata_and_ttl_compress_and_delete_over_graphql() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = Graphql::new(&server);

    // Metadata and a TTL go in with the put and come back with the read.
    let put = client
        .data(
            "mutation($metadata: JSON) {
                put(key: \"notes/meta\", content: \"hello\", session: \"s-1\", ttlSeconds: 3600,
                    metadata: $metadata) { version expiresAt }
            }",
            json!({"metadata": {"tool": "cargo", "exit": 0}}),
        )
        .await?;
    assert!(put["put"]["expiresAt"].is_string(), "{put}");
    let read = client
        .data(
            "{ context(key: \"notes/meta\") { session metadata expiresAt content } }",
            json!({}),
        )
        .await?;
    assert_eq!(read["context"]["session"], "s-1");
    assert_eq!(
        read["context"]["metadata"],
        json!({"tool": "cargo", "exit": 0})
    );
    assert_eq!(read["context"]["expiresAt"], put["put"]["expiresAt"]);

    // Stateless compression keeps what the query asks for; its cuts resolve.
    let compressed = client
        .data(
            "mutation($content: String!) {
                compress(content: $content, query: \"frobnicate_widget\") {
                    content kind ref tokensBefore tokensAfter markers { ref summary }
                }
            }",
            json!({"content": build_log()}),
        )
        .await?;
    let compressed = &compressed["compress"];
    assert!(
        compressed["content"]
            .as_str()
            .is_some_and(|text| text.contains("frobnicate_widget"))
    );
    assert!(compressed["tokensAfter"].as_u64() < compressed["tokensBefore"].as_u64());
    let original = client
        .data(
            "query($ref: String!) { ccr(ref: $ref, query: \"frobnicate_widget\") { total matches { position } } }",
            json!({"ref": compressed["ref"]}),
        )
        .await?;
    assert_eq!(original["ccr"]["matches"][0]["position"], 318);
    let (_, code, _) = client
        .error(
            "mutation { compress(content: \"x\", kind: \"poetry\") { content } }",
            json!({}),
        )
        .await?;
    assert_eq!(code, "invalid_request");

    // Delete removes every version; the key then reads as not found.
    client
        .data(
            "mutation { put(key: \"notes/meta\", content: \"again\") { version } }",
            json!({}),
        )
        .await?;
    let deleted = client
        .data(
            "mutation { delete(key: \"notes/meta\") { key versions } }",
            json!({}),
        )
        .await?;
    assert_eq!(
        deleted["delete"],
        json!({"key": "notes/meta", "versions": 2})
    );
    let (_, code, _) = client
        .error("{ context(key: \"notes/meta\") { key } }", json!({}))
        .await?;
    assert_eq!(code, "not_found");
    server.stop().await
}

/// A subscription ends when its token expires: the socket is closed with
/// 4403 at `exp`, not kept reading with a token that no longer would.
#[tokio::test]
async fn a_subscription_is_closed_when_its_token_expires() -> anyhow::Result<()> {
    let server = TestServer::start_with(|config| {
        config.auth.jwt_secret = Some(SECRET.to_owned());
    })
    .await?;
    let key = cairn_auth::SigningKey::secret(SECRET.as_bytes())?;
    let short = key.issue(&cairn_auth::TokenRequest {
        sub: "A".to_owned(),
        tenant: "acme".to_owned(),
        scopes: cairn_auth::Scopes::parse_list("read")?,
        ttl_seconds: 2,
    })?;
    let mut socket = subscribe(
        &server,
        json!({"Authorization": format!("Bearer {short}")}),
        WAIT_FOR_A,
    )
    .await?;
    let started = Instant::now();
    let closed = loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the socket ended without a close frame"))??;
        if let Message::Close(frame) = message {
            break frame;
        }
    };
    let frame = closed.ok_or_else(|| anyhow::anyhow!("a close frame without a code"))?;
    assert_eq!(u16::from(frame.code), 4403, "{frame:?}");
    assert!(frame.reason.contains("expired"), "{frame:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed at exp, not later"
    );
    server.stop().await
}
