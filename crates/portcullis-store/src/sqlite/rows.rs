//! Row ↔ domain mapping for SQLite, and the tenant import.

use portcullis_core::client::{
    AppType, Client, JwtConfiguration, SigningAlg, TokenEndpointAuthMethod,
};
use portcullis_core::code::AuthorizationCode;
use portcullis_core::log::LogEvent;
use portcullis_core::pkce::CodeChallenge;
use portcullis_core::redirect_uri::RedirectUri;
use portcullis_core::refresh::RefreshTokenPolicy;
use portcullis_core::resource_server::ResourceServer;
use portcullis_core::scope::Scope;
use portcullis_core::secret::TokenHash;
use portcullis_core::session::Session;
use portcullis_core::user::User;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use time::OffsetDateTime;

use super::{map_err, unavailable};
use crate::records::{ImportOutcome, SigningKeyRecord, SigningKeyState, TenantImport};
use crate::{StoreError, StoreResult};

/// Stored time: unix seconds.
pub(super) fn ts(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

/// Reads a stored time.
pub(super) fn from_ts(secs: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(unavailable)
}

pub(super) fn json<T: Serialize + ?Sized>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(unavailable)
}

fn from_json<T: DeserializeOwned>(row: &SqliteRow, column: &str) -> StoreResult<T> {
    serde_json::from_str(row.get::<&str, _>(column)).map_err(unavailable)
}

/// A stored value that does not parse is corruption, reported as unavailable.
fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(format!("stored {what} is invalid").into())
}

fn enum_from<T: DeserializeOwned>(raw: &str, what: &str) -> StoreResult<T> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned())).map_err(|_| corrupt(what))
}

fn enum_name<T: Serialize>(value: &T) -> StoreResult<String> {
    match serde_json::to_value(value).map_err(unavailable)? {
        serde_json::Value::String(s) => Ok(s),
        _ => Err(corrupt("enum")),
    }
}

pub(super) fn client_from_row(row: &SqliteRow) -> StoreResult<Client> {
    let callbacks: Vec<String> = from_json(row, "callbacks")?;
    let callbacks = callbacks
        .iter()
        .map(|c| RedirectUri::parse(c).map_err(|_| corrupt("callback")))
        .collect::<StoreResult<Vec<_>>>()?;
    let app_type = enum_from::<AppType>(row.get("app_type"), "app_type")?;
    Ok(Client {
        client_id: row.get("client_id"),
        name: row.get("name"),
        app_type,
        is_first_party: row.get("is_first_party"),
        callbacks,
        allowed_logout_urls: from_json(row, "allowed_logout_urls")?,
        web_origins: from_json(row, "web_origins")?,
        grant_types: from_json(row, "grant_types")?,
        token_endpoint_auth_method: enum_from::<TokenEndpointAuthMethod>(
            row.get("token_endpoint_auth_method"),
            "auth method",
        )?,
        secret_hash: row
            .get::<Option<String>, _>("secret_hash")
            .map(TokenHash::from_stored),
        jwt_configuration: JwtConfiguration {
            lifetime_in_seconds: row.get("jwt_lifetime_in_seconds"),
            alg: enum_from::<SigningAlg>(row.get("jwt_alg"), "jwt alg")?,
        },
        credentials: from_json(row, "credentials")?,
        refresh_token: match row.get::<Option<&str>, _>("refresh_token") {
            Some(raw) => serde_json::from_str(raw).map_err(|_| corrupt("refresh_token"))?,
            None => RefreshTokenPolicy::default_for(app_type),
        },
    })
}

pub(super) fn resource_server_from_row(row: &SqliteRow) -> StoreResult<ResourceServer> {
    Ok(ResourceServer {
        identifier: row.get("identifier"),
        name: row.get("name"),
        scopes: from_json(row, "scopes")?,
        allow_offline_access: row.get("allow_offline_access"),
        token_lifetime: row.get("token_lifetime"),
        signing_alg: enum_from::<SigningAlg>(row.get("signing_alg"), "signing_alg")?,
        skip_consent_for_verifiable_first_party_clients: row
            .get("skip_consent_for_verifiable_first_party_clients"),
    })
}

pub(super) fn user_from_row(row: &SqliteRow) -> StoreResult<User> {
    Ok(User {
        id: row.get("id"),
        email: row.get("email"),
        email_verified: row.get("email_verified"),
        name: row.get("name"),
        given_name: row.get("given_name"),
        family_name: row.get("family_name"),
        nickname: row.get("nickname"),
        picture: row.get("picture"),
        password_hash: row.get("password_hash"),
        blocked: row.get("blocked"),
        updated_at: from_ts(row.get("updated_at"))?,
        app_metadata: from_json(row, "app_metadata")?,
        user_metadata: from_json(row, "user_metadata")?,
    })
}

pub(super) fn session_from_row(row: &SqliteRow) -> StoreResult<Session> {
    Ok(Session {
        id: row.get("id"),
        user_id: row.get("user_id"),
        auth_time: from_ts(row.get("auth_time"))?,
        last_seen_at: from_ts(row.get("last_seen_at"))?,
        expires_at: from_ts(row.get("expires_at"))?,
        initial_ip: row.get("initial_ip"),
        user_agent: row.get("user_agent"),
    })
}

pub(super) fn code_from_row(row: &SqliteRow) -> StoreResult<AuthorizationCode> {
    let code_challenge = match row.get::<Option<&str>, _>("code_challenge") {
        None => None,
        Some(c) => {
            Some(CodeChallenge::parse(c, Some("S256")).map_err(|_| corrupt("code_challenge"))?)
        }
    };
    Ok(AuthorizationCode {
        client_id: row.get("client_id"),
        user_id: row.get("user_id"),
        redirect_uri: RedirectUri::parse(row.get("redirect_uri"))
            .map_err(|_| corrupt("redirect_uri"))?,
        redirect_uri_sent: row.get("redirect_uri_sent"),
        scope: Scope::parse(row.get("scope")).map_err(|_| corrupt("scope"))?,
        audience: row.get("audience"),
        nonce: row.get("nonce"),
        code_challenge,
        session_id: row.get("session_id"),
        auth_time: from_ts(row.get("auth_time"))?,
        expires_at: from_ts(row.get("expires_at"))?,
    })
}

pub(super) fn signing_key_from_row(row: &SqliteRow) -> StoreResult<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: row.get("kid"),
        alg: row.get("alg"),
        private_key_enc: row.get("private_key_enc"),
        public_jwk: row.get("public_jwk"),
        state: SigningKeyState::parse(row.get("state")).ok_or_else(|| corrupt("key state"))?,
        created_at: from_ts(row.get("created_at"))?,
    })
}

/// Applies a tenant import on a connection inside a transaction.
pub(super) async fn import(
    c: &mut SqliteConnection,
    import: &TenantImport,
    now: OffsetDateTime,
) -> StoreResult<Vec<ImportOutcome>> {
    let mut outcomes = Vec::new();
    for rs in &import.resource_servers {
        let existed = sqlx::query("select 1 from resource_servers where identifier = ?")
            .bind(&rs.identifier)
            .fetch_optional(&mut *c)
            .await
            .map_err(map_err)?
            .is_some();
        sqlx::query(
            "insert into resource_servers (identifier, name, scopes, allow_offline_access, token_lifetime, signing_alg,
               skip_consent_for_verifiable_first_party_clients, created_at, updated_at, id)
             values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'rs_' || lower(hex(randomblob(12))))
             on conflict (identifier) do update set name = excluded.name, scopes = excluded.scopes,
               allow_offline_access = excluded.allow_offline_access, token_lifetime = excluded.token_lifetime,
               signing_alg = excluded.signing_alg,
               skip_consent_for_verifiable_first_party_clients = excluded.skip_consent_for_verifiable_first_party_clients,
               updated_at = excluded.updated_at",
        )
        .bind(&rs.identifier)
        .bind(&rs.name)
        .bind(json(&rs.scopes)?)
        .bind(rs.allow_offline_access)
        .bind(rs.token_lifetime)
        .bind(enum_name(&rs.signing_alg)?)
        .bind(rs.skip_consent_for_verifiable_first_party_clients)
        .bind(ts(now))
        .bind(ts(now))
        .execute(&mut *c)
        .await
        .map_err(map_err)?;
        outcomes.push(ImportOutcome {
            kind: "resource_server",
            key: rs.identifier.clone(),
            id: rs.identifier.clone(),
            created: !existed,
        });
    }
    for up in &import.clients {
        let cl = &up.client;
        let existing = if up.match_on_client_id {
            sqlx::query("select client_id from clients where client_id = ?").bind(&cl.client_id)
        } else {
            sqlx::query("select client_id from clients where name = ?").bind(&cl.name)
        }
        .fetch_optional(&mut *c)
        .await
        .map_err(map_err)?
        .map(|r| r.get::<String, _>(0));
        let callbacks: Vec<&str> = cl.callbacks.iter().map(RedirectUri::as_str).collect();
        let secret_hash = cl.secret_hash.as_ref().map(|h| h.as_str().to_owned());
        match &existing {
            Some(id) => {
                sqlx::query(
                    "update clients set name = ?, app_type = ?, is_first_party = ?, callbacks = ?, allowed_logout_urls = ?,
                       web_origins = ?, grant_types = ?, token_endpoint_auth_method = ?, jwt_lifetime_in_seconds = ?,
                       jwt_alg = ?, refresh_token = ?, credentials = ?, updated_at = ?,
                       secret_hash = case when ? in ('none', 'private_key_jwt') then null when ? then ? else coalesce(secret_hash, ?) end
                     where client_id = ?",
                )
                .bind(&cl.name)
                .bind(cl.app_type.as_str())
                .bind(cl.is_first_party)
                .bind(json(&callbacks)?)
                .bind(json(&cl.allowed_logout_urls)?)
                .bind(json(&cl.web_origins)?)
                .bind(json(&cl.grant_types)?)
                .bind(cl.token_endpoint_auth_method.as_str())
                .bind(cl.jwt_configuration.lifetime_in_seconds)
                .bind(enum_name(&cl.jwt_configuration.alg)?)
                .bind(json(&cl.refresh_token)?)
                .bind(json(&cl.credentials)?)
                .bind(ts(now))
                .bind(cl.token_endpoint_auth_method.as_str())
                .bind(up.secret_given)
                .bind(&secret_hash)
                .bind(&secret_hash)
                .bind(id)
                .execute(&mut *c)
                .await
                .map_err(map_err)?;
            }
            None => {
                sqlx::query(
                    "insert into clients (client_id, name, app_type, is_first_party, callbacks, allowed_logout_urls, web_origins,
                       grant_types, token_endpoint_auth_method, secret_hash, jwt_lifetime_in_seconds, jwt_alg, refresh_token,
                       credentials, created_at, updated_at)
                     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&cl.client_id)
                .bind(&cl.name)
                .bind(cl.app_type.as_str())
                .bind(cl.is_first_party)
                .bind(json(&callbacks)?)
                .bind(json(&cl.allowed_logout_urls)?)
                .bind(json(&cl.web_origins)?)
                .bind(json(&cl.grant_types)?)
                .bind(cl.token_endpoint_auth_method.as_str())
                .bind(&secret_hash)
                .bind(cl.jwt_configuration.lifetime_in_seconds)
                .bind(enum_name(&cl.jwt_configuration.alg)?)
                .bind(json(&cl.refresh_token)?)
                .bind(json(&cl.credentials)?)
                .bind(ts(now))
                .bind(ts(now))
                .execute(&mut *c)
                .await
                .map_err(map_err)?;
            }
        }
        outcomes.push(ImportOutcome {
            kind: "client",
            key: cl.name.clone(),
            id: existing.clone().unwrap_or_else(|| cl.client_id.clone()),
            created: existing.is_none(),
        });
    }
    for g in &import.client_grants {
        let client_id: Option<String> = sqlx::query("select client_id from clients where client_id = ? or name = ? order by client_id = ? desc limit 1")
            .bind(&g.client)
            .bind(&g.client)
            .bind(&g.client)
            .fetch_optional(&mut *c)
            .await
            .map_err(map_err)?
            .map(|r| r.get(0));
        let Some(client_id) = client_id else {
            return Err(StoreError::Conflict {
                what: format!(
                    "clientGrants: no client with client_id or name {:?}",
                    g.client
                ),
            });
        };
        let api_exists = sqlx::query("select 1 from resource_servers where identifier = ?")
            .bind(&g.audience)
            .fetch_optional(&mut *c)
            .await
            .map_err(map_err)?
            .is_some();
        if !api_exists {
            return Err(StoreError::Conflict {
                what: format!("clientGrants: no API with identifier {:?}", g.audience),
            });
        }
        let existed =
            sqlx::query("select id from client_grants where client_id = ? and audience = ?")
                .bind(&client_id)
                .bind(&g.audience)
                .fetch_optional(&mut *c)
                .await
                .map_err(map_err)?
                .map(|r| r.get::<String, _>(0));
        sqlx::query(
            "insert into client_grants (id, client_id, audience, scope, created_at, updated_at) values (?, ?, ?, ?, ?, ?)
             on conflict (client_id, audience) do update set scope = excluded.scope, updated_at = excluded.updated_at",
        )
        .bind(&g.id)
        .bind(&client_id)
        .bind(&g.audience)
        .bind(g.scope.to_string())
        .bind(ts(now))
        .bind(ts(now))
        .execute(&mut *c)
        .await
        .map_err(map_err)?;
        outcomes.push(ImportOutcome {
            kind: "client_grant",
            key: format!("{} -> {}", g.client, g.audience),
            id: existed.clone().unwrap_or_else(|| g.id.clone()),
            created: existed.is_none(),
        });
    }
    for up in &import.users {
        let u = &up.user;
        let email = User::normalize_email(&u.email);
        let existing = sqlx::query("select id from users where email = ?")
            .bind(&email)
            .fetch_optional(&mut *c)
            .await
            .map_err(map_err)?
            .map(|r| r.get::<String, _>(0));
        match &existing {
            Some(id) => {
                sqlx::query(
                    "update users set email_verified = ?, name = ?, given_name = ?, family_name = ?, nickname = ?, picture = ?,
                       blocked = ?, updated_at = ?, password_hash = case when ? then ? else password_hash end
                     where id = ?",
                )
                .bind(u.email_verified)
                .bind(&u.name)
                .bind(&u.given_name)
                .bind(&u.family_name)
                .bind(&u.nickname)
                .bind(&u.picture)
                .bind(u.blocked)
                .bind(ts(now))
                .bind(up.password_given)
                .bind(&u.password_hash)
                .bind(id)
                .execute(&mut *c)
                .await
                .map_err(map_err)?;
            }
            None => {
                sqlx::query(
                    "insert into users (id, email, email_verified, name, given_name, family_name, nickname, picture, password_hash,
                       blocked, created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&u.id)
                .bind(&email)
                .bind(u.email_verified)
                .bind(&u.name)
                .bind(&u.given_name)
                .bind(&u.family_name)
                .bind(&u.nickname)
                .bind(&u.picture)
                .bind(&u.password_hash)
                .bind(u.blocked)
                .bind(ts(now))
                .bind(ts(now))
                .execute(&mut *c)
                .await
                .map_err(map_err)?;
            }
        }
        outcomes.push(ImportOutcome {
            kind: "user",
            key: email.clone(),
            id: existing.clone().unwrap_or_else(|| u.id.clone()),
            created: existing.is_none(),
        });
    }
    Ok(outcomes)
}

pub(super) fn log_from_row(row: &SqliteRow) -> StoreResult<LogEvent> {
    Ok(LogEvent {
        id: row.get("id"),
        date: from_ts(row.get("date"))?,
        log_type: enum_from(row.get("type"), "log type")?,
        description: row
            .get::<Option<String>, _>("description")
            .unwrap_or_default(),
        client_id: row.get("client_id"),
        user_id: row.get("user_id"),
        ip: row.get("ip"),
    })
}
