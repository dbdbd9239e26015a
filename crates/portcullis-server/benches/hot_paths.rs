//! Micro-benchmarks of the hot paths: JWT signing and verification per algorithm, token hashing, password
//! verification at the default Argon2id cost, the authorization request parser and its two
//! validation stages, and the store's code and refresh-token operations on SQLite (a file,
//! WAL, as served).
//!
//!   cargo bench -p portcullis-server --bench hot_paths
//!
//! Figures go to docs/performance.md with the machine they were measured on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use portcullis_core::authorize;
use portcullis_core::client::{
    AppType, Client, JwtConfiguration, SigningAlg, TokenEndpointAuthMethod,
};
use portcullis_core::code::AuthorizationCode;
use portcullis_core::params::Params;
use portcullis_core::redirect_uri::RedirectUri;
use portcullis_core::refresh::{RefreshFamily, RefreshTokenPolicy, RotationType};
use portcullis_core::resource_server::{ApiScope, ResourceServer};
use portcullis_core::scope::Scope;
use portcullis_core::secret::TokenHash;
use portcullis_server::config::{MasterKeySource, PasswordHashing};
use portcullis_server::crypto::MasterKey;
use portcullis_server::keys::SigningKeys;
use portcullis_server::password::PasswordHasher;
use portcullis_store::{RefreshExchange, SqliteStore, Store};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

async fn store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    Arc::new(store)
}

/// An access token's claims as the token endpoint mints them.
fn access_claims() -> Map<String, Value> {
    let Value::Object(claims) = json!({
        "iss": "https://id.example.com/",
        "sub": "auth0|0123456789abcdef01234567",
        "aud": ["https://api.example.com/", "https://id.example.com/userinfo"],
        "azp": "abcdefghijklmnopqrstuvwxyz012345",
        "iat": 1_800_000_000, "exp": 1_800_086_400,
        "scope": "openid profile email read:items offline_access",
        "jti": "0123456789abcdefghijklmnopqrstuv",
    }) else {
        unreachable!()
    };
    claims
}

fn signing(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let keys = rt.block_on(async {
        let store = store(&dir).await;
        let (master, _) = MasterKey::load(&MasterKeySource::Given(
            "a benchmark master key, at least 32 characters".into(),
        ))
        .unwrap();
        SigningKeys::load_or_create(store.as_ref(), Arc::new(master), now())
            .await
            .unwrap()
    });
    let claims = access_claims();
    let mut group = c.benchmark_group("sign a JWT");
    for alg in SigningAlg::ALL {
        group.bench_with_input(BenchmarkId::from_parameter(alg.as_str()), &alg, |b, alg| {
            b.iter(|| keys.sign(*alg, black_box(&claims)).unwrap())
        });
    }
    group.finish();
    // What userinfo and every API call through `verify` pay per access token: the first
    // time a token is presented (a verification), and again (the keys remember it).
    let (issuer, audience) = (&claims["iss"], &claims["aud"][0]);
    let (Some(issuer), Some(audience)) = (issuer.as_str(), audience.as_str()) else {
        unreachable!("access_claims has both")
    };
    // More distinct tokens than the keys remember, presented in turn: each is forgotten
    // before it comes round again, so every presentation is a first one.
    let fresh = |alg: SigningAlg| -> Vec<String> {
        (0..4 * 1024)
            .map(|n| {
                let mut claims = claims.clone();
                claims.insert("jti".into(), json!(format!("bench-{n}")));
                keys.sign(alg, &claims).unwrap()
            })
            .collect()
    };
    let mut group = c.benchmark_group("verify a JWT");
    for alg in SigningAlg::ALL {
        let tokens = fresh(alg);
        group.bench_with_input(
            BenchmarkId::from_parameter(alg.as_str()),
            &tokens,
            |b, ts| {
                let mut next = ts.iter().cycle();
                b.iter(|| {
                    let t = next.next().unwrap();
                    keys.verify(black_box(t), issuer, audience, now()).unwrap()
                })
            },
        );
    }
    group.finish();
    let mut group = c.benchmark_group("verify a JWT presented again");
    for alg in SigningAlg::ALL {
        let token = keys.sign(alg, &claims).unwrap();
        group.bench_with_input(BenchmarkId::from_parameter(alg.as_str()), &token, |b, t| {
            b.iter(|| keys.verify(black_box(t), issuer, audience, now()).unwrap())
        });
    }
    group.finish();
}

fn hashing(c: &mut Criterion) {
    let token = "Zm9vYmFyYmF6cXV4MDEyMzQ1Njc4OWFiY2RlZmdoaWprbA";
    c.bench_function("hash a token (SHA-256)", |b| {
        b.iter(|| TokenHash::of(black_box(token)))
    });
}

/// One password verification at OWASP's Argon2id cost (the defaults), through the hasher
/// the login page uses: the bound on password-login throughput per core.
fn password(c: &mut Criterion) {
    let rt = runtime();
    let hasher = PasswordHasher::new(PasswordHashing {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
        max_concurrent: 1,
    })
    .unwrap();
    let stored = rt
        .block_on(hasher.hash("correct horse battery staple".into()))
        .unwrap();
    let mut group = c.benchmark_group("password");
    group.sample_size(20);
    group.bench_function("verify (Argon2id, m=19456 KiB, t=2, p=1)", |b| {
        b.iter(|| {
            let ok = rt.block_on(
                hasher.verify("correct horse battery staple".into(), Some(stored.clone())),
            );
            assert!(ok);
        })
    });
    // Argon2id alone, in working memory kept from one hash to the next (as the hasher runs
    // while logins queue): the bound on password logins per core.
    let argon2 = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(19_456, 2, 1, None).unwrap(),
    );
    let mut memory = vec![argon2::Block::default(); argon2.params().block_count()];
    let mut out = [0u8; 32];
    group.bench_function("Argon2id alone, working memory reused", |b| {
        b.iter(|| {
            argon2
                .hash_password_into_with_memory(
                    b"correct horse battery staple",
                    b"0123456789abcdef",
                    &mut out,
                    &mut memory,
                )
                .unwrap()
        })
    });
    group.finish();
}

fn web_client() -> Client {
    Client {
        client_id: "abcdefghijklmnopqrstuvwxyz012345".into(),
        name: "App".into(),
        app_type: AppType::RegularWeb,
        is_first_party: true,
        callbacks: vec![RedirectUri::parse("https://app.example.com/callback").unwrap()],
        allowed_logout_urls: vec![],
        web_origins: vec![],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        secret_hash: None,
        jwt_configuration: JwtConfiguration::default(),
        refresh_token: RefreshTokenPolicy::default_for(AppType::RegularWeb),
        credentials: vec![],
    }
}

fn authorization_request(c: &mut Criterion) {
    let query = "response_type=code&client_id=abcdefghijklmnopqrstuvwxyz012345\
        &redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback\
        &scope=openid%20profile%20email%20offline_access%20read%3Aitems\
        &audience=https%3A%2F%2Fapi.example.com%2F&state=af0ifjsldkj0123456789\
        &nonce=n-0S6_WzA2Mj0123456789&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
        &code_challenge_method=S256";
    let client = web_client();
    let api = ResourceServer {
        identifier: "https://api.example.com/".into(),
        name: "API".into(),
        scopes: vec![ApiScope {
            value: "read:items".into(),
            description: "Read items".into(),
        }],
        allow_offline_access: true,
        token_lifetime: ResourceServer::DEFAULT_TOKEN_LIFETIME,
        signing_alg: SigningAlg::RS256,
        skip_consent_for_verifiable_first_party_clients: true,
    };
    c.bench_function("parse and validate an authorization request", |b| {
        b.iter(|| {
            let params = Params::parse_urlencoded(black_box(query.as_bytes())).unwrap();
            let target = authorize::trust(&params, Some(&client)).unwrap();
            authorize::validate(&params, &client, target, Some(&api)).unwrap()
        })
    });
}

fn code() -> AuthorizationCode {
    AuthorizationCode {
        client_id: "c".into(),
        user_id: "u".into(),
        redirect_uri: RedirectUri::parse("https://app.example.com/callback").unwrap(),
        redirect_uri_sent: true,
        scope: Scope::parse("openid profile email").unwrap(),
        audience: Some("https://api.example.com/".into()),
        nonce: Some("n".into()),
        code_challenge: None,
        session_id: "s".into(),
        auth_time: now(),
        expires_at: now() + time::Duration::seconds(60),
    }
}

fn store_operations(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(store(&dir));
    let mut n = 0u64;
    c.bench_function("store: insert and take a code (SQLite)", |b| {
        b.to_async(&rt).iter(|| {
            n += 1;
            let (store, hash) = (store.clone(), TokenHash::of(&format!("code-{n}")));
            async move {
                store.insert_code(&hash, &code(), now()).await.unwrap();
                store
                    .take_code(&hash, now(), "jti", now(), "family")
                    .await
                    .unwrap()
            }
        })
    });

    let policy = RefreshTokenPolicy {
        rotation_type: RotationType::Rotating,
        ..RefreshTokenPolicy::default_for(AppType::RegularWeb)
    };
    let family = RefreshFamily {
        id: "f".into(),
        client_id: "c".into(),
        user_id: "u".into(),
        audience: Some("https://api.example.com/".into()),
        scope: Scope::parse("openid offline_access").unwrap(),
        session_id: "s".into(),
        auth_time: now(),
        policy,
        created_at: now(),
    };
    rt.block_on(store.create_refresh_family(&family, &TokenHash::of("rt-0"), ("at-0", now())))
        .unwrap();
    let mut generation = 0u64;
    c.bench_function("store: rotate a refresh token (SQLite)", |b| {
        b.to_async(&rt).iter(|| {
            generation += 1;
            let store = store.clone();
            let (old, new) = (
                TokenHash::of(&format!("rt-{}", generation - 1)),
                TokenHash::of(&format!("rt-{generation}")),
            );
            let jti = format!("at-{generation}");
            async move {
                store
                    .exchange_refresh_token(&RefreshExchange {
                        token_hash: &old,
                        client_id: "c",
                        now: now(),
                        new_token_hash: &new,
                        access_token: (&jti, now()),
                    })
                    .await
                    .unwrap()
            }
        })
    });
}

criterion_group!(
    benches,
    signing,
    hashing,
    password,
    authorization_request,
    store_operations
);
criterion_main!(benches);
