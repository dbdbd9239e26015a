//! `/api/v2/resource-servers`: list, create, read, update, delete. The path takes the id
//! or the identifier, as Auth0's does; the identifier never changes; the Management API
//! itself cannot be changed or deleted.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use portcullis_core::resource_server::ResourceServer;
use portcullis_core::tenant;
use serde_json::{Map, Value, json};

use super::{Caller, MgmtError, Paging, object, to_yaml};
use crate::crypto;
use crate::management;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v2/resource-servers", get(list).post(create))
        .route(
            "/api/v2/resource-servers/{id}",
            get(read).patch(update).delete(remove),
        )
}

/// Auth0's resource-server representation.
pub fn to_json(id: &str, api: &ResourceServer, system: bool) -> Value {
    json!({
        "id": id,
        "identifier": api.identifier,
        "name": api.name,
        "scopes": api.scopes,
        "allow_offline_access": api.allow_offline_access,
        "token_lifetime": api.token_lifetime,
        "signing_alg": api.signing_alg.as_str(),
        "skip_consent_for_verifiable_first_party_clients": api.skip_consent_for_verifiable_first_party_clients,
        "is_system": system,
    })
}

fn validate(body: &Map<String, Value>) -> Result<ResourceServer, MgmtError> {
    let (api, _ignored) = tenant::resource_server_from_value(
        "resource_server",
        &to_yaml(&Value::Object(body.clone()))?,
    )
    .map_err(|e| MgmtError::invalid_body(e.0))?;
    Ok(api)
}

fn is_system(state: &AppState, api: &ResourceServer) -> bool {
    api.identifier == management::audience(&state.issuer)
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(paging): Query<Paging>,
) -> Result<Response, MgmtError> {
    caller.require("read:resource_servers")?;
    let (offset, limit) = paging.window()?;
    let (apis, total) = state.store.list_resource_servers(offset, limit).await?;
    paging.respond(
        "resource_servers",
        apis.iter()
            .map(|(id, a)| to_json(id, a, is_system(&state, a)))
            .collect(),
        total,
    )
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require("create:resource_servers")?;
    let api = validate(&object(&body)?)?;
    if state
        .store
        .find_resource_server(&api.identifier)
        .await?
        .is_some()
    {
        return Err(MgmtError::conflict(
            "A resource server with the same identifier already exists",
        ));
    }
    let id = format!("rs_{}", crypto::random_id::<12>());
    state
        .store
        .save_resource_server(&id, &api, state.now())
        .await?;
    Ok((StatusCode::CREATED, Json(to_json(&id, &api, false))).into_response())
}

async fn find(state: &AppState, id: &str) -> Result<(String, ResourceServer), MgmtError> {
    state
        .store
        .find_resource_server_by_id(id)
        .await?
        .ok_or_else(|| {
            MgmtError::not_found(
                "inexistent_resource_server",
                "The resource server does not exist",
            )
        })
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, MgmtError> {
    caller.require("read:resource_servers")?;
    let (id, api) = find(&state, &id).await?;
    Ok(Json(to_json(&id, &api, is_system(&state, &api))).into_response())
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:resource_servers")?;
    let (id, current) = find(&state, &id).await?;
    if is_system(&state, &current) {
        return Err(MgmtError::invalid_body(
            "the Management API cannot be changed",
        ));
    }
    let patch = object(&body)?;
    if patch
        .get("identifier")
        .is_some_and(|v| v != &json!(current.identifier))
    {
        return Err(MgmtError::invalid_body("identifier cannot be changed"));
    }
    let mut merged = match to_json(&id, &current, false) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    merged.remove("id");
    merged.remove("is_system");
    merged.extend(patch);
    let api = validate(&merged)?;
    state
        .store
        .save_resource_server(&id, &api, state.now())
        .await?;
    Ok(Json(to_json(&id, &api, false)).into_response())
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, MgmtError> {
    caller.require("delete:resource_servers")?;
    let (id, api) = find(&state, &id).await?;
    if is_system(&state, &api) {
        return Err(MgmtError::invalid_body(
            "the Management API cannot be deleted",
        ));
    }
    state.store.delete_resource_server(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
