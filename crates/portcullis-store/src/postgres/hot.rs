//! PostgreSQL's hot paths: the statements of `sql.rs`, through sqlx's pool.

use portcullis_core::code::AuthorizationCode;
use portcullis_core::refresh::RefreshFamily;
use portcullis_core::scope::Scope;
use portcullis_core::secret::TokenHash;
use portcullis_core::session::Session;
use sqlx::postgres::{PgArguments, PgRow};
use time::OffsetDateTime;

use super::refresh;
use super::rows::session_from_row;
use super::script::Statement;
use super::tx::TxConn;
use super::{Conn, PgStore, begin, lock, lock_token_family, run_script, sql};
use crate::{
    FoundFamily, RefreshExchange, RefreshOutcome, StoreResult, TakenCode, TokenUser, map_err,
};

/// Runs `statement` and returns its row, if any.
async fn fetch_optional<'c, E>(executor: E, statement: &Statement<'_>) -> StoreResult<Option<PgRow>>
where
    E: sqlx::Executor<'c, Database = sqlx::Postgres>,
{
    let mut args = PgArguments::default();
    statement.bind_into(&mut args)?;
    sqlx::query_with(statement.sql, args)
        .fetch_optional(executor)
        .await
        .map_err(map_err)
}

pub(super) async fn find_session(
    this: &PgStore,
    token_hash: &TokenHash,
) -> StoreResult<Option<Session>> {
    let row = fetch_optional(&this.pool, &sql::find_session(token_hash)).await?;
    row.as_ref().map(session_from_row).transpose()
}

pub(super) async fn find_session_with_grant(
    this: &PgStore,
    token_hash: &TokenHash,
    client_id: &str,
    audience: Option<&str>,
) -> StoreResult<Option<(Session, Option<Scope>)>> {
    let find = sql::session_with_grant(token_hash, client_id, audience);
    let row = fetch_optional(&this.pool, &find).await?;
    row.as_ref().map(sql::session_and_grant).transpose()
}

pub(super) async fn insert_code(
    this: &PgStore,
    code_hash: &TokenHash,
    code: &AuthorizationCode,
    now: OffsetDateTime,
) -> StoreResult<()> {
    let mut conn = this.pool.acquire().await.map_err(map_err)?;
    run_script(&mut conn, &[sql::insert_code(code_hash, code, now)]).await
}

pub(super) async fn take_code(
    this: &PgStore,
    code_hash: &TokenHash,
    now: OffsetDateTime,
    access_token: (&str, OffsetDateTime),
    refresh_family_id: &str,
) -> StoreResult<TakenCode> {
    let take = sql::take_code(code_hash, now, access_token, refresh_family_id);
    if let Some(row) = fetch_optional(&this.pool, &take).await? {
        return sql::taken(&row);
    }
    let used = fetch_optional(&this.pool, &sql::code_redemption(code_hash)).await?;
    sql::redeemed(used.as_ref())
}

pub(super) async fn find_refresh_family_with_user(
    this: &PgStore,
    token_hash: &TokenHash,
) -> StoreResult<Option<FoundFamily>> {
    let row = fetch_optional(&this.pool, &sql::family_with_user(token_hash)).await?;
    row.as_ref().map(sql::family_and_user).transpose()
}

/// In one transaction that holds the lock of the user's families of the client and of each
/// family it revokes.
pub(super) async fn create_refresh_family(
    this: &PgStore,
    family: &RefreshFamily,
    token_hash: &TokenHash,
    access_token: (&str, OffsetDateTime),
) -> StoreResult<()> {
    // An error before `finished` leaves the transaction to `TxConn`, which rolls it back.
    let mut tx = begin(this).await?;
    lock(&mut tx, &families_key(family)).await?;
    let excess = refresh::excess(family);
    let mut args = PgArguments::default();
    excess.bind_into(&mut args)?;
    let ids: Vec<String> = sqlx::query_scalar_with(excess.sql, args)
        .fetch_all(&mut *tx as &mut Conn)
        .await
        .map_err(map_err)?;
    for id in &ids {
        lock(&mut tx, &refresh::family_key(id)).await?;
    }
    run_script(
        &mut tx,
        &refresh::creation(family, token_hash, access_token, &ids)?,
    )
    .await?;
    commit(tx).await
}

/// The lock key of a user's families of one client.
fn families_key(family: &RefreshFamily) -> String {
    format!("families:{}:{}", family.user_id, family.client_id)
}

/// Commits `tx`.
async fn commit(mut tx: TxConn<()>) -> StoreResult<()> {
    sqlx::query("commit")
        .execute(&mut *tx as &mut Conn)
        .await
        .map_err(map_err)?;
    tx.finished();
    Ok(())
}

/// In one transaction that holds the family's lock: the presented token's row, the
/// decision, its writes.
pub(super) async fn exchange_refresh_token(
    this: &PgStore,
    exchange: &RefreshExchange<'_>,
) -> StoreResult<RefreshOutcome> {
    // An error before `finished` leaves the transaction to `TxConn`, which rolls it back.
    let mut tx = begin(this).await?;
    lock_token_family(&mut tx, exchange.token_hash).await?;
    let presented = refresh::presented(exchange.token_hash);
    let row = fetch_optional(&mut *tx as &mut Conn, &presented).await?;
    let (outcome, writes) = refresh::decide(row.as_ref(), exchange)?;
    run_script(&mut tx, &writes).await?;
    commit(tx).await?;
    Ok(outcome)
}

pub(super) async fn token_user(this: &PgStore, user_id: &str, jti: &str) -> StoreResult<TokenUser> {
    let row = fetch_optional(&this.pool, &sql::token_user(user_id, jti)).await?;
    match row {
        Some(row) => sql::token_user_from_row(&row),
        None => Err(map_err(sqlx::Error::RowNotFound)),
    }
}
