//! Gemini (`POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent`): the conversation is `contents`; tool results
//! are `functionResponse` parts, whose `response` object holds the output;
//! a stream is a run of whole `GenerateContentResponse` chunks.

use cairn_service::ProxiedMessage;
use serde_json::{Value, json};

use crate::provider::Wire;
use crate::sse::Event;
use crate::wire::{self, Call, RETRIEVE_TOOL, Slot};

pub struct Gemini;

impl Wire for Gemini {
    fn slots(&self, request: &Value) -> Vec<Slot> {
        let mut slots = Vec::new();
        let mut question = None;
        let Some(contents) = request.get("contents").and_then(Value::as_array) else {
            return slots;
        };
        for (index, content) in contents.iter().enumerate() {
            let Some(parts) = content.get("parts").and_then(Value::as_array) else {
                continue;
            };
            let user = content
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("user")
                == "user";
            if user {
                let text = parts
                    .iter()
                    .filter_map(|part| part.get("text").and_then(Value::as_str))
                    .filter(|text| text.len() < wire::LARGE_TEXT_BYTES)
                    .collect::<Vec<_>>()
                    .join("\n");
                if let Some(text) = wire::as_query(&text) {
                    question = Some(text);
                }
            }
            for (at, part) in parts.iter().enumerate() {
                let pointer = format!("/contents/{index}/parts/{at}");
                if let Some(response) = part.pointer("/functionResponse/response") {
                    strings(
                        response,
                        &format!("{pointer}/functionResponse/response"),
                        &question,
                        &mut slots,
                    );
                } else if user
                    && part
                        .get("text")
                        .and_then(Value::as_str)
                        .is_some_and(|text| text.len() >= wire::LARGE_TEXT_BYTES)
                {
                    slots.push(Slot {
                        pointer: format!("{pointer}/text"),
                        query: question.clone(),
                    });
                }
            }
        }
        slots
    }

    fn has_retrieve_tool(&self, request: &Value) -> bool {
        request
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|tool| tool.get("functionDeclarations").and_then(Value::as_array))
            .flatten()
            .any(|declaration| {
                declaration.get("name").and_then(Value::as_str) == Some(RETRIEVE_TOOL)
            })
    }

    fn add_retrieve_tool(&self, request: &mut Value) {
        if let Some(tools) = wire::tools_mut(request, "tools") {
            tools.push(json!({
                "functionDeclarations": [{
                    "name": RETRIEVE_TOOL,
                    "description": wire::RETRIEVE_DESCRIPTION,
                    "parameters": wire::retrieve_parameters(),
                }]
            }));
        }
    }

    fn calls(&self, response: &Value) -> Vec<Call> {
        parts(response)
            .enumerate()
            .filter_map(|(index, part)| {
                let call = part.get("functionCall")?;
                Some(Call {
                    id: call
                        .get("id")
                        .and_then(Value::as_str)
                        .map_or_else(|| format!("call-{index}"), str::to_owned),
                    name: call
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    arguments: call.get("args").cloned().unwrap_or(Value::Null),
                })
            })
            .collect()
    }

    fn continue_with(&self, request: &mut Value, response: &Value, results: &[(Call, String)]) {
        let Some(contents) = request.get_mut("contents").and_then(Value::as_array_mut) else {
            return;
        };
        let mut model = response
            .pointer("/candidates/0/content")
            .cloned()
            .unwrap_or(json!({"parts": []}));
        model["role"] = json!("model");
        contents.push(model);
        let parts: Vec<Value> = results
            .iter()
            .map(|(call, text)| {
                let mut response = json!({"name": RETRIEVE_TOOL, "response": {"content": text}});
                if !call.id.starts_with("call-") {
                    response["id"] = json!(call.id);
                }
                json!({"functionResponse": response})
            })
            .collect();
        contents.push(json!({"role": "user", "parts": parts}));
    }

    fn strip_ours(&self, response: &mut Value) {
        if let Some(parts) = response
            .pointer_mut("/candidates/0/content/parts")
            .and_then(Value::as_array_mut)
        {
            parts.retain(|part| !is_ours(part));
        }
    }

    /// Asks for an answer without function calls (the tools unchanged).
    fn refuse_tools(&self, request: &mut Value) {
        request["toolConfig"] = json!({"functionCallingConfig": {"mode": "NONE"}});
    }

    /// A response whose calls were all ours, made a final answer.
    fn end_turn(&self, response: &mut Value, note: &str) {
        let Some(candidate) = response.pointer_mut("/candidates/0") else {
            return;
        };
        // A thought left alone is no answer: the note goes after it.
        let has_text = candidate
            .pointer("/content/parts")
            .and_then(Value::as_array)
            .is_some_and(|parts| {
                parts
                    .iter()
                    .any(|part| part.get("text").is_some() && part["thought"] != true)
            });
        if !has_text {
            if candidate
                .pointer("/content/parts")
                .and_then(Value::as_array)
                .is_none()
            {
                candidate["content"] = json!({"role": "model", "parts": []});
            }
            if let Some(parts) = candidate
                .pointer_mut("/content/parts")
                .and_then(Value::as_array_mut)
            {
                parts.push(json!({"text": note}));
            }
        }
        candidate["finishReason"] = json!("STOP");
    }

    /// The stream that spells a complete response: one chunk.
    fn events_of(&self, response: &Value) -> Vec<Event> {
        vec![Event::new(None, response.to_string())]
    }

    fn error_body(&self, status: u16, message: &str) -> Value {
        let name = match status {
            400 | 413 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            429 => "RESOURCE_EXHAUSTED",
            503 => "UNAVAILABLE",
            504 => "DEADLINE_EXCEEDED",
            _ => "INTERNAL",
        };
        json!({"error": {"code": status, "message": message, "status": name}})
    }

    fn error_event(&self, message: &str) -> Event {
        Event::new(None, self.error_body(502, message).to_string())
    }

    /// The response a stream's chunks add up to, once one gave a finish reason.
    fn aggregate(&self, events: &[Event]) -> Result<Value, String> {
        let mut last = Value::Null;
        let mut merged: Vec<Value> = Vec::new();
        let mut finish = Value::Null;
        for event in events {
            let Some(chunk) = event.json()? else { continue };
            if let Some(error) = chunk.get("error") {
                return Err(error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("the upstream stream reported an error")
                    .to_owned());
            }
            for part in parts(&chunk) {
                // Consecutive text parts are one text.
                if let (Some(text), Some(previous)) = (
                    part.get("text").and_then(Value::as_str),
                    merged.last_mut().filter(|previous| {
                        previous.get("text").is_some() && previous.get("thought").is_none()
                    }),
                ) && part.get("thought").is_none()
                {
                    let joined = format!(
                        "{}{text}",
                        previous.get("text").and_then(Value::as_str).unwrap_or("")
                    );
                    previous["text"] = json!(joined);
                } else {
                    merged.push(part.clone());
                }
            }
            if let Some(reason) = chunk.pointer("/candidates/0/finishReason") {
                finish = reason.clone();
            }
            last = chunk;
        }
        if finish.is_null() {
            return Err("the upstream stream ended before a finishReason".to_owned());
        }
        let mut response = last;
        response["candidates"] = json!([{
            "content": {"role": "model", "parts": merged},
            "finishReason": finish,
            "index": 0,
        }]);
        Ok(response)
    }

    /// The stream without our calls.
    fn filter_ours(&self, events: Vec<Event>) -> Vec<Event> {
        events
            .into_iter()
            .map(|event| {
                let Ok(Some(mut chunk)) = event.json() else {
                    return event;
                };
                if !parts(&chunk).any(is_ours) {
                    return event;
                }
                self.strip_ours(&mut chunk);
                Event::new(event.name.as_deref(), chunk.to_string())
            })
            .collect()
    }

    /// The conversation as session messages. A call in the answer that has no
    /// id yet is left out: Gemini CLI gives it one before it sends it back (with
    /// its result), and that is the copy recorded, the one its file holds too.
    fn session_messages(&self, request: &Value, response: Option<&Value>) -> Vec<ProxiedMessage> {
        let mut out = Vec::new();
        let sent = request
            .get("contents")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|content| (content, false));
        let answer = response
            .and_then(|response| response.pointer("/candidates/0/content"))
            .map(|content| (content, true));
        for (content, answered) in sent.chain(answer) {
            let role = match content.get("role").and_then(Value::as_str) {
                Some("model") => "assistant",
                _ => "user",
            };
            for part in content
                .get("parts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if part.get("thought").and_then(Value::as_bool) == Some(true) {
                    continue;
                }
                if let Some(text) = part.get("text").and_then(Value::as_str) {
                    // Gemini CLI files the model's text without its trailing
                    // whitespace; recorded the same way, the two copies of
                    // an answer are one message.
                    let text = if role == "assistant" {
                        text.trim_end()
                    } else {
                        text
                    };
                    out.push(ProxiedMessage {
                        role: role.to_owned(),
                        text: text.to_owned(),
                        ..ProxiedMessage::default()
                    });
                } else if let Some(call) = part.get("functionCall") {
                    let id = call.get("id").and_then(Value::as_str).map(str::to_owned);
                    if answered && id.is_none() {
                        continue;
                    }
                    out.push(ProxiedMessage {
                        role: "assistant".to_owned(),
                        tool: call.get("name").and_then(Value::as_str).map(str::to_owned),
                        call_id: id,
                        text: call.get("args").map(Value::to_string).unwrap_or_default(),
                        ..ProxiedMessage::default()
                    });
                } else if let Some(result) = part.get("functionResponse") {
                    let response = result.get("response").cloned().unwrap_or(Value::Null);
                    let text = match response.get("output").or_else(|| response.get("content")) {
                        Some(Value::String(text)) => text.clone(),
                        _ => response.to_string(),
                    };
                    out.push(ProxiedMessage {
                        role: "tool".to_owned(),
                        tool: result
                            .get("name")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        call_id: result.get("id").and_then(Value::as_str).map(str::to_owned),
                        text,
                        ..ProxiedMessage::default()
                    });
                }
            }
        }
        out
    }
}

/// Strings of a function response shorter than this are left alone.
const MIN_RESPONSE_STRING: usize = 256;

/// Every long string inside a function response, in document order.
fn strings(value: &Value, pointer: &str, query: &Option<String>, slots: &mut Vec<Slot>) {
    match value {
        Value::String(text) if text.len() >= MIN_RESPONSE_STRING => slots.push(Slot {
            pointer: pointer.to_owned(),
            query: query.clone(),
        }),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                strings(item, &format!("{pointer}/{index}"), query, slots);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                strings(
                    item,
                    &format!("{pointer}/{}", wire::token(key)),
                    query,
                    slots,
                );
            }
        }
        _ => {}
    }
}

fn parts(response: &Value) -> impl Iterator<Item = &Value> {
    response
        .pointer("/candidates/0/content/parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn is_ours(part: &Value) -> bool {
    part.pointer("/functionCall/name").and_then(Value::as_str) == Some(RETRIEVE_TOOL)
}
