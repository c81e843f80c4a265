//! A scripted model on loopback, the one stand-in of the conformance suite:
//! the providers cannot be reached from here. It speaks what the three CLIs
//! speak (Anthropic Messages, OpenAI Responses including Codex's
//! "responses-lite", Gemini `generateContent` and `streamGenerateContent`
//! under `/v1beta` and `/v1`, streaming and not), records every request as
//! it arrived, and answers from the conversation it is sent: the latest user
//! prompt holds the script.
//!
//! - `RUN <command>`: call the agent's shell tool with the command, then
//!   answer `DONE`.
//! - `RETRIEVE-REVERSED <drow>` (after `RUN`): when the tool's output came
//!   back with a Cairn marker, call `cairn_retrieve` with its `ccr:`
//!   reference and the word (written backwards in the prompt, so that the
//!   question a view is compressed for does not name it), then answer
//!   `FOUND: <the line with the word>`.
//! - `MCP <tool>`: call the agent's MCP tool whose name ends with `<tool>`
//!   (for Codex, through its `exec` tool), then answer `DONE: <its result>`.
//! - `STEPS <step> ;; <step> …`: one call per step, in order (`RUN
//!   <command>`, or `WRITE <path> :: <line>` with the agent's file-writing
//!   tool), then answer `DONE: <what SAY names>`.
//!
//! Side requests (Gemini CLI's routing and next-speaker checks, Claude
//! Code's title: they ask for JSON, or declare no tools) get a small JSON
//! answer.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One request as the mock received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub raw: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.raw).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    /// Whether it is a turn of the agent's main loop: it declares tools and
    /// does not ask for a JSON answer (Gemini CLI's routing check sends the
    /// conversation and its tools, and wants JSON).
    pub fn is_main(&self) -> bool {
        let body = self.json();
        if body["generationConfig"]["responseMimeType"] == "application/json"
            || body.pointer("/output_config/format/type") == Some(&json!("json_schema"))
        {
            return false;
        }
        let declared = |value: Option<&Value>| {
            value
                .and_then(Value::as_array)
                .is_some_and(|tools| !tools.is_empty())
        };
        declared(body.get("tools"))
            || body
                .get("input")
                .and_then(Value::as_array)
                .is_some_and(|items| items.iter().any(|item| item["type"] == "additional_tools"))
    }
}

#[derive(Debug, Clone, Default)]
pub struct Mock {
    received: Arc<Mutex<Vec<Received>>>,
    /// Numbers the ids of answers and calls, never reset: a call id must
    /// not come back in a later turn.
    answers: Arc<std::sync::atomic::AtomicUsize>,
}

impl Mock {
    /// Starts the mock on a free loopback port; returns it and its URL.
    pub async fn start() -> (Mock, String) {
        let mock = Mock::default();
        let url = serve(
            axum::Router::new()
                .fallback(answer)
                .with_state(mock.clone()),
        )
        .await;
        (mock, url)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("the mock's lock").clone()
    }

    /// The main-loop requests (those that declare tools), in order.
    pub fn main_requests(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|request| request.method == Method::POST && request.is_main())
            .collect()
    }

    pub fn clear(&self) {
        self.received.lock().expect("the mock's lock").clear();
    }
}

/// Serves `app` on a free loopback port, in the background; its URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Which wire API a request speaks, from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Anthropic,
    Responses,
    Gemini { stream: bool },
}

/// One step of a conversation, whatever the API.
#[derive(Debug, Clone)]
enum Item {
    User(String),
    Assistant,
    Call { name: String },
    Result { name: String, text: String },
}

/// What the model does next.
#[derive(Debug, Clone)]
enum Turn {
    Text(String),
    /// A call of a tool by name, with JSON arguments (or, for a custom
    /// tool, its raw input as a JSON string).
    Call {
        name: String,
        arguments: Value,
    },
}

async fn answer(
    State(mock): State<Mock>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let received = Received {
        method: method.clone(),
        path: uri.to_string(),
        headers,
        raw,
    };
    mock.received
        .lock()
        .expect("the mock's lock")
        .push(received.clone());
    let path = uri.path();
    if method != Method::POST {
        return (StatusCode::NOT_FOUND, "the mock answers POSTs").into_response();
    }
    if path.ends_with(":countTokens") {
        return axum::Json(json!({"totalTokens": 10})).into_response();
    }
    if path.ends_with("/count_tokens") {
        return axum::Json(json!({"input_tokens": 10})).into_response();
    }
    let api = if path.starts_with("/v1/messages") {
        Api::Anthropic
    } else if path.starts_with("/v1/responses") {
        Api::Responses
    } else if path.contains(":generateContent") || path.contains(":streamGenerateContent") {
        Api::Gemini {
            stream: path.contains(":streamGenerateContent"),
        }
    } else {
        return (
            StatusCode::NOT_FOUND,
            format!("the mock does not serve {path}"),
        )
            .into_response();
    };
    let request = received.json();
    let turn = if received.is_main() {
        next_turn(api, &request)
    } else {
        // A side request: JSON that satisfies each CLI's checks.
        Turn::Text(
            json!({
                "title": "a scripted task",
                "complexity_reasoning": "scripted", "complexity_score": 1,
                "reasoning": "scripted", "next_speaker": "user",
                "model_choice": "flash"
            })
            .to_string(),
        )
    };
    let stream = match api {
        Api::Anthropic | Api::Responses => request["stream"] == true,
        Api::Gemini { stream } => stream,
    };
    let counter = mock
        .answers
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    reply(api, stream, &turn, counter, &request)
}

/// The conversation of a request, as items.
fn items(api: Api, request: &Value) -> Vec<Item> {
    let mut items = Vec::new();
    let array = |value: &Value| value.as_array().cloned().unwrap_or_default();
    match api {
        Api::Anthropic => {
            let mut names = std::collections::HashMap::new();
            for message in array(&request["messages"]) {
                let role = message["role"].as_str().unwrap_or("");
                let blocks = match &message["content"] {
                    Value::String(text) => vec![json!({"type": "text", "text": text})],
                    other => array(other),
                };
                for block in blocks {
                    match (role, block["type"].as_str().unwrap_or("")) {
                        ("user", "text") => {
                            items.push(Item::User(block["text"].as_str().unwrap_or("").into()))
                        }
                        ("assistant", "text") => items.push(Item::Assistant),
                        (_, "tool_use") => {
                            let name = block["name"].as_str().unwrap_or("").to_owned();
                            names.insert(
                                block["id"].as_str().unwrap_or("").to_owned(),
                                name.clone(),
                            );
                            items.push(Item::Call { name });
                        }
                        (_, "tool_result") => {
                            let id = block["tool_use_id"].as_str().unwrap_or("");
                            let text = match &block["content"] {
                                Value::String(text) => text.clone(),
                                other => array(other)
                                    .iter()
                                    .filter_map(|part| part["text"].as_str())
                                    .collect::<Vec<_>>()
                                    .join("\n"),
                            };
                            items.push(Item::Result {
                                name: names.get(id).cloned().unwrap_or_default(),
                                text,
                            });
                        }
                        _ => {}
                    }
                }
            }
        }
        Api::Responses => {
            let mut names = std::collections::HashMap::new();
            let input = match &request["input"] {
                Value::String(text) => {
                    vec![json!({"type": "message", "role": "user", "content": text})]
                }
                other => array(other),
            };
            for item in input {
                let text_of = |content: &Value| match content {
                    Value::String(text) => text.clone(),
                    other => array(other)
                        .iter()
                        .filter_map(|part| part["text"].as_str())
                        .collect::<Vec<_>>()
                        .join("\n"),
                };
                match item["type"].as_str().unwrap_or("message") {
                    "message" if item["role"] == "user" => {
                        items.push(Item::User(text_of(&item["content"])))
                    }
                    "message" if item["role"] == "assistant" => items.push(Item::Assistant),
                    "function_call" | "custom_tool_call" => {
                        let name = item["name"].as_str().unwrap_or("").to_owned();
                        names.insert(
                            item["call_id"].as_str().unwrap_or("").to_owned(),
                            name.clone(),
                        );
                        items.push(Item::Call { name });
                    }
                    "function_call_output" | "custom_tool_call_output" => {
                        let id = item["call_id"].as_str().unwrap_or("");
                        items.push(Item::Result {
                            name: names.get(id).cloned().unwrap_or_default(),
                            text: text_of(&item["output"]),
                        });
                    }
                    _ => {}
                }
            }
        }
        Api::Gemini { .. } => {
            for content in array(&request["contents"]) {
                let model = content["role"] == "model";
                for part in array(&content["parts"]) {
                    if let Some(text) = part["text"].as_str() {
                        if model {
                            items.push(Item::Assistant);
                        } else {
                            items.push(Item::User(text.to_owned()));
                        }
                    } else if let Some(call) = part.get("functionCall") {
                        items.push(Item::Call {
                            name: call["name"].as_str().unwrap_or("").to_owned(),
                        });
                    } else if let Some(result) = part.get("functionResponse") {
                        let response = &result["response"];
                        let text = response["output"]
                            .as_str()
                            .or(response["content"].as_str())
                            .map(str::to_owned)
                            .unwrap_or_else(|| response.to_string());
                        items.push(Item::Result {
                            name: result["name"].as_str().unwrap_or("").to_owned(),
                            text,
                        });
                    }
                }
            }
        }
    }
    items
}

/// The script's words in a prompt: `VERB rest-of-line`.
fn directive<'a>(prompt: &'a str, verb: &str) -> Option<&'a str> {
    prompt.lines().find_map(|line| {
        line.trim()
            .strip_prefix(verb)
            .and_then(|rest| rest.strip_prefix(' '))
            .map(str::trim)
    })
}

fn next_turn(api: Api, request: &Value) -> Turn {
    let items = items(api, request);
    // The latest prompt: the last user text that is not an injected preamble.
    let Some(start) = items.iter().rposition(|item| {
        matches!(item, Item::User(text) if ["RUN ", "MCP ", "SAY ", "STEPS "].iter().any(|verb| text.contains(verb)))
    }) else {
        return Turn::Text("DONE: nothing to do".to_owned());
    };
    let Item::User(prompt) = &items[start] else {
        unreachable!("start is a user item")
    };
    let turn = &items[start + 1..];
    let calls = turn
        .iter()
        .filter(|item| matches!(item, Item::Call { .. }))
        .count();
    if let Some(steps) = directive(prompt, "STEPS") {
        return step(api, steps, calls, prompt);
    }
    let last_result = turn.iter().rev().find_map(|item| match item {
        Item::Result { name, text } => Some((name.as_str(), text.as_str())),
        _ => None,
    });
    match (last_result, calls) {
        (None, 0) => {
            if let Some(command) = directive(prompt, "RUN") {
                return shell(api, command);
            }
            if let Some(tool) = directive(prompt, "MCP") {
                return mcp(api, request, tool);
            }
            Turn::Text(format!(
                "DONE: {}",
                directive(prompt, "SAY").unwrap_or("ok")
            ))
        }
        (Some(("cairn_retrieve", text)), _) => {
            let word = retrieve_word(prompt).unwrap_or_default();
            let line = text
                .lines()
                .find(|line| line.contains(&word))
                .unwrap_or("(not found)");
            Turn::Text(format!("FOUND: {line}"))
        }
        (Some((_, text)), _) => {
            if let Some(word) = retrieve_word(prompt)
                && !turn
                    .iter()
                    .any(|item| matches!(item, Item::Call { name, .. } if name == "cairn_retrieve"))
                && let Some(reference) = first_ref(text)
            {
                return Turn::Call {
                    name: "cairn_retrieve".to_owned(),
                    arguments: json!({"ref": reference, "query": word}),
                };
            }
            let head: String = text.chars().take(400).collect();
            Turn::Text(format!("DONE: {} bytes came back: {head}", text.len()))
        }
        (None, _) => Turn::Text("DONE: the call came back without a result".to_owned()),
    }
}

/// The next of `steps` (`RUN <command>` or `WRITE <path> :: <line>`,
/// separated by `;;`) after `done` calls; when all ran, the answer `SAY`
/// names.
fn step(api: Api, steps: &str, done: usize, prompt: &str) -> Turn {
    let Some(next) = steps.split(";;").map(str::trim).nth(done) else {
        return Turn::Text(format!(
            "DONE: {}",
            directive(prompt, "SAY").unwrap_or("every step ran")
        ));
    };
    if let Some(command) = next.strip_prefix("RUN ") {
        return shell(api, command);
    }
    let Some((path, line)) = next
        .strip_prefix("WRITE ")
        .and_then(|rest| rest.split_once("::"))
    else {
        return Turn::Text(format!("DONE: the mock cannot do {next:?}"));
    };
    let (path, content) = (path.trim(), format!("{}\n", line.trim()));
    match api {
        Api::Anthropic => Turn::Call {
            name: "Write".to_owned(),
            arguments: json!({"file_path": path, "content": content}),
        },
        Api::Gemini { .. } => Turn::Call {
            name: "write_file".to_owned(),
            arguments: json!({"file_path": path, "content": content}),
        },
        // Codex writes through its shell.
        Api::Responses => shell(
            api,
            &format!("printf '%s\\n' {} > {path}", shell_quote(line.trim())),
        ),
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The word `RETRIEVE-REVERSED` names, the right way round.
fn retrieve_word(prompt: &str) -> Option<String> {
    directive(prompt, "RETRIEVE-REVERSED").map(|word| word.chars().rev().collect())
}

/// The first `ccr:` reference in a text.
pub fn first_ref(text: &str) -> Option<String> {
    let at = text.find("ccr:")?;
    let hex: String = text[at + 4..].chars().take(24).collect();
    (hex.len() == 24 && hex.chars().all(|c| c.is_ascii_hexdigit())).then(|| format!("ccr:{hex}"))
}

fn shell(api: Api, command: &str) -> Turn {
    match api {
        Api::Anthropic => Turn::Call {
            name: "Bash".to_owned(),
            arguments: json!({"command": command, "description": "run the scripted command"}),
        },
        Api::Gemini { .. } => Turn::Call {
            name: "run_shell_command".to_owned(),
            arguments: json!({"command": command, "description": "run the scripted command"}),
        },
        // Codex runs commands from JavaScript in its `exec` tool.
        Api::Responses => Turn::Call {
            name: "exec".to_owned(),
            arguments: Value::String(format!(
                "const r = await tools.exec_command({{cmd: {}, max_output_tokens: 20000}});\ntext(r.output);",
                Value::String(command.to_owned())
            )),
        },
    }
}

/// A call of the MCP tool whose name ends with `tool`, found in the
/// request's tool list.
fn mcp(api: Api, request: &Value, tool: &str) -> Turn {
    let text = request.to_string();
    let name = match api {
        Api::Anthropic | Api::Gemini { .. } => {
            let names: Vec<String> = request["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|tool| {
                    tool["name"].as_str().map(str::to_owned).into_iter().chain(
                        tool["functionDeclarations"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|declaration| {
                                declaration["name"].as_str().map(str::to_owned)
                            }),
                    )
                })
                .collect();
            names
                .into_iter()
                .find(|name| name.ends_with(tool) && name != "cairn_retrieve")
                // Claude Code defers MCP tools (ToolSearch): a call by the
                // tool's full name loads it.
                .or_else(|| (api == Api::Anthropic).then(|| format!("mcp__cairn__{tool}")))
        }
        // Codex lists MCP tools as JavaScript functions inside `exec`'s
        // description: `tools.mcp__cairn__cairn_stats(...)`.
        Api::Responses => text
            .match_indices("mcp__")
            .map(|(at, _)| {
                text[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .find(|name| name.ends_with(tool))
            // MCP tools may be deferred out of the description; their names
            // follow one rule.
            .or_else(|| Some(format!("mcp__cairn__{tool}"))),
    };
    let Some(name) = name else {
        return Turn::Text(format!("DONE: no MCP tool {tool} was offered"));
    };
    match api {
        // The names of the tools it sees, then the call.
        Api::Responses => Turn::Call {
            name: "exec".to_owned(),
            arguments: Value::String(format!(
                "const names = ALL_TOOLS.map((t) => t.name).filter((n) => n.includes(\"cairn\"));\n\
                 const r = await tools.{name}({{}});\ntext(JSON.stringify({{names, result: r}}));"
            )),
        },
        _ => Turn::Call {
            name,
            arguments: json!({}),
        },
    }
}

fn sse(events: &[(Option<&str>, Value)]) -> Response {
    let body: String = events
        .iter()
        .map(|(name, data)| match name {
            Some(name) => format!("event: {name}\ndata: {data}\n\n"),
            None => format!("data: {data}\n\n"),
        })
        .collect();
    ([("content-type", "text/event-stream")], body).into_response()
}

fn reply(api: Api, stream: bool, turn: &Turn, counter: usize, request: &Value) -> Response {
    let model = request["model"].as_str().unwrap_or("mock-model").to_owned();
    match api {
        Api::Anthropic => {
            let (block, stop) = match turn {
                Turn::Text(text) => (json!({"type": "text", "text": text}), "end_turn"),
                Turn::Call { name, arguments } => (
                    json!({"type": "tool_use", "id": format!("toolu_mock{counter:04}"), "name": name, "input": arguments}),
                    "tool_use",
                ),
            };
            let usage = json!({"input_tokens": 100, "output_tokens": 10});
            if !stream {
                return axum::Json(json!({
                    "id": format!("msg_mock{counter}"), "type": "message", "role": "assistant",
                    "model": model, "content": [block], "stop_reason": stop,
                    "stop_sequence": null, "usage": usage
                }))
                .into_response();
            }
            let (start, delta) = match turn {
                Turn::Text(text) => (
                    json!({"type": "text", "text": ""}),
                    json!({"type": "text_delta", "text": text}),
                ),
                Turn::Call { arguments, .. } => {
                    let mut start = block.clone();
                    start["input"] = json!({});
                    (
                        start,
                        json!({"type": "input_json_delta", "partial_json": arguments.to_string()}),
                    )
                }
            };
            sse(&[
                (
                    Some("message_start"),
                    json!({"type": "message_start", "message": {
                    "id": format!("msg_mock{counter}"), "type": "message", "role": "assistant",
                    "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": 100, "output_tokens": 1}}}),
                ),
                (
                    Some("content_block_start"),
                    json!({"type": "content_block_start", "index": 0, "content_block": start}),
                ),
                (
                    Some("content_block_delta"),
                    json!({"type": "content_block_delta", "index": 0, "delta": delta}),
                ),
                (
                    Some("content_block_stop"),
                    json!({"type": "content_block_stop", "index": 0}),
                ),
                (
                    Some("message_delta"),
                    json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 10}}),
                ),
                (Some("message_stop"), json!({"type": "message_stop"})),
            ])
        }
        Api::Responses => {
            let item = match turn {
                Turn::Text(text) => json!({
                    "type": "message", "id": format!("msg_mock{counter}"), "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": text, "annotations": []}]
                }),
                Turn::Call {
                    name,
                    arguments: Value::String(input),
                } => json!({
                    "type": "custom_tool_call", "id": format!("ctc_mock{counter}"),
                    "call_id": format!("call_mock{counter}"), "name": name, "input": input,
                    "status": "completed"
                }),
                Turn::Call { name, arguments } => json!({
                    "type": "function_call", "id": format!("fc_mock{counter}"),
                    "call_id": format!("call_mock{counter}"), "name": name,
                    "arguments": arguments.to_string(), "status": "completed"
                }),
            };
            let response = json!({
                "id": format!("resp_mock{counter}"), "object": "response", "status": "completed",
                "model": model, "output": [item],
                "usage": {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 0},
                          "output_tokens": 10, "output_tokens_details": {"reasoning_tokens": 0},
                          "total_tokens": 110}
            });
            if !stream {
                return axum::Json(response).into_response();
            }
            let mut created = response.clone();
            created["status"] = json!("in_progress");
            created["output"] = json!([]);
            sse(&[
                (
                    Some("response.created"),
                    json!({"type": "response.created", "response": created}),
                ),
                (
                    Some("response.output_item.added"),
                    json!({"type": "response.output_item.added", "output_index": 0, "item": item}),
                ),
                (
                    Some("response.output_item.done"),
                    json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
                ),
                (
                    Some("response.completed"),
                    json!({"type": "response.completed", "response": response}),
                ),
            ])
        }
        Api::Gemini { .. } => {
            let part = match turn {
                Turn::Text(text) => json!({"text": text}),
                Turn::Call { name, arguments } => {
                    json!({"functionCall": {"name": name, "args": arguments}})
                }
            };
            let response = json!({
                "candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 10, "totalTokenCount": 110},
                "modelVersion": model
            });
            if stream {
                sse(&[(None, response)])
            } else {
                axum::Json(response).into_response()
            }
        }
    }
}

/// A recording hop between an agent and Cairn: forwards every request as
/// it came and records it, so a test can compare what the agent sent with
/// what reached the model.
#[derive(Debug, Clone)]
pub struct Recorder {
    received: Arc<Mutex<Vec<Received>>>,
    target: String,
    client: reqwest::Client,
}

impl Recorder {
    pub async fn start(target: &str) -> (Recorder, String) {
        let recorder = Recorder {
            received: Arc::default(),
            target: target.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
        };
        let url = serve(
            axum::Router::new()
                .fallback(forward)
                .with_state(recorder.clone()),
        )
        .await;
        (recorder, url)
    }

    /// The agent's main-loop requests, in order.
    pub fn main_requests(&self) -> Vec<Received> {
        self.received
            .lock()
            .expect("the recorder's lock")
            .iter()
            .filter(|request| request.method == Method::POST && request.is_main())
            .cloned()
            .collect()
    }

    pub fn clear(&self) {
        self.received.lock().expect("the recorder's lock").clear();
    }
}

async fn forward(
    State(recorder): State<Recorder>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    recorder
        .received
        .lock()
        .expect("the recorder's lock")
        .push(Received {
            method: method.clone(),
            path: uri.to_string(),
            headers: headers.clone(),
            raw: raw.clone(),
        });
    let mut forwarded = HeaderMap::new();
    for (name, value) in &headers {
        if !matches!(
            name.as_str(),
            "host" | "content-length" | "connection" | "accept-encoding"
        ) {
            forwarded.append(name.clone(), value.clone());
        }
    }
    let answer = recorder
        .client
        .request(method, format!("{}{uri}", recorder.target))
        .headers(forwarded)
        .body(raw)
        .send()
        .await;
    match answer {
        Ok(answer) => {
            let status = answer.status();
            let kind = answer
                .headers()
                .get("content-type")
                .cloned()
                .unwrap_or(axum::http::HeaderValue::from_static("application/json"));
            let body = answer.bytes().await.unwrap_or_default();
            (status, [("content-type", kind)], body).into_response()
        }
        Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    }
}

/// The raw text of a JSON document's top-level member `key`, and of the
/// elements of an array: byte for byte as written.
pub mod raw {
    /// Where the value starting at `at` ends.
    fn value_end(text: &[u8], mut at: usize) -> usize {
        let mut depth = 0usize;
        let mut in_string = false;
        while at < text.len() {
            let byte = text[at];
            if in_string {
                match byte {
                    b'\\' => at += 1,
                    b'"' => {
                        in_string = false;
                        if depth == 0 {
                            return at + 1;
                        }
                    }
                    _ => {}
                }
            } else {
                match byte {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        if depth == 0 {
                            return at;
                        }
                        depth -= 1;
                        if depth == 0 {
                            return at + 1;
                        }
                    }
                    b',' if depth == 0 => return at,
                    _ => {}
                }
            }
            at += 1;
        }
        at
    }

    fn skip_space(text: &[u8], mut at: usize) -> usize {
        while at < text.len() && text[at].is_ascii_whitespace() {
            at += 1;
        }
        at
    }

    /// The members of the top-level object: (key, raw value).
    pub fn members(text: &str) -> Vec<(String, &str)> {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut at = skip_space(bytes, 0) + 1;
        loop {
            at = skip_space(bytes, at);
            if at >= bytes.len() || bytes[at] == b'}' {
                return out;
            }
            let key_end = value_end(bytes, at);
            let key: String = serde_json::from_str(&text[at..key_end]).unwrap_or_default();
            at = skip_space(bytes, key_end) + 1; // the colon
            at = skip_space(bytes, at);
            let end = value_end(bytes, at);
            out.push((key, &text[at..end]));
            at = skip_space(bytes, end);
            if at < bytes.len() && bytes[at] == b',' {
                at += 1;
            }
        }
    }

    pub fn member<'a>(text: &'a str, key: &str) -> Option<&'a str> {
        members(text)
            .into_iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }

    /// The elements of a raw array.
    pub fn elements(array: &str) -> Vec<&str> {
        let bytes = array.as_bytes();
        let mut out = Vec::new();
        let mut at = skip_space(bytes, 0) + 1;
        loop {
            at = skip_space(bytes, at);
            if at >= bytes.len() || bytes[at] == b']' {
                return out;
            }
            let end = value_end(bytes, at);
            out.push(&array[at..end]);
            at = skip_space(bytes, end);
            if at < bytes.len() && bytes[at] == b',' {
                at += 1;
            }
        }
    }
}
