//! Server-sent events: an incremental parser for upstream streams, and the
//! bytes of an event for the client.

/// One event: its `event:` name (if any) and its `data:` lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: Option<String>,
    pub data: String,
}

impl Event {
    pub fn new(name: Option<&str>, data: String) -> Event {
        Event {
            name: name.map(str::to_owned),
            data,
        }
    }

    /// The event as it goes on the wire, with its blank line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(self.data.len() + 32);
        if let Some(name) = &self.name {
            out.push_str("event: ");
            out.push_str(name);
            out.push('\n');
        }
        for line in self.data.split('\n') {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        out.into_bytes()
    }

    /// The data as JSON; `None` for the `[DONE]` sentinel.
    pub fn json(&self) -> Result<Option<serde_json::Value>, String> {
        if self.data.trim() == "[DONE]" {
            return Ok(None);
        }
        serde_json::from_str(&self.data)
            .map(Some)
            .map_err(|error| format!("an event's data is not JSON ({error})"))
    }
}

/// Longest event accepted from upstream.
const MAX_EVENT_BYTES: usize = 64 * 1024 * 1024;

/// Splits a byte stream into events, whatever the chunk boundaries.
#[derive(Debug, Default)]
pub struct Parser {
    buffer: Vec<u8>,
    name: Option<String>,
    data: Vec<String>,
    has_data: bool,
}

impl Parser {
    /// Feeds a chunk; returns the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Event>, String> {
        self.buffer.extend_from_slice(chunk);
        if self.buffer.len() > MAX_EVENT_BYTES {
            return Err("an event is larger than 64 MiB".to_owned());
        }
        let mut events = Vec::new();
        while let Some(end) = self.buffer.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let line = std::str::from_utf8(&line)
                .map_err(|_| "the stream is not UTF-8".to_owned())?
                .trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if self.has_data {
                    events.push(Event {
                        name: self.name.take(),
                        data: std::mem::take(&mut self.data).join("\n"),
                    });
                }
                self.name = None;
                self.has_data = false;
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line, ""),
            };
            match field {
                "event" => self.name = Some(value.to_owned()),
                "data" => {
                    self.data.push(value.to_owned());
                    self.has_data = true;
                }
                "id" | "retry" => {}
                _ => {
                    return Err(format!(
                        "the stream has a line that is not SSE: {:.60?}",
                        line
                    ));
                }
            }
        }
        Ok(events)
    }

    /// The end of the stream: an event not closed by a blank line still counts.
    pub fn finish(&mut self) -> Result<Option<Event>, String> {
        if !self.buffer.is_empty() {
            let rest = std::mem::take(&mut self.buffer);
            let mut events = self.feed_line_end(&rest)?;
            if let Some(event) = events.pop() {
                return Ok(Some(event));
            }
        }
        Ok(self.has_data.then(|| {
            self.has_data = false;
            Event {
                name: self.name.take(),
                data: std::mem::take(&mut self.data).join("\n"),
            }
        }))
    }

    fn feed_line_end(&mut self, rest: &[u8]) -> Result<Vec<Event>, String> {
        let mut line = rest.to_vec();
        line.extend_from_slice(b"\n\n");
        self.feed(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_any_chunking() {
        let stream = b"event: a\ndata: {\"x\":1}\n\n: comment\ndata: [DONE]\r\n\r\n";
        for size in 1..stream.len() {
            let mut parser = Parser::default();
            let mut events = Vec::new();
            for chunk in stream.chunks(size) {
                events.extend(parser.feed(chunk).expect("valid"));
            }
            assert_eq!(parser.finish().expect("valid"), None);
            assert_eq!(
                events,
                vec![
                    Event::new(Some("a"), "{\"x\":1}".into()),
                    Event::new(None, "[DONE]".into())
                ]
            );
        }
    }

    #[test]
    fn garbage_is_an_error() {
        let mut parser = Parser::default();
        assert!(parser.feed(b"<html>oops</html>\n").is_err());
    }

    #[test]
    fn round_trip() {
        let event = Event::new(Some("message_stop"), "{\"a\":\n1}".into());
        let mut parser = Parser::default();
        assert_eq!(parser.feed(&event.to_bytes()).expect("valid"), vec![event]);
    }
}
