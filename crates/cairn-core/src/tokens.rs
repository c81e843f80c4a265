//! Token counting with the o200k_base BPE (GPT-4o's), not a character
//! estimate. The ranks are compiled into `tiktoken-rs`, so this works offline.

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

fn o200k() -> &'static CoreBPE {
    static BPE: OnceLock<CoreBPE> = OnceLock::new();
    BPE.get_or_init(|| {
        tiktoken_rs::o200k_base().expect("the o200k_base ranks are compiled into tiktoken-rs")
    })
}

/// The number of o200k_base tokens in `text`.
pub fn count(text: &str) -> u64 {
    o200k().encode_ordinary(text).len() as u64
}

/// The number of tokens in `bytes` read as text; invalid UTF-8 is replaced
/// with U+FFFD first, which is what an agent pasting the bytes would send.
pub fn count_bytes(bytes: &[u8]) -> u64 {
    count(&String::from_utf8_lossy(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_real_bpe_tokens() {
        assert_eq!(count(""), 0);
        assert_eq!(count("hello world"), 2);
        // A character estimate would say 11 (44 chars / 4); o200k merges the repeats.
        assert!(count(&"a".repeat(44)) < 11);
        assert_eq!(count_bytes(b"hello world"), 2);
    }
}
