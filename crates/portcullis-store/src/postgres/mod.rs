//! The PostgreSQL store: for several nodes over one database. The SQL is the SQLite
//! store's (`src/shared/`); what differs is here. Write transactions run at READ
//! COMMITTED and serialise per key on transaction-scoped advisory locks (`lock`), taken
//! before anything is read, so every statement after the lock sees what the previous
//! holder committed. Single-statement writes (taking a code, a `jti`, a counter) need no
//! lock: one statement decides.

use std::str::FromStr;
use std::time::Duration;

use portcullis_core::secret::TokenHash;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::{StoreResult, map_err};

#[path = "../shared/admin.rs"]
mod admin;
mod hot;
#[path = "../shared/refresh.rs"]
mod refresh;
#[path = "../shared/rows.rs"]
mod rows;
#[path = "../shared/script.rs"]
mod script;
#[path = "../shared/sql.rs"]
mod sql;
#[path = "../shared/store.rs"]
mod store;
#[path = "../shared/tx.rs"]
mod tx;

type Db = sqlx::Postgres;
type Conn = sqlx::PgConnection;
type DbRow = sqlx::postgres::PgRow;
type This = PgStore;
type Pool = sqlx::Pool<Db>;
type PoolConn = sqlx::pool::PoolConnection<Db>;

/// The most connections the pool opens at once.
fn max_connections(pool: &Pool) -> u32 {
    pool.options().get_max_connections()
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// PostgreSQL-backed [`Store`](crate::Store).
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: Pool,
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`; libpq's
    /// parameters such as `sslmode` and `options=-c search_path=…` apply) with a pool of at
    /// most `max_connections`.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url).map_err(map_err)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(10))
            .idle_timeout(Some(Duration::from_secs(600)))
            .max_lifetime(Some(Duration::from_secs(1800)))
            .connect_with(options)
            .await
            .map_err(map_err)?;
        Ok(Self { pool })
    }
}

/// A write transaction (READ COMMITTED; `lock` serialises what must be).
async fn begin(this: &PgStore) -> StoreResult<tx::TxConn<()>> {
    let conn = this.pool.acquire().await.map_err(map_err)?;
    let mut conn = tx::TxConn::new(conn, ());
    sqlx::query("begin")
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(conn)
}

/// Serialises the transactions that lock `key`, on every node, until commit or rollback.
async fn lock(conn: &mut Conn, key: &str) -> StoreResult<()> {
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(key)
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(map_err)
}

/// Locks the family of a refresh token (the key `refresh::family_key` names), if the
/// token exists.
async fn lock_token_family(conn: &mut Conn, token_hash: &TokenHash) -> StoreResult<()> {
    sqlx::query(
        "select pg_advisory_xact_lock(hashtextextended('family:' || family_id, 0))
         from refresh_tokens where token_hash = $1",
    )
    .bind(token_hash.as_str())
    .execute(&mut *conn)
    .await
    .map(|_| ())
    .map_err(map_err)
}

/// Runs `statements` one by one: the extended protocol takes one statement per message.
async fn run_script(conn: &mut Conn, statements: &[script::Statement<'_>]) -> StoreResult<()> {
    for statement in statements {
        let mut args = sqlx::postgres::PgArguments::default();
        statement.bind_into(&mut args)?;
        sqlx::query_with(statement.sql, args)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    Ok(())
}
