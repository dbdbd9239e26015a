//! The (session, client) pairs this node has already recorded in the store. A session
//! remembers each client it issued a code to (the Management API lists them); a returning
//! user's every `/authorize` would otherwise write the same row again, one more round trip
//! on the sso path (docs/performance.md). A pair's row lives as long as its session, and a
//! session id never comes back once deleted, so a pair seen here needs no second write.
//!
//! Bounded: past [`CAPACITY`] pairs the memory starts afresh, which costs one redundant
//! (and harmless: `on conflict do nothing`) write per pair.

use std::collections::HashSet;
use std::sync::Mutex;

/// Pairs kept before the memory starts afresh.
pub const CAPACITY: usize = 8192;

/// Pairs recorded by this node.
#[derive(Default)]
pub struct RecordedSessionClients(Mutex<HashSet<(Box<str>, Box<str>)>>);

impl RecordedSessionClients {
    /// Whether this node recorded `client_id` in `session_id` already.
    pub fn contains(&self, session_id: &str, client_id: &str) -> bool {
        let pairs = self.0.lock().unwrap_or_else(|p| p.into_inner());
        pairs.contains(&(Box::from(session_id), Box::from(client_id)))
    }

    /// Notes that the store holds the pair now.
    pub fn insert(&self, session_id: &str, client_id: &str) {
        let mut pairs = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if pairs.len() >= CAPACITY {
            pairs.clear();
        }
        pairs.insert((Box::from(session_id), Box::from(client_id)));
    }

    /// How many pairs are kept.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_pairs_and_starts_afresh_when_full() {
        let seen = RecordedSessionClients::default();
        assert!(!seen.contains("s1", "c1"));
        seen.insert("s1", "c1");
        assert!(seen.contains("s1", "c1"));
        assert!(!seen.contains("s1", "c2"), "another client of the session");
        assert!(!seen.contains("s2", "c1"), "another session of the client");
        for i in 1..CAPACITY {
            seen.insert(&format!("s{i}"), "c");
        }
        assert_eq!(seen.len(), CAPACITY);
        seen.insert("one-more", "c");
        assert_eq!(seen.len(), 1, "a full memory starts afresh");
        assert!(seen.contains("one-more", "c"));
        assert!(!seen.contains("s1", "c1"));
    }
}
