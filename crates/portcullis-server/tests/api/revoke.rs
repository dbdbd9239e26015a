//! `POST /oauth/revoke` (RFC 7009).

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

const OFFLINE: &str = "openid profile email read:items offline_access";

async fn revoke(app: &TestApp, client: (&str, &str, &str), token: &str) -> reqwest::Response {
    app.backend()
        .post(app.url("/oauth/revoke"))
        .basic_auth(client.0, Some(client.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_family_and_access_tokens() {
    let app = TestApp::spawn().await;
    let first = tokens_for(&app, WEB_APP, OFFLINE).await;
    let second: Value = app
        .refresh(WEB_APP, first["refresh_token"].as_str().unwrap(), None)
        .await
        .json()
        .await
        .unwrap();
    let r = revoke(&app, WEB_APP, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let refreshed = app
        .refresh(WEB_APP, second["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(refreshed.status(), StatusCode::BAD_REQUEST);
    for at in [&first["access_token"], &second["access_token"]] {
        assert_eq!(
            app.userinfo_status(at.as_str().unwrap()).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert!(app.log_codes().await.contains(&"srrt".to_owned()));
}

#[tokio::test]
async fn unknown_tokens_answer_200_and_foreign_ones_are_refused() {
    let app = TestApp::spawn().await;
    assert_eq!(
        revoke(&app, WEB_APP, "no-such-token").await.status(),
        StatusCode::OK
    );
    let tokens = tokens_for(&app, WEB_APP, OFFLINE).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let r = revoke(&app, LEEWAY_APP, rt).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.refresh(WEB_APP, rt, None).await.status(),
        StatusCode::OK,
        "another client cannot revoke it"
    );
}

#[tokio::test]
async fn revocation_needs_client_authentication_and_a_token() {
    let app = TestApp::spawn().await;
    let tokens = tokens_for(&app, WEB_APP, OFFLINE).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let r = app
        .backend()
        .post(app.url("/oauth/revoke"))
        .form(&[("token", rt), ("client_id", WEB)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .backend()
        .post(app.url("/oauth/revoke"))
        .basic_auth(WEB, Some("wrong"))
        .form(&[("token", rt)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = app
        .backend()
        .post(app.url("/oauth/revoke"))
        .basic_auth(WEB, Some(WEB_SECRET))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.refresh(WEB_APP, rt, None).await.status(),
        StatusCode::OK,
        "nothing was revoked"
    );
}

#[tokio::test]
async fn a_store_failure_answers_503_not_a_false_200() {
    let app = TestApp::spawn().await;
    let tokens = tokens_for(&app, WEB_APP, OFFLINE).await;
    // Break the store under the running server: revocation cannot be recorded.
    app.execute_sql("alter table refresh_families rename to refresh_families_gone")
        .await;
    let r = revoke(&app, WEB_APP, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
}

#[tokio::test]
async fn nothing_minted_by_a_refresh_racing_a_revocation_stays_valid() {
    let app = Arc::new(TestApp::spawn().await);
    for _ in 0..10 {
        let tokens = tokens_for(&app, WEB_APP, OFFLINE).await;
        let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
        let refresh = {
            let (app, rt) = (app.clone(), rt.clone());
            tokio::spawn(async move {
                app.refresh(WEB_APP, &rt, None)
                    .await
                    .json::<Value>()
                    .await
                    .unwrap_or_default()
            })
        };
        let revoked = {
            let (app, rt) = (app.clone(), rt.clone());
            tokio::spawn(async move { revoke(&app, WEB_APP, &rt).await.status() })
        };
        let (minted, revoked) = (refresh.await.unwrap(), revoked.await.unwrap());
        assert_eq!(revoked, StatusCode::OK);
        // Whichever committed first, after the revocation nothing from this grant works.
        if let Some(at) = minted["access_token"].as_str() {
            assert_eq!(app.userinfo_status(at).await, StatusCode::UNAUTHORIZED);
        }
        if let Some(new_rt) = minted["refresh_token"].as_str() {
            assert_eq!(
                app.refresh(WEB_APP, new_rt, None).await.status(),
                StatusCode::BAD_REQUEST
            );
        }
        assert_eq!(
            app.userinfo_status(tokens["access_token"].as_str().unwrap())
                .await,
            StatusCode::UNAUTHORIZED
        );
    }
}
