//! UserInfo (OIDC Core §5.3): the claims of the user an access token was issued for,
//! as far as its scope releases them.

use portcullis_core::claims;
use portcullis_core::scope::Scope;
use portcullis_core::user::User;
use portcullis_store::TokenUser;
use serde_json::{Map, Value};

use super::Internal;
use crate::keys::VerifyError;
use crate::state::AppState;

/// Why the token was refused (RFC 6750 §3.1 `invalid_token`).
#[derive(Debug)]
pub enum UserinfoError {
    /// Invalid, expired or revoked token, or its user is gone or blocked.
    InvalidToken(&'static str),
    /// Store or key failure.
    Internal(Internal),
}

impl From<Internal> for UserinfoError {
    fn from(e: Internal) -> Self {
        Self::Internal(e)
    }
}

/// Verifies the bearer token and returns the user's claims.
pub async fn claims(state: &AppState, token: &str) -> Result<Map<String, Value>, UserinfoError> {
    let now = state.now();
    let verified = state
        .keys
        .verify(
            token,
            &state.issuer,
            &claims::userinfo_audience(&state.issuer),
            now,
        )
        .map_err(|e| {
            tracing::debug!(error = %e, "userinfo token refused");
            match e {
                VerifyError::Expired => UserinfoError::InvalidToken("The access token expired"),
                VerifyError::Invalid(_) => {
                    UserinfoError::InvalidToken("The access token is invalid")
                }
            }
        })?;
    let jti = verified
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let sub = verified
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(user_id) = User::id_from_sub(sub) else {
        return Err(UserinfoError::InvalidToken("The access token is invalid"));
    };
    let user = match state
        .store
        .token_user(user_id, jti)
        .await
        .map_err(Internal::from)?
    {
        TokenUser::Revoked => {
            return Err(UserinfoError::InvalidToken("The access token was revoked"));
        }
        TokenUser::Found(user) if !user.blocked => *user,
        TokenUser::Found(_) | TokenUser::Unknown => {
            return Err(UserinfoError::InvalidToken("The access token is invalid"));
        }
    };
    let scope = Scope::parse(
        verified
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    Ok(claims::userinfo(&user, &scope))
}
