//! Content sniffing: what an original is, from its bytes alone.
//!
//! This is the coarse split the store needs (text, JSON, binary with its
//! detected type). The compression router refines text into logs, code, diffs
//! and the rest.

/// The coarse kind of an original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    /// Valid UTF-8 that parses as JSON.
    Json,
    /// Valid UTF-8 without NUL bytes.
    Text,
    /// Anything else, with the media type its magic number says (or
    /// `application/octet-stream`).
    Binary(&'static str),
}

impl ContentKind {
    /// The media type recorded with the original.
    pub fn media_type(self) -> &'static str {
        match self {
            ContentKind::Json => "application/json",
            ContentKind::Text => "text/plain",
            ContentKind::Binary(media_type) => media_type,
        }
    }

    /// The kind recorded under `media_type` by [`ContentKind::media_type`].
    pub fn from_media_type(media_type: &str) -> ContentKind {
        match media_type {
            "application/json" => ContentKind::Json,
            "text/plain" => ContentKind::Text,
            other => ContentKind::Binary(
                MAGIC
                    .iter()
                    .map(|(_, known)| *known)
                    .find(|known| *known == other)
                    .unwrap_or(OCTET_STREAM),
            ),
        }
    }

    pub fn is_binary(self) -> bool {
        matches!(self, ContentKind::Binary(_))
    }
}

const OCTET_STREAM: &str = "application/octet-stream";

const MAGIC: &[(&[u8], &str)] = &[
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"\x1f\x8b", "application/gzip"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x28\xb5\x2f\xfd", "application/zstd"),
    (b"\x7fELF", "application/x-elf"),
    (b"\0asm", "application/wasm"),
    (b"SQLite format 3\0", "application/vnd.sqlite3"),
];

/// Sniffs the kind of `bytes`.
pub fn sniff(bytes: &[u8]) -> ContentKind {
    if let Some((_, media_type)) = MAGIC.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return ContentKind::Binary(media_type);
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return ContentKind::Binary(OCTET_STREAM);
    };
    if text.contains('\0') {
        return ContentKind::Binary(OCTET_STREAM);
    }
    let trimmed = text.trim_start();
    if (trimmed.starts_with('{') || trimmed.starts_with('['))
        && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
    {
        return ContentKind::Json;
    }
    ContentKind::Text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bytes: &[u8], expected: ContentKind) {
        assert_eq!(sniff(bytes), expected, "{bytes:?}");
    }

    #[test]
    fn kinds_are_sniffed_from_bytes() {
        check(b"", ContentKind::Text);
        check(b"hello", ContentKind::Text);
        check(b" [1, 2]", ContentKind::Json);
        check(br#"{"a": [{"b": null}]}"#, ContentKind::Json);
        check(b"{not json", ContentKind::Text);
        check(
            b"\xff\xfe\x00",
            ContentKind::Binary("application/octet-stream"),
        );
        check(b"a\0b", ContentKind::Binary("application/octet-stream"));
        check(b"\x89PNG\r\n\x1a\nrest", ContentKind::Binary("image/png"));
        check(b"\x1f\x8b\x08", ContentKind::Binary("application/gzip"));
    }

    #[test]
    fn media_types_map_back_to_kinds() {
        for bytes in [&b"x"[..], b"{}", b"\x89PNG\r\n\x1a\n", b"\xff"] {
            let kind = sniff(bytes);
            assert_eq!(ContentKind::from_media_type(kind.media_type()), kind);
        }
    }

    #[test]
    fn deeply_nested_json_is_sniffed_without_recursion() {
        // serde_json skips values without recursing, so depth cannot overflow the stack.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(sniff(deep.as_bytes()), ContentKind::Json);
        let torn = "[".repeat(100_000);
        assert_eq!(sniff(torn.as_bytes()), ContentKind::Text);
    }
}
