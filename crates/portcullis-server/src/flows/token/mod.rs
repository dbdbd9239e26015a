//! The token endpoint (RFC 6749 §3.2, §5): authenticate the client, check the grant is
//! allowed, then hand over to the grant's own module. Minting lives here, shared by grants.

mod authorization_code;

use portcullis_core::claims::{AccessTokenClaims, IdTokenClaims};
use portcullis_core::client::Client;
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
use crate::state::AppState;

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

/// `POST /oauth/token`. `basic` is the decoded Basic credential pair, if the header was sent.
pub async fn handle(
    state: &AppState,
    params: &Params,
    basic: Option<Result<(String, String), ()>>,
) -> Result<TokenResponse, TokenError> {
    let credentials = client_auth::presented(basic, params)?;
    let used_basic = credentials.used_basic();
    let request =
        TokenRequest::parse(params).map_err(|error| TokenError::OAuth { error, used_basic })?;
    let client = state.store.find_client(credentials.client_id()).await?;
    client_auth::authenticate(client.as_ref(), &credentials).inspect_err(|_| {
        tracing::info!(
            event = "feacft",
            client_id = credentials.client_id(),
            "client authentication failed"
        );
    })?;
    let Some(client) = client else {
        return Err(Internal(anyhow::anyhow!("authenticated a missing client")).into());
    };
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
    match request {
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
            )
            .await
        }
    }
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
    let span = tracing::Span::current();
    let signed = tokio::task::spawn_blocking(move || {
        span.in_scope(|| {
            let access_token = keys.sign(&access_claims)?;
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
                Some(keys.sign(&claims)?)
            } else {
                None
            };
            Ok::<_, crate::keys::KeyError>((access_token, id_token))
        })
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
        refresh_token: None,
    })
}
