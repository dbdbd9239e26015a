//! The SQLite store: the embedded default (WAL, one file). Writers serialise on SQLite's
//! lock with a busy timeout; every multi-statement write runs in `BEGIN IMMEDIATE` so it
//! never deadlocks upgrading a read lock.

mod admin;
mod refresh;
mod rows;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use portcullis_core::client::Client;
use portcullis_core::client_grant::ClientGrant;
use portcullis_core::code::AuthorizationCode;
use portcullis_core::log::LogEvent;
use portcullis_core::refresh::RefreshFamily;
use portcullis_core::resource_server::ResourceServer;
use portcullis_core::scope::Scope;
use portcullis_core::secret::TokenHash;
use portcullis_core::session::{LoginTransaction, Session};
use portcullis_core::user::User;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Row, SqliteConnection, SqlitePool};
use time::OffsetDateTime;

use crate::records::{ImportOutcome, SigningKeyRecord, TenantImport, UserView};
use crate::{
    RefreshExchange, RefreshOutcome, RevokeOutcome, Store, StoreError, StoreResult, TakenCode,
};
use rows::{
    client_from_row, code_from_row, find_one, grant_from_row, json, resource_server_from_row,
    session_from_row, ts, user_from_row,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQLite-backed [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
            what: db.message().to_owned(),
        },
        _ => unavailable(e),
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path` or
    /// `sqlite::memory:`).
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(map_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool = SqlitePoolOptions::new()
            // An in-memory database lives as long as its one connection.
            .max_connections(if in_memory { 1 } else { 8 })
            .min_connections(if in_memory { 1 } else { 0 })
            .idle_timeout(if in_memory {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(if in_memory {
                None
            } else {
                Some(Duration::from_secs(3600))
            })
            .connect_with(options)
            .await
            .map_err(map_err)?;
        Ok(Self { pool })
    }

    async fn immediate(&self) -> StoreResult<sqlx::pool::PoolConnection<sqlx::Sqlite>> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        sqlx::query("begin immediate")
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        Ok(conn)
    }
}

/// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`, rolling back on error.
async fn in_transaction<T, F>(conn: &mut SqliteConnection, body: F) -> StoreResult<T>
where
    F: AsyncFnOnce(&mut SqliteConnection) -> StoreResult<T>,
{
    match body(&mut *conn).await {
        Ok(value) => {
            sqlx::query("commit")
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
            Ok(value)
        }
        Err(e) => {
            // The rollback's own failure would hide the original error; the connection
            // is closed below if the rollback fails, so nothing stays half-applied.
            if sqlx::query("rollback").execute(&mut *conn).await.is_err() {
                let _ = conn.ping().await;
            }
            Err(e)
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await.map_err(unavailable)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn is_empty(&self) -> StoreResult<bool> {
        let row = sqlx::query(
            "select (select count(*) from clients) + (select count(*) from resource_servers) + (select count(*) from users)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(row.get::<i64, _>(0) == 0)
    }

    async fn import_tenant(
        &self,
        import: &TenantImport,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<ImportOutcome>> {
        let mut conn = self.immediate().await?;
        in_transaction(&mut conn, async |c| rows::import(c, import, now).await).await
    }

    async fn add_client_callback(
        &self,
        client_id: &str,
        uri: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut conn = self.immediate().await?;
        in_transaction(&mut conn, async |c| {
            let row = sqlx::query("select callbacks from clients where client_id = ?")
                .bind(client_id)
                .fetch_optional(&mut *c)
                .await
                .map_err(map_err)?
                .ok_or(StoreError::NotFound)?;
            let mut callbacks: Vec<String> =
                serde_json::from_str(row.get::<&str, _>(0)).map_err(unavailable)?;
            if !callbacks.iter().any(|c| c == uri) {
                callbacks.push(uri.to_owned());
                sqlx::query("update clients set callbacks = ?, updated_at = ? where client_id = ?")
                    .bind(json(&callbacks)?)
                    .bind(ts(now))
                    .bind(client_id)
                    .execute(&mut *c)
                    .await
                    .map_err(map_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn find_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        find_one(
            &self.pool,
            "select * from clients where client_id = ?",
            client_id,
            client_from_row,
        )
        .await
    }

    async fn find_resource_server(&self, identifier: &str) -> StoreResult<Option<ResourceServer>> {
        find_one(
            &self.pool,
            "select * from resource_servers where identifier = ?",
            identifier,
            resource_server_from_row,
        )
        .await
    }

    async fn find_client_grant(
        &self,
        client_id: &str,
        audience: &str,
    ) -> StoreResult<Option<ClientGrant>> {
        let row = sqlx::query("select * from client_grants where client_id = ? and audience = ?")
            .bind(client_id)
            .bind(audience)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(grant_from_row).transpose()
    }

    async fn find_user(&self, id: &str) -> StoreResult<Option<User>> {
        find_one(
            &self.pool,
            "select * from users where id = ?",
            id,
            user_from_row,
        )
        .await
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        find_one(
            &self.pool,
            "select * from users where email = ?",
            &User::normalize_email(email),
            user_from_row,
        )
        .await
    }

    async fn record_login(&self, user_id: &str, now: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("update users set logins_count = logins_count + 1, last_login = ? where id = ?")
            .bind(ts(now))
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn find_grant(
        &self,
        user_id: &str,
        client_id: &str,
        audience: Option<&str>,
    ) -> StoreResult<Option<Scope>> {
        let row = sqlx::query(
            "select scope from grants where user_id = ? and client_id = ? and audience = ?",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(audience.unwrap_or_default())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(|r| Scope::parse(r.get::<&str, _>(0)).map_err(unavailable))
            .transpose()
    }

    async fn save_grant(
        &self,
        user_id: &str,
        client_id: &str,
        audience: Option<&str>,
        scope: &Scope,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut conn = self.immediate().await?;
        in_transaction(&mut conn, async |c| {
            let existing = sqlx::query("select scope from grants where user_id = ? and client_id = ? and audience = ?")
                .bind(user_id)
                .bind(client_id)
                .bind(audience.unwrap_or_default())
                .fetch_optional(&mut *c)
                .await
                .map_err(map_err)?;
            let mut merged = match existing {
                Some(r) => Scope::parse(r.get::<&str, _>(0)).map_err(unavailable)?,
                None => Scope::default(),
            };
            for s in scope.iter() {
                merged.insert(s);
            }
            sqlx::query(
                "insert into grants (user_id, client_id, audience, scope, created_at, updated_at) values (?, ?, ?, ?, ?, ?)
                 on conflict (user_id, client_id, audience) do update set scope = excluded.scope, updated_at = excluded.updated_at",
            )
            .bind(user_id)
            .bind(client_id)
            .bind(audience.unwrap_or_default())
            .bind(merged.to_string())
            .bind(ts(now))
            .bind(ts(now))
            .execute(&mut *c)
            .await
            .map(|_| ())
            .map_err(map_err)
        })
        .await
    }

    async fn insert_session(&self, session: &Session, token_hash: &TokenHash) -> StoreResult<()> {
        sqlx::query(
            "insert into sessions (id, token_hash, user_id, auth_time, last_seen_at, expires_at, created_at, initial_ip, user_agent)
             values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&session.id)
        .bind(token_hash.as_str())
        .bind(&session.user_id)
        .bind(ts(session.auth_time))
        .bind(ts(session.last_seen_at))
        .bind(ts(session.expires_at))
        .bind(ts(session.auth_time))
        .bind(&session.initial_ip)
        .bind(&session.user_agent)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(map_err)
    }

    async fn find_session(&self, token_hash: &TokenHash) -> StoreResult<Option<Session>> {
        find_one(
            &self.pool,
            "select * from sessions where token_hash = ?",
            token_hash.as_str(),
            session_from_row,
        )
        .await
    }

    async fn record_session_client(
        &self,
        session_id: &str,
        client_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        sqlx::query("insert into session_clients (session_id, client_id, first_used_at) values (?, ?, ?) on conflict do nothing")
            .bind(session_id)
            .bind(client_id)
            .bind(ts(now))
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn session_clients(&self, session_id: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "select client_id from session_clients where session_id = ? order by first_used_at",
        )
        .bind(session_id)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn delete_session(&self, id: &str) -> StoreResult<()> {
        sqlx::query("delete from sessions where id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn touch_session(&self, id: &str, now: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("update sessions set last_seen_at = ? where id = ? and last_seen_at < ?")
            .bind(ts(now))
            .bind(id)
            .bind(ts(now))
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn insert_login_transaction(
        &self,
        handle: &TokenHash,
        tx: &LoginTransaction,
    ) -> StoreResult<()> {
        sqlx::query(
            "insert into login_transactions (handle_hash, data, expires_at) values (?, ?, ?)",
        )
        .bind(handle.as_str())
        .bind(json(tx)?)
        .bind(ts(tx.expires_at))
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(map_err)
    }

    async fn find_login_transaction(
        &self,
        handle: &TokenHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<LoginTransaction>> {
        let row = sqlx::query(
            "select data from login_transactions where handle_hash = ? and expires_at > ?",
        )
        .bind(handle.as_str())
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(|r| serde_json::from_str(r.get::<&str, _>(0)).map_err(unavailable))
            .transpose()
    }

    async fn update_login_transaction(
        &self,
        handle: &TokenHash,
        tx: &LoginTransaction,
    ) -> StoreResult<()> {
        let done = sqlx::query("update login_transactions set data = ? where handle_hash = ?")
            .bind(json(tx)?)
            .bind(handle.as_str())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_login_transaction(&self, handle: &TokenHash) -> StoreResult<()> {
        sqlx::query("delete from login_transactions where handle_hash = ?")
            .bind(handle.as_str())
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn insert_code(
        &self,
        code_hash: &TokenHash,
        code: &AuthorizationCode,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        sqlx::query(
            "insert into authorization_codes (code_hash, client_id, user_id, redirect_uri, redirect_uri_sent, scope, audience,
               nonce, code_challenge, session_id, auth_time, expires_at, created_at)
             values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(code_hash.as_str())
        .bind(&code.client_id)
        .bind(&code.user_id)
        .bind(code.redirect_uri.as_str())
        .bind(code.redirect_uri_sent)
        .bind(code.scope.to_string())
        .bind(&code.audience)
        .bind(&code.nonce)
        .bind(code.code_challenge.as_ref().map(|c| c.as_str()))
        .bind(&code.session_id)
        .bind(ts(code.auth_time))
        .bind(ts(code.expires_at))
        .bind(ts(now))
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(map_err)
    }

    async fn take_code(
        &self,
        code_hash: &TokenHash,
        now: OffsetDateTime,
        access_token_jti: &str,
        access_token_expires_at: OffsetDateTime,
        refresh_family_id: &str,
    ) -> StoreResult<TakenCode> {
        // One statement checks and marks: two redemptions can never both see it unused.
        let taken = sqlx::query(
            "update authorization_codes set used_at = ?, access_token_jti = ?, access_token_expires_at = ?, refresh_family_id = ?
             where code_hash = ? and used_at is null returning *",
        )
        .bind(ts(now))
        .bind(access_token_jti)
        .bind(ts(access_token_expires_at))
        .bind(refresh_family_id)
        .bind(code_hash.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        if let Some(row) = taken {
            return code_from_row(&row).map(TakenCode::Taken);
        }
        let used = sqlx::query("select access_token_jti, access_token_expires_at, refresh_family_id from authorization_codes where code_hash = ?")
            .bind(code_hash.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(match used {
            Some(row) => TakenCode::Replayed {
                access_token_jti: row.get(0),
                access_token_expires_at: row
                    .get::<Option<i64>, _>(1)
                    .map(rows::from_ts)
                    .transpose()?,
                refresh_family_id: row.get(2),
            },
            None => TakenCode::Unknown,
        })
    }

    async fn create_refresh_family(
        &self,
        family: &RefreshFamily,
        token_hash: &TokenHash,
        access_token: (&str, OffsetDateTime),
    ) -> StoreResult<()> {
        let mut conn = self.immediate().await?;
        in_transaction(&mut conn, async |c| {
            refresh::create(c, family, token_hash, access_token).await
        })
        .await
    }

    async fn find_refresh_family(
        &self,
        token_hash: &TokenHash,
    ) -> StoreResult<Option<RefreshFamily>> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        refresh::find_family(&mut conn, token_hash).await
    }

    async fn exchange_refresh_token(
        &self,
        exchange: &RefreshExchange<'_>,
    ) -> StoreResult<RefreshOutcome> {
        let mut conn = self.immediate().await?;
        in_transaction(&mut conn, async |c| refresh::exchange(c, exchange).await).await
    }

    async fn revoke_refresh_token(
        &self,
        token_hash: &TokenHash,
        client_id: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> StoreResult<RevokeOutcome> {
        let mut conn = self.immediate().await?;
        in_transaction(&mut conn, async |c| {
            refresh::revoke_token(c, token_hash, client_id, reason, now).await
        })
        .await
    }

    async fn revoke_refresh_family(
        &self,
        family_id: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut conn = self.immediate().await?;
        in_transaction(&mut conn, async |c| {
            refresh::revoke_family(c, family_id, reason, now).await
        })
        .await
    }

    async fn revoke_session_families(
        &self,
        session_id: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> StoreResult<u64> {
        let mut conn = self.immediate().await?;
        in_transaction(&mut conn, async |c| {
            refresh::revoke_session(c, session_id, reason, now).await
        })
        .await
    }

    async fn use_assertion_jti(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = sqlx::query("insert into client_assertion_jtis (client_id, jti, expires_at) values (?, ?, ?) on conflict do nothing")
            .bind(client_id)
            .bind(jti)
            .bind(ts(expires_at))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_access_token(&self, jti: &str, expires_at: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("insert into revoked_access_tokens (jti, expires_at) values (?, ?) on conflict (jti) do nothing")
            .bind(jti)
            .bind(ts(expires_at))
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn is_access_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        let row = sqlx::query("select 1 from revoked_access_tokens where jti = ?")
            .bind(jti)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(row.is_some())
    }

    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let rows =
            sqlx::query("select * from signing_keys where state <> 'retired' order by created_at")
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
        rows.iter().map(rows::signing_key_from_row).collect()
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        sqlx::query("insert into signing_keys (kid, alg, private_key_enc, public_jwk, state, created_at) values (?, ?, ?, ?, ?, ?)")
            .bind(&key.kid)
            .bind(&key.alg)
            .bind(&key.private_key_enc)
            .bind(&key.public_jwk)
            .bind(key.state.as_str())
            .bind(ts(key.created_at))
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn rotate_signing_keys(
        &self,
        new_next: &SigningKeyRecord,
        now: OffsetDateTime,
        retire_before: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut conn = self.immediate().await?;
        in_transaction(&mut conn, async |c| {
            for sql in [
                "update signing_keys set state = 'retired' where state = 'previous' and rotated_at < ?",
                "update signing_keys set state = 'previous', rotated_at = ? where state = 'current'",
            ] {
                let t = if sql.contains("retired") { retire_before } else { now };
                sqlx::query(sql).bind(ts(t)).execute(&mut *c).await.map_err(map_err)?;
            }
            sqlx::query("update signing_keys set state = 'current' where state = 'next'").execute(&mut *c).await.map_err(map_err)?;
            sqlx::query("insert into signing_keys (kid, alg, private_key_enc, public_jwk, state, created_at) values (?, ?, ?, ?, 'next', ?)")
                .bind(&new_next.kid)
                .bind(&new_next.alg)
                .bind(&new_next.private_key_enc)
                .bind(&new_next.public_jwk)
                .bind(ts(new_next.created_at))
                .execute(&mut *c)
                .await
                .map(|_| ())
                .map_err(map_err)
        })
        .await
    }

    async fn node_secret(
        &self,
        name: &str,
        value_if_absent: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<u8>> {
        sqlx::query("insert into node_secrets (name, value_enc, created_at) values (?, ?, ?) on conflict (name) do nothing")
            .bind(name)
            .bind(value_if_absent)
            .bind(ts(now))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        let row = sqlx::query("select value_enc from node_secrets where name = ?")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(row.get(0))
    }

    async fn find_node_secret(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        let row = sqlx::query("select value_enc from node_secrets where name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn list_clients(&self, offset: i64, limit: i64) -> StoreResult<(Vec<Client>, i64)> {
        admin::list_clients(&self.pool, offset, limit).await
    }

    async fn save_client(&self, client: &Client, now: OffsetDateTime) -> StoreResult<()> {
        admin::save_client(&self.pool, client, now).await
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<()> {
        admin::delete_client(&self.pool, client_id).await
    }

    async fn list_resource_servers(
        &self,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<(String, ResourceServer)>, i64)> {
        admin::list_resource_servers(&self.pool, offset, limit).await
    }

    async fn find_resource_server_by_id(
        &self,
        id_or_identifier: &str,
    ) -> StoreResult<Option<(String, ResourceServer)>> {
        admin::find_resource_server_by_id(&self.pool, id_or_identifier).await
    }

    async fn save_resource_server(
        &self,
        id: &str,
        api: &ResourceServer,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        admin::save_resource_server(&self.pool, id, api, now).await
    }

    async fn delete_resource_server(&self, id: &str) -> StoreResult<()> {
        admin::delete_resource_server(&self.pool, id).await
    }

    async fn list_client_grants(
        &self,
        client_id: Option<&str>,
        audience: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<ClientGrant>, i64)> {
        admin::list_client_grants(&self.pool, client_id, audience, offset, limit).await
    }

    async fn find_client_grant_by_id(&self, id: &str) -> StoreResult<Option<ClientGrant>> {
        admin::find_client_grant_by_id(&self.pool, id).await
    }

    async fn save_client_grant(&self, grant: &ClientGrant, now: OffsetDateTime) -> StoreResult<()> {
        admin::save_client_grant(&self.pool, grant, now).await
    }

    async fn delete_client_grant(&self, id: &str) -> StoreResult<()> {
        admin::delete_client_grant(&self.pool, id).await
    }

    async fn list_users(
        &self,
        email: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<UserView>, i64)> {
        admin::list_users(&self.pool, email, offset, limit).await
    }

    async fn find_user_view(&self, id: &str) -> StoreResult<Option<UserView>> {
        admin::find_user_view(&self.pool, id).await
    }

    async fn save_user(&self, user: &User, now: OffsetDateTime) -> StoreResult<()> {
        admin::save_user(&self.pool, user, now).await
    }

    async fn delete_user(&self, id: &str) -> StoreResult<()> {
        admin::delete_user(&self.pool, id).await
    }

    async fn list_user_refresh_families(
        &self,
        user_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<(RefreshFamily, Option<OffsetDateTime>)>> {
        admin::list_user_refresh_families(&self.pool, user_id, now).await
    }

    async fn find_refresh_family_by_id(&self, id: &str) -> StoreResult<Option<RefreshFamily>> {
        admin::find_refresh_family_by_id(&self.pool, id).await
    }

    async fn list_user_sessions(
        &self,
        user_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Session>> {
        admin::list_user_sessions(&self.pool, user_id, now).await
    }

    async fn find_session_by_id(&self, id: &str) -> StoreResult<Option<Session>> {
        admin::find_session_by_id(&self.pool, id).await
    }

    async fn list_logs(
        &self,
        log_type: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<LogEvent>, i64)> {
        admin::list_logs(&self.pool, log_type, offset, limit).await
    }

    async fn login_counter(
        &self,
        key: &str,
    ) -> StoreResult<Option<portcullis_core::throttle::Counter>> {
        let row = sqlx::query("select count, window_start from login_counters where key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| {
            Ok(portcullis_core::throttle::Counter {
                failures: r.get(0),
                window_start: rows::from_ts(r.get(1))?,
            })
        })
        .transpose()
    }

    async fn bump_login_counter(
        &self,
        key: &str,
        now: OffsetDateTime,
        window: time::Duration,
    ) -> StoreResult<portcullis_core::throttle::Counter> {
        let row = sqlx::query(
            "insert into login_counters (key, count, window_start) values (?1, 1, ?2)
             on conflict (key) do update set
               count = case when window_start <= ?2 - ?3 then 1 else count + 1 end,
               window_start = case when window_start <= ?2 - ?3 then ?2 else window_start end
             returning count, window_start",
        )
        .bind(key)
        .bind(ts(now))
        .bind(window.whole_seconds())
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(portcullis_core::throttle::Counter {
            failures: row.get(0),
            window_start: rows::from_ts(row.get(1))?,
        })
    }

    async fn clear_login_counter(&self, key: &str) -> StoreResult<()> {
        sqlx::query("delete from login_counters where key = ?")
            .bind(key)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn insert_logs(&self, events: &[LogEvent]) -> StoreResult<()> {
        let mut conn = self.immediate().await?;
        in_transaction(&mut conn, async |c| {
            for e in events {
                sqlx::query("insert into logs (id, date, type, description, client_id, user_id, ip) values (?, ?, ?, ?, ?, ?, ?)")
                    .bind(&e.id)
                    .bind(ts(e.date))
                    .bind(e.log_type.code())
                    .bind(&e.description)
                    .bind(&e.client_id)
                    .bind(&e.user_id)
                    .bind(&e.ip)
                    .execute(&mut *c)
                    .await
                    .map_err(map_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn recent_logs(&self, limit: i64) -> StoreResult<Vec<LogEvent>> {
        let rows = sqlx::query("select * from logs order by date desc, rowid desc limit ?")
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(rows::log_from_row).collect()
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let mut total = 0;
        for sql in [
            "delete from login_transactions where expires_at <= ?",
            // used codes are kept until well past expiry so a late replay is still recognised
            "delete from authorization_codes where expires_at <= ? - 86400",
            "delete from revoked_access_tokens where expires_at <= ?",
            "delete from sessions where expires_at <= ?",
            // a revoked family is kept a day for the record, an expired one not at all;
            // its tokens and access-token records go with it (on delete cascade)
            "delete from refresh_families where revoked_at <= ? - 86400 or expires_at <= ?",
            "delete from family_access_tokens where expires_at <= ?",
            "delete from client_assertion_jtis where expires_at <= ?",
            "delete from login_counters where window_start <= ? - 86400",
            // tenant logs are kept 30 days
            "delete from logs where date <= ? - 2592000",
        ] {
            let mut query = sqlx::query(sql);
            for _ in 0..sql.matches('?').count() {
                query = query.bind(ts(now));
            }
            total += query
                .execute(&self.pool)
                .await
                .map_err(map_err)?
                .rows_affected();
        }
        Ok(total)
    }
}
