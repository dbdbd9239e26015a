//! `grant_type=authorization_code` (RFC 6749 §4.1.3, OIDC Core §3.1.3.2): consume the
//! code atomically, check its bindings, mint the tokens, and start a refresh-token family
//! when one may be issued. A replayed code is refused and everything minted from it —
//! the access token and the refresh family — is revoked (RFC 6749 §4.1.2).

use portcullis_core::client::Client;
use portcullis_core::code;
use portcullis_core::log::LogType;
use portcullis_core::proto::token::TokenResponse;
use portcullis_core::refresh::{self, RefreshFamily};
use portcullis_core::resource_server::ResourceServer;
use portcullis_core::secret::{OpaqueToken, TokenHash};
use portcullis_store::TakenCode;

use super::{Mint, RequestContext, TokenError, access_token_lifetime, invalid_grant, mint};
use crate::crypto;
use crate::logs::Subject;
use crate::state::AppState;

const INVALID_CODE: &str = "Invalid authorization code";

/// Redeems a code for tokens.
pub async fn exchange(
    state: &AppState,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    context: RequestContext,
) -> Result<TokenResponse, TokenError> {
    let now = state.now();
    let fail = |error: TokenError, user_id: Option<&str>| {
        if let TokenError::OAuth { error, .. } = &error {
            let subject = Subject {
                client_id: Some(&client.client_id),
                user_id,
                ip: context.ip,
            };
            state.logs.record(
                now,
                LogType::FailedExchangeCode,
                &error.error_description,
                subject,
            );
        }
        error
    };
    // The jti and the refresh family id are chosen before the code is consumed and recorded
    // by the same statement, so a replay racing this request still finds what to revoke.
    let jti = crypto::random_id::<16>();
    let family_id = crypto::random_id::<16>();
    let revocable_until = now + time::Duration::seconds(ResourceServer::MAX_TOKEN_LIFETIME);
    let taken = state
        .store
        .take_code(&TokenHash::of(code), now, &jti, revocable_until, &family_id)
        .await?;
    let (record, user) = match taken {
        TakenCode::Taken(record, user) => (record, user),
        TakenCode::Unknown => return Err(fail(invalid_grant(INVALID_CODE), None)),
        TakenCode::Replayed {
            access_token_jti,
            access_token_expires_at,
            refresh_family_id,
        } => {
            if let (Some(jti), Some(until)) = (access_token_jti, access_token_expires_at) {
                state.store.revoke_access_token(&jti, until).await?;
            }
            if let Some(family) = refresh_family_id {
                state
                    .store
                    .revoke_refresh_family(&family, "code replay", now)
                    .await?;
            }
            tracing::warn!(client_id = %client.client_id, "authorization code replayed; tokens issued from it revoked");
            return Err(fail(invalid_grant(INVALID_CODE), None));
        }
    };
    let user_id = Some(record.user_id.as_str());
    code::check_redemption(&record, &client.client_id, redirect_uri, code_verifier, now).map_err(
        |error| {
            fail(
                TokenError::OAuth {
                    error,
                    used_basic: false,
                },
                user_id,
            )
        },
    )?;
    let Some(user) = user.filter(|u| !u.blocked) else {
        return Err(fail(invalid_grant(INVALID_CODE), user_id));
    };
    let api = match &record.audience {
        Some(audience) => match state.api(audience).await? {
            Some(api) => Some(api),
            None => {
                return Err(fail(
                    invalid_grant(&format!("Service not found: {audience}")),
                    user_id,
                ));
            }
        },
        None => None,
    };
    let refresh_token =
        if refresh::may_issue(&record.scope, api.as_ref(), client, context.has_origin) {
            let token = OpaqueToken::from_random(&crypto::random());
            let family = RefreshFamily {
                id: family_id,
                client_id: client.client_id.clone(),
                user_id: user.id.clone(),
                audience: record.audience.clone(),
                scope: record.scope.clone(),
                session_id: record.session_id.clone(),
                auth_time: record.auth_time,
                policy: client.refresh_token,
                created_at: now,
            };
            let at_expires = now + time::Duration::seconds(access_token_lifetime(api.as_ref()));
            state
                .store
                .create_refresh_family(&family, &token.hash(), (&jti, at_expires))
                .await?;
            Some(token.expose().to_owned())
        } else {
            None
        };
    let response = mint(
        state,
        Mint {
            client,
            user: &user,
            scope: &record.scope,
            api: api.as_ref(),
            nonce: record.nonce.as_deref(),
            auth_time: record.auth_time,
            sid: &record.session_id,
            jti: &jti,
            now,
            refresh_token,
        },
    )
    .await?;
    let subject = Subject {
        client_id: Some(&client.client_id),
        user_id: Some(&user.id),
        ip: context.ip,
    };
    state.logs.record(
        now,
        LogType::SuccessExchangeCode,
        "Authorization Code for Access Token",
        subject,
    );
    Ok(response)
}
