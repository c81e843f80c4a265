//! `cairn-mcp`: Cairn as an MCP server, the memory tool of Claude Code, Codex
//! and Gemini CLI. Seven tools (`cairn_put`, `cairn_get`, `cairn_retrieve`,
//! `cairn_search`, `cairn_briefing`, `cairn_compress`, `cairn_stats`) over streamable HTTP (a
//! tower service the server mounts at `/mcp`) and over stdio; [`bridge`]
//! carries stdio to a running server's `/mcp`, and [`install`] writes each
//! agent's registration.
//!
//! API boundary: tools call the verbs of [`cairn_service::Cairn`], the same
//! ones REST calls, and answer with the same wire types; errors carry the
//! codes of the one catalogue ([`cairn_types::ErrorCode`]). Depends on
//! `cairn-types`, `cairn-core`, `cairn-auth` and `cairn-service`; never on
//! `cairn-api` or a concrete store. It reads no configuration and no
//! environment: the server hands it the service, the principal and paths.

pub mod bridge;
pub mod hooks;
pub mod install;
mod tools;

use std::sync::Arc;

use cairn_auth::{AuthError, Principal};
use cairn_service::{Cairn, ServiceError};
use cairn_types::{ErrorCode, InvalidKey};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt as _};

pub use tools::TOOL_NAMES;

/// What `initialize` tells the client (Codex shows the first 512 characters).
const INSTRUCTIONS: &str = "Cairn is a memory shared by the agents on this machine or team. \
    Store long tool outputs, logs, files and findings with cairn_put instead of keeping them \
    in context; read them back compressed with cairn_get (what matters kept, every cut a \
    marker with a ccr: ref); expand a marker with cairn_retrieve; find earlier work of any \
    agent with cairn_search; shrink a text you hold with cairn_compress.";

/// The MCP server: the tools over one [`Cairn`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct McpServer {
    cairn: Cairn,
    /// Who calls when no HTTP request says so: set over stdio (the local
    /// principal), unset over HTTP, where the auth layer in front of the
    /// service decides.
    local: Option<Principal>,
    /// Said instead of "search is not enabled" when search is off.
    search_note: Option<Arc<str>>,
}

impl McpServer {
    /// A server for HTTP: every call's principal comes from the request's
    /// extensions, put there by the auth layer in front of [`http_service`].
    pub fn over_http(cairn: Cairn) -> McpServer {
        McpServer {
            cairn,
            local: None,
            search_note: None,
        }
    }

    /// A server for stdio, where every call speaks for `principal`.
    pub fn local(cairn: Cairn, principal: Principal) -> McpServer {
        McpServer {
            cairn,
            local: Some(principal),
            search_note: None,
        }
    }

    /// What `cairn_search` says when the service has no search index (why,
    /// and what to do instead).
    pub fn with_search_note(mut self, note: impl Into<String>) -> McpServer {
        self.search_note = Some(Arc::from(note.into()));
        self
    }

    /// Serves the tools on standard input and output until the client
    /// closes them.
    pub async fn serve_stdio(self) -> Result<(), McpError> {
        let running = match self.serve(rmcp::transport::stdio()).await {
            Ok(running) => running,
            // The client went away before it said anything (standard input
            // closed): nothing to serve, and nothing went wrong.
            Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => {
                tracing::info!("mcp: standard input closed before an initialize; exiting");
                return Ok(());
            }
            Err(error) => return Err(McpError::Session(error.to_string())),
        };
        running
            .waiting()
            .await
            .map_err(|error| McpError::Session(error.to_string()))?;
        Ok(())
    }

    fn caller(&self, context: &RequestContext<RoleServer>) -> Result<tools::Caller, ToolError> {
        let principal = match context.extensions.get::<http::request::Parts>() {
            Some(parts) => parts.extensions.get::<Principal>().cloned(),
            None => self.local.clone(),
        }
        .ok_or(ToolError::from(AuthError::MissingToken))?;
        let client_name = context
            .client_info()
            .and_then(|info| label_from_client(&info.name));
        Ok(tools::Caller {
            principal,
            client_name,
            search_note: self.search_note.clone(),
            session: None,
        })
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("cairn", env!("CARGO_PKG_VERSION")).with_title("Cairn"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::list()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let result = match self.caller(&context) {
            Ok(mut caller) => {
                // rmcp moves a call's `_meta` into the context; a request
                // that kept its own is read first.
                let in_request = request.meta.as_ref().map(serde_json::to_value);
                let in_context = serde_json::to_value(&context.meta);
                caller.session = in_request
                    .and_then(Result::ok)
                    .as_ref()
                    .and_then(session_from_meta)
                    .or_else(|| in_context.ok().as_ref().and_then(session_from_meta));
                tools::call(&self.cairn, &caller, &request.name, request.arguments).await
            }
            Err(error) => error.into_result(),
        };
        Ok(result.into())
    }
}

/// The agent's session, from what the client sends in a call's `_meta`:
/// Codex's `x-codex-turn-metadata.session_id` (an object, or that object as
/// a JSON string), else its `threadId`. Claude Code and Gemini CLI send no
/// session there.
fn session_from_meta(meta: &serde_json::Value) -> Option<String> {
    let turn = meta.get("x-codex-turn-metadata");
    let parsed = turn
        .and_then(serde_json::Value::as_str)
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok());
    let from_turn = turn
        .filter(|turn| turn.is_object())
        .or(parsed.as_ref())
        .and_then(|turn| turn.get("session_id"))
        .and_then(serde_json::Value::as_str);
    from_turn
        .or_else(|| meta.get("threadId").and_then(serde_json::Value::as_str))
        .and_then(label_from_client)
}

/// A name the client sent (its `clientInfo.name`, a session id) as a label
/// the service accepts: no control characters, at most
/// [`cairn_service::MAX_LABEL_BYTES`], `None` when nothing is left. What a
/// client calls itself must never make its puts fail.
fn label_from_client(text: &str) -> Option<String> {
    let mut label = String::new();
    for c in text.trim().chars().filter(|c| !c.is_control()) {
        if label.len() + c.len_utf8() > cairn_service::MAX_LABEL_BYTES {
            break;
        }
        label.push(c);
    }
    let label = label.trim_end().to_owned();
    (!label.is_empty()).then_some(label)
}

/// Settings of the streamable HTTP service.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Accept any `Host` header. Off, only loopback names are accepted, which
    /// stops DNS rebinding against a server on 127.0.0.1; a server listening
    /// on another address (which requires auth) turns it on.
    pub any_host: bool,
    /// Largest request body, in bytes (the API's body limit).
    pub body_limit: Option<usize>,
    /// Browser origins allowed to call (the API's CORS allowlist). A request
    /// with any other `Origin` gets 403; agents send none.
    pub allowed_origins: Vec<String>,
    /// Cancelled when the server stops: every session and open event stream
    /// ends, so a graceful shutdown does not wait for clients that listen.
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// The streamable HTTP service (a tower service) to mount at `/mcp`. Put a
/// layer in front that authenticates each request and leaves its
/// [`Principal`] in the request extensions: a request without one gets a
/// tool error `unauthorized`.
pub fn http_service(
    cairn: Cairn,
    options: HttpOptions,
) -> StreamableHttpService<McpServer, LocalSessionManager> {
    let mut config = StreamableHttpServerConfig::default();
    if options.any_host {
        config = config.disable_allowed_hosts();
    }
    if let Some(limit) = options.body_limit {
        config = config.with_max_request_body_bytes(limit);
    }
    // A web page must not reach a local memory server; only the origins the
    // API allows may, and an empty list refuses every origin.
    // No priming event (`id: 0`, `retry:`, an empty `data:`) before each SSE
    // answer: Gemini CLI's client parses every event's data as JSON, fails
    // on the empty one and drops the server. We keep no event store, so a
    // client has nothing to resume from anyway.
    config = config
        .with_sse_retry(None)
        .with_allowed_origins(options.allowed_origins)
        .enforce_origin_validation()
        .with_cancellation_token(options.shutdown);
    let server = McpServer::over_http(cairn);
    // The session layer primes each request's stream too, on its own setting.
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.sse_retry = None;
    StreamableHttpService::new(move || Ok(server.clone()), Arc::new(sessions), config)
}

/// Why the MCP server could not run.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("the MCP session failed: {0}")]
    Session(String),
}

/// A tool's failure: a code of the catalogue and a message for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ToolError {
    pub code: ErrorCode,
    pub message: String,
}

impl ToolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ToolError {
        ToolError {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> ToolError {
        ToolError::new(ErrorCode::InvalidRequest, message)
    }

    /// The tool result: `isError`, the code and message as text, and REST's
    /// error body (`{"error": {"code", "message"}}`) as structured content.
    pub fn into_result(self) -> CallToolResult {
        let mut result = CallToolResult::error(vec![ContentBlock::text(format!(
            "error {}: {}",
            self.code.as_str(),
            self.message
        ))]);
        result.structured_content =
            serde_json::to_value(cairn_types::ErrorBody::new(self.code, self.message)).ok();
        result
    }
}

impl From<ServiceError> for ToolError {
    fn from(error: ServiceError) -> ToolError {
        let code = error.code();
        if code == ErrorCode::Internal || code == ErrorCode::StorageFull {
            // Logged once, here; the client gets the code and a generic message.
            tracing::error!(error = %error_chain(&error), "mcp tool failed");
        }
        ToolError::new(code, error.client_message())
    }
}

impl From<AuthError> for ToolError {
    fn from(error: AuthError) -> ToolError {
        ToolError::new(error.code(), error.to_string())
    }
}

impl From<InvalidKey> for ToolError {
    fn from(error: InvalidKey) -> ToolError {
        ToolError::new(ErrorCode::InvalidKey, error.to_string())
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_session_comes_from_codexs_meta() {
        let check = |meta: serde_json::Value, expect: Option<&str>| {
            assert_eq!(session_from_meta(&meta).as_deref(), expect, "{meta}");
        };
        check(
            json!({"x-codex-turn-metadata": {"session_id": "s1", "turn_id": "t"}, "threadId": "th"}),
            Some("s1"),
        );
        check(
            json!({"x-codex-turn-metadata": "{\"session_id\":\"s2\"}"}),
            Some("s2"),
        );
        check(json!({"threadId": "th"}), Some("th"));
        check(json!({"claudecode/toolUseId": "toolu_1"}), None);
        check(json!({"threadId": "  "}), None);
        check(json!(null), None);
    }

    #[test]
    fn what_a_client_calls_itself_becomes_a_label_the_service_takes() {
        assert_eq!(
            label_from_client(" claude-code ").as_deref(),
            Some("claude-code")
        );
        assert_eq!(label_from_client("a\u{0}b\nc").as_deref(), Some("abc"));
        assert_eq!(label_from_client("\n\t "), None);
        let long = "é".repeat(300);
        let label = label_from_client(&long).unwrap_or_default();
        assert!(label.len() <= cairn_service::MAX_LABEL_BYTES);
        assert_eq!(label.chars().count(), cairn_service::MAX_LABEL_BYTES / 2);
    }
}
