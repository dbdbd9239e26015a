//! The SQLite store: the embedded default (WAL, one file). Writers serialise on SQLite's
//! lock with a busy timeout; every multi-statement write runs in `BEGIN IMMEDIATE`, so it
//! never deadlocks upgrading a read lock, and it excludes every other writer: `lock` has
//! nothing left to do.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::secret::TokenHash;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

use crate::{StoreResult, map_err};

#[path = "../shared/admin.rs"]
mod admin;
mod pool;
#[path = "../shared/refresh.rs"]
mod refresh;
#[path = "../shared/rows.rs"]
mod rows;
#[path = "../shared/script.rs"]
mod script;
#[path = "../shared/store.rs"]
mod store;
#[path = "../shared/tx.rs"]
mod tx;

type Db = sqlx::Sqlite;
type Conn = sqlx::SqliteConnection;
type DbRow = sqlx::sqlite::SqliteRow;
type This = SqliteStore;
type Pool = pool::Pool;
type PoolConn = pool::PoolConn;

/// The most connections the pool opens at once.
fn max_connections(pool: &Pool) -> u32 {
    pool.max()
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQLite-backed [`Store`](crate::Store).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: Pool,
    /// Write transactions of this process queue here, in order, instead of racing for
    /// SQLite's lock: a loser of that race waits in SQLite's busy handler, which sleeps in
    /// growing steps (up to 100 ms) and makes the slowest requests slow.
    writer: Arc<tokio::sync::Mutex<()>>,
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
        // An in-memory database lives as long as its one connection.
        let pool = if in_memory {
            pool::Pool::connect(options, 1, None).await
        } else {
            pool::Pool::connect(options, 8, Some(Duration::from_secs(600))).await
        }
        .map_err(map_err)?;
        Ok(Self {
            pool,
            writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }
}

/// A connection in a write transaction, holding this process's writer turn until dropped.
type WriteConn = tx::TxConn<tokio::sync::OwnedMutexGuard<()>>;

/// A write transaction: this process's writers take turns, then `BEGIN IMMEDIATE` takes the
/// database's write lock up front (another process on the same file still waits for it in
/// the busy handler).
async fn begin(this: &SqliteStore) -> StoreResult<WriteConn> {
    let turn = this.writer.clone().lock_owned().await;
    let conn = this.pool.acquire().await.map_err(map_err)?;
    let mut conn = WriteConn::new(conn, turn);
    sqlx::query("begin immediate")
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(conn)
}

/// Serialises writers of `key`: already done by `begin`, which excludes all writers.
async fn lock(_conn: &mut Conn, _key: &str) -> StoreResult<()> {
    Ok(())
}

/// Serialises writers of the family of a refresh token: already done by `begin`.
async fn lock_token_family(_conn: &mut Conn, _token_hash: &TokenHash) -> StoreResult<()> {
    Ok(())
}

/// Runs `statements` as one query: one round trip to the connection's thread. Each
/// statement's `$N` is renumbered past the arguments of the statements before it.
async fn run_script(conn: &mut Conn, statements: &[script::Statement<'_>]) -> StoreResult<()> {
    let mut sql = String::new();
    let mut args = sqlx::sqlite::SqliteArguments::default();
    for statement in statements {
        let offset = sqlx::Arguments::len(&args);
        sql.push_str(&renumber(statement.sql, offset));
        sql.push_str(";\n");
        statement.bind_into(&mut args)?;
    }
    sqlx::query_with(&sql, args)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(map_err)
}

/// `sql` with every parameter `$N` made `$(N + offset)`.
fn renumber(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn renumber_shifts_every_parameter() {
        assert_eq!(
            super::renumber("update t set a = $1, b = $12 where c = $2 and d = '$'", 3),
            "update t set a = $4, b = $15 where c = $5 and d = '$'"
        );
        assert_eq!(super::renumber("select 1", 5), "select 1");
    }
}
