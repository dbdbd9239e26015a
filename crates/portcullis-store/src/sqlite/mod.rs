//! The SQLite store: the embedded default (WAL, one file). This process's writes take
//! turns (`pool.rs`); another process's wait for SQLite's lock with a busy timeout. The hot
//! paths run on the calling thread, on connections of their own (`hot.rs`); the rest goes
//! through sqlx, which runs each connection on a thread of its own. Every multi-statement write runs in `BEGIN IMMEDIATE`, so it never deadlocks
//! upgrading a read lock, and it excludes every other writer: `lock` has nothing left to do.
//!
//! Checkpoints run in the background ([`CHECKPOINT_EVERY`]), not after the commit that
//! crossed SQLite's threshold (`wal_autocheckpoint`, off here): that commit's request used
//! to wait for the copy and its fsyncs. And a checkpoint there is passive: under a steady
//! stream of reads, some reader nearly always holds the WAL's read lock when the next
//! writer would start the log afresh, so the WAL grew without end (74 MB in 4 s of logins,
//! for a 3 MB database), and every commit past the threshold ran a checkpoint of its own.
//! The background one waits for the readers of the WAL to finish (`RESTART`), so the next
//! write starts it afresh.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

use crate::{StoreResult, map_err, unavailable};
use pool::Pool;

#[path = "../shared/admin.rs"]
mod admin;
mod hot;
mod pool;
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

type Db = sqlx::Sqlite;
type Conn = sqlx::SqliteConnection;
type DbRow = sqlx::sqlite::SqliteRow;
type This = SqliteStore;
type PoolConn = pool::PoolConn;

/// The most connections the pool opens at once.
fn max_connections(pool: &Pool) -> u32 {
    pool.max()
}

/// How often the WAL is checkpointed. Between two checkpoints it holds what was written
/// since the last one (at a thousand returning-user logins or refreshes a second, 10–20 MB).
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// At most this many passive passes before the checkpoint's step in the writers' turn
/// ([`checkpoint_in_background`]); they stop once a pass finds fewer than [`FEW_FRAMES`] new
/// frames to copy.
const PASSIVE_PASSES: usize = 4;
const FEW_FRAMES: i64 = 256;

/// How long a writer of this process waits for its turn, and for another process's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQLite-backed [`Store`](crate::Store).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: Pool,
    /// The connections of the hot paths (`hot.rs`).
    direct: Arc<hot::Direct>,
    /// The directory of a throw-away database, removed with the last clone of the store.
    _throwaway: Option<Arc<tempfile::TempDir>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path`), or a
    /// throw-away one for `sqlite::memory:`: a file in a new temporary directory, removed
    /// when the store is dropped. (Not SQLite's own in-memory database: that is one
    /// connection's, and the hot paths run on connections of their own.)
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let (options, throwaway) = if in_memory {
            let dir = tempfile::Builder::new()
                .prefix("portcullis-")
                .tempdir()
                .map_err(unavailable)?;
            let options = SqliteConnectOptions::new().filename(dir.path().join("throwaway.db"));
            (options, Some(Arc::new(dir)))
        } else {
            (SqliteConnectOptions::from_str(url).map_err(map_err)?, None)
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .pragma("wal_autocheckpoint", "0");
        let direct = Arc::new(hot::Direct::new(options.get_filename()));
        let idle = Some(Duration::from_secs(600));
        let pool = Pool::connect(options, 8, idle, BUSY_TIMEOUT)
            .await
            .map_err(map_err)?;
        checkpoint_in_background(&pool);
        Ok(Self {
            pool,
            direct,
            _throwaway: throwaway,
        })
    }
}

/// Every [`CHECKPOINT_EVERY`], until the pool is dropped: copies the WAL into the database
/// and waits for the WAL's readers to finish, so the next write starts the WAL afresh.
///
/// In two steps. Passive checkpoints on a readers' connection copy the WAL and sync it
/// while this process's writes go on, each pass what was written during the one before,
/// until a pass finds little to copy; then a restarting one, in the writers' turn, copies
/// what they wrote meanwhile, so this process's writes wait for it in order rather than in
/// SQLite's busy handler. Done all in the turn, writes waited for the whole copy and its
/// fsyncs: 54–68 ms every 500 ms in ES256 refresh at C=32 on machine H, against 7–15 ms
/// for the second step alone. With the passes until little is left, the step in the turn
/// took 2.2–2.5 ms (median) instead of 6.4 on machine K, in RS256 refresh at C=8
/// (docs/performance.md, "The checkpoint's passes (machine K)"). Reads go on throughout.
///
/// The passive step runs a checkpoint while this process commits: the condition of SQLite's
/// WAL-reset bug, which can corrupt the database, in versions 3.7.0 to 3.51.2. The bundled
/// SQLite is 3.51.3 or later (`tests::the_sqlite_in_the_binary_has_the_wal_reset_fix`).
fn checkpoint_in_background(pool: &Pool) {
    let pool = pool.downgrade();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(CHECKPOINT_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            let Some(pool) = pool.upgrade() else {
                return;
            };
            let checkpoint = async {
                // Writes go on meanwhile: each pass copies what the WAL holds and syncs it,
                // the next what was written during the one before.
                let mut reader = pool.acquire().await?;
                let mut copied_before = 0;
                for _ in 0..PASSIVE_PASSES {
                    let (_, frames, copied): (i64, i64, i64) =
                        sqlx::query_as("pragma wal_checkpoint(PASSIVE)")
                            .fetch_one(&mut *reader)
                            .await?;
                    if frames - copied_before < FEW_FRAMES {
                        break;
                    }
                    copied_before = copied;
                }
                drop(reader);
                // In the writers' turn: what was written since, and the WAL starts afresh.
                let mut writer = pool.acquire_writer().await?;
                sqlx::query("pragma wal_checkpoint(RESTART)")
                    .execute(&mut *writer)
                    .await
            };
            if let Err(e) = checkpoint.await {
                tracing::warn!(error = %e, "SQLite checkpoint failed; the WAL grows until one succeeds");
            }
        }
    });
}

/// A connection in a write transaction, holding this process's writer turn until dropped.
type WriteConn = tx::TxConn<()>;

/// A write transaction: on the writers' connection, in this process's turn, then `BEGIN
/// IMMEDIATE` takes the database's write lock up front (another process on the same file
/// still waits for it in the busy handler).
async fn begin(this: &SqliteStore) -> StoreResult<WriteConn> {
    let conn = this.pool.acquire_writer().await.map_err(map_err)?;
    let mut conn = WriteConn::new(conn, ());
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

/// Runs `statements` as one query: one round trip to the connection's thread.
async fn run_script(conn: &mut Conn, statements: &[script::Statement<'_>]) -> StoreResult<()> {
    let (sql, args) = script_sql(statements)?;
    // Built only of the statements' own `&'static str` text, renumbered: no value is in it.
    sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(map_err)
}

/// `statements` as one query and its arguments: each statement's `$N` renumbered past the
/// arguments of the statements before it.
fn script_sql(
    statements: &[script::Statement<'_>],
) -> StoreResult<(String, sqlx::sqlite::SqliteArguments)> {
    let mut sql = String::new();
    let mut args = sqlx::sqlite::SqliteArguments::default();
    for statement in statements {
        let offset = sqlx::Arguments::len(&args);
        sql.push_str(&renumber(statement.sql, offset));
        sql.push_str(";\n");
        statement.bind_into(&mut args)?;
    }
    Ok((sql, args))
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
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// The frames in the WAL of the database at `path`, as its wal-index (the `-shm` file)
    /// says: `mxFrame`, a 32-bit integer in the machine's byte order at offset 16
    /// (sqlite.org/walformat.html). Read without a connection, which would change it.
    fn wal_frames(path: &std::path::Path) -> u32 {
        let shm = std::fs::read(path.with_extension("db-shm")).unwrap();
        u32::from_ne_bytes(shm[16..20].try_into().unwrap())
    }

    /// SQLite fixed its WAL-reset bug, which can corrupt a database when a checkpoint runs
    /// while another connection commits (sqlite.org/wal.html#walresetbug), in 3.51.3. The
    /// background checkpoint's first step runs beside this process's commits, and another
    /// process (a `portcullis` command) may write the same file at any time.
    #[tokio::test]
    async fn the_sqlite_in_the_binary_has_the_wal_reset_fix() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let version: String = sqlx::query_scalar("select sqlite_version()")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        let parts: Vec<u32> = version.split('.').map(|p| p.parse().unwrap()).collect();
        assert!(
            parts >= vec![3, 51, 3],
            "SQLite {version} has the WAL-reset bug"
        );
        assert_eq!(
            rusqlite::version(),
            version,
            "sqlx and rusqlite share one SQLite"
        );
    }

    #[tokio::test]
    async fn the_wal_is_checkpointed_in_the_background_and_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let url = format!("sqlite://{}", path.display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let pool = &store.pool;
        sqlx::query("create table t (b blob)")
            .execute(pool)
            .await
            .unwrap();
        for _ in 0..600 {
            sqlx::query("insert into t (b) values (randomblob(3000))")
                .execute(pool)
                .await
                .unwrap();
        }
        assert!(wal_frames(&path) > 600, "no checkpoint on commit");
        tokio::time::sleep(CHECKPOINT_EVERY * 3).await;
        sqlx::query("insert into t (b) values (1)")
            .execute(pool)
            .await
            .unwrap();
        let frames = wal_frames(&path);
        assert!(frames < 10, "the WAL did not start afresh: {frames} frames");
    }

    #[test]
    fn renumber_shifts_every_parameter() {
        assert_eq!(
            super::renumber("update t set a = $1, b = $12 where c = $2 and d = '$'", 3),
            "update t set a = $4, b = $15 where c = $5 and d = '$'"
        );
        assert_eq!(super::renumber("select 1", 5), "select 1");
    }
}
