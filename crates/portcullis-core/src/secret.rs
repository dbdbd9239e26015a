//! Secrets and single-use tokens: their text form and how they are stored.
//!
//! Codes, session cookies and login-transaction handles carry ≥ 256 random bits
//! (RFC 6749 §10.10 asks ≤ 2^-128 guessing odds), so a plain SHA-256 is a sound at-rest
//! hash: nothing to brute-force, and lookups stay a single indexed read. Comparisons of
//! presented secrets with stored hashes are constant-time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A high-entropy random value in its wire form (base64url of the random bytes).
/// Never logged: `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct OpaqueToken(String);

impl OpaqueToken {
    /// Encodes random bytes supplied by the caller (core takes no randomness of its own).
    pub fn from_random(bytes: &[u8; 32]) -> Self {
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Wraps a presented token.
    pub fn presented(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    /// The text to hand out.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The value stored instead of the token.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl std::fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpaqueToken(<redacted>)")
    }
}

/// SHA-256 of a secret, base64url: what is stored at rest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenHash(String);

impl TokenHash {
    /// Hashes a secret.
    pub fn of(secret: &str) -> Self {
        Self(URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes())))
    }

    /// Wraps a stored hash.
    pub fn from_stored(hash: String) -> Self {
        Self(hash)
    }

    /// The stored text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` hashes to this value, compared in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        TokenHash::of(presented)
            .0
            .as_bytes()
            .ct_eq(self.0.as_bytes())
            .into()
    }
}

/// A client secret in clear text, as given by an operator or generated. `Debug` redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Shortest secret accepted from a tenant file: 32 characters keeps a random secret
    /// at ≥ 128 bits even in a small alphabet.
    pub const MIN_LEN: usize = 32;

    /// Wraps a secret after checking its length.
    pub fn new(raw: &str) -> Result<Self, String> {
        if raw.len() < Self::MIN_LEN {
            return Err(format!("must be at least {} characters", Self::MIN_LEN));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A generated secret (base64url of 48 random bytes, 64 characters as Auth0's).
    pub fn from_random(bytes: &[u8; 48]) -> Self {
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The secret text, for showing it once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The stored form.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_only_its_secret() {
        let t = OpaqueToken::from_random(&[7u8; 32]);
        assert!(t.hash().matches(t.expose()));
        assert!(!t.hash().matches("other"));
        assert_eq!(t.expose().len(), 43);
    }

    #[test]
    fn debug_is_redacted() {
        let s = ClientSecret::from_random(&[1u8; 48]);
        assert!(!format!("{s:?}").contains(s.expose()));
    }
}
