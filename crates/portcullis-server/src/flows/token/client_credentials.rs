//! `grant_type=client_credentials` (RFC 6749 §4.4) as Auth0 does it: the client must hold
//! a client grant for the requested API; the access token's `sub` is `{client_id}@clients`
//! and `gty` is `client-credentials`. No ID token, no refresh token.

use portcullis_core::claims::AccessTokenClaims;
use portcullis_core::client::Client;
use portcullis_core::client_grant;
use portcullis_core::log::LogType;
use portcullis_core::proto::token::TokenResponse;
use portcullis_core::proto::{OAuthError, OAuthErrorCode};
use portcullis_core::scope::Scope;

use super::{RequestContext, TokenError};
use crate::crypto;
use crate::flows::Internal;
use crate::logs::Subject;
use crate::state::AppState;

/// Issues an access token for the client itself.
pub async fn exchange(
    state: &AppState,
    client: &Client,
    audience: &str,
    scope: Option<&Scope>,
    context: RequestContext,
) -> Result<TokenResponse, TokenError> {
    let now = state.now();
    let subject = Subject {
        client_id: Some(&client.client_id),
        user_id: None,
        ip: context.ip,
    };
    let fail = |error: OAuthError| {
        state.logs.record(
            now,
            LogType::FailedClientCredentials,
            &error.error_description,
            subject.clone(),
        );
        TokenError::OAuth {
            error,
            used_basic: false,
        }
    };
    if client.is_public() {
        return Err(fail(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "Public clients cannot use client credentials",
        )));
    }
    let Some(api) = state.api(audience).await? else {
        return Err(fail(OAuthError::new(
            OAuthErrorCode::AccessDenied,
            format!("Service not found: {audience}"),
        )));
    };
    let Some(grant) = state.client_grant(&client.client_id, audience).await? else {
        return Err(fail(OAuthError::new(
            OAuthErrorCode::AccessDenied,
            format!(
                "Client is not authorized to access \"{audience}\". You need to create a \"client-grant\" associated to this API."
            ),
        )));
    };
    let scope = client_grant::token_scope(scope, &grant, &api).map_err(fail)?;
    let sub = client_grant::subject(&client.client_id);
    let jti = crypto::random_id::<16>();
    let claims = AccessTokenClaims {
        issuer: &state.issuer,
        sub: &sub,
        audience: Some(&api.identifier),
        client_id: &client.client_id,
        scope: &scope,
        iat: now,
        lifetime: api.token_lifetime,
        jti: &jti,
        gty: Some("client-credentials"),
    }
    .to_json();
    let keys = state.keys.clone();
    let alg = api.signing_alg;
    let access_token = state
        .keys
        .signing(&[alg], move || keys.sign(alg, &claims))
        .await
        .map_err(|e| Internal(anyhow::Error::new(e)))?
        .map_err(Internal::from)?;
    state.logs.record(
        now,
        LogType::SuccessClientCredentials,
        "Client Credentials for Access Token",
        subject.clone(),
    );
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: api.token_lifetime,
        scope: scope.to_string(),
        id_token: None,
        refresh_token: None,
    })
}
