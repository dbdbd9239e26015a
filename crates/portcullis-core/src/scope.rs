//! Scopes (RFC 6749 §3.3): space-delimited, case-sensitive tokens whose order does not
//! matter. A [`Scope`] keeps the tokens in the order first seen, without duplicates.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// OIDC scope that turns an OAuth request into an OpenID Connect one.
pub const OPENID: &str = "openid";
/// OIDC scope for a refresh token (OIDC Core §11).
pub const OFFLINE_ACCESS: &str = "offline_access";
/// The standard OIDC scopes whose claims the server can return (OIDC Core §5.4).
pub const OIDC_SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
];

/// Error for a scope string that violates the RFC 6749 §3.3 grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scope contains a character outside RFC 6749 §3.3 scope-token")]
pub struct InvalidScope;

/// A parsed scope: a set of tokens that remembers insertion order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(Vec<String>);

impl Scope {
    /// Parses a space-delimited scope string. Consecutive spaces are tolerated; any
    /// token character outside `%x21 / %x23-5B / %x5D-7E` is rejected.
    pub fn parse(raw: &str) -> Result<Self, InvalidScope> {
        let mut scope = Scope::default();
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            let valid = token
                .bytes()
                .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E));
            if !valid {
                return Err(InvalidScope);
            }
            scope.insert(token);
        }
        Ok(scope)
    }

    /// Adds a token unless present.
    pub fn insert(&mut self, token: &str) {
        if !self.contains(token) {
            self.0.push(token.to_owned());
        }
    }

    /// Whether the token is present.
    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    /// Iterates the tokens in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// True when every token of `self` is in `other`.
    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.iter().all(|t| other.contains(t))
    }

    /// Tokens of `self` that are kept by `keep`.
    pub fn filter(&self, mut keep: impl FnMut(&str) -> bool) -> Scope {
        Scope(self.0.iter().filter(|t| keep(t)).cloned().collect())
    }

    /// True when there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Scope::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl FromIterator<String> for Scope {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let mut scope = Scope::default();
        for t in iter {
            scope.insert(&t);
        }
        scope
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_dedups_and_keeps_order() {
        let s = Scope::parse("openid  email openid read:x").ok();
        assert_eq!(s.map(|s| s.to_string()), Some("openid email read:x".into()));
    }

    #[test]
    fn rejects_forbidden_characters() {
        for bad in ["a\"b", "a\\b", "é", "a\tb", "a\u{0}"] {
            assert_eq!(Scope::parse(bad), Err(InvalidScope), "{bad:?}");
        }
    }

    #[test]
    fn subset() {
        let a = Scope::parse("a b").unwrap_or_default();
        let b = Scope::parse("b c a").unwrap_or_default();
        assert!(a.is_subset_of(&b));
        assert!(!b.is_subset_of(&a));
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(tokens in proptest::collection::vec("[!#-\\[\\]-~]{1,12}", 0..8)) {
            let scope: Scope = tokens.into_iter().collect();
            let reparsed = Scope::parse(&scope.to_string());
            prop_assert_eq!(reparsed, Ok(scope));
        }

        #[test]
        fn parse_never_panics(raw in ".{0,64}") {
            let _ = Scope::parse(&raw);
        }
    }
}
