//! Hostile input: malformed parameters, oversized requests, header injection.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// `/authorize` with a raw (already encoded) extra query part.
async fn authorize_raw(app: &TestApp, extra: &str) -> reqwest::Response {
    let base = format!(
        "/authorize?response_type=code&client_id={WEB}&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback&scope=openid"
    );
    app.backend()
        .get(app.url(&format!("{base}&{extra}")))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn malformed_parameters_are_refused_on_a_page_without_redirect() {
    let app = TestApp::spawn().await;
    for extra in [
        "state=%FF%FE",
        "state=a%00b",
        "state=a%0D%0ASet-Cookie:%20x=1",
        "state=%zz",
        "nonce=%E2%82",
    ] {
        let r = authorize_raw(&app, extra).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{extra}");
        assert!(location(&r).is_empty(), "{extra}: never redirected");
        assert!(
            r.headers()
                .get_all("set-cookie")
                .iter()
                .all(|c| !c.to_str().unwrap_or_default().contains("x=1"))
        );
    }
    assert_eq!(
        authorize_raw(&app, "state=caf%C3%A9+ok").await.status(),
        StatusCode::FOUND,
        "valid UTF-8 is fine"
    );
}

#[tokio::test]
async fn too_many_parameters_and_too_long_queries_are_refused() {
    let app = TestApp::spawn().await;
    let many: Vec<String> = (0..150).map(|i| format!("x{i}=1")).collect();
    assert_eq!(
        authorize_raw(&app, &many.join("&")).await.status(),
        StatusCode::BAD_REQUEST
    );
    let long = format!("state={}", "a".repeat(9000));
    assert_eq!(
        authorize_raw(&app, &long).await.status(),
        StatusCode::URI_TOO_LONG
    );
    assert_eq!(
        app.backend()
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK,
        "still healthy"
    );
}

#[tokio::test]
async fn the_token_endpoint_refuses_malformed_and_oversized_bodies() {
    let app = TestApp::spawn().await;
    let post = |body: Vec<u8>, content_type: &'static str| {
        let (http, url) = (app.backend(), app.url("/oauth/token"));
        async move {
            http.post(url)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    for body in [
        &b"grant_type=authorization_code&code=%FF"[..],
        b"grant_type=authorization_code&code=a%00",
    ] {
        let r = post(body.to_vec(), "application/x-www-form-urlencoded").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    }
    let r = post(
        br#"{"grant_type":"authorization_code","code":"a\u0000b"}"#.to_vec(),
        "application/json",
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post(
        format!("grant_type=x&pad={}", "a".repeat(70 * 1024)).into_bytes(),
        "application/x-www-form-urlencoded",
    )
    .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        app.backend()
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn hosted_forms_refuse_malformed_fields() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let next = location(&browser.authorize(&web_params()).await);
    let fields = form_fields(&browser.get(&next).await.text().await.unwrap());
    let body = format!(
        "state={}&csrf={}&username=alice%40example.com&password=%FF",
        fields["state"], fields["csrf"]
    );
    let r = browser
        .http
        .post(browser.abs("/u/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        Browser::cookies(r.headers())
            .iter()
            .all(|c| !c.starts_with("portcullis_session"))
    );
}

#[tokio::test]
async fn the_authorization_endpoint_does_not_do_cors() {
    let app = TestApp::spawn().await;
    let r = app
        .backend()
        .get(app.url("/authorize"))
        .query(&web_params())
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    let preflight = app
        .backend()
        .request(reqwest::Method::OPTIONS, app.url("/authorize"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(
        !preflight
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

/// The addresses in the tenant log after a failed token request that says it was
/// forwarded for 203.0.113.9.
async fn logged_ips_of_a_forwarded_request(app: &TestApp) -> Vec<String> {
    let r = app
        .backend()
        .post(app.url("/oauth/token"))
        .header("x-forwarded-for", "198.51.100.1, 203.0.113.9")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", WEB_CB),
        ])
        .basic_auth(WEB, Some("wrong secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.state.logs.flush().await;
    let logs = app.state.store.recent_logs(10).await.unwrap();
    logs.into_iter().filter_map(|l| l.ip).collect()
}

#[tokio::test]
async fn the_client_address_is_forwarded_only_by_trusted_proxies() {
    // Not trusted: the header is the client's own claim and is ignored.
    let direct = TestApp::spawn().await;
    assert_eq!(
        logged_ips_of_a_forwarded_request(&direct).await,
        ["127.0.0.1"]
    );
    // Behind a trusted proxy: the right-most address it did not add itself.
    let proxied = TestApp::spawn_with(|s| {
        s.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    assert_eq!(
        logged_ips_of_a_forwarded_request(&proxied).await,
        ["203.0.113.9"]
    );
}
