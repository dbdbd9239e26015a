//! Consent: who is asked, what Decline does, what is remembered.

use reqwest::StatusCode;

use crate::helpers::*;

fn third_params() -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("client_id", THIRD.into()),
        ("redirect_uri", THIRD_CB.into()),
        ("scope", "openid email read:items unknown:scope".into()),
        ("audience", API.into()),
        ("state", "tp".into()),
    ]
}

async fn logged_in(app: &TestApp, params: &[(&str, String)]) -> (Browser, String) {
    let browser = app.browser();
    let next = location(&browser.authorize(params).await);
    let next = location(&browser.login(&next, ALICE, PASSWORD).await);
    (browser, next)
}

#[tokio::test]
async fn third_party_clients_are_asked_and_the_page_lists_each_permission() {
    let app = TestApp::spawn().await;
    let (browser, next) = logged_in(&app, &third_params()).await;
    assert!(next.starts_with("/u/consent?state="), "{next}");
    let html = browser.get(&next).await.text().await.unwrap();
    assert!(html.contains("Third Party") && html.contains("Items API"));
    assert!(html.contains("Read your items") && html.contains("read:items"));
    assert!(
        !html.contains("unknown:scope"),
        "scopes the API does not define are not granted"
    );
    let doc = scraper::Html::parse_document(&html);
    let buttons: Vec<String> = doc
        .select(&scraper::Selector::parse("form button").unwrap())
        .map(|b| b.text().collect::<String>().trim().to_owned())
        .collect();
    assert_eq!(buttons, ["Decline", "Accept"]);
}

#[tokio::test]
async fn decline_sends_access_denied_to_the_client() {
    let app = TestApp::spawn().await;
    let (browser, next) = logged_in(&app, &third_params()).await;
    let r = browser.consent(&next, "decline").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let q = query(&location(&r));
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "tp");
    assert_eq!(q["iss"], app.issuer);
}

#[tokio::test]
async fn accepted_consent_is_remembered_and_grants_only_known_scopes() {
    let app = TestApp::spawn().await;
    let (browser, next) = logged_in(&app, &third_params()).await;
    let callback = location(&browser.consent(&next, "accept").await);
    let code = query(&callback).remove("code").unwrap();
    let tokens: serde_json::Value = app
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
    assert_eq!(tokens["scope"], "openid email read:items");
    let again = location(&browser.authorize(&third_params()).await);
    assert!(again.starts_with(THIRD_CB), "remembered: {again}");
    let more = location(
        &browser
            .authorize(&with(
                third_params(),
                &[("scope", "openid read:items write:items")],
            ))
            .await,
    );
    assert!(
        more.starts_with("/u/consent"),
        "a new permission asks again: {more}"
    );
}

#[tokio::test]
async fn prompt_consent_asks_even_when_remembered() {
    let app = TestApp::spawn().await;
    let (browser, next) = logged_in(&app, &third_params()).await;
    browser.consent(&next, "accept").await;
    let r = location(
        &browser
            .authorize(&with(third_params(), &[("prompt", "consent")]))
            .await,
    );
    assert!(r.starts_with("/u/consent"), "{r}");
}

#[tokio::test]
async fn prompt_none_without_consent_is_consent_required() {
    let app = TestApp::spawn().await;
    let (browser, _) = logged_in(&app, &third_params()).await;
    let r = location(
        &browser
            .authorize(&with(third_params(), &[("prompt", "none")]))
            .await,
    );
    assert_eq!(query(&r)["error"], "consent_required");
}

#[tokio::test]
async fn first_party_skips_consent_only_where_the_api_allows_and_the_redirect_is_verifiable() {
    let app = TestApp::spawn().await;
    let skip = location(
        &logged_in(&app, &web_params())
            .await
            .0
            .authorize(&web_params())
            .await,
    );
    assert!(skip.starts_with(WEB_CB), "{skip}");
    let (_, strict) = logged_in(
        &app,
        &with(
            web_params(),
            &[("audience", NOSKIP_API), ("scope", "openid read:secrets")],
        ),
    )
    .await;
    assert!(
        strict.starts_with("/u/consent"),
        "API forbids skipping: {strict}"
    );
    let (_, local) = logged_in(
        &app,
        &with(
            web_params(),
            &[("redirect_uri", "http://localhost:3000/callback")],
        ),
    )
    .await;
    assert!(
        local.starts_with("/u/consent"),
        "localhost is not verifiable: {local}"
    );
}

#[tokio::test]
async fn the_consent_page_needs_the_users_session_and_a_valid_csrf_token() {
    let app = TestApp::spawn().await;
    let (browser, next) = logged_in(&app, &third_params()).await;
    let fields = form_fields(&browser.get(&next).await.text().await.unwrap());
    let r = browser
        .post_form(
            "/u/consent",
            &[
                ("state", &fields["state"]),
                ("csrf", "forged"),
                ("action", "accept"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Another browser cannot answer it, even with the right state and csrf.
    let other = app.browser();
    let r = other
        .post_form(
            "/u/consent",
            &[
                ("state", &fields["state"]),
                ("csrf", &fields["csrf"]),
                ("action", "accept"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(!location(&r).contains("code="));
}
