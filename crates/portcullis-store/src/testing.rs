//! Test support shared by the test suites of this workspace: a fresh PostgreSQL schema per
//! test, so tests run in parallel on one server. Not for production use.

use std::str::FromStr;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// The variable that names the PostgreSQL server tests use.
pub const POSTGRES_URL_VAR: &str = "PORTCULLIS_TEST_POSTGRES_URL";

/// A database URL whose connections use a new, empty schema of the test PostgreSQL
/// (`PORTCULLIS_TEST_POSTGRES_URL`). `None` when the variable is unset outside CI, so a
/// developer without PostgreSQL can run the rest; in CI (`CI` set) an unset variable
/// panics, and so does an unreachable server anywhere: a PostgreSQL test never passes by
/// skipping there.
pub async fn fresh_postgres_schema() -> Option<String> {
    let Ok(base) = std::env::var(POSTGRES_URL_VAR) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "{POSTGRES_URL_VAR} is not set: CI must run the PostgreSQL tests"
        );
        eprintln!("skipped: {POSTGRES_URL_VAR} is not set");
        return None;
    };
    let schema = format!(
        "t_{}",
        rand::random::<[u8; 8]>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let options = PgConnectOptions::from_str(&base)
        .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR} is not a PostgreSQL URL: {e}"));
    let mut conn = PgConnection::connect_with(&options)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL ({POSTGRES_URL_VAR}): {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("create schema {schema}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("cannot create schema {schema}: {e}"));
    let separator = if base.contains('?') { '&' } else { '?' };
    Some(format!(
        "{base}{separator}options=-c%20search_path%3D{schema}"
    ))
}

/// An authorization code for client `c` and user `u`, issued at `now` for 60 seconds: what
/// the store's tests insert and take.
pub fn code(now: time::OffsetDateTime) -> portcullis_core::code::AuthorizationCode {
    use portcullis_core::redirect_uri::RedirectUri;
    use portcullis_core::scope::Scope;
    portcullis_core::code::AuthorizationCode {
        client_id: "c".into(),
        user_id: "u".into(),
        redirect_uri: RedirectUri::parse("https://a.example/cb").unwrap_or_else(|e| panic!("{e}")),
        redirect_uri_sent: true,
        scope: Scope::parse("openid").unwrap_or_else(|e| panic!("{e}")),
        audience: None,
        nonce: Some("n".into()),
        code_challenge: None,
        session_id: "s".into(),
        auth_time: now,
        expires_at: now + time::Duration::seconds(60),
    }
}
