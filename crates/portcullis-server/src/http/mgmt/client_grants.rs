//! `/api/v2/client-grants`: list (by `client_id`, `audience`), create, update the scope,
//! delete.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use portcullis_core::client_grant::ClientGrant;
use portcullis_core::scope::Scope;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, MgmtError, Paging, object};
use crate::crypto;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v2/client-grants", get(list).post(create))
        .route(
            "/api/v2/client-grants/{id}",
            get(read).patch(update).delete(remove),
        )
}

fn to_json(g: &ClientGrant) -> Value {
    json!({"id": g.id, "client_id": g.client_id, "audience": g.audience, "scope": g.scope.iter().collect::<Vec<_>>()})
}

/// `scope`: an array of scope tokens.
fn scope_of(value: Option<&Value>) -> Result<Scope, MgmtError> {
    let Some(Value::Array(items)) = value else {
        return Err(MgmtError::invalid_body("scope must be an array of strings"));
    };
    let mut scope = Scope::default();
    for item in items {
        match item.as_str().map(Scope::parse) {
            Some(Ok(s)) if s.len() == 1 => scope.insert(&s.to_string()),
            _ => {
                return Err(MgmtError::invalid_body(format!(
                    "scope: {item} is not a single scope token"
                )));
            }
        }
    }
    Ok(scope)
}

#[derive(Deserialize)]
struct Filter {
    client_id: Option<String>,
    audience: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(paging): Query<Paging>,
    Query(filter): Query<Filter>,
) -> Result<Response, MgmtError> {
    caller.require("read:client_grants")?;
    let (offset, limit) = paging.window()?;
    let (grants, total) = state
        .store
        .list_client_grants(
            filter.client_id.as_deref(),
            filter.audience.as_deref(),
            offset,
            limit,
        )
        .await?;
    paging.respond("client_grants", grants.iter().map(to_json).collect(), total)
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require("create:client_grants")?;
    let body = object(&body)?;
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| MgmtError::invalid_body(format!("{k} is required")))
    };
    let (client_id, audience) = (text("client_id")?, text("audience")?);
    let scope = scope_of(body.get("scope"))?;
    if state.store.find_client(&client_id).await?.is_none() {
        return Err(MgmtError::not_found(
            "inexistent_client",
            "The client does not exist",
        ));
    }
    if state.store.find_resource_server(&audience).await?.is_none() {
        return Err(MgmtError::not_found(
            "inexistent_resource_server",
            "No resource server found by specified identifier",
        ));
    }
    if state
        .store
        .find_client_grant(&client_id, &audience)
        .await?
        .is_some()
    {
        return Err(MgmtError::conflict(
            "A client grant for this client and audience already exists",
        ));
    }
    let grant = ClientGrant {
        id: format!("cgr_{}", crypto::random_id::<12>()),
        client_id,
        audience,
        scope,
    };
    state.store.save_client_grant(&grant, state.now()).await?;
    Ok((StatusCode::CREATED, Json(to_json(&grant))).into_response())
}

async fn find(state: &AppState, id: &str) -> Result<ClientGrant, MgmtError> {
    state
        .store
        .find_client_grant_by_id(id)
        .await?
        .ok_or_else(|| {
            MgmtError::not_found("inexistent_client_grant", "The client grant does not exist")
        })
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, MgmtError> {
    caller.require("read:client_grants")?;
    Ok(Json(to_json(&find(&state, &id).await?)).into_response())
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:client_grants")?;
    let mut grant = find(&state, &id).await?;
    let body = object(&body)?;
    grant.scope = scope_of(body.get("scope"))?;
    state.store.save_client_grant(&grant, state.now()).await?;
    Ok(Json(to_json(&grant)).into_response())
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, MgmtError> {
    caller.require("delete:client_grants")?;
    find(&state, &id).await?;
    state.store.delete_client_grant(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
