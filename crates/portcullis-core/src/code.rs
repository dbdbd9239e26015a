//! Authorization codes (RFC 6749 §4.1.2, §4.1.3): what a code is bound to, and the
//! checks a token request must pass to redeem it.

use time::{Duration, OffsetDateTime};

use crate::pkce::{CodeChallenge, CodeVerifier};
use crate::proto::{OAuthError, OAuthErrorCode};
use crate::redirect_uri::RedirectUri;
use crate::scope::Scope;

/// Code lifetime (RFC 6749 §4.1.2 recommends ≤ 10 min; 60 s as node-oidc-provider).
pub const LIFETIME: Duration = Duration::seconds(60);

/// What an authorization code stands for. Stored under the hash of the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    /// The client it was issued to.
    pub client_id: String,
    /// The user who authorized.
    pub user_id: String,
    /// The redirect URI of the authorization request.
    pub redirect_uri: RedirectUri,
    /// Whether the authorization request carried `redirect_uri`.
    pub redirect_uri_sent: bool,
    /// Granted scope.
    pub scope: Scope,
    /// Requested API, if any.
    pub audience: Option<String>,
    /// OIDC nonce to copy into the ID token.
    pub nonce: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<CodeChallenge>,
    /// The SSO session (`sid`).
    pub session_id: String,
    /// When the user authenticated (`auth_time`).
    pub auth_time: OffsetDateTime,
    /// End of validity.
    pub expires_at: OffsetDateTime,
}

/// RFC 6749 §4.1.3 and RFC 7636 §4.6: checks a token request against a code it just
/// consumed. Every failure is `invalid_grant`.
pub fn check_redemption(
    code: &AuthorizationCode,
    client_id: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), OAuthError> {
    let invalid = |msg: &str| Err(OAuthError::new(OAuthErrorCode::InvalidGrant, msg));
    if now >= code.expires_at {
        return invalid("Invalid authorization code");
    }
    if code.client_id != client_id {
        return invalid("Invalid authorization code");
    }
    match redirect_uri {
        Some(sent) if sent != code.redirect_uri.as_str() => {
            return invalid("redirect_uri does not match the authorization request");
        }
        None if code.redirect_uri_sent => {
            return invalid("Missing required parameter: redirect_uri");
        }
        _ => {}
    }
    match (&code.code_challenge, code_verifier) {
        (Some(_), None) => invalid("Missing required parameter: code_verifier"),
        (Some(challenge), Some(raw)) => match CodeVerifier::parse(raw) {
            Ok(verifier) if challenge.verify(&verifier) => Ok(()),
            Ok(_) => invalid("Failed to verify code verifier"),
            Err(e) => invalid(&e.to_string()),
        },
        // RFC 9700 §4.8.2: a verifier for a code issued without a challenge is a downgrade.
        (None, Some(_)) => {
            invalid("code_verifier sent but the authorization request had no code_challenge")
        }
        (None, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn code(challenge: bool) -> AuthorizationCode {
        let now = OffsetDateTime::UNIX_EPOCH;
        AuthorizationCode {
            client_id: "c1".into(),
            user_id: "u1".into(),
            redirect_uri: RedirectUri::parse("https://app.example/cb")
                .unwrap_or_else(|_| unreachable!()),
            redirect_uri_sent: true,
            scope: Scope::default(),
            audience: None,
            nonce: None,
            code_challenge: challenge.then(|| {
                CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("S256"))
                    .unwrap_or_else(|_| unreachable!())
            }),
            session_id: "s".into(),
            auth_time: now,
            expires_at: now + LIFETIME,
        }
    }

    fn err(r: Result<(), OAuthError>) -> Option<OAuthErrorCode> {
        r.err().map(|e| e.error)
    }

    #[test]
    fn table() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let cb = Some("https://app.example/cb");
        let bad = Some(OAuthErrorCode::InvalidGrant);
        let cases: Vec<(&str, Result<(), OAuthError>, Option<OAuthErrorCode>)> = vec![
            (
                "happy",
                check_redemption(&code(false), "c1", cb, None, t0),
                None,
            ),
            (
                "pkce ok",
                check_redemption(&code(true), "c1", cb, Some(VERIFIER), t0),
                None,
            ),
            (
                "expired",
                check_redemption(&code(false), "c1", cb, None, t0 + LIFETIME),
                bad,
            ),
            (
                "other client",
                check_redemption(&code(false), "c2", cb, None, t0),
                bad,
            ),
            (
                "other redirect",
                check_redemption(
                    &code(false),
                    "c1",
                    Some("https://app.example/cb2"),
                    None,
                    t0,
                ),
                bad,
            ),
            (
                "missing redirect",
                check_redemption(&code(false), "c1", None, None, t0),
                bad,
            ),
            (
                "missing verifier",
                check_redemption(&code(true), "c1", cb, None, t0),
                bad,
            ),
            (
                "wrong verifier",
                check_redemption(&code(true), "c1", cb, Some(&"a".repeat(43)), t0),
                bad,
            ),
            (
                "downgrade",
                check_redemption(&code(false), "c1", cb, Some(VERIFIER), t0),
                bad,
            ),
        ];
        for (name, result, expected) in cases {
            assert_eq!(err(result), expected, "{name}");
        }
    }
}
