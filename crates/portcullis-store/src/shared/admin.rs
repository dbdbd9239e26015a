//! Management API persistence (both backends): listing with paging, saving and deleting
//! clients, APIs, client grants and users.

use portcullis_core::client::Client;
use portcullis_core::client_grant::ClientGrant;
use portcullis_core::redirect_uri::RedirectUri;
use portcullis_core::resource_server::ResourceServer;
use sqlx::Row;
use time::OffsetDateTime;

use portcullis_core::log::LogEvent;
use portcullis_core::refresh::RefreshFamily;
use portcullis_core::session::Session;
use portcullis_core::user::User;

use super::rows::{
    client_from_row, find_one, from_ts, grant_from_row, json, log_from_row,
    resource_server_from_row, session_from_row, ts, user_from_row,
};
use super::{Db, DbRow};
use crate::map_err;
use crate::records::UserView;
use crate::{StoreError, StoreResult};

async fn count(pool: &super::Pool, sql: &'static str) -> StoreResult<i64> {
    Ok(sqlx::query(sql)
        .fetch_one(pool)
        .await
        .map_err(map_err)?
        .get(0))
}

pub(super) async fn list_clients(
    pool: &super::Pool,
    offset: i64,
    limit: i64,
) -> StoreResult<(Vec<Client>, i64)> {
    let rows = sqlx::query("select * from clients order by name, client_id limit $1 offset $2")
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await
        .map_err(map_err)?;
    let clients = rows
        .iter()
        .map(client_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok((clients, count(pool, "select count(*) from clients").await?))
}

pub(super) async fn save_client(
    exec: impl sqlx::Executor<'_, Database = Db>,
    c: &Client,
    now: OffsetDateTime,
) -> StoreResult<()> {
    let callbacks: Vec<&str> = c.callbacks.iter().map(RedirectUri::as_str).collect();
    sqlx::query(
        "insert into clients (client_id, name, app_type, is_first_party, callbacks, allowed_logout_urls, web_origins, grant_types,
           token_endpoint_auth_method, secret_hash, jwt_lifetime_in_seconds, jwt_alg, refresh_token, credentials, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         on conflict (client_id) do update set name = excluded.name, app_type = excluded.app_type,
           is_first_party = excluded.is_first_party, callbacks = excluded.callbacks,
           allowed_logout_urls = excluded.allowed_logout_urls, web_origins = excluded.web_origins,
           grant_types = excluded.grant_types, token_endpoint_auth_method = excluded.token_endpoint_auth_method,
           secret_hash = excluded.secret_hash, jwt_lifetime_in_seconds = excluded.jwt_lifetime_in_seconds,
           jwt_alg = excluded.jwt_alg, refresh_token = excluded.refresh_token, credentials = excluded.credentials,
           updated_at = excluded.updated_at",
    )
    .bind(&c.client_id)
    .bind(&c.name)
    .bind(c.app_type.as_str())
    .bind(c.is_first_party)
    .bind(json(&callbacks)?)
    .bind(json(&c.allowed_logout_urls)?)
    .bind(json(&c.web_origins)?)
    .bind(json(&c.grant_types)?)
    .bind(c.token_endpoint_auth_method.as_str())
    .bind(c.secret_hash.as_ref().map(|h| h.as_str()))
    .bind(c.jwt_configuration.lifetime_in_seconds)
    .bind(c.jwt_configuration.alg.as_str())
    .bind(json(&c.refresh_token)?)
    .bind(json(&c.credentials)?)
    .bind(ts(now))
    .bind(ts(now))
    .execute(exec)
    .await
    .map(|_| ())
    .map_err(map_err)
}

/// Runs a `delete … where key = ?`; `NotFound` when no row had that key.
async fn delete_one(pool: &super::Pool, sql: &'static str, key: &str) -> StoreResult<()> {
    let done = sqlx::query(sql)
        .bind(key)
        .execute(pool)
        .await
        .map_err(map_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) async fn delete_client(pool: &super::Pool, client_id: &str) -> StoreResult<()> {
    delete_one(pool, "delete from clients where client_id = $1", client_id).await
}

fn with_id(r: &DbRow) -> StoreResult<(String, ResourceServer)> {
    Ok((r.get("id"), resource_server_from_row(r)?))
}

pub(super) async fn list_resource_servers(
    pool: &super::Pool,
    offset: i64,
    limit: i64,
) -> StoreResult<(Vec<(String, ResourceServer)>, i64)> {
    let rows =
        sqlx::query("select * from resource_servers order by name, identifier limit $1 offset $2")
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await
            .map_err(map_err)?;
    let apis = rows.iter().map(with_id).collect::<StoreResult<Vec<_>>>()?;
    Ok((
        apis,
        count(pool, "select count(*) from resource_servers").await?,
    ))
}

pub(super) async fn find_resource_server_by_id(
    pool: &super::Pool,
    id: &str,
) -> StoreResult<Option<(String, ResourceServer)>> {
    let row = sqlx::query("select * from resource_servers where id = $1 or identifier = $1 order by id = $1 desc limit 1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(map_err)?;
    row.as_ref().map(with_id).transpose()
}

pub(super) async fn save_resource_server(
    exec: impl sqlx::Executor<'_, Database = Db>,
    id: &str,
    api: &ResourceServer,
    now: OffsetDateTime,
) -> StoreResult<()> {
    sqlx::query(
        "insert into resource_servers (id, identifier, name, scopes, allow_offline_access, token_lifetime, signing_alg,
           skip_consent_for_verifiable_first_party_clients, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         on conflict (id) do update set name = excluded.name, scopes = excluded.scopes,
           allow_offline_access = excluded.allow_offline_access, token_lifetime = excluded.token_lifetime,
           signing_alg = excluded.signing_alg,
           skip_consent_for_verifiable_first_party_clients = excluded.skip_consent_for_verifiable_first_party_clients,
           updated_at = excluded.updated_at",
    )
    .bind(id)
    .bind(&api.identifier)
    .bind(&api.name)
    .bind(json(&api.scopes)?)
    .bind(api.allow_offline_access)
    .bind(api.token_lifetime)
    .bind(api.signing_alg.as_str())
    .bind(api.skip_consent_for_verifiable_first_party_clients)
    .bind(ts(now))
    .bind(ts(now))
    .execute(exec)
    .await
    .map(|_| ())
    .map_err(map_err)
}

pub(super) async fn delete_resource_server(pool: &super::Pool, id: &str) -> StoreResult<()> {
    delete_one(pool, "delete from resource_servers where id = $1", id).await
}

pub(super) async fn list_client_grants(
    pool: &super::Pool,
    client_id: Option<&str>,
    audience: Option<&str>,
    offset: i64,
    limit: i64,
) -> StoreResult<(Vec<ClientGrant>, i64)> {
    let rows = sqlx::query(
        "select * from client_grants where ($1 is null or client_id = $1) and ($2 is null or audience = $2)
         order by client_id, audience limit $3 offset $4",
    )
    .bind(client_id)
    .bind(audience)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    let total: i64 = sqlx::query(
        "select count(*) from client_grants where ($1 is null or client_id = $1) and ($2 is null or audience = $2)",
    )
    .bind(client_id)
    .bind(audience)
    .fetch_one(pool)
    .await
    .map_err(map_err)?
    .get(0);
    Ok((
        rows.iter()
            .map(grant_from_row)
            .collect::<StoreResult<Vec<_>>>()?,
        total,
    ))
}

pub(super) async fn find_client_grant_by_id(
    pool: &super::Pool,
    id: &str,
) -> StoreResult<Option<ClientGrant>> {
    find_one(
        pool,
        "select * from client_grants where id = $1",
        id,
        grant_from_row,
    )
    .await
}

pub(super) async fn save_client_grant(
    exec: impl sqlx::Executor<'_, Database = Db>,
    g: &ClientGrant,
    now: OffsetDateTime,
) -> StoreResult<()> {
    let result = sqlx::query(
        "insert into client_grants (id, client_id, audience, scope, created_at, updated_at) values ($1, $2, $3, $4, $5, $6)
         on conflict (id) do update set scope = excluded.scope, updated_at = excluded.updated_at",
    )
    .bind(&g.id)
    .bind(&g.client_id)
    .bind(&g.audience)
    .bind(g.scope.to_string())
    .bind(ts(now))
    .bind(ts(now))
    .execute(exec)
    .await;
    match result {
        Ok(_) => Ok(()),
        // the references: an unknown client or API
        Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
            Err(StoreError::NotFound)
        }
        Err(e) => Err(map_err(e)),
    }
}

pub(super) async fn delete_client_grant(pool: &super::Pool, id: &str) -> StoreResult<()> {
    delete_one(pool, "delete from client_grants where id = $1", id).await
}

fn view_from_row(r: &DbRow) -> StoreResult<UserView> {
    Ok(UserView {
        user: user_from_row(r)?,
        created_at: from_ts(r.get("created_at"))?,
        last_login: r
            .get::<Option<i64>, _>("last_login")
            .map(from_ts)
            .transpose()?,
        logins_count: r.get("logins_count"),
    })
}

pub(super) async fn list_users(
    pool: &super::Pool,
    email: Option<&str>,
    offset: i64,
    limit: i64,
) -> StoreResult<(Vec<UserView>, i64)> {
    let email = email.map(User::normalize_email);
    let rows = sqlx::query(
        "select * from users where ($1 is null or email = $1) order by email limit $2 offset $3",
    )
    .bind(&email)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    let total: i64 = sqlx::query("select count(*) from users where ($1 is null or email = $1)")
        .bind(&email)
        .fetch_one(pool)
        .await
        .map_err(map_err)?
        .get(0);
    Ok((
        rows.iter()
            .map(view_from_row)
            .collect::<StoreResult<Vec<_>>>()?,
        total,
    ))
}

pub(super) async fn find_user_view(pool: &super::Pool, id: &str) -> StoreResult<Option<UserView>> {
    find_one(pool, "select * from users where id = $1", id, view_from_row).await
}

pub(super) async fn save_user(
    exec: impl sqlx::Executor<'_, Database = Db>,
    u: &User,
    now: OffsetDateTime,
) -> StoreResult<()> {
    sqlx::query(
        "insert into users (id, email, email_verified, name, given_name, family_name, nickname, picture, password_hash, blocked,
           app_metadata, user_metadata, address, phone_number, phone_number_verified, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         on conflict (id) do update set email = excluded.email, email_verified = excluded.email_verified, name = excluded.name,
           given_name = excluded.given_name, family_name = excluded.family_name, nickname = excluded.nickname,
           picture = excluded.picture, password_hash = excluded.password_hash, blocked = excluded.blocked,
           app_metadata = excluded.app_metadata, user_metadata = excluded.user_metadata, address = excluded.address,
           phone_number = excluded.phone_number, phone_number_verified = excluded.phone_number_verified,
           updated_at = excluded.updated_at",
    )
    .bind(&u.id)
    .bind(User::normalize_email(&u.email))
    .bind(u.email_verified)
    .bind(&u.name)
    .bind(&u.given_name)
    .bind(&u.family_name)
    .bind(&u.nickname)
    .bind(&u.picture)
    .bind(&u.password_hash)
    .bind(u.blocked)
    .bind(json(&u.app_metadata)?)
    .bind(json(&u.user_metadata)?)
    .bind(u.address.as_ref().map(json).transpose()?)
    .bind(&u.phone_number)
    .bind(u.phone_number_verified)
    .bind(ts(now))
    .bind(ts(now))
    .execute(exec)
    .await
    .map(|_| ())
    .map_err(map_err)
}

/// Deletes a user, in the caller's write transaction.
pub(super) async fn delete_user(tx: &mut super::Conn, id: &str) -> StoreResult<()> {
    // Refresh families and assertion records have no foreign key to users; end them here.
    sqlx::query("update refresh_families set revoked_at = coalesce(revoked_at, $1), revoked_reason = coalesce(revoked_reason, 'user deleted') where user_id = $2")
        .bind(ts(OffsetDateTime::UNIX_EPOCH))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    let done = sqlx::query("delete from users where id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) async fn list_user_refresh_families(
    pool: &super::Pool,
    user_id: &str,
    now: OffsetDateTime,
) -> StoreResult<Vec<(RefreshFamily, Option<OffsetDateTime>)>> {
    let rows = sqlx::query(
        "select * from refresh_families where user_id = $1 and revoked_at is null and (expires_at is null or expires_at > $2) order by created_at",
    )
    .bind(user_id)
    .bind(ts(now))
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    rows.iter()
        .map(|r| {
            Ok((
                super::refresh::family_from_row(r)?,
                r.get::<Option<i64>, _>("expires_at")
                    .map(from_ts)
                    .transpose()?,
            ))
        })
        .collect()
}

pub(super) async fn find_refresh_family_by_id(
    pool: &super::Pool,
    id: &str,
) -> StoreResult<Option<RefreshFamily>> {
    let row = sqlx::query("select * from refresh_families where id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(map_err)?;
    row.as_ref()
        .map(super::refresh::family_from_row)
        .transpose()
}

pub(super) async fn list_user_sessions(
    pool: &super::Pool,
    user_id: &str,
    now: OffsetDateTime,
) -> StoreResult<Vec<Session>> {
    let rows = sqlx::query(
        "select * from sessions where user_id = $1 and expires_at > $2 order by created_at",
    )
    .bind(user_id)
    .bind(ts(now))
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    rows.iter().map(session_from_row).collect()
}

pub(super) async fn find_session_by_id(
    pool: &super::Pool,
    id: &str,
) -> StoreResult<Option<Session>> {
    find_one(
        pool,
        "select * from sessions where id = $1",
        id,
        session_from_row,
    )
    .await
}

pub(super) async fn list_logs(
    pool: &super::Pool,
    log_type: Option<&str>,
    offset: i64,
    limit: i64,
) -> StoreResult<(Vec<LogEvent>, i64)> {
    let rows = sqlx::query("select * from logs where ($1 is null or type = $1) order by date desc, rowid desc limit $2 offset $3")
        .bind(log_type)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await
        .map_err(map_err)?;
    let total: i64 = sqlx::query("select count(*) from logs where ($1 is null or type = $1)")
        .bind(log_type)
        .fetch_one(pool)
        .await
        .map_err(map_err)?
        .get(0);
    Ok((
        rows.iter()
            .map(log_from_row)
            .collect::<StoreResult<Vec<_>>>()?,
        total,
    ))
}
