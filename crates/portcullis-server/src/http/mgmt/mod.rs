//! Management API v2 (`/api/v2`), Auth0's shapes: a client-credentials bearer token for
//! the audience `{issuer}api/v2/` whose scopes gate each call; errors as
//! `{"statusCode","error","message","errorCode"}`; paging with `page`, `per_page`,
//! `include_totals`. Reads go to the database. A write empties this node's tenant cache
//! (`tenant_cache`), so this node applies it from its next request and the others within a
//! second.

mod client_grants;
mod clients;
mod keys;
mod logs;
mod resource_servers;
mod users;

use axum::Json;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use portcullis_core::scope::Scope;
use portcullis_store::StoreError;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::extract::bearer_token;
use crate::management;
use crate::state::AppState;

/// Routes of this area. A call that may write empties the node's tenant cache when it
/// answers, so this node applies the change from its next request.
pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(clients::routes())
        .merge(resource_servers::routes())
        .merge(client_grants::routes())
        .merge(users::routes())
        .merge(logs::routes())
        .merge(keys::routes())
        // Auth0 answers unknown Management API paths with its JSON error, which SDKs parse.
        .route("/api/v2/{*rest}", axum::routing::any(not_found))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            forget_cached_tenant,
        ))
}

async fn forget_cached_tenant(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let reads_only = matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let response = next.run(request).await;
    // A call refused for its token wrote nothing, and anyone can send one: it must not be a
    // way to keep a node reading the database.
    let refused = matches!(
        response.status(),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    );
    if !reads_only && !refused {
        state.tenant_cache.clear();
    }
    response
}

/// A Management API error, in Auth0's shape.
#[derive(Debug)]
pub struct MgmtError {
    status: StatusCode,
    message: String,
    error_code: &'static str,
}

impl MgmtError {
    fn new(status: StatusCode, error_code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            error_code,
        }
    }

    /// 400 for a body that does not validate.
    pub fn invalid_body(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("Payload validation error: {}", message.into()),
        )
    }

    /// 400 for a query string that does not validate.
    pub fn invalid_query(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_query_string",
            format!("Query validation error: {}", message.into()),
        )
    }

    /// 404 for an unknown id.
    pub fn not_found(error_code: &'static str, message: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, error_code, message)
    }

    /// 409 for a uniqueness conflict.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
}

impl From<StoreError> for MgmtError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => {
                Self::not_found("inexistent_resource", "The resource does not exist")
            }
            StoreError::Conflict { .. } => Self::conflict("The resource already exists"),
            StoreError::Unavailable(e) => {
                tracing::error!(error = %e, "management api: store unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "The server cannot complete the request now",
                )
            }
        }
    }
}

impl From<crate::views::RenderError> for MgmtError {
    fn from(e: crate::views::RenderError) -> Self {
        tracing::error!(error = %e, "management api");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal error",
        )
    }
}

impl IntoResponse for MgmtError {
    fn into_response(self) -> Response {
        let reason = self.status.canonical_reason().unwrap_or("Error");
        let body = json!({"statusCode": self.status.as_u16(), "error": reason, "message": self.message, "errorCode": self.error_code});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The authenticated caller: the scopes of its Management API token.
pub struct Caller {
    scope: Scope,
}

impl Caller {
    /// 403 unless the token has `scope` (Auth0's message).
    pub fn require(&self, scope: &str) -> Result<(), MgmtError> {
        if self.scope.contains(scope) {
            Ok(())
        } else {
            Err(MgmtError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("Insufficient scope, expected any of: {scope}"),
            ))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = MgmtError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = |m: &str| MgmtError::new(StatusCode::UNAUTHORIZED, "invalid_token", m);
        let token = match bearer_token(&parts.headers) {
            Some(Ok(t)) => t,
            _ => {
                return Err(MgmtError::new(
                    StatusCode::UNAUTHORIZED,
                    "missing_authentication",
                    "Missing authentication",
                ));
            }
        };
        let claims = state
            .keys
            .verify(
                &token,
                &state.issuer,
                &management::audience(&state.issuer),
                state.now(),
            )
            .map_err(|_| unauthorized("Invalid token"))?;
        // Only client-credentials tokens of clients that still exist.
        let azp = claims
            .get("azp")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if claims.get("gty").and_then(Value::as_str) != Some("client-credentials")
            || state.store.find_client(azp).await?.is_none()
        {
            return Err(unauthorized("Invalid token"));
        }
        let scope = Scope::parse(
            claims
                .get("scope")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        )
        .unwrap_or_default();
        Ok(Caller { scope })
    }
}

/// Auth0 paging parameters.
#[derive(Debug, Deserialize)]
pub struct Paging {
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
    per_page: Option<i64>,
    #[serde(default)]
    include_totals: Option<bool>,
}

impl Paging {
    /// `(offset, limit)`: `per_page` defaults to 50, at most 100.
    pub fn window(&self) -> Result<(i64, i64), MgmtError> {
        let per_page = self.per_page.unwrap_or(50);
        let page = self.page.unwrap_or(0);
        if !(1..=100).contains(&per_page) || page < 0 {
            return Err(MgmtError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query_string",
                "Query validation error: page must be ≥ 0 and per_page between 1 and 100",
            ));
        }
        Ok((page * per_page, per_page))
    }

    /// A list, as an array or, with `include_totals`, Auth0's envelope under `key`.
    pub fn respond(&self, key: &str, items: Vec<Value>, total: i64) -> Result<Response, MgmtError> {
        let (start, limit) = self.window()?;
        if !self.include_totals.unwrap_or(false) {
            return Ok(Json(Value::Array(items)).into_response());
        }
        let length = items.len();
        Ok(Json(
            json!({"start": start, "limit": limit, "length": length, "total": total, key: items}),
        )
        .into_response())
    }
}

/// Reads a JSON object body, or the 400 Auth0 sends. A NUL character in any key or string
/// is refused: no field needs one, and PostgreSQL cannot store it in text.
pub fn object(body: &axum::body::Bytes) -> Result<serde_json::Map<String, Value>, MgmtError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) if has_nul(&value) => Err(MgmtError::invalid_body(
            "strings must not contain the NUL character",
        )),
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(MgmtError::invalid_body("the body must be a JSON object")),
    }
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// A JSON value as the YAML value the shared validators take.
pub fn to_yaml(value: &Value) -> Result<portcullis_core::tenant::Value, MgmtError> {
    serde_yaml_ng::to_value(value).map_err(|e| MgmtError::invalid_body(e.to_string()))
}

/// Auth0's timestamp format (ISO 8601, UTC, milliseconds).
pub fn iso(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

async fn not_found() -> MgmtError {
    MgmtError::not_found("not_found", "Not Found")
}
