//! `grant_type=client_credentials` driven by client grants.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

async fn cc(app: &TestApp, client: (&str, &str), extra: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend_from_slice(extra);
    app.token(&form, Some(client)).await
}

async fn error_of(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or_default();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn a_granted_client_gets_an_access_token_for_the_api() {
    let app = TestApp::spawn().await;
    let r = cc(&app, (M2M, M2M_SECRET), &[("audience", API)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read:items write:items");
    assert!(body.get("id_token").is_none() && body.get("refresh_token").is_none());
    let at = body["access_token"].as_str().unwrap();
    let c = claims(at);
    assert_eq!(c["aud"], API);
    assert_eq!(c["sub"], format!("{M2M}@clients"));
    assert_eq!(c["azp"], M2M);
    assert_eq!(c["gty"], "client-credentials");
    assert_eq!(c["iss"], app.issuer);
    assert_eq!(
        app.userinfo_status(at).await,
        StatusCode::UNAUTHORIZED,
        "not a user token"
    );
    assert!(app.log_codes().await.contains(&"seccft".to_owned()));
}

#[tokio::test]
async fn the_scope_may_be_narrowed_but_not_widened() {
    let app = TestApp::spawn().await;
    let r = cc(
        &app,
        (M2M, M2M_SECRET),
        &[("audience", API), ("scope", "read:items")],
    )
    .await;
    assert_eq!(r.json::<Value>().await.unwrap()["scope"], "read:items");
    let r = cc(
        &app,
        (M2M, M2M_SECRET),
        &[("audience", API), ("scope", "read:items admin")],
    )
    .await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, "invalid_scope".into())
    );
}

#[tokio::test]
async fn without_a_client_grant_or_api_access_is_denied() {
    let app = TestApp::spawn().await;
    let r = cc(&app, (M2M, M2M_SECRET), &[("audience", NOSKIP_API)]).await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::FORBIDDEN, "access_denied".into())
    );
    let r = cc(
        &app,
        (M2M, M2M_SECRET),
        &[("audience", "https://nope.example/")],
    )
    .await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::FORBIDDEN, "access_denied".into())
    );
    let r = cc(&app, (M2M, M2M_SECRET), &[]).await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    assert!(app.log_codes().await.contains(&"feccft".to_owned()));
}

#[tokio::test]
async fn the_client_must_authenticate_and_hold_the_grant_type() {
    let app = TestApp::spawn().await;
    assert_eq!(
        error_of(cc(&app, (M2M, "wrong"), &[("audience", API)]).await).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    assert_eq!(
        error_of(cc(&app, (WEB, WEB_SECRET), &[("audience", API)]).await)
            .await
            .1,
        "unauthorized_client"
    );
    let r = app
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("audience", API),
                ("client_id", SPA),
            ],
            None,
        )
        .await;
    assert_eq!(error_of(r).await.1, "unauthorized_client");
}

#[tokio::test]
async fn client_grants_refer_to_clients_and_apis_that_exist() {
    let app = TestApp::spawn().await;
    for text in [
        "clientGrants: [{client_id: Nobody, audience: 'https://api.example/', scope: []}]",
        "clientGrants: [{client_id: m2m, audience: 'https://nope.example/', scope: []}]",
    ] {
        let file = portcullis_core::tenant::parse(text).unwrap();
        let e = portcullis_server::tenant::apply(&app.state, &file)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("clientGrants"), "{text}: {e}");
    }
}
