//! Scopes: what a token lets its holder do.

use std::fmt;
use std::str::FromStr;

/// One permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Read contexts, views, originals by ref, sessions, search and stats.
    Read,
    /// Put and delete contexts, import sessions, compress.
    Write,
    /// Everything, including administration.
    Admin,
    /// Send model traffic through the proxy.
    Proxy,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Admin, Scope::Proxy];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
            Scope::Proxy => "proxy",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Scope::Read => 1,
            Scope::Write => 2,
            Scope::Admin => 4,
            Scope::Proxy => 8,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope name that is not one of `read`, `write`, `admin`, `proxy`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope `{0}` (the scopes are read, write, admin, proxy)")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(name: &str) -> Result<Scope, UnknownScope> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == name.trim())
            .ok_or_else(|| UnknownScope(name.to_owned()))
    }
}

/// A set of scopes. `admin` holds every other scope too.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    pub fn all() -> Scopes {
        Scope::ALL.into_iter().collect()
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & (scope.bit() | Scope::Admin.bit()) != 0
    }

    /// The names of the scopes granted explicitly, in a fixed order.
    pub fn names(self) -> Vec<&'static str> {
        Scope::ALL
            .into_iter()
            .filter(|scope| self.0 & scope.bit() != 0)
            .map(Scope::as_str)
            .collect()
    }

    /// `read,write` into a set; an empty list or an unknown name is an error.
    pub fn parse_list(text: &str) -> Result<Scopes, UnknownScope> {
        let scopes = text
            .split(',')
            .filter(|name| !name.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Scopes, UnknownScope>>()?;
        if scopes.0 == 0 {
            return Err(UnknownScope(text.to_owned()));
        }
        Ok(scopes)
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(scopes: I) -> Scopes {
        Scopes(scopes.into_iter().fold(0, |bits, scope| bits | scope.bit()))
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_holds_every_scope() {
        let admin: Scopes = [Scope::Admin].into_iter().collect();
        assert!(Scope::ALL.into_iter().all(|scope| admin.contains(scope)));
        let read: Scopes = [Scope::Read].into_iter().collect();
        assert!(read.contains(Scope::Read));
        assert!(!read.contains(Scope::Write));
    }

    #[test]
    fn lists_parse_and_reject_unknown_names() {
        let scopes = Scopes::parse_list("read, write").expect("valid list");
        assert_eq!(scopes.names(), ["read", "write"]);
        assert!(Scopes::parse_list("read,root").is_err());
        assert!(Scopes::parse_list("").is_err());
    }
}
