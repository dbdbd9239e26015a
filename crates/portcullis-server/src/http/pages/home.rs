//! `GET /` (what is running), the stylesheet, and the operations endpoints: `GET /healthz`,
//! `GET /readyz` and `GET /metrics`.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::http::error::HttpError;
use crate::metrics;
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

/// `GET /healthz`: the process is up. Touches no database, so a load balancer does not
/// take every node out when the database blips.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: `ok` when the store answers and every migration this build knows is
/// applied, else 503 with a short reason. The cause goes to the log, never to the caller
/// (it may name hosts or database users).
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => "ok".into_response(),
        Err(e) => {
            tracing::warn!(error = ?anyhow::Error::new(e), "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// `GET /metrics`: this server's Prometheus metrics, the database pool read now.
///
/// Unauthenticated by design: it is meant for an internal scrape network. Do not route it
/// from the public side of the load balancer (it reveals traffic volumes, not secrets).
pub async fn metrics(State(state): State<AppState>) -> Result<Response, HttpError> {
    let text = state
        .metrics
        .render(state.store.pool_status(), &state.keys.signing_stats())
        .map_err(|e| HttpError::Internal(anyhow::Error::new(e)))?;
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response())
}
