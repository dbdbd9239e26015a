//! `POST /oauth/revoke` (RFC 7009 §2): 200 with an empty body when done or when the
//! token is unknown; errors as at the token endpoint; 503 when the store fails.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::flows::revoke;
use crate::flows::token::RequestContext;
use crate::http::error::HttpError;
use crate::http::extract::{ClientIp, basic_credentials, body_params};
use crate::state::AppState;

pub async fn post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let params = body_params(&headers, &body, true).map_err(|error| HttpError::Token {
        error,
        used_basic: false,
    })?;
    let context = RequestContext {
        has_origin: headers.contains_key(header::ORIGIN),
        ip,
    };
    revoke::revoke(&state, &params, basic_credentials(&headers), context).await?;
    let mut response = StatusCode::OK.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
