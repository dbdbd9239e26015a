//! Hosted login: credentials, generic errors, CSRF, browser binding, SSO sessions.

use reqwest::StatusCode;

use crate::helpers::*;

async fn login_page(app: &TestApp) -> (Browser, String) {
    let browser = app.browser();
    let next = location(&browser.authorize(&web_params()).await);
    assert!(next.starts_with("/u/login?state="));
    (browser, next)
}

#[tokio::test]
async fn login_page_has_the_contracted_form() {
    let app = TestApp::spawn().await;
    let (browser, url) = login_page(&app).await;
    let r = browser.get(&url).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert_eq!(
        text_of(&html, "label[for=username]").as_deref(),
        Some("Email")
    );
    assert_eq!(
        text_of(&html, "label[for=password]").as_deref(),
        Some("Password")
    );
    assert_eq!(
        text_of(&html, "form button[type=submit]").as_deref(),
        Some("Continue")
    );
    let fields = form_fields(&html);
    for name in ["username", "password", "state", "csrf"] {
        assert!(fields.contains_key(name), "{name}");
    }
}

#[tokio::test]
async fn wrong_password_unknown_user_and_blocked_user_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let mut answers = Vec::new();
    for (email, password) in [
        (ALICE, "wrong password!"),
        ("nobody@example.com", PASSWORD),
        (CAROL, PASSWORD),
    ] {
        let (browser, url) = login_page(&app).await;
        let r = browser.login(&url, email, password).await;
        let status = r.status();
        let html = r.text().await.unwrap();
        answers.push((status, text_of(&html, ".error")));
    }
    assert_eq!(answers[0].0, StatusCode::BAD_REQUEST);
    assert_eq!(answers[0].1.as_deref(), Some("Wrong email or password."));
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
}

#[tokio::test]
async fn right_password_sets_a_hardened_session_cookie_and_continues() {
    let app = TestApp::spawn().await;
    let (browser, url) = login_page(&app).await;
    let r = browser.login(&url, ALICE, PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "303 after a credential POST (RFC 9700 §4.12)"
    );
    let cookies = Browser::cookies(r.headers());
    let session = cookies
        .iter()
        .find(|c| c.starts_with("portcullis_session="))
        .expect("session cookie");
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Lax")
            && session.contains("Path=/"),
        "{session}"
    );
    // First-party app, API allows skipping consent, verifiable redirect: straight to the app.
    assert!(location(&r).starts_with(WEB_CB), "{}", location(&r));
}

#[tokio::test]
async fn login_without_or_with_a_wrong_csrf_token_is_refused() {
    let app = TestApp::spawn().await;
    let (browser, url) = login_page(&app).await;
    let fields = form_fields(&browser.get(&url).await.text().await.unwrap());
    for csrf in ["", "forged", &fields["csrf"][..fields["csrf"].len() - 2]] {
        let r = browser
            .post_form(
                "/u/login",
                &[
                    ("state", &fields["state"]),
                    ("csrf", csrf),
                    ("username", ALICE),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "csrf {csrf:?}");
        assert!(Browser::cookies(r.headers()).is_empty());
    }
}

#[tokio::test]
async fn a_login_transaction_cannot_be_completed_from_another_browser() {
    // Login CSRF: an attacker's transaction (state + csrf) posted from the victim's browser.
    let app = TestApp::spawn().await;
    let (attacker, url) = login_page(&app).await;
    let fields = form_fields(&attacker.get(&url).await.text().await.unwrap());
    let victim = app.browser();
    let r = victim
        .post_form(
            "/u/login",
            &[
                ("state", &fields["state"]),
                ("csrf", &fields["csrf"]),
                ("username", ALICE),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        Browser::cookies(r.headers())
            .iter()
            .all(|c| !c.starts_with("portcullis_session"))
    );
}

#[tokio::test]
async fn an_expired_login_transaction_is_refused() {
    let app = TestApp::spawn().await;
    let (browser, url) = login_page(&app).await;
    app.clock
        .advance(time::Duration::hours(1) + time::Duration::seconds(1));
    let r = browser.get(&url).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("pressed the back button"));
}

#[tokio::test]
async fn a_returning_user_skips_the_login_page() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser.sign_in(&web_params(), ALICE).await;
    let r = browser.authorize(&web_params()).await;
    let loc = location(&r);
    assert!(
        loc.starts_with(WEB_CB) && query(&loc).contains_key("code"),
        "{loc}"
    );
}

#[tokio::test]
async fn prompt_login_forces_reauthentication_with_a_later_auth_time() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let first = query(&browser.sign_in(&web_params(), ALICE).await)
        .remove("code")
        .unwrap();
    let first: serde_json::Value = app.exchange(&first).await.json().await.unwrap();
    app.clock.advance(time::Duration::seconds(30));
    let r = browser
        .authorize(&with(web_params(), &[("prompt", "login")]))
        .await;
    let next = location(&r);
    assert!(next.starts_with("/u/login"), "{next}");
    let second = location(&browser.login(&next, ALICE, PASSWORD).await);
    let second: serde_json::Value = app
        .exchange(&query(&second)["code"])
        .await
        .json()
        .await
        .unwrap();
    let t1 = claims(first["id_token"].as_str().unwrap())["auth_time"]
        .as_i64()
        .unwrap();
    let t2 = claims(second["id_token"].as_str().unwrap())["auth_time"]
        .as_i64()
        .unwrap();
    assert_eq!(t2 - t1, 30);
}

#[tokio::test]
async fn max_age_forces_login_when_the_authentication_is_older() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser.sign_in(&web_params(), ALICE).await;
    app.clock.advance(time::Duration::seconds(120));
    let young_enough = location(
        &browser
            .authorize(&with(web_params(), &[("max_age", "300")]))
            .await,
    );
    assert!(young_enough.starts_with(WEB_CB), "{young_enough}");
    let too_old = location(
        &browser
            .authorize(&with(web_params(), &[("max_age", "60")]))
            .await,
    );
    assert!(too_old.starts_with("/u/login"), "{too_old}");
    let zero = location(
        &browser
            .authorize(&with(web_params(), &[("max_age", "0")]))
            .await,
    );
    assert!(zero.starts_with("/u/login"), "{zero}");
}

#[tokio::test]
async fn an_idle_session_ends() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser.sign_in(&web_params(), ALICE).await;
    app.clock
        .advance(app.state.settings.sessions.idle + time::Duration::seconds(1));
    let next = location(&browser.authorize(&web_params()).await);
    assert!(next.starts_with("/u/login"), "{next}");
}

#[tokio::test]
async fn using_a_session_keeps_it_alive_past_the_idle_lifetime_from_login() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser.sign_in(&web_params(), ALICE).await;
    let idle = app.state.settings.sessions.idle;
    let used = location(&browser.authorize(&web_params()).await);
    assert!(used.starts_with(WEB_CB), "{used}");
    // Used again within a minute: the use is not written, the one before counts.
    app.clock.advance(time::Duration::seconds(30));
    let soon = location(&browser.authorize(&web_params()).await);
    assert!(soon.starts_with(WEB_CB), "{soon}");
    app.clock.advance(idle / 2);
    let halfway = location(&browser.authorize(&web_params()).await);
    assert!(halfway.starts_with(WEB_CB), "{halfway}");
    // More than the idle lifetime after login, less than it after the last use.
    app.clock.advance(idle / 2 + time::Duration::seconds(1));
    let later = location(&browser.authorize(&web_params()).await);
    assert!(
        later.starts_with(WEB_CB),
        "the session ended though it was used: {later}"
    );
    app.clock.advance(idle + time::Duration::seconds(1));
    let idle_since = location(&browser.authorize(&web_params()).await);
    assert!(idle_since.starts_with("/u/login"), "{idle_since}");
}

#[tokio::test]
async fn the_session_cookie_is_rotated_at_login_and_the_old_one_stops_working() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let login = location(&browser.authorize(&web_params()).await);
    let first = Browser::session_cookie(&browser.login(&login, ALICE, PASSWORD).await).unwrap();
    let next = location(
        &browser
            .authorize(&with(web_params(), &[("prompt", "login")]))
            .await,
    );
    let second = Browser::session_cookie(&browser.login(&next, ALICE, PASSWORD).await).unwrap();
    assert_ne!(first, second);
    assert!(
        app.authorize_with_session(&first)
            .await
            .starts_with("/u/login"),
        "the old session must be gone"
    );
    assert!(
        app.authorize_with_session(&second)
            .await
            .starts_with(WEB_CB),
        "the new session works"
    );
    assert!(
        app.authorize_with_session("forged")
            .await
            .starts_with("/u/login")
    );
}

/// One login attempt in a fresh transaction; the status of the answer.
async fn attempt(app: &TestApp, email: &str, password: &str) -> StatusCode {
    let (browser, url) = login_page(app).await;
    browser.login(&url, email, password).await.status()
}

#[tokio::test]
async fn repeated_failures_throttle_an_account_from_an_ip_until_the_window_ends() {
    let app = TestApp::spawn().await;
    for _ in 0..10 {
        assert_eq!(
            attempt(&app, ALICE, "wrong password!").await,
            StatusCode::BAD_REQUEST
        );
    }
    let (browser, url) = login_page(&app).await;
    let r = browser.login(&url, ALICE, PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(r.headers().contains_key("retry-after"));
    assert!(
        text_of(&r.text().await.unwrap(), ".error")
            .unwrap()
            .contains("Too many failed login attempts")
    );
    assert_eq!(
        attempt(&app, BOB, PASSWORD).await,
        StatusCode::SEE_OTHER,
        "other accounts are not affected"
    );
    app.clock.advance(time::Duration::minutes(15));
    assert_eq!(
        attempt(&app, ALICE, PASSWORD).await,
        StatusCode::SEE_OTHER,
        "a delay, not a lock-out"
    );
}

#[tokio::test]
async fn unknown_accounts_are_throttled_the_same_way() {
    let app = TestApp::spawn().await;
    for _ in 0..10 {
        assert_eq!(
            attempt(&app, "ghost@example.com", "whatever pw").await,
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(
        attempt(&app, "GHOST@example.com", "whatever pw").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn parallel_guesses_cannot_get_past_the_limit() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let tasks: Vec<_> = (0..25)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { attempt(&app, ALICE, "wrong password!").await })
        })
        .collect();
    let mut checked = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::BAD_REQUEST => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(checked, 10, "exactly the limit of passwords were checked");
}

#[tokio::test]
async fn a_successful_login_resets_the_account_counter() {
    let app = TestApp::spawn().await;
    for _ in 0..9 {
        attempt(&app, ALICE, "wrong password!").await;
    }
    assert_eq!(attempt(&app, ALICE, PASSWORD).await, StatusCode::SEE_OTHER);
    for _ in 0..9 {
        assert_eq!(
            attempt(&app, ALICE, "wrong password!").await,
            StatusCode::BAD_REQUEST
        );
    }
}

#[tokio::test]
async fn many_failures_from_one_ip_throttle_it_across_accounts() {
    let app = TestApp::spawn().await;
    for i in 0..100 {
        assert_eq!(
            attempt(&app, &format!("user{i}@example.com"), "wrong password!").await,
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(
        attempt(&app, ALICE, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.clock.advance(time::Duration::minutes(15));
    assert_eq!(attempt(&app, ALICE, PASSWORD).await, StatusCode::SEE_OTHER);
}
