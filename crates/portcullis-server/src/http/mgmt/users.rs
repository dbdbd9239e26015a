//! `/api/v2/users` (and `users-by-email`): users of the database connection, with
//! passwords (hashed with Argon2id), `blocked`, `app_metadata` and `user_metadata`
//! (shallow-merged on update; `null` removes a key); a user's refresh tokens and
//! sessions, and revoking them (`/refresh-tokens/{id}`, `/sessions/{id}`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{delete, get};
use portcullis_core::tenant::{self, PasswordSpec};
use portcullis_core::user::{self, DATABASE_CONNECTION, User};
use portcullis_store::UserView;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Caller, MgmtError, Paging, iso, object, to_yaml};
use crate::crypto;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v2/users", get(list).post(create))
        .route("/api/v2/users-by-email", get(by_email))
        .route("/api/v2/users/{id}", get(read).patch(update).delete(remove))
        .route("/api/v2/users/{id}/refresh-tokens", get(refresh_tokens))
        .route("/api/v2/users/{id}/sessions", get(sessions))
        .route("/api/v2/refresh-tokens/{id}", delete(revoke_refresh_token))
        .route("/api/v2/sessions/{id}", delete(end_session))
}

/// Auth0's user representation; unset fields are left out, as Auth0 does.
fn to_json(v: &UserView) -> Value {
    let u = &v.user;
    let mut user = json!({
        "user_id": u.sub(),
        "email": u.email,
        "email_verified": u.email_verified,
        "name": u.name,
        "given_name": u.given_name,
        "family_name": u.family_name,
        "nickname": u.nickname,
        "picture": u.picture,
        "phone_number": u.phone_number,
        "phone_verified": u.phone_number.as_ref().map(|_| u.phone_number_verified),
        "address": u.address,
        "blocked": u.blocked,
        "app_metadata": u.app_metadata,
        "user_metadata": u.user_metadata,
        "created_at": iso(v.created_at),
        "updated_at": iso(u.updated_at),
        "last_login": v.last_login.map(iso),
        "logins_count": v.logins_count,
        "identities": [{"connection": DATABASE_CONNECTION, "provider": user::DATABASE_STRATEGY, "user_id": u.id, "isSocial": false}],
    });
    if let Some(o) = user.as_object_mut() {
        o.retain(|_, v| !v.is_null());
    }
    user
}

/// The id in a path: `auth0|abc` or `abc`.
fn id_of(path: &str) -> &str {
    User::id_from_sub(path).unwrap_or(path)
}

async fn find(state: &AppState, id: &str) -> Result<UserView, MgmtError> {
    state
        .store
        .find_user_view(id_of(id))
        .await?
        .ok_or_else(|| MgmtError::not_found("inexistent_user", "The user does not exist."))
}

fn metadata(body: &Map<String, Value>, key: &str) -> Result<Option<Map<String, Value>>, MgmtError> {
    match body.get(key) {
        None => Ok(None),
        // The SDK's types allow null: no metadata.
        Some(Value::Null) => Ok(Some(Map::new())),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(_) => Err(MgmtError::invalid_body(format!("{key} must be an object"))),
    }
}

fn check_connection(body: &Map<String, Value>) -> Result<(), MgmtError> {
    match body.get("connection") {
        None => Ok(()),
        Some(c) if c == DATABASE_CONNECTION => Ok(()),
        Some(_) => Err(MgmtError::invalid_body(format!(
            "connection must be {DATABASE_CONNECTION}"
        ))),
    }
}

#[derive(Deserialize)]
struct Search {
    q: Option<String>,
    email: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(paging): Query<Paging>,
    Query(search): Query<Search>,
) -> Result<Response, MgmtError> {
    caller.require("read:users")?;
    let (offset, limit) = paging.window()?;
    // Auth0's search syntax, for the one field this server searches: q=email:"a@b.c".
    let email = match search.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        None => None,
        Some(q) => match q.strip_prefix("email:") {
            Some(e) => Some(e.trim_matches('"').to_owned()),
            None => {
                return Err(MgmtError::invalid_query(
                    "only q=email:\"<address>\" is supported",
                ));
            }
        },
    };
    let (users, total) = state
        .store
        .list_users(email.as_deref(), offset, limit)
        .await?;
    paging.respond("users", users.iter().map(to_json).collect(), total)
}

async fn by_email(
    State(state): State<AppState>,
    caller: Caller,
    Query(search): Query<Search>,
) -> Result<Response, MgmtError> {
    caller.require("read:users")?;
    let email = search
        .email
        .ok_or_else(|| MgmtError::invalid_query("email is required"))?;
    let (users, _) = state.store.list_users(Some(&email), 0, 100).await?;
    Ok(Json(users.iter().map(to_json).collect::<Vec<_>>()).into_response())
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require("create:users")?;
    let body = object(&body)?;
    check_connection(&body)?;
    let mut fields = body.clone();
    for key in ["connection", "app_metadata", "user_metadata"] {
        fields.remove(key);
    }
    // Auth0's Management API calls it `phone_verified`; the tenant file uses the claim name.
    if let Some(v) = fields.remove("phone_verified") {
        fields.insert("phone_number_verified".into(), v);
    }
    let spec = tenant::user_from_value("user", &to_yaml(&Value::Object(fields))?)
        .map_err(|e| MgmtError::invalid_body(e.0))?;
    let Some(password) = spec.password.clone() else {
        return Err(MgmtError::invalid_body("user.password is required"));
    };
    if state.store.find_user_by_email(&spec.email).await?.is_some() {
        return Err(MgmtError::conflict("The user already exists."));
    }
    let id = spec.user_id.clone().unwrap_or_else(|| {
        crypto::random::<12>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    });
    if state.store.find_user(&id).await?.is_some() {
        return Err(MgmtError::conflict("The user already exists."));
    }
    let password_hash = match password {
        PasswordSpec::Plain(p) => state
            .passwords
            .hash(p)
            .await
            .map_err(|_| MgmtError::invalid_body("password cannot be hashed"))?,
        PasswordSpec::Hash(h) => h,
    };
    let u = User {
        id,
        nickname: spec
            .nickname
            .or_else(|| spec.email.split('@').next().map(str::to_owned)),
        name: spec.name.or_else(|| Some(spec.email.clone())),
        email: User::normalize_email(&spec.email),
        email_verified: spec.email_verified,
        given_name: spec.given_name,
        family_name: spec.family_name,
        picture: spec.picture,
        password_hash: Some(password_hash),
        blocked: spec.blocked,
        updated_at: state.now(),
        app_metadata: metadata(&body, "app_metadata")?.unwrap_or_default(),
        user_metadata: metadata(&body, "user_metadata")?.unwrap_or_default(),
        address: spec.address,
        phone_number: spec.phone_number,
        phone_number_verified: spec.phone_number_verified,
    };
    state
        .store
        .save_user(&u, state.now())
        .await
        .map_err(conflict_on_email)?;
    Ok((
        StatusCode::CREATED,
        Json(to_json(&find(&state, &u.id).await?)),
    )
        .into_response())
}

fn conflict_on_email(e: portcullis_store::StoreError) -> MgmtError {
    match e {
        portcullis_store::StoreError::Conflict { .. } => {
            MgmtError::conflict("The user already exists.")
        }
        other => other.into(),
    }
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, MgmtError> {
    caller.require("read:users")?;
    Ok(Json(to_json(&find(&state, &id).await?)).into_response())
}

/// Shallow merge: each key replaces, `null` removes.
fn merge(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (k, v) in patch {
        if v.is_null() {
            target.remove(&k);
        } else {
            target.insert(k, v);
        }
    }
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:users")?;
    let mut u = find(&state, &id).await?.user;
    let body = object(&body)?;
    check_connection(&body)?;
    let text = |k: &str| -> Result<Option<Option<String>>, MgmtError> {
        match body.get(k) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
            Some(_) => Err(MgmtError::invalid_body(format!(
                "user.{k} must be a string"
            ))),
        }
    };
    let flag = |k: &str| -> Result<Option<bool>, MgmtError> {
        match body.get(k) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(MgmtError::invalid_body(format!(
                "user.{k} must be a boolean"
            ))),
        }
    };
    if let Some(email) = text("email")? {
        let email = email.ok_or_else(|| MgmtError::invalid_body("user.email cannot be removed"))?;
        if !User::is_valid_email(&email) {
            return Err(MgmtError::invalid_body(
                "user.email is not a valid email address",
            ));
        }
        u.email = User::normalize_email(&email);
    }
    if let Some(password) = text("password")? {
        let password = password.filter(|p| p.chars().count() >= 8).ok_or_else(|| {
            MgmtError::invalid_body("user.password must be at least 8 characters")
        })?;
        u.password_hash = Some(
            state
                .passwords
                .hash(password)
                .await
                .map_err(|_| MgmtError::invalid_body("password cannot be hashed"))?,
        );
    }
    for (key, field) in [
        ("name", &mut u.name),
        ("given_name", &mut u.given_name),
        ("family_name", &mut u.family_name),
        ("nickname", &mut u.nickname),
        ("picture", &mut u.picture),
        ("phone_number", &mut u.phone_number),
    ] {
        if let Some(v) = text(key)? {
            *field = v;
        }
    }
    if let Some(b) = flag("blocked")? {
        u.blocked = b;
    }
    if let Some(b) = flag("email_verified")? {
        u.email_verified = b;
    }
    if let Some(b) = flag("phone_verified")?.or(flag("phone_number_verified")?) {
        u.phone_number_verified = b;
    }
    match body.get("address") {
        None => {}
        Some(Value::Null) => u.address = None,
        Some(Value::Object(a)) => {
            user::check_address(a).map_err(|e| MgmtError::invalid_body(format!("user.{e}")))?;
            u.address = Some(a.clone());
        }
        Some(_) => return Err(MgmtError::invalid_body("user.address must be an object")),
    }
    for (key, target) in [
        ("app_metadata", &mut u.app_metadata),
        ("user_metadata", &mut u.user_metadata),
    ] {
        match (body.get(key), metadata(&body, key)?) {
            (Some(Value::Null), _) => target.clear(),
            (_, Some(patch)) => merge(target, patch),
            (_, None) => {}
        }
    }
    u.updated_at = state.now();
    state
        .store
        .save_user(&u, state.now())
        .await
        .map_err(conflict_on_email)?;
    Ok(Json(to_json(&find(&state, &u.id).await?)).into_response())
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, MgmtError> {
    caller.require("delete:users")?;
    let u = find(&state, &id).await?;
    state.store.delete_user(&u.user.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn refresh_tokens(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, MgmtError> {
    caller.require("read:refresh_tokens")?;
    let u = find(&state, &id).await?;
    let families = state
        .store
        .list_user_refresh_families(&u.user.id, state.now())
        .await?;
    let tokens: Vec<Value> = families
        .iter()
        .map(|(f, expires_at)| {
            json!({
                "id": f.id, "user_id": u.user.sub(), "client_id": f.client_id, "session_id": f.session_id,
                "created_at": iso(f.created_at), "expires_at": expires_at.map(iso), "rotating": f.policy.rotating(),
                "resource_servers": f.audience.as_ref().map(|a| vec![json!({"audience": a, "scopes": f.scope.to_string()})]).unwrap_or_default(),
            })
        })
        .collect();
    Ok(Json(json!({"tokens": tokens, "next": null})).into_response())
}

async fn sessions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, MgmtError> {
    caller.require("read:sessions")?;
    let u = find(&state, &id).await?;
    let idle = state.settings.sessions.idle;
    let mut list = Vec::new();
    for s in state
        .store
        .list_user_sessions(&u.user.id, state.now())
        .await?
    {
        let clients: Vec<Value> = state
            .store
            .session_clients(&s.id)
            .await?
            .into_iter()
            .map(|c| json!({"client_id": c}))
            .collect();
        list.push(json!({
                "id": s.id, "user_id": u.user.sub(), "authenticated_at": iso(s.auth_time), "created_at": iso(s.auth_time),
                "updated_at": iso(s.last_seen_at), "last_interacted_at": iso(s.last_seen_at),
                "idle_expires_at": iso(s.last_seen_at + idle), "expires_at": iso(s.expires_at),
                "clients": clients,
                "device": {"initial_ip": s.initial_ip, "last_ip": s.initial_ip, "last_user_agent": s.user_agent},
                "authentication": {"methods": [{"name": "pwd", "type": "password", "timestamp": iso(s.auth_time)}]},
        }));
    }
    Ok(Json(json!({"sessions": list, "next": null})).into_response())
}

async fn revoke_refresh_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, MgmtError> {
    caller.require("delete:refresh_tokens")?;
    if state.store.find_refresh_family_by_id(&id).await?.is_none() {
        return Err(MgmtError::not_found(
            "inexistent_refresh_token",
            "The refresh token does not exist.",
        ));
    }
    state
        .store
        .revoke_refresh_family(&id, "revoked through the Management API", state.now())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn end_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, MgmtError> {
    caller.require("delete:sessions")?;
    if state.store.find_session_by_id(&id).await?.is_none() {
        return Err(MgmtError::not_found(
            "inexistent_session",
            "The session does not exist.",
        ));
    }
    state.store.delete_session(&id).await?;
    state
        .store
        .revoke_session_families(&id, "session ended through the Management API", state.now())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
