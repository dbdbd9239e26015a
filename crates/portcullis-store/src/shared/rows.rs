//! Row ↔ domain mapping, and the tenant import (shared by both backends).

use portcullis_core::client::{
    AppType, Client, JwtConfiguration, SigningAlg, TokenEndpointAuthMethod,
};
use portcullis_core::client_grant::ClientGrant;
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
use sqlx::Row;
use time::OffsetDateTime;

use super::{Conn, DbRow, admin};
use crate::records::{ImportOutcome, SigningKeyRecord, SigningKeyState, TenantImport};
use crate::{StoreError, StoreResult};
use crate::{map_err, unavailable};

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

fn from_json<T: DeserializeOwned>(row: &DbRow, column: &str) -> StoreResult<T> {
    serde_json::from_str(row.get::<&str, _>(column)).map_err(unavailable)
}

/// A row's columns by name, as the decoders below read them: from a row of sqlx (either
/// backend) or, on SQLite, of the statements run on the calling thread (`sqlite/hot.rs`).
/// A column that is missing or of another type is corruption, reported as unavailable.
pub(super) trait Columns {
    fn text(&self, column: &str) -> StoreResult<String>;
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>>;
    fn int(&self, column: &str) -> StoreResult<i64>;
    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>>;
    fn flag(&self, column: &str) -> StoreResult<bool>;

    /// A stored time.
    fn time(&self, column: &str) -> StoreResult<OffsetDateTime> {
        from_ts(self.int(column)?)
    }

    /// A stored time that may be absent.
    fn opt_time(&self, column: &str) -> StoreResult<Option<OffsetDateTime>> {
        self.opt_int(column)?.map(from_ts).transpose()
    }

    /// A JSON column.
    fn json<T: DeserializeOwned>(&self, column: &str) -> StoreResult<T> {
        serde_json::from_str(&self.text(column)?).map_err(unavailable)
    }
}

impl Columns for DbRow {
    fn text(&self, column: &str) -> StoreResult<String> {
        self.try_get(column).map_err(unavailable)
    }
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
        self.try_get(column).map_err(unavailable)
    }
    fn int(&self, column: &str) -> StoreResult<i64> {
        self.try_get(column).map_err(unavailable)
    }
    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
        self.try_get(column).map_err(unavailable)
    }
    fn flag(&self, column: &str) -> StoreResult<bool> {
        self.try_get(column).map_err(unavailable)
    }
}

/// A stored value that does not parse is corruption, reported as unavailable.
fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(format!("stored {what} is invalid").into())
}

fn enum_from<T: DeserializeOwned>(raw: &str, what: &str) -> StoreResult<T> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned())).map_err(|_| corrupt(what))
}

pub(super) fn client_from_row(row: &DbRow) -> StoreResult<Client> {
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

pub(super) fn resource_server_from_row(row: &DbRow) -> StoreResult<ResourceServer> {
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

pub(super) fn user_from_row<R: Columns>(row: &R) -> StoreResult<User> {
    user_with_id(row, row.text("id")?)
}

/// The columns [`joined_user`] reads: a user's but `id` (and `created_at`, which it does
/// not read), for reads that find the user with a row of another table.
pub(super) const USER_COLUMNS: [&str; 15] = [
    "email",
    "email_verified",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "picture",
    "password_hash",
    "blocked",
    "updated_at",
    "app_metadata",
    "user_metadata",
    "address",
    "phone_number",
    "phone_number_verified",
];

/// The user a read found with a row of another table: its [`USER_COLUMNS`] and `id`,
/// which the caller knows; `None` when the read's `has_user` says there was none.
pub(super) fn joined_user<R: Columns>(row: &R, id: &str) -> StoreResult<Option<User>> {
    if row.flag("has_user")? {
        user_with_id(row, id.to_owned()).map(Some)
    } else {
        Ok(None)
    }
}

/// The user of `row`'s [`USER_COLUMNS`], with `id`, which the caller gives.
fn user_with_id<R: Columns>(row: &R, id: String) -> StoreResult<User> {
    Ok(User {
        id,
        email: row.text("email")?,
        email_verified: row.flag("email_verified")?,
        name: row.opt_text("name")?,
        given_name: row.opt_text("given_name")?,
        family_name: row.opt_text("family_name")?,
        nickname: row.opt_text("nickname")?,
        picture: row.opt_text("picture")?,
        password_hash: row.opt_text("password_hash")?,
        blocked: row.flag("blocked")?,
        updated_at: row.time("updated_at")?,
        app_metadata: row.json("app_metadata")?,
        user_metadata: row.json("user_metadata")?,
        address: row
            .opt_text("address")?
            .map(|a| serde_json::from_str(&a))
            .transpose()
            .map_err(unavailable)?,
        phone_number: row.opt_text("phone_number")?,
        phone_number_verified: row.flag("phone_number_verified")?,
    })
}

pub(super) fn session_from_row<R: Columns>(row: &R) -> StoreResult<Session> {
    Ok(Session {
        id: row.text("id")?,
        user_id: row.text("user_id")?,
        auth_time: row.time("auth_time")?,
        last_seen_at: row.time("last_seen_at")?,
        expires_at: row.time("expires_at")?,
        initial_ip: row.opt_text("initial_ip")?,
        user_agent: row.opt_text("user_agent")?,
    })
}

pub(super) fn code_from_row<R: Columns>(row: &R) -> StoreResult<AuthorizationCode> {
    let code_challenge = match row.opt_text("code_challenge")? {
        None => None,
        Some(c) => {
            Some(CodeChallenge::parse(&c, Some("S256")).map_err(|_| corrupt("code_challenge"))?)
        }
    };
    Ok(AuthorizationCode {
        client_id: row.text("client_id")?,
        user_id: row.text("user_id")?,
        redirect_uri: RedirectUri::parse(&row.text("redirect_uri")?)
            .map_err(|_| corrupt("redirect_uri"))?,
        redirect_uri_sent: row.flag("redirect_uri_sent")?,
        scope: Scope::parse(&row.text("scope")?).map_err(|_| corrupt("scope"))?,
        audience: row.opt_text("audience")?,
        nonce: row.opt_text("nonce")?,
        code_challenge,
        session_id: row.text("session_id")?,
        auth_time: row.time("auth_time")?,
        expires_at: row.time("expires_at")?,
    })
}

pub(super) fn signing_key_from_row(row: &DbRow) -> StoreResult<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: row.get("kid"),
        alg: row.get("alg"),
        private_key_enc: row.get("private_key_enc"),
        public_jwk: row.get("public_jwk"),
        state: SigningKeyState::parse(row.get("state")).ok_or_else(|| corrupt("key state"))?,
        created_at: from_ts(row.get("created_at"))?,
    })
}

/// Applies a tenant import on a connection inside a transaction. Each entry is matched,
/// merged with what it updates, and written by the same `save_*` functions the Management
/// API uses: one write path per table.
pub(super) async fn import(
    c: &mut Conn,
    import: &TenantImport,
    now: OffsetDateTime,
) -> StoreResult<Vec<ImportOutcome>> {
    let mut outcomes = Vec::new();
    for rs in &import.resource_servers {
        let existing: Option<String> =
            sqlx::query("select id from resource_servers where identifier = $1")
                .bind(&rs.identifier)
                .fetch_optional(&mut *c)
                .await
                .map_err(map_err)?
                .map(|r| r.get(0));
        let id = match &existing {
            Some(id) => id.clone(),
            None => new_id("rs_"),
        };
        admin::save_resource_server(&mut *c, &id, rs, now).await?;
        outcomes.push(ImportOutcome {
            kind: "resource_server",
            key: rs.identifier.clone(),
            id: rs.identifier.clone(),
            created: existing.is_none(),
        });
    }
    for up in &import.clients {
        let new = &up.client;
        let row = if up.match_on_client_id {
            sqlx::query("select * from clients where client_id = $1").bind(&new.client_id)
        } else {
            sqlx::query("select * from clients where name = $1").bind(&new.name)
        }
        .fetch_optional(&mut *c)
        .await
        .map_err(map_err)?;
        let existing = row.as_ref().map(client_from_row).transpose()?;
        let mut client = new.clone();
        if let Some(old) = &existing {
            client.client_id = old.client_id.clone();
            // A secret only for the secret methods; kept unless the file gives one.
            client.secret_hash = match new.token_endpoint_auth_method {
                TokenEndpointAuthMethod::None | TokenEndpointAuthMethod::PrivateKeyJwt => None,
                _ if up.secret_given => new.secret_hash.clone(),
                _ => old.secret_hash.clone().or_else(|| new.secret_hash.clone()),
            };
        }
        admin::save_client(&mut *c, &client, now).await?;
        outcomes.push(ImportOutcome {
            kind: "client",
            key: client.name.clone(),
            id: client.client_id.clone(),
            created: existing.is_none(),
        });
    }
    for g in &import.client_grants {
        let client_id: Option<String> = sqlx::query("select client_id from clients where client_id = $1 or name = $1 order by client_id = $1 desc limit 1")
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
        let api_exists = sqlx::query("select 1 from resource_servers where identifier = $1")
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
        let existing: Option<String> =
            sqlx::query("select id from client_grants where client_id = $1 and audience = $2")
                .bind(&client_id)
                .bind(&g.audience)
                .fetch_optional(&mut *c)
                .await
                .map_err(map_err)?
                .map(|r| r.get(0));
        let grant = ClientGrant {
            id: existing.clone().unwrap_or_else(|| g.id.clone()),
            client_id,
            audience: g.audience.clone(),
            scope: g.scope.clone(),
        };
        admin::save_client_grant(&mut *c, &grant, now).await?;
        outcomes.push(ImportOutcome {
            kind: "client_grant",
            key: format!("{} -> {}", g.client, g.audience),
            id: grant.id,
            created: existing.is_none(),
        });
    }
    for up in &import.users {
        let email = User::normalize_email(&up.user.email);
        let row = sqlx::query("select * from users where email = $1")
            .bind(&email)
            .fetch_optional(&mut *c)
            .await
            .map_err(map_err)?;
        let existing = row.as_ref().map(user_from_row).transpose()?;
        let mut user = User {
            email: email.clone(),
            ..up.user.clone()
        };
        if let Some(old) = &existing {
            user.id = old.id.clone();
            user.app_metadata = old.app_metadata.clone();
            user.user_metadata = old.user_metadata.clone();
            if !up.password_given {
                user.password_hash = old.password_hash.clone();
            }
        }
        admin::save_user(&mut *c, &user, now).await?;
        outcomes.push(ImportOutcome {
            kind: "user",
            key: email,
            id: user.id,
            created: existing.is_none(),
        });
    }
    Ok(outcomes)
}

/// A random id with a prefix (`rs_…`): 96 bits, lower-case hex.
fn new_id(prefix: &str) -> String {
    let bytes: [u8; 12] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

pub(super) fn log_from_row(row: &DbRow) -> StoreResult<LogEvent> {
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

pub(super) fn grant_from_row(r: &DbRow) -> StoreResult<ClientGrant> {
    Ok(ClientGrant {
        id: r.get("id"),
        client_id: r.get("client_id"),
        audience: r.get("audience"),
        scope: Scope::parse(r.get("scope")).map_err(unavailable)?,
    })
}

/// Runs a `select … where key = ?` that matches at most one row, and maps that row.
pub(super) async fn find_one<T>(
    pool: &super::Pool,
    sql: &'static str,
    key: &str,
    from_row: fn(&DbRow) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    let row = sqlx::query(sql)
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(map_err)?;
    row.as_ref().map(from_row).transpose()
}
