//! `POST /oauth/token` (RFC 6749 §3.2): every response carries `Cache-Control: no-store`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::flows::token;
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
    let tokens = token::handle(&state, &req.params, req.basic, req.context).await?;
    let mut response = Json(tokens).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}
