//! OAuth 2.0 / OIDC error codes (RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, OIDC Core
//! §3.1.2.6) and the JSON error body. A unit test pins every wire name.

use serde::{Deserialize, Serialize};

/// An error code as it appears on the wire, in `error=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    /// RFC 6749 §4.1.2.1 / §5.2: missing, invalid or repeated parameter.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed (HTTP 401).
    InvalidClient,
    /// RFC 6749 §5.2: code or refresh token invalid, expired, revoked or bound elsewhere.
    InvalidGrant,
    /// RFC 6749 §4.1.2.1 / §5.2: the client may not use this grant or response type.
    UnauthorizedClient,
    /// RFC 6749 §5.2: grant type not supported by the server.
    UnsupportedGrantType,
    /// RFC 6749 §4.1.2.1: the resource owner or server denied the request.
    AccessDenied,
    /// RFC 6749 §4.1.2.1: response type not supported.
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1 / §5.2: scope invalid, unknown or malformed.
    InvalidScope,
    /// RFC 6749 §4.1.2.1: unexpected condition on the server.
    ServerError,
    /// RFC 6749 §4.1.2.1: the server is temporarily unable to handle the request.
    TemporarilyUnavailable,
    /// OIDC Core §3.1.2.6: `prompt=none` but the end-user must interact.
    InteractionRequired,
    /// OIDC Core §3.1.2.6: `prompt=none` but the end-user is not logged in.
    LoginRequired,
    /// OIDC Core §3.1.2.6: `prompt=none` but consent is needed.
    ConsentRequired,
    /// OIDC Core §3.1.2.6: the `request` parameter is not supported.
    RequestNotSupported,
    /// OIDC Core §3.1.2.6: the `request_uri` parameter is not supported.
    RequestUriNotSupported,
    /// RFC 6750 §3.1: the access token is invalid, expired or revoked.
    InvalidToken,
    /// RFC 6750 §3.1: the token lacks the required scope.
    InsufficientScope,
    /// Auth0: rate limit exceeded (HTTP 429).
    TooManyRequests,
}

impl OAuthErrorCode {
    /// The exact wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InteractionRequired => "interaction_required",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::TooManyRequests => "too_many_requests",
        }
    }
}

impl std::fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth error: code plus human-readable description (RFC 6749 §5.2 body shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthError {
    /// The error code.
    pub error: OAuthErrorCode,
    /// Human-readable text; RFC 6749 restricts it to %x20-21 / %x23-5B / %x5D-7E.
    pub error_description: String,
}

impl OAuthError {
    /// Builds an error, dropping characters RFC 6749 §5.2 forbids in `error_description`.
    pub fn new(error: OAuthErrorCode, description: impl Into<String>) -> Self {
        let description: String = description.into();
        let error_description = description
            .chars()
            .filter(|c| matches!(*c as u32, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
            .collect();
        Self {
            error,
            error_description,
        }
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.error_description)
    }
}

impl std::error::Error for OAuthError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_pinned() {
        let all = [
            (OAuthErrorCode::InvalidRequest, "invalid_request"),
            (OAuthErrorCode::InvalidClient, "invalid_client"),
            (OAuthErrorCode::InvalidGrant, "invalid_grant"),
            (OAuthErrorCode::UnauthorizedClient, "unauthorized_client"),
            (
                OAuthErrorCode::UnsupportedGrantType,
                "unsupported_grant_type",
            ),
            (OAuthErrorCode::AccessDenied, "access_denied"),
            (
                OAuthErrorCode::UnsupportedResponseType,
                "unsupported_response_type",
            ),
            (OAuthErrorCode::InvalidScope, "invalid_scope"),
            (OAuthErrorCode::ServerError, "server_error"),
            (
                OAuthErrorCode::TemporarilyUnavailable,
                "temporarily_unavailable",
            ),
            (OAuthErrorCode::InteractionRequired, "interaction_required"),
            (OAuthErrorCode::LoginRequired, "login_required"),
            (OAuthErrorCode::ConsentRequired, "consent_required"),
            (OAuthErrorCode::RequestNotSupported, "request_not_supported"),
            (
                OAuthErrorCode::RequestUriNotSupported,
                "request_uri_not_supported",
            ),
            (OAuthErrorCode::InvalidToken, "invalid_token"),
            (OAuthErrorCode::InsufficientScope, "insufficient_scope"),
            (OAuthErrorCode::TooManyRequests, "too_many_requests"),
        ];
        for (code, name) in all {
            assert_eq!(code.as_str(), name);
            assert_eq!(
                serde_json::to_value(code).ok(),
                Some(serde_json::json!(name))
            );
        }
    }

    #[test]
    fn description_drops_characters_rfc6749_forbids() {
        let e = OAuthError::new(OAuthErrorCode::InvalidRequest, "bad \"x\"\r\n\\ é");
        assert_eq!(e.error_description, "bad x ");
    }
}
