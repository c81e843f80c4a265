//! Every route of the assembled server goes through the layers every route
//! shares (`cairn_api::layered`): the request span answers with
//! `x-request-id`, the in-flight cap sheds a request with 503 and
//! `Retry-After` when it is full, and the deadline answers 503 when a
//! request takes too long. The walk is derived: the REST routes from the
//! server's OpenAPI document, the others (GraphQL, MCP, the proxy, the
//! dashboard, the fallbacks) from [`OTHER_ROUTES`]; the test fails when the
//! document has a route the walk did not visit.
//!
//! Exceptions, by design:
//! - the probes (`/healthz`, `/readyz`) pass the cap and the deadline both
//!   (`limits::is_probe`), so a load balancer always gets its answer; they
//!   are seen answering while the cap is full;
//! - the proxy's model calls (`cairn_proxy::LONG_ROUTES`) pass the deadline
//!   (they are bounded by the proxy's upstream timeout), not the cap; they
//!   are seen outliving the deadline, and shed by the cap.
//!
//! Nothing waits on the clock's luck. The cap: one slot, held by a proxy
//! request that a model provider on loopback has received and does not
//! answer until the test lets it, so every other request meets a full cap.
//! The deadline (1 s): a handler that reads its body gets one that never
//! finishes, a handler that calls the provider gets no answer, so the only
//! answer that can come is the deadline's. A route whose handler neither
//! reads a body nor calls out (a static page, a read from the store) cannot
//! be made to wait from outside; see [`deadline_by_the_layer`] for how its
//! deadline is still covered.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::Uri;
use cairn_tests::TestServer;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::limits::{read_all, stalled};
use crate::security::{method, put};

/// How long anything may take before the test gives up: a bound on a
/// failure, never a wait for success.
const BOUND: Duration = Duration::from_secs(30);

/// What the in-flight cap answers when it sheds a request (`limits.rs`).
const SHED: &str = "the server is handling its limit of 1 requests";

/// What the deadline answers (`limits.rs`), with `request_timeout_seconds = 1`.
const TIMED_OUT: &str = "did not finish within 1 s";

/// The probes, which every limit lets through (`limits::is_probe`).
const PROBES: &[&str] = &["/healthz", "/readyz"];

/// How a request to a route can be kept from finishing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Hold {
    /// The handler reads the body: a body that never finishes holds it.
    Body,
    /// The handler calls the model provider, which does not answer.
    Upstream,
    /// Neither: the handler answers from memory or the store, without a
    /// body, and nothing outside the server can make it wait. Why.
    Cannot(&'static str),
}

const STATIC: Hold = Hold::Cannot("answers from memory without reading a body");
const STORE: Hold = Hold::Cannot("answers from the store without reading a body");

const JSON: (&str, &str) = ("content-type", "application/json");
const ANTHROPIC_KEY: (&str, &str) = ("x-api-key", "sk-ant-test-key");
const OPENAI_KEY: (&str, &str) = ("authorization", "Bearer sk-openai-test-key");
const GEMINI_KEY: (&str, &str) = ("x-goog-api-key", "gemini-test-key");
const MCP_ACCEPT: (&str, &str) = ("accept", "application/json, text/event-stream");

const ANTHROPIC_BODY: &str =
    r#"{"model":"claude-x","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#;
const CHAT_BODY: &str = r#"{"model":"gpt-x","messages":[{"role":"user","content":"hi"}]}"#;
const RESPONSES_BODY: &str = r#"{"model":"gpt-x","input":"hi"}"#;
const GEMINI_BODY: &str = r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;
const MCP_BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"routes","version":"0"}}}"#;

/// One route outside the OpenAPI document: method, route pattern, what is
/// requested, headers, body, and how it can be held.
type Other = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
    Hold,
);

/// Every route the OpenAPI document does not describe: GraphQL, MCP, the
/// dashboard, the proxy (every route of `cairn_proxy::router`), the
/// document itself, and what answers requests no route matches.
const OTHER_ROUTES: &[Other] = &[
    (
        "GET",
        "/v1/openapi.json",
        "/v1/openapi.json",
        &[],
        "",
        STATIC,
    ),
    ("GET", "/v1/contexts/", "/v1/contexts/", &[], "", STATIC),
    ("PUT", "/v1/contexts/", "/v1/contexts/", &[], "x", STATIC),
    ("DELETE", "/v1/contexts/", "/v1/contexts/", &[], "", STATIC),
    ("GET", "/graphql", "/graphql", &[], "", STATIC),
    (
        "POST",
        "/graphql",
        "/graphql",
        &[JSON],
        r#"{"query":"{ __typename }"}"#,
        Hold::Body,
    ),
    (
        "GET",
        "/graphql/assets/{file}",
        "/graphql/assets/graphiql.min.js",
        &[],
        "",
        STATIC,
    ),
    (
        "POST",
        "/mcp",
        "/mcp",
        &[JSON, MCP_ACCEPT],
        MCP_BODY,
        Hold::Body,
    ),
    (
        "GET",
        "/mcp",
        "/mcp",
        &[MCP_ACCEPT],
        "",
        Hold::Cannot("answers a GET naming no session at once, without a body"),
    ),
    (
        "DELETE",
        "/mcp",
        "/mcp",
        &[MCP_ACCEPT],
        "",
        Hold::Cannot("answers a DELETE naming no session at once, without a body"),
    ),
    ("GET", "/ui", "/ui", &[], "", STATIC),
    ("GET", "/ui/", "/ui/", &[], "", STATIC),
    (
        "GET",
        "/ui/assets/{file}",
        "/ui/assets/app.js",
        &[],
        "",
        STATIC,
    ),
    (
        "POST",
        "/v1/messages",
        "/v1/messages",
        &[JSON, ANTHROPIC_KEY],
        ANTHROPIC_BODY,
        Hold::Upstream,
    ),
    (
        "POST",
        "/v1/messages/count_tokens",
        "/v1/messages/count_tokens",
        &[JSON, ANTHROPIC_KEY],
        ANTHROPIC_BODY,
        Hold::Body,
    ),
    (
        "GET",
        "/v1/models",
        "/v1/models",
        &[OPENAI_KEY],
        "",
        Hold::Upstream,
    ),
    (
        "POST",
        "/v1/chat/completions",
        "/v1/chat/completions",
        &[JSON, OPENAI_KEY],
        CHAT_BODY,
        Hold::Upstream,
    ),
    (
        "POST",
        "/v1/responses",
        "/v1/responses",
        &[JSON, OPENAI_KEY],
        RESPONSES_BODY,
        Hold::Upstream,
    ),
    (
        "POST",
        "/v1beta/models/{target}",
        "/v1beta/models/gemini-x:generateContent",
        &[JSON, GEMINI_KEY],
        GEMINI_BODY,
        Hold::Upstream,
    ),
    (
        "GET",
        "/v1beta/models/{target}",
        "/v1beta/models/gemini-x",
        &[GEMINI_KEY],
        "",
        Hold::Upstream,
    ),
    (
        "POST",
        "/v1/models/{target}",
        "/v1/models/gemini-x:generateContent",
        &[JSON, GEMINI_KEY],
        GEMINI_BODY,
        Hold::Upstream,
    ),
    (
        "GET",
        "/v1/models/{target}",
        "/v1/models/gpt-x",
        &[OPENAI_KEY],
        "",
        Hold::Upstream,
    ),
    (
        "GET",
        "/v1beta/models",
        "/v1beta/models",
        &[GEMINI_KEY],
        "",
        Hold::Upstream,
    ),
    (
        "GET",
        "/v1beta/{*rest}",
        "/v1beta/cachedContents",
        &[GEMINI_KEY],
        "",
        Hold::Cannot("answers Gemini's 404 from memory, without a body"),
    ),
    ("GET", "/metrics", "/metrics", &[], "", STATIC),
    (
        "GET",
        "unknown path (fallback)",
        "/v2/nothing",
        &[],
        "",
        STATIC,
    ),
    (
        "POST",
        "wrong method (fallback)",
        "/v1/stats",
        &[],
        "",
        STATIC,
    ),
];

#[derive(Debug, Clone)]
struct Route {
    method: Method,
    /// The route as the router or the OpenAPI document spells it.
    pattern: String,
    /// What is requested: the pattern with its parameters filled in.
    target: String,
    headers: Vec<(&'static str, &'static str)>,
    body: String,
    hold: Hold,
    /// Whether the OpenAPI document describes it.
    documented: bool,
}

impl Route {
    fn name(&self) -> String {
        format!("{} {} ({})", self.method, self.target, self.pattern)
    }

    fn is_probe(&self) -> bool {
        PROBES.contains(&self.pattern.as_str())
    }

    fn is_long(&self) -> bool {
        cairn_proxy::LONG_ROUTES.contains(&self.pattern.as_str())
    }

    /// The request as raw HTTP/1.1 with a body that never finishes: it
    /// declares 64 bytes more than it sends.
    fn unfinished(&self) -> String {
        let headers: String = self
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        format!(
            "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Length: {}\r\n\r\n{}",
            self.method,
            self.target,
            self.body.len() + 64,
            self.body
        )
    }
}

/// What came back: the status, the headers the layers add, the body.
#[derive(Debug)]
struct Answer {
    status: u16,
    request_id: Option<String>,
    retry_after: Option<String>,
    body: String,
}

impl Answer {
    /// Parses what `read_all` read off a raw connection.
    fn raw(text: &str) -> Answer {
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
        let status = head
            .lines()
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|status| status.parse().ok())
            .unwrap_or(0);
        let header = |wanted: &str| {
            head.lines().skip(1).find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case(wanted)
                    .then(|| value.trim().to_owned())
            })
        };
        Answer {
            status,
            request_id: header("x-request-id"),
            retry_after: header("retry-after"),
            body: body.to_owned(),
        }
    }

    /// Check 1: the request span answered with its id.
    fn assert_spanned(&self, route: &Route) {
        assert!(
            self.request_id
                .as_deref()
                .is_some_and(|id| id.parse::<u64>().is_ok()),
            "{}: no x-request-id in {self:?}",
            route.name()
        );
    }
}

/// Sends `route` as a well-formed request and reads the answer (not an
/// event stream's body, which may stay open).
async fn send(http: &reqwest::Client, url: &str, route: &Route) -> anyhow::Result<Answer> {
    let mut request = http.request(route.method.clone(), format!("{url}{}", route.target));
    for (name, value) in &route.headers {
        request = request.header(*name, *value);
    }
    if !route.body.is_empty() {
        request = request.body(route.body.clone());
    }
    let no_answer = || format!("{}: no answer within {BOUND:?}", route.name());
    let response = tokio::time::timeout(BOUND, request.send())
        .await
        .with_context(no_answer)??;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let status = response.status().as_u16();
    let request_id = header("x-request-id");
    let retry_after = header("retry-after");
    let stream = header("content-type").is_some_and(|kind| kind.starts_with("text/event-stream"));
    let body = if stream {
        String::new()
    } else {
        tokio::time::timeout(BOUND, response.text())
            .await
            .with_context(no_answer)??
    };
    Ok(Answer {
        status,
        request_id,
        retry_after,
        body,
    })
}

/// [`send`] in the background, so the test can go on while it waits.
fn spawn_send(
    http: &reqwest::Client,
    url: &str,
    route: &Route,
) -> JoinHandle<anyhow::Result<Answer>> {
    let (http, url, route) = (http.clone(), url.to_owned(), route.clone());
    tokio::spawn(async move { send(&http, &url, &route).await })
}

/// The answer to a request [`spawn_send`] sent.
async fn answer_of(
    route: &Route,
    task: JoinHandle<anyhow::Result<Answer>>,
) -> anyhow::Result<Answer> {
    tokio::time::timeout(BOUND, task)
        .await
        .with_context(|| format!("{}: no answer within {BOUND:?}", route.name()))??
}

/// A model provider on loopback that reports each request it gets and
/// answers none until the test opens it.
struct Provider {
    url: String,
    open: watch::Sender<bool>,
    arrived: mpsc::UnboundedReceiver<String>,
}

#[derive(Clone)]
struct Gate {
    open: watch::Receiver<bool>,
    arrived: mpsc::UnboundedSender<String>,
}

async fn provider_answer(State(gate): State<Gate>, uri: Uri) -> axum::Json<Value> {
    let _ = gate.arrived.send(uri.path().to_owned());
    let mut open = gate.open.clone();
    let _ = open.wait_for(|open| *open).await;
    axum::Json(json!({"object": "list", "data": []}))
}

impl Provider {
    async fn start(open: bool) -> anyhow::Result<Provider> {
        let (sender, receiver) = watch::channel(open);
        let (arrivals, arrived) = mpsc::unbounded_channel();
        let gate = Gate {
            open: receiver,
            arrived: arrivals,
        };
        let app = axum::Router::new()
            .fallback(provider_answer)
            .with_state(gate);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Provider {
            url,
            open: sender,
            arrived,
        })
    }

    fn set_open(&self, open: bool) {
        self.open.send_replace(open);
    }

    /// Waits until the provider has received a request; its path.
    async fn arrival(&mut self) -> anyhow::Result<String> {
        tokio::time::timeout(BOUND, self.arrived.recv())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the provider stopped"))
    }

    /// Forgets the requests received so far.
    fn forget(&mut self) {
        while self.arrived.try_recv().is_ok() {}
    }
}

/// A server whose proxy calls `provider`, after `adjust`.
async fn server(
    provider: &Provider,
    adjust: impl FnOnce(&mut cairn_server::Config),
) -> anyhow::Result<TestServer> {
    let upstream = provider.url.clone();
    TestServer::start_with(move |config| {
        config.proxy.anthropic_upstream = upstream.clone();
        config.proxy.openai_upstream = upstream.clone();
        config.proxy.gemini_upstream = upstream;
        adjust(config);
    })
    .await
}

/// Values for the OpenAPI document's path parameters, by name.
struct Parameters {
    key: String,
    reference: String,
    session: String,
}

/// A key, the `ccr:` ref of its content, and an imported session.
async fn plant(server: &TestServer) -> anyhow::Result<Parameters> {
    let http = reqwest::Client::new();
    let key = "routes/walked".to_owned();
    put(server, &key, "the walk's own context").await?;
    let got = http
        .get(format!("{}/v1/contexts/{key}", server.url()))
        .header("accept", "text/plain")
        .send()
        .await?;
    let reference = got
        .headers()
        .get("x-cairn-ref")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("a read names the content's ref"))?;
    let record = json!({"type": "user", "sessionId": "walked", "uuid": "u1",
        "timestamp": "2026-11-01T10:00:00Z", "cwd": "/work",
        "message": {"role": "user", "content": "a session for the walk"}});
    let imported = http
        .post(format!("{}/v1/sessions/import?agent=claude", server.url()))
        .body(record.to_string())
        .send()
        .await?;
    assert_eq!(
        imported.status().as_u16(),
        200,
        "{}",
        imported.text().await?
    );
    let listed: Value = serde_json::from_slice(
        &http
            .get(format!("{}/v1/sessions", server.url()))
            .send()
            .await?
            .bytes()
            .await?,
    )?;
    let session = listed["sessions"][0]["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the imported session is listed: {listed}"))?
        .to_owned();
    Ok(Parameters {
        key,
        reference,
        session,
    })
}

/// The REST routes of the server's OpenAPI document, parameters filled in,
/// then [`OTHER_ROUTES`].
async fn every_route(server: &TestServer, parameters: &Parameters) -> anyhow::Result<Vec<Route>> {
    let document: Value = serde_json::from_slice(
        &reqwest::get(format!("{}/v1/openapi.json", server.url()))
            .await?
            .bytes()
            .await?,
    )?;
    let paths = document["paths"]
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("the OpenAPI document has paths"))?;
    let mut routes = Vec::new();
    for (pattern, item) in paths {
        let item = item
            .as_object()
            .ok_or_else(|| anyhow::anyhow!("{pattern} is an object"))?;
        for (verb, operation) in item {
            if ![
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&verb.as_str())
            {
                continue;
            }
            let mut target = pattern.clone();
            for (name, value) in [
                ("{key}", &parameters.key),
                ("{reference}", &parameters.reference),
                ("{id}", &parameters.session),
            ] {
                target = target.replace(name, value);
            }
            assert!(
                !target.contains('{'),
                "{verb} {pattern}: a path parameter the walk has no value for"
            );
            let takes_body = operation.get("requestBody").is_some();
            let json = operation["requestBody"]["content"]
                .get("application/json")
                .is_some();
            routes.push(Route {
                method: method(&verb.to_ascii_uppercase()),
                pattern: pattern.clone(),
                target,
                headers: if json { vec![JSON] } else { Vec::new() },
                body: match (takes_body, json) {
                    (false, _) => String::new(),
                    (true, true) => r#"{"content":"walked"}"#.to_owned(),
                    (true, false) => "walked".to_owned(),
                },
                hold: if takes_body {
                    Hold::Body
                } else if PROBES.contains(&pattern.as_str()) {
                    STATIC
                } else {
                    STORE
                },
                documented: true,
            });
        }
    }
    assert!(routes.len() >= 10, "the document lists the REST routes");
    // Deletes last, so the reads before them find the key.
    routes.sort_by_key(|route| route.method == Method::DELETE);
    for (verb, pattern, target, headers, body, hold) in OTHER_ROUTES {
        assert!(
            !paths.contains_key(*pattern),
            "{pattern} is in the OpenAPI document: walk it from there"
        );
        routes.push(Route {
            method: method(verb),
            pattern: (*pattern).to_owned(),
            target: (*target).to_owned(),
            headers: headers.to_vec(),
            body: (*body).to_owned(),
            hold: *hold,
            documented: false,
        });
    }
    for long in cairn_proxy::LONG_ROUTES {
        assert!(
            routes.iter().any(|route| route.pattern == *long),
            "the proxy's long route {long} is not walked"
        );
    }
    Ok(routes)
}

/// The routes of the OpenAPI document, as `METHOD pattern`.
fn documented(routes: &[Route]) -> BTreeSet<String> {
    routes
        .iter()
        .filter(|route| route.documented)
        .map(|route| format!("{} {}", route.method, route.pattern))
        .collect()
}

/// Checks 1 and 2. With one slot free, each route is answered with its
/// request id and neither limit's 503. With the slot held by a proxy
/// request the provider has received and not answered, every route but the
/// probes is shed at once with 503, `Retry-After` and its request id, and
/// the probes still answer.
#[tokio::test]
async fn every_route_has_a_request_id_and_is_shed_when_the_cap_is_full() -> anyhow::Result<()> {
    let mut provider = Provider::start(true).await?;
    let server = server(&provider, |config| {
        config.server.max_concurrent_requests = 1;
    })
    .await?;
    let parameters = plant(&server).await?;
    let routes = every_route(&server, &parameters).await?;
    let http = reqwest::Client::new();
    let url = server.url();

    let mut answered = BTreeSet::new();
    for route in &routes {
        let answer = send(&http, &url, route).await?;
        answer.assert_spanned(route);
        assert!(
            !answer.body.contains(SHED) && !answer.body.contains(TIMED_OUT),
            "{}: a limit answered with the slot free: {answer:?}",
            route.name()
        );
        // The parameters are real: a documented read of them finds them.
        if route.documented && route.method == Method::GET && route.pattern.contains('{') {
            assert_eq!(answer.status, 200, "{}: {answer:?}", route.name());
        }
        answered.insert(format!("{} {}", route.method, route.pattern));
    }

    // Hold the one slot: a proxy request the provider has, unanswered.
    provider.set_open(false);
    provider.forget();
    let holder = Route {
        method: Method::GET,
        pattern: "/v1/models".to_owned(),
        target: "/v1/models".to_owned(),
        headers: vec![OPENAI_KEY],
        body: String::new(),
        hold: Hold::Upstream,
        documented: false,
    };
    let holding = spawn_send(&http, &url, &holder);
    assert_eq!(provider.arrival().await?, "/v1/models");

    let mut shed = BTreeSet::new();
    for route in &routes {
        let answer = send(&http, &url, route).await?;
        answer.assert_spanned(route);
        if route.is_probe() {
            assert_eq!(answer.status, 200, "{}: {answer:?}", route.name());
            continue;
        }
        assert_eq!(answer.status, 503, "{}: not shed: {answer:?}", route.name());
        assert!(answer.body.contains(SHED), "{}: {answer:?}", route.name());
        assert_eq!(
            answer.retry_after.as_deref(),
            Some("1"),
            "{}: {answer:?}",
            route.name()
        );
        shed.insert(format!("{} {}", route.method, route.pattern));
    }

    provider.set_open(true);
    let held = answer_of(&holder, holding).await?;
    held.assert_spanned(&holder);
    assert_eq!(
        held.status, 200,
        "the holder got the provider's answer: {held:?}"
    );

    let every = documented(&routes);
    assert_eq!(
        every.difference(&answered).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "documented routes the free walk missed"
    );
    let probes: BTreeSet<String> = PROBES.iter().map(|probe| format!("GET {probe}")).collect();
    assert_eq!(
        every.difference(&shed).cloned().collect::<BTreeSet<_>>(),
        probes,
        "documented routes the cap did not shed, besides the probes"
    );
    eprintln!(
        "walked {} routes ({} documented)",
        routes.len(),
        every.len()
    );
    server.stop().await
}

/// Check 3 for the routes that cannot be made to wait. The deadline is the
/// same middleware as the cap (`limits::limit`), and the only ways through
/// it without the deadline are a probe's path and a long route's pattern.
/// So a route the cap sheds (proven by the test above, whose shed answer
/// only `limits::limit` writes) runs under the deadline unless it is a
/// probe or a long route: asserted here for each of them, while the test
/// below sees the deadline fire on every route that can be held.
fn deadline_by_the_layer(routes: &[Route]) -> BTreeSet<String> {
    let mut covered = BTreeSet::new();
    for route in routes {
        if route.is_probe() {
            continue;
        }
        if let Hold::Cannot(why) = route.hold {
            assert!(
                !route.is_long(),
                "{}: a long route that {why} cannot show its exemption",
                route.name()
            );
            covered.insert(format!("{} {}", route.method, route.pattern));
        }
    }
    covered
}

/// Check 3, and the long routes' exemption. With a 1 s deadline, the long
/// routes are sent first and held at the provider; once it has them all,
/// every other route that can be held is sent: a body that never finishes,
/// or a provider that does not answer. Each is answered by the deadline
/// (503, with its request id). The long routes, in flight longer than any
/// of those, are not: opened, the provider's answer comes through.
#[tokio::test]
async fn every_route_that_can_wait_is_cut_off_by_the_deadline_but_the_long_ones()
-> anyhow::Result<()> {
    // Open while the parameters are planted and the document read.
    let mut provider = Provider::start(true).await?;
    let server = server(&provider, |config| {
        config.server.request_timeout_seconds = 1;
    })
    .await?;
    let parameters = plant(&server).await?;
    let routes = every_route(&server, &parameters).await?;
    let http = reqwest::Client::new();
    let url = server.url();
    provider.set_open(false);
    provider.forget();

    let mut long = Vec::new();
    for route in routes.iter().filter(|route| route.is_long()) {
        assert_eq!(
            route.hold,
            Hold::Upstream,
            "{}: a long route is held at the provider, to show it outlives the deadline",
            route.name()
        );
        long.push((route, spawn_send(&http, &url, route)));
        provider
            .arrival()
            .await
            .with_context(|| format!("{}: never reached the provider", route.name()))?;
    }

    let mut held_bodies = Vec::new();
    let mut held_upstream = Vec::new();
    for route in routes
        .iter()
        .filter(|route| !route.is_long() && !route.is_probe())
    {
        match route.hold {
            Hold::Body => held_bodies.push((route, stalled(&server, &route.unfinished()).await?)),
            Hold::Upstream => held_upstream.push((route, spawn_send(&http, &url, route))),
            Hold::Cannot(_) => {}
        }
    }
    let mut cut = BTreeSet::new();
    let mut check = |route: &Route, answer: Answer| {
        answer.assert_spanned(route);
        assert_eq!(answer.status, 503, "{}: {answer:?}", route.name());
        assert!(
            answer.body.contains(TIMED_OUT),
            "{}: not the deadline's answer: {answer:?}",
            route.name()
        );
        cut.insert(format!("{} {}", route.method, route.pattern));
    };
    for (route, mut stream) in held_bodies {
        check(route, Answer::raw(&read_all(&mut stream, BOUND).await?));
    }
    for (route, task) in held_upstream {
        check(route, answer_of(route, task).await?);
    }
    assert!(cut.len() >= 8, "the deadline cut {cut:?}");

    provider.set_open(true);
    let outlived = long.len();
    for (route, task) in long {
        let answer = answer_of(route, task).await?;
        answer.assert_spanned(route);
        assert!(
            answer.status != 503 && !answer.body.contains(TIMED_OUT),
            "{}: a long route was cut off by the deadline: {answer:?}",
            route.name()
        );
    }

    let walked: BTreeSet<String> = cut
        .union(&deadline_by_the_layer(&routes))
        .cloned()
        .chain(PROBES.iter().map(|probe| format!("GET {probe}")))
        .collect();
    let every = documented(&routes);
    let missed: Vec<&String> = every.difference(&walked).collect();
    eprintln!(
        "the deadline cut {} routes off; {} long routes outlived it; {} routes covered by the layer",
        cut.len(),
        outlived,
        deadline_by_the_layer(&routes).len()
    );
    assert!(
        missed.is_empty(),
        "documented routes the deadline walk missed: {missed:?}"
    );
    server.stop().await
}
