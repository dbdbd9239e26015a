//! Request parameters as received: name/value pairs from a query string, a form body or
//! a JSON object, with the RFC 6749 §3.1/§3.2 rules applied once for every endpoint:
//! a parameter sent without a value is treated as omitted, and a parameter may not be
//! sent more than once.

use std::collections::BTreeMap;

/// Most parameters one request may carry; more is refused (a request this big is not a
/// protocol request).
pub const MAX_PARAMS: usize = 100;

/// Why a request's parameters were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// Bad percent-encoding, invalid UTF-8, or a control character (NUL, CR, LF, …) in a
    /// name or value: never part of a legitimate parameter, and a header-injection risk.
    #[error("parameters must be valid, percent-encoded UTF-8 without control characters")]
    Malformed,
    /// More than [`MAX_PARAMS`] parameters.
    #[error("too many parameters")]
    TooMany,
}

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

    /// Parses `application/x-www-form-urlencoded` text (a query string or a form body)
    /// strictly: unlike lenient decoders, nothing is silently replaced.
    pub fn parse_urlencoded(input: &[u8]) -> Result<Self, ParamError> {
        let mut pairs = Vec::new();
        for part in input.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match part.iter().position(|b| *b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &[][..]),
            };
            pairs.push((decode(name)?, decode(value)?));
            if pairs.len() > MAX_PARAMS {
                return Err(ParamError::TooMany);
            }
        }
        Ok(Self::from_pairs(pairs))
    }

    /// Checks pairs that arrived already decoded (a JSON body): no control characters, at
    /// most [`MAX_PARAMS`].
    pub fn from_checked_pairs(pairs: Vec<(String, String)>) -> Result<Self, ParamError> {
        if pairs.len() > MAX_PARAMS {
            return Err(ParamError::TooMany);
        }
        if pairs.iter().any(|(k, v)| has_control(k) || has_control(v)) {
            return Err(ParamError::Malformed);
        }
        Ok(Self::from_pairs(pairs))
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

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Decodes one form-urlencoded component: `+` is a space, `%XX` a byte; the bytes must be
/// UTF-8 without control characters.
fn decode(raw: &[u8]) -> Result<String, ParamError> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3).ok_or(ParamError::Malformed)?;
                let text = std::str::from_utf8(hex).map_err(|_| ParamError::Malformed)?;
                bytes.push(u8::from_str_radix(text, 16).map_err(|_| ParamError::Malformed)?);
                i += 2;
            }
            b => bytes.push(b),
        }
        i += 1;
    }
    let text = String::from_utf8(bytes).map_err(|_| ParamError::Malformed)?;
    if has_control(&text) {
        return Err(ParamError::Malformed);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strict_decoding() {
        let ok = Params::parse_urlencoded(b"a=1+2&b=%C3%A9&c&d=x%2By");
        assert_eq!(ok.as_ref().ok().and_then(|p| p.get("a")), Some("1 2"));
        assert_eq!(ok.as_ref().ok().and_then(|p| p.get("b")), Some("é"));
        assert_eq!(ok.as_ref().ok().and_then(|p| p.get("d")), Some("x+y"));
        for bad in [
            &b"a=%FF"[..],
            b"a=%00",
            b"a=x%0D%0ASet-Cookie:+x",
            b"a=%zz",
            b"a=%4",
            b"%0A=1",
            b"a=\x01",
        ] {
            assert_eq!(
                Params::parse_urlencoded(bad),
                Err(ParamError::Malformed),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let many: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=1")).collect();
        assert_eq!(
            Params::parse_urlencoded(many.join("&").as_bytes()),
            Err(ParamError::TooMany)
        );
    }

    proptest! {
        #[test]
        fn parsing_never_panics(input in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Params::parse_urlencoded(&input);
        }

        #[test]
        fn encoded_text_round_trips(value in "[^\\p{Cc}]{0,40}") {
            let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
            let parsed = Params::parse_urlencoded(format!("k={encoded}").as_bytes());
            prop_assert_eq!(parsed.ok().and_then(|p| p.get("k").map(str::to_owned)), (!value.is_empty()).then_some(value));
        }
    }

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
