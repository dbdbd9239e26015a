//! Hosted HTML pages: login, consent, the landing page and the stylesheet; and beside the
//! landing page, the operations endpoints (health, readiness, metrics).

mod consent;
mod home;
mod login;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use portcullis_core::params::Params;
use portcullis_core::proto::{OAuthError, OAuthErrorCode, paths};

use crate::flows::Internal;
use crate::flows::authorize::{self, Browser, Resumed};
use crate::http::error::page;
use crate::http::extract::{body_params, cookie};
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
        .route(paths::READYZ, get(home::readyz))
        .route(paths::METRICS, get(home::metrics))
}

/// A hosted page visited within a login transaction of this browser.
struct Visit {
    resumed: Resumed,
    browser: Browser,
}

/// GET: the transaction named by `?state=`, for this browser; or the page to show instead.
async fn open(
    state: &AppState,
    headers: &HeaderMap,
    handle: Option<&str>,
) -> Result<Result<Visit, Response>, Internal> {
    let Some(handle) = handle else {
        let e = OAuthError::new(
            OAuthErrorCode::InvalidRequest,
            "Missing required parameter: state",
        );
        return Ok(Err(page(state, StatusCode::BAD_REQUEST, &e)));
    };
    let browser = cookie(headers, browser_cookie_name(state)).map(|id| Browser { id });
    let resumed = match authorize::resume(state, handle, browser.as_ref()).await? {
        Ok(r) => r,
        Err(e) => return Ok(Err(page(state, StatusCode::BAD_REQUEST, &e.to_oauth()))),
    };
    // `resume` only succeeds for the browser that started the transaction.
    Ok(browser
        .map(|browser| Visit { resumed, browser })
        .ok_or_else(|| csrf_failed(state)))
}

/// POST: the form, its transaction for this browser, and a valid CSRF token for `form_name`.
async fn submit(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
    form_name: &str,
) -> Result<Result<(Params, Visit), Response>, Internal> {
    let form = match body_params(headers, body, false) {
        Ok(p) => p,
        Err(e) => return Ok(Err(page(state, StatusCode::BAD_REQUEST, &e))),
    };
    let visit = match open(state, headers, form.get("state")).await? {
        Ok(v) => v,
        Err(response) => return Ok(Err(response)),
    };
    let csrf = form.get("csrf").unwrap_or_default();
    if !state
        .secrets
        .verify_csrf(form_name, &visit.resumed.handle, &visit.browser.id, csrf)
    {
        return Ok(Err(csrf_failed(state)));
    }
    Ok(Ok((form, visit)))
}

/// A CSRF failure: the form was not rendered for this browser and transaction.
fn csrf_failed(state: &AppState) -> Response {
    let e = OAuthError::new(
        OAuthErrorCode::InvalidRequest,
        "Invalid form submission. Reload the page and try again.",
    );
    page(state, StatusCode::FORBIDDEN, &e)
}
