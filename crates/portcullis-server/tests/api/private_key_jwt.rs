//! `private_key_jwt` client authentication (RFC 7523, OIDC Core §9): signature, claims,
//! single-use `jti`, algorithm allow-list, method pinning.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

const SIGNED: &str = "signed-app";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

enum Key {
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ec(EcdsaKeyPair),
}

impl Key {
    fn rsa() -> Key {
        Key::Rsa(aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap())
    }

    fn ec() -> Key {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        Key::Ec(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap())
    }

    /// The public key as registered: a PEM (RSA) or a JWK (EC).
    fn registration(&self) -> Value {
        match self {
            Key::Rsa(k) => {
                let der = k.public_key().as_der().unwrap();
                let body = STANDARD.encode(der.as_ref());
                let lines: Vec<&str> = body
                    .as_bytes()
                    .chunks(64)
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect();
                json!({"pem": format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))})
            }
            Key::Ec(k) => {
                let point = k.public_key().as_ref();
                let (x, y) = (
                    URL_SAFE_NO_PAD.encode(&point[1..33]),
                    URL_SAFE_NO_PAD.encode(&point[33..65]),
                );
                json!({"jwk": {"kty": "EC", "crv": "P-256", "x": x, "y": y}})
            }
        }
    }

    fn alg(&self) -> &'static str {
        match self {
            Key::Rsa(_) => "RS256",
            Key::Ec(_) => "ES256",
        }
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = match self {
            Key::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    input.as_bytes(),
                    &mut sig,
                )
                .unwrap();
                sig
            }
            Key::Ec(k) => k
                .sign(&SystemRandom::new(), input.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// Registers `signed-app` (machine to machine, private_key_jwt) with these keys.
async fn register(app: &TestApp, keys: &[&Key]) {
    let credentials: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let mut c = json!({"name": format!("key {i}"), "credential_type": "public_key", "alg": k.alg()});
            c.as_object_mut().unwrap().extend(k.registration().as_object().unwrap().clone());
            c
        })
        .collect();
    // JSON is YAML: the tenant file as a JSON document.
    let tenant = json!({
        "clients": [{
            "name": "Signed App", "client_id": SIGNED, "app_type": "non_interactive", "grant_types": ["client_credentials"],
            "client_authentication_methods": {"private_key_jwt": {"credentials": credentials}},
        }],
        "clientGrants": [{"client_id": SIGNED, "audience": API, "scope": ["read:items"]}],
    });
    let file =
        portcullis_core::tenant::parse(&tenant.to_string()).unwrap_or_else(|e| panic!("{e}"));
    portcullis_server::tenant::apply(&app.state, &file)
        .await
        .unwrap();
}

fn claims(app: &TestApp, overrides: Value) -> Value {
    let now = app.clock_now();
    let mut c = json!({"iss": SIGNED, "sub": SIGNED, "aud": app.issuer, "iat": now, "exp": now + 60, "jti": portcullis_server::crypto::random_id::<16>()});
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn assertion(app: &TestApp, key: &Key, overrides: Value) -> String {
    key.sign(
        &json!({"alg": key.alg(), "typ": "JWT"}),
        &claims(app, overrides),
    )
}

async fn token_with(app: &TestApp, assertion: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("audience", API),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ];
    form.extend_from_slice(extra);
    app.token(&form, None).await
}

async fn status_and_error(r: reqwest::Response) -> (StatusCode, String, String) {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or_default();
    (
        status,
        body["error"].as_str().unwrap_or_default().into(),
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .into(),
    )
}

#[tokio::test]
async fn a_signed_assertion_authenticates_with_an_rsa_pem_or_an_ec_jwk() {
    let app = TestApp::spawn().await;
    let (rsa, ec) = (Key::rsa(), Key::ec());
    register(&app, &[&rsa, &ec]).await;
    for key in [&rsa, &ec] {
        let r = token_with(&app, &assertion(&app, key, json!({})), &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "{}", key.alg());
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            crate::helpers::claims(body["access_token"].as_str().unwrap())["sub"],
            format!("{SIGNED}@clients")
        );
    }
    let to_endpoint = assertion(
        &app,
        &rsa,
        json!({"aud": format!("{}oauth/token", app.issuer)}),
    );
    assert_eq!(
        token_with(&app, &to_endpoint, &[("client_id", SIGNED)])
            .await
            .status(),
        StatusCode::OK,
        "aud = token endpoint"
    );
}

#[tokio::test]
async fn every_broken_assertion_is_the_same_invalid_client() {
    let app = TestApp::spawn().await;
    let (key, stranger) = (Key::rsa(), Key::rsa());
    register(&app, &[&key]).await;
    let now = app.clock_now();
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong aud",
            assertion(&app, &key, json!({"aud": "https://evil.example/"})),
        ),
        (
            "aud array",
            assertion(&app, &key, json!({"aud": [app.issuer]})),
        ),
        ("expired", assertion(&app, &key, json!({"exp": now - 1}))),
        (
            "far future",
            assertion(&app, &key, json!({"exp": now + 3600})),
        ),
        ("no exp", assertion(&app, &key, json!({"exp": null}))),
        (
            "nbf ahead",
            assertion(&app, &key, json!({"nbf": now + 120})),
        ),
        (
            "iss != sub",
            assertion(&app, &key, json!({"iss": "someone-else"})),
        ),
        ("no jti", assertion(&app, &key, json!({"jti": null}))),
        ("unregistered key", assertion(&app, &stranger, json!({}))),
        (
            "alg none",
            format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
                URL_SAFE_NO_PAD.encode(claims(&app, json!({})).to_string())
            ),
        ),
        (
            "HS256 keyed with the public key",
            hs256_with_public_key(&app, &key),
        ),
        ("RS256 signature under an ES256 header", {
            let mut parts: Vec<String> = assertion(&app, &key, json!({}))
                .split('.')
                .map(str::to_owned)
                .collect();
            parts[0] = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256"}"#);
            parts.join(".")
        }),
        ("garbage", "a.b.c".into()),
    ];
    for (name, a) in cases {
        let (status, error, description) = status_and_error(token_with(&app, &a, &[]).await).await;
        assert_eq!(
            (status, error.as_str(), description.as_str()),
            (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed"
            ),
            "{name}"
        );
    }
}

/// The classic confusion: an HMAC signature whose secret is the public key text.
fn hs256_with_public_key(app: &TestApp, key: &Key) -> String {
    let secret = key.registration()["pem"].as_str().unwrap().to_owned();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(app, json!({})).to_string())
    );
    let tag = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes()),
        input.as_bytes(),
    );
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

#[tokio::test]
async fn an_assertion_is_accepted_once_also_under_concurrency() {
    let app = Arc::new(TestApp::spawn().await);
    let key = Key::rsa();
    register(&app, &[&key]).await;
    let once = assertion(&app, &key, json!({}));
    assert_eq!(token_with(&app, &once, &[]).await.status(), StatusCode::OK);
    assert_eq!(
        token_with(&app, &once, &[]).await.status(),
        StatusCode::UNAUTHORIZED,
        "replay"
    );

    let raced = assertion(&app, &key, json!({}));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (app, raced) = (app.clone(), raced.clone());
            tokio::spawn(async move { token_with(&app, &raced, &[]).await.status() })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn a_client_is_pinned_to_its_authentication_method() {
    let app = TestApp::spawn().await;
    let key = Key::rsa();
    register(&app, &[&key]).await;
    // The private_key_jwt client cannot use a secret (it has none, and may not).
    let r = app
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("audience", API),
                ("client_id", SIGNED),
                ("client_secret", "x".repeat(40).as_str()),
            ],
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A secret client cannot use an assertion, even one signed by a registered key.
    let as_m2m = key.sign(
        &json!({"alg": "RS256"}),
        &claims(&app, json!({"iss": M2M, "sub": M2M})),
    );
    assert_eq!(
        token_with(&app, &as_m2m, &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // One method per request.
    let both = token_with(
        &app,
        &assertion(&app, &key, json!({})),
        &[("client_secret", M2M_SECRET)],
    )
    .await;
    assert_eq!(status_and_error(both).await.1, "invalid_request");
    // client_id, when sent, must name the assertion's client.
    let mismatch = token_with(
        &app,
        &assertion(&app, &key, json!({})),
        &[("client_id", M2M)],
    )
    .await;
    assert_eq!(mismatch.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_tenant_file_refuses_private_keys_and_bad_credentials() {
    for (text, expected) in [
        (
            "clients: [{name: A, client_authentication_methods: {private_key_jwt: {credentials: [{jwk: {kty: RSA, n: x, e: AQAB, d: secret}}]}}}]",
            "private part",
        ),
        (
            "clients: [{name: A, client_authentication_methods: {private_key_jwt: {credentials: [{pem: 'not a key'}]}}}]",
            "pem",
        ),
        (
            "clients: [{name: A, client_authentication_methods: {private_key_jwt: {credentials: [{pem: '-----BEGIN PUBLIC KEY-----', alg: HS256}]}}}]",
            "alg",
        ),
        (
            "clients: [{name: A, token_endpoint_auth_method: private_key_jwt}]",
            "at least one credential",
        ),
    ] {
        let e = portcullis_core::tenant::parse(text)
            .err()
            .map(|e| e.0)
            .unwrap_or_default();
        assert!(e.contains(expected), "{text}: {e}");
    }
}

#[tokio::test]
async fn discovery_lists_private_key_jwt_and_its_algorithms() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .backend()
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("private_key_jwt"))
    );
    let algs = doc["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&json!("ES256")) && !algs.iter().any(|a| a == "none" || a == "HS256"));
}
