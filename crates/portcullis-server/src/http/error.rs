//! Every error response, in one file: OAuth JSON errors (RFC 6749 §5.2) with their
//! status and challenge, bearer errors (RFC 6750 §3), error pages, and internal errors
//! (logged once here, answered generically).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use portcullis_core::proto::{OAuthError, OAuthErrorCode};

use crate::flows::Internal;
use crate::flows::token::TokenError;
use crate::state::AppState;
use crate::views::ErrorPage;

/// An error answered by an HTTP handler.
#[derive(Debug)]
pub enum HttpError {
    /// RFC 6749 §5.2 JSON error from the token endpoint.
    Token {
        /// The error.
        error: OAuthError,
        /// Whether the client used HTTP Basic (a 401 then challenges Basic).
        used_basic: bool,
    },
    /// RFC 6750 §3 error from a protected resource; `None` when no token was sent.
    Bearer(Option<OAuthError>),
    /// Auth0's 429 with `x-ratelimit-*` headers.
    RateLimited(crate::ratelimit::Verdict),
    /// The store failed where a success would be a lie (revocation): 503, logged.
    Unavailable(anyhow::Error),
    /// Not the caller's fault.
    Internal(anyhow::Error),
}

impl From<Internal> for HttpError {
    fn from(e: Internal) -> Self {
        Self::Internal(e.0)
    }
}

impl From<TokenError> for HttpError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::OAuth { error, used_basic } => Self::Token { error, used_basic },
            TokenError::RateLimited(verdict) => Self::RateLimited(verdict),
            TokenError::Unavailable(i) => Self::Unavailable(i.0),
            TokenError::Internal(i) => i.into(),
        }
    }
}

impl From<crate::views::RenderError> for HttpError {
    fn from(e: crate::views::RenderError) -> Self {
        Self::Internal(anyhow::Error::new(e))
    }
}

/// RFC 6749 §5.2 status of a token-endpoint error: 401 for `invalid_client`, 403 for
/// `access_denied` (Auth0), 429 for rate limits, 400 for the rest (including `invalid_grant`; Auth0 documents 403, the
/// RFC and the conformance suite require 400).
pub fn token_status(code: OAuthErrorCode) -> StatusCode {
    match code {
        OAuthErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        // Auth0 answers a refused client grant with 403; RFC 6749 §5.2 does not list it.
        OAuthErrorCode::AccessDenied => StatusCode::FORBIDDEN,
        OAuthErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        OAuthErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        match self {
            Self::Token { error, used_basic } => {
                let status = token_status(error.error);
                let mut response = (status, Json(&error)).into_response();
                if status == StatusCode::UNAUTHORIZED && used_basic {
                    response.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"portcullis\""),
                    );
                }
                no_store(response)
            }
            Self::Bearer(error) => {
                let (status, challenge) = match &error {
                    None => (
                        StatusCode::UNAUTHORIZED,
                        "Bearer realm=\"portcullis\"".to_owned(),
                    ),
                    Some(e) => {
                        let status = match e.error {
                            OAuthErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
                            OAuthErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
                            _ => StatusCode::UNAUTHORIZED,
                        };
                        // error_description is restricted to RFC 6749's safe characters,
                        // so it cannot break out of the quoted string.
                        (
                            status,
                            format!(
                                "Bearer realm=\"portcullis\", error=\"{}\", error_description=\"{}\"",
                                e.error, e.error_description
                            ),
                        )
                    }
                };
                let mut response = match error {
                    None => status.into_response(),
                    Some(e) => (status, Json(e)).into_response(),
                };
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                no_store(response)
            }
            Self::RateLimited(v) => {
                let body = OAuthError::new(
                    OAuthErrorCode::TooManyRequests,
                    "Rate limit exceeded. Please retry after some time.",
                );
                let mut response =
                    no_store((StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response());
                let headers = response.headers_mut();
                for (name, value) in [
                    ("x-ratelimit-limit", v.limit as u64),
                    ("x-ratelimit-remaining", v.remaining as u64),
                    ("x-ratelimit-reset", v.reset),
                ] {
                    headers.insert(name, HeaderValue::from(value));
                }
                response
            }
            Self::Unavailable(e) => {
                tracing::error!(error = ?e, "store unavailable");
                let body = OAuthError::new(
                    OAuthErrorCode::TemporarilyUnavailable,
                    "The server cannot complete the request now. Retry later.",
                );
                no_store((StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response())
            }
            Self::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                let body = OAuthError::new(
                    OAuthErrorCode::ServerError,
                    "The server could not process the request.",
                );
                no_store((StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response())
            }
        }
    }
}

/// Renders our error page (never a redirect), for errors found before the client and
/// redirect URI are trusted and for broken hosted-page submissions.
pub fn page(state: &AppState, status: StatusCode, error: &OAuthError) -> Response {
    let context = ErrorPage {
        error: error.error.as_str(),
        description: &error.error_description,
    };
    match state.views.render("error.html", &context) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => HttpError::Internal(anyhow::Error::new(e)).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_status_mapping() {
        assert_eq!(
            token_status(OAuthErrorCode::InvalidClient),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            token_status(OAuthErrorCode::InvalidGrant),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            token_status(OAuthErrorCode::UnsupportedGrantType),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            token_status(OAuthErrorCode::TooManyRequests),
            StatusCode::TOO_MANY_REQUESTS
        );
    }

    #[test]
    fn invalid_client_challenges_basic_only_when_basic_was_used() {
        let e = |used_basic| HttpError::Token {
            error: OAuthError::new(
                OAuthErrorCode::InvalidClient,
                "Client authentication failed",
            ),
            used_basic,
        };
        assert!(
            e(true)
                .into_response()
                .headers()
                .contains_key(header::WWW_AUTHENTICATE)
        );
        assert!(
            !e(false)
                .into_response()
                .headers()
                .contains_key(header::WWW_AUTHENTICATE)
        );
    }
}
