//! OpenAI Chat Completions (`POST /v1/chat/completions`): tool results are
//! `tool` messages; tool calls are `tool_calls` of the assistant message;
//! streams are `chat.completion.chunk`s ending with `[DONE]`.

use std::collections::BTreeMap;

use cairn_service::ProxiedMessage;
use serde_json::{Value, json};

use crate::provider::Wire;
use crate::sse::Event;
use crate::wire::{self, Call, RETRIEVE_TOOL, Slot};

pub struct OpenAiChat;

impl Wire for OpenAiChat {
    fn slots(&self, request: &Value) -> Vec<Slot> {
        let mut slots = Vec::new();
        let mut question = None;
        let Some(messages) = request.get("messages").and_then(Value::as_array) else {
            return slots;
        };
        for (index, message) in messages.iter().enumerate() {
            let Some(content) = message.get("content") else {
                continue;
            };
            let pointer = format!("/messages/{index}/content");
            match message.get("role").and_then(Value::as_str) {
                Some("tool" | "function") => {
                    slots.extend(wire::tool_result_slots(content, &pointer, &question));
                }
                Some("user") => {
                    if let Some(text) = wire::question_of(content) {
                        question = Some(text);
                    }
                    slots.extend(wire::large_text_slots(content, &pointer, &question));
                }
                _ => {}
            }
        }
        slots
    }

    fn has_retrieve_tool(&self, request: &Value) -> bool {
        wire::has_tool(request.get("tools"), |tool| {
            tool.pointer("/function/name").and_then(Value::as_str)
        })
    }

    fn add_retrieve_tool(&self, request: &mut Value) {
        if let Some(tools) = wire::tools_mut(request, "tools") {
            tools.push(json!({
                "type": "function",
                "function": {
                    "name": RETRIEVE_TOOL,
                    "description": wire::RETRIEVE_DESCRIPTION,
                    "parameters": wire::retrieve_parameters(),
                }
            }));
        }
    }

    fn calls(&self, response: &Value) -> Vec<Call> {
        response
            .pointer("/choices/0/message/tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|call| Call {
                id: call
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                name: call
                    .pointer("/function/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                arguments: wire::parse_arguments(
                    call.pointer("/function/arguments").unwrap_or(&Value::Null),
                ),
            })
            .collect()
    }

    fn continue_with(&self, request: &mut Value, response: &Value, results: &[(Call, String)]) {
        let Some(messages) = request.get_mut("messages").and_then(Value::as_array_mut) else {
            return;
        };
        messages.push(
            response
                .pointer("/choices/0/message")
                .cloned()
                .unwrap_or(json!({"role": "assistant"})),
        );
        for (call, text) in results {
            messages.push(json!({"role": "tool", "tool_call_id": call.id, "content": text}));
        }
    }

    fn strip_ours(&self, response: &mut Value) {
        if let Some(calls) = response
            .pointer_mut("/choices/0/message/tool_calls")
            .and_then(Value::as_array_mut)
        {
            calls.retain(|call| {
                call.pointer("/function/name").and_then(Value::as_str) != Some(RETRIEVE_TOOL)
            });
        }
    }

    /// Asks for an answer without tool calls (the tool list itself unchanged).
    fn refuse_tools(&self, request: &mut Value) {
        request["tool_choice"] = json!("none");
    }

    /// A response whose calls were all ours, made a final answer.
    fn end_turn(&self, response: &mut Value, note: &str) {
        let Some(choice) = response.pointer_mut("/choices/0") else {
            return;
        };
        let message = &mut choice["message"];
        if message["tool_calls"].as_array().is_some_and(Vec::is_empty)
            && let Some(object) = message.as_object_mut()
        {
            object.remove("tool_calls");
        }
        if message["content"].as_str().is_none_or(str::is_empty) {
            message["content"] = json!(note);
        }
        choice["finish_reason"] = json!("stop");
    }

    /// The stream that spells a complete response, chunk by chunk.
    fn events_of(&self, response: &Value) -> Vec<Event> {
        let mut base = response.clone();
        if let Some(object) = base.as_object_mut() {
            object.remove("choices");
            object.remove("usage");
        }
        base["object"] = json!("chat.completion.chunk");
        let chunk = |choice: Value| {
            let mut chunk = base.clone();
            chunk["choices"] = json!([choice]);
            Event::new(None, chunk.to_string())
        };
        let message = &response["choices"][0]["message"];
        let mut events = vec![chunk(
            json!({"index": 0, "delta": {"role": "assistant"}, "finish_reason": null}),
        )];
        if let Some(text) = message["content"].as_str() {
            events.push(chunk(
                json!({"index": 0, "delta": {"content": text}, "finish_reason": null}),
            ));
        }
        for (index, call) in message["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let mut call = call.clone();
            call["index"] = json!(index);
            events.push(chunk(
                json!({"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": null}),
            ));
        }
        let mut last = base.clone();
        last["choices"] = json!([{"index": 0, "delta": {}, "finish_reason": response["choices"][0]["finish_reason"]}]);
        if response.get("usage").is_some_and(|usage| !usage.is_null()) {
            last["usage"] = response["usage"].clone();
        }
        events.push(Event::new(None, last.to_string()));
        events.push(Event::new(None, "[DONE]".to_owned()));
        events
    }

    fn error_body(&self, status: u16, message: &str) -> Value {
        let kind = match status {
            400..=499 => "invalid_request_error",
            _ => "server_error",
        };
        let code = match status {
            401 => json!("invalid_api_key"),
            504 => json!("timeout"),
            _ => Value::Null,
        };
        json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
    }

    fn error_event(&self, message: &str) -> Event {
        Event::new(None, self.error_body(502, message).to_string())
    }

    /// The completion a stream spells out, once it ended with `[DONE]`.
    fn aggregate(&self, events: &[Event]) -> Result<Value, String> {
        let mut head = Value::Null;
        let mut content: Option<String> = None;
        let mut calls: BTreeMap<u64, Value> = BTreeMap::new();
        let mut finish = Value::Null;
        let mut usage = Value::Null;
        let mut done = false;
        for event in events {
            let Some(chunk) = event.json()? else {
                done = true;
                continue;
            };
            if let Some(error) = chunk.get("error") {
                return Err(error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("the upstream stream reported an error")
                    .to_owned());
            }
            if head.is_null() {
                head = chunk.clone();
            }
            if let Some(value) = chunk.get("usage").filter(|usage| !usage.is_null()) {
                usage = value.clone();
            }
            let Some(choice) = chunk.pointer("/choices/0") else {
                continue;
            };
            if let Some(reason) = choice
                .get("finish_reason")
                .filter(|reason| !reason.is_null())
            {
                finish = reason.clone();
            }
            let Some(delta) = choice.get("delta") else {
                continue;
            };
            if let Some(text) = delta.get("content").and_then(Value::as_str) {
                content.get_or_insert_with(String::new).push_str(text);
            }
            for call in delta
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
                let entry = calls.entry(index).or_insert_with(
                    || json!({"id": "", "type": "function", "function": {"name": "", "arguments": ""}}),
                );
                for (pointer, field) in [
                    ("/id", "/id"),
                    ("/function/name", "/function/name"),
                    ("/function/arguments", "/function/arguments"),
                ] {
                    if let Some(piece) = call.pointer(pointer).and_then(Value::as_str)
                        && let Some(Value::String(target)) = entry.pointer_mut(field)
                    {
                        target.push_str(piece);
                    }
                }
            }
        }
        if !done {
            return Err("the upstream stream ended before [DONE]".to_owned());
        }
        let mut message = json!({"role": "assistant", "content": content});
        if !calls.is_empty() {
            message["tool_calls"] = Value::Array(calls.into_values().collect());
        }
        Ok(json!({
            "id": head.get("id").cloned().unwrap_or(Value::Null),
            "object": "chat.completion",
            "created": head.get("created").cloned().unwrap_or(Value::Null),
            "model": head.get("model").cloned().unwrap_or(Value::Null),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        }))
    }

    /// The stream without our tool calls, the others renumbered.
    fn filter_ours(&self, events: Vec<Event>) -> Vec<Event> {
        let mut ours = Vec::new();
        for event in &events {
            if let Ok(Some(chunk)) = event.json() {
                for call in chunk
                    .pointer("/choices/0/delta/tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if call.pointer("/function/name").and_then(Value::as_str) == Some(RETRIEVE_TOOL)
                        && let Some(index) = call.get("index").and_then(Value::as_u64)
                    {
                        ours.push(index);
                    }
                }
            }
        }
        if ours.is_empty() {
            return events;
        }
        events
            .into_iter()
            .map(|event| {
                let Ok(Some(mut chunk)) = event.json() else {
                    return event;
                };
                let Some(calls) = chunk
                    .pointer_mut("/choices/0/delta/tool_calls")
                    .and_then(Value::as_array_mut)
                else {
                    return event;
                };
                calls.retain_mut(|call| {
                    let Some(index) = call.get("index").and_then(Value::as_u64) else {
                        return true;
                    };
                    match wire::renumbered(index, &ours) {
                        Some(renumbered) => {
                            call["index"] = json!(renumbered);
                            true
                        }
                        None => false,
                    }
                });
                if calls.is_empty() {
                    // A chunk that carried only our call carries nothing now.
                    if let Some(delta) = chunk
                        .pointer_mut("/choices/0/delta")
                        .and_then(Value::as_object_mut)
                    {
                        delta.remove("tool_calls");
                    }
                }
                Event::new(event.name.as_deref(), chunk.to_string())
            })
            .collect()
    }

    fn session_messages(&self, request: &Value, response: Option<&Value>) -> Vec<ProxiedMessage> {
        let mut out = Vec::new();
        let all = request
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .cloned()
            .chain(response.and_then(|response| response.pointer("/choices/0/message").cloned()));
        for message in all {
            let role = message
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("user");
            if role == "system" || role == "developer" {
                continue;
            }
            let text = message
                .get("content")
                .map(wire::text_of)
                .unwrap_or_default();
            if !text.is_empty() {
                out.push(ProxiedMessage {
                    role: if role == "function" { "tool" } else { role }.to_owned(),
                    call_id: message
                        .get("tool_call_id")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    text,
                    ..ProxiedMessage::default()
                });
            }
            for call in message
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(ProxiedMessage {
                    role: "assistant".to_owned(),
                    tool: call
                        .pointer("/function/name")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    call_id: call.get("id").and_then(Value::as_str).map(str::to_owned),
                    text: call
                        .pointer("/function/arguments")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    ..ProxiedMessage::default()
                });
            }
        }
        out
    }
}
