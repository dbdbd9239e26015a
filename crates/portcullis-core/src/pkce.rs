//! Proof Key for Code Exchange (RFC 7636), S256 only (RFC 9700 §2.1.1: `plain` offers no
//! protection against a leaked authorization request).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why PKCE parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    /// A method other than `S256`, including `plain` and a missing method (which RFC 7636
    /// §4.3 defaults to `plain`).
    #[error("code_challenge_method must be S256")]
    UnsupportedMethod,
    /// Not 43 base64url characters (the length of a SHA-256 digest).
    #[error("code_challenge must be 43 base64url characters (S256)")]
    MalformedChallenge,
    /// RFC 7636 §4.1: 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
    #[error("code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]")]
    MalformedVerifier,
}

/// An S256 code challenge from the authorization request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Validates `code_challenge` with `code_challenge_method`.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, PkceError> {
        if method != Some("S256") {
            return Err(PkceError::UnsupportedMethod);
        }
        let ok = challenge.len() == 43
            && challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(PkceError::MalformedChallenge);
        }
        Ok(Self(challenge.to_owned()))
    }

    /// RFC 7636 §4.6: `BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge`,
    /// compared in constant time.
    pub fn verify(&self, verifier: &CodeVerifier) -> bool {
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.0.as_bytes()));
        computed.as_bytes().ct_eq(self.0.as_bytes()).into()
    }

    /// The challenge as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The S256 challenge of a verifier (what a client computes).
    pub fn s256(verifier: &CodeVerifier) -> Self {
        Self(URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.0.as_bytes())))
    }
}

/// A `code_verifier` from the token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeVerifier(String);

impl CodeVerifier {
    /// Validates the RFC 7636 §4.1 grammar.
    pub fn parse(raw: &str) -> Result<Self, PkceError> {
        let ok = (43..=128).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(PkceError::MalformedVerifier)
        }
    }

    /// The verifier text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b_vector_verifies() {
        let c = CodeChallenge::parse(CHALLENGE, Some("S256"));
        let v = CodeVerifier::parse(VERIFIER);
        assert!(matches!((c, v), (Ok(c), Ok(v)) if c.verify(&v)));
    }

    #[test]
    fn plain_and_missing_method_are_refused() {
        assert_eq!(
            CodeChallenge::parse(CHALLENGE, Some("plain")),
            Err(PkceError::UnsupportedMethod)
        );
        assert_eq!(
            CodeChallenge::parse(CHALLENGE, None),
            Err(PkceError::UnsupportedMethod)
        );
        assert_eq!(
            CodeChallenge::parse("short", Some("S256")),
            Err(PkceError::MalformedChallenge)
        );
    }

    #[test]
    fn verifier_grammar() {
        assert!(CodeVerifier::parse(&"a".repeat(42)).is_err());
        assert!(CodeVerifier::parse(&"a".repeat(43)).is_ok());
        assert!(CodeVerifier::parse(&"a".repeat(128)).is_ok());
        assert!(CodeVerifier::parse(&"a".repeat(129)).is_err());
        assert!(CodeVerifier::parse(&format!("{}+", "a".repeat(43))).is_err());
    }

    proptest! {
        #[test]
        fn only_the_matching_verifier_verifies(v1 in "[A-Za-z0-9._~-]{43,128}", v2 in "[A-Za-z0-9._~-]{43,128}") {
            let (Ok(a), Ok(b)) = (CodeVerifier::parse(&v1), CodeVerifier::parse(&v2)) else {
                return Err(TestCaseError::fail("generated verifiers are valid"));
            };
            let challenge = CodeChallenge::s256(&a);
            prop_assert!(challenge.verify(&a));
            prop_assert_eq!(challenge.verify(&b), v1 == v2);
        }
    }
}
