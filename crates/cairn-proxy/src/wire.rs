//! What the four provider modules share: the slots of a request that may be
//! compressed, tool calls, the `cairn_retrieve` definition, JSON pointers.

use serde_json::{Value, json};

/// The name of the tool the proxy answers itself.
pub const RETRIEVE_TOOL: &str = "cairn_retrieve";

/// User text at least this long is a paste (a log, a file), compressed like
/// a tool result; shorter user text is the user's own words, left alone.
pub const LARGE_TEXT_BYTES: usize = 16 * 1024;

/// Longest query a block is compressed for, in bytes.
const MAX_QUERY_BYTES: usize = 4096;

/// A string in a request that may be compressed: where it is (a JSON
/// pointer) and the question it is compressed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub pointer: String,
    pub query: Option<String>,
}

/// A tool call in a model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub id: String,
    pub name: String,
    pub arguments: Value,
}

impl Call {
    pub fn is_ours(&self) -> bool {
        self.name == RETRIEVE_TOOL
    }
}

pub const RETRIEVE_DESCRIPTION: &str = "Returns the original content behind a Cairn marker. \
Tool results in this conversation may be compressed: a cut is marked `[cairn: SUMMARY — ccr:REF]`. \
Call this with that `ccr:` reference to read what was cut; pass `lines` (\"120-180\") or `query` \
to get only part of it.";

/// The parameters of `cairn_retrieve`, as a JSON schema every provider takes.
pub fn retrieve_parameters() -> Value {
    json!({
        "type": "object",
        "properties": {
            "ref": {"type": "string", "description": "The ccr: reference from a marker (ccr: and 24 hex digits)"},
            "lines": {"type": "string", "description": "Optional: only these lines of the original, A-B (1-based)"},
            "query": {"type": "string", "description": "Optional: only the lines of the original that match this"}
        },
        "required": ["ref"]
    })
}

/// Escapes one JSON-pointer token.
pub fn token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The text of a message content: a string, or its text parts joined.
pub fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|part| is_text_part(part))
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn is_text_part(part: &Value) -> bool {
    matches!(
        part.get("type").and_then(Value::as_str),
        Some("text" | "input_text" | "output_text")
    )
}

/// The user's question in a user message content: its text that is not a
/// paste, cut to the longest query.
pub fn question_of(content: &Value) -> Option<String> {
    let text = match content {
        Value::String(text) if text.len() < LARGE_TEXT_BYTES => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|part| is_text_part(part))
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .filter(|text| text.len() < LARGE_TEXT_BYTES)
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    as_query(&text)
}

/// A text as a query: trimmed, cut at a character boundary.
pub fn as_query(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut end = text.len().min(MAX_QUERY_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Some(text[..end].to_owned())
}

/// Slots for a tool result's content: the string itself, or each text part.
pub fn tool_result_slots(content: &Value, pointer: &str, query: &Option<String>) -> Vec<Slot> {
    match content {
        Value::String(_) => vec![Slot {
            pointer: pointer.to_owned(),
            query: query.clone(),
        }],
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .filter(|(_, part)| {
                is_text_part(part) && part.get("text").is_some_and(Value::is_string)
            })
            .map(|(index, _)| Slot {
                pointer: format!("{pointer}/{index}/text"),
                query: query.clone(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Slots for the pastes in a user message content.
pub fn large_text_slots(content: &Value, pointer: &str, query: &Option<String>) -> Vec<Slot> {
    match content {
        Value::String(text) if text.len() >= LARGE_TEXT_BYTES => vec![Slot {
            pointer: pointer.to_owned(),
            query: query.clone(),
        }],
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .filter(|(_, part)| {
                is_text_part(part)
                    && part
                        .get("text")
                        .and_then(Value::as_str)
                        .is_some_and(|text| text.len() >= LARGE_TEXT_BYTES)
            })
            .map(|(index, _)| Slot {
                pointer: format!("{pointer}/{index}/text"),
                query: query.clone(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a list of tool definitions already has one named `name` (read by
/// `name_of`).
pub fn has_tool(tools: Option<&Value>, name_of: impl Fn(&Value) -> Option<&str>) -> bool {
    tools.and_then(Value::as_array).is_some_and(|tools| {
        tools
            .iter()
            .any(|tool| name_of(tool) == Some(RETRIEVE_TOOL))
    })
}

/// Where a stream item numbered `index` goes once the items numbered
/// `ours` (the proxy's own calls) are taken out of the stream: `None` for
/// one of ours, else its number less those of ours before it.
pub fn renumbered(index: u64, ours: &[u64]) -> Option<u64> {
    (!ours.contains(&index)).then(|| index - ours.iter().filter(|&&our| our < index).count() as u64)
}

/// Whether a request's `tools` is a non-empty array.
pub fn declares_tools(request: &Value) -> bool {
    request
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|tools| !tools.is_empty())
}

/// The `tools` array of a request, created when missing.
pub fn tools_mut<'a>(request: &'a mut Value, field: &str) -> Option<&'a mut Vec<Value>> {
    let object = request.as_object_mut()?;
    let tools = object
        .entry(field.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    if tools.is_null() {
        *tools = Value::Array(Vec::new());
    }
    tools.as_array_mut()
}

/// A call's arguments given as a JSON string (OpenAI) as a value.
pub fn parse_arguments(arguments: &Value) -> Value {
    match arguments {
        Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        other => other.clone(),
    }
}

/// What the model is told when it keeps calling `cairn_retrieve` past the
/// rounds one request may take.
pub fn limit_note(rounds: u32) -> String {
    format!(
        "cairn: this request has used its {rounds} cairn_retrieve rounds; answer with what \
         you have (the user can ask again to read more)"
    )
}

/// Where a response or a stream event carries token usage.
const USAGE_AT: [&str; 4] = [
    "/usage",
    "/message/usage",
    "/response/usage",
    "/usageMetadata",
];

/// A response's (or event's) usage object, if it has one.
pub fn usage_of(value: &Value) -> Option<&Value> {
    USAGE_AT
        .iter()
        .find_map(|pointer| value.pointer(pointer))
        .filter(|usage| usage.is_object())
}

/// Adds every number of `earlier` into `total`, field by field (nested
/// objects too): the usage of several upstream calls as one.
pub fn add_usage(total: &mut Value, earlier: &Value) {
    add_numbers(total, earlier, false);
}

/// Adds `earlier`'s numbers into the fields `total` has, or all of them.
fn add_numbers(total: &mut Value, earlier: &Value, only_present: bool) {
    let Value::Object(earlier) = earlier else {
        return;
    };
    if !total.is_object() {
        *total = Value::Object(serde_json::Map::new());
    }
    let Some(total) = total.as_object_mut() else {
        return;
    };
    for (key, value) in earlier {
        match value {
            Value::Number(number) => {
                let sum = match (total.get(key).and_then(Value::as_u64), number.as_u64()) {
                    (Some(a), Some(b)) => json!(a + b),
                    (None, Some(b)) if !only_present && !total.contains_key(key) => json!(b),
                    _ => continue,
                };
                total.insert(key.clone(), sum);
            }
            Value::Object(_) if !only_present || total.contains_key(key) => add_numbers(
                total.entry(key.clone()).or_insert(Value::Null),
                value,
                only_present,
            ),
            _ => {}
        }
    }
}

/// Adds `earlier` into every usage object of a whole response.
pub fn patch_usage(value: &mut Value, earlier: &Value) {
    for pointer in USAGE_AT {
        if let Some(usage) = value.pointer_mut(pointer).filter(|usage| usage.is_object()) {
            add_usage(usage, earlier);
        }
    }
}

/// Adds `earlier` into the counts a stream event carries, and only those
/// (Anthropic's `message_delta` may carry output tokens alone, and a client
/// takes its input tokens from `message_start`).
pub fn patch_event_usage(value: &mut Value, earlier: &Value) {
    for pointer in USAGE_AT {
        if let Some(usage) = value.pointer_mut(pointer).filter(|usage| usage.is_object()) {
            add_numbers(usage, earlier, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_items_leave_the_stream_and_the_rest_close_up() {
        let ours = [1, 3];
        let renumbered: Vec<Option<u64>> = (0..5).map(|index| renumbered(index, &ours)).collect();
        assert_eq!(renumbered, [Some(0), None, Some(1), None, Some(2)]);
        assert_eq!(super::renumbered(7, &[]), Some(7));
    }
}
