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

/// A new SQLite database in `dir` with the migrations up to `version` applied, then
/// `seed` run, then the rest of the migrations applied (by the store): the store and a
/// connection to the database.
async fn sqlite_seeded_at(
    version: i64,
    seed: String,
    dir: &Path,
) -> (SqliteStore, sqlx::SqliteConnection) {
    let url = format!("sqlite://{}?mode=rwc", dir.join("m.db").display());
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let migrator = sqlx::migrate::Migrator::new(migrations).await.unwrap();
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    migrator.run_to(version, &mut conn).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(seed))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    (store, conn)
}

/// Migration 12 rebuilds SQLite's `refresh_tokens` and `family_access_tokens` as WITHOUT
/// ROWID tables: what a database held before it is there after it, and the families still
/// own their tokens (deleting one deletes them).
#[tokio::test]
async fn sqlite_tokens_survive_their_tables_rebuilt_without_rowid() {
    let dir = tempfile::tempdir().unwrap();
    let seed = "insert into refresh_families (id, client_id, user_id, scope, session_id, auth_time, policy, created_at)
           values ('fam', 'app', 'user', 'openid offline_access', 'sess', 1, '{}', 1);
         insert into refresh_tokens (token_hash, family_id, generation, created_at, idle_expires_at, used_at)
           values ('old', 'fam', 0, 1, 100, 2), ('new', 'fam', 1, 2, 200, null);
         insert into family_access_tokens (jti, family_id, expires_at) values ('jti', 'fam', 300);";
    let (_store, mut conn) = sqlite_seeded_at(11, seed.into(), dir.path()).await;
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

/// Two families at migration 12, one of them rotated once (its old token carries its own
/// `used_at`), with the access tokens minted from them.
fn rotated_before_13() -> String {
    use portcullis_core::secret::TokenHash;
    let (old, new) = (TokenHash::of("old"), TokenHash::of("new"));
    format!(
        "insert into refresh_families (id, client_id, user_id, scope, session_id, auth_time, policy,
            current_generation, created_at)
          values ('fam', 'c', 'u', 'openid offline_access', 's', 1800000000,
            '{{\"rotation_type\":\"rotating\",\"expiration_type\":\"non-expiring\",\"leeway\":10,\"token_lifetime\":31557600,\"infinite_token_lifetime\":true,\"idle_token_lifetime\":2592000,\"infinite_idle_token_lifetime\":true}}',
            1, 1800000000);
        insert into refresh_families (id, client_id, user_id, scope, session_id, auth_time, policy,
            current_generation, created_at)
          select 'other', client_id, user_id, scope, session_id, auth_time, policy, 0, created_at
          from refresh_families where id = 'fam';
        insert into refresh_tokens (token_hash, family_id, generation, created_at, used_at)
          values ('{old}', 'fam', 0, 1800000000, 1800000100);
        insert into refresh_tokens (token_hash, family_id, generation, created_at, used_at)
          values ('{new}', 'fam', 1, 1800000100, null);
        insert into family_access_tokens (jti, family_id, expires_at) values ('j0', 'fam', 1800003600);
        insert into family_access_tokens (jti, family_id, expires_at) values ('j1', 'fam', 1800003700);
        insert into family_access_tokens (jti, family_id, expires_at) values ('k0', 'other', 1800003600);",
        old = old.as_str(),
        new = new.as_str(),
    )
}

/// The access tokens, by family and `jti`.
const ACCESS_TOKENS: &str =
    "select family_id, jti, expires_at from family_access_tokens order by family_id, jti";

/// After migration 13, on a database that had a rotated family: the access tokens are all
/// there, keyed by family, and are revoked with their family (and only with theirs); the
/// token rotated before it keeps its own rotation time, so it may be exchanged again within
/// the leeway of it and is reuse past it.
async fn check_after_13(store: &dyn Store, access_tokens: Vec<(String, String, i64)>) {
    use portcullis_core::secret::TokenHash;
    use portcullis_store::{RefreshExchange, RefreshOutcome};
    assert_eq!(
        access_tokens,
        [
            ("fam".into(), "j0".into(), 1_800_003_600),
            ("fam".into(), "j1".into(), 1_800_003_700),
            ("other".into(), "k0".into(), 1_800_003_600)
        ]
    );
    let at = |seconds: i64| time::OffsetDateTime::from_unix_timestamp(seconds).unwrap();
    let (old, next) = (TokenHash::of("old"), TokenHash::of("next"));
    let ex = |now: i64, jti: &'static str| RefreshExchange {
        token_hash: &old,
        client_id: "c",
        now: at(now),
        new_token_hash: &next,
        access_token: (jti, at(1_800_003_600)),
    };
    // 5 s after its rotation before the migration: within the leeway.
    let again = store
        .exchange_refresh_token(&ex(1_800_000_105, "j2"))
        .await
        .unwrap();
    assert!(
        matches!(again, RefreshOutcome::Exchanged { rotated: true, .. }),
        "{again:?}"
    );
    // 11 s after it: reuse, which revokes the family and its access tokens.
    let reuse = store
        .exchange_refresh_token(&ex(1_800_000_111, "j3"))
        .await
        .unwrap();
    assert!(
        matches!(reuse, RefreshOutcome::ReuseDetected { .. }),
        "{reuse:?}"
    );
    for jti in ["j0", "j1", "j2"] {
        assert!(store.is_access_token_revoked(jti).await.unwrap(), "{jti}");
    }
    assert!(!store.is_access_token_revoked("k0").await.unwrap());
}

/// Migration 13 on SQLite: `family_access_tokens` rebuilt keyed by family (WITHOUT ROWID,
/// its `family_id` index gone), `refresh_families.rotated_at` added.
#[tokio::test]
async fn sqlite_migration_13_keeps_tokens_and_their_rotation_times() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut conn) = sqlite_seeded_at(12, rotated_before_13(), dir.path()).await;
    let sql: String =
        sqlx::query_scalar("select sql from sqlite_master where name = 'family_access_tokens'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(sql.contains("primary key (family_id, jti)"), "{sql}");
    assert!(sql.ends_with("without rowid"), "{sql}");
    let indexes: i64 = sqlx::query_scalar(
        "select count(*) from sqlite_master where type = 'index' and tbl_name = 'family_access_tokens'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(indexes, 0, "the family_id index is gone");
    let access_tokens = sqlx::query_as(ACCESS_TOKENS)
        .fetch_all(&mut conn)
        .await
        .unwrap();
    check_after_13(&store, access_tokens).await;
}

/// Migration 13 on PostgreSQL: `family_access_tokens` keyed by family, its `family_id`
/// index gone, `refresh_families.rotated_at` added.
#[tokio::test]
async fn postgres_migration_13_keeps_tokens_and_their_rotation_times() {
    let Some(url) = portcullis_store::testing::fresh_postgres_schema().await else {
        return;
    };
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    let migrator = sqlx::migrate::Migrator::new(migrations).await.unwrap();
    let options = sqlx::postgres::PgConnectOptions::from_str(&url).unwrap();
    let mut conn = sqlx::PgConnection::connect_with(&options).await.unwrap();
    migrator.run_to(12, &mut conn).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(rotated_before_13()))
        .execute(&mut conn)
        .await
        .unwrap();

    let store = PgStore::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let key: String = sqlx::query_scalar(
        "select pg_get_constraintdef(c.oid) from pg_constraint c
         where c.conrelid = 'family_access_tokens'::regclass and c.contype = 'p'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(key, "PRIMARY KEY (family_id, jti)");
    let indexes: i64 = sqlx::query_scalar(
        "select count(*) from pg_indexes where schemaname = current_schema() and tablename = 'family_access_tokens'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        indexes, 1,
        "the primary key's only: the family_id index is gone"
    );
    let access_tokens = sqlx::query_as(ACCESS_TOKENS)
        .fetch_all(&mut conn)
        .await
        .unwrap();
    check_after_13(&store, access_tokens).await;
}
