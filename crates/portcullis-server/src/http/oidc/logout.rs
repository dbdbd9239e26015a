//! `GET /v2/logout` (Auth0) and `GET/POST /oidc/logout` (OpenID Connect RP-Initiated
//! Logout): the flow ends the session; this clears the cookie and renders the outcome.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use portcullis_core::params::Params;

use crate::flows::logout::{self, LogoutOutcome, OidcLogout};
use crate::http::error::{HttpError, page};
use crate::http::extract::{ClientIp, body_params, cookie, query_params};
use crate::http::response::{session_cookie_name, set_cookie};
use crate::state::AppState;
use crate::views::LogoutPage;

const FORM: &str = "logout";

pub async fn v2(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let params = match query_params(query.as_deref()) {
        Ok(p) => p,
        Err(e) => return Ok(page(&state, StatusCode::BAD_REQUEST, &e)),
    };
    let session = cookie(&headers, session_cookie_name(&state));
    let outcome = logout::v2(
        &state,
        session.as_deref(),
        params.get("client_id"),
        params.get("returnTo"),
        ip,
    )
    .await?;
    // /v2/logout ends the session whatever else it decides.
    render(&state, outcome, &params, None, true)
}

pub async fn get(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    match query_params(query.as_deref()) {
        Ok(params) => oidc(&state, &params, &headers, ip).await,
        Err(e) => Ok(page(&state, StatusCode::BAD_REQUEST, &e)),
    }
}

pub async fn post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    match body_params(&headers, &body, false) {
        Ok(params) => oidc(&state, &params, &headers, ip).await,
        Err(e) => Ok(page(&state, StatusCode::BAD_REQUEST, &e)),
    }
}

async fn oidc(
    state: &AppState,
    params: &Params,
    headers: &HeaderMap,
    ip: Option<std::net::IpAddr>,
) -> Result<Response, HttpError> {
    let session = cookie(headers, session_cookie_name(state));
    // A confirmation counts only with the CSRF token rendered for this session.
    let confirmed = params.get("action") == Some("logout")
        && session.as_deref().is_some_and(|s| {
            state
                .secrets
                .verify_csrf(FORM, s, "", params.get("csrf").unwrap_or_default())
        });
    let request = OidcLogout {
        id_token_hint: params.get("id_token_hint"),
        post_logout_redirect_uri: params.get("post_logout_redirect_uri"),
        state: params.get("state"),
        client_id: params.get("client_id"),
        logout_hint: params.get("logout_hint"),
        confirmed,
    };
    let outcome = logout::oidc(state, session.as_deref(), request, ip).await?;
    // /oidc/logout ends the session only when it redirects or says "logged out".
    let ended = matches!(
        outcome,
        LogoutOutcome::Redirect(_) | LogoutOutcome::LoggedOut
    );
    render(state, outcome, params, session.as_deref(), ended)
}

/// Renders the outcome; clears the session cookie only when the session was ended, so a
/// refused request never leaves a live server-side session behind a cleared cookie.
fn render(
    state: &AppState,
    outcome: LogoutOutcome,
    params: &Params,
    session_cookie: Option<&str>,
    ended: bool,
) -> Result<Response, HttpError> {
    let mut response = match outcome {
        LogoutOutcome::Redirect(url) => {
            let location = HeaderValue::from_str(&url)
                .map_err(|e| HttpError::Internal(anyhow::Error::new(e)))?;
            (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
        }
        LogoutOutcome::LoggedOut => {
            Html(state.views.render("logged_out.html", &())?).into_response()
        }
        LogoutOutcome::Error(e) => page(state, StatusCode::BAD_REQUEST, &e),
        LogoutOutcome::Confirm(_) => {
            // The CSRF token is bound to the session cookie, which only this browser has.
            let csrf = state
                .secrets
                .csrf_token(FORM, session_cookie.unwrap_or_default(), "");
            let carried = ["client_id", "post_logout_redirect_uri", "state"];
            let fields = carried
                .iter()
                .filter_map(|k| params.get(k).map(|v| (*k, v)))
                .collect();
            let html = state.views.render(
                "logout.html",
                &LogoutPage {
                    client_name: params.get("client_id"),
                    csrf: &csrf,
                    fields,
                },
            )?;
            return Ok(Html(html).into_response());
        }
    };
    if ended && let Some(v) = set_cookie(state, session_cookie_name(state), "", Some(0)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}
