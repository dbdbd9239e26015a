//! The landing page and the playground (demo app back end).

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn without_the_demo_tenant_there_is_no_playground() {
    let app = TestApp::spawn().await;
    let home = app.browser().get("/").await.text().await.unwrap();
    assert!(home.contains("Portcullis") && !home.contains("Try the login flow"));
    assert_eq!(
        app.browser().get("/playground/login").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_playground_runs_the_real_flow_and_shows_each_step() {
    let app = TestApp::spawn_demo().await;
    let browser = app.browser();
    let home = browser.get("/").await.text().await.unwrap();
    assert!(home.contains("Try the login flow"));
    // The demo user's password is random; set a known one through the tenant file.
    let file = portcullis_core::tenant::parse(
        "users: [{email: demo@example.com, password: 'demo password 1'}]",
    )
    .unwrap();
    portcullis_server::tenant::apply(&app.state, &file)
        .await
        .unwrap();

    let authorize = location(&browser.get("/playground/login").await);
    let login = location(&browser.get(&authorize).await);
    let consent = location(
        &browser
            .login(&login, "demo@example.com", "demo password 1")
            .await,
    );
    assert!(
        consent.starts_with("/u/consent"),
        "127.0.0.1 callback is not verifiable: {consent}"
    );
    let callback = location(&browser.consent(&consent, "accept").await);
    let page = browser.get(&callback).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("You are logged in"), "{html}");
    for step in [
        "Authorization request",
        "Authorization response",
        "Token request",
        "Token response",
        "Tokens, decoded",
        "API call",
    ] {
        assert!(html.contains(step), "{step}");
    }
    assert!(html.contains("HTTP 200 OK") && html.contains("Hello, auth0|"));
    assert!(
        !html.contains(
            app.state
                .playground
                .as_ref()
                .unwrap()
                .client_secret
                .expose()
        ),
        "the secret is not shown"
    );
}

#[tokio::test]
async fn the_demo_api_refuses_missing_and_foreign_tokens() {
    let app = TestApp::spawn_demo().await;
    let http = app.backend();
    let r = http
        .get(app.url("/playground/api/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A valid token, but for another audience.
    let body: serde_json::Value = app
        .exchange(&code_for_alice(&app).await)
        .await
        .json()
        .await
        .unwrap();
    let r = http
        .get(app.url("/playground/api/hello"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_tenant_file_on_first_start_means_no_demo_tenant() {
    let app = TestApp::spawn_with(|s| s.demo = true).await;
    assert!(app.state.playground.is_none());
    assert!(
        app.state
            .store
            .find_client(portcullis_server::seed::DEMO_CLIENT_ID)
            .await
            .unwrap()
            .is_none()
    );
}
