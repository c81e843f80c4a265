//! Content identity: BLAKE3 of the exact bytes, and the `ccr:` reference that
//! names an original in markers and retrieval.

/// Hex digits of the hash that a `ccr:` reference carries (96 bits).
pub const REF_HEX_DIGITS: usize = 24;

const REF_PREFIX: &str = "ccr:";

/// The BLAKE3 hash of an original's exact bytes: its identity everywhere.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentHash([u8; 32]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a content hash is 64 lowercase hex digits")]
pub struct InvalidHash;

impl ContentHash {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> ContentHash {
        ContentHash(*blake3::hash(bytes).as_bytes())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> ContentHash {
        ContentHash(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex digits of the hash.
    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }

    /// Parses 64 lowercase hex digits.
    pub fn from_hex(hex: &str) -> Result<ContentHash, InvalidHash> {
        if hex.len() != 64 {
            return Err(InvalidHash);
        }
        let mut out = [0u8; 32];
        hex_decode(hex, &mut out).ok_or(InvalidHash)?;
        Ok(ContentHash(out))
    }

    /// The `ccr:` reference of this original.
    pub fn ccr_ref(&self) -> CcrRef {
        let mut prefix = [0u8; REF_HEX_DIGITS / 2];
        prefix.copy_from_slice(&self.0[..REF_HEX_DIGITS / 2]);
        CcrRef(prefix)
    }
}

impl std::fmt::Display for ContentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ContentHash({})", self.to_hex())
    }
}

/// A reference to an original: `ccr:` followed by the first 24 lowercase hex
/// digits of its BLAKE3 hash.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CcrRef([u8; REF_HEX_DIGITS / 2]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a reference is `ccr:` followed by 24 lowercase hex digits, got {0:?}")]
pub struct InvalidRef(pub String);

impl CcrRef {
    /// Parses `ccr:` + 24 lowercase hex digits. The bare 24 digits are accepted
    /// too, since a reference often travels in a URL path without its scheme.
    /// Anything else, upper case included, is refused: a marker written by
    /// someone else is never mistaken for ours.
    pub fn parse(text: &str) -> Result<CcrRef, InvalidRef> {
        let digits = text.strip_prefix(REF_PREFIX).unwrap_or(text);
        let mut out = [0u8; REF_HEX_DIGITS / 2];
        if digits.len() != REF_HEX_DIGITS || hex_decode(digits, &mut out).is_none() {
            return Err(InvalidRef(truncate_for_error(text)));
        }
        Ok(CcrRef(out))
    }

    /// The 24 hex digits without the `ccr:` prefix.
    pub fn hex(&self) -> String {
        hex_encode(&self.0)
    }

    /// Whether `hash` is an original this reference names.
    pub fn matches(&self, hash: &ContentHash) -> bool {
        hash.0.starts_with(&self.0)
    }
}

impl std::fmt::Display for CcrRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{REF_PREFIX}{}", self.hex())
    }
}

impl std::fmt::Debug for CcrRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CcrRef({self})")
    }
}

fn truncate_for_error(text: &str) -> String {
    text.chars().take(64).collect()
}

fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    out
}

/// Decodes lowercase hex into `out`, which must be exactly half as long.
fn hex_decode(hex: &str, out: &mut [u8]) -> Option<()> {
    fn nibble(digit: u8) -> Option<u8> {
        match digit {
            b'0'..=b'9' => Some(digit - b'0'),
            b'a'..=b'f' => Some(digit - b'a' + 10),
            _ => None,
        }
    }
    let hex = hex.as_bytes();
    if hex.len() != out.len() * 2 {
        return None;
    }
    for (slot, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *slot = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_blake3_of_the_exact_bytes() {
        // BLAKE3 of the empty input, from the reference test vectors.
        let empty = ContentHash::of(b"");
        assert_eq!(
            empty.to_hex(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(empty.ccr_ref().to_string(), "ccr:af1349b9f5f9a1a6a0404dea");
        assert_ne!(ContentHash::of(b"a"), ContentHash::of(b"a\n"));
    }

    #[test]
    fn hex_round_trips() {
        let hash = ContentHash::of(b"cairn");
        assert_eq!(ContentHash::from_hex(&hash.to_hex()), Ok(hash));
        assert_eq!(
            ContentHash::from_hex(&hash.to_hex().to_uppercase()),
            Err(InvalidHash)
        );
        assert_eq!(ContentHash::from_hex("abc"), Err(InvalidHash));
    }

    fn check_ref(text: &str, ok: bool) {
        assert_eq!(CcrRef::parse(text).is_ok(), ok, "{text:?}");
    }

    #[test]
    fn references_parse_strictly() {
        let reference = ContentHash::of(b"x").ccr_ref();
        let text = reference.to_string();
        assert_eq!(CcrRef::parse(&text), Ok(reference));
        assert!(reference.matches(&ContentHash::of(b"x")));
        assert!(!reference.matches(&ContentHash::of(b"y")));
        check_ref(&text[4..], true);
        check_ref(&text.to_uppercase(), false);
        check_ref(&format!("{text}0"), false);
        check_ref(&text[..text.len() - 1], false);
        check_ref("ccr:", false);
        check_ref("ccr:zzzzzzzzzzzzzzzzzzzzzzzz", false);
        check_ref("CCR:0123456789abcdef01234567", false);
        check_ref("ccr:0123456789abcdef0123456é", false);
    }
}
