//! The HTTP surface: router assembly and the middleware stack (request metrics, request
//! ids, tracing, body limit, security headers). Each area owns its `routes()`; this file
//! only merges.

pub mod error;
pub mod extract;
mod mgmt;
mod oauth;
mod oidc;
mod pages;
mod playground;
pub mod response;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath};
pub use axum::http::Method;
use axum::http::{HeaderName, HeaderValue, Request, header};
use tower::ServiceBuilder;
use tower_http::LatencyUnit;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::metrics::{self, Metrics};
use crate::state::AppState;

/// Largest accepted request body: ample for every form and JSON body of this server.
const BODY_LIMIT: usize = 64 * 1024;

/// Longest accepted query string: every protocol request fits in far less.
const MAX_QUERY: usize = 8 * 1024;

/// 414 for a query string beyond [`MAX_QUERY`], before any handler parses it.
async fn limit_query(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if request.uri().query().map_or(0, str::len) > MAX_QUERY {
        return (
            axum::http::StatusCode::URI_TOO_LONG,
            "The query string is too long.",
        )
            .into_response();
    }
    next.run(request).await
}

/// Counts and times every request under its matched route pattern (`MatchedPath`, set by
/// the router before the per-route middleware runs), or [`metrics::UNMATCHED`] when no
/// route matched: raw paths would make the label set unbounded.
async fn track(
    axum::extract::State(metrics): axum::extract::State<Arc<Metrics>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let endpoint = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let endpoint = endpoint
        .as_ref()
        .map_or(metrics::UNMATCHED, MatchedPath::as_str);
    metrics.http_request(endpoint, &method, response.status(), started.elapsed());
    response
}

/// The default Content-Security-Policy: our own stylesheet, nothing else, never framed.
pub const DEFAULT_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

/// The whole application.
pub fn router(state: AppState) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    let secure = state.secure_cookies;
    let metrics = state.metrics.clone();
    let mut app = Router::new()
        .merge(oauth::routes())
        .merge(mgmt::routes(&state))
        .merge(oidc::routes())
        .merge(pages::routes())
        .merge(playground::routes(&state))
        .with_state(state);
    if secure {
        app = app.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ));
    }
    app.layer(
        ServiceBuilder::new()
            // `Router::layer` wraps each route and the fallback, after routing: hence
            // `MatchedPath` is there for `track`, and 404s pass through it too.
            .layer(axum::middleware::from_fn_with_state(metrics, track))
            .layer(SetRequestIdLayer::new(x_request_id.clone(), MakeRequestUuid))
            // Every event while handling a request is inside this span, so JSON log
            // lines carry its `request_id`; one INFO line per response with status and latency.
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|req: &Request<_>| {
                        let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                    })
                    .on_response(DefaultOnResponse::new().level(Level::INFO).latency_unit(LatencyUnit::Millis)),
            )
            .layer(PropagateRequestIdLayer::new(x_request_id))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(axum::middleware::from_fn(limit_query))
            .layer(SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DEFAULT_CSP)))
            .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
            .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
            .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
            .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))),
    )
}
