//! Hosted HTML pages: login, consent, the landing page and the stylesheet.

mod consent;
mod home;
mod login;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use portcullis_core::proto::{OAuthError, OAuthErrorCode, paths};

use crate::flows::Internal;
use crate::flows::authorize::{self, Browser, Resumed};
use crate::http::error::page;
use crate::http::extract::cookie;
use crate::http::response::browser_cookie_name;
use crate::state::AppState;

/// Routes of this area.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::LOGIN, get(login::get).post(login::post))
        .route(paths::CONSENT, get(consent::get).post(consent::post))
        .route(paths::HOME, get(home::get))
        .route(paths::STYLESHEET, get(home::stylesheet))
        .route(paths::HEALTHZ, get(home::healthz))
}

/// The browser-binding cookie of this request.
fn browser(state: &AppState, headers: &HeaderMap) -> Option<Browser> {
    cookie(headers, browser_cookie_name(state)).map(|id| Browser { id })
}

/// Loads the login transaction a page carries, or the error page to show instead.
async fn load(
    state: &AppState,
    handle: Option<&str>,
    browser: Option<&Browser>,
) -> Result<Result<Resumed, Response>, Internal> {
    let Some(handle) = handle else {
        let e = OAuthError::new(
            OAuthErrorCode::InvalidRequest,
            "Missing required parameter: state",
        );
        return Ok(Err(page(state, StatusCode::BAD_REQUEST, &e)));
    };
    Ok(authorize::resume(state, handle, browser)
        .await?
        .map_err(|e| page(state, StatusCode::BAD_REQUEST, &e.to_oauth())))
}

/// A CSRF failure: the form was not rendered for this browser and transaction.
fn csrf_failed(state: &AppState) -> Response {
    let e = OAuthError::new(
        OAuthErrorCode::InvalidRequest,
        "Invalid form submission. Reload the page and try again.",
    );
    page(state, StatusCode::FORBIDDEN, &e)
}
