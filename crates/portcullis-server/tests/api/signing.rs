//! Signing algorithms: RS256 by default; an API's `signing_alg` chooses how its access
//! tokens are signed and a client's `jwt_configuration.alg` how its ID tokens are, among
//! RS256, PS256, ES256 and EdDSA. Every key is published, and each token verifies with
//! jsonwebtoken against the published JWK set alone (not the server's own verifier).

use portcullis_core::client::SigningAlg;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// Verifies `jwt` with the key the published JWK set has for its `kid`, as a relying party
/// or an API does; returns the header's `alg`.
fn verify_with_jwks(jwks: &Value, jwt: &str, audience: &str) -> String {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let head = jsonwebtoken::decode_header(jwt).unwrap();
    let kid = head.kid.clone().unwrap();
    let jwk = set.find(&kid).expect("the kid is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(head.alg);
    validation.set_audience(&[audience]);
    // the test clock is in 2026; the signature is what is checked here
    validation.validate_exp = false;
    jsonwebtoken::decode::<Value>(jwt, &key, &validation).expect("the signature verifies");
    header(jwt)["alg"].as_str().unwrap().to_owned()
}

async fn get_json(app: &TestApp, path: &str) -> Value {
    reqwest::get(app.url(path))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_algorithm_has_a_published_current_and_next_key() {
    let app = TestApp::spawn().await;
    let jwks: Value = get_json(&app, "/.well-known/jwks.json").await;
    let keys = jwks["keys"].as_array().unwrap();
    for alg in SigningAlg::ALL {
        let of_alg: Vec<&Value> = keys.iter().filter(|k| k["alg"] == alg.as_str()).collect();
        assert_eq!(of_alg.len(), 2, "{alg:?}: current and next");
        for k in of_alg {
            assert_eq!(k["use"], "sig");
            assert!(
                k.get("d").is_none() && k.get("p").is_none(),
                "no private parts"
            );
        }
    }
    let discovery: Value = get_json(&app, "/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "PS256", "ES256", "EdDSA"])
    );
}

#[tokio::test]
async fn apis_and_clients_choose_how_their_tokens_are_signed() {
    let app = TestApp::spawn().await;
    let jwks: Value = get_json(&app, "/.well-known/jwks.json").await;
    // The default: RS256 for both.
    let tokens = tokens_for(&app, WEB_APP, "openid").await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let access_token = tokens["access_token"].as_str().unwrap();
    assert_eq!(verify_with_jwks(&jwks, id_token, WEB), "RS256");
    assert_eq!(verify_with_jwks(&jwks, access_token, API), "RS256");

    for (api_alg, client_alg) in [
        (SigningAlg::ES256, SigningAlg::PS256),
        (SigningAlg::EdDSA, SigningAlg::ES256),
        (SigningAlg::PS256, SigningAlg::EdDSA),
    ] {
        let store = &app.state.store;
        let (id, mut api) = store
            .find_resource_server_by_id(API)
            .await
            .unwrap()
            .unwrap();
        api.signing_alg = api_alg;
        store
            .save_resource_server(&id, &api, app.state.now())
            .await
            .unwrap();
        let mut client = store.find_client(WEB).await.unwrap().unwrap();
        client.jwt_configuration.alg = client_alg;
        store.save_client(&client, app.state.now()).await.unwrap();
        // Written past the Management API, which would have emptied the tenant cache.
        app.state.tenant_cache.clear();

        let tokens = tokens_for(&app, WEB_APP, "openid").await;
        let id_token = tokens["id_token"].as_str().unwrap();
        let access_token = tokens["access_token"].as_str().unwrap();
        assert_eq!(verify_with_jwks(&jwks, id_token, WEB), client_alg.as_str());
        assert_eq!(verify_with_jwks(&jwks, access_token, API), api_alg.as_str());
        // The server accepts its own token of every algorithm.
        assert_eq!(app.userinfo_status(access_token).await, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_token_whose_header_names_another_algorithm_than_its_key_is_refused() {
    let app = TestApp::spawn().await;
    let tokens = tokens_for(&app, WEB_APP, "openid").await;
    let access_token = tokens["access_token"].as_str().unwrap();
    // Same kid, same signature, header rewritten to PS256: the key decides, not the token.
    let mut parts: Vec<String> = access_token.split('.').map(str::to_owned).collect();
    let mut head = header(access_token);
    head["alg"] = "PS256".into();
    parts[0] = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        head.to_string(),
    );
    assert_eq!(
        app.userinfo_status(&parts.join(".")).await,
        StatusCode::UNAUTHORIZED
    );
}
