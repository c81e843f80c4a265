//! Anthropic Messages (`POST /v1/messages`): tool results are `tool_result`
//! blocks of user messages; tool calls are `tool_use` blocks; streams are
//! `message_start` … `message_stop`.

use std::collections::BTreeMap;

use cairn_service::ProxiedMessage;
use serde_json::{Value, json};

use crate::provider::Wire;
use crate::sse::Event;
use crate::wire::{self, Call, RETRIEVE_TOOL, Slot};

pub struct Anthropic;

impl Wire for Anthropic {
    fn slots(&self, request: &Value) -> Vec<Slot> {
        let mut slots = Vec::new();
        let mut question = None;
        let Some(messages) = request.get("messages").and_then(Value::as_array) else {
            return slots;
        };
        for (index, message) in messages.iter().enumerate() {
            if message.get("role").and_then(Value::as_str) != Some("user") {
                continue;
            }
            let Some(content) = message.get("content") else {
                continue;
            };
            if let Some(text) = wire::question_of(content) {
                question = Some(text);
            }
            let pointer = format!("/messages/{index}/content");
            slots.extend(wire::large_text_slots(content, &pointer, &question));
            if let Value::Array(blocks) = content {
                for (at, block) in blocks.iter().enumerate() {
                    if block.get("type").and_then(Value::as_str) == Some("tool_result")
                        && let Some(inner) = block.get("content")
                    {
                        slots.extend(wire::tool_result_slots(
                            inner,
                            &format!("{pointer}/{at}/content"),
                            &question,
                        ));
                    }
                }
            }
        }
        slots
    }

    fn has_retrieve_tool(&self, request: &Value) -> bool {
        wire::has_tool(request.get("tools"), |tool| {
            tool.get("name").and_then(Value::as_str)
        })
    }

    fn add_retrieve_tool(&self, request: &mut Value) {
        if let Some(tools) = wire::tools_mut(request, "tools") {
            tools.push(json!({
                "name": RETRIEVE_TOOL,
                "description": wire::RETRIEVE_DESCRIPTION,
                "input_schema": wire::retrieve_parameters(),
            }));
        }
    }

    fn calls(&self, response: &Value) -> Vec<Call> {
        response
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|block| block.get("type").and_then(Value::as_str) == Some("tool_use"))
            .map(|block| Call {
                id: string(block, "id"),
                name: string(block, "name"),
                arguments: block.get("input").cloned().unwrap_or(Value::Null),
            })
            .collect()
    }

    fn continue_with(&self, request: &mut Value, response: &Value, results: &[(Call, String)]) {
        let Some(messages) = request.get_mut("messages").and_then(Value::as_array_mut) else {
            return;
        };
        messages.push(json!({
            "role": "assistant",
            "content": response.get("content").cloned().unwrap_or(json!([])),
        }));
        let blocks: Vec<Value> = results
            .iter()
            .map(|(call, text)| json!({"type": "tool_result", "tool_use_id": call.id, "content": text}))
            .collect();
        messages.push(json!({"role": "user", "content": blocks}));
    }

    fn strip_ours(&self, response: &mut Value) {
        if let Some(blocks) = response.get_mut("content").and_then(Value::as_array_mut) {
            blocks.retain(|block| {
                !(block.get("type").and_then(Value::as_str) == Some("tool_use")
                    && block.get("name").and_then(Value::as_str) == Some(RETRIEVE_TOOL))
            });
        }
    }

    /// Asks for an answer without tool calls (the tool list itself unchanged).
    fn refuse_tools(&self, request: &mut Value) {
        request["tool_choice"] = json!({"type": "none"});
    }

    /// A response whose calls were all ours, made a final answer: `note` as its
    /// text when nothing else is left, and an end-of-turn stop reason.
    fn end_turn(&self, response: &mut Value, note: &str) {
        // A thinking block left alone is no answer: the note goes after it.
        let has_text = response["content"]
            .as_array()
            .is_some_and(|blocks| blocks.iter().any(|block| block["type"] == "text"));
        if !has_text {
            if !response["content"].is_array() {
                response["content"] = json!([]);
            }
            if let Some(blocks) = response["content"].as_array_mut() {
                blocks.push(json!({"type": "text", "text": note}));
            }
        }
        response["stop_reason"] = json!("end_turn");
    }

    /// The stream that spells a complete message, event by event.
    fn events_of(&self, response: &Value) -> Vec<Event> {
        let mut head = response.clone();
        head["content"] = json!([]);
        head["stop_reason"] = Value::Null;
        let mut events = vec![Event::new(
            Some("message_start"),
            json!({"type": "message_start", "message": head}).to_string(),
        )];
        for (index, block) in response["content"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let mut start = block.clone();
            let delta = match block["type"].as_str().unwrap_or("") {
                "text" => {
                    start["text"] = json!("");
                    Some(json!({"type": "text_delta", "text": block["text"]}))
                }
                "tool_use" | "server_tool_use" => {
                    start["input"] = json!({});
                    Some(
                        json!({"type": "input_json_delta", "partial_json": block["input"].to_string()}),
                    )
                }
                "thinking" => {
                    start["thinking"] = json!("");
                    start["signature"] = json!("");
                    Some(json!({"type": "thinking_delta", "thinking": block["thinking"]}))
                }
                _ => None,
            };
            let mut push =
                |name: &str, data: Value| events.push(Event::new(Some(name), data.to_string()));
            push(
                "content_block_start",
                json!({"type": "content_block_start", "index": index, "content_block": start}),
            );
            if let Some(delta) = delta {
                push(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index, "delta": delta}),
                );
            }
            if block["type"] == "thinking" {
                push(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": block["signature"]}}),
                );
            }
            push(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            );
        }
        events.push(Event::new(
            Some("message_delta"),
            json!({"type": "message_delta",
                   "delta": {"stop_reason": response["stop_reason"], "stop_sequence": response["stop_sequence"]},
                   "usage": response["usage"]})
            .to_string(),
        ));
        events.push(Event::new(
            Some("message_stop"),
            json!({"type": "message_stop"}).to_string(),
        ));
        events
    }

    fn error_body(&self, status: u16, message: &str) -> Value {
        let kind = match status {
            400 | 413 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            504 => "timeout_error",
            529 => "overloaded_error",
            _ => "api_error",
        };
        json!({"type": "error", "error": {"type": kind, "message": message}})
    }

    fn error_event(&self, message: &str) -> Event {
        Event::new(Some("error"), self.error_body(502, message).to_string())
    }

    /// The message a stream spells out, once it ended with `message_stop`.
    fn aggregate(&self, events: &[Event]) -> Result<Value, String> {
        let mut message = Value::Null;
        let mut blocks: BTreeMap<u64, Value> = BTreeMap::new();
        let mut partial: BTreeMap<u64, String> = BTreeMap::new();
        let mut stopped = false;
        for event in events {
            let Some(data) = event.json()? else { continue };
            let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
            match data.get("type").and_then(Value::as_str).unwrap_or("") {
                "message_start" => message = data.get("message").cloned().unwrap_or(json!({})),
                "content_block_start" => {
                    blocks.insert(
                        index,
                        data.get("content_block").cloned().unwrap_or(json!({})),
                    );
                }
                "content_block_delta" => {
                    let delta = data.get("delta").cloned().unwrap_or(Value::Null);
                    let block = blocks.entry(index).or_insert_with(|| json!({}));
                    match delta.get("type").and_then(Value::as_str).unwrap_or("") {
                        "text_delta" => append(block, "text", &delta),
                        "thinking_delta" => append(block, "thinking", &delta),
                        "signature_delta" => append(block, "signature", &delta),
                        "input_json_delta" => partial.entry(index).or_default().push_str(
                            delta
                                .get("partial_json")
                                .and_then(Value::as_str)
                                .unwrap_or(""),
                        ),
                        _ => {}
                    }
                }
                "content_block_stop" => {
                    if let Some(json) = partial.remove(&index)
                        && let Some(block) = blocks.get_mut(&index)
                    {
                        let input = if json.trim().is_empty() {
                            json!({})
                        } else {
                            serde_json::from_str(&json)
                                .map_err(|_| "a tool call's input is not JSON".to_owned())?
                        };
                        block["input"] = input;
                    }
                }
                "message_delta" => {
                    if let (Some(delta), Some(object)) = (
                        data.get("delta").and_then(Value::as_object),
                        message.as_object_mut(),
                    ) {
                        for (key, value) in delta {
                            object.insert(key.clone(), value.clone());
                        }
                    }
                    // The final counts, over message_start's (input tokens stay
                    // when the delta does not repeat them).
                    if let Some(usage) = data.get("usage").and_then(Value::as_object) {
                        if !message["usage"].is_object() {
                            message["usage"] = json!({});
                        }
                        if let Some(into) = message["usage"].as_object_mut() {
                            for (key, value) in usage {
                                into.insert(key.clone(), value.clone());
                            }
                        }
                    }
                }
                "message_stop" => stopped = true,
                "error" => {
                    return Err(data
                        .pointer("/error/message")
                        .and_then(Value::as_str)
                        .unwrap_or("the upstream stream reported an error")
                        .to_owned());
                }
                _ => {}
            }
        }
        if !stopped || !message.is_object() {
            return Err("the upstream stream ended before message_stop".to_owned());
        }
        message["content"] = Value::Array(blocks.into_values().collect());
        Ok(message)
    }

    /// The stream without our tool calls' blocks, the rest renumbered.
    fn filter_ours(&self, events: Vec<Event>) -> Vec<Event> {
        let mut ours = Vec::new();
        for event in &events {
            if let Ok(Some(data)) = event.json()
                && data.get("type").and_then(Value::as_str) == Some("content_block_start")
                && data.pointer("/content_block/name").and_then(Value::as_str)
                    == Some(RETRIEVE_TOOL)
                && let Some(index) = data.get("index").and_then(Value::as_u64)
            {
                ours.push(index);
            }
        }
        if ours.is_empty() {
            return events;
        }
        events
            .into_iter()
            .filter_map(|event| {
                let Ok(Some(mut data)) = event.json() else {
                    return Some(event);
                };
                let Some(index) = data.get("index").and_then(Value::as_u64) else {
                    return Some(event);
                };
                data["index"] = json!(wire::renumbered(index, &ours)?);
                Some(Event::new(event.name.as_deref(), data.to_string()))
            })
            .collect()
    }

    /// The conversation as session messages: one per text, tool call and tool
    /// result, in order.
    fn session_messages(&self, request: &Value, response: Option<&Value>) -> Vec<ProxiedMessage> {
        let mut out = Vec::new();
        let all = request
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .cloned()
            .chain(response.map(|response| {
                json!({"role": "assistant", "content": response.get("content").cloned().unwrap_or(Value::Null)})
            }));
        for message in all {
            let role = message
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("user");
            match message.get("content") {
                Some(Value::String(text)) => out.push(ProxiedMessage {
                    role: role.to_owned(),
                    text: text.clone(),
                    ..ProxiedMessage::default()
                }),
                Some(Value::Array(blocks)) => {
                    for block in blocks {
                        match block.get("type").and_then(Value::as_str).unwrap_or("") {
                            "text" => out.push(ProxiedMessage {
                                role: role.to_owned(),
                                text: string(block, "text"),
                                ..ProxiedMessage::default()
                            }),
                            "tool_use" => out.push(ProxiedMessage {
                                role: "assistant".to_owned(),
                                tool: Some(string(block, "name")),
                                call_id: Some(string(block, "id")),
                                text: block.get("input").map(Value::to_string).unwrap_or_default(),
                                ..ProxiedMessage::default()
                            }),
                            "tool_result" => out.push(ProxiedMessage {
                                role: "tool".to_owned(),
                                call_id: Some(string(block, "tool_use_id")),
                                text: block.get("content").map(wire::text_of).unwrap_or_default(),
                                ..ProxiedMessage::default()
                            }),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }
}

fn append(block: &mut Value, field: &str, delta: &Value) {
    let add = delta.get(field).and_then(Value::as_str).unwrap_or("");
    let current = block.get(field).and_then(Value::as_str).unwrap_or("");
    block[field] = Value::String(format!("{current}{add}"));
}

fn string(value: &Value, field: &str) -> String {
    value
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}
