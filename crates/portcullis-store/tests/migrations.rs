//! The PostgreSQL migrations stay in step with SQLite's: the same versions, and after
//! applying them the same tables, columns and indexes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use portcullis_store::{PgStore, SqliteStore, Store};
use sqlx::{Connection, Row};

fn migration_names(backend: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn both_backends_have_the_same_migrations() {
    let sqlite = migration_names("sqlite");
    assert!(sqlite.len() >= 12, "{sqlite:?}");
    assert_eq!(sqlite, migration_names("postgres"));
}

/// table → its columns and its indexes, sorted.
type Schema = BTreeMap<String, (Vec<String>, Vec<String>)>;

async fn sqlite_schema(url: &str) -> Schema {
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    let rows = sqlx::query(
        "select m.name, p.name from sqlite_master m join pragma_table_info(m.name) p
         where m.type = 'table' and m.name not like '\\_sqlx%' escape '\\' and m.name not like 'sqlite%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for r in rows {
        schema.entry(r.get(0)).or_default().0.push(r.get(1));
    }
    let indexes = sqlx::query(
        "select tbl_name, name from sqlite_master where type = 'index' and name not like 'sqlite_autoindex%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for r in indexes {
        schema.entry(r.get(0)).or_default().1.push(r.get(1));
    }
    schema
}

async fn postgres_schema(url: &str) -> Schema {
    let options = sqlx::postgres::PgConnectOptions::from_str(url).unwrap();
    let mut conn = sqlx::PgConnection::connect_with(&options).await.unwrap();
    // `rowid` stands in for SQLite's implicit one.
    let rows = sqlx::query(
        "select table_name::text, column_name::text from information_schema.columns
         where table_schema = current_schema() and table_name not like '\\_sqlx%' and column_name <> 'rowid'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for r in rows {
        schema.entry(r.get(0)).or_default().0.push(r.get(1));
    }
    // Primary keys and unique constraints are indexes in PostgreSQL, implicit in SQLite.
    let indexes = sqlx::query(
        "select i.tablename::text, i.indexname::text from pg_indexes i
         where i.schemaname = current_schema() and i.tablename not like '\\_sqlx%'
           and not exists (select 1 from pg_constraint c where c.conname = i.indexname)",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for r in indexes {
        schema.entry(r.get(0)).or_default().1.push(r.get(1));
    }
    schema
}

fn sorted(mut schema: Schema) -> Schema {
    for (columns, indexes) in schema.values_mut() {
        columns.sort();
        indexes.sort();
    }
    schema
}

#[tokio::test]
async fn both_backends_migrate_to_the_same_tables_columns_and_indexes() {
    let Some(pg_url) = portcullis_store::testing::fresh_postgres_schema().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}", dir.path().join("s.db").display());
    let sqlite = SqliteStore::connect(&sqlite_url).await.unwrap();
    let pg = PgStore::connect(&pg_url, 2).await.unwrap();
    for store in [&sqlite as &dyn Store, &pg] {
        assert!(store.ping().await.is_err(), "not ready before migrating");
        store.migrate().await.unwrap();
        store.ping().await.unwrap();
    }
    let sqlite = sorted(sqlite_schema(&sqlite_url).await);
    let pg = sorted(postgres_schema(&pg_url).await);
    assert!(sqlite.len() >= 15, "{sqlite:?}");
    assert_eq!(sqlite, pg);
}

/// Migration 12 rebuilds SQLite's `refresh_tokens` and `family_access_tokens` as WITHOUT
/// ROWID tables: what a database held before it is there after it, and the families still
/// own their tokens (deleting one deletes them).
#[tokio::test]
async fn sqlite_tokens_survive_their_tables_rebuilt_without_rowid() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let migrator = sqlx::migrate::Migrator::new(migrations).await.unwrap();
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    migrator.run_to(11, &mut conn).await.unwrap();
    sqlx::query(
        "insert into refresh_families (id, client_id, user_id, scope, session_id, auth_time, policy, created_at)
           values ('fam', 'app', 'user', 'openid offline_access', 'sess', 1, '{}', 1);
         insert into refresh_tokens (token_hash, family_id, generation, created_at, idle_expires_at, used_at)
           values ('old', 'fam', 0, 1, 100, 2), ('new', 'fam', 1, 2, 200, null);
         insert into family_access_tokens (jti, family_id, expires_at) values ('jti', 'fam', 300);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    type Token = (String, String, i64, i64, Option<i64>, Option<i64>);
    let tokens: Vec<Token> = sqlx::query_as(
        "select token_hash, family_id, generation, created_at, idle_expires_at, used_at
         from refresh_tokens order by generation",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        tokens,
        [
            ("old".into(), "fam".into(), 0, 1, Some(100), Some(2)),
            ("new".into(), "fam".into(), 1, 2, Some(200), None)
        ]
    );
    let jtis: Vec<(String, String, i64)> =
        sqlx::query_as("select jti, family_id, expires_at from family_access_tokens")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(jtis, [("jti".into(), "fam".into(), 300)]);
    for table in ["refresh_tokens", "family_access_tokens"] {
        let sql: String = sqlx::query_scalar("select sql from sqlite_master where name = $1")
            .bind(table)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert!(sql.ends_with("without rowid"), "{table}: {sql}");
    }
    sqlx::query("pragma foreign_keys = on")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("delete from refresh_families where id = 'fam'")
        .execute(&mut conn)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar(
        "select (select count(*) from refresh_tokens) + (select count(*) from family_access_tokens)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(left, 0, "the family's tokens went with it");
}
