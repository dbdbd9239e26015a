//! Logout: Auth0's `/v2/logout` and OpenID Connect RP-initiated `/oidc/logout`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

const OFFLINE: &str = "openid profile email read:items offline_access";

/// A logged-in browser and the session cookie value it holds.
async fn logged_in(app: &TestApp) -> (Browser, String, Value) {
    let browser = app.browser();
    let login = location(
        &browser
            .authorize(&with(web_params(), &[("scope", OFFLINE)]))
            .await,
    );
    let r = browser.login(&login, ALICE, PASSWORD).await;
    let session = Browser::session_cookie(&r).unwrap();
    let code = query(&location(&r)).remove("code").unwrap();
    let tokens: Value = app.exchange(&code).await.json().await.unwrap();
    (browser, session, tokens)
}

#[tokio::test]
async fn v2_logout_ends_the_session_server_side_and_returns_to_an_allowed_url() {
    let app = TestApp::spawn().await;
    let (browser, session, tokens) = logged_in(&app).await;
    let r = browser
        .get(&format!(
            "/v2/logout?client_id={WEB}&returnTo=https%3A%2F%2Fapp.example%2Fbye"
        ))
        .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(location(&r), "https://app.example/bye");
    assert!(
        Browser::cookies(r.headers())
            .iter()
            .any(|c| c.starts_with("portcullis_session=;") && c.contains("Max-Age=0"))
    );
    assert!(
        app.authorize_with_session(&session)
            .await
            .starts_with("/u/login"),
        "a replayed cookie no longer works"
    );
    let refreshed = app
        .refresh(WEB_APP, tokens["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(
        refreshed.status(),
        StatusCode::BAD_REQUEST,
        "refresh tokens of the session are revoked"
    );
    assert!(app.log_codes().await.contains(&"slo".to_owned()));
}

#[tokio::test]
async fn v2_logout_never_redirects_to_an_unregistered_url() {
    let app = TestApp::spawn().await;
    let (browser, _, _) = logged_in(&app).await;
    for query in [
        format!("client_id={WEB}&returnTo=https%3A%2F%2Fevil.example%2F"),
        "returnTo=https%3A%2F%2Fapp.example%2Fbye".into(),
    ] {
        let r = browser.get(&format!("/v2/logout?{query}")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(location(&r).is_empty());
    }
    assert!(app.log_codes().await.contains(&"flo".to_owned()));
    let r = browser.get(&format!("/v2/logout?client_id={WEB}")).await;
    assert_eq!(
        location(&r),
        "https://app.example/bye",
        "the first allowed URL"
    );
}

#[tokio::test]
async fn oidc_logout_with_an_id_token_hint_ends_the_session_and_returns_with_state() {
    let app = TestApp::spawn().await;
    let (browser, session, tokens) = logged_in(&app).await;
    let hint = tokens["id_token"].as_str().unwrap();
    let r = browser
        .http
        .get(browser.abs("/oidc/logout"))
        .query(&[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", "https://app.example/bye"),
            ("state", "s 1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(location(&r), "https://app.example/bye?state=s+1");
    assert!(
        app.authorize_with_session(&session)
            .await
            .starts_with("/u/login")
    );
}

#[tokio::test]
async fn oidc_logout_without_a_hint_asks_for_confirmation_with_csrf() {
    let app = TestApp::spawn().await;
    let (browser, session, _) = logged_in(&app).await;
    let r = browser.get("/oidc/logout").await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert_eq!(text_of(&html, "form button").as_deref(), Some("Log out"));
    assert!(
        app.authorize_with_session(&session)
            .await
            .starts_with(WEB_CB),
        "nothing ended yet"
    );
    let forged = browser
        .post_form("/oidc/logout", &[("action", "logout"), ("csrf", "forged")])
        .await;
    assert_eq!(forged.status(), StatusCode::OK, "asked again");
    assert!(
        app.authorize_with_session(&session)
            .await
            .starts_with(WEB_CB)
    );
    let fields = form_fields(&html);
    let r = browser
        .post_form(
            "/oidc/logout",
            &[("action", "logout"), ("csrf", &fields["csrf"])],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("You are logged out"));
    assert!(
        app.authorize_with_session(&session)
            .await
            .starts_with("/u/login")
    );
}

#[tokio::test]
async fn oidc_logout_refuses_bad_hints_and_unregistered_redirects() {
    let app = TestApp::spawn().await;
    let (browser, _, tokens) = logged_in(&app).await;
    let hint = tokens["id_token"].as_str().unwrap();
    let cases = [
        vec![("id_token_hint", "not-a-jwt")],
        vec![
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
        vec![("post_logout_redirect_uri", "https://app.example/bye")],
        vec![("id_token_hint", hint), ("client_id", THIRD)],
    ];
    for params in cases {
        let r = browser
            .http
            .get(browser.abs("/oidc/logout"))
            .query(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{params:?}");
        assert!(location(&r).is_empty());
    }
}

#[tokio::test]
async fn discovery_advertises_the_logout_and_revocation_endpoints() {
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
    assert_eq!(
        doc["end_session_endpoint"],
        format!("{}oidc/logout", app.issuer)
    );
    assert_eq!(
        doc["revocation_endpoint"],
        format!("{}oauth/revoke", app.issuer)
    );
    assert!(
        doc["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("refresh_token"))
    );
}

#[tokio::test]
async fn the_flows_leave_auth0_coded_tenant_logs() {
    let app = TestApp::spawn().await;
    let (browser, _, tokens) = logged_in(&app).await;
    let _ = app
        .refresh(WEB_APP, tokens["refresh_token"].as_str().unwrap(), None)
        .await;
    let _ = app.refresh(WEB_APP, "bogus", None).await;
    browser.get(&format!("/v2/logout?client_id={WEB}")).await;
    let codes = app.log_codes().await;
    for code in ["s", "seacft", "sertft", "fertft", "slo"] {
        assert!(codes.contains(&code.to_owned()), "{code} in {codes:?}");
    }
}

#[tokio::test]
async fn a_refused_oidc_logout_changes_nothing() {
    let app = TestApp::spawn().await;
    let (browser, session, tokens) = logged_in(&app).await;
    let hint = tokens["id_token"].as_str().unwrap();
    let r = browser
        .http
        .get(browser.abs("/oidc/logout"))
        .query(&[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        Browser::cookies(r.headers()).is_empty(),
        "no cookie cleared when nothing ended"
    );
    assert!(
        app.authorize_with_session(&session)
            .await
            .starts_with(WEB_CB),
        "the session lives on"
    );
}

#[tokio::test]
async fn an_access_token_is_no_id_token_hint() {
    let app = TestApp::spawn().await;
    let (browser, session, tokens) = logged_in(&app).await;
    let access_token = tokens["access_token"].as_str().unwrap();
    let r = browser
        .http
        .get(browser.abs("/oidc/logout"))
        .query(&[
            ("id_token_hint", access_token),
            ("post_logout_redirect_uri", "https://app.example/bye"),
            ("client_id", WEB),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        app.authorize_with_session(&session)
            .await
            .starts_with(WEB_CB)
    );
}
