//! Responses shared by several handlers: the authorization response (query redirect or
//! form post), redirects to hosted pages, cookies.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use portcullis_core::authorize::ResponseMode;

use super::error::{HttpError, page};
use crate::flows::authorize::{AuthorizationResponse, Outcome};
use crate::state::AppState;
use crate::views::{FORM_POST_SCRIPT, FormPostPage};

/// Name of the SSO session cookie.
pub fn session_cookie_name(state: &AppState) -> &'static str {
    if state.secure_cookies {
        "__Host-portcullis_session"
    } else {
        "portcullis_session"
    }
}

/// Name of the browser-binding cookie (ties a login transaction to one browser).
pub fn browser_cookie_name(state: &AppState) -> &'static str {
    if state.secure_cookies {
        "__Host-portcullis_browser"
    } else {
        "portcullis_browser"
    }
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, `Path=/`, and `Secure` for https.
pub fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: Option<i64>,
) -> Option<HeaderValue> {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    if state.secure_cookies {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie).ok()
}

/// Turns a flow outcome into a response. `after_post` selects 303 (RFC 9700 §4.12:
/// never 307 after a credential POST) instead of 302.
pub fn outcome(
    state: &AppState,
    outcome: Outcome,
    after_post: bool,
) -> Result<Response, HttpError> {
    match outcome {
        Outcome::Page(error) => Ok(page(state, StatusCode::BAD_REQUEST, &error)),
        Outcome::GoTo(path) => redirect(&path, after_post),
        Outcome::Respond(response) => authorization_response(state, &response, after_post),
    }
}

/// A 302 (after GET) or 303 (after POST) to `location`. Every location is built from
/// ASCII-only parts (see `RedirectUri::parse`), so the header conversion cannot fail in
/// practice; if it did, the user gets an error, never a panic.
fn redirect(location: &str, after_post: bool) -> Result<Response, HttpError> {
    let value =
        HeaderValue::from_str(location).map_err(|e| HttpError::Internal(anyhow::Error::new(e)))?;
    let status = if after_post {
        StatusCode::SEE_OTHER
    } else {
        StatusCode::FOUND
    };
    Ok((status, [(header::LOCATION, value)]).into_response())
}

/// Delivers an authorization response to the client's redirect URI.
pub fn authorization_response(
    state: &AppState,
    response: &AuthorizationResponse,
    after_post: bool,
) -> Result<Response, HttpError> {
    let uri = response.target.redirect_uri.as_str();
    match response.target.response_mode {
        ResponseMode::Query => {
            let mut url = uri.to_owned();
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(response.params.iter().map(|(k, v)| (*k, v.as_str())))
                .finish();
            url.push(if uri.contains('?') { '&' } else { '?' });
            url.push_str(&query);
            redirect(&url, after_post)
        }
        ResponseMode::FormPost => {
            let context = FormPostPage {
                action: uri,
                fields: response
                    .params
                    .iter()
                    .map(|(k, v)| (*k, v.as_str()))
                    .collect(),
                script: FORM_POST_SCRIPT,
            };
            let html = state.views.render("form_post.html", &context)?;
            let digest =
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, FORM_POST_SCRIPT.as_bytes());
            let csp = format!(
                "default-src 'none'; script-src 'sha256-{}'; frame-ancestors 'none'; base-uri 'none'",
                STANDARD.encode(digest.as_ref())
            );
            let mut response = Html(html).into_response();
            if let Ok(v) = HeaderValue::from_str(&csp) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_SECURITY_POLICY, v);
            }
            Ok(response)
        }
    }
}
