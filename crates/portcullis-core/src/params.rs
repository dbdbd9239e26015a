//! Request parameters as received: name/value pairs from a query string, a form body or
//! a JSON object, with the RFC 6749 §3.1/§3.2 rules applied once for every endpoint:
//! a parameter sent without a value is treated as omitted, and a parameter may not be
//! sent more than once.

use std::collections::BTreeMap;

/// Parameters of one request, keyed by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    values: BTreeMap<String, String>,
    repeated: Vec<String>,
}

impl Params {
    /// Collects pairs. Empty values count as absent (RFC 6749 §3.1); a name seen twice
    /// with values is remembered as repeated and reported by [`Params::check_not_repeated`].
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut params = Params::default();
        for (name, value) in pairs {
            let (name, value) = (name.into(), value.into());
            if value.is_empty() {
                continue;
            }
            match params.values.entry(name) {
                std::collections::btree_map::Entry::Occupied(seen) => {
                    if !params.repeated.contains(seen.key()) {
                        params.repeated.push(seen.key().clone());
                    }
                }
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(value);
                }
            }
        }
        params
    }

    /// The value of `name`, if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// True when `name` was sent with a value.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Whether `name` was sent more than once.
    pub fn is_repeated(&self, name: &str) -> bool {
        self.repeated.iter().any(|r| r == name)
    }

    /// RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
    /// Returns the first repeated name, if any.
    pub fn first_repeated(&self) -> Option<&str> {
        self.repeated.first().map(String::as_str)
    }

    /// Number of distinct parameters.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when no parameter was sent.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_count_as_absent() {
        let p = Params::from_pairs([("state", ""), ("scope", "openid")]);
        assert_eq!(p.get("state"), None);
        assert_eq!(p.get("scope"), Some("openid"));
    }

    #[test]
    fn repeated_names_are_reported_and_first_value_kept() {
        let p = Params::from_pairs([("scope", "a"), ("scope", "b"), ("x", "1")]);
        assert_eq!(p.first_repeated(), Some("scope"));
        assert!(p.is_repeated("scope"));
        assert!(!p.is_repeated("x"));
    }
}
