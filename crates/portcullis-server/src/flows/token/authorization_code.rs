//! `grant_type=authorization_code` (RFC 6749 §4.1.3, OIDC Core §3.1.3.2): consume the
//! code atomically, check its bindings, mint the tokens. A replayed code is refused and
//! the access token minted from it is revoked (RFC 6749 §4.1.2).

use portcullis_core::client::Client;
use portcullis_core::code;
use portcullis_core::proto::token::TokenResponse;
use portcullis_core::resource_server::ResourceServer;
use portcullis_core::secret::TokenHash;
use portcullis_store::TakenCode;

use super::{Mint, TokenError, invalid_grant, mint};
use crate::crypto;
use crate::state::AppState;

const INVALID_CODE: &str = "Invalid authorization code";

/// Redeems a code for tokens.
pub async fn exchange(
    state: &AppState,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
) -> Result<TokenResponse, TokenError> {
    let now = state.now();
    // The jti is chosen before the code is consumed and recorded by the same statement,
    // so a replay racing this request still finds the token to revoke.
    let jti = crypto::random_id::<16>();
    let revocable_until = now + time::Duration::seconds(ResourceServer::MAX_TOKEN_LIFETIME);
    let taken = state
        .store
        .take_code(&TokenHash::of(code), now, &jti, revocable_until)
        .await?;
    let record = match taken {
        TakenCode::Taken(record) => record,
        TakenCode::Unknown => return Err(invalid_grant(INVALID_CODE)),
        TakenCode::Replayed {
            access_token_jti,
            access_token_expires_at,
        } => {
            if let (Some(jti), Some(until)) = (access_token_jti, access_token_expires_at) {
                state.store.revoke_access_token(&jti, until).await?;
            }
            tracing::warn!(event = "feacft", client_id = %client.client_id, "authorization code replayed; tokens issued from it revoked");
            return Err(invalid_grant(INVALID_CODE));
        }
    };
    code::check_redemption(&record, &client.client_id, redirect_uri, code_verifier, now).map_err(
        |error| TokenError::OAuth {
            error,
            used_basic: false,
        },
    )?;
    let user = state.store.find_user(&record.user_id).await?;
    let Some(user) = user.filter(|u| !u.blocked) else {
        return Err(invalid_grant(INVALID_CODE));
    };
    let api = match &record.audience {
        Some(audience) => match state.store.find_resource_server(audience).await? {
            Some(api) => Some(api),
            None => return Err(invalid_grant(&format!("Service not found: {audience}"))),
        },
        None => None,
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
        },
    )
    .await?;
    tracing::info!(event = "seacft", client_id = %client.client_id, "authorization code exchanged");
    Ok(response)
}
