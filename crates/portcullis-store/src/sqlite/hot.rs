//! SQLite's hot paths: the statements of `sql.rs`, run on the calling thread (rusqlite), on
//! connections of their own. sqlx runs each SQLite connection on a thread of its own, and
//! every statement sent there costs two context switches and a futex wake-up (on machine F
//! 15–67 µs of the core: docs/performance.md), several times what a statement on a warm
//! page cache costs SQLite itself. Here a statement holds up the runtime's thread for as
//! long as SQLite takes, which it never gives up while it waits:
//!
//! - A connection's busy timeout is zero: where SQLite would wait for another process's
//!   lock (`portcullis keys rotate`, `sqlite3 .backup`), it answers busy at once, and
//!   [`retry`] waits on the runtime, up to the store's busy timeout, then runs the whole
//!   operation again. A busy operation changed nothing (a transaction is rolled back).
//! - Nothing here syncs to disk: a commit appends to the WAL (`synchronous = NORMAL`), and
//!   the checkpoints, with their fsyncs, run on sqlx's connections in the background
//!   (`mod.rs`); `wal_autocheckpoint` is off here as there.
//! - Writes run in this process's writers' turn (`Pool::hot_turn`), on one connection, so
//!   they never race this process's other writes for SQLite's lock.
//! - Writes share their commit ([`HotWriter`]): the first opens a transaction
//!   (`BEGIN IMMEDIATE`), and each runs in a savepoint of it, so a write that fails undoes
//!   only its own changes. The transaction is committed once the runtime has run what else
//!   was ready (a task spawned for it, behind them), or first by anyone else who takes the
//!   turn (`Pool::turn`: sqlx's writers, the checkpoint). A write answers only once the
//!   commit did: what it returns is on disk (in the WAL) and seen by every other
//!   connection. Per commit SQLite takes and releases its locks (`fcntl`) and appends the
//!   pages changed, so writes that commit together share both.
//!
//! A write's savepoint is one synchronous call: no `.await` falls between its `SAVEPOINT`
//! and its `RELEASE`, and a request dropped while it waits for the commit leaves its
//! write to be committed with the others.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use portcullis_core::code::AuthorizationCode;
use portcullis_core::refresh::RefreshFamily;
use portcullis_core::scope::Scope;
use portcullis_core::secret::TokenHash;
use portcullis_core::session::Session;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use time::OffsetDateTime;

use super::pool::Pool;
use super::refresh;
use super::rows::{Columns, session_from_row};
use super::script::{Statement, Value};
use super::{BUSY_TIMEOUT, SqliteStore, sql};
use crate::{
    FoundFamily, RefreshExchange, RefreshOutcome, StoreError, StoreResult, TakenCode, TokenUser,
    unavailable,
};

/// The connections the hot paths run on, opened when first needed.
pub(super) struct Direct {
    path: PathBuf,
    /// Idle readers' connections. A read holds one for one synchronous call, so there are
    /// at most as many as the runtime has threads.
    readers: Mutex<Vec<Connection>>,
}

/// The hot paths' writers' connection and the transaction open on it, which the hot writes
/// share until it is committed (see the module's documentation). It lives in the writers'
/// turn (`pool::Writers`), so whoever holds the turn may commit it.
#[derive(Default)]
pub(crate) struct HotWriter {
    conn: Option<Connection>,
    open: Option<Batch>,
    /// Commits made, for the tests.
    #[cfg(test)]
    commits: u64,
}

/// A write's savepoint in the open transaction: undone when dropped before it is released
/// (the write failed, or panicked), or, if that fails, the whole transaction with it, whose
/// commit then fails for every writer in it.
struct Savepoint<'c>(&'c Connection);

impl<'c> Savepoint<'c> {
    fn open(conn: &'c Connection) -> rusqlite::Result<Self> {
        conn.execute_batch("SAVEPOINT hot")?;
        Ok(Self(conn))
    }

    fn release(self) -> rusqlite::Result<()> {
        let conn = self.0;
        std::mem::forget(self);
        conn.execute_batch("RELEASE hot")
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        if !self.0.is_autocommit()
            && self
                .0
                .execute_batch("ROLLBACK TO hot; RELEASE hot")
                .is_err()
        {
            let _ = self.0.execute_batch("ROLLBACK");
        }
    }
}

/// An open transaction: its writers wait for what its commit comes to (`None` until then;
/// the channel closed if it never comes, e.g. the store was dropped).
struct Batch {
    outcome: watch::Sender<Option<Result<(), String>>>,
}

type Outcome = watch::Receiver<Option<Result<(), String>>>;

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Why an operation here failed: SQLite (perhaps busy), or what it read.
enum Failure {
    Db(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Self::Db(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

type Attempt<T> = Result<T, Failure>;

impl Direct {
    pub(super) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            readers: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` on a readers' connection, again while SQLite is busy.
    async fn read<T>(&self, mut read: impl FnMut(&Connection) -> Attempt<T>) -> StoreResult<T> {
        retry(|| {
            let idle = lock(&self.readers).pop();
            let conn = match idle {
                Some(conn) => conn,
                None => open(&self.path)?,
            };
            let done = read(&conn);
            lock(&self.readers).push(conn);
            done
        })
        .await
    }

    /// Runs `write` on the writers' connection in this process's writers' turn, in the
    /// transaction open there (again while SQLite is busy), and answers once that
    /// transaction is committed.
    async fn write<T>(
        &self,
        pool: &Pool,
        mut write: impl FnMut(&Connection) -> Attempt<T>,
    ) -> StoreResult<T> {
        let mut turn = pool.hot_turn().await.map_err(crate::map_err)?;
        let (done, mut outcome) = retry(|| turn.hot.join(&self.path, pool, &mut write)).await?;
        drop(turn);
        let committed = outcome
            .wait_for(Option::is_some)
            .await
            .map_err(|_| StoreError::Unavailable("the store closed before the commit".into()))?;
        match &*committed {
            Some(Ok(())) => Ok(done),
            Some(Err(e)) => Err(StoreError::Unavailable(e.clone().into())),
            None => Err(StoreError::Unavailable("no commit".into())),
        }
    }
}

impl HotWriter {
    /// Runs `write` in a savepoint of the open transaction (opened now if there is none,
    /// with a task to commit it); answers what it returned and how to learn the commit's
    /// outcome. A failed write's changes are undone, and the others' kept, unless SQLite
    /// rolled the whole transaction back, whose writers then learn it.
    fn join<T>(
        &mut self,
        path: &Path,
        pool: &Pool,
        write: &mut impl FnMut(&Connection) -> Attempt<T>,
    ) -> Attempt<(T, Outcome)> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            none => none.insert(open(path)?),
        };
        let batch = match &mut self.open {
            Some(batch) => batch,
            none => {
                conn.execute_batch("BEGIN IMMEDIATE")?;
                let committer = pool.clone();
                tokio::spawn(async move {
                    // Behind what else is ready, which may write too.
                    tokio::task::yield_now().await;
                    // Taking the turn commits (`Pool::turn`); it fails only after the turn
                    // timeout, and the writers are waiting.
                    while committer.turn().await.is_err() {}
                });
                none.insert(Batch {
                    outcome: watch::channel(None).0,
                })
            }
        };
        let outcome = batch.outcome.subscribe();
        let savepoint = Savepoint::open(conn)?;
        match write(conn) {
            Ok(done) => match savepoint.release() {
                Ok(()) => Ok((done, outcome)),
                Err(e) => {
                    self.abandon(&e);
                    Err(e.into())
                }
            },
            Err(failure) => {
                drop(savepoint);
                if conn.is_autocommit() {
                    self.abandon(&"a write failed and its savepoint could not be undone alone");
                }
                Err(failure)
            }
        }
    }

    /// Commits the open transaction, if there is one, and tells its writers the outcome.
    pub(crate) fn commit(&mut self) {
        let (Some(batch), Some(conn)) = (self.open.take(), &self.conn) else {
            return;
        };
        let outcome = conn.execute_batch("COMMIT").map_err(|e| {
            if !conn.is_autocommit() {
                // Nothing of it is kept: its writers are told so.
                let _ = conn.execute_batch("ROLLBACK");
            }
            format!("commit failed: {e}")
        });
        #[cfg(test)]
        {
            self.commits += 1;
        }
        batch.outcome.send_replace(Some(outcome));
    }

    /// Rolls the open transaction back, if SQLite has not, and tells its writers why.
    fn abandon(&mut self, why: &dyn std::fmt::Display) {
        let Some(batch) = self.open.take() else {
            return;
        };
        if let Some(conn) = &self.conn
            && !conn.is_autocommit()
        {
            let _ = conn.execute_batch("ROLLBACK");
        }
        batch
            .outcome
            .send_replace(Some(Err(format!("the transaction was rolled back: {why}"))));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A connection to the database at `path`, set up as sqlx's are (`mod.rs`) but for the
/// busy timeout (see the module's documentation). The database exists: the store's pool
/// opened it first.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::ZERO)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}

/// Runs `attempt` until it is not refused as busy, waiting between attempts (1 ms, then
/// doubling up to 50 ms) for no longer than the store's busy timeout in all.
async fn retry<T>(mut attempt: impl FnMut() -> Attempt<T>) -> StoreResult<T> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match attempt() {
            Ok(done) => return Ok(done),
            Err(Failure::Db(e)) if is_busy(&e) && start.elapsed() < BUSY_TIMEOUT => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(Failure::Db(e)) => return Err(store_error(e)),
            Err(Failure::Store(e)) => return Err(e),
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// As `crate::map_err` maps sqlx's errors.
fn store_error(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        rusqlite::Error::SqliteFailure(f, message)
            if matches!(
                f.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ) =>
        {
            StoreError::Conflict {
                what: message.clone().unwrap_or_else(|| f.to_string()),
            }
        }
        _ => unavailable(e),
    }
}

/// `statement`, prepared (kept in the connection's cache) with its values bound: `$N` to
/// the N-th value, wherever it appears.
fn prepare<'c>(
    conn: &'c Connection,
    statement: &Statement<'_>,
) -> Attempt<rusqlite::CachedStatement<'c>> {
    let mut prepared = conn.prepare_cached(statement.sql)?;
    for index in 1..=prepared.parameter_count() {
        let value = prepared
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$')?.parse::<usize>().ok())
            .and_then(|n| statement.values.get(n.checked_sub(1)?))
            .ok_or_else(|| {
                StoreError::Unavailable(
                    format!("unbound parameter {index}: {}", statement.sql).into(),
                )
            })?;
        match value {
            Value::Text(v) => prepared.raw_bind_parameter(index, *v),
            Value::Owned(v) => prepared.raw_bind_parameter(index, v.as_str()),
            Value::OptText(v) => prepared.raw_bind_parameter(index, *v),
            Value::Int(v) => prepared.raw_bind_parameter(index, *v),
            Value::OptInt(v) => prepared.raw_bind_parameter(index, *v),
            Value::Bool(v) => prepared.raw_bind_parameter(index, *v),
        }?;
    }
    Ok(prepared)
}

/// Runs `statement`, which answers nothing.
fn execute(conn: &Connection, statement: &Statement<'_>) -> Attempt<()> {
    prepare(conn, statement)?.raw_execute()?;
    Ok(())
}

/// Runs `statement` and reads its first row, if any, with `read`.
fn query_row<T>(
    conn: &Connection,
    statement: &Statement<'_>,
    read: impl FnOnce(&Named<'_, '_>) -> StoreResult<T>,
) -> Attempt<Option<T>> {
    let mut prepared = prepare(conn, statement)?;
    let mut rows = prepared.raw_query();
    match rows.next()? {
        Some(row) => {
            let names = row.as_ref().column_names();
            Ok(Some(read(&Named { row, names })?))
        }
        None => Ok(None),
    }
}

/// A row read by its columns' names, which are fetched once for the row: rusqlite's own
/// lookup by name asks SQLite for every column's name at each lookup (a code's redemption
/// reads 27 of the 33 columns it returns).
struct Named<'r, 's> {
    row: &'r rusqlite::Row<'s>,
    names: Vec<&'r str>,
}

impl Named<'_, '_> {
    fn get<T: rusqlite::types::FromSql>(&self, column: &str) -> StoreResult<T> {
        let index = self
            .names
            .iter()
            .position(|name| *name == column)
            .ok_or_else(|| StoreError::Unavailable(format!("no column {column}").into()))?;
        self.row.get(index).map_err(unavailable)
    }
}

impl Columns for Named<'_, '_> {
    fn text(&self, column: &str) -> StoreResult<String> {
        self.get(column)
    }
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
        self.get(column)
    }
    fn int(&self, column: &str) -> StoreResult<i64> {
        self.get(column)
    }
    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
        self.get(column)
    }
    fn flag(&self, column: &str) -> StoreResult<bool> {
        self.get(column)
    }
}

pub(super) async fn find_session(
    this: &SqliteStore,
    token_hash: &TokenHash,
) -> StoreResult<Option<Session>> {
    let find = sql::find_session(token_hash);
    this.direct
        .read(|c| query_row(c, &find, |row| session_from_row(row)))
        .await
}

pub(super) async fn find_session_with_grant(
    this: &SqliteStore,
    token_hash: &TokenHash,
    client_id: &str,
    audience: Option<&str>,
) -> StoreResult<Option<(Session, Option<Scope>)>> {
    let find = sql::session_with_grant(token_hash, client_id, audience);
    this.direct
        .read(|c| query_row(c, &find, |row| sql::session_and_grant(row)))
        .await
}

pub(super) async fn insert_code(
    this: &SqliteStore,
    code_hash: &TokenHash,
    code: &AuthorizationCode,
    now: OffsetDateTime,
) -> StoreResult<()> {
    let insert = sql::insert_code(code_hash, code, now);
    this.direct.write(&this.pool, |c| execute(c, &insert)).await
}

pub(super) async fn take_code(
    this: &SqliteStore,
    code_hash: &TokenHash,
    now: OffsetDateTime,
    access_token: (&str, OffsetDateTime),
    refresh_family_id: &str,
) -> StoreResult<TakenCode> {
    let take = sql::take_code(code_hash, now, access_token, refresh_family_id);
    this.direct
        .write(&this.pool, |c| {
            match query_row(c, &take, |row| sql::taken(row))? {
                Some(taken) => Ok(taken),
                None => {
                    // Only when the code was not taken: a replay, or no such code.
                    let redemption = sql::code_redemption(code_hash);
                    let used = query_row(c, &redemption, |row| sql::redeemed(Some(row)))?;
                    Ok(used.unwrap_or(TakenCode::Unknown))
                }
            }
        })
        .await
}

pub(super) async fn find_refresh_family_with_user(
    this: &SqliteStore,
    token_hash: &TokenHash,
) -> StoreResult<Option<FoundFamily>> {
    let find = sql::family_with_user(token_hash);
    this.direct
        .read(|c| query_row(c, &find, |row| sql::family_and_user(row)))
        .await
}

/// In one savepoint of the writers' transaction (`BEGIN IMMEDIATE`, which excludes every
/// other writer: the locks `refresh.rs` requires): the families past the limit, their
/// revocation and the new one.
pub(super) async fn create_refresh_family(
    this: &SqliteStore,
    family: &RefreshFamily,
    token_hash: &TokenHash,
    access_token: (&str, OffsetDateTime),
) -> StoreResult<()> {
    let excess = refresh::excess(family);
    this.direct
        .write(&this.pool, |c| {
            let mut ids = Vec::new();
            {
                let mut prepared = prepare(c, &excess)?;
                let mut rows = prepared.raw_query();
                while let Some(row) = rows.next()? {
                    ids.push(row.get::<_, String>(0)?);
                }
            }
            for write in &refresh::creation(family, token_hash, access_token, &ids)? {
                execute(c, write)?;
            }
            Ok(())
        })
        .await
}

/// In one savepoint of the writers' transaction (`BEGIN IMMEDIATE`, which excludes every
/// other writer, so the family is locked as `refresh.rs` requires): the presented token's
/// row, the decision, its writes.
pub(super) async fn exchange_refresh_token(
    this: &SqliteStore,
    exchange: &RefreshExchange<'_>,
) -> StoreResult<RefreshOutcome> {
    let presented = refresh::presented(exchange.token_hash);
    this.direct
        .write(&this.pool, |c| {
            let decided = query_row(c, &presented, |row| refresh::decide(Some(row), exchange))?;
            let (outcome, writes) = match decided {
                Some(decided) => decided,
                None => refresh::decide::<Named<'_, '_>>(None, exchange)?,
            };
            for write in &writes {
                execute(c, write)?;
            }
            Ok(outcome)
        })
        .await
}

pub(super) async fn token_user(
    this: &SqliteStore,
    user_id: &str,
    jti: &str,
) -> StoreResult<TokenUser> {
    let find = sql::token_user(user_id, jti);
    this.direct
        .read(|c| query_row(c, &find, |row| sql::token_user_from_row(row)))
        .await?
        .ok_or(StoreError::NotFound)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::Store;
    async fn store_at(path: &Path) -> SqliteStore {
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    }

    fn code() -> AuthorizationCode {
        crate::testing::code(OffsetDateTime::UNIX_EPOCH)
    }

    /// Whether another connection (as another process would) sees the code `name`.
    fn committed(path: &Path, name: &str) -> bool {
        let other = Connection::open(path).unwrap();
        other
            .query_row(
                "select count(*) from authorization_codes where code_hash = ?1",
                [TokenHash::of(name).as_str()],
                |row| row.get::<_, i64>(0),
            )
            .unwrap()
            == 1
    }

    /// Polls `future` once.
    async fn poll_once<F: Future + ?Sized>(
        mut future: std::pin::Pin<&mut F>,
    ) -> std::task::Poll<F::Output> {
        std::future::poll_fn(|cx| std::task::Poll::Ready(future.as_mut().poll(cx))).await
    }

    async fn commits(store: &SqliteStore) -> u64 {
        store.pool.hot_turn().await.unwrap().hot.commits
    }

    /// Writes ready at once share one commit, each answers only once its write is
    /// committed, and a write that fails undoes only its own changes.
    #[tokio::test(flavor = "current_thread")]
    async fn writes_ready_together_share_a_commit_and_answer_once_it_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.db");
        let store = store_at(&path).await;
        let before = commits(&store).await;

        // "a" twice: the second is a conflict, in the same transaction as the others.
        let names = ["a", "b", "a", "c", "d", "e", "f", "g"];
        let mut writes = tokio::task::JoinSet::new();
        for (i, name) in names.into_iter().enumerate() {
            let (store, path) = (store.clone(), path.clone());
            writes.spawn(async move {
                let now = OffsetDateTime::UNIX_EPOCH;
                let done = store.insert_code(&TokenHash::of(name), &code(), now).await;
                // Answered: then it is in the database for everyone.
                let seen = committed(&path, name);
                (i, done, seen)
            });
        }
        let mut conflicts = 0;
        while let Some(joined) = writes.join_next().await {
            let (i, done, seen) = joined.unwrap();
            match done {
                Ok(()) => assert!(seen, "write {i} answered before its commit"),
                Err(StoreError::Conflict { .. }) => conflicts += 1,
                Err(e) => panic!("write {i}: {e:?}"),
            }
        }
        assert_eq!(conflicts, 1);
        for name in ["a", "b", "c", "d", "e", "f", "g"] {
            assert!(committed(&path, name), "{name} was lost");
        }
        let made = commits(&store).await - before;
        assert!(
            made < 7,
            "{made} commits for 7 writes ready at once: they did not share"
        );
    }

    /// A write whose request is dropped while it waits for the commit is committed all
    /// the same, and no transaction is left open to hold other processes' writes up.
    #[tokio::test(flavor = "current_thread")]
    async fn a_write_dropped_while_it_waits_is_committed_and_leaves_no_transaction_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dropped.db");
        let store = store_at(&path).await;

        let now = OffsetDateTime::UNIX_EPOCH;
        let (hash, code) = (TokenHash::of("dropped"), code());
        let mut write = store.insert_code(&hash, &code, now);
        // The first poll runs the write and then waits for the commit.
        assert!(poll_once(write.as_mut()).await.is_pending());
        drop(write);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }

        assert!(committed(&path, "dropped"));
        let other = Connection::open(&path).unwrap();
        other
            .execute_batch("begin immediate; commit")
            .expect("the write lock is free");
    }

    /// Whoever else takes the writers' turn (sqlx's writers, the checkpoint) commits the
    /// hot writes' open transaction first: SQLite's write lock is free for what it writes.
    #[tokio::test(flavor = "current_thread")]
    async fn taking_the_turn_commits_the_open_transaction_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("turn.db");
        let store = store_at(&path).await;

        let now = OffsetDateTime::UNIX_EPOCH;
        let (hash, code) = (TokenHash::of("waiting"), code());
        let mut write = store.insert_code(&hash, &code, now);
        assert!(poll_once(write.as_mut()).await.is_pending());
        assert!(
            !committed(&path, "waiting"),
            "committed before its turn came"
        );

        let turn = store.pool.turn().await.unwrap();
        assert!(committed(&path, "waiting"));
        drop(turn);
        write.await.unwrap();
    }

    /// Another process's write lock: the hot paths wait for it on the runtime, which runs
    /// everything else meanwhile (here one thread: a wait in SQLite's busy handler would
    /// hold it up), and go on once it is released.
    #[tokio::test(flavor = "current_thread")]
    async fn a_write_waits_for_another_process_lock_without_holding_up_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let other = Connection::open(&path).unwrap();
        other.execute_batch("begin immediate").unwrap();

        let take = tokio::spawn(async move {
            let now = OffsetDateTime::UNIX_EPOCH;
            store
                .take_code(&TokenHash::of("no such code"), now, "jti", now, "")
                .await
        });
        let waited = Instant::now();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            waited.elapsed() < Duration::from_secs(1),
            "the runtime was held up for {:?}",
            waited.elapsed()
        );
        assert!(!take.is_finished(), "the write did not wait for the lock");

        other.execute_batch("commit").unwrap();
        let taken = tokio::time::timeout(Duration::from_secs(5), take)
            .await
            .expect("the write went on once the lock was released")
            .unwrap();
        assert!(matches!(taken, Ok(TakenCode::Unknown)), "{taken:?}");
    }
}
