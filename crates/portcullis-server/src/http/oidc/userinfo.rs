//! `GET/POST /userinfo` (OIDC Core §5.3): a bearer token in the `Authorization` header, or
//! (POST) an `access_token` form field (RFC 6750 §2.2). A token in the query string is
//! refused (RFC 6750 §2.3 "SHOULD NOT"; RFC 9700).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use portcullis_core::proto::{OAuthError, OAuthErrorCode};

use crate::flows::userinfo::{self, UserinfoError};
use crate::http::error::HttpError;
use crate::http::extract::{bearer_token, body_params, query_params};
use crate::state::AppState;

fn invalid_request(msg: &str) -> HttpError {
    HttpError::Bearer(Some(OAuthError::new(OAuthErrorCode::InvalidRequest, msg)))
}

pub async fn get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    if query_params(query.as_deref())
        .map_err(|e| HttpError::Bearer(Some(e)))?
        .has("access_token")
    {
        return Err(invalid_request(
            "Access tokens must not be sent in the query string",
        ));
    }
    match bearer_token(&headers) {
        None => Err(HttpError::Bearer(None)),
        Some(Err(())) => Err(invalid_request("Malformed Authorization header")),
        Some(Ok(token)) => respond(&state, &token).await,
    }
}

pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let from_body = if body.is_empty() {
        None
    } else {
        let params = body_params(&headers, &body, false).map_err(|e| HttpError::Bearer(Some(e)))?;
        params.get("access_token").map(str::to_owned)
    };
    let token = match (bearer_token(&headers), from_body) {
        (Some(_), Some(_)) => {
            return Err(invalid_request("Send the access token in one place only"));
        }
        (Some(Ok(t)), None) | (None, Some(t)) => t,
        (Some(Err(())), None) => return Err(invalid_request("Malformed Authorization header")),
        (None, None) => return Err(HttpError::Bearer(None)),
    };
    respond(&state, &token).await
}

async fn respond(state: &AppState, token: &str) -> Result<Response, HttpError> {
    match userinfo::claims(state, token).await {
        Ok(claims) => Ok(Json(claims).into_response()),
        Err(UserinfoError::InvalidToken(msg)) => Err(HttpError::Bearer(Some(OAuthError::new(
            OAuthErrorCode::InvalidToken,
            msg,
        )))),
        Err(UserinfoError::Internal(e)) => Err(e.into()),
    }
}
