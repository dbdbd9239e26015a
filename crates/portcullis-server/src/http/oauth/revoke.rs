//! `POST /oauth/revoke` (RFC 7009 §2): 200 with an empty body when done or when the
//! token is unknown; errors as at the token endpoint; 503 when the store fails.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::flows::revoke;
use crate::http::error::HttpError;
use crate::http::extract::{ClientIp, back_channel};
use crate::state::AppState;

pub async fn post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let req = back_channel(&headers, &body, ip).map_err(|error| HttpError::Token {
        error,
        used_basic: false,
    })?;
    revoke::revoke(&state, &req.params, req.basic, req.context).await?;
    let mut response = StatusCode::OK.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
