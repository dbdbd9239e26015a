//! The connection of a write transaction (both backends). A request can be dropped at any
//! `.await` (its client went away), so between `begin` and `commit`: a connection that went
//! back to the pool then would stay inside that transaction, holding its locks, and the
//! next `begin` on it would fail. Unless the transaction was finished (committed or rolled
//! back), the connection is closed instead, and the database rolls the transaction back.

use sqlx::pool::PoolConnection;

use super::{Conn, Db};

/// A pooled connection in a write transaction, with what the backend holds for as long
/// (SQLite: this process's writer turn).
pub(super) struct TxConn<G> {
    conn: PoolConnection<Db>,
    finished: bool,
    _held: G,
}

impl<G> TxConn<G> {
    /// Wraps `conn` before `begin` is sent on it: a drop while `begin` runs closes it too.
    pub(super) fn new(conn: PoolConnection<Db>, held: G) -> Self {
        Self {
            conn,
            finished: false,
            _held: held,
        }
    }

    /// The transaction was committed or rolled back: the connection may go back.
    pub(super) fn finished(&mut self) {
        self.finished = true;
    }
}

impl<G> Drop for TxConn<G> {
    fn drop(&mut self) {
        if !self.finished {
            self.conn.close_on_drop();
        }
    }
}

impl<G> std::ops::Deref for TxConn<G> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl<G> std::ops::DerefMut for TxConn<G> {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}
