//! `/authorize`: validation, the page-versus-redirect rule, PKCE, prompt, response modes.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn unregistered_redirect_uri_renders_an_error_page_and_never_redirects() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    for bad in [
        "https://evil.example/callback",
        "https://app.example/callback/",
        "https://app.example/CALLBACK",
        "https://app.example/callback?x=1",
        "https://app.example/callback/../callback",
        "https://app.example.evil.example/callback",
        "https://app.example/callback#x",
        "https://app.example/x/..;/callback",
        "https://app.example/x/%2e%2e/callback",
        "https://app.example/callback%2F",
        "https://app.example@evil.example/callback",
        "https://evil.example@app.example/callback",
        "http://localhost:3001/callback",
    ] {
        let r = browser
            .authorize(&with(web_params(), &[("redirect_uri", bad)]))
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(location(&r).is_empty(), "{bad} must not redirect");
        let body = r.text().await.unwrap();
        assert!(body.contains("Callback URL mismatch"), "{bad}: {body}");
    }
}

#[tokio::test]
async fn unknown_or_missing_client_renders_an_error_page() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    for params in [
        with(web_params(), &[("client_id", "nope")]),
        with(web_params(), &[("client_id", "")]),
    ] {
        let r = browser.authorize(&params).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(location(&r).is_empty());
    }
}

#[tokio::test]
async fn missing_redirect_uri_with_several_registered_is_an_error_page() {
    let app = TestApp::spawn().await;
    let r = app
        .browser()
        .authorize(&with(web_params(), &[("redirect_uri", "")]))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(location(&r).is_empty());
}

#[tokio::test]
async fn errors_after_trust_redirect_with_error_state_and_iss() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let cases = [
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("response_type", "")], "invalid_request"),
        (vec![("scope", "openid \"bad")], "invalid_scope"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("prompt", "none login")], "invalid_request"),
        (vec![("max_age", "abc")], "invalid_request"),
        (
            vec![("request", "eyJhbGciOiJub25lIn0.e30.")],
            "request_not_supported",
        ),
        (
            vec![("request_uri", "https://x.example/r")],
            "request_uri_not_supported",
        ),
    ];
    for (changes, expected) in cases {
        let r = browser.authorize(&with(web_params(), &changes)).await;
        assert_eq!(r.status(), StatusCode::FOUND, "{changes:?}");
        let loc = location(&r);
        assert!(loc.starts_with(WEB_CB), "{changes:?}: {loc}");
        let q = query(&loc);
        assert_eq!(q["error"], expected, "{changes:?}");
        assert_eq!(q["state"], "st-123");
        assert_eq!(q["iss"], app.issuer);
        assert!(!q.contains_key("code"));
    }
}

#[tokio::test]
async fn unknown_audience_is_access_denied_service_not_found() {
    let app = TestApp::spawn().await;
    let r = app
        .browser()
        .authorize(&with(
            web_params(),
            &[("audience", "https://nope.example/")],
        ))
        .await;
    let q = query(&location(&r));
    assert_eq!(q["error"], "access_denied");
    assert_eq!(
        q["error_description"],
        "Service not found: https://nope.example/"
    );
}

#[tokio::test]
async fn repeated_parameter_is_refused() {
    let app = TestApp::spawn().await;
    let mut params = web_params();
    params.push(("scope", "openid".into()));
    let r = app.browser().authorize(&params).await;
    assert_eq!(query(&location(&r))["error"], "invalid_request");
}

#[tokio::test]
async fn unknown_parameters_are_ignored() {
    let app = TestApp::spawn().await;
    let r = app
        .browser()
        .authorize(&with(web_params(), &[("extra", "foobar")]))
        .await;
    assert!(
        location(&r).starts_with("/u/login?state="),
        "{}",
        location(&r)
    );
}

#[tokio::test]
async fn public_client_without_pkce_is_refused_and_with_pkce_succeeds() {
    let app = TestApp::spawn().await;
    let base = vec![
        ("response_type", "code".to_owned()),
        ("client_id", SPA.to_owned()),
        ("redirect_uri", SPA_CB.to_owned()),
        ("scope", "openid".to_owned()),
        ("state", "s".to_owned()),
    ];
    let r = app.browser().authorize(&base).await;
    let q = query(&location(&r));
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("PKCE"));

    let browser = app.browser();
    let params = with(
        base,
        &[
            ("code_challenge", &challenge()),
            ("code_challenge_method", "S256"),
        ],
    );
    let callback = browser.sign_in(&params, ALICE).await;
    let code = query(&callback).remove("code").unwrap();
    let r = app
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", SPA_CB),
                ("client_id", SPA),
                ("code_verifier", VERIFIER),
            ],
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn state_is_echoed_byte_for_byte() {
    let app = TestApp::spawn().await;
    let state = "a b+c/d?e=f&g%h\u{e9}\u{1F600}<script>";
    let callback = app
        .browser()
        .sign_in(&with(web_params(), &[("state", state)]), ALICE)
        .await;
    assert_eq!(query(&callback)["state"], state);
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required() {
    let app = TestApp::spawn().await;
    let r = app
        .browser()
        .authorize(&with(web_params(), &[("prompt", "none")]))
        .await;
    let q = query(&location(&r));
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["iss"], app.issuer);
}

#[tokio::test]
async fn prompt_none_with_a_session_and_consent_returns_a_code_without_ui() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser.sign_in(&web_params(), ALICE).await;
    let r = browser
        .authorize(&with(web_params(), &[("prompt", "none")]))
        .await;
    assert!(
        query(&location(&r)).contains_key("code"),
        "{}",
        location(&r)
    );
}

#[tokio::test]
async fn login_hint_prefills_the_login_form() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let r = browser
        .authorize(&with(web_params(), &[("login_hint", "alice@example.com")]))
        .await;
    let page = browser.get(&location(&r)).await.text().await.unwrap();
    assert_eq!(form_fields(&page)["username"], "alice@example.com");
}

#[tokio::test]
async fn form_post_response_mode_posts_the_code_with_state_and_iss() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser.sign_in(&web_params(), ALICE).await;
    let r = browser
        .authorize(&with(web_params(), &[("response_mode", "form_post")]))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'sha256-") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let html = r.text().await.unwrap();
    let doc = scraper::Html::parse_document(&html);
    let form = doc
        .select(&scraper::Selector::parse("form").unwrap())
        .next()
        .unwrap();
    assert_eq!(form.value().attr("action"), Some(WEB_CB));
    assert_eq!(form.value().attr("method"), Some("post"));
    let fields = form_fields(&html);
    assert!(!fields["code"].is_empty());
    assert_eq!(fields["state"], "st-123");
    assert_eq!(fields["iss"], app.issuer);
}

#[tokio::test]
async fn post_to_authorize_works_like_get() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let params = web_params();
    let r = browser
        .http
        .post(browser.abs("/authorize"))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert!(
        location(&r).starts_with("/u/login?state="),
        "{}",
        location(&r)
    );
}

#[tokio::test]
async fn redirect_uri_may_be_omitted_when_one_is_registered() {
    let app = TestApp::spawn().await;
    let params = vec![
        ("response_type", "code".to_owned()),
        ("client_id", THIRD.to_owned()),
        ("scope", "openid".to_owned()),
        ("state", "s".to_owned()),
    ];
    let callback = app.browser().sign_in(&params, ALICE).await;
    assert!(callback.starts_with(THIRD_CB), "{callback}");
    let code = query(&callback).remove("code").unwrap();
    // The token request needs no redirect_uri either (RFC 6749 §4.1.3).
    let r = app
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", THIRD),
                ("client_secret", THIRD_SECRET),
            ],
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_id_token_hint_for_the_current_user_allows_silent_authentication() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let code = query(&browser.sign_in(&web_params(), ALICE).await)
        .remove("code")
        .unwrap();
    let tokens: serde_json::Value = app.exchange(&code).await.json().await.unwrap();
    let hint = tokens["id_token"].as_str().unwrap();
    app.clock.advance(time::Duration::days(1));
    let r = browser
        .authorize(&with(
            web_params(),
            &[("prompt", "none"), ("id_token_hint", hint)],
        ))
        .await;
    let q = query(&location(&r));
    assert!(
        q.contains_key("code"),
        "an expired hint is still a hint: {q:?}"
    );
}

#[tokio::test]
async fn an_id_token_hint_for_another_user_needs_a_login() {
    let app = TestApp::spawn().await;
    let alice_code = query(&app.browser().sign_in(&web_params(), ALICE).await)
        .remove("code")
        .unwrap();
    let alice: serde_json::Value = app.exchange(&alice_code).await.json().await.unwrap();
    let bob_browser = app.browser();
    bob_browser.sign_in(&web_params(), BOB).await;
    let hint = alice["id_token"].as_str().unwrap();
    let silent = bob_browser
        .authorize(&with(
            web_params(),
            &[("prompt", "none"), ("id_token_hint", hint)],
        ))
        .await;
    assert_eq!(query(&location(&silent))["error"], "login_required");
    let interactive = bob_browser
        .authorize(&with(web_params(), &[("id_token_hint", hint)]))
        .await;
    assert!(
        location(&interactive).starts_with("/u/login"),
        "{}",
        location(&interactive)
    );
}

#[tokio::test]
async fn an_invalid_id_token_hint_is_invalid_request() {
    let app = TestApp::spawn().await;
    let code = query(&app.browser().sign_in(&web_params(), ALICE).await)
        .remove("code")
        .unwrap();
    let tokens: serde_json::Value = app.exchange(&code).await.json().await.unwrap();
    let access_token = tokens["access_token"].as_str().unwrap();
    for hint in ["not-a-jwt", access_token] {
        let r = app
            .browser()
            .authorize(&with(web_params(), &[("id_token_hint", hint)]))
            .await;
        let q = query(&location(&r));
        assert_eq!(
            (q["error"].as_str(), q["iss"].as_str()),
            ("invalid_request", app.issuer.as_str())
        );
    }
    // A hint issued to another client.
    let third_params = vec![
        ("response_type", "code".to_owned()),
        ("client_id", THIRD.to_owned()),
        ("redirect_uri", THIRD_CB.to_owned()),
        ("scope", "openid".to_owned()),
        (
            "id_token_hint",
            tokens["id_token"].as_str().unwrap().to_owned(),
        ),
    ];
    let r = app.browser().authorize(&third_params).await;
    assert_eq!(query(&location(&r))["error"], "invalid_request");
}
