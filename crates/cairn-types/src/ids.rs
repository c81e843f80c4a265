//! Id newtypes that cross the wire: context keys and tenant ids.

use serde::{Deserialize, Serialize};

/// The longest key Cairn accepts, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 512;

/// A validated context key: 1 to [`MAX_KEY_BYTES`] bytes of UTF-8 without
/// control characters. Slashes are allowed, so keys can be paths such as
/// `tool/grep/42`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ContextKey(String);

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidKey {
    #[error("the key is empty")]
    Empty,
    #[error("the key is {0} bytes long; the limit is {MAX_KEY_BYTES}")]
    TooLong(usize),
    #[error("the key contains a control character at byte {0}")]
    ControlCharacter(usize),
    #[error("the keys `.` and `..` are reserved: a URL cannot carry them")]
    Reserved,
}

impl ContextKey {
    pub fn parse(key: impl Into<String>) -> Result<ContextKey, InvalidKey> {
        let key = key.into();
        if key.is_empty() {
            return Err(InvalidKey::Empty);
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(InvalidKey::TooLong(key.len()));
        }
        if key == "." || key == ".." {
            return Err(InvalidKey::Reserved);
        }
        if let Some((at, _)) = key.char_indices().find(|(_, c)| c.is_control()) {
            return Err(InvalidKey::ControlCharacter(at));
        }
        Ok(ContextKey(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for ContextKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ContextKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        ContextKey::parse(raw).map_err(serde::de::Error::custom)
    }
}

/// The tenant that owns a row. Every table carries one; the default is `local`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    /// The tenant of a server with no auth configured.
    pub const LOCAL: &'static str = "local";

    pub fn local() -> TenantId {
        TenantId(TenantId::LOCAL.to_owned())
    }

    pub fn new(tenant: impl Into<String>) -> TenantId {
        TenantId(tenant.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(key: &str, expected: Result<(), InvalidKey>) {
        assert_eq!(ContextKey::parse(key).map(|_| ()), expected, "key {key:?}");
    }

    #[test]
    fn keys_are_validated() {
        check("a", Ok(()));
        check("tool/grep/42", Ok(()));
        check("日本語のキー", Ok(()));
        check(&"k".repeat(MAX_KEY_BYTES), Ok(()));
        check("", Err(InvalidKey::Empty));
        check(
            &"k".repeat(MAX_KEY_BYTES + 1),
            Err(InvalidKey::TooLong(MAX_KEY_BYTES + 1)),
        );
        check("ab\ncd", Err(InvalidKey::ControlCharacter(2)));
        check("\u{7f}", Err(InvalidKey::ControlCharacter(0)));
        check("..", Err(InvalidKey::Reserved));
        check("a/..", Ok(()));
    }

    #[test]
    fn deserializing_a_bad_key_fails_with_the_reason() {
        let err = serde_json::from_str::<ContextKey>("\"\"").expect_err("empty key refused");
        assert!(err.to_string().contains("the key is empty"), "{err}");
    }
}
