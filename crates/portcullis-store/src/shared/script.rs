//! Statements that answer nothing, run in order in one round trip where the backend can
//! (both backends). On SQLite every query is a round trip to its connection's thread, and
//! sqlx's SQLite driver runs a query of several statements in one, binding `$N` to the N-th
//! argument across all of them; PostgreSQL's extended protocol takes one statement per
//! message, so there they run one by one (`super::run_script`).

use sqlx::Arguments;

use super::{Conn, Db};
use crate::{StoreError, StoreResult};

/// A value bound to a statement.
pub(super) enum Value<'a> {
    Text(&'a str),
    /// Text the statement owns (a value of something the caller hands on, not borrowed).
    Owned(String),
    OptText(Option<&'a str>),
    Int(i64),
    OptInt(Option<i64>),
    Bool(bool),
}

/// One statement, its parameters numbered `$1…` in the order of `values`.
pub(super) struct Statement<'a> {
    pub(super) sql: &'static str,
    pub(super) values: Vec<Value<'a>>,
}

impl<'a> Statement<'a> {
    pub(super) fn new(sql: &'static str, values: Vec<Value<'a>>) -> Self {
        Self { sql, values }
    }

    /// Adds this statement's values to `args`.
    pub(super) fn bind_into(
        &self,
        args: &mut <Db as sqlx::Database>::Arguments,
    ) -> StoreResult<()> {
        for value in &self.values {
            match value {
                Value::Text(v) => args.add(*v),
                Value::Owned(v) => args.add(v.clone()),
                Value::OptText(v) => args.add(*v),
                Value::Int(v) => args.add(*v),
                Value::OptInt(v) => args.add(*v),
                Value::Bool(v) => args.add(*v),
            }
            .map_err(StoreError::Unavailable)?;
        }
        Ok(())
    }
}

/// Runs `statements` in order on `c`.
pub(super) async fn run(c: &mut Conn, statements: &[Statement<'_>]) -> StoreResult<()> {
    super::run_script(c, statements).await
}
