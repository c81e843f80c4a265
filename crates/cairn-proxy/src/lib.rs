//! `cairn-proxy`: the LLM proxy. Anthropic Messages, OpenAI Chat
//! Completions, OpenAI Responses and Gemini `generateContent` requests are
//! compressed (tool results and pastes, through the service's compression
//! engine, originals kept in the shared store), forwarded to the configured
//! upstream with the client's own credentials, and answered in the
//! provider's shape. When the model calls `cairn_retrieve`, the proxy answers
//! from the store and continues the upstream call, so the client sees one
//! ordinary response.
//!
//! Cache safety (SPEC invariant 3): a block is compressed for the user turn
//! before it, never a later one, and its view depends only on its bytes and
//! that question; system prompts and tool definitions are never rewritten,
//! and the `cairn_retrieve` definition is appended byte-identically to every
//! request that carries markers. So a conversation resent with one more turn
//! sends the same bytes upstream for everything before it.
//!
//! API boundary: depends on `cairn-service` (the verbs), `cairn-auth` and
//! `cairn-types`; never on a store backend or the REST API. Reads no
//! configuration: the server hands it a [`ProxyConfig`].

mod anthropic;
mod briefing;
pub use briefing::PROJECT_HEADER;
mod flow;
mod gemini;
mod openai_chat;
mod openai_responses;
mod provider;
mod splice;
pub mod sse;
mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use bytes::Bytes;
use cairn_auth::Authenticator;
use cairn_service::Cairn;

pub use provider::Provider;
pub use wire::RETRIEVE_TOOL;

/// The header a Cairn token comes in when auth is on (the provider's own
/// credentials keep `Authorization`, `x-api-key` and `x-goog-api-key`).
pub const TOKEN_HEADER: &str = "x-cairn-token";

/// The public endpoints, without a version path.
pub const ANTHROPIC_UPSTREAM: &str = "https://api.anthropic.com";
pub const OPENAI_UPSTREAM: &str = "https://api.openai.com";
pub const GEMINI_UPSTREAM: &str = "https://generativelanguage.googleapis.com";

/// What the server configures.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Base URLs without the version path: a request to `/v1/messages` goes
    /// to `{anthropic_upstream}/v1/messages`.
    pub anthropic_upstream: String,
    pub openai_upstream: String,
    pub gemini_upstream: String,
    /// How long the upstream may take to answer, and to send the next chunk
    /// of a stream.
    pub upstream_timeout: Duration,
    /// Most `cairn_retrieve` rounds answered for one request.
    pub max_retrieve_rounds: u32,
    pub body_limit: usize,
    /// The budget of the briefing a new conversation's first user turn
    /// starts with; `None`: no briefing (`proxy.briefing = "off"`).
    pub briefing_tokens: Option<u32>,
}

impl Default for ProxyConfig {
    fn default() -> ProxyConfig {
        ProxyConfig {
            anthropic_upstream: ANTHROPIC_UPSTREAM.to_owned(),
            openai_upstream: OPENAI_UPSTREAM.to_owned(),
            gemini_upstream: GEMINI_UPSTREAM.to_owned(),
            upstream_timeout: Duration::from_secs(600),
            max_retrieve_rounds: 4,
            body_limit: 64 * 1024 * 1024,
            briefing_tokens: None,
        }
    }
}

impl ProxyConfig {
    fn upstream(&self, provider: Provider) -> &str {
        match provider {
            Provider::Anthropic => &self.anthropic_upstream,
            Provider::OpenAiChat | Provider::OpenAiResponses => &self.openai_upstream,
            Provider::Gemini => &self.gemini_upstream,
        }
    }
}

/// Proxy totals since the server started (`/metrics`).
#[derive(Debug, Default)]
pub struct ProxyCounters {
    pub requests: AtomicU64,
    pub tokens_original: AtomicU64,
    pub tokens_sent: AtomicU64,
    pub blocks_compressed: AtomicU64,
    pub retrieve_calls: AtomicU64,
    pub upstream_errors: AtomicU64,
}

/// The proxy's state: the service, the authenticator, the HTTP client.
#[derive(Clone)]
pub struct ProxyState {
    cairn: Cairn,
    auth: Arc<Authenticator>,
    config: Arc<ProxyConfig>,
    client: reqwest::Client,
    counters: Arc<ProxyCounters>,
    views: Arc<flow::ViewCache>,
}

impl std::fmt::Debug for ProxyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ProxyState {
    pub fn new(
        cairn: Cairn,
        auth: Arc<Authenticator>,
        config: ProxyConfig,
    ) -> Result<ProxyState, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.upstream_timeout.min(Duration::from_secs(30)))
            .build()?;
        Ok(ProxyState {
            cairn,
            auth,
            config: Arc::new(config),
            client,
            counters: Arc::default(),
            views: Arc::new(flow::ViewCache::new(4096)),
        })
    }

    pub fn counters(&self) -> &Arc<ProxyCounters> {
        &self.counters
    }
}

/// The routes that call a model: their answers may take longer than the
/// API's request deadline to start, and are bounded by
/// `ProxyConfig::upstream_timeout` instead.
pub const LONG_ROUTES: &[&str] = &[
    "/v1/messages",
    "/v1/chat/completions",
    "/v1/responses",
    "/v1beta/models/{target}",
    "/v1/models/{target}",
];

/// Every proxy route, on the same port as the API.
pub fn router(state: ProxyState) -> Router {
    let limit = state.config.body_limit;
    Router::new()
        .route("/v1/messages", post(anthropic_messages))
        .route("/v1/messages/count_tokens", post(anthropic_passthrough))
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(openai_chat_completions))
        .route("/v1/responses", post(openai_responses))
        // Gemini: v1beta (Gemini CLI) and v1 (google-genai 3.x's default);
        // its model listing and any other route under v1beta answer in
        // Gemini's shape.
        .route(
            "/v1beta/models/{target}",
            post(gemini_generate).get(gemini_passthrough),
        )
        .route("/v1/models/{target}", post(gemini_generate).get(models))
        .route("/v1beta/models", get(gemini_passthrough))
        .route("/v1beta/{*rest}", any(gemini_unknown))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

type Body = Result<Bytes, axum::extract::rejection::BytesRejection>;

async fn anthropic_messages(
    State(state): State<ProxyState>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    flow::handle(state, Provider::Anthropic, None, uri, headers, body).await
}

async fn anthropic_passthrough(
    State(state): State<ProxyState>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    flow::passthrough(state, Provider::Anthropic, method, uri, headers, body).await
}

/// Whose API a request without a provider-specific path speaks: Gemini's
/// when it carries a Google key (`x-goog-api-key` or `?key=`), Anthropic's
/// when `anthropic-version` or `x-api-key`, else OpenAI's.
fn provider_of(uri: &Uri, headers: &HeaderMap) -> Provider {
    let google_key = uri
        .query()
        .is_some_and(|query| query.split('&').any(|pair| pair.starts_with("key=")));
    if headers.contains_key("x-goog-api-key") || google_key {
        Provider::Gemini
    } else if headers.contains_key("anthropic-version") || headers.contains_key("x-api-key") {
        Provider::Anthropic
    } else {
        Provider::OpenAiChat
    }
}

/// `GET /v1/models` and `/v1/models/{model}` (the model pickers of Claude
/// Code, Codex and google-genai), forwarded to the provider the request
/// speaks to.
async fn models(
    State(state): State<ProxyState>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let provider = provider_of(&uri, &headers);
    flow::passthrough(state, provider, method, uri, headers, Bytes::new()).await
}

/// Gemini's read-only model routes and its other model actions
/// (`countTokens`, `embedContent`, …), forwarded untouched.
async fn gemini_passthrough(
    State(state): State<ProxyState>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    flow::passthrough(state, Provider::Gemini, method, uri, headers, body).await
}

/// Any other route under `/v1beta`: Gemini's own 404 shape, which its
/// clients can read.
async fn gemini_unknown(uri: Uri) -> Response {
    flow::error_response(
        Provider::Gemini,
        404,
        &format!(
            "cairn's proxy does not serve {}: it serves models/{{model}}:generateContent, \
             :streamGenerateContent and the other model actions, under /v1beta and /v1",
            uri.path()
        ),
    )
}

async fn openai_chat_completions(
    State(state): State<ProxyState>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    flow::handle(state, Provider::OpenAiChat, None, uri, headers, body).await
}

async fn openai_responses(
    State(state): State<ProxyState>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    flow::handle(state, Provider::OpenAiResponses, None, uri, headers, body).await
}

async fn gemini_generate(
    State(state): State<ProxyState>,
    Path(target): Path<String>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let action = target.rsplit_once(':').map(|(_, action)| action.to_owned());
    match (action.as_deref(), body) {
        (Some("generateContent" | "streamGenerateContent"), body) => {
            flow::handle(state, Provider::Gemini, action, uri, headers, body).await
        }
        (Some(_), Ok(body)) => {
            flow::passthrough(state, Provider::Gemini, method, uri, headers, body).await
        }
        (Some(_), Err(rejection)) => flow::error_response(
            Provider::Gemini,
            rejection.status().as_u16(),
            &rejection.body_text(),
        ),
        (None, _) => flow::error_response(
            Provider::Gemini,
            404,
            "cairn's proxy serves models/{model}:ACTION (generateContent, \
             streamGenerateContent, countTokens, …)",
        ),
    }
}

/// Prometheus text: the proxy's totals since start, over every tenant. With
/// auth on, only for a Cairn token with the admin scope (`Authorization:
/// Bearer`).
async fn metrics(State(state): State<ProxyState>, headers: HeaderMap) -> Response {
    let allowed = state
        .auth
        .principal_from_header(
            headers
                .get(axum::http::header::AUTHORIZATION)
                .map(|value| value.as_bytes()),
            cairn_auth::Carrier::Authorization,
        )
        .and_then(|principal| principal.ok_or(cairn_auth::AuthError::MissingToken))
        .and_then(|principal| principal.require(cairn_auth::Scope::Admin));
    if let Err(error) = allowed {
        let status = axum::http::StatusCode::from_u16(error.code().http_status())
            .unwrap_or(axum::http::StatusCode::UNAUTHORIZED);
        return (status, format!("{error}\n")).into_response();
    }
    let counters = &state.counters;
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let original = load(&counters.tokens_original);
    let sent = load(&counters.tokens_sent);
    let lines = [
        (
            "cairn_proxy_requests_total",
            "Requests the proxy forwarded.",
            load(&counters.requests),
        ),
        (
            "cairn_proxy_tokens_original_total",
            "Tokens of the requests as clients sent them.",
            original,
        ),
        (
            "cairn_proxy_tokens_sent_total",
            "Tokens of the requests as sent upstream.",
            sent,
        ),
        (
            "cairn_proxy_tokens_saved_total",
            "Tokens the proxy's compression saved.",
            original.saturating_sub(sent),
        ),
        (
            "cairn_proxy_blocks_compressed_total",
            "Tool results and pastes the proxy compressed.",
            load(&counters.blocks_compressed),
        ),
        (
            "cairn_proxy_retrieve_calls_total",
            "cairn_retrieve calls the proxy answered.",
            load(&counters.retrieve_calls),
        ),
        (
            "cairn_proxy_upstream_errors_total",
            "Upstream errors, timeouts and broken streams.",
            load(&counters.upstream_errors),
        ),
    ];
    let mut text = String::new();
    for (name, help, value) in lines {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
        ));
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
        .into_response()
}
