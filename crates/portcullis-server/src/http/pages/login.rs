//! `GET/POST /u/login`: the hosted login page (DESIGN §2 "Hosted pages").

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::{Visit, open, submit};
use crate::flows::login::{self, LoginResult, WRONG_CREDENTIALS};
use crate::http::error::HttpError;
use crate::http::extract::{ClientIp, cookie};
use crate::http::response::{outcome, session_cookie_name, set_cookie};
use crate::state::AppState;
use crate::views::LoginPage;

const FORM: &str = "login";

#[derive(Deserialize)]
pub struct PageQuery {
    state: Option<String>,
}

pub async fn get(
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let Visit { resumed, browser } = match open(&state, &headers, q.state.as_deref()).await? {
        Ok(v) => v,
        Err(response) => return Ok(response),
    };
    let hint = resumed.tx.request.login_hint.as_deref().unwrap_or_default();
    render(
        &state,
        &resumed.client.name,
        &resumed.handle,
        &browser.id,
        hint,
        None,
        StatusCode::OK,
    )
}

pub async fn post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let (form, Visit { resumed, browser }) = match submit(&state, &headers, &body, FORM).await? {
        Ok(v) => v,
        Err(response) => return Ok(response),
    };
    let username = form.get("username").unwrap_or_default().trim().to_owned();
    let password = form.get("password").unwrap_or_default().to_owned();
    let (client_name, handle) = (resumed.client.name.clone(), resumed.handle.clone());
    let previous = cookie(&headers, session_cookie_name(&state));
    match login::submit(
        &state,
        resumed,
        &username,
        password,
        previous.as_deref(),
        ip,
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    )
    .await?
    {
        LoginResult::Failed => render(
            &state,
            &client_name,
            &handle,
            &browser.id,
            &username,
            Some(WRONG_CREDENTIALS),
            StatusCode::BAD_REQUEST,
        ),
        LoginResult::Throttled { until } => {
            let minutes = ((until - state.now()).whole_seconds().max(1) + 59) / 60;
            let message = format!(
                "Too many failed login attempts. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            );
            let mut response = render(
                &state,
                &client_name,
                &handle,
                &browser.id,
                &username,
                Some(&message),
                StatusCode::TOO_MANY_REQUESTS,
            )?;
            response.headers_mut().insert(
                header::RETRY_AFTER,
                axum::http::HeaderValue::from((until - state.now()).whole_seconds().max(1)),
            );
            Ok(response)
        }
        LoginResult::LoggedIn {
            session_cookie,
            outcome: next,
        } => {
            let mut response = outcome(&state, next, true)?;
            let max_age = state.settings.sessions.absolute.whole_seconds();
            if let Some(v) = set_cookie(
                &state,
                session_cookie_name(&state),
                session_cookie.expose(),
                Some(max_age),
            ) {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
            Ok(response)
        }
    }
}

fn render(
    state: &AppState,
    client_name: &str,
    handle: &str,
    browser: &str,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, HttpError> {
    let csrf = state.secrets.csrf_token(FORM, handle, browser);
    let html = state.views.render(
        "login.html",
        &LoginPage {
            client_name,
            state: handle,
            csrf: &csrf,
            username,
            error,
        },
    )?;
    Ok((status, Html(html)).into_response())
}
