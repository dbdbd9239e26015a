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
//! - Write transactions are `TxConn`'s business (`src/shared/tx.rs`), as on PostgreSQL.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use sqlx::sqlite::{SqliteConnectOptions, SqliteQueryResult, SqliteRow, SqliteStatement};
use sqlx::{ConnectOptions, Describe, Either, Execute, Executor, Sqlite, SqliteConnection};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max", &self.0.max)
            .field("open", &self.size())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool of at most `max` connections opened with `options`; opens one now, so a
    /// database that cannot be opened fails here.
    pub(crate) async fn connect(
        options: SqliteConnectOptions,
        max: u32,
        idle_timeout: Option<Duration>,
    ) -> Result<Self, sqlx::Error> {
        let max = max.max(1);
        let pool = Self(Arc::new(Inner {
            options,
            max,
            idle_timeout,
            permits: Arc::new(Semaphore::new(max as usize)),
            idle: Mutex::new(Vec::new()),
            open: AtomicU32::new(0),
        }));
        drop(pool.acquire().await?);
        Ok(pool)
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
        let conn = match reused {
            Some((conn, _)) => conn,
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

    /// The most connections open at once.
    pub(crate) fn max(&self) -> u32 {
        self.0.max
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

/// A connection taken from the [`Pool`]; it goes back when dropped.
pub(crate) struct PoolConn {
    conn: Option<SqliteConnection>,
    pool: Arc<Inner>,
    close: bool,
    _permit: OwnedSemaphorePermit,
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
        } else {
            self.pool.idle().push((conn, Instant::now()));
        }
        // The permit goes after this body: the connection is idle before anyone may take it.
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

/// Queries run on the pool take a connection for that one query, as on sqlx's pool.
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
            let mut conn = pool.acquire().await?;
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
        Box::pin(async move { pool.acquire().await?.fetch_optional(query).await })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [sqlx::sqlite::SqliteTypeInfo],
    ) -> BoxFuture<'e, Result<SqliteStatement<'q>, sqlx::Error>> {
        let pool = self.clone();
        Box::pin(async move { pool.acquire().await?.prepare_with(sql, parameters).await })
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<Describe<Sqlite>, sqlx::Error>> {
        let pool = self.clone();
        Box::pin(async move { pool.acquire().await?.describe(sql).await })
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
        Pool::connect(options, max, idle).await.unwrap()
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
        assert_eq!(pool.size(), 1);
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
