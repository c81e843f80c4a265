//! OpenAI Responses (`POST /v1/responses`, what Codex speaks): the
//! conversation is `input` items; tool results are `function_call_output`
//! (and `custom_tool_call_output`) items; streams end with
//! `response.completed`, which carries the whole response. Codex 0.171
//! speaks "responses-lite": no top-level `tools`, its tools in an `input`
//! item of type `additional_tools` (grouped in namespaces), shell commands
//! run by a custom `exec` tool whose output is a list of `input_text` parts.

use cairn_service::ProxiedMessage;
use serde_json::{Value, json};

use crate::provider::Wire;
use crate::sse::Event;
use crate::wire::{self, Call, RETRIEVE_TOOL, Slot};

pub struct OpenAiResponses;

impl Wire for OpenAiResponses {
    fn slots(&self, request: &Value) -> Vec<Slot> {
        let mut slots = Vec::new();
        let mut question = None;
        let items = match request.get("input") {
            Some(Value::Array(items)) => items,
            // `input` as one string is one user message: a paste when it is long
            // (then there is no question beside it to compress it for).
            Some(input @ Value::String(_)) => {
                return wire::large_text_slots(input, "/input", &None);
            }
            _ => return slots,
        };
        for (index, item) in items.iter().enumerate() {
            let kind = item
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("message");
            match kind {
                "function_call_output" | "custom_tool_call_output" => {
                    if let Some(output) = item.get("output") {
                        slots.extend(wire::tool_result_slots(
                            output,
                            &format!("/input/{index}/output"),
                            &question,
                        ));
                    }
                }
                "message" if item.get("role").and_then(Value::as_str) == Some("user") => {
                    if let Some(content) = item.get("content") {
                        if let Some(text) = wire::question_of(content) {
                            question = Some(text);
                        }
                        slots.extend(wire::large_text_slots(
                            content,
                            &format!("/input/{index}/content"),
                            &question,
                        ));
                    }
                }
                _ => {}
            }
        }
        slots
    }

    fn declares_tools(&self, request: &Value) -> bool {
        wire::declares_tools(request)
            || additional_tools(request).any(|tools| !names(tools).is_empty())
    }

    fn has_retrieve_tool(&self, request: &Value) -> bool {
        request
            .get("tools")
            .into_iter()
            .chain(additional_tools(request))
            .any(|tools| names(tools).contains(&RETRIEVE_TOOL))
    }

    /// Beside the client's own tools: in its first `additional_tools` item (in
    /// its `functions` namespace when it has one), else in `tools`.
    fn add_retrieve_tool(&self, request: &mut Value) {
        let definition = json!({
            "type": "function",
            "name": RETRIEVE_TOOL,
            "description": wire::RETRIEVE_DESCRIPTION,
            "parameters": wire::retrieve_parameters(),
            "strict": false,
        });
        let lite = request
            .get_mut("input")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .find(|item| item.get("type").and_then(Value::as_str) == Some("additional_tools"))
            .and_then(|item| item.get_mut("tools"))
            .and_then(Value::as_array_mut);
        if let Some(tools) = lite {
            let functions = tools
                .iter_mut()
                .find(|tool| {
                    tool.get("type").and_then(Value::as_str) == Some("namespace")
                        && tool.get("name").and_then(Value::as_str) == Some("functions")
                })
                .and_then(|namespace| namespace.get_mut("tools"))
                .and_then(Value::as_array_mut);
            match functions {
                Some(functions) => functions.push(definition),
                None => tools.push(definition),
            }
        } else if let Some(tools) = wire::tools_mut(request, "tools") {
            tools.push(definition);
        }
    }

    fn calls(&self, response: &Value) -> Vec<Call> {
        response
            .get("output")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|item| {
                matches!(
                    item.get("type").and_then(Value::as_str),
                    Some("function_call" | "custom_tool_call")
                )
            })
            .map(|item| Call {
                id: item
                    .get("call_id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                name: item
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                // A custom tool's input is free text, not JSON arguments.
                arguments: match item.get("arguments") {
                    Some(arguments) => wire::parse_arguments(arguments),
                    None => item.get("input").cloned().unwrap_or(Value::Null),
                },
            })
            .collect()
    }

    fn continue_with(&self, request: &mut Value, response: &Value, results: &[(Call, String)]) {
        let Some(object) = request.as_object_mut() else {
            return;
        };
        let input = object.entry("input").or_insert_with(|| json!([]));
        if let Value::String(text) = input {
            *input = json!([{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}]);
        }
        let Some(items) = input.as_array_mut() else {
            return;
        };
        items.extend(
            response
                .get("output")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .cloned(),
        );
        for (call, text) in results {
            items.push(json!({"type": "function_call_output", "call_id": call.id, "output": text}));
        }
    }

    fn strip_ours(&self, response: &mut Value) {
        if let Some(items) = response.get_mut("output").and_then(Value::as_array_mut) {
            items.retain(|item| !is_ours(item));
        }
    }

    /// Asks for an answer without tool calls (the tool list itself unchanged).
    fn refuse_tools(&self, request: &mut Value) {
        request["tool_choice"] = json!("none");
    }

    /// A response whose calls were all ours, made a final answer.
    fn end_turn(&self, response: &mut Value, note: &str) {
        // A reasoning item left alone is no answer: the note goes after it.
        let has_message = response["output"]
            .as_array()
            .is_some_and(|items| items.iter().any(|item| item["type"] == "message"));
        if !has_message {
            if !response["output"].is_array() {
                response["output"] = json!([]);
            }
            if let Some(items) = response["output"].as_array_mut() {
                items.push(json!({
                    "type": "message", "id": "msg_cairn_limit", "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": note, "annotations": []}]
                }));
            }
        }
        response["status"] = json!("completed");
    }

    /// The stream that spells a complete response, item by item.
    fn events_of(&self, response: &Value) -> Vec<Event> {
        let mut created = response.clone();
        created["status"] = json!("in_progress");
        created["output"] = json!([]);
        let mut events = vec![Event::new(
            Some("response.created"),
            json!({"type": "response.created", "response": created}).to_string(),
        )];
        for (index, item) in response["output"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            for name in ["response.output_item.added", "response.output_item.done"] {
                events.push(Event::new(
                    Some(name),
                    json!({"type": name, "output_index": index, "item": item}).to_string(),
                ));
            }
        }
        events.push(Event::new(
            Some("response.completed"),
            json!({"type": "response.completed", "response": response}).to_string(),
        ));
        events
    }

    fn error_body(&self, status: u16, message: &str) -> Value {
        crate::openai_chat::OpenAiChat.error_body(status, message)
    }

    fn error_event(&self, message: &str) -> Event {
        Event::new(
            Some("error"),
            json!({"type": "error", "code": "server_error", "message": message, "param": null})
                .to_string(),
        )
    }

    /// The response a stream ends with (`response.completed`, or
    /// `response.incomplete`).
    fn aggregate(&self, events: &[Event]) -> Result<Value, String> {
        for event in events {
            let Some(data) = event.json()? else { continue };
            match data.get("type").and_then(Value::as_str).unwrap_or("") {
                "response.completed" | "response.incomplete" => {
                    return data
                        .get("response")
                        .cloned()
                        .ok_or_else(|| "the final event has no response".to_owned());
                }
                "response.failed" => {
                    return Err(data
                        .pointer("/response/error/message")
                        .and_then(Value::as_str)
                        .unwrap_or("the upstream response failed")
                        .to_owned());
                }
                "error" => {
                    return Err(data
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("the upstream stream reported an error")
                        .to_owned());
                }
                _ => {}
            }
        }
        Err("the upstream stream ended before response.completed".to_owned())
    }

    /// The stream without our calls' items, the others renumbered.
    fn filter_ours(&self, events: Vec<Event>) -> Vec<Event> {
        let mut ours = Vec::new();
        for event in &events {
            if let Ok(Some(data)) = event.json()
                && data.get("type").and_then(Value::as_str) == Some("response.output_item.added")
                && data.get("item").is_some_and(is_ours)
                && let Some(index) = data.get("output_index").and_then(Value::as_u64)
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
                if let Some(index) = data.get("output_index").and_then(Value::as_u64) {
                    data["output_index"] = json!(wire::renumbered(index, &ours)?);
                }
                if let Some(response) = data.get_mut("response") {
                    self.strip_ours(response);
                }
                Some(Event::new(event.name.as_deref(), data.to_string()))
            })
            .collect()
    }

    fn session_messages(&self, request: &Value, response: Option<&Value>) -> Vec<ProxiedMessage> {
        let mut out = Vec::new();
        let input: Vec<Value> = match request.get("input") {
            Some(Value::String(text)) => {
                vec![json!({"type": "message", "role": "user", "content": text})]
            }
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        let output = response
            .and_then(|response| response.get("output"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for item in input.iter().chain(output.iter()) {
            let string = |field: &str| item.get(field).and_then(Value::as_str).map(str::to_owned);
            match item
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("message")
            {
                "message" => {
                    let role = item.get("role").and_then(Value::as_str).unwrap_or("user");
                    if role == "system" || role == "developer" {
                        continue;
                    }
                    out.push(ProxiedMessage {
                        role: role.to_owned(),
                        text: item.get("content").map(wire::text_of).unwrap_or_default(),
                        ..ProxiedMessage::default()
                    });
                }
                "function_call" | "custom_tool_call" => out.push(ProxiedMessage {
                    role: "assistant".to_owned(),
                    tool: string("name"),
                    call_id: string("call_id"),
                    text: string("arguments")
                        .or_else(|| string("input"))
                        .unwrap_or_default(),
                    ..ProxiedMessage::default()
                }),
                "function_call_output" | "custom_tool_call_output" => out.push(ProxiedMessage {
                    role: "tool".to_owned(),
                    call_id: string("call_id"),
                    text: item.get("output").map(wire::text_of).unwrap_or_default(),
                    ..ProxiedMessage::default()
                }),
                _ => {}
            }
        }
        out
    }
}

/// The `additional_tools` input items: where "responses-lite" clients
/// (Codex 0.171) keep their tools instead of a top-level `tools`.
fn additional_tools(request: &Value) -> impl Iterator<Item = &Value> {
    request
        .get("input")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|item| item.get("type").and_then(Value::as_str) == Some("additional_tools"))
        .filter_map(|item| item.get("tools"))
}

/// Tools and the tools of namespaces (`{"type": "namespace", "tools": […]}`).
fn names(tools: &Value) -> Vec<&str> {
    let mut names = Vec::new();
    for tool in tools.as_array().into_iter().flatten() {
        names.extend(tool.get("name").and_then(Value::as_str));
        if tool.get("type").and_then(Value::as_str) == Some("namespace")
            && let Some(inner) = tool.get("tools")
        {
            names.extend(self::names(inner));
        }
    }
    names
}

fn is_ours(item: &Value) -> bool {
    item.get("type").and_then(Value::as_str) == Some("function_call")
        && item.get("name").and_then(Value::as_str) == Some(RETRIEVE_TOOL)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codex 0.171's request shape: tools in an `additional_tools` item.
    fn lite() -> Value {
        json!({
            "model": "gpt-x",
            "input": [
                {"type": "additional_tools", "role": "developer", "tools": [
                    {"type": "namespace", "name": "functions", "description": "", "tools": [
                        {"type": "custom", "name": "exec", "format": {"type": "grammar"}},
                        {"type": "function", "name": "wait", "parameters": {}}
                    ]},
                    {"type": "namespace", "name": "clock", "tools": [{"type": "function", "name": "sleep"}]}
                ]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
            ]
        })
    }

    #[test]
    fn responses_lite_keeps_cairn_retrieve_where_it_keeps_its_tools() {
        let mut request = lite();
        assert!(OpenAiResponses.declares_tools(&request));
        assert!(!OpenAiResponses.has_retrieve_tool(&request));
        OpenAiResponses.add_retrieve_tool(&mut request);
        assert!(
            request.get("tools").is_none(),
            "no top-level tools beside them"
        );
        let functions = &request["input"][0]["tools"][0]["tools"];
        assert_eq!(functions[2]["name"], RETRIEVE_TOOL, "{functions}");
        assert!(OpenAiResponses.has_retrieve_tool(&request));
        // Without a `functions` namespace, beside the item's other tools.
        let mut request = lite();
        request["input"][0]["tools"][0]["name"] = json!("other");
        OpenAiResponses.add_retrieve_tool(&mut request);
        assert_eq!(request["input"][0]["tools"][2]["name"], RETRIEVE_TOOL);
        // The classic shape: top-level tools.
        let mut classic = json!({"tools": [{"type": "function", "name": "shell"}], "input": "hi"});
        assert!(OpenAiResponses.declares_tools(&classic));
        OpenAiResponses.add_retrieve_tool(&mut classic);
        assert_eq!(classic["tools"][1]["name"], RETRIEVE_TOOL);
        assert!(!OpenAiResponses.declares_tools(&json!({"input": "hi"})));
    }

    #[test]
    fn an_exec_output_is_compressed_part_by_part_for_the_question_before_it() {
        let request = json!({"input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "run seq"}]},
            {"type": "custom_tool_call", "call_id": "c1", "name": "exec", "input": "text(1)"},
            {"type": "custom_tool_call_output", "call_id": "c1", "output": [
                {"type": "input_text", "text": "Script completed"},
                {"type": "input_text", "text": "1\n2\n3"}
            ]}
        ]});
        let slots = OpenAiResponses.slots(&request);
        assert_eq!(
            slots
                .iter()
                .map(|slot| slot.pointer.as_str())
                .collect::<Vec<_>>(),
            ["/input/2/output/0/text", "/input/2/output/1/text"]
        );
        assert!(
            slots
                .iter()
                .all(|slot| slot.query.as_deref() == Some("run seq"))
        );
    }
}
