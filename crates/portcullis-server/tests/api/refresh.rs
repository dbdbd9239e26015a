//! Refresh tokens: issuing rules, rotation, reuse detection, leeway, lifetimes, races,
//! rate limits (`grant_type=refresh_token`).

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

const OFFLINE: &str = "openid profile email read:items offline_access";

fn rt(tokens: &Value) -> String {
    tokens["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned()
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
async fn a_refresh_token_needs_offline_access_an_offline_api_the_grant_and_no_origin() {
    let app = TestApp::spawn().await;
    let with_all = tokens_for(&app, WEB_APP, OFFLINE).await;
    assert!(rt(&with_all).len() >= 43, "≥ 256 random bits, base64url");
    assert_eq!(with_all["scope"], OFFLINE);

    let no_offline = tokens_for(&app, WEB_APP, "openid read:items").await;
    assert!(no_offline.get("refresh_token").is_none());

    let browser = app.browser();
    let params = with(
        web_params(),
        &[
            ("audience", NOSKIP_API),
            ("scope", "openid read:secrets offline_access"),
        ],
    );
    let next = location(&browser.authorize(&params).await);
    let next = location(&browser.login(&next, ALICE, PASSWORD).await);
    let code = query(&location(&browser.consent(&next, "accept").await))
        .remove("code")
        .unwrap();
    let body: Value = app.exchange(&code).await.json().await.unwrap();
    assert!(
        body.get("refresh_token").is_none(),
        "the API does not allow offline access"
    );
    assert!(!body["scope"].as_str().unwrap().contains("offline_access"));

    // A browser (Origin header) gets tokens but no refresh token.
    let code = query(
        &app.browser()
            .sign_in(&with(web_params(), &[("scope", OFFLINE)]), ALICE)
            .await,
    )
    .remove("code")
    .unwrap();
    let r = app
        .backend()
        .post(app.url("/oauth/token"))
        .header("origin", "https://app.example")
        .basic_auth(WEB, Some(WEB_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", WEB_CB),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert!(body["access_token"].is_string() && body.get("refresh_token").is_none());
}

#[tokio::test]
async fn a_client_without_the_refresh_token_grant_gets_none() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let params = vec![
        ("response_type", "code".to_owned()),
        ("client_id", THIRD.to_owned()),
        ("redirect_uri", THIRD_CB.to_owned()),
        ("scope", OFFLINE.to_owned()),
        ("audience", API.to_owned()),
    ];
    let code = query(&browser.sign_in(&params, ALICE).await)
        .remove("code")
        .unwrap();
    let body: Value = app
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", THIRD_CB),
                ("client_id", THIRD),
                ("client_secret", THIRD_SECRET),
            ],
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(body.get("refresh_token").is_none());
}

#[tokio::test]
async fn refreshing_rotates_and_the_refreshed_id_token_keeps_its_identity() {
    let app = TestApp::spawn().await;
    let first = tokens_for(&app, WEB_APP, OFFLINE).await;
    app.clock.advance(time::Duration::seconds(100));
    let r = app.refresh(WEB_APP, &rt(&first), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let second: Value = r.json().await.unwrap();
    assert_ne!(rt(&second), rt(&first), "rotated");
    assert_eq!(second["scope"], OFFLINE);
    assert_eq!(second["expires_in"], 3600);
    let (a, b) = (
        claims(first["id_token"].as_str().unwrap()),
        claims(second["id_token"].as_str().unwrap()),
    );
    for same in ["iss", "sub", "aud", "azp", "auth_time", "sid"] {
        assert_eq!(a[same], b[same], "{same}");
    }
    assert_eq!(b["iat"].as_i64().unwrap() - a["iat"].as_i64().unwrap(), 100);
    assert!(b.get("nonce").is_none(), "no nonce in a refreshed ID token");
    assert_eq!(
        app.userinfo_status(second["access_token"].as_str().unwrap())
            .await,
        StatusCode::OK
    );
    // The new refresh token works in turn.
    assert_eq!(
        app.refresh(WEB_APP, &rt(&second), None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn reusing_a_rotated_token_revokes_the_whole_family_whoever_comes_first() {
    let app = TestApp::spawn().await;
    let first = tokens_for(&app, WEB_APP, OFFLINE).await;
    let second: Value = app
        .refresh(WEB_APP, &rt(&first), None)
        .await
        .json()
        .await
        .unwrap();
    // The attacker replays the old token: refused, and the family dies.
    assert_eq!(
        error_of(app.refresh(WEB_APP, &rt(&first), None).await).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    assert_eq!(
        error_of(app.refresh(WEB_APP, &rt(&second), None).await)
            .await
            .1,
        "invalid_grant",
        "the legitimate chain is revoked too"
    );
    for at in [&first["access_token"], &second["access_token"]] {
        assert_eq!(
            app.userinfo_status(at.as_str().unwrap()).await,
            StatusCode::UNAUTHORIZED,
            "its access tokens too"
        );
    }
    assert!(app.log_codes().await.contains(&"ferrt".to_owned()));
}

#[tokio::test]
async fn a_narrower_scope_narrows_the_access_token_only_and_a_wider_one_is_invalid_scope() {
    let app = TestApp::spawn().await;
    let first = tokens_for(&app, WEB_APP, OFFLINE).await;
    let r = app.refresh(WEB_APP, &rt(&first), Some("read:items")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let narrow: Value = r.json().await.unwrap();
    assert_eq!(narrow["scope"], "read:items");
    assert_eq!(
        claims(narrow["access_token"].as_str().unwrap())["scope"],
        "read:items"
    );
    assert!(
        narrow.get("id_token").is_none(),
        "openid not requested this time"
    );
    // The new refresh token still carries the whole grant.
    let full: Value = app
        .refresh(WEB_APP, &rt(&narrow), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(full["scope"], OFFLINE);
    let wider = app
        .refresh(WEB_APP, &rt(&full), Some("read:items write:items"))
        .await;
    assert_eq!(
        error_of(wider).await,
        (StatusCode::BAD_REQUEST, "invalid_scope".into())
    );
    assert_eq!(
        app.refresh(WEB_APP, &rt(&full), None).await.status(),
        StatusCode::OK,
        "a refused scope changes nothing"
    );
}

#[tokio::test]
async fn a_refresh_token_is_bound_to_its_client_and_needs_client_authentication() {
    let app = TestApp::spawn().await;
    let tokens = tokens_for(&app, WEB_APP, OFFLINE).await;
    let other = app.refresh(LEEWAY_APP, &rt(&tokens), None).await;
    assert_eq!(
        error_of(other).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    let unauthenticated = app
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt(&tokens)),
                ("client_id", WEB),
            ],
            None,
        )
        .await;
    assert_eq!(
        error_of(unauthenticated).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    assert_eq!(
        app.refresh(WEB_APP, &rt(&tokens), None).await.status(),
        StatusCode::OK,
        "the owner still can"
    );
}

#[tokio::test]
async fn a_blocked_user_can_no_longer_refresh() {
    let app = TestApp::spawn().await;
    let tokens = tokens_for(&app, WEB_APP, OFFLINE).await;
    let file = portcullis_core::tenant::parse("users: [{email: alice@example.com, blocked: true}]")
        .unwrap();
    portcullis_server::tenant::apply(&app.state, &file)
        .await
        .unwrap();
    assert_eq!(
        error_of(app.refresh(WEB_APP, &rt(&tokens), None).await)
            .await
            .1,
        "invalid_grant"
    );
}

#[tokio::test]
async fn ten_concurrent_refreshes_of_one_token_yield_one_success_and_no_second_chain() {
    let app = Arc::new(TestApp::spawn().await);
    let token = rt(&tokens_for(&app, WEB_APP, OFFLINE).await);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (app, token) = (app.clone(), token.clone());
            tokio::spawn(async move {
                let r = app.refresh(WEB_APP, &token, None).await;
                (r.status(), r.json::<Value>().await.unwrap_or_default())
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            StatusCode::OK => winners.push(body),
            StatusCode::BAD_REQUEST => assert_eq!(body["error"], "invalid_grant"),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(winners.len(), 1);
    // The losers presented an invalidated token: reuse detection ended the family, so not
    // even the winner's token makes a second chain.
    assert_eq!(
        app.refresh(WEB_APP, &rt(&winners[0]), None).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn within_the_leeway_only_the_immediate_predecessor_may_be_reused() {
    let app = TestApp::spawn().await;
    let t0 = rt(&tokens_for(&app, LEEWAY_APP, OFFLINE).await);
    let t1 = rt(&app
        .refresh(LEEWAY_APP, &t0, None)
        .await
        .json::<Value>()
        .await
        .unwrap());
    app.clock.advance(time::Duration::seconds(5));
    // A retry with t0 (the response with t1 was lost): a fresh token of the same family.
    let r = app.refresh(LEEWAY_APP, &t0, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let t1b = rt(&r.json::<Value>().await.unwrap());
    assert_ne!(t1b, t1);
    // t1 was superseded by t1b: at most one active token, so t1 is now reuse.
    let t2 = rt(&app
        .refresh(LEEWAY_APP, &t1b, None)
        .await
        .json::<Value>()
        .await
        .unwrap());
    // Older than the immediate predecessor, even within the leeway: reuse detection.
    assert_eq!(
        error_of(app.refresh(LEEWAY_APP, &t0, None).await).await.1,
        "invalid_grant"
    );
    assert_eq!(
        error_of(app.refresh(LEEWAY_APP, &t2, None).await).await.1,
        "invalid_grant",
        "family revoked"
    );
}

#[tokio::test]
async fn the_predecessor_is_refused_once_the_leeway_has_passed() {
    let app = TestApp::spawn().await;
    let t0 = rt(&tokens_for(&app, LEEWAY_APP, OFFLINE).await);
    let t1 = rt(&app
        .refresh(LEEWAY_APP, &t0, None)
        .await
        .json::<Value>()
        .await
        .unwrap());
    app.clock.advance(time::Duration::seconds(11));
    assert_eq!(
        error_of(app.refresh(LEEWAY_APP, &t0, None).await).await.1,
        "invalid_grant"
    );
    assert_eq!(
        error_of(app.refresh(LEEWAY_APP, &t1, None).await).await.1,
        "invalid_grant",
        "reuse detection"
    );
}

#[tokio::test]
async fn the_absolute_lifetime_does_not_extend_with_rotation_and_idle_tokens_expire() {
    let app = TestApp::spawn().await;
    let mut token = rt(&tokens_for(&app, WEB_APP, OFFLINE).await);
    for _ in 0..6 {
        app.clock.advance(time::Duration::seconds(590));
        let r = app.refresh(WEB_APP, &token, None).await;
        assert_eq!(r.status(), StatusCode::OK);
        token = rt(&r.json().await.unwrap());
    }
    // 3540 s after the family began: one more rotation is fine, then the 3600 s end.
    app.clock.advance(time::Duration::seconds(61));
    assert_eq!(
        error_of(app.refresh(WEB_APP, &token, None).await).await.1,
        "invalid_grant",
        "absolute lifetime"
    );

    let idle = rt(&tokens_for(&app, WEB_APP, OFFLINE).await);
    app.clock.advance(time::Duration::seconds(600));
    assert_eq!(
        error_of(app.refresh(WEB_APP, &idle, None).await).await.1,
        "invalid_grant",
        "idle lifetime"
    );
}

#[tokio::test]
async fn a_non_rotating_token_is_reused() {
    let app = TestApp::spawn().await;
    let token = rt(&tokens_for(&app, KEEPER_APP, OFFLINE).await);
    for _ in 0..3 {
        let r = app.refresh(KEEPER_APP, &token, None).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.json::<Value>()
                .await
                .unwrap()
                .get("refresh_token")
                .is_none()
        );
    }
}

#[tokio::test]
async fn a_rotated_token_stays_refused_after_a_restart() {
    let app = TestApp::spawn().await;
    let t0 = rt(&tokens_for(&app, WEB_APP, OFFLINE).await);
    let t1 = rt(&app
        .refresh(WEB_APP, &t0, None)
        .await
        .json::<Value>()
        .await
        .unwrap());
    let restarted = app.restart().await;
    assert_eq!(
        error_of(restarted.refresh(WEB_APP, &t0, None).await)
            .await
            .1,
        "invalid_grant"
    );
    assert_eq!(
        error_of(restarted.refresh(WEB_APP, &t1, None).await)
            .await
            .1,
        "invalid_grant",
        "reuse detected after restart"
    );
}

#[tokio::test]
async fn refreshes_past_the_rate_limit_get_429_with_auth0_headers() {
    let app = TestApp::spawn_with(|s| s.rate_limits.refresh_burst = 3).await;
    let tokens = tokens_for(&app, KEEPER_APP, OFFLINE).await;
    for _ in 0..3 {
        assert_eq!(
            app.refresh(KEEPER_APP, &rt(&tokens), None).await.status(),
            StatusCode::OK
        );
    }
    let r = app.refresh(KEEPER_APP, &rt(&tokens), None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["x-ratelimit-limit"], "3");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    let reset: i64 = r.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset > app.clock_now());
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": "too_many_requests", "error_description": "Rate limit exceeded. Please retry after some time."})
    );
    // Another token is not affected; time refills the bucket.
    let other = tokens_for(&app, KEEPER_APP, OFFLINE).await;
    assert_eq!(
        app.refresh(KEEPER_APP, &rt(&other), None).await.status(),
        StatusCode::OK
    );
    app.clock.advance(time::Duration::seconds(2));
    assert_eq!(
        app.refresh(KEEPER_APP, &rt(&tokens), None).await.status(),
        StatusCode::OK
    );
}

/// Rotating does not escape the limit: it counts the token with its rotations (the family)
/// from one address.
#[tokio::test]
async fn rotating_refresh_tokens_share_their_rate_limit() {
    let app = TestApp::spawn_with(|s| s.rate_limits.refresh_burst = 3).await;
    let mut tokens = tokens_for(&app, WEB_APP, OFFLINE).await;
    for _ in 0..3 {
        let r = app.refresh(WEB_APP, &rt(&tokens), None).await;
        assert_eq!(r.status(), StatusCode::OK);
        let next: Value = r.json().await.unwrap();
        assert_ne!(rt(&next), rt(&tokens), "rotated");
        tokens = next;
    }
    let r = app.refresh(WEB_APP, &rt(&tokens), None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    // The refused token was not used up: once the bucket refills it rotates.
    app.clock.advance(time::Duration::seconds(2));
    assert_eq!(
        app.refresh(WEB_APP, &rt(&tokens), None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_replayed_code_also_revokes_its_refresh_token() {
    let app = TestApp::spawn().await;
    let code = query(
        &app.browser()
            .sign_in(&with(web_params(), &[("scope", OFFLINE)]), ALICE)
            .await,
    )
    .remove("code")
    .unwrap();
    let tokens: Value = app.exchange(&code).await.json().await.unwrap();
    assert_eq!(app.exchange(&code).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error_of(app.refresh(WEB_APP, &rt(&tokens), None).await)
            .await
            .1,
        "invalid_grant"
    );
}
