//! The token endpoint (RFC 6749 §3.2, §5): authenticate the client, check the grant is
//! allowed, then hand over to the grant's own module. Minting lives here, shared by grants.

mod assertion;
pub use assertion::{credential_parses, verified_claims};
mod authorization_code;
mod client_credentials;
mod refresh_token;

use portcullis_core::claims::{AccessTokenClaims, IdTokenClaims};
use portcullis_core::client::Client;
use portcullis_core::client::SigningAlg;
use portcullis_core::client_auth::{self, AuthError};
use portcullis_core::params::Params;
use portcullis_core::proto::token::TokenResponse;
use portcullis_core::proto::{OAuthError, OAuthErrorCode};
use portcullis_core::resource_server::ResourceServer;
use portcullis_core::scope::{OPENID, Scope};
use portcullis_core::token::TokenRequest;
use portcullis_core::user::User;
use time::OffsetDateTime;

use super::Internal;
use crate::logs::Subject;
use crate::state::AppState;
use portcullis_core::log::LogType;

/// Token endpoint failure.
#[derive(Debug)]
pub enum TokenError {
    /// An RFC 6749 §5.2 error; `used_basic` decides the 401 challenge.
    OAuth {
        /// The error.
        error: OAuthError,
        /// Whether the client authenticated (or tried to) with HTTP Basic.
        used_basic: bool,
    },
    /// The store failed where answering anyway would lie (revocation): 503.
    Unavailable(Internal),
    /// Too many requests (Auth0's 429 body and `x-ratelimit-*` headers).
    RateLimited(crate::ratelimit::Verdict),
    /// Not the client's fault.
    Internal(Internal),
}

impl From<Internal> for TokenError {
    fn from(e: Internal) -> Self {
        Self::Internal(e)
    }
}

impl From<portcullis_store::StoreError> for TokenError {
    fn from(e: portcullis_store::StoreError) -> Self {
        Self::Internal(e.into())
    }
}

impl From<AuthError> for TokenError {
    fn from(e: AuthError) -> Self {
        Self::OAuth {
            error: e.error,
            used_basic: e.used_basic,
        }
    }
}

pub(crate) fn invalid_grant(msg: &str) -> TokenError {
    TokenError::OAuth {
        error: OAuthError::new(OAuthErrorCode::InvalidGrant, msg),
        used_basic: false,
    }
}

/// Facts about the HTTP request the token endpoint needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestContext {
    /// The request carried an `Origin` header (a browser): no refresh token then.
    pub has_origin: bool,
    /// The client's IP address, when known.
    pub ip: Option<std::net::IpAddr>,
}

/// Authenticates the client of a token or revocation request (RFC 6749 §2.3).
pub async fn authenticate_client(
    state: &AppState,
    params: &Params,
    basic: Option<Result<(String, String), ()>>,
) -> Result<(Client, bool), TokenError> {
    let credentials = client_auth::presented(basic, params)?;
    let used_basic = credentials.used_basic();
    let client = state.client(credentials.client_id()).await?;
    client_auth::authenticate(client.as_ref(), &credentials)?;
    let Some(client) = client else {
        return Err(Internal(anyhow::anyhow!("authenticated a missing client")).into());
    };
    if let client_auth::Credentials::Assertion { assertion, .. } = &credentials {
        assertion::verify(state, &client, assertion).await?;
    }
    Ok((client, used_basic))
}

/// `POST /oauth/token`. `basic` is the decoded Basic credential pair, if the header was sent.
pub async fn handle(
    state: &AppState,
    params: &Params,
    basic: Option<Result<(String, String), ()>>,
    context: RequestContext,
) -> Result<TokenResponse, TokenError> {
    let used_basic_header = basic.is_some();
    let request = TokenRequest::parse(params).map_err(|error| TokenError::OAuth {
        error,
        used_basic: used_basic_header,
    })?;
    let (client, used_basic) = authenticate_client(state, params, basic)
        .await
        .inspect_err(|e| {
            if let TokenError::OAuth { error, .. } = e {
                let log_type = match request {
                    TokenRequest::AuthorizationCode { .. } => LogType::FailedExchangeCode,
                    TokenRequest::RefreshToken { .. } => LogType::FailedExchangeRefresh,
                    TokenRequest::ClientCredentials { .. } => LogType::FailedClientCredentials,
                };
                let subject = Subject {
                    client_id: params.get("client_id"),
                    ip: context.ip,
                    ..Default::default()
                };
                state
                    .logs
                    .record(state.now(), log_type, &error.error_description, subject);
            }
        })?;
    if !client.allows_grant(request.grant_type()) {
        let error = OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            format!(
                "Grant type '{}' not allowed for the client.",
                request.grant_type()
            ),
        );
        return Err(TokenError::OAuth { error, used_basic });
    }
    let grant_type = request.grant_type();
    let tokens = match request {
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            authorization_code::exchange(
                state,
                &client,
                &code,
                redirect_uri.as_deref(),
                code_verifier.as_deref(),
                context,
            )
            .await
        }
        TokenRequest::ClientCredentials { audience, scope } => {
            client_credentials::exchange(state, &client, &audience, scope.as_ref(), context).await
        }
        TokenRequest::RefreshToken {
            refresh_token,
            scope,
        } => refresh_token::exchange(state, &client, &refresh_token, scope, context).await,
    }?;
    state.metrics.token_issued(grant_type);
    Ok(tokens)
}

/// What to mint for one grant.
pub(crate) struct Mint<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    pub scope: &'a Scope,
    pub api: Option<&'a ResourceServer>,
    pub nonce: Option<&'a str>,
    pub auth_time: OffsetDateTime,
    pub sid: &'a str,
    pub jti: &'a str,
    pub now: OffsetDateTime,
    /// The refresh token to hand out with these tokens, if any.
    pub refresh_token: Option<String>,
}

/// Access-token lifetime for an API, or Auth0's 24 h for a userinfo-only token.
pub(crate) fn access_token_lifetime(api: Option<&ResourceServer>) -> i64 {
    api.map_or(86_400, |a| a.token_lifetime)
}

/// Signs the access token and, when `openid` was granted, the ID token — on a blocking
/// thread, since RSA signing is CPU-bound.
pub(crate) async fn mint(state: &AppState, m: Mint<'_>) -> Result<TokenResponse, TokenError> {
    let lifetime = access_token_lifetime(m.api);
    let sub = m.user.sub();
    let access_claims = AccessTokenClaims {
        issuer: &state.issuer,
        sub: &sub,
        audience: m.api.map(|a| a.identifier.as_str()),
        client_id: &m.client.client_id,
        scope: m.scope,
        iat: m.now,
        lifetime,
        jti: m.jti,
        gty: None,
    }
    .to_json();
    let want_id_token = m.scope.contains(OPENID);
    let issuer = state.issuer.to_string();
    let (user, client_id, scope) = (m.user.clone(), m.client.client_id.clone(), m.scope.clone());
    let (nonce, sid) = (m.nonce.map(str::to_owned), m.sid.to_owned());
    let (auth_time, now, id_lifetime) = (
        m.auth_time,
        m.now,
        m.client.jwt_configuration.lifetime_in_seconds,
    );
    let keys = state.keys.clone();
    // Access tokens as the API says (Auth0's `signing_alg`), ID tokens as the client says
    // (`jwt_configuration.alg`); RS256 when there is no API.
    let access_alg = m.api.map_or(SigningAlg::RS256, |a| a.signing_alg);
    let id_alg = m.client.jwt_configuration.alg;
    let algs = [access_alg, id_alg];
    let algs = if want_id_token { &algs[..] } else { &algs[..1] };
    let signed = state
        .keys
        .signing(algs, move || {
            let access_token = keys.sign(access_alg, &access_claims)?;
            let id_token = if want_id_token {
                let claims = IdTokenClaims {
                    issuer: &issuer,
                    user: &user,
                    client_id: &client_id,
                    scope: &scope,
                    nonce: nonce.as_deref(),
                    auth_time,
                    sid: &sid,
                    access_token: &access_token,
                    iat: now,
                    lifetime: id_lifetime,
                }
                .to_json();
                Some(keys.sign(id_alg, &claims)?)
            } else {
                None
            };
            Ok::<_, crate::keys::KeyError>((access_token, id_token))
        })
        .await
        .map_err(|e| Internal(anyhow::Error::new(e)))?
        .map_err(Internal::from)?;
    Ok(TokenResponse {
        access_token: signed.0,
        token_type: "Bearer".into(),
        expires_in: lifetime,
        scope: m.scope.to_string(),
        id_token: signed.1,
        refresh_token: m.refresh_token,
    })
}
