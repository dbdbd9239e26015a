//! `POST /oauth/revoke` (RFC 7009, Auth0 semantics): revokes a refresh token's family and
//! every access token minted from it. Unknown tokens answer 200 (RFC 7009 §2.2); a store
//! failure answers 503, never a false 200 (fosite CVE-2020-15223).

use portcullis_core::log::LogType;
use portcullis_core::params::Params;
use portcullis_core::proto::{OAuthError, OAuthErrorCode};
use portcullis_core::secret::TokenHash;
use portcullis_store::RevokeOutcome;

use super::token::{RequestContext, TokenError, authenticate_client};
use crate::logs::Subject;
use crate::state::AppState;

/// Revokes the presented refresh token.
pub async fn revoke(
    state: &AppState,
    params: &Params,
    basic: Option<Result<(String, String), ()>>,
    context: RequestContext,
) -> Result<(), TokenError> {
    if let Some(name) = params.first_repeated() {
        let error = OAuthError::new(
            OAuthErrorCode::InvalidRequest,
            format!("Parameter {name} must not be provided more than once"),
        );
        return Err(TokenError::OAuth {
            error,
            used_basic: basic.is_some(),
        });
    }
    let (client, used_basic) = authenticate_client(state, params, basic).await?;
    let Some(token) = params.get("token") else {
        let error = OAuthError::new(
            OAuthErrorCode::InvalidRequest,
            "Missing required parameter: token",
        );
        return Err(TokenError::OAuth { error, used_basic });
    };
    let now = state.now();
    let outcome = state
        .store
        .revoke_refresh_token(
            &TokenHash::of(token),
            &client.client_id,
            "revoked by the client",
            now,
        )
        .await
        .map_err(|e| TokenError::Unavailable(e.into()))?;
    match outcome {
        RevokeOutcome::Revoked(family) => {
            let subject = Subject {
                client_id: Some(&client.client_id),
                user_id: Some(&family.user_id),
                ip: context.ip,
            };
            state.logs.record(
                now,
                LogType::RefreshRevoked,
                "Refresh token revoked",
                subject,
            );
            Ok(())
        }
        RevokeOutcome::Unknown => Ok(()),
        // RFC 7009 §2.1: a token issued to another client is refused.
        RevokeOutcome::OtherClient => {
            let error = OAuthError::new(
                OAuthErrorCode::InvalidGrant,
                "The token was not issued to this client",
            );
            Err(TokenError::OAuth { error, used_basic })
        }
    }
}
