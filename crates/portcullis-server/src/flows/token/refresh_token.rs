//! `grant_type=refresh_token` (RFC 6749 §6, OIDC Core §12): rate-limited per token, with
//! its rotations (the family), and client IP; the exchange itself (rotate, reuse within the
//! leeway, reuse detection) is decided and applied atomically by the store. A narrower
//! `scope` narrows only the new access token; the refresh token keeps the family's scope.

use portcullis_core::client::Client;
use portcullis_core::log::LogType;
use portcullis_core::proto::token::TokenResponse;
use portcullis_core::proto::{OAuthError, OAuthErrorCode};
use portcullis_core::refresh::Refusal;
use portcullis_core::scope::Scope;
use portcullis_core::secret::{OpaqueToken, TokenHash};
use portcullis_store::{FoundFamily, RefreshExchange, RefreshOutcome};

use super::{Mint, RequestContext, TokenError, access_token_lifetime, invalid_grant, mint};
use crate::crypto;
use crate::logs::Subject;
use crate::state::AppState;

/// Auth0's message for a refresh token that cannot be used.
const INVALID: &str = "Unknown or invalid refresh token.";

/// The tenant log's description of an exchange refused because the family was revoked.
const REVOKED: &str = "The refresh token is revoked";

/// Exchanges a refresh token.
pub async fn exchange(
    state: &AppState,
    client: &Client,
    refresh_token: &str,
    scope: Option<Scope>,
    context: RequestContext,
) -> Result<TokenResponse, TokenError> {
    let now = state.now();
    let hash = TokenHash::of(refresh_token);
    let log = |log_type: LogType, description: &str, user_id: Option<&str>| {
        let subject = Subject {
            client_id: Some(&client.client_id),
            user_id,
            ip: context.ip,
        };
        state.logs.record(now, log_type, description, subject);
    };
    // The family's scope and client never change, so they are checked before anything does.
    let found = match state.store.find_refresh_family_with_user(&hash).await? {
        Some(found) if found.family.client_id == client.client_id => found,
        _ => {
            log(LogType::FailedExchangeRefresh, INVALID, None);
            return Err(invalid_grant(INVALID));
        }
    };
    // Refused before the rate limit, so a revoked family's token is never answered `429`
    // when `invalid_grant` is what its client needs to hear.
    if found.revoked {
        log(
            LogType::FailedExchangeRefresh,
            REVOKED,
            Some(&found.family.user_id),
        );
        return Err(invalid_grant(INVALID));
    }
    let FoundFamily { family, user, .. } = found;
    // Per family, not per token: a rotation neither resets the count nor leaves a bucket
    // behind for a token that can no longer be exchanged (one per rotation, which the
    // limiter kept until its next pruning: docs/performance.md, "The refresh rate limit's
    // buckets").
    let ip = context.ip.map(|ip| ip.to_string()).unwrap_or_default();
    let verdict = state.refresh_limiter.check(format!("{}|{ip}", family.id));
    if !verdict.allowed {
        return Err(TokenError::RateLimited(verdict));
    }
    let access_scope = match scope {
        None => family.scope.clone(),
        Some(requested) if requested.is_subset_of(&family.scope) => requested,
        Some(_) => {
            let error = OAuthError::new(
                OAuthErrorCode::InvalidScope,
                "The requested scope exceeds the scope originally granted",
            );
            return Err(TokenError::OAuth {
                error,
                used_basic: false,
            });
        }
    };
    let Some(user) = user.filter(|u| !u.blocked) else {
        state
            .store
            .revoke_refresh_family(&family.id, "user blocked or deleted", now)
            .await?;
        log(
            LogType::FailedExchangeRefresh,
            "The user is blocked or deleted",
            Some(&family.user_id),
        );
        return Err(invalid_grant(INVALID));
    };
    let api = match &family.audience {
        Some(audience) => state.api(audience).await?,
        None => None,
    };
    if family.audience.is_some() && api.is_none() {
        return Err(invalid_grant(INVALID));
    }
    let jti = crypto::random_id::<16>();
    let at_expires = now + time::Duration::seconds(access_token_lifetime(api.as_ref()));
    let new_token = OpaqueToken::from_random(&crypto::random());
    let outcome = state
        .store
        .exchange_refresh_token(&RefreshExchange {
            token_hash: &hash,
            client_id: &client.client_id,
            now,
            new_token_hash: &new_token.hash(),
            access_token: (&jti, at_expires),
        })
        .await?;
    let (family, rotated) = match outcome {
        RefreshOutcome::Exchanged { family, rotated } => (family, rotated),
        RefreshOutcome::ReuseDetected { family } => {
            tracing::warn!(family = %family.id, client_id = %client.client_id, "refresh token reuse detected; family revoked");
            log(
                LogType::FailedRotatingRefresh,
                "Reuse of an invalidated refresh token: the whole family is revoked",
                Some(&family.user_id),
            );
            return Err(invalid_grant(INVALID));
        }
        RefreshOutcome::Refused(reason) => {
            let why = match reason {
                Refusal::Revoked => REVOKED,
                Refusal::Expired => "The refresh token expired",
                Refusal::OtherClient => "The refresh token was issued to another client",
            };
            log(LogType::FailedExchangeRefresh, why, Some(&family.user_id));
            return Err(invalid_grant(INVALID));
        }
        RefreshOutcome::Unknown => {
            log(LogType::FailedExchangeRefresh, INVALID, None);
            return Err(invalid_grant(INVALID));
        }
    };
    let response = mint(
        state,
        Mint {
            client,
            user: &user,
            scope: &access_scope,
            api: api.as_ref(),
            nonce: None,
            auth_time: family.auth_time,
            sid: &family.session_id,
            jti: &jti,
            now,
            refresh_token: rotated.then(|| new_token.expose().to_owned()),
        },
    )
    .await?;
    log(
        LogType::SuccessExchangeRefresh,
        "Refresh Token for Access Token",
        Some(&user.id),
    );
    Ok(response)
}
