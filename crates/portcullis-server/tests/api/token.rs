//! `POST /oauth/token` with `grant_type=authorization_code`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

async fn error_of(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn code_exchange_returns_tokens_with_the_contracted_claims() {
    let app = TestApp::spawn().await;
    let code = code_for_alice(&app).await;
    let r = app.exchange(&code).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "openid profile email read:items");
    assert!(body.get("refresh_token").is_none());

    let at = body["access_token"].as_str().unwrap();
    let h = header(at);
    assert_eq!(h["alg"], "RS256");
    assert_eq!(h["typ"], "JWT");
    let jwks: Value = app
        .backend()
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], h["kid"]);
    let c = claims(at);
    assert_eq!(c["iss"], app.issuer);
    assert_eq!(
        c["aud"],
        serde_json::json!([API, format!("{}userinfo", app.issuer)])
    );
    assert_eq!(c["azp"], WEB);
    assert_eq!(c["scope"], "openid profile email read:items");
    assert!(c["sub"].as_str().unwrap().starts_with("auth0|"));
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3600
    );
    assert!(c["jti"].is_string());

    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], app.issuer);
    assert_eq!(id["aud"], WEB);
    assert_eq!(id["sub"], c["sub"]);
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["email"], ALICE);
    assert_eq!(id["name"], "Alice Example");
    assert_eq!(id["auth_time"], id["iat"]);
    assert!(id["sid"].is_string());
    assert_eq!(id["at_hash"], portcullis_core::claims::at_hash(at));
    assert_eq!(
        id["exp"].as_i64().unwrap() - id["iat"].as_i64().unwrap(),
        36_000
    );
}

#[tokio::test]
async fn the_tokens_verify_against_the_published_jwks() {
    let app = TestApp::spawn().await;
    let body: Value = app
        .exchange(&code_for_alice(&app).await)
        .await
        .json()
        .await
        .unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .backend()
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["id_token"].as_str().unwrap();
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(&kid).unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[WEB]);
    validation.set_issuer(&[&app.issuer]);
    validation.validate_exp = false;
    assert!(jsonwebtoken::decode::<Value>(token, &key, &validation).is_ok());
}

#[tokio::test]
async fn a_code_works_once_and_its_replay_revokes_the_access_token() {
    let app = TestApp::spawn().await;
    let code = code_for_alice(&app).await;
    let first: Value = app.exchange(&code).await.json().await.unwrap();
    let at = first["access_token"].as_str().unwrap();
    let userinfo = |token: String| {
        let http = app.backend();
        let url = app.url("/userinfo");
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(userinfo(at.to_owned()).await, StatusCode::OK);
    assert_eq!(
        error_of(app.exchange(&code).await).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    assert_eq!(
        userinfo(at.to_owned()).await,
        StatusCode::UNAUTHORIZED,
        "tokens from a replayed code are revoked"
    );
}

#[tokio::test]
async fn concurrent_redemptions_of_one_code_yield_exactly_one_success() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let code = code_for_alice(&app).await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (app, code) = (app.clone(), code.clone());
            tokio::spawn(async move { app.exchange(&code).await.status() })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::BAD_REQUEST => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let app = TestApp::spawn().await;
    let code = code_for_alice(&app).await;
    app.clock.advance(time::Duration::seconds(60));
    assert_eq!(
        error_of(app.exchange(&code).await).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
}

#[tokio::test]
async fn a_code_is_bound_to_its_client_redirect_uri_and_pkce_challenge() {
    let app = TestApp::spawn().await;
    type Case<'a> = (Vec<(&'a str, &'a str)>, Option<(&'a str, &'a str)>);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![
                ("redirect_uri", WEB_CB),
                ("code_verifier", VERIFIER),
                ("client_id", THIRD),
                ("client_secret", THIRD_SECRET),
            ],
            None,
        ),
        (
            vec![
                ("redirect_uri", "https://app.example/other"),
                ("code_verifier", VERIFIER),
            ],
            Some((WEB, WEB_SECRET)),
        ),
        (vec![("code_verifier", VERIFIER)], Some((WEB, WEB_SECRET))),
        (vec![("redirect_uri", WEB_CB)], Some((WEB, WEB_SECRET))),
        (
            vec![
                ("redirect_uri", WEB_CB),
                (
                    "code_verifier",
                    "wrong-verifier-wrong-verifier-wrong-verifier",
                ),
            ],
            Some((WEB, WEB_SECRET)),
        ),
    ];
    for (extra, basic) in cases {
        let code = code_for_alice(&app).await;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ];
        form.extend(extra.iter().copied());
        let r = app.token(&form, basic).await;
        assert_eq!(
            error_of(r).await,
            (StatusCode::BAD_REQUEST, "invalid_grant".into()),
            "{extra:?}"
        );
    }
}

#[tokio::test]
async fn a_verifier_for_a_code_issued_without_challenge_is_refused() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let params = with(
        web_params(),
        &[("code_challenge", ""), ("code_challenge_method", "")],
    );
    let code = query(&browser.sign_in(&params, ALICE).await)
        .remove("code")
        .unwrap();
    assert_eq!(error_of(app.exchange(&code).await).await.1, "invalid_grant");
}

#[tokio::test]
async fn client_authentication_failures_are_401_invalid_client() {
    let app = TestApp::spawn().await;
    let code = code_for_alice(&app).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", WEB_CB),
        ("code_verifier", VERIFIER),
    ];
    let r = app.token(&form, Some((WEB, "wrong secret"))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(error_of(r).await.1, "invalid_client");

    let mut post = form.to_vec();
    post.extend([("client_id", WEB), ("client_secret", "wrong secret")]);
    let r = app.token(&post, None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        !r.headers().contains_key("www-authenticate"),
        "no Basic challenge when Basic was not used"
    );

    let mut none = form.to_vec();
    none.push(("client_id", WEB));
    assert_eq!(
        app.token(&none, None).await.status(),
        StatusCode::UNAUTHORIZED,
        "a confidential client must authenticate"
    );

    let r = app.token(&form, Some(("nobody", "x"))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let r = app.token(&form, None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "no client at all");

    let mut spa_with_secret = form.to_vec();
    spa_with_secret.extend([("client_id", SPA), ("client_secret", "anything")]);
    assert_eq!(
        app.token(&spa_with_secret, None).await.status(),
        StatusCode::UNAUTHORIZED,
        "a public client never holds a secret"
    );

    // The code survived all of that: authentication failures do not consume it.
    assert_eq!(app.exchange(&code).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_secret_may_be_sent_by_basic_or_in_the_body_but_not_both() {
    let app = TestApp::spawn().await;
    let code = code_for_alice(&app).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", WEB_CB),
        ("code_verifier", VERIFIER),
        ("client_id", WEB),
        ("client_secret", WEB_SECRET),
    ];
    assert_eq!(
        error_of(app.token(&form, Some((WEB, WEB_SECRET))).await)
            .await
            .1,
        "invalid_request"
    );
    assert_eq!(
        app.token(&form, None).await.status(),
        StatusCode::OK,
        "client_secret_post accepted for a Basic client, as Auth0 does"
    );
}

#[tokio::test]
async fn json_bodies_are_accepted_and_other_content_types_refused() {
    let app = TestApp::spawn().await;
    let code = code_for_alice(&app).await;
    let body = serde_json::json!({
        "grant_type": "authorization_code", "code": code, "redirect_uri": WEB_CB,
        "code_verifier": VERIFIER, "client_id": WEB, "client_secret": WEB_SECRET,
    });
    let r = app
        .backend()
        .post(app.url("/oauth/token"))
        .body(body.to_string())
        .header("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    let r = app
        .backend()
        .post(app.url("/oauth/token"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn grant_type_errors() {
    let app = TestApp::spawn().await;
    let basic = Some((WEB, WEB_SECRET));
    assert_eq!(
        error_of(app.token(&[("code", "x")], basic).await).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    assert_eq!(
        error_of(app.token(&[("grant_type", "password")], basic).await)
            .await
            .1,
        "unsupported_grant_type"
    );
    assert_eq!(
        error_of(
            app.token(&[("grant_type", "authorization_code")], basic)
                .await
        )
        .await
        .1,
        "invalid_request"
    );
    let m2m = app
        .token(
            &[("grant_type", "authorization_code"), ("code", "x")],
            Some((M2M, M2M_SECRET)),
        )
        .await;
    assert_eq!(error_of(m2m).await.1, "unauthorized_client");
    let twice = app
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", "a"),
                ("code", "b"),
            ],
            basic,
        )
        .await;
    assert_eq!(error_of(twice).await.1, "invalid_request");
    assert_eq!(
        error_of(
            app.token(
                &[("grant_type", "authorization_code"), ("code", "unknown")],
                basic
            )
            .await
        )
        .await
        .1,
        "invalid_grant"
    );
}

#[tokio::test]
async fn a_code_for_a_blocked_user_is_refused() {
    let app = TestApp::spawn().await;
    let code = code_for_alice(&app).await;
    let file = portcullis_core::tenant::parse("users: [{email: alice@example.com, blocked: true}]")
        .unwrap();
    portcullis_server::tenant::apply(&app.state, &file)
        .await
        .unwrap();
    assert_eq!(error_of(app.exchange(&code).await).await.1, "invalid_grant");
}

#[tokio::test]
async fn secrets_codes_and_cookies_are_not_stored_in_clear() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let next = location(&browser.authorize(&web_params()).await);
    let handle = next.trim_start_matches("/u/login?state=").to_owned();
    let login = browser.login(&next, ALICE, PASSWORD).await;
    let session = Browser::session_cookie(&login).unwrap();
    let code = query(&location(&login)).remove("code").unwrap();
    let bytes = app.database_bytes().await;
    assert!(bytes.len() > 4096);
    for secret in [
        WEB_SECRET,
        PASSWORD,
        code.as_str(),
        session.as_str(),
        handle.as_str(),
    ] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} found in the database"
        );
    }
    assert!(
        !bytes.windows(10).any(|w| w == b"PRIVATE KE"),
        "no clear private key"
    );
}
