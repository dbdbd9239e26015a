//! The `Store` implementation, written once in SQL that SQLite and PostgreSQL both speak
//! (`$n` placeholders, `on conflict`, `returning`). This file is compiled once inside each
//! backend module (`sqlite`, `postgres`), which supplies the types (`Db`, `Conn`, `DbRow`),
//! `begin` (a write transaction), `lock` (serialising writers of one key) and the
//! migrations. Row ↔ domain mapping is in `rows`, the Management API's queries in `admin`,
//! refresh-token families in `refresh`. The hot paths' statements are in `sql`, and each
//! backend runs them in its `hot` module.

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
use sqlx::Row;
use time::OffsetDateTime;

use super::{Conn, MIGRATOR, This, admin, lock, refresh, rows};
use crate::records::{ImportOutcome, SigningKeyRecord, TenantImport, UserView};
use crate::{
    FoundFamily, PoolStatus, RefreshExchange, RefreshOutcome, RevokeOutcome, Store, StoreError,
    StoreResult, TakenCode, TokenUser, map_err, unavailable,
};
use rows::{
    client_from_row, find_one, grant_from_row, json, resource_server_from_row, ts, user_from_row,
};

/// Rows per `insert into logs` statement: 7 parameters each, far below every backend's
/// limit on parameters (SQLite's is 32766, PostgreSQL's 65535).
const LOG_ROWS_PER_STATEMENT: usize = 128;

/// Inserts `events` (at most [`LOG_ROWS_PER_STATEMENT`]) in one statement.
async fn insert_log_rows<'c, E>(executor: E, events: &[LogEvent]) -> StoreResult<()>
where
    E: sqlx::Executor<'c, Database = super::Db>,
{
    let mut insert = sqlx::QueryBuilder::<super::Db>::new(
        "insert into logs (id, date, type, description, client_id, user_id, ip) ",
    );
    insert.push_values(events, |mut row, e| {
        row.push_bind(&e.id)
            .push_bind(ts(e.date))
            .push_bind(e.log_type.code())
            .push_bind(&e.description)
            .push_bind(&e.client_id)
            .push_bind(&e.user_id)
            .push_bind(&e.ip);
    });
    // Not kept prepared: each batch size is its own statement, and a connection would
    // otherwise keep up to 128 of them (the memory shows it).
    insert
        .build()
        .persistent(false)
        .execute(executor)
        .await
        .map(|_| ())
        .map_err(map_err)
}

/// Runs `body` inside the backend's write transaction (`super::begin`), committing on
/// success and rolling back on error.
async fn in_transaction<T, F>(this: &This, body: F) -> StoreResult<T>
where
    F: AsyncFnOnce(&mut Conn) -> StoreResult<T>,
{
    let mut tx = super::begin(this).await?;
    let outcome = body(&mut *tx).await;
    let end = if outcome.is_ok() {
        "commit"
    } else {
        "rollback"
    };
    // A failed commit or rollback leaves the transaction unfinished: `TxConn` then rolls
    // it back when dropped. The rollback's own failure would hide the original error, so
    // it is not reported.
    match sqlx::query(end).execute(&mut *tx).await {
        Ok(_) => tx.finished(),
        Err(e) if outcome.is_ok() => return Err(map_err(e)),
        Err(_) => {}
    }
    outcome
}

#[async_trait]
impl Store for This {
    async fn migrate(&self) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        // `run_direct`, not `run`: `run`'s `Acquire` bound is "not general enough" inside
        // `async_trait`'s boxed future (sqlx says so where it defines `run_direct`).
        MIGRATOR
            .run_direct(None, &mut *conn, false)
            .await
            .map_err(unavailable)
    }

    async fn ping(&self) -> StoreResult<()> {
        let applied: Vec<i64> = sqlx::query("select version from _sqlx_migrations where success")
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        match MIGRATOR.iter().find(|m| !applied.contains(&m.version)) {
            None => Ok(()),
            Some(m) => Err(StoreError::Unavailable(
                format!("migration {} ({}) is not applied", m.version, m.description).into(),
            )),
        }
    }

    fn pool_status(&self) -> PoolStatus {
        PoolStatus {
            open: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: super::max_connections(&self.pool),
        }
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
        in_transaction(self, async |c| {
            // Nodes starting at once with the same tenant file apply it one after another.
            lock(c, "tenant").await?;
            rows::import(c, import, now).await
        })
        .await
    }

    async fn add_client_callback(
        &self,
        client_id: &str,
        uri: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        in_transaction(self, async |c| {
            lock(c, "tenant").await?;
            let row = sqlx::query("select callbacks from clients where client_id = $1")
                .bind(client_id)
                .fetch_optional(&mut *c)
                .await
                .map_err(map_err)?
                .ok_or(StoreError::NotFound)?;
            let mut callbacks: Vec<String> =
                serde_json::from_str(row.get::<&str, _>(0)).map_err(unavailable)?;
            if !callbacks.iter().any(|c| c == uri) {
                callbacks.push(uri.to_owned());
                sqlx::query(
                    "update clients set callbacks = $1, updated_at = $2 where client_id = $3",
                )
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
            "select * from clients where client_id = $1",
            client_id,
            client_from_row,
        )
        .await
    }

    async fn find_resource_server(&self, identifier: &str) -> StoreResult<Option<ResourceServer>> {
        find_one(
            &self.pool,
            "select * from resource_servers where identifier = $1",
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
        let row = sqlx::query("select * from client_grants where client_id = $1 and audience = $2")
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
            "select * from users where id = $1",
            id,
            user_from_row,
        )
        .await
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        find_one(
            &self.pool,
            "select * from users where email = $1",
            &User::normalize_email(email),
            user_from_row,
        )
        .await
    }

    async fn record_login(&self, user_id: &str, now: OffsetDateTime) -> StoreResult<()> {
        sqlx::query(
            "update users set logins_count = logins_count + 1, last_login = $1 where id = $2",
        )
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
            "select scope from grants where user_id = $1 and client_id = $2 and audience = $3",
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
        in_transaction(self, async |c| {
            lock(c, &format!("grant:{user_id}:{client_id}:{}", audience.unwrap_or_default())).await?;
            let existing = sqlx::query("select scope from grants where user_id = $1 and client_id = $2 and audience = $3")
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
                "insert into grants (user_id, client_id, audience, scope, created_at, updated_at) values ($1, $2, $3, $4, $5, $6)
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
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
        super::hot::find_session(self, token_hash).await
    }

    async fn find_session_with_grant(
        &self,
        token_hash: &TokenHash,
        client_id: &str,
        audience: Option<&str>,
    ) -> StoreResult<Option<(Session, Option<Scope>)>> {
        super::hot::find_session_with_grant(self, token_hash, client_id, audience).await
    }

    async fn record_session_client(
        &self,
        session_id: &str,
        client_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        sqlx::query("insert into session_clients (session_id, client_id, first_used_at) values ($1, $2, $3) on conflict do nothing")
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
            "select client_id from session_clients where session_id = $1 order by first_used_at",
        )
        .bind(session_id)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn delete_session(&self, id: &str) -> StoreResult<()> {
        sqlx::query("delete from sessions where id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn touch_session(&self, id: &str, now: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("update sessions set last_seen_at = $1 where id = $2 and last_seen_at < $3")
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
            "insert into login_transactions (handle_hash, data, expires_at) values ($1, $2, $3)",
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
            "select data from login_transactions where handle_hash = $1 and expires_at > $2",
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
        let done = sqlx::query("update login_transactions set data = $1 where handle_hash = $2")
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
        sqlx::query("delete from login_transactions where handle_hash = $1")
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
        super::hot::insert_code(self, code_hash, code, now).await
    }

    async fn take_code(
        &self,
        code_hash: &TokenHash,
        now: OffsetDateTime,
        access_token_jti: &str,
        access_token_expires_at: OffsetDateTime,
        refresh_family_id: &str,
    ) -> StoreResult<TakenCode> {
        let access_token = (access_token_jti, access_token_expires_at);
        super::hot::take_code(self, code_hash, now, access_token, refresh_family_id).await
    }

    async fn create_refresh_family(
        &self,
        family: &RefreshFamily,
        token_hash: &TokenHash,
        access_token: (&str, OffsetDateTime),
    ) -> StoreResult<()> {
        super::hot::create_refresh_family(self, family, token_hash, access_token).await
    }

    async fn find_refresh_family_with_user(
        &self,
        token_hash: &TokenHash,
    ) -> StoreResult<Option<FoundFamily>> {
        super::hot::find_refresh_family_with_user(self, token_hash).await
    }

    async fn exchange_refresh_token(
        &self,
        exchange: &RefreshExchange<'_>,
    ) -> StoreResult<RefreshOutcome> {
        super::hot::exchange_refresh_token(self, exchange).await
    }

    async fn revoke_refresh_token(
        &self,
        token_hash: &TokenHash,
        client_id: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> StoreResult<RevokeOutcome> {
        in_transaction(self, async |c| {
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
        in_transaction(self, async |c| {
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
        in_transaction(self, async |c| {
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
        let done = sqlx::query("insert into client_assertion_jtis (client_id, jti, expires_at) values ($1, $2, $3) on conflict do nothing")
            .bind(client_id)
            .bind(jti)
            .bind(ts(expires_at))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_access_token(&self, jti: &str, expires_at: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("insert into revoked_access_tokens (jti, expires_at) values ($1, $2) on conflict (jti) do nothing")
            .bind(jti)
            .bind(ts(expires_at))
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn is_access_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        let row = sqlx::query("select 1 from revoked_access_tokens where jti = $1")
            .bind(jti)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(row.is_some())
    }

    async fn token_user(&self, user_id: &str, jti: &str) -> StoreResult<TokenUser> {
        super::hot::token_user(self, user_id, jti).await
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
        sqlx::query("insert into signing_keys (kid, alg, private_key_enc, public_jwk, state, created_at) values ($1, $2, $3, $4, $5, $6)")
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
        new_next: &[SigningKeyRecord],
        now: OffsetDateTime,
        retire_before: OffsetDateTime,
    ) -> StoreResult<()> {
        in_transaction(self, async |c| {
            lock(c, "signing keys").await?;
            for sql in [
                "update signing_keys set state = 'retired' where state = 'previous' and rotated_at < $1",
                "update signing_keys set state = 'previous', rotated_at = $1 where state = 'current'",
            ] {
                let t = if sql.contains("retired") { retire_before } else { now };
                sqlx::query(sql).bind(ts(t)).execute(&mut *c).await.map_err(map_err)?;
            }
            sqlx::query("update signing_keys set state = 'current' where state = 'next'").execute(&mut *c).await.map_err(map_err)?;
            for key in new_next {
                sqlx::query("insert into signing_keys (kid, alg, private_key_enc, public_jwk, state, created_at) values ($1, $2, $3, $4, 'next', $5)")
                    .bind(&key.kid)
                    .bind(&key.alg)
                    .bind(&key.private_key_enc)
                    .bind(&key.public_jwk)
                    .bind(ts(key.created_at))
                    .execute(&mut *c)
                    .await
                    .map_err(map_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn node_secret(
        &self,
        name: &str,
        value_if_absent: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<u8>> {
        sqlx::query("insert into node_secrets (name, value_enc, created_at) values ($1, $2, $3) on conflict (name) do nothing")
            .bind(name)
            .bind(value_if_absent)
            .bind(ts(now))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        let row = sqlx::query("select value_enc from node_secrets where name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(row.get(0))
    }

    async fn find_node_secret(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        let row = sqlx::query("select value_enc from node_secrets where name = $1")
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
        in_transaction(self, async |c| admin::delete_user(c, id).await).await
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
        let row = sqlx::query("select count, window_start from login_counters where key = $1")
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
            "insert into login_counters (key, count, window_start) values ($1, 1, $2)
             on conflict (key) do update set
               count = case when login_counters.window_start <= $2 - $3 then 1 else login_counters.count + 1 end,
               window_start = case when login_counters.window_start <= $2 - $3 then $2 else login_counters.window_start end
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
        sqlx::query("delete from login_counters where key = $1")
            .bind(key)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn insert_logs(&self, events: &[LogEvent]) -> StoreResult<()> {
        // One statement per chunk of rows: a statement is atomic on its own, so a batch of
        // one chunk needs no transaction (and its two extra round trips).
        match events {
            [] => Ok(()),
            chunk if chunk.len() <= LOG_ROWS_PER_STATEMENT => {
                insert_log_rows(&self.pool, chunk).await
            }
            _ => {
                in_transaction(self, async |c| {
                    for chunk in events.chunks(LOG_ROWS_PER_STATEMENT) {
                        insert_log_rows(&mut *c, chunk).await?;
                    }
                    Ok(())
                })
                .await
            }
        }
    }

    async fn recent_logs(&self, limit: i64) -> StoreResult<Vec<LogEvent>> {
        let rows = sqlx::query("select * from logs order by date desc, rowid desc limit $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(rows::log_from_row).collect()
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let mut total = 0;
        for sql in [
            "delete from login_transactions where expires_at <= $1",
            // used codes are kept until well past expiry so a late replay is still recognised
            "delete from authorization_codes where expires_at <= $1 - 86400",
            "delete from revoked_access_tokens where expires_at <= $1",
            "delete from sessions where expires_at <= $1",
            // a revoked family is kept a day for the record, an expired one not at all;
            // its tokens and access-token records go with it (on delete cascade)
            "delete from refresh_families where revoked_at <= $1 - 86400 or expires_at <= $1",
            "delete from family_access_tokens where expires_at <= $1",
            "delete from client_assertion_jtis where expires_at <= $1",
            "delete from login_counters where window_start <= $1 - 86400",
            // tenant logs are kept 30 days
            "delete from logs where date <= $1 - 2592000",
        ] {
            total += sqlx::query(sql)
                .bind(ts(now))
                .execute(&self.pool)
                .await
                .map_err(map_err)?
                .rows_affected();
        }
        Ok(total)
    }
}
