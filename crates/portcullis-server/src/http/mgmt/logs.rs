//! `/api/v2/logs`: tenant log events, newest first; `q=type:"s"` filters by type. The
//! node's gathered events are flushed before the read.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::{Caller, MgmtError, Paging, iso};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v2/logs", get(list))
}

#[derive(Deserialize)]
struct Search {
    q: Option<String>,
}

/// The type of `q=type:"s"` (quotes optional); other queries are not supported.
fn type_filter(q: Option<&str>) -> Result<Option<String>, MgmtError> {
    let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    match q.strip_prefix("type:") {
        Some(t) => Ok(Some(t.trim_matches('"').to_owned())),
        None => Err(MgmtError::invalid_query(
            "only q=type:\"<code>\" is supported",
        )),
    }
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(paging): Query<Paging>,
    Query(search): Query<Search>,
) -> Result<Response, MgmtError> {
    caller.require("read:logs")?;
    let (offset, limit) = paging.window()?;
    let log_type = type_filter(search.q.as_deref())?;
    // What this node has recorded but still gathers for its next batch is written first, so
    // a read sees every event of the requests that finished before it (on this node; another
    // node's events follow within its gathering window, `logs::GATHER`).
    state.logs.flush().await;
    let (events, total) = state
        .store
        .list_logs(log_type.as_deref(), offset, limit)
        .await?;
    let items = events
        .iter()
        .map(|e| {
            json!({
                "log_id": e.id, "date": iso(e.date), "type": e.log_type.code(), "description": e.description,
                "client_id": e.client_id, "user_id": e.user_id.as_deref().map(portcullis_core::user::subject), "ip": e.ip,
            })
        })
        .collect();
    paging.respond("logs", items, total)
}
