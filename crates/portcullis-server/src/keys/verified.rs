//! JWTs already verified, so that a token presented again is not verified again.
//!
//! A client presents the same access token at UserInfo, at the Management API or at the
//! demo API until it expires, and each verification cost a signature check (21.5 µs for
//! RS256, 46.1 µs for ES256 on machine G, `hot_paths`' "verify a JWT"), a header and a
//! payload decoded, and the claims checked. The outcome depends only on the token, the
//! issuer and the audience asked for, and on the key set: so each key set keeps its own
//! memory (`KeySet::verified`), which a reload keeps only when it publishes the same keys.
//! Expiry is not remembered as an outcome: the caller checks `exp` against its clock on
//! every presentation, remembered or not.
//!
//! Only successes are remembered: the token's claims, under the SHA-256 of issuer, audience
//! and token (so the token itself is not kept, and a token that passes for a remembered one
//! is a SHA-256 collision). The memory is bounded: two generations of at most
//! [`GENERATION`] tokens each; when the current one is full it becomes the previous one and
//! the old previous one is forgotten, and a token found in the previous generation moves
//! back to the current one. A token presented often stays; one seen once leaves after two
//! generations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest;
use serde_json::{Map, Value};

/// Tokens per generation: at most twice this many are remembered (each as a 32-byte key
/// and the token's claims).
pub(super) const GENERATION: usize = 1024;

/// What a remembered token verified to: its claims and its `exp`.
#[derive(Clone)]
pub(super) struct Outcome {
    pub(super) claims: Arc<Map<String, Value>>,
    pub(super) exp: i64,
}

/// Where a token's outcome is remembered: SHA-256 over issuer, audience and token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Key([u8; 32]);

impl Key {
    /// Each part is preceded by its length, so that no two (issuer, audience, token)
    /// triples hash the same bytes.
    pub(super) fn new(issuer: &str, audience: &str, token: &str) -> Key {
        let mut context = digest::Context::new(&digest::SHA256);
        for part in [issuer, audience, token] {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part.as_bytes());
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(context.finish().as_ref());
        Key(key)
    }
}

#[derive(Default)]
struct Generations {
    current: HashMap<Key, Outcome>,
    previous: HashMap<Key, Outcome>,
}

/// The verified tokens of one key set.
#[derive(Default)]
pub(super) struct Verified(Mutex<Generations>);

impl Verified {
    /// The remembered outcome of `key`, if any.
    pub(super) fn get(&self, key: &Key) -> Option<Outcome> {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = g.current.get(key) {
            return Some(hit.clone());
        }
        let hit = g.previous.remove(key)?;
        g.remember(*key, hit.clone());
        Some(hit)
    }

    /// Remembers that `key`'s token verified to `outcome`.
    pub(super) fn insert(&self, key: Key, outcome: Outcome) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remember(key, outcome);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.current.len() + g.previous.len()
    }
}

impl Generations {
    fn remember(&mut self, key: Key, outcome: Outcome) {
        if self.current.len() >= GENERATION {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(exp: i64) -> Outcome {
        Outcome {
            claims: Arc::new(Map::new()),
            exp,
        }
    }

    #[test]
    fn the_key_tells_issuer_audience_and_token_apart() {
        let k = Key::new("https://a/", "aud", "token");
        assert!(k == Key::new("https://a/", "aud", "token"));
        assert!(k != Key::new("https://a/", "aud2", "token"));
        assert!(k != Key::new("https://b/", "aud", "token"));
        assert!(k != Key::new("https://a/", "aud", "token2"));
        // The lengths keep the parts apart: "ab" + "c" is not "a" + "bc".
        assert!(Key::new("i", "ab", "c") != Key::new("i", "a", "bc"));
    }

    #[test]
    fn memory_is_bounded_and_keeps_what_is_presented_again() {
        let verified = Verified::default();
        let often = Key::new("i", "a", "often");
        verified.insert(often, outcome(7));
        for n in 0..GENERATION * 5 {
            verified.insert(Key::new("i", "a", &n.to_string()), outcome(1));
            assert!(verified.len() <= 2 * GENERATION);
            // Presented again now and then: it moves back to the current generation.
            if n % (GENERATION / 2) == 0 {
                assert_eq!(verified.get(&often).map(|o| o.exp), Some(7));
            }
        }
        assert_eq!(verified.get(&often).map(|o| o.exp), Some(7));
        // A token seen once, two generations ago, is forgotten.
        assert!(verified.get(&Key::new("i", "a", "0")).is_none());
    }
}
