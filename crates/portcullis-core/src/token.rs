//! The token request (RFC 6749 §4.1.3, §5): which grant, and its parameters.

use crate::params::Params;
use crate::proto::{OAuthError, OAuthErrorCode};
use crate::scope::Scope;

/// The grant a token request asks for, with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequest {
    /// RFC 6749 §4.1.3.
    AuthorizationCode {
        /// The code.
        code: String,
        /// Must repeat the authorization request's `redirect_uri`.
        redirect_uri: Option<String>,
        /// PKCE verifier.
        code_verifier: Option<String>,
    },
    /// RFC 6749 §4.4.
    ClientCredentials {
        /// The API (Auth0 requires it).
        audience: String,
        /// A narrower scope than granted.
        scope: Option<Scope>,
    },
    /// RFC 6749 §6.
    RefreshToken {
        /// The refresh token.
        refresh_token: String,
        /// A narrower scope for the new access token.
        scope: Option<Scope>,
    },
}

impl TokenRequest {
    /// Parses the grant-specific parameters. Repeated parameters are `invalid_request`
    /// (RFC 6749 §3.2); an unknown grant is `unsupported_grant_type`.
    pub fn parse(params: &Params) -> Result<Self, OAuthError> {
        if let Some(name) = params.first_repeated() {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidRequest,
                format!("Parameter {name} must not be provided more than once"),
            ));
        }
        let required = |name: &str| {
            params.get(name).map(str::to_owned).ok_or_else(|| {
                OAuthError::new(
                    OAuthErrorCode::InvalidRequest,
                    format!("Missing required parameter: {name}"),
                )
            })
        };
        match required("grant_type")?.as_str() {
            "authorization_code" => Ok(TokenRequest::AuthorizationCode {
                code: required("code")?,
                redirect_uri: params.get("redirect_uri").map(str::to_owned),
                code_verifier: params.get("code_verifier").map(str::to_owned),
            }),
            "client_credentials" => Ok(TokenRequest::ClientCredentials {
                audience: required("audience")?,
                scope: params
                    .get("scope")
                    .map(|s| {
                        Scope::parse(s).map_err(|e| {
                            OAuthError::new(OAuthErrorCode::InvalidScope, e.to_string())
                        })
                    })
                    .transpose()?,
            }),
            "refresh_token" => Ok(TokenRequest::RefreshToken {
                refresh_token: required("refresh_token")?,
                scope: params
                    .get("scope")
                    .map(|s| {
                        Scope::parse(s).map_err(|e| {
                            OAuthError::new(OAuthErrorCode::InvalidScope, e.to_string())
                        })
                    })
                    .transpose()?,
            }),
            _ => Err(OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                "Grant type not supported",
            )),
        }
    }

    /// The wire name of the grant.
    pub fn grant_type(&self) -> &'static str {
        match self {
            Self::AuthorizationCode { .. } => "authorization_code",
            Self::RefreshToken { .. } => "refresh_token",
            Self::ClientCredentials { .. } => "client_credentials",
        }
    }
}
