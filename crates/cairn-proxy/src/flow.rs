//! One request through the proxy: authorize, compress, forward, answer
//! `cairn_retrieve` rounds, shape the answer (or the error) as the
//! provider's, record the conversation as a session.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cairn_auth::{Authenticator, Carrier, Principal, Scope};
use cairn_service::{Cairn, CompressInput, ProxiedSession, Selection};
use cairn_types::TenantId;
use futures::StreamExt as _;
use serde_json::Value;

use crate::provider::Provider;
use crate::sse::{Event, Parser};
use crate::wire::Call;
use crate::{ProxyState, TOKEN_HEADER};

/// Views of blocks already compressed: (tenant, hash of block and query) →
/// the text sent upstream (`None`: sent as it is) and the tokens it saved.
pub(crate) type ViewCache = quick_cache::sync::Cache<(TenantId, [u8; 32]), (Option<String>, u64)>;

/// Longest original a `cairn_retrieve` answer carries, in bytes.
const MAX_RETRIEVED_BYTES: usize = 1024 * 1024;

/// A request that failed: the status and message the client gets, or the
/// upstream's own error body (already in the provider's shape).
#[derive(Debug)]
pub(crate) struct Failure {
    status: u16,
    message: String,
    upstream_body: Option<Bytes>,
}

impl Failure {
    fn new(status: u16, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
            upstream_body: None,
        }
    }
}

/// How the client wants the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Json,
    Sse,
    /// Gemini `streamGenerateContent` without `alt=sse`: a JSON array of chunks.
    JsonArray,
}

pub(crate) async fn handle(
    state: ProxyState,
    provider: Provider,
    gemini_action: Option<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let principal = match authorize(&state.auth, &headers) {
        Ok(principal) => principal,
        Err(failure) => return failure_response(provider, failure),
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return error_response(
                provider,
                rejection.status().as_u16(),
                &rejection.body_text(),
            );
        }
    };
    let mut request: Value = match serde_json::from_slice(&body) {
        Ok(value @ Value::Object(_)) => value,
        Ok(_) => return error_response(provider, 400, "the request body must be a JSON object"),
        Err(error) => {
            return error_response(
                provider,
                400,
                &format!("the request body is not JSON: {error}"),
            );
        }
    };
    let query = uri.query().unwrap_or("");
    let mode = match gemini_action.as_deref() {
        Some("streamGenerateContent") if query.split('&').any(|pair| pair == "alt=sse") => {
            Mode::Sse
        }
        Some("streamGenerateContent") => Mode::JsonArray,
        Some(_) => Mode::Json,
        None if request.get("stream").and_then(Value::as_bool) == Some(true) => Mode::Sse,
        None => Mode::Json,
    };
    let original = request.clone();
    let tenant = principal.tenant.clone();
    let Compressed {
        tokens_original,
        saved,
        refs,
    } = compress_request(&state, &tenant, provider, &mut request, &body).await;
    let blocks = refs.len() as u64;
    // `cairn_retrieve` is offered on every request that declares tools (an
    // agent's every request), not only on those that carry a marker: the
    // tool list is the first block a provider caches, so it must not change
    // in the middle of a conversation. It is answered here (and a stream read
    // whole per round) only when this request carries markers: without one
    // the model has nothing to retrieve, and the stream is relayed live.
    let offered = !provider.wire().has_retrieve_tool(&original)
        && (blocks > 0 || provider.wire().declares_tools(&original));
    if offered {
        provider.wire().add_retrieve_tool(&mut request);
    }
    let retrieve = offered && blocks > 0;
    // A `proxy` token without `read` expands the markers of its own
    // conversation, not any original of its tenant a model is told to name.
    let readable = principal.require(Scope::Read).is_err().then_some(refs);
    let tokens_sent = tokens_original.saturating_sub(saved);
    let counters = &state.counters;
    counters.requests.fetch_add(1, Ordering::Relaxed);
    counters
        .tokens_original
        .fetch_add(tokens_original, Ordering::Relaxed);
    counters
        .tokens_sent
        .fetch_add(tokens_sent, Ordering::Relaxed);
    counters
        .blocks_compressed
        .fetch_add(blocks, Ordering::Relaxed);
    state
        .cairn
        .record_proxy_traffic(&tenant, provider.family(), tokens_original, tokens_sent);
    tracing::info!(
        provider = provider.family(),
        tokens_original,
        tokens_sent,
        blocks,
        "proxying"
    );

    let mut url = format!(
        "{}{}",
        state.config.upstream(provider).trim_end_matches('/'),
        uri.path()
    );
    if !query.is_empty() || mode == Mode::JsonArray {
        url.push('?');
        url.push_str(query);
        if mode == Mode::JsonArray {
            url.push_str(if query.is_empty() {
                "alt=sse"
            } else {
                "&alt=sse"
            });
        }
    }
    let forward = forward_headers(provider, &headers);
    let project = crate::briefing::project_of(&headers, &original);
    let mut session = session_of(provider, &headers, &original);
    if let Some(session) = &mut session {
        session.project.clone_from(&project);
        // Side requests (no session) are never briefed.
        let agent = matches!(session.agent.as_str(), "claude" | "codex" | "gemini")
            .then_some(session.agent.as_str());
        let conversation = crate::briefing::Conversation {
            agent,
            id: session.id.as_deref(),
            project: project.as_deref(),
        };
        crate::briefing::brief(
            &state,
            &tenant,
            provider,
            conversation,
            &original,
            &mut request,
        )
        .await;
    }
    // A token that may not write records into sessions of its own only.
    if principal.require(Scope::Write).is_err()
        && let Some(session) = &mut session
    {
        session.owner = Some(principal.agent.clone().unwrap_or_default());
    }
    let exchange = Exchange {
        state: state.clone(),
        provider,
        tenant,
        url,
        headers: forward,
        original,
        body,
        session,
        retrieve,
        readable,
        tokens: (tokens_original, tokens_sent),
    };
    match exchange.run(request, mode).await {
        Ok(response) => response,
        Err(failure) => {
            state
                .counters
                .upstream_errors
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(provider = provider.family(), status = failure.status, message = %failure.message, "upstream failed");
            failure_response(provider, failure)
        }
    }
}

/// A request the proxy forwards untouched (`GET /v1/models`,
/// `POST /v1/messages/count_tokens`): authorized like the others, nothing
/// compressed or recorded, the upstream's answer passed back.
pub(crate) async fn passthrough(
    state: ProxyState,
    provider: Provider,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(failure) = authorize(&state.auth, &headers) {
        return failure_response(provider, failure);
    }
    let mut url = format!(
        "{}{}",
        state.config.upstream(provider).trim_end_matches('/'),
        uri.path()
    );
    if let Some(query) = uri.query() {
        url.push('?');
        url.push_str(query);
    }
    let mut forward = forward_headers(provider, &headers);
    if body.is_empty() {
        forward.remove(header::CONTENT_TYPE);
    }
    let timeout = state.config.upstream_timeout;
    let request = state
        .client
        .request(method, &url)
        .headers(forward)
        .body(body);
    let family = provider.family();
    let result = tokio::time::timeout(timeout, async move {
        let response = request.send().await?;
        let status = response.status();
        let mut headers = response.headers().clone();
        let body = response.bytes().await?;
        Ok::<_, reqwest::Error>((
            status,
            headers
                .drain()
                .filter_map(|(name, value)| Some((name?, value)))
                .collect::<Vec<_>>(),
            body,
        ))
    })
    .await;
    match result {
        Err(_) => error_response(
            provider,
            504,
            &format!(
                "the {family} upstream did not answer within {} s",
                timeout.as_secs_f64()
            ),
        ),
        Ok(Err(error)) => error_response(
            provider,
            502,
            &format!("cannot reach the {family} upstream: {}", describe(error)),
        ),
        Ok(Ok((status, upstream_headers, body))) => {
            let mut headers = HeaderMap::new();
            for (name, value) in upstream_headers {
                headers.append(name, value);
            }
            strip_framing(&mut headers);
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            response
        }
    }
}

/// With auth on, a Cairn token with the `proxy` scope in [`TOKEN_HEADER`];
/// the `Authorization` header is the provider's, never read here.
fn authorize(auth: &Authenticator, headers: &HeaderMap) -> Result<Principal, Failure> {
    let refused = |error: cairn_auth::AuthError| {
        Failure::new(error.code().http_status(), format!("cairn: {error}"))
    };
    let principal = auth
        .principal_from_header(
            headers.get(TOKEN_HEADER).map(|value| value.as_bytes()),
            Carrier::Own(TOKEN_HEADER),
        )
        .map_err(refused)?
        .ok_or_else(|| {
            Failure::new(
                401,
                format!(
                    "this Cairn proxy needs a Cairn token with the proxy scope in the \
                     {TOKEN_HEADER} header (the provider's key stays in its own header)"
                ),
            )
        })?;
    principal.require(Scope::Proxy).map_err(refused)?;
    Ok(principal)
}

/// What compressing a request did.
struct Compressed {
    /// The request's tokens as the client sent it.
    tokens_original: u64,
    /// The tokens compression saved.
    saved: u64,
    /// The `ccr:` refs of the blocks compressed (every marker in a block's
    /// view points into that block's original).
    refs: std::collections::HashSet<String>,
}

/// Compresses the request's slots in place.
async fn compress_request(
    state: &ProxyState,
    tenant: &TenantId,
    provider: Provider,
    request: &mut Value,
    body: &Bytes,
) -> Compressed {
    let slots = provider.wire().slots(request);
    let body = body.clone();
    let counted = cairn_service::spawn_cpu(move || {
        cairn_core::tokens::count(&String::from_utf8_lossy(&body))
    });
    let mut saved = 0u64;
    let mut refs = std::collections::HashSet::new();
    for slot in slots {
        let Some(Value::String(text)) = request.pointer(&slot.pointer) else {
            continue;
        };
        let key = {
            let mut hasher = blake3::Hasher::new();
            hasher.update(text.as_bytes());
            hasher.update(&[0]);
            hasher.update(slot.query.as_deref().unwrap_or("").as_bytes());
            (tenant.clone(), *hasher.finalize().as_bytes())
        };
        let (view, block_saved) = match state.views.get(&key) {
            Some(hit) => hit,
            None => {
                let compressed = compress_block(&state.cairn, tenant, text, slot.query).await;
                state.views.insert(key, compressed.clone());
                compressed
            }
        };
        if let Some(view) = view {
            refs.insert(
                cairn_core::ContentHash::of(text.as_bytes())
                    .ccr_ref()
                    .to_string(),
            );
            if let Some(target) = request.pointer_mut(&slot.pointer) {
                *target = Value::String(view);
                saved += block_saved;
            }
        }
    }
    Compressed {
        tokens_original: counted.await.unwrap_or(0),
        saved,
        refs,
    }
}

/// One block's view: `None` when it goes as it is. A block the store cannot
/// keep goes as it is (nothing is cut that cannot be retrieved).
async fn compress_block(
    cairn: &Cairn,
    tenant: &TenantId,
    text: &str,
    query: Option<String>,
) -> (Option<String>, u64) {
    let input = CompressInput {
        content: Bytes::copy_from_slice(text.as_bytes()),
        query,
        ..CompressInput::default()
    };
    match cairn.compress(tenant, input).await {
        Ok(output) if !output.markers.is_empty() && output.tokens_after < output.tokens_before => (
            Some(output.content),
            output.tokens_before - output.tokens_after,
        ),
        Ok(_) => (None, 0),
        Err(error) => {
            tracing::warn!(%error, "a block could not be compressed; sent as it is");
            (None, 0)
        }
    }
}

/// Headers that go upstream: those of the client's that the provider's API
/// reads (its credentials, versions and betas, the agents' session and
/// client headers), and no other: a key for one provider never reaches
/// another's upstream, and neither do cookies, our token or hop-by-hop
/// headers.
fn forward_headers(provider: Provider, headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        if forwarded(provider, name.as_str()) {
            out.append(name.clone(), value.clone());
        }
    }
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    out
}

/// Whether a (lowercase) header name goes to `provider`'s upstream.
fn forwarded(provider: Provider, name: &str) -> bool {
    const EVERY: &[&str] = &["accept", "accept-language", "user-agent", "authorization"];
    // The official SDKs' client description (`x-stainless-os`, …).
    const EVERY_PREFIX: &[&str] = &["x-stainless-"];
    let (exact, prefixes): (&[&str], &[&str]) = match provider {
        Provider::Anthropic => (
            &["x-api-key", "x-app", "x-claude-code-session-id"],
            &["anthropic-"],
        ),
        Provider::OpenAiChat | Provider::OpenAiResponses => (
            &[
                "session-id",
                "session_id",
                "thread-id",
                "originator",
                "version",
                "x-client-request-id",
                "chatgpt-account-id",
            ],
            &["openai-", "x-openai-", "x-codex-"],
        ),
        Provider::Gemini => (
            &["x-gemini-api-privileged-user-id", "x-server-timeout"],
            &["x-goog-"],
        ),
    };
    EVERY.contains(&name)
        || exact.contains(&name)
        || EVERY_PREFIX
            .iter()
            .chain(prefixes)
            .any(|prefix| name.starts_with(prefix))
}

/// The session a request belongs to: the agent's own id when it sends one
/// (Claude Code's `x-claude-code-session-id`, Codex's `session-id`); else
/// the service finds it from the conversation. `None` for an agent's side
/// requests (a title, a routing or next-speaker check: they ask for JSON,
/// or declare no tools), which are not conversations of their own.
fn session_of(provider: Provider, headers: &HeaderMap, request: &Value) -> Option<ProxiedSession> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty() && value.len() <= 200)
            .map(str::to_owned)
    };
    let user_agent = header("user-agent")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (agent, id) = match provider {
        Provider::Anthropic => match header("x-claude-code-session-id") {
            Some(id) => ("claude", Some(id)),
            None if user_agent.contains("claude") => ("claude", None),
            None => ("anthropic", None),
        },
        Provider::OpenAiResponses => match header("session_id").or_else(|| header("session-id")) {
            Some(id) => ("codex", Some(id)),
            None if user_agent.contains("codex") || header("originator").is_some() => {
                ("codex", None)
            }
            None => ("openai", None),
        },
        Provider::OpenAiChat => ("openai", None),
        Provider::Gemini => ("gemini", None),
    };
    let known_agent = matches!(agent, "claude" | "codex")
        || (agent == "gemini" && user_agent.contains("geminicli"));
    if known_agent && (!provider.wire().declares_tools(request) || wants_json(request)) {
        return None;
    }
    Some(ProxiedSession {
        id,
        agent: agent.to_owned(),
        project: None,
        messages: Vec::new(),
        owner: None,
    })
}

/// Whether a request asks for a JSON answer (Gemini CLI's routing and
/// next-speaker checks, Claude Code's session title): an agent's side
/// request, even when it carries the conversation and its tools.
fn wants_json(request: &Value) -> bool {
    let config = &request["generationConfig"];
    config["responseMimeType"] == "application/json"
        || config.get("responseJsonSchema").is_some()
        || config.get("responseSchema").is_some()
        || request.pointer("/output_config/format/type") == Some(&Value::from("json_schema"))
        || request.pointer("/text/format/type") == Some(&Value::from("json_schema"))
        || matches!(
            request
                .pointer("/response_format/type")
                .and_then(Value::as_str),
            Some("json_schema" | "json_object")
        )
}

/// A request on its way upstream and back.
struct Exchange {
    state: ProxyState,
    provider: Provider,
    tenant: TenantId,
    url: String,
    headers: HeaderMap,
    /// The request as the client sent it (what the session records), and
    /// its bytes: what the proxy does not change goes upstream as they were.
    original: Value,
    body: Bytes,
    /// `None`: not recorded (an agent's side request).
    session: Option<ProxiedSession>,
    /// Whether this request carries markers and `cairn_retrieve` (offered
    /// by the proxy) is answered here.
    retrieve: bool,
    /// The refs `cairn_retrieve` may read for a token without the `read`
    /// scope: those of the markers in this request (`None`: any of the
    /// tenant's, the token may read them anyway).
    readable: Option<std::collections::HashSet<String>>,
    tokens: (u64, u64),
}

impl Exchange {
    async fn run(self, mut request: Value, mode: Mode) -> Result<Response, Failure> {
        let max_rounds = self.state.config.max_retrieve_rounds;
        let mut rounds = 0;
        // Past the last round the model is told so and asked once more,
        // without tool calls.
        let mut refused = false;
        // What the rounds before the last cost: the client is told the sum.
        let mut earlier_usage = Value::Null;
        loop {
            let body = crate::splice::render(&self.body, &self.original, &request);
            let upstream = self.send(body).await?;
            let mut upstream_headers = upstream.headers().clone();
            if mode == Mode::Sse && !self.retrieve {
                return Ok(self.live(upstream, upstream_headers));
            }
            let (mut response, mut events) = match mode {
                Mode::Json => {
                    let bytes = self.read_all(upstream).await?;
                    let response: Value = serde_json::from_slice(&bytes).map_err(|_| {
                        Failure::new(
                            502,
                            format!(
                                "the {} upstream answered with a body that is not JSON",
                                self.family()
                            ),
                        )
                    })?;
                    (response, Vec::new())
                }
                Mode::Sse | Mode::JsonArray => {
                    let events = self.read_events(upstream).await?;
                    let response = self.provider.wire().aggregate(&events).map_err(|message| {
                        Failure::new(
                            502,
                            format!("the {} upstream stream broke: {message}", self.family()),
                        )
                    })?;
                    (response, events)
                }
            };
            let calls = self.provider.wire().calls(&response);
            let ours: Vec<Call> = calls
                .iter()
                .filter(|call| call.is_ours())
                .cloned()
                .collect();
            let only_ours = self.retrieve && !ours.is_empty() && ours.len() == calls.len();
            if only_ours && !refused {
                let mut results = Vec::with_capacity(ours.len());
                if rounds < max_rounds {
                    for call in ours {
                        let text = match &self.readable {
                            Some(refs) if !call_ref(&call).is_some_and(|r| refs.contains(r)) => {
                                "cairn_retrieve: this conversation's markers name other \
                                 references; this token may read only those (it lacks the \
                                 read scope)"
                                    .to_owned()
                            }
                            _ => answer(&self.state.cairn, &self.tenant, &call).await,
                        };
                        self.state
                            .counters
                            .retrieve_calls
                            .fetch_add(1, Ordering::Relaxed);
                        results.push((call, text));
                    }
                    rounds += 1;
                } else {
                    let note = crate::wire::limit_note(max_rounds);
                    results.extend(ours.into_iter().map(|call| (call, note.clone())));
                    self.provider.wire().refuse_tools(&mut request);
                    refused = true;
                }
                if let Some(usage) = crate::wire::usage_of(&response) {
                    crate::wire::add_usage(&mut earlier_usage, usage);
                }
                self.provider
                    .wire()
                    .continue_with(&mut request, &response, &results);
                continue;
            }
            // Calls of ours beside the client's own: the client gets its
            // own (it holds their results); ours are dropped, the model can
            // call again on the next turn. A model that still calls only
            // ours after the limit gets its turn ended here, with a note.
            if self.retrieve {
                self.provider.wire().strip_ours(&mut response);
                events = self.provider.wire().filter_ours(events);
            }
            if only_ours {
                self.provider
                    .wire()
                    .end_turn(&mut response, &crate::wire::limit_note(max_rounds));
                events = self.provider.wire().events_of(&response);
            }
            if !earlier_usage.is_null() {
                crate::wire::patch_usage(&mut response, &earlier_usage);
                events = events
                    .into_iter()
                    .map(|event| match event.json() {
                        Ok(Some(mut data)) if crate::wire::usage_of(&data).is_some() => {
                            crate::wire::patch_event_usage(&mut data, &earlier_usage);
                            Event::new(event.name.as_deref(), data.to_string())
                        }
                        _ => event,
                    })
                    .collect();
            }
            self.record(Some(&response));
            strip_framing(&mut upstream_headers);
            let body = match mode {
                Mode::Json => Body::from(response.to_string()),
                Mode::Sse => {
                    let bytes: Vec<u8> = events.iter().flat_map(Event::to_bytes).collect();
                    upstream_headers.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/event-stream"),
                    );
                    Body::from(bytes)
                }
                Mode::JsonArray => {
                    let chunks: Vec<Value> = events
                        .iter()
                        .filter_map(|event| event.json().ok().flatten())
                        .collect();
                    upstream_headers.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    Body::from(Value::Array(chunks).to_string())
                }
            };
            if mode == Mode::Json {
                upstream_headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
            return Ok(self.respond(upstream_headers, body));
        }
    }

    fn family(&self) -> &'static str {
        self.provider.family()
    }

    fn timeout(&self) -> Duration {
        self.state.config.upstream_timeout
    }

    async fn send(&self, body: Vec<u8>) -> Result<reqwest::Response, Failure> {
        let request = self
            .state
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .body(body);
        let response = match tokio::time::timeout(self.timeout(), request.send()).await {
            Err(_) => {
                return Err(Failure::new(
                    504,
                    format!(
                        "the {} upstream did not answer within {} s",
                        self.family(),
                        self.timeout().as_secs_f64()
                    ),
                ));
            }
            Ok(Err(error)) => {
                return Err(Failure::new(
                    502,
                    format!(
                        "cannot reach the {} upstream: {}",
                        self.family(),
                        describe(error)
                    ),
                ));
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = tokio::time::timeout(self.timeout(), response.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let shaped = serde_json::from_slice::<Value>(&body)
            .ok()
            .is_some_and(|value| value.get("error").is_some());
        let snippet: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        Err(Failure {
            status: status.as_u16(),
            message: format!(
                "the {} upstream answered {status}{}{}",
                self.family(),
                if snippet.trim().is_empty() { "" } else { ": " },
                snippet.trim()
            ),
            upstream_body: shaped.then_some(body),
        })
    }

    async fn read_all(&self, response: reqwest::Response) -> Result<Bytes, Failure> {
        match tokio::time::timeout(self.timeout(), response.bytes()).await {
            Err(_) => Err(Failure::new(
                504,
                format!(
                    "the {} upstream did not finish its answer within {} s",
                    self.family(),
                    self.timeout().as_secs_f64()
                ),
            )),
            Ok(Err(error)) => Err(Failure::new(
                502,
                format!(
                    "the {} upstream answer broke off: {}",
                    self.family(),
                    describe(error)
                ),
            )),
            Ok(Ok(bytes)) => Ok(bytes),
        }
    }

    /// A whole upstream stream, checked event by event.
    async fn read_events(&self, response: reqwest::Response) -> Result<Vec<Event>, Failure> {
        let mut stream = response.bytes_stream();
        let mut parser = Parser::default();
        let mut events = Vec::new();
        loop {
            match tokio::time::timeout(self.timeout(), stream.next()).await {
                Err(_) => {
                    return Err(Failure::new(
                        504,
                        format!(
                            "the {} upstream stream stalled for {} s",
                            self.family(),
                            self.timeout().as_secs_f64()
                        ),
                    ));
                }
                Ok(None) => break,
                Ok(Some(Err(error))) => {
                    return Err(Failure::new(
                        502,
                        format!(
                            "the {} upstream stream broke off: {}",
                            self.family(),
                            describe(error)
                        ),
                    ));
                }
                Ok(Some(Ok(chunk))) => {
                    let new = parser
                        .feed(&chunk)
                        .map_err(|message| self.garbled(&message))?;
                    check_events(&new).map_err(|message| self.garbled(&message))?;
                    events.extend(new);
                }
            }
        }
        if let Some(last) = parser.finish().map_err(|message| self.garbled(&message))? {
            check_events(std::slice::from_ref(&last)).map_err(|message| self.garbled(&message))?;
            events.push(last);
        }
        Ok(events)
    }

    fn garbled(&self, message: &str) -> Failure {
        Failure::new(
            502,
            format!(
                "the {} upstream sent a garbled stream: {message}",
                self.family()
            ),
        )
    }

    /// A stream passed to the client as it arrives, each event checked; a
    /// broken or garbled stream ends with the provider's error event and
    /// records nothing.
    fn live(self, upstream: reqwest::Response, mut headers: HeaderMap) -> Response {
        strip_framing(&mut headers);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(64);
        let response = self.respond(
            headers,
            Body::from_stream(futures::stream::unfold(
                receiver,
                |mut receiver| async move {
                    receiver
                        .recv()
                        .await
                        .map(|bytes| (Ok::<_, std::io::Error>(bytes), receiver))
                },
            )),
        );
        tokio::spawn(async move {
            let mut stream = upstream.bytes_stream();
            let mut parser = Parser::default();
            let mut events = Vec::new();
            let failure = loop {
                let chunk = match tokio::time::timeout(self.timeout(), stream.next()).await {
                    Err(_) => {
                        break Some(format!(
                            "the {} upstream stream stalled for {} s",
                            self.family(),
                            self.timeout().as_secs_f64()
                        ));
                    }
                    Ok(None) => match parser.finish() {
                        Ok(Some(last)) => match check_events(std::slice::from_ref(&last)) {
                            Ok(()) => {
                                let _ = sender.send(Bytes::from(last.to_bytes())).await;
                                events.push(last);
                                break None;
                            }
                            Err(message) => break Some(self.garbled(&message).message),
                        },
                        Ok(None) => break None,
                        Err(message) => break Some(self.garbled(&message).message),
                    },
                    Ok(Some(Err(error))) => {
                        break Some(format!(
                            "the {} upstream stream broke off: {}",
                            self.family(),
                            describe(error)
                        ));
                    }
                    Ok(Some(Ok(chunk))) => chunk,
                };
                let new = match parser
                    .feed(&chunk)
                    .and_then(|new| check_events(&new).map(|()| new))
                {
                    Ok(new) => new,
                    Err(message) => break Some(self.garbled(&message).message),
                };
                for event in new {
                    if sender.send(Bytes::from(event.to_bytes())).await.is_err() {
                        // The client left; nothing to record.
                        return;
                    }
                    events.push(event);
                }
            };
            let failure = failure.or_else(|| {
                self.provider
                    .wire()
                    .aggregate(&events)
                    .map(|response| self.record(Some(&response)))
                    .map_err(|message| {
                        format!("the {} upstream stream broke: {message}", self.family())
                    })
                    .err()
            });
            if let Some(message) = failure {
                self.state
                    .counters
                    .upstream_errors
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(provider = self.family(), %message, "upstream stream failed");
                let _ = sender
                    .send(Bytes::from(
                        self.provider.wire().error_event(&message).to_bytes(),
                    ))
                    .await;
            }
        });
        response
    }

    fn respond(&self, mut headers: HeaderMap, body: Body) -> Response {
        let (original, sent) = self.tokens;
        headers.insert(
            HeaderName::from_static("x-cairn-tokens-original"),
            HeaderValue::from(original),
        );
        headers.insert(
            HeaderName::from_static("x-cairn-tokens-sent"),
            HeaderValue::from(sent),
        );
        let mut response = Response::new(body);
        *response.headers_mut() = headers;
        response
    }

    /// Records the conversation and the answer, in the background.
    fn record(&self, response: Option<&Value>) {
        let Some(mut session) = self.session.clone() else {
            return;
        };
        session.messages = self
            .provider
            .wire()
            .session_messages(&self.original, response);
        let cairn = self.state.cairn.clone();
        let tenant = self.tenant.clone();
        tokio::spawn(async move {
            if let Err(error) = cairn.record_proxied_session(&tenant, session).await {
                tracing::warn!(%error, "cannot record a proxied session");
            }
        });
    }
}

/// Every event's data must be JSON (or `[DONE]`).
fn check_events(events: &[Event]) -> Result<(), String> {
    events.iter().try_for_each(|event| event.json().map(|_| ()))
}

/// The upstream's headers less those that described its body's framing.
fn strip_framing(headers: &mut HeaderMap) {
    for name in [
        header::CONTENT_LENGTH,
        header::CONTENT_ENCODING,
        header::TRANSFER_ENCODING,
        header::CONNECTION,
        header::CONTENT_TYPE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}

/// A reqwest error without its URL (a Gemini URL may carry `?key=`).
fn describe(error: reqwest::Error) -> String {
    let timeout = error.is_timeout();
    let connect = error.is_connect();
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    if timeout {
        text.push_str(" (timed out)");
    } else if connect {
        text.push_str(" (connection failed)");
    }
    text
}

/// The `ref` a `cairn_retrieve` call names.
fn call_ref(call: &Call) -> Option<&str> {
    call.arguments.get("ref").and_then(Value::as_str)
}

/// The answer to one `cairn_retrieve` call, from the store.
async fn answer(cairn: &Cairn, tenant: &TenantId, call: &Call) -> String {
    let argument = |name: &str| {
        call.arguments
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .filter(|value| !value.is_empty())
    };
    let Some(reference) = argument("ref") else {
        return "cairn_retrieve needs `ref`: the ccr: reference from a marker".to_owned();
    };
    let selection = match Selection::from_request(argument("lines"), argument("query")) {
        Ok(selection) => selection,
        Err(error) => return format!("cairn_retrieve: {}", error.client_message()),
    };
    match cairn.retrieve_selected(tenant, &reference, selection).await {
        Ok((_, Some(part))) => part.content,
        Ok((retrieved, None)) => {
            let text = String::from_utf8_lossy(&retrieved.content);
            if text.len() <= MAX_RETRIEVED_BYTES {
                return text.into_owned();
            }
            let mut end = MAX_RETRIEVED_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            format!(
                "{}\n[cairn: the original is {} bytes; this is its first {end}. Ask for `lines` to read on — {reference}]",
                &text[..end],
                text.len()
            )
        }
        Err(error) => format!("cairn_retrieve: {}", error.client_message()),
    }
}

pub(crate) fn error_response(provider: Provider, status: u16, message: &str) -> Response {
    failure_response(provider, Failure::new(status, message))
}

fn failure_response(provider: Provider, failure: Failure) -> Response {
    let status = StatusCode::from_u16(failure.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let body = match failure.upstream_body {
        Some(body) => body,
        None => Bytes::from(
            provider
                .wire()
                .error_body(status.as_u16(), &failure.message)
                .to_string(),
        ),
    };
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}
