//! Management API v2: authorisation by scope, Auth0's error shape and paging, and the
//! clients, resource-servers and client-grants resources.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

const ADMIN: &str = "admin-app";
const ADMIN_SECRET: &str = "admin-app-secret-0123456789-abcdefghijklm";
const ALL: [&str; 28] = [
    "create:signing_keys",
    "update:signing_keys",
    "read:client_credentials",
    "create:client_credentials",
    "delete:client_credentials",
    "read:signing_keys",
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "read:refresh_tokens",
    "delete:refresh_tokens",
    "read:sessions",
    "delete:sessions",
    "read:logs",
    "read:clients",
    "create:clients",
    "update:clients",
    "delete:clients",
    "update:client_keys",
    "read:resource_servers",
    "create:resource_servers",
    "update:resource_servers",
    "delete:resource_servers",
    "read:client_grants",
    "create:client_grants",
    "update:client_grants",
    "delete:client_grants",
];

/// A Management API token with these scopes, through an admin client granted all of them.
async fn token(app: &TestApp, scope: &str) -> String {
    let grants: Vec<String> = ALL.iter().map(|s| format!("\"{s}\"")).collect();
    let text = format!(
        "clients: [{{name: Admin, client_id: {ADMIN}, client_secret: {ADMIN_SECRET}, app_type: non_interactive, grant_types: [client_credentials]}}]\nclientGrants: [{{client_id: {ADMIN}, audience: '{}api/v2/', scope: [{}]}}]\n",
        app.issuer,
        grants.join(", ")
    );
    portcullis_server::tenant::apply(&app.state, &portcullis_core::tenant::parse(&text).unwrap())
        .await
        .unwrap();
    let audience = format!("{}api/v2/", app.issuer);
    let r = app
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("audience", &audience),
                ("scope", scope),
            ],
            Some((ADMIN, ADMIN_SECRET)),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

struct Api<'a> {
    app: &'a TestApp,
    token: String,
}

impl Api<'_> {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .app
            .backend()
            .request(method, self.app.url(path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }
    async fn delete(&self, path: &str) -> StatusCode {
        self.call(reqwest::Method::DELETE, path, None).await.0
    }
}

async fn admin(app: &TestApp) -> Api<'_> {
    Api {
        app,
        token: token(app, &ALL.join(" ")).await,
    }
}

#[tokio::test]
async fn calls_need_a_management_token_with_the_right_scope() {
    let app = TestApp::spawn().await;
    let r = app
        .backend()
        .get(app.url("/api/v2/clients"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["statusCode"], 401);
    assert_eq!(body["error"], "Unauthorized");
    assert!(body["message"].is_string() && body["errorCode"].is_string());

    // A valid token for another API is not a Management API token.
    let api_token: Value = app
        .token(
            &[("grant_type", "client_credentials"), ("audience", API)],
            Some((M2M, M2M_SECRET)),
        )
        .await
        .json()
        .await
        .unwrap();
    let wrong = Api {
        app: &app,
        token: api_token["access_token"].as_str().unwrap().into(),
    };
    assert_eq!(
        wrong.get("/api/v2/clients").await.0,
        StatusCode::UNAUTHORIZED
    );

    let reader = Api {
        app: &app,
        token: token(&app, "read:clients").await,
    };
    assert_eq!(reader.get("/api/v2/clients").await.0, StatusCode::OK);
    let (status, body) = reader.post("/api/v2/clients", json!({"name": "X"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["errorCode"], "insufficient_scope");
    assert_eq!(
        body["message"],
        "Insufficient scope, expected any of: create:clients"
    );
}

#[tokio::test]
async fn a_client_changed_here_applies_at_once_and_one_changed_elsewhere_within_the_cache_ttl() {
    let app = TestApp::spawn().await;
    let api = admin(&app).await;
    let page = app.browser().authorize(&web_params()).await;
    assert_eq!(
        page.status(),
        StatusCode::FOUND,
        "the client is read (and cached)"
    );
    // Another node (or the CLI) removes the callback in the database.
    let mut changed = app.state.store.find_client(WEB).await.unwrap().unwrap();
    let callbacks = std::mem::take(&mut changed.callbacks);
    app.state
        .store
        .save_client(&changed, app.state.now())
        .await
        .unwrap();
    let cached = app.browser().authorize(&web_params()).await;
    assert_eq!(
        cached.status(),
        StatusCode::FOUND,
        "still the cached client"
    );
    // A Management API call refused for its token does not empty the cache.
    let refused = app
        .backend()
        .patch(app.url(&format!("/api/v2/clients/{WEB}")))
        .json(&json!({ "name": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let still = app.browser().authorize(&web_params()).await;
    assert_eq!(
        still.status(),
        StatusCode::FOUND,
        "a refused call emptied the cache"
    );
    app.clock.advance(portcullis_server::tenant_cache::TTL);
    let reread = app.browser().authorize(&web_params()).await;
    assert_eq!(
        reread.status(),
        StatusCode::BAD_REQUEST,
        "read again after the TTL"
    );
    // Through this node's Management API the change applies on the next request.
    let uris: Vec<String> = callbacks.iter().map(|c| c.as_str().to_owned()).collect();
    let (status, body) = api
        .patch(
            &format!("/api/v2/clients/{WEB}"),
            json!({ "callbacks": uris }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let back = app.browser().authorize(&web_params()).await;
    assert_eq!(
        back.status(),
        StatusCode::FOUND,
        "{}",
        back.text().await.unwrap()
    );
    let (status, body) = api
        .patch(
            &format!("/api/v2/clients/{WEB}"),
            json!({ "callbacks": [] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let gone = app.browser().authorize(&web_params()).await;
    assert_eq!(gone.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_client_grant_deleted_here_applies_at_once_and_one_deleted_elsewhere_within_the_cache_ttl()
 {
    let app = TestApp::spawn().await;
    let api = admin(&app).await;
    let cc = || {
        app.token(
            &[("grant_type", "client_credentials"), ("audience", API)],
            Some((M2M, M2M_SECRET)),
        )
    };
    assert_eq!(
        cc().await.status(),
        StatusCode::OK,
        "the grant is read (and cached)"
    );
    // Another node (or the CLI) deletes the grant in the database.
    let grant = app
        .state
        .store
        .find_client_grant(M2M, API)
        .await
        .unwrap()
        .unwrap();
    app.state
        .store
        .delete_client_grant(&grant.id)
        .await
        .unwrap();
    assert_eq!(
        cc().await.status(),
        StatusCode::OK,
        "still the cached grant"
    );
    app.clock.advance(portcullis_server::tenant_cache::TTL);
    assert_eq!(
        cc().await.status(),
        StatusCode::FORBIDDEN,
        "read again after the TTL"
    );
    // Through this node's Management API a new grant applies on the next request, and its
    // deletion too.
    let (status, body) = api
        .post(
            "/api/v2/client-grants",
            json!({ "client_id": M2M, "audience": API, "scope": ["read:items"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(cc().await.status(), StatusCode::OK);
    let id = body["id"].as_str().unwrap();
    assert_eq!(
        api.delete(&format!("/api/v2/client-grants/{id}")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        cc().await.status(),
        StatusCode::FORBIDDEN,
        "deleted here: at once"
    );
}

#[tokio::test]
async fn clients_can_be_created_read_listed_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let api = admin(&app).await;
    let (status, created) = api
        .post("/api/v2/clients", json!({"name": "New App", "app_type": "regular_web", "callbacks": ["https://new.example/cb"], "grant_types": ["authorization_code", "client_credentials"], "logo_uri": "https://x.example/l.png"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_post");
    // The new client works at once: client credentials for the Items API once granted.
    let (status, _) = api
        .post(
            "/api/v2/client-grants",
            json!({"client_id": id, "audience": API, "scope": ["read:items"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let r = app
        .token(
            &[("grant_type", "client_credentials"), ("audience", API)],
            Some((&id, &secret)),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let (status, read) = api.get(&format!("/api/v2/clients/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        read.get("client_secret").is_none(),
        "the secret is shown only when made"
    );
    let (_, page) = api
        .get("/api/v2/clients?include_totals=true&per_page=2&page=0")
        .await;
    assert_eq!(page["limit"], 2);
    assert_eq!(page["length"], 2);
    assert!(page["total"].as_i64().unwrap() >= 5);
    assert_eq!(page["clients"].as_array().unwrap().len(), 2);

    let (status, updated) = api
        .patch(
            &format!("/api/v2/clients/{id}"),
            json!({"callbacks": ["https://new.example/cb2"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["callbacks"], json!(["https://new.example/cb2"]));
    assert_eq!(updated["name"], "New App", "untouched fields stay");
    let r = app
        .token(
            &[("grant_type", "client_credentials"), ("audience", API)],
            Some((&id, &secret)),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "the secret survives an update");

    assert_eq!(
        api.delete(&format!("/api/v2/clients/{id}")).await,
        StatusCode::NO_CONTENT
    );
    let (status, body) = api.get(&format!("/api/v2/clients/{id}")).await;
    assert_eq!(
        (status, body["errorCode"].as_str()),
        (StatusCode::NOT_FOUND, Some("inexistent_client"))
    );
    let r = app
        .token(
            &[("grant_type", "client_credentials"), ("audience", API)],
            Some((&id, &secret)),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a deleted client is gone on the next request"
    );
}

#[tokio::test]
async fn client_validation_names_the_field() {
    let app = TestApp::spawn().await;
    let api = admin(&app).await;
    for (body, field) in [
        (
            json!({"name": "A", "callbacks": ["https://a.example/cb#frag"]}),
            "callbacks[0]",
        ),
        (
            json!({"name": "A", "callbacks": ["javascript:alert(1)"]}),
            "callbacks[0]",
        ),
        (
            json!({"name": "A", "callbacks": ["/relative"]}),
            "callbacks[0]",
        ),
        (
            json!({"name": "A", "callbacks": ["http://app.example/cb"]}),
            "callbacks[0]: must use https",
        ),
        (json!({"name": "A", "app_type": "tv"}), "app_type"),
        (json!({"callbacks": []}), "name"),
        (json!([1, 2]), "object"),
    ] {
        let (status, e) = api.post("/api/v2/clients", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(e["errorCode"], "invalid_body");
        assert!(
            e["message"].as_str().unwrap().contains(field),
            "{body}: {e}"
        );
    }
    let (status, _) = api
        .post("/api/v2/clients", json!({"name": "Web App"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "names are unique");
    let (status, e) = api
        .patch(
            &format!("/api/v2/clients/{WEB}"),
            json!({"client_id": "other"}),
        )
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_body"))
    );
}

#[tokio::test]
async fn rotating_a_secret_retires_the_old_one() {
    let app = TestApp::spawn().await;
    let api = admin(&app).await;
    let (status, rotated) = api
        .post(&format!("/api/v2/clients/{M2M}/rotate-secret"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let new_secret = rotated["client_secret"].as_str().unwrap();
    let cc = |secret: String| {
        let app = &app;
        async move {
            app.token(
                &[("grant_type", "client_credentials"), ("audience", API)],
                Some((M2M, &secret)),
            )
            .await
            .status()
        }
    };
    assert_eq!(cc(M2M_SECRET.into()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(cc(new_secret.into()).await, StatusCode::OK);
    let (status, _) = api
        .post(&format!("/api/v2/clients/{SPA}/rotate-secret"), json!({}))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a public client has no secret"
    );
}

#[tokio::test]
async fn resource_servers_can_be_managed_but_not_the_management_api() {
    let app = TestApp::spawn().await;
    let api = admin(&app).await;
    let body = json!({"name": "Orders", "identifier": "https://orders.example/", "scopes": [{"value": "read:orders", "description": "Read orders"}], "token_lifetime": 600});
    let (status, created) = api.post("/api/v2/resource-servers", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.post("/api/v2/resource-servers", body).await.0,
        StatusCode::CONFLICT
    );
    let (_, by_identifier) = api
        .get("/api/v2/resource-servers/https%3A%2F%2Forders.example%2F")
        .await;
    assert_eq!(by_identifier["id"], json!(id));
    let (status, updated) = api
        .patch(
            &format!("/api/v2/resource-servers/{id}"),
            json!({"name": "Order API", "allow_offline_access": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        (updated["name"].as_str(), updated["token_lifetime"].as_i64()),
        (Some("Order API"), Some(600))
    );
    let (status, _) = api
        .patch(
            &format!("/api/v2/resource-servers/{id}"),
            json!({"identifier": "https://other.example/"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, e) = api
        .post(
            "/api/v2/resource-servers",
            json!({"name": "Bad", "identifier": "x", "token_lifetime": 0}),
        )
        .await;
    assert!(
        status == StatusCode::BAD_REQUEST
            && e["message"].as_str().unwrap().contains("token_lifetime"),
        "{e}"
    );

    let (_, list) = api.get("/api/v2/resource-servers").await;
    let system = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["is_system"] == true)
        .expect("the Management API is listed");
    let system_id = system["id"].as_str().unwrap();
    assert_eq!(
        api.delete(&format!("/api/v2/resource-servers/{system_id}"))
            .await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.delete(&format!("/api/v2/resource-servers/{id}")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get(&format!("/api/v2/resource-servers/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn client_grants_decide_client_credentials_on_the_next_request() {
    let app = TestApp::spawn().await;
    let api = admin(&app).await;
    let cc = || async {
        app.token(
            &[
                ("grant_type", "client_credentials"),
                ("audience", NOSKIP_API),
            ],
            Some((M2M, M2M_SECRET)),
        )
        .await
    };
    assert_eq!(cc().await.status(), StatusCode::FORBIDDEN);
    let (status, grant) = api
        .post(
            "/api/v2/client-grants",
            json!({"client_id": M2M, "audience": NOSKIP_API, "scope": ["read:secrets"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = grant["id"].as_str().unwrap().to_owned();
    assert_eq!(
        cc().await.json::<Value>().await.unwrap()["scope"],
        "read:secrets"
    );
    assert_eq!(
        api.post(
            "/api/v2/client-grants",
            json!({"client_id": M2M, "audience": NOSKIP_API, "scope": []})
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        api.post(
            "/api/v2/client-grants",
            json!({"client_id": "nobody", "audience": NOSKIP_API, "scope": []})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.post(
            "/api/v2/client-grants",
            json!({"client_id": M2M, "audience": NOSKIP_API, "scope": "read"})
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    let (_, filtered) = api
        .get(&format!("/api/v2/client-grants?client_id={M2M}"))
        .await;
    assert_eq!(filtered.as_array().unwrap().len(), 2);
    let (status, _) = api
        .patch(&format!("/api/v2/client-grants/{id}"), json!({"scope": []}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cc().await.json::<Value>().await.unwrap()["scope"], "");
    assert_eq!(
        api.delete(&format!("/api/v2/client-grants/{id}")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(cc().await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn paging_is_validated() {
    let app = TestApp::spawn().await;
    let api = admin(&app).await;
    for q in ["per_page=0", "per_page=101", "page=-1", "per_page=abc"] {
        assert_eq!(
            api.get(&format!("/api/v2/clients?{q}")).await.0,
            StatusCode::BAD_REQUEST,
            "{q}"
        );
    }
}

#[tokio::test]
async fn users_can_be_created_found_updated_blocked_and_deleted() {
    let app = TestApp::spawn().await;
    let api = admin(&app).await;
    let body = json!({"email": "Dora@Example.com", "password": "a new password", "connection": "Username-Password-Authentication", "name": "Dora", "app_metadata": {"plan": "gold", "tier": 1}});
    let (status, created) = api.post("/api/v2/users", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let user_id = created["user_id"].as_str().unwrap().to_owned();
    assert!(user_id.starts_with("auth0|"));
    assert_eq!(created["email"], "dora@example.com");
    assert_eq!(
        created["identities"][0]["connection"],
        "Username-Password-Authentication"
    );
    assert!(created.get("password").is_none() && !created.to_string().contains("argon2"));
    assert_eq!(
        api.post("/api/v2/users", body).await.0,
        StatusCode::CONFLICT
    );

    // The new user can log in at once.
    let login = |email: &'static str, password: &'static str| {
        let app = &app;
        async move {
            let browser = app.browser();
            let next = location(&browser.authorize(&web_params()).await);
            location(&browser.login(&next, email, password).await)
        }
    };
    assert!(
        login("dora@example.com", "a new password")
            .await
            .starts_with(WEB_CB)
    );

    let encoded = user_id.replace('|', "%7C");
    assert_eq!(
        api.get(&format!("/api/v2/users/{encoded}")).await.1["name"],
        "Dora"
    );
    assert_eq!(
        api.get("/api/v2/users-by-email?email=dora%40example.com")
            .await
            .1[0]["user_id"],
        json!(user_id)
    );
    let (_, found) = api
        .get("/api/v2/users?q=email%3A%22dora%40example.com%22&include_totals=true")
        .await;
    assert_eq!(
        (
            found["total"].as_i64(),
            found["users"][0]["user_id"].as_str()
        ),
        (Some(1), Some(user_id.as_str()))
    );

    let (status, updated) = api
        .patch(
            &format!("/api/v2/users/{encoded}"),
            json!({"app_metadata": {"tier": null, "region": "eu"}, "password": "another password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        updated["app_metadata"],
        json!({"plan": "gold", "region": "eu"}),
        "shallow merge, null removes"
    );
    assert_eq!(
        login("dora@example.com", "a new password").await,
        "",
        "the old password is gone: the form again, no redirect"
    );
    assert!(
        login("dora@example.com", "another password")
            .await
            .starts_with(WEB_CB)
    );

    assert_eq!(
        api.patch(
            &format!("/api/v2/users/{encoded}"),
            json!({"blocked": true})
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        login("dora@example.com", "another password").await,
        "",
        "a blocked user cannot log in"
    );

    assert_eq!(
        api.delete(&format!("/api/v2/users/{encoded}")).await,
        StatusCode::NO_CONTENT
    );
    let (status, e) = api.get(&format!("/api/v2/users/{encoded}")).await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::NOT_FOUND, Some("inexistent_user"))
    );
}

#[tokio::test]
async fn a_users_phone_and_address_can_be_set_and_cleared() {
    let app = TestApp::spawn().await;
    let api = admin(&app).await;
    let (status, created) = api
        .post(
            "/api/v2/users",
            json!({"email": "eve@example.com", "password": "a new password", "phone_number": "+15555550111", "phone_verified": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        (&created["phone_number"], &created["phone_verified"]),
        (&json!("+15555550111"), &json!(true)),
        "Auth0's Management API names the flag phone_verified"
    );
    let path = format!(
        "/api/v2/users/{}",
        created["user_id"].as_str().unwrap().replace('|', "%7C")
    );
    let (status, updated) = api
        .patch(
            &path,
            json!({"address": {"locality": "Springfield"}, "phone_verified": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["address"], json!({"locality": "Springfield"}));
    assert_eq!(updated["phone_verified"], false);
    let (status, e) = api.patch(&path, json!({"address": {"locality": 7}})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let (_, cleared) = api
        .patch(&path, json!({"address": null, "phone_number": null}))
        .await;
    assert!(cleared.get("address").is_none() && cleared.get("phone_number").is_none());
    assert!(cleared.get("phone_verified").is_none());
}

#[tokio::test]
async fn user_validation_names_the_field() {
    let app = TestApp::spawn().await;
    let api = admin(&app).await;
    for (body, field) in [
        (json!({"email": "nope", "password": "long enough"}), "email"),
        (
            json!({"email": "a@b.example", "password": "short"}),
            "password",
        ),
        (json!({"email": "a@b.example"}), "password"),
        (
            json!({"email": "a@b.example", "password": "long enough", "connection": "google-oauth2"}),
            "connection",
        ),
        (
            json!({"email": "a@b.example", "password": "long enough", "app_metadata": "x"}),
            "app_metadata",
        ),
        (
            json!({"email": "a@b.example", "password": "long enough", "address": {"street": "x"}}),
            "address.street",
        ),
        (
            json!({"email": "a@b.example", "password": "long enough", "phone_number": 5}),
            "phone_number",
        ),
    ] {
        let (status, e) = api.post("/api/v2/users", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            e["message"].as_str().unwrap().contains(field),
            "{body}: {e}"
        );
    }
    assert_eq!(
        api.patch("/api/v2/users/auth0%7Cnobody", json!({"blocked": true}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/api/v2/users?q=name%3Ax").await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_users_refresh_tokens_and_sessions_can_be_listed_and_revoked() {
    let app = TestApp::spawn().await;
    let api = admin(&app).await;
    let browser = app.browser();
    let login = location(
        &browser
            .authorize(&with(
                web_params(),
                &[("scope", "openid offline_access read:items")],
            ))
            .await,
    );
    let r = browser.login(&login, ALICE, PASSWORD).await;
    let session = Browser::session_cookie(&r).unwrap();
    let tokens: Value = app
        .exchange(&query(&location(&r))["code"])
        .await
        .json()
        .await
        .unwrap();
    let alice = claims(tokens["access_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .replace('|', "%7C");

    let (_, list) = api
        .get(&format!("/api/v2/users/{alice}/refresh-tokens"))
        .await;
    let family = list["tokens"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list["tokens"][0]["client_id"], WEB);
    assert_eq!(list["tokens"][0]["resource_servers"][0]["audience"], API);
    assert_eq!(
        api.delete(&format!("/api/v2/refresh-tokens/{family}"))
            .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.refresh(WEB_APP, tokens["refresh_token"].as_str().unwrap(), None)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.userinfo_status(tokens["access_token"].as_str().unwrap())
            .await,
        StatusCode::UNAUTHORIZED
    );

    let (_, sessions) = api.get(&format!("/api/v2/users/{alice}/sessions")).await;
    let sid = sessions["sessions"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        claims(tokens["id_token"].as_str().unwrap())["sid"],
        json!(sid)
    );
    assert_eq!(
        api.delete(&format!("/api/v2/sessions/{sid}")).await,
        StatusCode::NO_CONTENT
    );
    assert!(
        app.authorize_with_session(&session)
            .await
            .starts_with("/u/login"),
        "the session ended server-side"
    );
    assert_eq!(
        api.delete(&format!("/api/v2/sessions/{sid}")).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn logs_can_be_listed_and_filtered_by_type() {
    let app = TestApp::spawn().await;
    let api = admin(&app).await;
    app.browser().sign_in(&web_params(), ALICE).await;
    let browser = app.browser();
    let next = location(&browser.authorize(&web_params()).await);
    browser.login(&next, ALICE, "wrong password!").await;
    // No flush here: the endpoint flushes what the node still gathers (`logs::GATHER`).
    let (status, logs) = api
        .get("/api/v2/logs?q=type%3A%22s%22&include_totals=true")
        .await;
    assert_eq!(status, StatusCode::OK);
    let entries = logs["logs"].as_array().unwrap();
    assert!(!entries.is_empty() && entries.iter().all(|l| l["type"] == "s"));
    assert!(
        entries[0]["user_id"]
            .as_str()
            .unwrap()
            .starts_with("auth0|")
    );
    assert!(entries[0]["date"].as_str().unwrap().ends_with('Z'));
    let (_, failed) = api.get("/api/v2/logs?q=type%3Af").await;
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(
        api.get("/api/v2/logs?q=user_id%3Ax").await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn signing_keys_are_listed_with_their_state() {
    let app = TestApp::spawn().await;
    let api = admin(&app).await;
    let (status, keys) = api.get("/api/v2/keys/signing").await;
    assert_eq!(status, StatusCode::OK);
    let jwks: Value = app
        .backend()
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids = |v: &Value| {
        let mut kids: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        kids.sort();
        kids
    };
    assert_eq!(
        kids(&keys),
        kids(&jwks["keys"]),
        "the listed keys are the published ones"
    );
    for alg in ["RS256", "PS256", "ES256", "EdDSA"] {
        let of = |state: &str| {
            keys.as_array()
                .unwrap()
                .iter()
                .filter(|k| k["alg"] == alg && k[state] == true)
                .count()
        };
        assert_eq!((of("current"), of("next")), (1, 1), "{alg}");
    }
    assert!(keys.to_string().find("PRIVATE").is_none());
}

#[tokio::test]
async fn every_endpoint_needs_a_token_and_its_own_scope() {
    let app = TestApp::spawn().await;
    let endpoints: [(&str, &str, &str); 28] = [
        ("GET", "/api/v2/clients", "read:clients"),
        ("POST", "/api/v2/clients", "create:clients"),
        ("GET", "/api/v2/clients/web-app", "read:clients"),
        ("PATCH", "/api/v2/clients/web-app", "update:clients"),
        ("DELETE", "/api/v2/clients/web-app", "delete:clients"),
        (
            "POST",
            "/api/v2/clients/web-app/rotate-secret",
            "update:client_keys",
        ),
        (
            "GET",
            "/api/v2/clients/web-app/credentials",
            "read:client_credentials",
        ),
        (
            "POST",
            "/api/v2/clients/web-app/credentials",
            "create:client_credentials",
        ),
        (
            "GET",
            "/api/v2/clients/web-app/credentials/x",
            "read:client_credentials",
        ),
        (
            "DELETE",
            "/api/v2/clients/web-app/credentials/x",
            "delete:client_credentials",
        ),
        ("GET", "/api/v2/resource-servers", "read:resource_servers"),
        (
            "POST",
            "/api/v2/resource-servers",
            "create:resource_servers",
        ),
        ("GET", "/api/v2/resource-servers/x", "read:resource_servers"),
        (
            "PATCH",
            "/api/v2/resource-servers/x",
            "update:resource_servers",
        ),
        (
            "DELETE",
            "/api/v2/resource-servers/x",
            "delete:resource_servers",
        ),
        ("GET", "/api/v2/client-grants", "read:client_grants"),
        ("POST", "/api/v2/client-grants", "create:client_grants"),
        ("PATCH", "/api/v2/client-grants/x", "update:client_grants"),
        ("DELETE", "/api/v2/client-grants/x", "delete:client_grants"),
        ("GET", "/api/v2/users", "read:users"),
        ("POST", "/api/v2/users", "create:users"),
        ("GET", "/api/v2/users-by-email?email=a%40b.c", "read:users"),
        ("PATCH", "/api/v2/users/auth0%7Cx", "update:users"),
        ("DELETE", "/api/v2/users/auth0%7Cx", "delete:users"),
        (
            "GET",
            "/api/v2/users/auth0%7Cx/refresh-tokens",
            "read:refresh_tokens",
        ),
        (
            "DELETE",
            "/api/v2/refresh-tokens/x",
            "delete:refresh_tokens",
        ),
        ("GET", "/api/v2/users/auth0%7Cx/sessions", "read:sessions"),
        ("GET", "/api/v2/logs", "read:logs"),
    ];
    let others = [
        ("DELETE", "/api/v2/sessions/x", "delete:sessions"),
        ("GET", "/api/v2/keys/signing", "read:signing_keys"),
    ];
    // A token with every scope but the one each call needs.
    for (method, path, scope) in endpoints.iter().chain(others.iter()) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let anonymous = app
            .backend()
            .request(method.clone(), app.url(path))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            anonymous.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a token"
        );
        let without: Vec<&str> = ALL.iter().copied().filter(|s| s != scope).collect();
        let api = Api {
            app: &app,
            token: token(&app, &without.join(" ")).await,
        };
        let (status, body) = api.call(method.clone(), path, Some(json!({}))).await;
        assert_eq!(
            (status, body["errorCode"].as_str()),
            (StatusCode::FORBIDDEN, Some("insufficient_scope")),
            "{method} {path} without {scope}"
        );
    }
}

#[tokio::test]
async fn public_keys_can_be_added_to_and_removed_from_a_client() {
    let app = TestApp::spawn().await;
    let api = admin(&app).await;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::KeyPair as _;
    let der = pair.public_key().as_der().unwrap();
    use base64::Engine;
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(der.as_ref())
    );
    let (status, e) = api.post(&format!("/api/v2/clients/{M2M}/credentials"), json!({"credential_type": "public_key", "name": "bad", "pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let (status, created) = api
        .post(
            &format!("/api/v2/clients/{M2M}/credentials"),
            json!({"credential_type": "public_key", "name": "ci key", "pem": pem, "alg": "RS256"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let cred = created["id"].as_str().unwrap().to_owned();
    let (_, client) = api.get(&format!("/api/v2/clients/{M2M}")).await;
    assert_eq!(client["token_endpoint_auth_method"], "private_key_jwt");
    assert!(
        !client.to_string().contains("BEGIN PUBLIC KEY"),
        "key material is not echoed"
    );
    let r = app
        .token(
            &[("grant_type", "client_credentials"), ("audience", API)],
            Some((M2M, M2M_SECRET)),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "pinned to private_key_jwt: the secret is gone"
    );
    assert_eq!(
        api.get(&format!("/api/v2/clients/{M2M}/credentials"))
            .await
            .1[0]["name"],
        "ci key"
    );
    assert_eq!(
        api.delete(&format!("/api/v2/clients/{M2M}/credentials/{cred}"))
            .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get(&format!("/api/v2/clients/{M2M}/credentials/{cred}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn rotation_publishes_before_signing_and_keeps_the_previous_key() {
    let app = TestApp::spawn().await;
    let api = admin(&app).await;
    let jwks = |app: &TestApp| {
        let (http, url) = (app.backend(), app.url("/.well-known/jwks.json"));
        async move {
            let v: Value = http.get(url).send().await.unwrap().json().await.unwrap();
            v["keys"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|k| k["alg"] == "RS256")
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let (_, keys) = api.get("/api/v2/keys/signing").await;
    let key = |state: &str| {
        keys.as_array()
            .unwrap()
            .iter()
            .find(|k| k["alg"] == "RS256" && k[state] == true)
            .unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (old, next) = (key("current"), key("next"));
    assert_eq!(
        jwks(&app).await.len(),
        2,
        "current and next RS256 keys are published"
    );
    let before = tokens_for(&app, WEB_APP, "openid read:items").await;
    assert_eq!(
        header(before["access_token"].as_str().unwrap())["kid"],
        json!(old)
    );

    let (status, rotated) = api.post("/api/v2/keys/signing/rotate", json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        rotated["kid"],
        json!(next),
        "the key that was published as next signs now"
    );
    let after = tokens_for(&app, WEB_APP, "openid read:items").await;
    assert_eq!(
        header(after["access_token"].as_str().unwrap())["kid"],
        json!(next)
    );
    let published = jwks(&app).await;
    assert_eq!(published.len(), 3, "previous, current and a new next");
    assert!(published.contains(&old));
    assert_eq!(
        app.userinfo_status(before["access_token"].as_str().unwrap())
            .await,
        StatusCode::OK,
        "tokens of the previous key stay valid"
    );

    // Another node on the same database signs with the new key.
    let other = app.restart().await;
    let from_other = tokens_for(&other, WEB_APP, "openid read:items").await;
    assert_eq!(
        header(from_other["access_token"].as_str().unwrap())["kid"],
        json!(next)
    );
}

#[tokio::test]
async fn a_user_token_for_the_management_audience_is_refused() {
    let app = TestApp::spawn().await;
    let audience = format!("{}api/v2/", app.issuer);
    let browser = app.browser();
    let params = with(
        web_params(),
        &[("audience", &audience), ("scope", "openid read:clients")],
    );
    let next = location(&browser.authorize(&params).await);
    let next = location(&browser.login(&next, ALICE, PASSWORD).await);
    let callback = location(&browser.consent(&next, "accept").await);
    let tokens: Value = app
        .exchange(&query(&callback)["code"])
        .await
        .json()
        .await
        .unwrap();
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        claims(at)["scope"],
        "openid read:clients",
        "the user holds the scope…"
    );
    let user = Api {
        app: &app,
        token: at.to_owned(),
    };
    assert_eq!(
        user.get("/api/v2/clients").await.0,
        StatusCode::UNAUTHORIZED,
        "…but only client-credentials tokens are accepted"
    );
}

#[tokio::test]
async fn a_nul_character_in_a_body_is_a_400_on_every_store() {
    let app = TestApp::spawn().await;
    let token = token(&app, "create:clients").await;
    let r = app
        .backend()
        .post(app.url("/api/v2/clients"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "a\u{0}b", "app_type": "non_interactive"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap_or_default().contains("NUL"),
        "{body}"
    );
}
