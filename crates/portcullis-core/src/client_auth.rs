//! Client authentication at the token endpoint (RFC 6749 §2.3, OIDC Core §9).
//!
//! One method per request (RFC 6749 §2.3). As with Auth0, a client holding a secret may
//! present it by HTTP Basic or in the body; a public client never presents one.

use crate::client::Client;
use crate::params::Params;
use crate::proto::{OAuthError, OAuthErrorCode};

/// The credentials a request presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Basic` (`client_secret_basic`).
    Basic { client_id: String, secret: String },
    /// `client_id` + `client_secret` in the body (`client_secret_post`).
    Post { client_id: String, secret: String },
    /// Only `client_id` (a public client, `none`).
    None { client_id: String },
    /// A signed JWT (`private_key_jwt`); the client is the assertion's `sub`.
    Assertion {
        client_id: String,
        assertion: String,
    },
}

impl Credentials {
    /// The client the request claims to be.
    pub fn client_id(&self) -> &str {
        match self {
            Self::Basic { client_id, .. }
            | Self::Post { client_id, .. }
            | Self::None { client_id }
            | Self::Assertion { client_id, .. } => client_id,
        }
    }

    /// Whether HTTP Basic was used (then a 401 carries `WWW-Authenticate: Basic`).
    pub fn used_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }
}

/// Error for a request whose client authentication failed, remembering whether Basic
/// was attempted so the response can challenge it (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    /// The OAuth error.
    pub error: OAuthError,
    /// Whether the request used HTTP Basic.
    pub used_basic: bool,
}

fn invalid_client(used_basic: bool) -> AuthError {
    AuthError {
        error: OAuthError::new(
            OAuthErrorCode::InvalidClient,
            "Client authentication failed",
        ),
        used_basic,
    }
}

/// Reads the presented credentials. `basic` is the decoded `Authorization: Basic` pair
/// (already form-url-decoded, RFC 6749 §2.3.1), `Err(())` when that header was malformed.
pub fn presented(
    basic: Option<Result<(String, String), ()>>,
    params: &Params,
) -> Result<Credentials, AuthError> {
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    let assertion = params.get("client_assertion");
    if assertion.is_some() || params.has("client_assertion_type") {
        let one_method = basic.is_none() && body_secret.is_none();
        if !one_method {
            return Err(AuthError {
                error: OAuthError::new(
                    OAuthErrorCode::InvalidRequest,
                    "Client authentication must use only one method",
                ),
                used_basic: basic.is_some(),
            });
        }
        let claimed = assertion.and_then(crate::client_assertion::claimed_client);
        return match (params.get("client_assertion_type"), assertion, claimed) {
            (Some(crate::client_assertion::ASSERTION_TYPE), Some(assertion), Some(client_id))
                if body_id.is_none_or(|id| id == client_id) =>
            {
                Ok(Credentials::Assertion {
                    client_id,
                    assertion: assertion.to_owned(),
                })
            }
            _ => Err(invalid_client(false)),
        };
    }
    match basic {
        Some(Err(())) => Err(invalid_client(true)),
        Some(Ok((client_id, secret))) => {
            if body_secret.is_some() {
                return Err(AuthError {
                    error: OAuthError::new(
                        OAuthErrorCode::InvalidRequest,
                        "Client authentication must use only one method",
                    ),
                    used_basic: true,
                });
            }
            if body_id.is_some_and(|id| id != client_id) {
                return Err(AuthError {
                    error: OAuthError::new(
                        OAuthErrorCode::InvalidRequest,
                        "client_id does not match the Authorization header",
                    ),
                    used_basic: true,
                });
            }
            Ok(Credentials::Basic { client_id, secret })
        }
        None => match (body_id, body_secret) {
            (Some(id), Some(secret)) => Ok(Credentials::Post {
                client_id: id.to_owned(),
                secret: secret.to_owned(),
            }),
            (Some(id), None) => Ok(Credentials::None {
                client_id: id.to_owned(),
            }),
            (None, _) => Err(invalid_client(false)),
        },
    }
}

/// Authenticates the presented credentials against the registered client (`None` when
/// no client has that id). The secret is compared as a hash, in constant time.
pub fn authenticate(client: Option<&Client>, credentials: &Credentials) -> Result<(), AuthError> {
    let used_basic = credentials.used_basic();
    let Some(client) = client else {
        return Err(invalid_client(used_basic));
    };
    // A client pinned to private_key_jwt authenticates with an assertion only, and an
    // assertion only authenticates such a client; the signature is checked by the caller.
    match credentials {
        Credentials::Assertion { .. }
            if client.uses_private_key_jwt() && !client.credentials.is_empty() =>
        {
            Ok(())
        }
        Credentials::Assertion { .. } => Err(invalid_client(used_basic)),
        _ if client.uses_private_key_jwt() => Err(invalid_client(used_basic)),
        Credentials::None { .. } if client.is_public() => Ok(()),
        Credentials::None { .. } => Err(invalid_client(used_basic)),
        Credentials::Basic { secret, .. } | Credentials::Post { secret, .. } => {
            match (&client.secret_hash, client.is_public()) {
                (Some(hash), false) if hash.matches(secret) => Ok(()),
                _ => Err(invalid_client(used_basic)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{AppType, JwtConfiguration, TokenEndpointAuthMethod};
    use crate::secret::TokenHash;

    fn client(public: bool) -> Client {
        Client {
            client_id: "c1".into(),
            name: "App".into(),
            app_type: if public {
                AppType::Spa
            } else {
                AppType::RegularWeb
            },
            is_first_party: true,
            callbacks: vec![],
            allowed_logout_urls: vec![],
            web_origins: vec![],
            grant_types: vec!["authorization_code".into()],
            token_endpoint_auth_method: if public {
                TokenEndpointAuthMethod::None
            } else {
                TokenEndpointAuthMethod::ClientSecretPost
            },
            secret_hash: (!public).then(|| TokenHash::of("s3cret")),
            jwt_configuration: JwtConfiguration::default(),
            refresh_token: crate::refresh::RefreshTokenPolicy::default_for(AppType::RegularWeb),
            credentials: vec![],
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn one_method_per_request() {
        let r = presented(
            Some(Ok(("c1".into(), "s3cret".into()))),
            &params(&[("client_secret", "s3cret")]),
        );
        assert_eq!(
            r.err().map(|e| e.error.error),
            Some(OAuthErrorCode::InvalidRequest)
        );
    }

    #[test]
    fn secret_by_basic_or_post_both_work_for_confidential_clients() {
        let c = client(false);
        for creds in [
            Credentials::Basic {
                client_id: "c1".into(),
                secret: "s3cret".into(),
            },
            Credentials::Post {
                client_id: "c1".into(),
                secret: "s3cret".into(),
            },
        ] {
            assert!(authenticate(Some(&c), &creds).is_ok());
        }
    }

    #[test]
    fn failures_are_invalid_client() {
        let conf = client(false);
        let public = client(true);
        let cases = [
            (
                Some(&conf),
                Credentials::Post {
                    client_id: "c1".into(),
                    secret: "wrong".into(),
                },
            ),
            (
                Some(&conf),
                Credentials::None {
                    client_id: "c1".into(),
                },
            ),
            (
                Some(&public),
                Credentials::Post {
                    client_id: "c1".into(),
                    secret: "x".into(),
                },
            ),
            (
                None,
                Credentials::None {
                    client_id: "nope".into(),
                },
            ),
        ];
        for (c, creds) in cases {
            let e = authenticate(c, &creds).err().map(|e| e.error.error);
            assert_eq!(e, Some(OAuthErrorCode::InvalidClient), "{creds:?}");
        }
        assert!(
            authenticate(
                Some(&public),
                &Credentials::None {
                    client_id: "c1".into()
                }
            )
            .is_ok()
        );
    }
}
