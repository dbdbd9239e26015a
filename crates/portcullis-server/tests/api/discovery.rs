//! Discovery, JWKS, and the headers every response carries.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn discovery_names_this_issuer_and_every_url_resolves() {
    let app = TestApp::spawn().await;
    let http = app.backend();
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc: Value = http
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["issuer"], app.issuer);
        assert!(app.issuer.ends_with('/'));
        assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert_eq!(doc["request_parameter_supported"], false);
        for key in [
            "authorization_endpoint",
            "token_endpoint",
            "userinfo_endpoint",
            "jwks_uri",
        ] {
            let url = doc[key].as_str().unwrap();
            assert!(url.starts_with(&app.issuer), "{key}");
            let request = if key == "token_endpoint" {
                http.post(url)
            } else {
                http.get(url)
            };
            let status = request.send().await.unwrap().status();
            assert_ne!(status, StatusCode::NOT_FOUND, "{key} {url}");
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{key} {url}");
        }
    }
}

#[tokio::test]
async fn jwks_publishes_an_rsa_signing_key_without_private_parts() {
    let app = TestApp::spawn().await;
    let jwks: Value = app
        .backend()
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["alg"] == "RS256")
        .unwrap();
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    assert!(key["kid"].is_string() && key["n"].is_string() && key["e"] == "AQAB");
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(key.get(private).is_none(), "{private}");
    }
}

#[tokio::test]
async fn html_pages_carry_the_security_headers() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let login = location(&browser.authorize(&web_params()).await);
    let error_page = browser
        .authorize(&with(
            web_params(),
            &[("redirect_uri", "https://evil.example/")],
        ))
        .await;
    for r in [
        browser.get(&login).await,
        error_page,
        browser.get("/").await,
    ] {
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["cache-control"], "no-store");
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(h.contains_key("x-request-id"));
        assert!(
            !h.contains_key("strict-transport-security"),
            "no HSTS over plain http"
        );
    }
}

#[tokio::test]
async fn https_public_url_gives_secure_host_prefixed_cookies_and_hsts() {
    let app = TestApp::spawn_with(|s| {
        s.public_url = Some(url::Url::parse("https://id.example/").unwrap());
    })
    .await;
    let r = app
        .backend()
        .get(app.url("/authorize"))
        .query(&web_params())
        .send()
        .await
        .unwrap();
    let cookies = Browser::cookies(r.headers());
    let browser_cookie = cookies
        .iter()
        .find(|c| c.starts_with("__Host-portcullis_browser="))
        .expect("__Host- cookie");
    assert!(browser_cookie.contains("; Secure") && browser_cookie.contains("Path=/"));
    assert!(
        r.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
}
