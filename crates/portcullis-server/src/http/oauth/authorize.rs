//! `GET/POST /authorize` (RFC 6749 §3.1; OIDC Core §3.1.2.1 allows POST with a form body).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use portcullis_core::params::Params;

use crate::crypto;
use crate::flows::authorize::{self, Browser};
use crate::http::error::{HttpError, page};
use crate::http::extract::{body_params, cookie, query_params};
use crate::http::response::{browser_cookie_name, outcome, session_cookie_name, set_cookie};
use crate::state::AppState;

pub async fn get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    match query_params(query.as_deref()) {
        Ok(params) => handle(&state, &params, &headers).await,
        // Nothing is trusted yet: the error is shown, never redirected.
        Err(e) => Ok(page(&state, StatusCode::BAD_REQUEST, &e)),
    }
}

pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    match body_params(&headers, &body, false) {
        Ok(params) => handle(&state, &params, &headers).await,
        Err(e) => Ok(page(&state, StatusCode::BAD_REQUEST, &e)),
    }
}

async fn handle(
    state: &AppState,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Response, HttpError> {
    let existing = cookie(headers, browser_cookie_name(state));
    let browser = Browser {
        id: existing.clone().unwrap_or_else(crypto::random_id::<32>),
    };
    let session = cookie(headers, session_cookie_name(state));
    let result = authorize::start(state, params, &browser, session.as_deref()).await?;
    let mut response = outcome(state, result, false)?;
    if existing.is_none()
        && let Some(v) = set_cookie(state, browser_cookie_name(state), &browser.id, None)
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}
