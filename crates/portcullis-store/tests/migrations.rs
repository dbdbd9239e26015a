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
    assert!(sqlite.len() >= 11, "{sqlite:?}");
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
