//! SQLite's connection pool. sqlx's own pool checks every connection given back with a
//! ping; on SQLite that ping is one more round trip to the connection's thread, so every
//! single-statement query cost two round trips and a spawned task (docs/performance.md,
//! "Where the time went"). A SQLite connection is a handle on a file: nothing can break it
//! between uses, and a query dropped midway is finished or reset by its thread before the
//! next command on the same connection runs. This pool hands connections out and takes
//! them back without that check.
//!
//! - At most `max` connections, handed out first come, first served (a fair semaphore).
//! - The most recently used idle connection is handed out first; a connection idle longer
//!   than `idle_timeout` is closed when the pool is next used (SQLite keeps a page cache
//!   per connection).
//! - This process's writes take turns, in order, on one connection of their own
//!   ([`Pool::acquire_writer`]): a statement other than a `select` run on the pool, and
//!   every write transaction. Racing for SQLite's write lock instead, the loser waits in
//!   SQLite's busy handler, which sleeps in growing steps (up to 100 ms) and leaves the core
//!   idle; and in WAL mode a connection empties its page cache whenever another one has
//!   written, so a writer that is always the same keeps its cache. The readers' connections
//!   are the other `max`. The hot paths write on a connection of their own (`hot.rs`), in
//!   the same turn ([`Pool::hot_turn`]), where they share one open transaction
//!   (`hot.rs`); whoever else takes the turn commits that transaction first.
//! - Write transactions are `TxConn`'s business (`src/shared/tx.rs`), as on PostgreSQL.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteQueryResult, SqliteRow, SqliteStatement,
};
use sqlx::{ConnectOptions, Describe, Either, Execute, Executor, SqlStr, Sqlite, SqliteConnection};
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

use super::hot::HotWriter;

/// A pool of SQLite connections. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Pool(Arc<Inner>);

struct Inner {
    options: SqliteConnectOptions,
    max: u32,
    idle_timeout: Option<Duration>,
    permits: Arc<Semaphore>,
    /// Idle connections, the most recently used last.
    idle: Mutex<Vec<(SqliteConnection, Instant)>>,
    open: AtomicU32,
    /// The writers' turn, with the connections they write on.
    writer: Arc<tokio::sync::Mutex<Writers>>,
    /// How long a writer waits for its turn before giving up, as SQLite's busy timeout.
    turn_timeout: Duration,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max", &self.0.max)
            .field("open", &self.size())
            .finish_non_exhaustive()
    }
}

/// This process's writers' turn, held until dropped.
pub(crate) type Turn = OwnedMutexGuard<Writers>;

/// What the writers' turn guards: the connections this process writes on.
#[derive(Default)]
pub(crate) struct Writers {
    /// sqlx's (`None` before the first write and after one was closed).
    conn: Option<SqliteConnection>,
    /// The hot paths', with the transaction they share while it is open.
    pub(crate) hot: HotWriter,
}

impl Pool {
    /// A pool of at most `max` readers' connections opened with `options`, and the
    /// writers'; opens one now, so a database that cannot be opened fails here. A writer
    /// gives up waiting for its turn after `turn_timeout`.
    pub(crate) async fn connect(
        options: SqliteConnectOptions,
        max: u32,
        idle_timeout: Option<Duration>,
        turn_timeout: Duration,
    ) -> Result<Self, sqlx::Error> {
        let max = max.max(1);
        let pool = Self(Arc::new(Inner {
            options,
            max,
            idle_timeout,
            permits: Arc::new(Semaphore::new(max as usize)),
            idle: Mutex::new(Vec::new()),
            open: AtomicU32::new(0),
            writer: Arc::new(tokio::sync::Mutex::new(Writers::default())),
            turn_timeout,
        }));
        drop(pool.acquire().await?);
        Ok(pool)
    }

    /// The writers' connection, once it is this caller's turn: this process's writes run
    /// one at a time, in the order they asked. Fails with `PoolTimedOut` after the turn
    /// timeout.
    pub(crate) async fn acquire_writer(&self) -> Result<PoolConn, sqlx::Error> {
        let mut turn = self.turn().await?;
        let conn = turn.conn.take();
        self.hand_out(conn, Some(turn), None).await
    }

    /// This process's writers' turn, with the hot paths' open transaction committed (and
    /// its writers told): what follows in the turn writes alone. Fails with
    /// `PoolTimedOut` after the turn timeout.
    pub(crate) async fn turn(&self) -> Result<Turn, sqlx::Error> {
        let mut turn = self.hot_turn().await?;
        turn.hot.commit();
        Ok(turn)
    }

    /// This process's writers' turn as it is, for the hot paths (`hot.rs`), which join
    /// their open transaction: they take turns with the pool's writers, in the order they
    /// asked. Fails with `PoolTimedOut` after the turn timeout.
    pub(crate) async fn hot_turn(&self) -> Result<Turn, sqlx::Error> {
        let lock = self.0.writer.clone().lock_owned();
        tokio::time::timeout(self.0.turn_timeout, lock)
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)
    }

    /// A handle that does not keep the pool open.
    pub(crate) fn downgrade(&self) -> WeakPool {
        WeakPool(Arc::downgrade(&self.0))
    }

    /// A connection, once one of the `max` is free.
    pub(crate) async fn acquire(&self) -> Result<PoolConn, sqlx::Error> {
        let permit = self
            .0
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let reused = {
            let mut idle = self.0.idle();
            if let Some(timeout) = self.0.idle_timeout {
                let now = Instant::now();
                let stale = idle
                    .iter()
                    .take_while(|(_, since)| now.duration_since(*since) > timeout)
                    .count();
                // Dropping a connection ends its thread, which closes the handle.
                let closed = idle.drain(..stale).count();
                self.0.forget(closed);
            }
            idle.pop()
        };
        self.hand_out(reused.map(|(conn, _)| conn), None, Some(permit))
            .await
    }

    /// `conn`, or a new connection when there is none, handed out with what it holds.
    async fn hand_out(
        &self,
        conn: Option<SqliteConnection>,
        turn: Option<Turn>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<PoolConn, sqlx::Error> {
        let conn = match conn {
            Some(conn) => conn,
            None => {
                let conn = self.0.options.connect().await?;
                self.0.open.fetch_add(1, Ordering::SeqCst);
                conn
            }
        };
        Ok(PoolConn {
            conn: Some(conn),
            pool: self.0.clone(),
            close: false,
            turn,
            _permit: permit,
        })
    }

    /// Connections open (in use or idle).
    pub(crate) fn size(&self) -> u32 {
        self.0.open.load(Ordering::SeqCst)
    }

    /// Idle connections.
    pub(crate) fn num_idle(&self) -> usize {
        self.0.idle().len()
    }

    /// The most connections open at once (the readers' and the writers').
    pub(crate) fn max(&self) -> u32 {
        self.0.max + 1
    }
}

/// A [`Pool`] that may have been dropped.
pub(crate) struct WeakPool(std::sync::Weak<Inner>);

impl WeakPool {
    /// The pool, unless it was dropped.
    pub(crate) fn upgrade(&self) -> Option<Pool> {
        self.0.upgrade().map(Pool)
    }
}

impl Inner {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<(SqliteConnection, Instant)>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn forget(&self, closed: usize) {
        let closed = u32::try_from(closed).unwrap_or(u32::MAX);
        self.open.fetch_sub(closed, Ordering::SeqCst);
    }
}

/// A connection taken from the [`Pool`]; it goes back when dropped, and with it the
/// writers' turn if it was taken with one.
pub(crate) struct PoolConn {
    conn: Option<SqliteConnection>,
    pool: Arc<Inner>,
    close: bool,
    turn: Option<Turn>,
    /// A readers' connection's place in the pool; none for the writers' own connection.
    _permit: Option<OwnedSemaphorePermit>,
}

impl PoolConn {
    /// Closes the connection when dropped instead of giving it back.
    pub(crate) fn close_on_drop(&mut self) {
        self.close = true;
    }
}

impl Drop for PoolConn {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if self.close {
            drop(conn);
            self.pool.forget(1);
        } else if let (Some(turn), None) = (&mut self.turn, &self._permit) {
            turn.conn = Some(conn);
        } else {
            self.pool.idle().push((conn, Instant::now()));
        }
        // The turn and the permit go after this body: the connection is back before anyone
        // may take it.
    }
}

impl std::ops::Deref for PoolConn {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        self.conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("taken only when dropped"))
    }
}

impl std::ops::DerefMut for PoolConn {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_mut()
            .unwrap_or_else(|| unreachable!("taken only when dropped"))
    }
}

impl Pool {
    /// A connection for `sql`: the writers' for anything but a `select`.
    async fn acquire_for(&self, sql: &str) -> Result<PoolConn, sqlx::Error> {
        if may_write(sql) {
            self.acquire_writer().await
        } else {
            self.acquire().await
        }
    }
}

/// Whether `sql` may write: anything but a `select` (a read judged a write only waits for
/// the writers' turn).
fn may_write(sql: &str) -> bool {
    let head = sql.trim_start().as_bytes();
    !head
        .get(..6)
        .is_some_and(|word| word.eq_ignore_ascii_case(b"select"))
}

/// Queries run on the pool take a connection for that one query, as on sqlx's pool: the
/// writers' connection, in turn, for a statement that may write.
impl<'p> Executor<'p> for &'_ Pool {
    type Database = Sqlite;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<SqliteQueryResult, SqliteRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Sqlite>,
    {
        let pool = self.clone();
        // The results are gathered while the connection is held: no query here returns
        // more than a page of rows.
        futures_util::stream::once(async move {
            let query = Parts::of(query)?;
            let mut conn = pool.acquire_for(query.sql.as_str()).await?;
            conn.fetch_many(query).try_collect::<Vec<_>>().await
        })
        .map_ok(|all| futures_util::stream::iter(all.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<SqliteRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Sqlite>,
    {
        let pool = self.clone();
        Box::pin(async move {
            let query = Parts::of(query)?;
            pool.acquire_for(query.sql.as_str())
                .await?
                .fetch_optional(query)
                .await
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [sqlx::sqlite::SqliteTypeInfo],
    ) -> BoxFuture<'e, Result<SqliteStatement, sqlx::Error>>
    where
        'p: 'e,
    {
        let pool = self.clone();
        Box::pin(async move { pool.acquire().await?.prepare_with(sql, parameters).await })
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Sqlite>, sqlx::Error>>
    where
        'p: 'e,
    {
        let pool = self.clone();
        Box::pin(async move { pool.acquire().await?.describe(sql).await })
    }
}

/// A query taken apart, so that its SQL can pick the connection before it runs
/// (`Execute::sql` consumes the query). A prepared statement's cache is not kept: nothing
/// prepares statements on the pool.
struct Parts {
    sql: SqlStr,
    arguments: Option<SqliteArguments>,
    persistent: bool,
}

impl Parts {
    fn of<'q>(mut query: impl Execute<'q, Sqlite>) -> Result<Self, sqlx::Error> {
        let persistent = query.persistent();
        let arguments = query.take_arguments().map_err(sqlx::Error::Encode)?;
        Ok(Self {
            sql: query.sql(),
            arguments,
            persistent,
        })
    }
}

impl Execute<'_, Sqlite> for Parts {
    fn sql(self) -> SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&SqliteStatement> {
        None
    }

    fn take_arguments(&mut self) -> Result<Option<SqliteArguments>, sqlx::error::BoxDynError> {
        Ok(self.arguments.take())
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::str::FromStr;

    use sqlx::Row;

    use super::*;

    async fn file_pool(dir: &tempfile::TempDir, max: u32, idle: Option<Duration>) -> Pool {
        let url = format!("sqlite://{}", dir.path().join("p.db").display());
        let options = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true);
        Pool::connect(options, max, idle, Duration::from_secs(1))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn never_opens_more_than_max_and_reuses_connections() {
        let dir = tempfile::tempdir().unwrap();
        let pool = file_pool(&dir, 3, None).await;
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    let row = sqlx::query("select $1 + 1")
                        .bind(i)
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                    assert!(pool.size() <= 3, "{} open", pool.size());
                    row.get::<i64, _>(0)
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), i as i64 + 1);
        }
        assert!(pool.size() <= 3);
        assert_eq!(pool.num_idle(), pool.size() as usize, "all given back");
    }

    #[tokio::test]
    async fn a_query_dropped_midway_leaves_its_connection_usable() {
        let dir = tempfile::tempdir().unwrap();
        let pool = file_pool(&dir, 1, None).await;
        sqlx::query("create table t (n integer)")
            .execute(&pool)
            .await
            .unwrap();
        // A long query, dropped while its connection's thread still runs it.
        let slow = sqlx::query(
            "with recursive c(n) as (select 1 union all select n + 1 from c where n < 3000000)
             select count(*) from c",
        )
        .fetch_one(&pool);
        let dropped = tokio::time::timeout(Duration::from_millis(5), slow).await;
        assert!(dropped.is_err(), "the query was still running when dropped");
        sqlx::query("insert into t (n) values (1), (2), (3)")
            .execute(&pool)
            .await
            .unwrap();
        let rows = sqlx::query("select n from t order by n")
            .fetch_all(&pool)
            .await
            .unwrap();
        let got: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(got, [1, 2, 3]);
        assert_eq!(pool.size(), 2, "one reader, the writer");
    }

    /// A connection's own temporary table: seen only on that connection.
    async fn mark(conn: &mut SqliteConnection) {
        sqlx::query("create temp table mark (n integer)")
            .execute(conn)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn writes_run_on_one_connection_of_their_own_and_reads_do_not_wait_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let pool = file_pool(&dir, 2, None).await;
        mark(&mut pool.acquire_writer().await.unwrap()).await;
        // Statements other than a `select`, run on the pool, go to the writers' connection:
        // only there is the temporary table.
        sqlx::query("insert into temp.mark (n) values (1)")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("  UPDATE temp.mark set n = 2")
            .execute(&pool)
            .await
            .unwrap();
        let on_writer = sqlx::query("delete from temp.mark returning n")
            .fetch_optional(&pool)
            .await
            .unwrap();
        assert_eq!(on_writer.map(|r| r.get::<i64, _>(0)), Some(2));
        // A `select` goes to a reader's, which has no such table.
        let on_reader = sqlx::query("select n from temp.mark")
            .fetch_all(&pool)
            .await;
        assert!(
            on_reader.is_err(),
            "a select ran on the writers' connection"
        );

        let held = pool.acquire_writer().await.unwrap();
        let read = tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::query("select 1").fetch_one(&pool),
        );
        assert!(read.await.is_ok(), "a read waited for the writers' turn");
        let write = tokio::time::timeout(
            Duration::from_millis(100),
            sqlx::query("insert into temp.mark (n) values (3)").execute(&pool),
        );
        assert!(write.await.is_err(), "a write did not wait for its turn");
        drop(held);
        // The turn times out as the busy timeout would (1 s in `file_pool`).
        let _held = pool.acquire_writer().await.unwrap();
        let waited = sqlx::query("insert into temp.mark (n) values (4)")
            .execute(&pool)
            .await;
        assert!(
            matches!(waited, Err(sqlx::Error::PoolTimedOut)),
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn writers_take_turns_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let pool = file_pool(&dir, 4, None).await;
        sqlx::query("create table log (n integer)")
            .execute(&pool)
            .await
            .unwrap();
        let first = pool.acquire_writer().await.unwrap();
        let tasks: Vec<_> = (1..=5)
            .map(|n| {
                let pool = pool.clone();
                let task = tokio::spawn(async move {
                    sqlx::query("insert into log (n) values ($1)")
                        .bind(n)
                        .execute(&pool)
                        .await
                        .unwrap();
                });
                (task, n)
            })
            .collect();
        // Each task queues for the turn before the next one starts.
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        drop(first);
        for (task, _) in tasks {
            task.await.unwrap();
        }
        let rows = sqlx::query("select n from log order by rowid")
            .fetch_all(&pool)
            .await
            .unwrap();
        let got: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(got, [1, 2, 3, 4, 5]);
        assert_eq!(pool.size(), 2, "one reader, the writer");
    }

    #[tokio::test]
    async fn idle_connections_past_the_timeout_are_closed_and_closed_ones_are_not_counted() {
        let dir = tempfile::tempdir().unwrap();
        let pool = file_pool(&dir, 4, Some(Duration::from_millis(50))).await;
        let (a, b) = (pool.acquire().await.unwrap(), pool.acquire().await.unwrap());
        drop((a, b));
        assert_eq!((pool.size(), pool.num_idle()), (2, 2));
        tokio::time::sleep(Duration::from_millis(80)).await;
        let c = pool.acquire().await.unwrap();
        assert_eq!(pool.size(), 1, "the stale idle connections were closed");
        drop(c);
        let mut d = pool.acquire().await.unwrap();
        d.close_on_drop();
        drop(d);
        assert_eq!((pool.size(), pool.num_idle()), (0, 0));
    }
}
