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
//! - Writes run in this process's writers' turn (`Pool::turn`), on one connection, so
//!   they never race this process's other writes for SQLite's lock.
//!
//! An operation is one synchronous call: no `.await` falls between its `BEGIN` and its
//! `COMMIT`, so a request dropped midway cannot leave a transaction open.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use portcullis_core::code::AuthorizationCode;
use portcullis_core::refresh::RefreshFamily;
use portcullis_core::scope::Scope;
use portcullis_core::secret::TokenHash;
use portcullis_core::session::Session;
use portcullis_core::user::User;
use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};
use time::OffsetDateTime;

use super::pool::Pool;
use super::refresh;
use super::rows::{Columns, session_from_row};
use super::script::{Statement, Value};
use super::{BUSY_TIMEOUT, SqliteStore, sql};
use crate::{
    RefreshExchange, RefreshOutcome, StoreError, StoreResult, TakenCode, TokenUser, unavailable,
};

/// The connections the hot paths run on, opened when first needed.
pub(super) struct Direct {
    path: PathBuf,
    /// Idle readers' connections. A read holds one for one synchronous call, so there are
    /// at most as many as the runtime has threads.
    readers: Mutex<Vec<Connection>>,
    /// The writers' connection, used in this process's writers' turn only.
    writer: Mutex<Option<Connection>>,
}

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
            writer: Mutex::new(None),
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

    /// Runs `write` on the writers' connection in this process's writers' turn, again
    /// while SQLite is busy.
    async fn write<T>(
        &self,
        pool: &Pool,
        mut write: impl FnMut(&Connection) -> Attempt<T>,
    ) -> StoreResult<T> {
        let _turn = pool.turn().await.map_err(crate::map_err)?;
        retry(|| {
            let mut writer = lock(&self.writer);
            let conn = match writer.take() {
                Some(conn) => conn,
                None => open(&self.path)?,
            };
            let done = write(&conn);
            *writer = Some(conn);
            done
        })
        .await
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
) -> StoreResult<Option<(RefreshFamily, Option<User>)>> {
    let find = sql::family_with_user(token_hash);
    this.direct
        .read(|c| query_row(c, &find, |row| sql::family_and_user(row)))
        .await
}

/// In one transaction (`BEGIN IMMEDIATE`, which excludes every other writer: the locks
/// `refresh.rs` requires): the families past the limit, their revocation and the new one.
pub(super) async fn create_refresh_family(
    this: &SqliteStore,
    family: &RefreshFamily,
    token_hash: &TokenHash,
    access_token: (&str, OffsetDateTime),
) -> StoreResult<()> {
    let excess = refresh::excess(family);
    this.direct
        .write(&this.pool, |c| {
            // Rolled back when dropped before its commit.
            let tx = Transaction::new_unchecked(c, TransactionBehavior::Immediate)?;
            let mut ids = Vec::new();
            {
                let mut prepared = prepare(&tx, &excess)?;
                let mut rows = prepared.raw_query();
                while let Some(row) = rows.next()? {
                    ids.push(row.get::<_, String>(0)?);
                }
            }
            for write in &refresh::creation(family, token_hash, access_token, &ids)? {
                execute(&tx, write)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
}

/// In one transaction (`BEGIN IMMEDIATE`, which excludes every other writer, so the
/// family is locked as `refresh.rs` requires): the presented token's row, the decision,
/// its writes.
pub(super) async fn exchange_refresh_token(
    this: &SqliteStore,
    exchange: &RefreshExchange<'_>,
) -> StoreResult<RefreshOutcome> {
    let presented = refresh::presented(exchange.token_hash);
    this.direct
        .write(&this.pool, |c| {
            // Rolled back when dropped before its commit.
            let tx = Transaction::new_unchecked(c, TransactionBehavior::Immediate)?;
            let decided = query_row(&tx, &presented, |row| refresh::decide(Some(row), exchange))?;
            let (outcome, writes) = match decided {
                Some(decided) => decided,
                None => refresh::decide::<Named<'_, '_>>(None, exchange)?,
            };
            for write in &writes {
                execute(&tx, write)?;
            }
            tx.commit()?;
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
