//! Store conformance: the behaviour every `Store` implementation must have. Each test runs
//! twice, on SQLite (a fresh file) and on PostgreSQL (a fresh schema of the server named by
//! `PORTCULLIS_TEST_POSTGRES_URL`). A test gets two stores with their own pools on one
//! database, as two nodes have: the concurrency tests race across them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use portcullis_core::code::AuthorizationCode;
use portcullis_core::resource_server::ResourceServer;
use portcullis_core::scope::Scope;
use portcullis_core::secret::TokenHash;
use portcullis_core::user::User;
use portcullis_store::{
    FoundFamily, PgStore, SigningKeyRecord, SigningKeyState, SqliteStore, Store, StoreError,
    TakenCode, TenantImport, TokenUser, UserUpsert,
};
use time::{Duration, OffsetDateTime};

type Nodes = [Arc<dyn Store>; 2];

/// Runs each test on both backends.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("s.db").display());
                let a: Arc<dyn Store> = Arc::new(SqliteStore::connect(&url).await.unwrap());
                let b: Arc<dyn Store> = Arc::new(SqliteStore::connect(&url).await.unwrap());
                a.migrate().await.unwrap();
                super::$name([a, b]).await;
            })*
            use super::*;
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                let Some(url) = portcullis_store::testing::fresh_postgres_schema().await else {
                    return;
                };
                let a: Arc<dyn Store> = Arc::new(PgStore::connect(&url, 8).await.unwrap());
                let b: Arc<dyn Store> = Arc::new(PgStore::connect(&url, 8).await.unwrap());
                a.migrate().await.unwrap();
                super::$name([a, b]).await;
            })*
            use super::*;
        }
    };
}

on_both_backends!(
    a_code_is_taken_exactly_once_under_concurrency,
    an_unknown_code_is_unknown,
    tenant_import_is_idempotent_and_matches_users_by_email_case_insensitively,
    nodes_applying_one_tenant_file_at_once_create_each_entry_once,
    nodes_racing_for_a_node_secret_all_get_the_first_one,
    grants_accumulate_scopes,
    a_session_is_found_with_its_users_grant_to_the_client_and_audience,
    a_refresh_family_is_found_with_its_user,
    a_code_is_taken_with_its_user,
    within_the_leeway_of_the_latest_rotation_its_predecessor_may_be_exchanged_again,
    past_the_leeway_of_the_latest_rotation_its_predecessor_is_reuse,
    a_token_replaced_within_the_leeway_is_reuse,
    issuing_the_201st_refresh_token_of_a_user_and_client_revokes_the_oldest,
    concurrent_exchanges_of_one_refresh_token_leave_at_most_one_active_token,
    purging_forgets_old_revoked_families_but_keeps_their_access_tokens_revoked,
    there_is_one_current_and_one_next_signing_key,
    a_client_assertion_jti_is_accepted_once_across_nodes,
    login_counters_count_every_attempt_across_nodes,
    ping_reports_the_migrations_applied,
    log_batches_of_any_size_are_stored_whole,
    a_token_user_is_found_unknown_or_revoked,
    a_write_transaction_dropped_midway_leaves_nothing_open,
);

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn user(email: &str) -> UserUpsert {
    UserUpsert {
        user: User {
            id: format!("id-{email}"),
            email: email.into(),
            email_verified: false,
            name: None,
            given_name: None,
            family_name: None,
            nickname: None,
            picture: None,
            password_hash: Some("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into()),
            blocked: false,
            updated_at: now(),
            app_metadata: Default::default(),
            user_metadata: Default::default(),
            address: None,
            phone_number: None,
            phone_number_verified: false,
        },
        password_given: true,
    }
}

fn code() -> AuthorizationCode {
    portcullis_store::testing::code(now())
}

async fn a_code_is_taken_exactly_once_under_concurrency([store, other]: Nodes) {
    let hash = TokenHash::of("the code");
    store.insert_code(&hash, &code(), now()).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let node = if i % 2 == 0 { &store } else { &other };
            let (store, hash) = (node.clone(), hash.clone());
            tokio::spawn(async move {
                store
                    .take_code(&hash, now(), &format!("jti-{i}"), now(), "family")
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut taken = 0;
    let mut replays = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            TakenCode::Taken(c, user) => {
                assert_eq!(c, code());
                assert_eq!(user, None, "its user u does not exist");
                taken += 1;
            }
            TakenCode::Replayed {
                access_token_jti, ..
            } => replays.push(access_token_jti),
            TakenCode::Unknown => panic!("the code exists"),
        }
    }
    assert_eq!(taken, 1);
    assert_eq!(replays.len(), 19);
    // Every replay names the one token minted by the winner.
    assert!(replays.windows(2).all(|w| w[0] == w[1] && w[0].is_some()));
}

async fn an_unknown_code_is_unknown([store, _]: Nodes) {
    assert_eq!(
        store
            .take_code(&TokenHash::of("nope"), now(), "j", now(), "f")
            .await
            .unwrap(),
        TakenCode::Unknown
    );
}

async fn tenant_import_is_idempotent_and_matches_users_by_email_case_insensitively(
    [store, _]: Nodes,
) {
    let api = ResourceServer {
        identifier: "https://api.example/".into(),
        name: "API".into(),
        scopes: vec![],
        allow_offline_access: false,
        token_lifetime: 60,
        signing_alg: portcullis_core::client::SigningAlg::RS256,
        skip_consent_for_verifiable_first_party_clients: true,
    };
    let import = TenantImport {
        resource_servers: vec![api.clone()],
        users: vec![user("a@example.com")],
        clients: vec![],
        client_grants: vec![],
    };
    let first = store.import_tenant(&import, now()).await.unwrap();
    assert!(first.iter().all(|o| o.created));
    let mut again = import.clone();
    again.users = vec![user("A@Example.com")];
    again.resource_servers[0].name = "Renamed".into();
    let second = store.import_tenant(&again, now()).await.unwrap();
    assert!(second.iter().all(|o| !o.created));
    assert_eq!(
        store
            .find_resource_server(&api.identifier)
            .await
            .unwrap()
            .unwrap()
            .name,
        "Renamed"
    );
    assert!(
        store
            .find_user_by_email("a@EXAMPLE.com")
            .await
            .unwrap()
            .is_some()
    );
}

async fn nodes_racing_for_a_node_secret_all_get_the_first_one([store, other]: Nodes) {
    let tasks: Vec<_> = (0..10u8)
        .map(|i| {
            let store = if i % 2 == 0 { &store } else { &other }.clone();
            tokio::spawn(async move { store.node_secret("k", &[i; 4], now()).await.unwrap() })
        })
        .collect();
    let mut values = Vec::new();
    for t in tasks {
        values.push(t.await.unwrap());
    }
    assert!(values.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(
        store.find_node_secret("k").await.unwrap(),
        Some(values[0].clone())
    );
}

/// Imports the user `a@example.com` and the client `c`; returns the user's id.
async fn a_user_and_a_client(store: &Arc<dyn Store>) -> &'static str {
    store
        .import_tenant(
            &TenantImport {
                users: vec![user("a@example.com")],
                ..Default::default()
            },
            now(),
        )
        .await
        .unwrap();
    let client = portcullis_store::ClientUpsert {
        client: portcullis_core::client::Client {
            client_id: "c".into(),
            name: "C".into(),
            app_type: portcullis_core::client::AppType::RegularWeb,
            is_first_party: true,
            callbacks: vec![],
            allowed_logout_urls: vec![],
            web_origins: vec![],
            grant_types: vec![],
            token_endpoint_auth_method:
                portcullis_core::client::TokenEndpointAuthMethod::ClientSecretPost,
            secret_hash: Some(TokenHash::of("s")),
            jwt_configuration: Default::default(),
            refresh_token: portcullis_core::refresh::RefreshTokenPolicy::default_for(
                portcullis_core::client::AppType::RegularWeb,
            ),
            credentials: vec![],
        },
        match_on_client_id: true,
        secret_given: true,
    };
    store
        .import_tenant(
            &TenantImport {
                clients: vec![client],
                ..Default::default()
            },
            now(),
        )
        .await
        .unwrap();
    "id-a@example.com"
}

async fn grants_accumulate_scopes([store, _]: Nodes) {
    let uid = a_user_and_a_client(&store).await;
    store
        .save_grant(uid, "c", Some("aud"), &Scope::parse("a b").unwrap(), now())
        .await
        .unwrap();
    store
        .save_grant(uid, "c", Some("aud"), &Scope::parse("c").unwrap(), now())
        .await
        .unwrap();
    assert_eq!(
        store
            .find_grant(uid, "c", Some("aud"))
            .await
            .unwrap()
            .map(|s| s.to_string()),
        Some("a b c".into())
    );
    assert_eq!(store.find_grant(uid, "c", None).await.unwrap(), None);
}

async fn a_session_is_found_with_its_users_grant_to_the_client_and_audience([store, other]: Nodes) {
    let uid = a_user_and_a_client(&store).await;
    let session = portcullis_core::session::Session {
        id: "sid-1".into(),
        user_id: uid.into(),
        auth_time: now(),
        last_seen_at: now(),
        expires_at: now() + Duration::days(1),
        initial_ip: Some("192.0.2.1".into()),
        user_agent: None,
    };
    let cookie = TokenHash::of("the session cookie");
    store.insert_session(&session, &cookie).await.unwrap();
    let found = |client: &'static str, audience: Option<&'static str>| {
        let other = other.clone();
        let cookie = cookie.clone();
        async move {
            other
                .find_session_with_grant(&cookie, client, audience)
                .await
                .unwrap()
        }
    };
    assert_eq!(found("c", Some("aud")).await, Some((session.clone(), None)));
    store
        .save_grant(uid, "c", Some("aud"), &Scope::parse("a b").unwrap(), now())
        .await
        .unwrap();
    store
        .save_grant(uid, "c", None, &Scope::parse("openid").unwrap(), now())
        .await
        .unwrap();
    let (with_grant, granted) = found("c", Some("aud")).await.unwrap();
    assert_eq!(with_grant, session);
    assert_eq!(granted.map(|s| s.to_string()), Some("a b".into()));
    let (_, granted) = found("c", None).await.unwrap();
    assert_eq!(granted.map(|s| s.to_string()), Some("openid".into()));
    assert_eq!(
        found("c", Some("other")).await,
        Some((session.clone(), None))
    );
    assert_eq!(found("d", Some("aud")).await, Some((session, None)));
    assert_eq!(
        other
            .find_session_with_grant(&TokenHash::of("another cookie"), "c", None)
            .await
            .unwrap(),
        None
    );
}

fn family(id: &str, created_at: OffsetDateTime) -> portcullis_core::refresh::RefreshFamily {
    portcullis_core::refresh::RefreshFamily {
        id: id.into(),
        client_id: "c".into(),
        user_id: "u".into(),
        audience: None,
        scope: Scope::parse("openid offline_access").unwrap(),
        session_id: "s".into(),
        auth_time: now(),
        policy: portcullis_core::refresh::RefreshTokenPolicy::default_for(
            portcullis_core::client::AppType::Spa,
        ),
        created_at,
    }
}

/// Imports a user with every column set, so that one missing from a read that finds the
/// user with another table's row shows; returns the user as `find_user` reads it.
async fn a_user_with_every_column_set(store: &Arc<dyn Store>) -> User {
    let mut full = user("full@example.com");
    let u = &mut full.user;
    u.email_verified = true;
    (u.name, u.given_name, u.family_name) =
        (Some("F L".into()), Some("F".into()), Some("L".into()));
    (u.nickname, u.picture) = (Some("f".into()), Some("https://p.example/f.png".into()));
    u.blocked = true;
    u.app_metadata.insert("plan".into(), "gold".into());
    u.user_metadata.insert("theme".into(), "dark".into());
    u.address = Some(serde_json::Map::from_iter([(
        "country".into(),
        "FR".into(),
    )]));
    (u.phone_number, u.phone_number_verified) = (Some("+33100000000".into()), true);
    let users = vec![full.clone()];
    store
        .import_tenant(
            &TenantImport {
                users,
                ..Default::default()
            },
            now(),
        )
        .await
        .unwrap();
    store.find_user(&full.user.id).await.unwrap().unwrap()
}

async fn a_code_is_taken_with_its_user([store, other]: Nodes) {
    let stored = a_user_with_every_column_set(&store).await;
    let hash = TokenHash::of("a code of the full user");
    let theirs = AuthorizationCode {
        user_id: stored.id.clone(),
        ..code()
    };
    store.insert_code(&hash, &theirs, now()).await.unwrap();
    assert_eq!(
        other
            .take_code(&hash, now(), "j", now(), "f")
            .await
            .unwrap(),
        TakenCode::Taken(theirs, Some(Box::new(stored)))
    );
}

/// A refresh token's family is found with its user, or without one that is gone, and
/// as revoked once it is.
async fn a_refresh_family_is_found_with_its_user([store, other]: Nodes) {
    let stored = a_user_with_every_column_set(&store).await;
    let mut theirs = family("f-full", now());
    theirs.user_id = stored.id.clone();
    let orphan = family("f-orphan", now()); // its user "u" does not exist
    for (f, token) in [(&theirs, "t-full"), (&orphan, "t-orphan")] {
        let at = (f.id.as_str(), now() + Duration::hours(1));
        store
            .create_refresh_family(f, &TokenHash::of(token), at)
            .await
            .unwrap();
    }
    let found = |token: &'static str| {
        let other = other.clone();
        async move {
            other
                .find_refresh_family_with_user(&TokenHash::of(token))
                .await
                .unwrap()
        }
    };
    let found_as = |family, user, revoked| {
        Some(FoundFamily {
            family,
            user,
            revoked,
        })
    };
    assert_eq!(found("t-full").await, found_as(theirs, Some(stored), false));
    assert_eq!(
        found("t-orphan").await,
        found_as(orphan.clone(), None, false)
    );
    assert_eq!(found("t-unknown").await, None);
    store
        .revoke_refresh_family(&orphan.id, "test", now())
        .await
        .unwrap();
    assert_eq!(found("t-orphan").await, found_as(orphan, None, true));
}

fn exchange<'a>(
    hash: &'a TokenHash,
    new: &'a TokenHash,
    jti: &'a str,
) -> portcullis_store::RefreshExchange<'a> {
    portcullis_store::RefreshExchange {
        token_hash: hash,
        client_id: "c",
        now: now(),
        new_token_hash: new,
        access_token: (jti, now() + Duration::hours(1)),
    }
}

/// Exchanges `token` for `new` `seconds` after `now()`: "exchanged" (rotated or replaced
/// within the leeway) or "reuse".
async fn exchange_at(store: &Arc<dyn Store>, seconds: i64, token: &str, new: &str) -> &'static str {
    let (token, new) = (TokenHash::of(token), TokenHash::of(new));
    let jti = format!("j-{seconds}-{}", new.as_str());
    let ex = portcullis_store::RefreshExchange {
        now: now() + Duration::seconds(seconds),
        ..exchange(&token, &new, &jti)
    };
    match store.exchange_refresh_token(&ex).await.unwrap() {
        portcullis_store::RefreshOutcome::Exchanged { rotated: true, .. } => "exchanged",
        portcullis_store::RefreshOutcome::ReuseDetected { .. } => "reuse",
        other => panic!("{other:?}"),
    }
}

/// A family of the client "c" whose tokens rotate with a leeway of 10 s, its first token
/// `t0`.
async fn a_family_with_a_leeway_of_ten_seconds(store: &Arc<dyn Store>) {
    let mut f = family("f", now());
    f.policy.leeway = 10;
    store
        .create_refresh_family(&f, &TokenHash::of("t0"), ("j0", now() + Duration::hours(1)))
        .await
        .unwrap();
}

/// The leeway runs from the rotation of the immediate predecessor, the latest one: the
/// rotation's time is recorded at every rotation, and an older token is reuse whenever it
/// comes.
async fn within_the_leeway_of_the_latest_rotation_its_predecessor_may_be_exchanged_again(
    [store, other]: Nodes,
) {
    a_family_with_a_leeway_of_ten_seconds(&store).await;
    assert_eq!(exchange_at(&store, 0, "t0", "t1").await, "exchanged");
    assert_eq!(
        exchange_at(&other, 10, "t0", "t1b").await,
        "exchanged",
        "t0 within the leeway"
    );
    assert_eq!(exchange_at(&store, 20, "t1b", "t2").await, "exchanged");
    // 29 s after the first rotation but 9 s after the latest: t1b is the predecessor.
    assert_eq!(
        exchange_at(&other, 29, "t1b", "t2b").await,
        "exchanged",
        "t1b within the leeway"
    );
    assert_eq!(
        exchange_at(&store, 29, "t0", "t3").await,
        "reuse",
        "t0 is older than the predecessor"
    );
    assert_eq!(
        other
            .exchange_refresh_token(&exchange(&TokenHash::of("t2b"), &TokenHash::of("t3"), "j3"))
            .await
            .unwrap(),
        portcullis_store::RefreshOutcome::Refused(portcullis_core::refresh::Refusal::Revoked),
        "the reuse revoked the family"
    );
}

/// Past the leeway of the latest rotation its predecessor is reuse.
async fn past_the_leeway_of_the_latest_rotation_its_predecessor_is_reuse([store, _]: Nodes) {
    a_family_with_a_leeway_of_ten_seconds(&store).await;
    assert_eq!(exchange_at(&store, 100, "t0", "t1").await, "exchanged");
    assert_eq!(exchange_at(&store, 111, "t0", "t1b").await, "reuse");
}

/// The current token that an exchange of its predecessor within the leeway replaced is
/// reuse, though its generation is still the family's.
async fn a_token_replaced_within_the_leeway_is_reuse([store, other]: Nodes) {
    a_family_with_a_leeway_of_ten_seconds(&store).await;
    assert_eq!(exchange_at(&store, 0, "t0", "t1").await, "exchanged");
    assert_eq!(exchange_at(&other, 5, "t0", "t1b").await, "exchanged");
    assert_eq!(exchange_at(&store, 6, "t1", "t2").await, "reuse");
}

async fn issuing_the_201st_refresh_token_of_a_user_and_client_revokes_the_oldest(
    [store, _]: Nodes,
) {
    for i in 0..201 {
        let f = family(&format!("f{i}"), now() + Duration::seconds(i));
        store
            .create_refresh_family(
                &f,
                &TokenHash::of(&format!("t{i}")),
                (&format!("j{i}"), now() + Duration::hours(1)),
            )
            .await
            .unwrap();
    }
    let oldest = store
        .exchange_refresh_token(&exchange(&TokenHash::of("t0"), &TokenHash::of("n0"), "x0"))
        .await
        .unwrap();
    assert_eq!(
        oldest,
        portcullis_store::RefreshOutcome::Refused(portcullis_core::refresh::Refusal::Revoked)
    );
    assert!(
        store.is_access_token_revoked("j0").await.unwrap(),
        "its access token too"
    );
    let second = store
        .exchange_refresh_token(&exchange(&TokenHash::of("t1"), &TokenHash::of("n1"), "x1"))
        .await
        .unwrap();
    assert!(
        matches!(
            second,
            portcullis_store::RefreshOutcome::Exchanged { rotated: true, .. }
        ),
        "{second:?}"
    );
}

async fn concurrent_exchanges_of_one_refresh_token_leave_at_most_one_active_token(
    [store, other]: Nodes,
) {
    store
        .create_refresh_family(&family("f", now()), &TokenHash::of("t"), ("j", now()))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = if i % 2 == 0 { &store } else { &other }.clone();
            tokio::spawn(async move {
                let (hash, new) = (TokenHash::of("t"), TokenHash::of(&format!("n{i}")));
                store
                    .exchange_refresh_token(&exchange(&hash, &new, &format!("x{i}")))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut exchanged = 0;
    for t in tasks {
        match t.await.unwrap() {
            portcullis_store::RefreshOutcome::Exchanged { .. } => exchanged += 1,
            portcullis_store::RefreshOutcome::ReuseDetected { .. }
            | portcullis_store::RefreshOutcome::Refused(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(exchanged, 1);
    let mut active = 0;
    for i in 0..10 {
        let (hash, new) = (
            TokenHash::of(&format!("n{i}")),
            TokenHash::of(&format!("m{i}")),
        );
        if matches!(
            store
                .exchange_refresh_token(&exchange(&hash, &new, &format!("y{i}")))
                .await
                .unwrap(),
            portcullis_store::RefreshOutcome::Exchanged { .. }
        ) {
            active += 1;
        }
    }
    assert!(active <= 1, "never two chains: {active}");
}

async fn purging_forgets_old_revoked_families_but_keeps_their_access_tokens_revoked(
    [store, _]: Nodes,
) {
    store
        .create_refresh_family(
            &family("f", now()),
            &TokenHash::of("t"),
            ("j", now() + Duration::days(30)),
        )
        .await
        .unwrap();
    store
        .revoke_refresh_family("f", "test", now())
        .await
        .unwrap();
    store
        .purge_expired(now() + Duration::hours(1))
        .await
        .unwrap();
    assert!(
        store
            .find_refresh_family_with_user(&TokenHash::of("t"))
            .await
            .unwrap()
            .is_some(),
        "kept a day"
    );
    store
        .purge_expired(now() + Duration::days(2))
        .await
        .unwrap();
    assert!(
        store
            .find_refresh_family_with_user(&TokenHash::of("t"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.is_access_token_revoked("j").await.unwrap());
}

async fn nodes_applying_one_tenant_file_at_once_create_each_entry_once([store, other]: Nodes) {
    let import = TenantImport {
        users: vec![user("a@example.com"), user("b@example.com")],
        ..Default::default()
    };
    let (a, b) = tokio::join!(
        store.import_tenant(&import, now()),
        other.import_tenant(&import, now())
    );
    let created = a
        .unwrap()
        .iter()
        .chain(&b.unwrap())
        .filter(|o| o.created)
        .count();
    assert_eq!(
        created, 2,
        "each user is created by one node and updated by the other"
    );
    let (users, total) = store.list_users(None, 0, 10).await.unwrap();
    assert_eq!((users.len(), total), (2, 2));
}

fn key(kid: &str, state: SigningKeyState) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        alg: "RS256".into(),
        private_key_enc: vec![1, 2, 3],
        public_jwk: "{}".into(),
        state,
        created_at: now(),
    }
}

async fn there_is_one_current_and_one_next_signing_key([store, other]: Nodes) {
    let (ka, kb) = (
        key("a", SigningKeyState::Current),
        key("b", SigningKeyState::Current),
    );
    let (a, b) = tokio::join!(store.insert_signing_key(&ka), other.insert_signing_key(&kb));
    assert!(
        matches!(
            (&a, &b),
            (Ok(()), Err(StoreError::Conflict { .. })) | (Err(StoreError::Conflict { .. }), Ok(()))
        ),
        "a second current key is a conflict: {a:?} {b:?}"
    );
    store
        .insert_signing_key(&key("n", SigningKeyState::Next))
        .await
        .unwrap();
    // One current key per algorithm.
    other
        .insert_signing_key(&SigningKeyRecord {
            alg: "ES256".into(),
            ..key("e", SigningKeyState::Current)
        })
        .await
        .unwrap();
    let currents = store
        .signing_keys()
        .await
        .unwrap()
        .iter()
        .filter(|k| k.state == SigningKeyState::Current)
        .count();
    assert_eq!(currents, 2);
    other
        .rotate_signing_keys(&[key("n2", SigningKeyState::Next)], now(), now())
        .await
        .unwrap();
    let keys = store.signing_keys().await.unwrap();
    let of = |state| {
        keys.iter()
            .filter(|k| k.state == state)
            .map(|k| k.kid.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(of(SigningKeyState::Current), ["n"]);
    assert_eq!(of(SigningKeyState::Next), ["n2"]);
    assert_eq!(
        of(SigningKeyState::Previous).len(),
        2,
        "the RS256 and the ES256 key"
    );
}

async fn a_client_assertion_jti_is_accepted_once_across_nodes([store, other]: Nodes) {
    let expires = now() + Duration::minutes(5);
    let (a, b) = tokio::join!(
        store.use_assertion_jti("c", "jti-1", expires),
        other.use_assertion_jti("c", "jti-1", expires)
    );
    assert_eq!([a.unwrap(), b.unwrap()].iter().filter(|ok| **ok).count(), 1);
    assert!(
        other
            .use_assertion_jti("d", "jti-1", expires)
            .await
            .unwrap(),
        "jtis are per client"
    );
}

async fn login_counters_count_every_attempt_across_nodes([store, other]: Nodes) {
    let window = Duration::minutes(15);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = if i % 2 == 0 { &store } else { &other }.clone();
            tokio::spawn(async move { store.bump_login_counter("k", now(), window).await })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap().unwrap().failures);
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=20).collect::<Vec<i64>>(),
        "each bump sees its own count"
    );
    let later = store
        .bump_login_counter("k", now() + window, window)
        .await
        .unwrap();
    assert_eq!(later.failures, 1, "a new window starts over");
}

async fn ping_reports_the_migrations_applied([store, _]: Nodes) {
    store.ping().await.unwrap();
    let status = store.pool_status();
    assert!(status.open >= 1 && status.open <= status.max, "{status:?}");
}

fn log_event(i: usize) -> portcullis_core::log::LogEvent {
    use portcullis_core::log::{LogEvent, LogType};
    LogEvent {
        id: format!("log-{i:04}"),
        date: now() + Duration::seconds(i as i64),
        log_type: if i.is_multiple_of(2) {
            LogType::SuccessLogin
        } else {
            LogType::FailedLogin
        },
        description: format!("event {i}"),
        client_id: i.is_multiple_of(3).then(|| format!("client-{i}")),
        user_id: i.is_multiple_of(5).then(|| format!("user-{i}")),
        ip: Some("192.0.2.7".into()),
    }
}

async fn log_batches_of_any_size_are_stored_whole([store, _]: Nodes) {
    // Sizes around the rows one statement carries (one, many, and more than one statement).
    let mut expected = Vec::new();
    for size in [1, 2, 127, 128, 129, 300] {
        let batch: Vec<_> = (expected.len()..expected.len() + size)
            .map(log_event)
            .collect();
        store.insert_logs(&batch).await.unwrap();
        expected.extend(batch);
    }
    store.insert_logs(&[]).await.unwrap();
    let (page, total) = store.list_logs(None, 0, 1000).await.unwrap();
    assert_eq!(total, expected.len() as i64);
    let mut stored = page;
    stored.reverse(); // newest first
    assert_eq!(stored, expected, "every field of every event, in order");
    // A batch that fails (an id already stored) stores none of its events.
    let failing: Vec<_> = (5000..5200).map(log_event).chain([log_event(0)]).collect();
    assert!(store.insert_logs(&failing).await.is_err());
    let (_, total) = store.list_logs(None, 0, 1).await.unwrap();
    assert_eq!(
        total,
        expected.len() as i64,
        "a failed batch leaves nothing behind"
    );
}

async fn a_token_user_is_found_unknown_or_revoked([store, _]: Nodes) {
    let uid = a_user_and_a_client(&store).await;
    let found = store.find_user(uid).await.unwrap().unwrap();
    let id = found.id.clone();
    assert_eq!(
        store.token_user(&id, "j1").await.unwrap(),
        TokenUser::Found(Box::new(found))
    );
    assert_eq!(
        store.token_user("no-such-user", "j1").await.unwrap(),
        TokenUser::Unknown
    );
    store
        .revoke_access_token("j1", now() + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(
        store.token_user(&id, "j1").await.unwrap(),
        TokenUser::Revoked
    );
    assert_eq!(
        store.token_user("no-such-user", "j1").await.unwrap(),
        TokenUser::Revoked,
        "a revoked token names no one"
    );
    assert!(
        matches!(store.token_user(&id, "j2").await.unwrap(), TokenUser::Found(u) if u.id == id),
        "another token of the user stands"
    );
}

/// Drops `save_grant` transactions of `uid` at growing delays, some between `begin` and
/// `commit`.
async fn drop_transactions_midway(store: &Arc<dyn Store>, uid: &str) {
    let read = Scope::parse("openid read").unwrap();
    for i in 0..400u64 {
        let audience = format!("aud{}", i % 7);
        let save = store.save_grant(uid, "c", Some(&audience), &read, now());
        let _ = tokio::time::timeout(std::time::Duration::from_micros(i * 5), save).await;
    }
}

#[tokio::test]
async fn an_in_memory_database_survives_dropped_transactions() {
    // Its one connection is the database: a dropped transaction is rolled back on it, not
    // closed with it.
    let store: Arc<dyn Store> = Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
    store.migrate().await.unwrap();
    let uid = a_user_and_a_client(&store).await;
    drop_transactions_midway(&store, uid).await;
    let write = Scope::parse("openid write").unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(8),
        store.save_grant(uid, "c", None, &write, now()),
    )
    .await
    .expect("no transaction left open")
    .unwrap();
    assert!(
        store.find_user(uid).await.unwrap().is_some(),
        "the data is still there"
    );
    assert_eq!(store.find_grant(uid, "c", None).await.unwrap(), Some(write));
}

async fn a_write_transaction_dropped_midway_leaves_nothing_open([store, other]: Nodes) {
    // A request whose client goes away is dropped at an `.await`, possibly between `begin`
    // and `commit`. Its connection must not go back to the pool inside that transaction
    // (holding the write lock, or making the next `begin` fail).
    let uid = a_user_and_a_client(&store).await;
    drop_transactions_midway(&store, uid).await;
    let write = Scope::parse("openid write").unwrap();
    // The other node first, on the keys the dropped transactions locked: it would wait for
    // locks an orphaned transaction holds (PostgreSQL would otherwise fold that transaction
    // silently into the next one its connection runs).
    let done = tokio::time::timeout(std::time::Duration::from_secs(8), async {
        for i in 0..14 {
            let node = if i < 7 { &other } else { &store };
            let audience = format!("aud{}", i % 7);
            node.save_grant(uid, "c", Some(&audience), &write, now())
                .await
                .expect("a write after the dropped ones");
        }
        store
            .save_grant(uid, "c", None, &write, now())
            .await
            .expect("a write after the dropped ones");
    })
    .await;
    assert!(
        done.is_ok(),
        "writes after dropped transactions waited on a lock"
    );
    assert_eq!(other.find_grant(uid, "c", None).await.unwrap(), Some(write));
}
