//! `/api/v2/keys/signing`: the signing keys and their states. Rotation comes with the key
//! life cycle shared by every node (issue 6).

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use portcullis_store::SigningKeyState;
use serde_json::{Value, json};

use super::{Caller, MgmtError, iso};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v2/keys/signing", get(list))
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
