//! The request as it goes upstream: the client's bytes, with only what the
//! proxy changed written anew. serde_json sorts an object's keys and
//! normalises spacing, escapes and numbers, so re-serialising a request
//! would reorder tool schemas and change bytes a provider's prompt cache
//! keys on; instead [`render`] walks the changed value beside the client's
//! original and copies every unchanged value, key and separator byte for
//! byte. A changed string is written anew; a member or item the proxy added
//! goes at the end of its object or array, written compactly.

use serde_json::Value;

/// Where a value lies in the original bytes, and its children.
#[derive(Debug)]
struct Node {
    start: usize,
    end: usize,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Scalar,
    Array(Vec<Node>),
    /// Members in the original's order; the bytes from the previous member's
    /// end (or the opening brace) to a member's value are its comma, key and
    /// colon, copied as they were.
    Object(Vec<(String, Node)>),
}

/// The bytes of `changed`, a value parsed from `bytes` (as `original`) and
/// then edited. Falls back to plain serialisation when `bytes` cannot be
/// walked (it always can when `original` was parsed from it).
pub fn render(bytes: &[u8], original: &Value, changed: &Value) -> Vec<u8> {
    if original == changed {
        return bytes.to_vec();
    }
    let mut scanner = Scanner { bytes, at: 0 };
    scanner.space();
    let Some(root) = scanner.value(0) else {
        return compact(changed);
    };
    let mut out = Vec::with_capacity(bytes.len() + 1024);
    out.extend_from_slice(&bytes[..root.start]);
    write(bytes, &root, original, changed, &mut out);
    out.extend_from_slice(&bytes[root.end..]);
    out
}

fn compact(value: &Value) -> Vec<u8> {
    // Serialising a `Value` cannot fail: its keys are strings.
    serde_json::to_vec(value).unwrap_or_default()
}

fn write(bytes: &[u8], node: &Node, original: &Value, changed: &Value, out: &mut Vec<u8>) {
    if original == changed {
        out.extend_from_slice(&bytes[node.start..node.end]);
        return;
    }
    // The bytes between the last child's end and the closing bracket.
    let close = node.end - 1;
    match (&node.kind, original, changed) {
        (Kind::Array(items), Value::Array(before), Value::Array(after))
            if after.len() >= before.len() && items.len() == before.len() =>
        {
            let mut at = node.start;
            for ((item, old), new) in items.iter().zip(before).zip(after) {
                out.extend_from_slice(&bytes[at..item.start]);
                write(bytes, item, old, new, out);
                at = item.end;
            }
            out.extend_from_slice(&bytes[at..close]);
            for (index, new) in after.iter().enumerate().skip(before.len()) {
                if index > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&compact(new));
            }
            out.push(b']');
        }
        (Kind::Object(members), Value::Object(before), Value::Object(after)) => {
            // Each original member with its old and new value; none when a
            // key was removed or written twice (serde_json kept the last).
            let kept: Option<Vec<_>> = members
                .iter()
                .map(|(key, member)| Some((member, before.get(key)?, after.get(key)?)))
                .collect();
            let Some(kept) = kept.filter(|kept| kept.len() == before.len()) else {
                out.extend_from_slice(&compact(changed));
                return;
            };
            let mut at = node.start;
            for (member, old, new) in kept {
                out.extend_from_slice(&bytes[at..member.start]);
                write(bytes, member, old, new, out);
                at = member.end;
            }
            out.extend_from_slice(&bytes[at..close]);
            let mut first = members.is_empty();
            for (key, new) in after.iter().filter(|(key, _)| !before.contains_key(*key)) {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(&compact(&Value::String(key.clone())));
                out.push(b':');
                out.extend_from_slice(&compact(new));
            }
            out.push(b'}');
        }
        _ => out.extend_from_slice(&compact(changed)),
    }
}

/// A walk over JSON text that records where each value lies.
struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// Deeper than serde_json parses by default; a deeper text is not walked.
const MAX_DEPTH: usize = 256;

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek() == Some(byte)).then(|| self.at += 1)
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        let start = self.at;
        let kind = match self.peek()? {
            b'{' => Kind::Object(self.object(depth)?),
            b'[' => Kind::Array(self.array(depth)?),
            b'"' => {
                self.string()?;
                Kind::Scalar
            }
            _ => {
                let from = self.at;
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'0'..=b'9' | b'a'..=b'z' | b'E')
                ) {
                    self.at += 1;
                }
                if self.at == from {
                    return None;
                }
                Kind::Scalar
            }
        };
        Some(Node {
            start,
            end: self.at,
            kind,
        })
    }

    fn array(&mut self, depth: usize) -> Option<Vec<Node>> {
        self.eat(b'[')?;
        let mut items = Vec::new();
        self.space();
        if self.eat(b']').is_some() {
            return Some(items);
        }
        loop {
            self.space();
            items.push(self.value(depth + 1)?);
            self.space();
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(items);
                }
                _ => return None,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<Vec<(String, Node)>> {
        self.eat(b'{')?;
        let mut members = Vec::new();
        self.space();
        if self.eat(b'}').is_some() {
            return Some(members);
        }
        loop {
            self.space();
            let (from, to) = self.string()?;
            let raw = &self.bytes[from..to];
            let key = if raw.contains(&b'\\') {
                serde_json::from_slice::<String>(raw).ok()?
            } else {
                String::from_utf8(raw[1..raw.len() - 1].to_vec()).ok()?
            };
            self.space();
            self.eat(b':')?;
            self.space();
            let value = self.value(depth + 1)?;
            members.push((key, value));
            self.space();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(members);
                }
                _ => return None,
            }
        }
    }

    /// A string token, quotes included: its span.
    fn string(&mut self) -> Option<(usize, usize)> {
        let start = self.at;
        self.eat(b'"')?;
        loop {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some((start, self.at));
                }
                b'\\' => self.at += 2,
                _ => self.at += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn edited(text: &str, edit: impl FnOnce(&mut Value)) -> String {
        let original: Value = serde_json::from_str(text).expect("JSON");
        let mut changed = original.clone();
        edit(&mut changed);
        let out = render(text.as_bytes(), &original, &changed);
        let reparsed: Value = serde_json::from_slice(&out).expect("the output is JSON");
        assert_eq!(reparsed, changed, "the output means the changed value");
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn an_unchanged_request_goes_byte_for_byte() {
        let text = "{\"z\": 1, \"a\": [1.0, \"\\u00e9\", {\"y\":2,\"b\":3}] }\n";
        assert_eq!(edited(text, |_| {}), text);
    }

    #[test]
    fn a_changed_string_is_all_that_changes() {
        let text = r#"{"model":"m", "tools": [{"name":"t","input_schema":{"type":"object","properties":{"z":{},"a":{}}}}],
 "messages": [{"role":"user","content":"hi"}, {"role":"user","content":"a long tool output"}]}"#;
        let out = edited(text, |value| {
            value["messages"][1]["content"] = json!("a view [cairn: cut — ccr:abc]");
        });
        assert_eq!(
            out,
            text.replace("a long tool output", "a view [cairn: cut — ccr:abc]")
        );
    }

    #[test]
    fn added_items_and_members_go_at_the_end_and_the_rest_keeps_its_bytes() {
        let text = r#"{ "tools" : [ {"name":"b","x":1} ] , "messages":[] }"#;
        let out = edited(text, |value| {
            value["tools"]
                .as_array_mut()
                .expect("tools")
                .push(json!({"name": "cairn_retrieve"}));
            value["messages"]
                .as_array_mut()
                .expect("messages")
                .push(json!({"role": "user"}));
            value["stream"] = json!(true);
        });
        assert_eq!(
            out,
            r#"{ "tools" : [ {"name":"b","x":1} ,{"name":"cairn_retrieve"}] , "messages":[{"role":"user"}] ,"stream":true}"#
        );
        let empty = edited("{}", |value| value["tools"] = json!([]));
        assert_eq!(empty, r#"{"tools":[]}"#);
    }

    #[test]
    fn a_value_that_changed_shape_is_written_anew() {
        let text = r#"{"input": "a pasted log", "b": 1}"#;
        let out = edited(text, |value| {
            value["input"] = json!([{"role": "user", "content": "x"}]);
        });
        assert_eq!(out, r#"{"input": [{"content":"x","role":"user"}], "b": 1}"#);
        let removed = edited(r#"{"a": [1, 2, 3], "k": {"x": 1, "y": 2}}"#, |value| {
            value["a"].as_array_mut().expect("a").pop();
            value["k"].as_object_mut().expect("k").remove("x");
        });
        assert_eq!(removed, r#"{"a": [1,2], "k": {"y":2}}"#);
    }

    #[test]
    fn escaped_keys_and_duplicate_keys_are_handled() {
        let out = edited(r#"{"a\/b": "x", "c": "y"}"#, |value| {
            value["c"] = json!("z");
        });
        assert_eq!(out, r#"{"a\/b": "x", "c": "z"}"#);
        // serde_json keeps the last of a duplicated key; so does the output.
        let out = edited(r#"{"a": 1, "a": 2, "c": "y"}"#, |value| {
            value["c"] = json!("z");
        });
        assert_eq!(out, r#"{"a":2,"c":"z"}"#);
    }
}
