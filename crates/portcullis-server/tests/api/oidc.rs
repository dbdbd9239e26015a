//! OpenID Connect details the certification modules check (docs/conformance.md).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn discovery_has_the_fields_the_config_op_plan_requires() {
    let app = TestApp::spawn().await;
    let r = app
        .backend()
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256", "EdDSA"]),
        "RS256 first (the default), never none"
    );
    for scope in [
        "openid",
        "profile",
        "email",
        "address",
        "phone",
        "offline_access",
    ] {
        assert!(
            doc["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(scope)),
            "{scope}"
        );
    }
    for claim in ["sub", "iss", "auth_time", "email", "name"] {
        assert!(
            doc["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(claim)),
            "{claim}"
        );
    }
    assert_eq!(
        doc["response_modes_supported"],
        json!(["query", "form_post"])
    );
    assert_eq!(doc["request_uri_parameter_supported"], false);
}

#[tokio::test]
async fn a_request_without_nonce_succeeds_and_the_id_token_has_none() {
    let app = TestApp::spawn().await;
    let code = query(
        &app.browser()
            .sign_in(&with(web_params(), &[("nonce", "")]), ALICE)
            .await,
    )
    .remove("code")
    .unwrap();
    let body: Value = app.exchange(&code).await.json().await.unwrap();
    assert!(
        claims(body["id_token"].as_str().unwrap())
            .get("nonce")
            .is_none()
    );
}

#[tokio::test]
async fn updated_at_is_a_number_of_seconds() {
    let app = TestApp::spawn().await;
    let code = query(&app.browser().sign_in(&web_params(), ALICE).await)
        .remove("code")
        .unwrap();
    let body: Value = app.exchange(&code).await.json().await.unwrap();
    assert!(
        claims(body["id_token"].as_str().unwrap())["updated_at"].is_i64(),
        "OIDC Core §5.1: a JSON number"
    );
    let info: Value = app.userinfo(body["access_token"].as_str().unwrap()).await;
    assert!(info["updated_at"].is_i64());
}

#[tokio::test]
async fn display_locales_and_acr_values_are_accepted() {
    let app = TestApp::spawn().await;
    for (name, value) in [
        ("display", "page"),
        ("display", "popup"),
        ("ui_locales", "fr-CA fr en"),
        ("claims_locales", "de en"),
        ("acr_values", "urn:mace:incommon:iap:silver"),
    ] {
        let browser = app.browser();
        let callback = browser
            .sign_in(&with(web_params(), &[(name, value)]), ALICE)
            .await;
        assert!(
            query(&callback).contains_key("code"),
            "{name}={value}: {callback}"
        );
    }
}

#[tokio::test]
async fn hosted_pages_load_nothing_from_other_origins() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let login = location(&browser.authorize(&web_params()).await);
    let r = browser.get(&login).await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("style-src 'self'"),
        "{csp}"
    );
    let html = r.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no absolute (third-party) references"
    );
}

#[tokio::test]
async fn public_clients_get_rotating_refresh_tokens_by_default() {
    let app = TestApp::spawn().await;
    let file = portcullis_core::tenant::parse("clients: [{name: Mobile, client_id: mobile, app_type: native, callbacks: ['com.example.app:/cb'], grant_types: [authorization_code, refresh_token]}]").unwrap();
    portcullis_server::tenant::apply(&app.state, &file)
        .await
        .unwrap();
    let params = vec![
        ("response_type", "code".to_owned()),
        ("client_id", "mobile".to_owned()),
        ("redirect_uri", "com.example.app:/cb".to_owned()),
        ("scope", "openid offline_access".to_owned()),
        ("audience", API.to_owned()),
        ("code_challenge", challenge()),
        ("code_challenge_method", "S256".to_owned()),
    ];
    let code = query(&app.browser().sign_in(&params, ALICE).await)
        .remove("code")
        .unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "com.example.app:/cb"),
        ("client_id", "mobile"),
        ("code_verifier", VERIFIER),
    ];
    let tokens: Value = app.token(&form, None).await.json().await.unwrap();
    let first = tokens["refresh_token"].as_str().unwrap();
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", first),
        ("client_id", "mobile"),
    ];
    let second: Value = app.token(&refresh, None).await.json().await.unwrap();
    assert_ne!(
        second["refresh_token"].as_str().unwrap(),
        first,
        "rotated (RFC 9700 §4.14.2)"
    );
    assert_eq!(
        app.token(&refresh, None).await.status(),
        StatusCode::BAD_REQUEST,
        "the old one is spent"
    );
}

#[tokio::test]
async fn a_claims_request_does_not_break_the_flow() {
    let app = TestApp::spawn().await;
    let claims_request = r#"{"userinfo":{"name":{"essential":true}}}"#;
    let callback = app
        .browser()
        .sign_in(&with(web_params(), &[("claims", claims_request)]), ALICE)
        .await;
    assert!(query(&callback).contains_key("code"), "{callback}");
}

#[tokio::test]
async fn address_and_phone_claims_follow_their_scopes() {
    let app = TestApp::spawn().await;
    let released = |scope: &'static str| {
        let app = &app;
        async move {
            let params = with(web_params(), &[("scope", scope)]);
            let code = query(&app.browser().sign_in(&params, ALICE).await)
                .remove("code")
                .unwrap();
            let body: Value = app.exchange(&code).await.json().await.unwrap();
            let info: Value = app.userinfo(body["access_token"].as_str().unwrap()).await;
            (claims(body["id_token"].as_str().unwrap()), info)
        }
    };
    let (id_token, info) = released("openid address phone read:items").await;
    for doc in [&id_token, &info] {
        assert_eq!(
            doc["address"],
            json!({"street_address": "1 Main St", "locality": "Springfield", "country": "US"})
        );
        assert_eq!(doc["phone_number"], "+15555550100");
        assert_eq!(doc["phone_number_verified"], true);
        assert!(doc.get("email").is_none(), "email needs the email scope");
    }
    let (_, info) = released("openid profile email address phone").await;
    for claim in ["name", "email", "address", "phone_number"] {
        assert!(info.get(claim).is_some(), "all scopes together: {claim}");
    }
    let (id_token, info) = released("openid email read:items").await;
    for doc in [&id_token, &info] {
        assert!(doc.get("address").is_none());
        assert!(doc.get("phone_number").is_none());
        assert_eq!(doc["email"], ALICE);
    }
}

#[tokio::test]
async fn reversed_scope_and_parameter_order_work_and_consent_is_remembered_as_a_set() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let reversed: Vec<_> = with(
        web_params(),
        &[("scope", "read:items email profile openid")],
    )
    .into_iter()
    .rev()
    .collect();
    let callback = browser.sign_in(&reversed, ALICE).await;
    assert!(callback.starts_with(WEB_CB), "{callback}");
    let code = query(&callback).remove("code").unwrap();
    let body: Value = app.exchange(&code).await.json().await.unwrap();
    let id_token = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id_token["email"], ALICE);
    assert_eq!(id_token["name"], "Alice Example");
    let granted: std::collections::HashSet<&str> =
        body["scope"].as_str().unwrap().split(' ').collect();
    assert_eq!(
        granted,
        ["openid", "profile", "email", "read:items"].into(),
        "{body}"
    );

    // Consent is remembered as a set: a third-party client (always asked) that was
    // granted "read:items email openid" is not asked again for the same scopes reordered.
    let third = |scope: &str| {
        vec![
            ("state", "tp".to_owned()),
            ("audience", API.to_owned()),
            ("scope", scope.to_owned()),
            ("redirect_uri", THIRD_CB.to_owned()),
            ("client_id", THIRD.to_owned()),
            ("response_type", "code".to_owned()),
        ]
    };
    let asked = location(&browser.authorize(&third("read:items email openid")).await);
    assert!(asked.starts_with("/u/consent"), "{asked}");
    browser.consent(&asked, "accept").await;
    let next = location(&browser.authorize(&third("email openid read:items")).await);
    assert!(next.starts_with(THIRD_CB), "not asked again: {next}");
}
