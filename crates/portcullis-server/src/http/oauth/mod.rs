//! OAuth 2.0 endpoints: authorization and token.

mod authorize;
mod revoke;
mod token;

use axum::Router;
use axum::routing::{get, post};
use portcullis_core::proto::paths;

use crate::state::AppState;

/// Routes of this area.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::AUTHORIZE, get(authorize::get).post(authorize::post))
        .route(paths::TOKEN, post(token::post))
        .route(paths::REVOKE, post(revoke::post))
}
