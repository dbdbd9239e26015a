//! The consent page's flow: what to ask, and what Accept or Decline does.

use portcullis_core::consent;
use portcullis_core::proto::{OAuthError, OAuthErrorCode};
use portcullis_core::session::Session;

use super::Internal;
use super::authorize::{self, AuthorizationResponse, Outcome, Resumed};
use crate::state::AppState;

/// The user's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Grant the requested permissions.
    Accept,
    /// Refuse: `access_denied` goes back to the client.
    Decline,
}

/// Records the decision and advances the flow.
pub async fn decide(
    state: &AppState,
    resumed: Resumed,
    session: &Session,
    decision: Decision,
) -> Result<Outcome, Internal> {
    let Resumed {
        handle,
        mut tx,
        client,
        api,
    } = resumed;
    if decision == Decision::Decline {
        state
            .store
            .delete_login_transaction(&portcullis_core::secret::TokenHash::of(&handle))
            .await?;
        let error = OAuthError::new(
            OAuthErrorCode::AccessDenied,
            "User did not authorize the request",
        );
        return Ok(Outcome::Respond(AuthorizationResponse::error(
            state,
            tx.request.target,
            error,
        )));
    }
    let granted = consent::granted_scope(&tx.request.scope, api.as_ref());
    state
        .store
        .save_grant(
            &session.user_id,
            &client.client_id,
            tx.request.audience.as_deref(),
            &granted,
            state.now(),
        )
        .await?;
    tx.consented = true;
    authorize::advance(
        state,
        Some(&handle),
        tx,
        Some((session, None)),
        &client,
        api.as_ref(),
    )
    .await
}
