//! OpenID Connect endpoints: discovery, JWKS, UserInfo.

mod discovery;
mod jwks;
mod logout;
mod userinfo;

use axum::Router;
use axum::routing::get;
use portcullis_core::proto::paths;

use crate::state::AppState;

/// Routes of this area.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::OPENID_CONFIGURATION, get(discovery::get))
        .route(paths::OAUTH_AUTHORIZATION_SERVER, get(discovery::get))
        .route(paths::JWKS, get(jwks::get))
        .route(paths::USERINFO, get(userinfo::get).post(userinfo::post))
        .route(paths::OIDC_LOGOUT, get(logout::get).post(logout::post))
        .route(paths::V2_LOGOUT, get(logout::v2))
}
