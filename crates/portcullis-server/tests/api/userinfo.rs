//! `/userinfo` (OIDC Core §5.3, RFC 6750).

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

async fn access_token(app: &TestApp, scope: &str) -> String {
    let browser = app.browser();
    let params = with(web_params(), &[("scope", scope), ("audience", "")]);
    let code = query(&browser.sign_in(&params, ALICE).await)
        .remove("code")
        .unwrap();
    let body: Value = app.exchange(&code).await.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn userinfo_by_get_post_header_and_post_body() {
    let app = TestApp::spawn().await;
    let at = access_token(&app, "openid profile email").await;
    let http = app.backend();
    let responses = [
        http.get(app.url("/userinfo"))
            .bearer_auth(&at)
            .send()
            .await
            .unwrap(),
        http.post(app.url("/userinfo"))
            .bearer_auth(&at)
            .send()
            .await
            .unwrap(),
        http.post(app.url("/userinfo"))
            .form(&[("access_token", at.as_str())])
            .send()
            .await
            .unwrap(),
    ];
    for r in responses {
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["email"], ALICE);
        assert_eq!(body["name"], "Alice Example");
        assert!(body["sub"].as_str().unwrap().starts_with("auth0|"));
    }
}

#[tokio::test]
async fn userinfo_releases_only_the_claims_of_the_granted_scope() {
    let app = TestApp::spawn().await;
    let at = access_token(&app, "openid email").await;
    let body: Value = app.userinfo(&at).await;
    assert_eq!(body["email"], ALICE);
    assert!(body.get("name").is_none());
    assert!(
        body.get("family_name").is_none(),
        "absent claims are omitted, never null"
    );
}

#[tokio::test]
async fn userinfo_errors_follow_rfc6750() {
    let app = TestApp::spawn().await;
    let http = app.backend();
    let r = http.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"portcullis\""
    );

    let r = http
        .get(app.url("/userinfo"))
        .bearer_auth("not.a.jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );

    let at = access_token(&app, "openid").await;
    let r = http
        .get(app.url("/userinfo"))
        .query(&[("access_token", &at)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "tokens in the query string are refused"
    );

    // A token whose signature was tampered with.
    let mut parts: Vec<String> = at.split('.').map(str::to_owned).collect();
    let mut sig: Vec<char> = parts[2].chars().collect();
    sig[10] = if sig[10] == 'A' { 'B' } else { 'A' };
    parts[2] = sig.into_iter().collect();
    let r = http
        .get(app.url("/userinfo"))
        .bearer_auth(parts.join("."))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // alg=none with the same claims.
    let none = format!(
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
        at.split('.').nth(1).unwrap()
    );
    assert_eq!(
        http.get(app.url("/userinfo"))
            .bearer_auth(none)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    app.clock.advance(time::Duration::days(2));
    let r = http
        .get(app.url("/userinfo"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "expired");
}

#[tokio::test]
async fn an_access_token_for_an_api_only_is_not_good_at_userinfo() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let code = query(
        &browser
            .sign_in(&with(web_params(), &[("scope", "read:items")]), ALICE)
            .await,
    )
    .remove("code")
    .unwrap();
    let body: Value = app.exchange(&code).await.json().await.unwrap();
    assert!(body.get("id_token").is_none(), "no openid, no ID token");
    let at = body["access_token"].as_str().unwrap();
    assert_eq!(claims(at)["aud"], API);
    let r = app
        .backend()
        .get(app.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
