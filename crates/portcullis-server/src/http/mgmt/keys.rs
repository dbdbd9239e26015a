//! `/api/v2/keys/signing`: the signing keys and their states, and rotation (Auth0's
//! model: the published next key becomes current; other nodes pick it up within 30 s, and
//! sign with the previous key until then, which stays published).

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use portcullis_store::SigningKeyState;
use serde_json::{Value, json};

use super::{Caller, MgmtError, iso};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v2/keys/signing", get(list))
        .route("/api/v2/keys/signing/rotate", axum::routing::post(rotate))
}

async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, MgmtError> {
    caller.require("read:signing_keys")?;
    let keys: Vec<Value> = state
        .store
        .signing_keys()
        .await?
        .iter()
        .map(|k| {
            json!({
                "kid": k.kid, "alg": k.alg, "thumbprint": k.kid,
                "current": k.state == SigningKeyState::Current, "next": k.state == SigningKeyState::Next,
                "previous": k.state == SigningKeyState::Previous, "revoked": false, "current_since": iso(k.created_at),
            })
        })
        .collect();
    Ok(Json(keys).into_response())
}

async fn rotate(State(state): State<AppState>, caller: Caller) -> Result<Response, MgmtError> {
    caller.require("create:signing_keys")?;
    caller.require("update:signing_keys")?;
    let kid = state
        .keys
        .rotate(state.store.as_ref(), state.now())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "signing key rotation failed");
            MgmtError::from(portcullis_store::StoreError::Unavailable(Box::new(e)))
        })?;
    Ok((axum::http::StatusCode::CREATED, Json(json!({"kid": kid}))).into_response())
}
