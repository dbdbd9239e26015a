//! The connection of a write transaction (both backends). A request can be dropped at any
//! `.await` (its client went away), so between `begin` and `commit`: a connection that went
//! back to the pool then would stay inside that transaction, holding its locks, and the
//! next `begin` on it would fail (SQLite) or fold the orphan into itself (PostgreSQL).
//! Unless the transaction was finished (committed or rolled back), it is rolled back on the
//! runtime before the connection goes back, and what the backend holds (SQLite: this
//! process's writer turn) is held until then. Closing the connection instead would also
//! roll back, but costs a new connection; it is the fallback when there is no runtime.

use super::{Conn, PoolConn};

/// A pooled connection in a write transaction, with what the backend holds for as long.
pub(super) struct TxConn<G: Send + 'static> {
    conn: Option<PoolConn>,
    held: Option<G>,
}

impl<G: Send + 'static> TxConn<G> {
    /// Wraps `conn` before `begin` is sent on it: a drop while `begin` runs is covered too.
    pub(super) fn new(conn: PoolConn, held: G) -> Self {
        Self {
            conn: Some(conn),
            held: Some(held),
        }
    }

    /// The transaction was committed or rolled back: the connection may go back as it is.
    pub(super) fn finished(mut self) {
        self.held.take();
        self.conn.take();
    }
}

impl<G: Send + 'static> Drop for TxConn<G> {
    fn drop(&mut self) {
        let (Some(mut conn), held) = (self.conn.take(), self.held.take()) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to roll back on: closing the connection rolls back.
            conn.close_on_drop();
            return;
        };
        runtime.spawn(async move {
            // Fails only when no transaction was open (a drop before `begin` ran) or the
            // connection is broken, which the pool's own check on release then finds.
            let _ = sqlx::query("rollback").execute(&mut *conn).await;
            drop(conn);
            drop(held);
        });
    }
}

impl<G: Send + 'static> std::ops::Deref for TxConn<G> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
            .as_deref()
            .unwrap_or_else(|| unreachable!("taken only when done"))
    }
}

impl<G: Send + 'static> std::ops::DerefMut for TxConn<G> {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn
            .as_deref_mut()
            .unwrap_or_else(|| unreachable!("taken only when done"))
    }
}
