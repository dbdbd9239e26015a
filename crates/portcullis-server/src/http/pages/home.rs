//! `GET /` (what is running), the stylesheet, and `GET /healthz`.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

use crate::http::error::HttpError;
use crate::state::AppState;
use crate::views::HomePage;

const STYLESHEET: &str = include_str!("../../../static/portcullis.css");

pub async fn get(State(state): State<AppState>) -> Result<Response, HttpError> {
    let html = state.views.render(
        "home.html",
        &HomePage {
            issuer: &state.issuer,
            version: env!("CARGO_PKG_VERSION"),
            playground: state.playground.is_some(),
        },
    )?;
    Ok(Html(html).into_response())
}

pub async fn stylesheet() -> Response {
    let mut response = STYLESHEET.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

pub async fn healthz() -> &'static str {
    "ok"
}
