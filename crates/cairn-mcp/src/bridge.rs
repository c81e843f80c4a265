//! `cairn mcp --url URL`: a stdio MCP server that is a bridge to a running
//! server's streamable HTTP endpoint, so there is one implementation of the
//! tools (the server's) and one place that decides who may call them.
//!
//! Each JSON-RPC message read from standard input (one per line) is POSTed
//! to the endpoint; what comes back (a JSON body, or the messages of an SSE
//! stream) is written to standard output, one message per line. The bridge
//! keeps the `Mcp-Session-Id` and `MCP-Protocol-Version` the transport needs,
//! sends the bearer token on every request, and, when the server forgot the
//! session (it restarted), initializes a new one by replaying the client's
//! `initialize`. Messages are forwarded one at a time, in order (a long
//! call delays the next message). No GET stream is opened: Cairn's server
//! sends nothing unasked. When the server cannot be reached or refuses a
//! request, the request gets a JSON-RPC error with the reason, and the
//! bridge keeps running.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader};

const SESSION_HEADER: &str = "mcp-session-id";
const METHOD_HEADER: &str = "mcp-method";
const NAME_HEADER: &str = "mcp-name";
const PROTOCOL_HEADER: &str = "mcp-protocol-version";
/// JSON-RPC: the message could not be parsed.
const PARSE_ERROR: i64 = -32700;
/// JSON-RPC, implementation-defined: the server could not answer.
const SERVER_ERROR: i64 = -32000;

/// Where the bridge forwards to.
#[derive(Debug, Clone)]
pub struct BridgeOptions {
    /// The server's MCP endpoint, like `http://127.0.0.1:8787/mcp`.
    pub endpoint: String,
    /// Sent as `Authorization: Bearer <token>` when set.
    pub token: Option<String>,
}

/// Why the bridge stopped.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("cannot read standard input or write standard output")]
    Io(#[from] std::io::Error),
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// Forwards standard input to the endpoint and its answers to standard
/// output until standard input closes.
pub async fn run(options: BridgeOptions) -> Result<(), BridgeError> {
    let mut bridge = Bridge::new(options)?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    while let Some(line) = lines.next_line().await? {
        bridge.forward(&line, &mut stdout).await?;
    }
    bridge.close().await;
    Ok(())
}

/// The bridge's state: the HTTP client and the transport session.
#[derive(Debug)]
pub struct Bridge {
    client: reqwest::Client,
    options: BridgeOptions,
    session: Option<String>,
    protocol: Option<String>,
    /// The client's `initialize`, replayed when the server forgets the session.
    initialize: Option<Value>,
}

/// What one POST brought back.
enum Answer {
    Messages(Vec<Value>),
    /// The server no longer knows the session.
    SessionGone,
    Failed(String),
}

impl Bridge {
    pub fn new(options: BridgeOptions) -> Result<Bridge, BridgeError> {
        let client = reqwest::Client::builder()
            .build()
            .map_err(BridgeError::Client)?;
        Ok(Bridge {
            client,
            options,
            session: None,
            protocol: None,
            initialize: None,
        })
    }

    /// Forwards one line from the client and writes what answers it.
    pub async fn forward(
        &mut self,
        line: &str,
        out: &mut (impl AsyncWrite + Unpin),
    ) -> Result<(), BridgeError> {
        if line.trim().is_empty() {
            return Ok(());
        }
        let message: Value = match serde_json::from_str(line) {
            Ok(message) => message,
            Err(error) => {
                let answer = error_response(Value::Null, PARSE_ERROR, format!("not JSON: {error}"));
                return write_messages(out, &[answer]).await;
            }
        };
        let id = request_id(&message);
        if method(&message) == Some("initialize") {
            // A new handshake starts a new session.
            self.session = None;
            self.protocol = None;
            self.initialize = Some(message.clone());
        }
        let mut answer = self.post(&message).await;
        if matches!(answer, Answer::SessionGone) {
            answer = match self.reinitialize().await {
                Ok(()) => self.post(&message).await,
                Err(reason) => Answer::Failed(reason),
            };
        }
        let messages = match answer {
            Answer::Messages(messages) => messages,
            Answer::SessionGone => vec![],
            Answer::Failed(reason) => {
                tracing::warn!(%reason, "mcp bridge: the server did not answer");
                match id.clone() {
                    Some(id) => vec![error_response(id, SERVER_ERROR, reason)],
                    None => vec![],
                }
            }
        };
        for message in &messages {
            if let Some(version) = message
                .pointer("/result/protocolVersion")
                .and_then(Value::as_str)
                && id.is_some()
                && self.initialize.as_ref().and_then(request_id) == id
            {
                self.protocol = Some(version.to_owned());
            }
        }
        write_messages(out, &messages).await
    }

    /// Ends the transport session (best effort).
    pub async fn close(&mut self) {
        if let Some(session) = self.session.take() {
            let request = self
                .authorized(self.client.delete(&self.options.endpoint))
                .header(SESSION_HEADER, session);
            let _ = request.send().await;
        }
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.options.token {
            Some(token) => request.header(AUTHORIZATION, format!("Bearer {token}")),
            None => request,
        }
    }

    /// POSTs `message` and collects the messages that answer it.
    async fn post(&mut self, message: &Value) -> Answer {
        let mut request = self
            .authorized(self.client.post(&self.options.endpoint))
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream")
            .body(message.to_string());
        if let Some(session) = &self.session {
            request = request.header(SESSION_HEADER, session);
        }
        // A 2026-07-28 request names its own version in `_meta`; older ones
        // use the version `initialize` negotiated.
        let stated = message
            .pointer("/params/_meta/io.modelcontextprotocol~1protocolVersion")
            .and_then(Value::as_str);
        if let Some(protocol) = stated.or(self.protocol.as_deref()) {
            request = request.header(PROTOCOL_HEADER, protocol);
        }
        for (name, value) in routing_headers(message) {
            request = request.header(name, value);
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                return Answer::Failed(format!(
                    "cannot reach the Cairn server at {}: {error}",
                    self.options.endpoint
                ));
            }
        };
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            // The server's own JSON-RPC error (an unknown method is a 404,
            // bad params a 400) is the client's answer, code and all.
            if let Some(error) = json_rpc_error(&body, request_id(message)) {
                return Answer::Messages(vec![error]);
            }
            if status == StatusCode::NOT_FOUND && self.session.is_some() {
                return Answer::SessionGone;
            }
            return Answer::Failed(format!(
                "the Cairn server answered {status}: {}",
                refusal(&body)
            ));
        }
        if let Some(session) = header(response.headers(), SESSION_HEADER) {
            self.session = Some(session);
        }
        if status == StatusCode::ACCEPTED {
            return Answer::Messages(Vec::new());
        }
        let is_sse = header(response.headers(), CONTENT_TYPE.as_str())
            .is_some_and(|kind| kind.starts_with("text/event-stream"));
        if !is_sse {
            return match response.bytes().await {
                Ok(body) if body.iter().all(u8::is_ascii_whitespace) => Answer::Messages(vec![]),
                Ok(body) => match serde_json::from_slice::<Value>(&body) {
                    Ok(Value::Array(messages)) => Answer::Messages(messages),
                    Ok(message) => Answer::Messages(vec![message]),
                    Err(error) => Answer::Failed(format!("the server sent bad JSON: {error}")),
                },
                Err(error) => Answer::Failed(format!("cannot read the answer: {error}")),
            };
        }
        // Read the stream until the response to this request arrives (the
        // server may keep a stream open after it).
        let wanted = request_id(message);
        let mut events = SseParser::default();
        let mut messages = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    for data in events.feed(&chunk) {
                        match serde_json::from_str::<Value>(&data) {
                            Ok(message) => {
                                let done = wanted.is_some()
                                    && request_id(&message).is_none()
                                    && message.get("id").cloned() == wanted;
                                messages.push(message);
                                if done {
                                    return Answer::Messages(messages);
                                }
                            }
                            Err(error) => {
                                tracing::warn!(%error, "mcp bridge: skipping an event that is not JSON");
                            }
                        }
                    }
                }
                Ok(None) => return Answer::Messages(messages),
                Err(error) => {
                    if messages.is_empty() {
                        return Answer::Failed(format!("the answer stream broke: {error}"));
                    }
                    return Answer::Messages(messages);
                }
            }
        }
    }

    /// Starts a new session by replaying the client's `initialize` and
    /// `notifications/initialized`; their answers are not the client's to see.
    async fn reinitialize(&mut self) -> Result<(), String> {
        let initialize = self.initialize.clone().ok_or_else(|| {
            "the Cairn server forgot this MCP session and no initialize was seen".to_owned()
        })?;
        tracing::info!("mcp bridge: the server forgot the session; initializing a new one");
        self.session = None;
        match self.post(&initialize).await {
            Answer::Messages(messages) => {
                if let Some(version) = messages
                    .iter()
                    .find_map(|message| message.pointer("/result/protocolVersion"))
                    .and_then(Value::as_str)
                {
                    self.protocol = Some(version.to_owned());
                }
            }
            Answer::SessionGone => return Err("the server refused a new session".into()),
            Answer::Failed(reason) => return Err(reason),
        }
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        match self.post(&initialized).await {
            Answer::Messages(_) => Ok(()),
            Answer::SessionGone => Err("the server refused a new session".into()),
            Answer::Failed(reason) => Err(reason),
        }
    }
}

/// The headers the 2026-07-28 streamable HTTP transport wants beside the
/// body: `Mcp-Method`, and `Mcp-Name` for the methods that name a tool,
/// prompt, resource or task (Base64 in the `=?base64?…?=` form when the
/// name is not plain ASCII). Older servers ignore them.
fn routing_headers(message: &Value) -> Vec<(&'static str, String)> {
    use base64::Engine as _;
    let Some(method) = method(message) else {
        return Vec::new();
    };
    let mut headers = vec![(METHOD_HEADER, method.to_owned())];
    let field = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => "uri",
        "tasks/get" | "tasks/update" | "tasks/cancel" => "taskId",
        _ => return headers,
    };
    if let Some(name) = message
        .get("params")
        .and_then(|params| params.get(field))
        .and_then(Value::as_str)
    {
        let wrapped = name.starts_with([' ', '\t'])
            || name.ends_with([' ', '\t'])
            || name.chars().any(|c| !(' '..='~').contains(&c))
            || (name.starts_with("=?base64?") && name.ends_with("?="));
        let value = if wrapped {
            format!(
                "=?base64?{}?=",
                base64::engine::general_purpose::STANDARD.encode(name)
            )
        } else {
            name.to_owned()
        };
        headers.push((NAME_HEADER, value));
    }
    headers
}

/// The `id` of a request (a message with a method and an id); `None` for
/// notifications and responses.
fn request_id(message: &Value) -> Option<Value> {
    message.get("method")?;
    message.get("id").cloned()
}

fn method(message: &Value) -> Option<&str> {
    message.get("method").and_then(Value::as_str)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// A JSON-RPC error message in a refusal's body, answering the request
/// `id` (the server leaves the id null when it could not read it).
fn json_rpc_error(body: &str, id: Option<Value>) -> Option<Value> {
    let mut message: Value = serde_json::from_str(body).ok()?;
    if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0")
        || !message.get("error").is_some_and(Value::is_object)
    {
        return None;
    }
    if message.get("id").is_none_or(Value::is_null) {
        message["id"] = id.unwrap_or(Value::Null);
    }
    Some(message)
}

/// The message of our error body, else the body itself (shortened).
fn refusal(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|value| {
            let code = value.pointer("/error/code")?.as_str()?.to_owned();
            let message = value.pointer("/error/message")?.as_str()?.to_owned();
            Some(format!("{code}: {message}"))
        })
        .unwrap_or_else(|| body.chars().take(500).collect())
}

fn error_response(id: Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

async fn write_messages(
    out: &mut (impl AsyncWrite + Unpin),
    messages: &[Value],
) -> Result<(), BridgeError> {
    for message in messages {
        // serde_json writes no raw newlines: one message is one line.
        let mut line = message.to_string();
        line.push('\n');
        out.write_all(line.as_bytes()).await?;
    }
    out.flush().await?;
    Ok(())
}

/// Server-sent events, fed in chunks: yields the data of each complete event
/// that has any (the server's priming events have none).
#[derive(Debug, Default)]
struct SseParser {
    pending: Vec<u8>,
    data: Vec<String>,
}

impl SseParser {
    fn feed(&mut self, chunk: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|&byte| byte == b'\n') {
            let raw: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    events.push(self.data.join("\n"));
                    self.data.clear();
                }
            } else if let Some(data) = line.strip_prefix("data:") {
                let data = data.strip_prefix(' ').unwrap_or(data);
                if !data.is_empty() {
                    self.data.push(data.to_owned());
                }
            }
            // `id:`, `event:`, `retry:` and `:` comments carry nothing we forward.
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_are_found_across_chunk_boundaries() {
        let mut parser = SseParser::default();
        let mut events = parser.feed(b"id: 0\nretry: 3000\ndata:\n\nid: 1\ndata: {\"a\"");
        assert!(events.is_empty());
        events.extend(parser.feed(b":1}\r\n\r\n: keep-alive\n\ndata: x\ndata: y\n\n"));
        assert_eq!(events, ["{\"a\":1}", "x\ny"]);
    }

    #[test]
    fn only_requests_have_request_ids() {
        assert_eq!(
            request_id(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"})),
            Some(json!(3))
        );
        assert_eq!(
            request_id(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})),
            None
        );
        assert_eq!(
            request_id(&json!({"jsonrpc": "2.0", "id": 3, "result": {}})),
            None
        );
    }

    #[test]
    fn modern_requests_get_their_routing_headers() {
        let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": "cairn_get", "arguments": {}}});
        assert_eq!(
            routing_headers(&call),
            [
                (METHOD_HEADER, "tools/call".to_owned()),
                (NAME_HEADER, "cairn_get".to_owned())
            ]
        );
        let odd = json!({"method": "resources/read", "params": {"uri": "é"}});
        assert_eq!(
            routing_headers(&odd)[1],
            (NAME_HEADER, "=?base64?w6k=?=".to_owned())
        );
        let list = json!({"method": "tools/list"});
        assert_eq!(
            routing_headers(&list),
            [(METHOD_HEADER, "tools/list".to_owned())]
        );
        assert!(routing_headers(&json!({"id": 1, "result": {}})).is_empty());
    }

    #[test]
    fn refusals_show_our_error_code_and_message() {
        assert_eq!(
            refusal(r#"{"error":{"code":"unauthorized","message":"no token"}}"#),
            "unauthorized: no token"
        );
        assert_eq!(refusal("plain"), "plain");
    }

    #[tokio::test]
    async fn a_line_that_is_not_json_gets_a_parse_error_and_the_bridge_goes_on() {
        let mut bridge = Bridge::new(BridgeOptions {
            endpoint: "http://127.0.0.1:9/mcp".into(),
            token: None,
        })
        .expect("a client");
        let mut out = Vec::new();
        bridge
            .forward("{not json", &mut out)
            .await
            .expect("written");
        bridge
            .forward(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, &mut out)
            .await
            .expect("written");
        let text = String::from_utf8(out).expect("UTF-8");
        let answers: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("one JSON message a line"))
            .collect();
        assert_eq!(answers[0]["error"]["code"], json!(PARSE_ERROR));
        assert_eq!(answers[1]["id"], json!(1));
        assert_eq!(answers[1]["error"]["code"], json!(SERVER_ERROR));
        let message = answers[1]["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("cannot reach the Cairn server"),
            "{message}"
        );
    }
}
