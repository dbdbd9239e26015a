//! `/api/v2/clients`: list, create, read, update, delete, `rotate-secret`. Bodies are
//! validated by the same rules as the tenant file; secrets are returned only when made.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use portcullis_core::client::{Client, TokenEndpointAuthMethod};
use portcullis_core::secret::ClientSecret;
use portcullis_core::tenant::{self, ClientSpec};
use serde_json::{Map, Value, json};

use super::{Caller, MgmtError, Paging, object, to_yaml};
use crate::crypto;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v2/clients", get(list).post(create))
        .route(
            "/api/v2/clients/{id}",
            get(read).patch(update).delete(remove),
        )
        .route("/api/v2/clients/{id}/rotate-secret", post(rotate_secret))
        .route(
            "/api/v2/clients/{id}/credentials",
            get(list_credentials).post(add_credential),
        )
        .route(
            "/api/v2/clients/{id}/credentials/{credential_id}",
            get(read_credential).delete(remove_credential),
        )
}

/// Auth0's client representation (never the secret hash or key material).
pub fn to_json(c: &Client, secret: Option<&str>) -> Value {
    let mut v = json!({
        "client_id": c.client_id,
        "name": c.name,
        "app_type": c.app_type.as_str(),
        "is_first_party": c.is_first_party,
        "callbacks": c.callbacks.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "allowed_logout_urls": c.allowed_logout_urls,
        "web_origins": c.web_origins,
        "grant_types": c.grant_types,
        "token_endpoint_auth_method": c.token_endpoint_auth_method.as_str(),
        "jwt_configuration": {"lifetime_in_seconds": c.jwt_configuration.lifetime_in_seconds, "alg": c.jwt_configuration.alg.as_str(), "secret_encoded": false},
        "refresh_token": c.refresh_token,
        "oidc_conformant": true,
    });
    if !c.credentials.is_empty() {
        let creds: Vec<Value> = c
            .credentials
            .iter()
            .map(|k| json!({"id": k.id, "name": k.name, "credential_type": "public_key", "alg": k.alg, "kid": k.kid}))
            .collect();
        v["client_authentication_methods"] = json!({"private_key_jwt": {"credentials": creds}});
    }
    if let Some(s) = secret {
        v["client_secret"] = json!(s);
    }
    v
}

fn validate(body: &Map<String, Value>) -> Result<ClientSpec, MgmtError> {
    let (spec, _ignored) =
        tenant::client_from_value("client", &to_yaml(&Value::Object(body.clone()))?)
            .map_err(|e| MgmtError::invalid_body(e.0))?;
    Ok(spec)
}

fn holds_secret(method: TokenEndpointAuthMethod) -> bool {
    matches!(
        method,
        TokenEndpointAuthMethod::ClientSecretPost | TokenEndpointAuthMethod::ClientSecretBasic
    )
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(paging): Query<Paging>,
) -> Result<Response, MgmtError> {
    caller.require("read:clients")?;
    let (offset, limit) = paging.window()?;
    let (clients, total) = state.store.list_clients(offset, limit).await?;
    paging.respond(
        "clients",
        clients.iter().map(|c| to_json(c, None)).collect(),
        total,
    )
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require("create:clients")?;
    let spec = validate(&object(&body)?)?;
    let client_id = spec
        .client_id
        .clone()
        .unwrap_or_else(|| crypto::random_alphanumeric(32));
    if state.store.find_client(&client_id).await?.is_some() {
        return Err(MgmtError::conflict(
            "A client with this client_id already exists",
        ));
    }
    let secret = match (
        &spec.client_secret,
        holds_secret(spec.token_endpoint_auth_method),
    ) {
        (Some(s), _) => Some(s.clone()),
        (None, true) => Some(ClientSecret::from_random(&crypto::random())),
        (None, false) => None,
    };
    let client = from_spec(spec, client_id, secret.as_ref().map(ClientSecret::hash));
    state
        .store
        .save_client(&client, state.now())
        .await
        .map_err(|e| match e {
            portcullis_store::StoreError::Conflict { .. } => {
                MgmtError::conflict("A client with this name already exists")
            }
            other => other.into(),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(to_json(&client, secret.as_ref().map(ClientSecret::expose))),
    )
        .into_response())
}

fn from_spec(
    spec: ClientSpec,
    client_id: String,
    secret_hash: Option<portcullis_core::secret::TokenHash>,
) -> Client {
    Client {
        client_id,
        name: spec.name,
        app_type: spec.app_type,
        is_first_party: spec.is_first_party,
        callbacks: spec.callbacks,
        allowed_logout_urls: spec.allowed_logout_urls,
        web_origins: spec.web_origins,
        grant_types: spec.grant_types,
        token_endpoint_auth_method: spec.token_endpoint_auth_method,
        secret_hash,
        jwt_configuration: spec.jwt_configuration,
        refresh_token: spec.refresh_token,
        credentials: spec.credentials,
    }
}

async fn find(state: &AppState, id: &str) -> Result<Client, MgmtError> {
    state
        .store
        .find_client(id)
        .await?
        .ok_or_else(|| MgmtError::not_found("inexistent_client", "The client does not exist"))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, MgmtError> {
    caller.require("read:clients")?;
    Ok(Json(to_json(&find(&state, &id).await?, None)).into_response())
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:clients")?;
    let current = find(&state, &id).await?;
    let patch = object(&body)?;
    if patch
        .get("client_id")
        .is_some_and(|v| v != &json!(current.client_id))
    {
        return Err(MgmtError::invalid_body("client_id cannot be changed"));
    }
    // The patch over the current state, validated as a whole.
    let mut merged = match to_json(&current, None) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let keeps_keys = !patch.contains_key("client_authentication_methods")
        && !patch.contains_key("token_endpoint_auth_method");
    merged.remove("client_authentication_methods");
    merged.remove("oidc_conformant");
    if keeps_keys && current.uses_private_key_jwt() {
        merged.remove("token_endpoint_auth_method");
    }
    merged.extend(patch);
    let mut spec = validate(&merged)?;
    if keeps_keys && current.uses_private_key_jwt() {
        spec.token_endpoint_auth_method = TokenEndpointAuthMethod::PrivateKeyJwt;
        spec.credentials = current.credentials.clone();
        spec.client_secret = None;
    }
    let secret_hash = match (
        &spec.client_secret,
        holds_secret(spec.token_endpoint_auth_method),
    ) {
        (Some(s), _) => Some(s.hash()),
        (None, true) => current.secret_hash.clone(),
        (None, false) => None,
    };
    let (made_secret, secret_hash) = match secret_hash {
        None if holds_secret(spec.token_endpoint_auth_method) => {
            let s = ClientSecret::from_random(&crypto::random());
            let h = s.hash();
            (Some(s), Some(h))
        }
        other => (None, other),
    };
    let client = from_spec(spec, current.client_id, secret_hash);
    state
        .store
        .save_client(&client, state.now())
        .await
        .map_err(|e| match e {
            portcullis_store::StoreError::Conflict { .. } => {
                MgmtError::conflict("A client with this name already exists")
            }
            other => other.into(),
        })?;
    Ok(Json(to_json(
        &client,
        made_secret.as_ref().map(ClientSecret::expose),
    ))
    .into_response())
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, MgmtError> {
    caller.require("delete:clients")?;
    find(&state, &id).await?;
    state.store.delete_client(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, MgmtError> {
    caller.require("update:client_keys")?;
    let mut client = find(&state, &id).await?;
    if !holds_secret(client.token_endpoint_auth_method) {
        return Err(MgmtError::invalid_body(
            "this client does not authenticate with a secret",
        ));
    }
    let secret = ClientSecret::from_random(&crypto::random());
    client.secret_hash = Some(secret.hash());
    state.store.save_client(&client, state.now()).await?;
    Ok(Json(to_json(&client, Some(secret.expose()))).into_response())
}

fn credential_json(k: &portcullis_core::client::ClientCredential) -> Value {
    json!({"id": k.id, "name": k.name, "credential_type": "public_key", "alg": k.alg, "kid": k.kid})
}

async fn list_credentials(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, MgmtError> {
    caller.require("read:client_credentials")?;
    let client = find(&state, &id).await?;
    Ok(Json(
        client
            .credentials
            .iter()
            .map(credential_json)
            .collect::<Vec<_>>(),
    )
    .into_response())
}

async fn read_credential(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, credential_id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("read:client_credentials")?;
    let client = find(&state, &id).await?;
    let credential = client
        .credentials
        .iter()
        .find(|c| c.id == credential_id)
        .ok_or_else(|| {
            MgmtError::not_found("inexistent_credential", "The credential does not exist")
        })?;
    Ok(Json(credential_json(credential)).into_response())
}

/// Adds a public key (Auth0 body: `credential_type: public_key`, `name`, `pem`, `alg`,
/// `kid`; or `jwk`). A client gaining its first key is switched to `private_key_jwt` and
/// loses its secret: it is pinned to one method.
async fn add_credential(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require("create:client_credentials")?;
    let mut client = find(&state, &id).await?;
    let body = object(&body)?;
    // Validated as a one-credential client by the tenant-file rules.
    let probe = json!({"name": "probe", "client_authentication_methods": {"private_key_jwt": {"credentials": [Value::Object(body)]}}});
    let spec = validate(match &probe {
        Value::Object(m) => m,
        _ => return Err(MgmtError::invalid_body("the body must be a JSON object")),
    })?;
    let mut credential = spec
        .credentials
        .into_iter()
        .next()
        .ok_or_else(|| MgmtError::invalid_body("a credential is required"))?;
    credential.id = format!("cred_{}", crypto::random_id::<12>());
    if !crate::flows::token::credential_parses(&credential) {
        return Err(MgmtError::invalid_body(
            "credential.pem is not a valid public key",
        ));
    }
    client.credentials.push(credential.clone());
    client.token_endpoint_auth_method = TokenEndpointAuthMethod::PrivateKeyJwt;
    client.secret_hash = None;
    state.store.save_client(&client, state.now()).await?;
    Ok((StatusCode::CREATED, Json(credential_json(&credential))).into_response())
}

async fn remove_credential(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, credential_id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("delete:client_credentials")?;
    let mut client = find(&state, &id).await?;
    let before = client.credentials.len();
    client.credentials.retain(|c| c.id != credential_id);
    if client.credentials.len() == before {
        return Err(MgmtError::not_found(
            "inexistent_credential",
            "The credential does not exist",
        ));
    }
    state.store.save_client(&client, state.now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
