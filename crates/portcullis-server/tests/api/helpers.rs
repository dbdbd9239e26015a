//! `TestApp`: a server on port 0 with a fresh database, a `ManualClock` and a seeded
//! tenant; `Browser`: a cookie-keeping HTTP client that does not follow redirects and
//! walks the hosted HTML forms.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use portcullis_core::pkce::{CodeChallenge, CodeVerifier};
use portcullis_server::config::{MasterKeySource, Settings};
use portcullis_server::state::{AppState, ManualClock};
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use time::macros::datetime;
use url::Url;

pub const WEB: &str = "web-app";
pub const WEB_SECRET: &str = "web-app-secret-0123456789-abcdefghijklmnop";
pub const WEB_CB: &str = "https://app.example/callback";
pub const THIRD: &str = "third-party";
pub const THIRD_SECRET: &str = "third-party-secret-0123456789-abcdefghijk";
pub const THIRD_CB: &str = "https://third.example/cb";
pub const SPA: &str = "spa";
pub const SPA_CB: &str = "https://spa.example/cb";
pub const LEEWAY: &str = "leeway-app";
pub const LEEWAY_SECRET: &str = "leeway-app-secret-0123456789-abcdefghijklm";
pub const KEEPER: &str = "keeper-app";
pub const KEEPER_SECRET: &str = "keeper-app-secret-0123456789-abcdefghijkl";
pub const M2M: &str = "m2m";
pub const M2M_SECRET: &str = "m2m-secret-0123456789-abcdefghijklmnopqrst";
pub const API: &str = "https://api.example/";
pub const NOSKIP_API: &str = "https://noskip.example/";
pub const ALICE: &str = "alice@example.com";
pub const BOB: &str = "bob@example.com";
pub const CAROL: &str = "carol@example.com";
pub const PASSWORD: &str = "correct horse battery staple";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

pub const TENANT: &str = r#"
clients:
  - name: Web App
    client_id: web-app
    client_secret: web-app-secret-0123456789-abcdefghijklmnop
    app_type: regular_web
    is_first_party: true
    callbacks: ["https://app.example/callback", "http://localhost:3000/callback", "https://app.example/other"]
    grant_types: [authorization_code, refresh_token]
    token_endpoint_auth_method: client_secret_basic
    allowed_logout_urls: ["https://app.example/bye"]
    refresh_token:
      rotation_type: rotating
      expiration_type: expiring
      token_lifetime: 3600
      idle_token_lifetime: 600
  - name: Leeway App
    client_id: leeway-app
    client_secret: leeway-app-secret-0123456789-abcdefghijklm
    callbacks: ["https://leeway.example/cb"]
    grant_types: [authorization_code, refresh_token]
    refresh_token: { rotation_type: rotating, expiration_type: expiring, leeway: 10 }
  - name: Keeper App
    client_id: keeper-app
    client_secret: keeper-app-secret-0123456789-abcdefghijkl
    callbacks: ["https://keeper.example/cb"]
    grant_types: [authorization_code, refresh_token]
    refresh_token: { rotation_type: non-rotating }
  - name: Third Party
    client_id: third-party
    client_secret: third-party-secret-0123456789-abcdefghijk
    is_first_party: false
    callbacks: ["https://third.example/cb"]
    grant_types: [authorization_code]
    token_endpoint_auth_method: client_secret_post
  - name: SPA
    client_id: spa
    app_type: spa
    callbacks: ["https://spa.example/cb"]
    grant_types: [authorization_code]
  - name: M2M
    client_id: m2m
    client_secret: m2m-secret-0123456789-abcdefghijklmnopqrst
    app_type: non_interactive
    callbacks: ["https://m2m.example/cb"]
    grant_types: [client_credentials]
resourceServers:
  - name: Items API
    identifier: https://api.example/
    scopes:
      - { value: "read:items", description: "Read your items" }
      - { value: "write:items", description: "Change your items" }
    skip_consent_for_verifiable_first_party_clients: true
    token_lifetime: 3600
    allow_offline_access: true
  - name: Strict API
    identifier: https://noskip.example/
    scopes: [{ value: "read:secrets", description: "Read your secrets" }]
    skip_consent_for_verifiable_first_party_clients: false
clientGrants:
  - client_id: M2M
    audience: https://api.example/
    scope: ["read:items", "write:items"]
users:
  - email: alice@example.com
    password: correct horse battery staple
    email_verified: true
    name: Alice Example
    given_name: Alice
    phone_number: "+15555550100"
    phone_number_verified: true
    address: { street_address: "1 Main St", locality: Springfield, country: US }
  - email: bob@example.com
    password: correct horse battery staple
  - email: carol@example.com
    password: correct horse battery staple
    blocked: true
"#;

pub struct TestApp {
    pub base: String,
    pub issuer: String,
    pub state: AppState,
    pub clock: ManualClock,
    pub db_path: std::path::PathBuf,
    settings: Settings,
    dir: Arc<tempfile::TempDir>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let db_path = dir.path().join("test.db");
        let tenant_path = dir.path().join("tenant.yaml");
        std::fs::write(&tenant_path, TENANT).unwrap();
        let mut settings = Settings::for_tests();
        settings.database = match std::env::var("PORTCULLIS_TEST_STORE").as_deref() {
            // The whole suite again on PostgreSQL: scripts/test runs it both ways.
            Ok("postgres") => portcullis_store::testing::fresh_postgres_schema()
                .await
                .expect("PORTCULLIS_TEST_STORE=postgres needs PORTCULLIS_TEST_POSTGRES_URL"),
            _ => format!("sqlite://{}", db_path.display()),
        };
        settings.master_key =
            MasterKeySource::Given("test master key, at least 32 characters long".into());
        settings.tenant = Some(tenant_path);
        adjust(&mut settings);
        let clock = ManualClock::new(datetime!(2026-01-01 12:00 UTC));
        Self::start(settings, clock, db_path, Arc::new(dir)).await
    }

    async fn start(
        settings: Settings,
        clock: ManualClock,
        db_path: std::path::PathBuf,
        dir: Arc<tempfile::TempDir>,
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let issuer = portcullis_server::issuer_for(&settings, addr);
        let (state, _report) =
            portcullis_server::build(settings.clone(), &issuer, Arc::new(clock.clone()))
                .await
                .unwrap();
        let app = portcullis_server::http::router(state.clone())
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TestApp {
            base: format!("http://{addr}"),
            issuer,
            state,
            clock,
            db_path,
            settings,
            dir,
        }
    }

    /// A new server on the same database and master key (a restarted node), sharing
    /// this app's clock and issuer.
    pub async fn restart(&self) -> TestApp {
        let mut settings = self.settings.clone();
        settings.public_url = Some(url::Url::parse(&self.issuer).unwrap());
        Self::start(
            settings,
            self.clock.clone(),
            self.db_path.clone(),
            self.dir.clone(),
        )
        .await
    }

    /// A server whose empty database got the demo tenant, plus the fixture tenant applied
    /// afterwards (so Alice and the Web App exist too).
    pub async fn spawn_demo() -> TestApp {
        let app = Self::spawn_with(|s| {
            s.demo = true;
            s.tenant = None;
        })
        .await;
        let file = portcullis_core::tenant::parse(TENANT).unwrap();
        portcullis_server::tenant::apply(&app.state, &file)
            .await
            .unwrap();
        app
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn browser(&self) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: self.base.clone(),
        }
    }

    /// A plain client (no cookies, no redirects) for back-channel calls.
    pub fn backend(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    pub async fn token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Response {
        let mut req = self.backend().post(self.url("/oauth/token")).form(form);
        if let Some((id, secret)) = basic {
            req = req.header(
                "authorization",
                format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
            );
        }
        req.send().await.unwrap()
    }

    /// Exchanges a code for the Web App (Basic auth, PKCE verifier).
    pub async fn exchange(&self, code: &str) -> Response {
        self.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", WEB_CB),
                ("code_verifier", VERIFIER),
            ],
            Some((WEB, WEB_SECRET)),
        )
        .await
    }

    fn on_postgres(&self) -> bool {
        self.settings.database.starts_with("postgres")
    }

    /// Everything the database holds: on SQLite the raw bytes of its files (main file and
    /// WAL), on PostgreSQL the text of every row of every table.
    pub async fn database_bytes(&self) -> Vec<u8> {
        if self.on_postgres() {
            let db = self.postgres().await;
            let tables: Vec<String> = sqlx::query_scalar(
                "select table_name::text from information_schema.tables where table_schema = current_schema()",
            )
            .fetch_all(&db)
            .await
            .unwrap();
            let mut bytes = Vec::new();
            for table in tables {
                let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "select t::text from {table} t"
                )))
                .fetch_all(&db)
                .await
                .unwrap();
                bytes.extend(rows.concat().into_bytes());
            }
            return bytes;
        }
        let mut bytes = std::fs::read(&self.db_path).unwrap_or_default();
        let wal = self.db_path.with_extension("db-wal");
        bytes.extend(std::fs::read(wal).unwrap_or_default());
        bytes
    }

    async fn postgres(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.settings.database)
            .await
            .unwrap()
    }

    /// Runs one SQL statement on the app's database, behind the server's back.
    pub async fn execute_sql(&self, sql: &'static str) {
        if self.on_postgres() {
            sqlx::query(sql)
                .execute(&self.postgres().await)
                .await
                .unwrap();
        } else {
            let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", self.db_path.display()))
                .await
                .unwrap();
            sqlx::query(sql).execute(&db).await.unwrap();
        }
    }
}

pub fn challenge() -> String {
    CodeChallenge::s256(&CodeVerifier::parse(VERIFIER).unwrap())
        .as_str()
        .to_owned()
}

/// Authorization parameters for the Web App: code flow, PKCE, state, nonce, openid.
pub fn web_params() -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("client_id", WEB.into()),
        ("redirect_uri", WEB_CB.into()),
        ("scope", "openid profile email read:items".into()),
        ("audience", API.into()),
        ("state", "st-123".into()),
        ("nonce", "n-456".into()),
        ("code_challenge", challenge()),
        ("code_challenge_method", "S256".into()),
    ]
}

/// Replaces or adds parameters (a value of "" removes).
pub fn with(
    mut params: Vec<(&'static str, String)>,
    changes: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    for (k, v) in changes {
        params.retain(|(p, _)| p != k);
        if !v.is_empty() {
            params.push((k, (*v).to_owned()));
        }
    }
    params
}

pub fn location(r: &Response) -> String {
    r.headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Query parameters of a URL.
pub fn query(url: &str) -> HashMap<String, String> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Hidden and named inputs of the first form of a page.
pub fn form_fields(html: &str) -> HashMap<String, String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("form input[name]").unwrap();
    doc.select(&sel)
        .map(|e| {
            (
                e.value().attr("name").unwrap().to_owned(),
                e.value().attr("value").unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The text of the element matching a CSS selector.
pub fn text_of(html: &str, selector: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(selector).unwrap();
    doc.select(&sel)
        .next()
        .map(|e| e.text().collect::<String>().trim().to_owned())
}

/// Claims of a JWT (no verification; tests verify separately where it matters).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

pub fn header(jwt: &str) -> Value {
    let h = jwt.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap()
}

pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
}

impl Browser {
    pub fn abs(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{}", self.base, path_or_url)
        }
    }

    pub async fn get(&self, url: &str) -> Response {
        self.http.get(self.abs(url)).send().await.unwrap()
    }

    pub async fn authorize(&self, params: &[(&str, String)]) -> Response {
        self.http
            .get(self.abs("/authorize"))
            .query(params)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Response {
        self.http
            .post(self.abs(url))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Submits the login page at `login_url` (a path with ?state=).
    pub async fn login(&self, login_url: &str, email: &str, password: &str) -> Response {
        let page = self.get(login_url).await;
        assert_eq!(page.status(), StatusCode::OK, "login page at {login_url}");
        let fields = form_fields(&page.text().await.unwrap());
        self.post_form(
            "/u/login",
            &[
                ("state", &fields["state"]),
                ("csrf", &fields["csrf"]),
                ("username", email),
                ("password", password),
            ],
        )
        .await
    }

    /// Answers the consent page at `consent_url`.
    pub async fn consent(&self, consent_url: &str, action: &str) -> Response {
        let page = self.get(consent_url).await;
        assert_eq!(
            page.status(),
            StatusCode::OK,
            "consent page at {consent_url}"
        );
        let fields = form_fields(&page.text().await.unwrap());
        self.post_form(
            "/u/consent",
            &[
                ("state", &fields["state"]),
                ("csrf", &fields["csrf"]),
                ("action", action),
            ],
        )
        .await
    }

    /// Runs authorize → (login) → (consent: accept) and returns the final redirect to
    /// the client.
    pub async fn sign_in(&self, params: &[(&str, String)], email: &str) -> String {
        let mut next = location(&self.authorize(params).await);
        for _ in 0..4 {
            if next.starts_with("/u/login") {
                next = location(&self.login(&next, email, PASSWORD).await);
            } else if next.starts_with("/u/consent") {
                next = location(&self.consent(&next, "accept").await);
            } else {
                return next;
            }
        }
        panic!("flow did not reach the client: {next}")
    }

    /// The value of the SSO session cookie a response sets.
    pub fn session_cookie(r: &Response) -> Option<String> {
        Self::cookies(r.headers()).into_iter().find_map(|c| {
            c.split(';')
                .next()
                .and_then(|kv| kv.strip_prefix("portcullis_session="))
                .map(str::to_owned)
        })
    }

    pub fn cookies(headers: &HeaderMap) -> Vec<String> {
        headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
}

/// Signs Alice in at a client (first-party, PKCE, API with offline access) with this
/// scope and returns the token response.
pub async fn tokens_for(app: &TestApp, client: (&str, &str, &str), scope: &str) -> Value {
    let (client_id, secret, callback) = client;
    let params = with(
        web_params(),
        &[
            ("client_id", client_id),
            ("redirect_uri", callback),
            ("scope", scope),
        ],
    );
    let code = query(&app.browser().sign_in(&params, ALICE).await)
        .remove("code")
        .expect("a code");
    let r = app
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", callback),
                ("code_verifier", VERIFIER),
            ],
            Some((client_id, secret)),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

pub const WEB_APP: (&str, &str, &str) = (WEB, WEB_SECRET, WEB_CB);
pub const LEEWAY_APP: (&str, &str, &str) = (LEEWAY, LEEWAY_SECRET, "https://leeway.example/cb");
pub const KEEPER_APP: (&str, &str, &str) = (KEEPER, KEEPER_SECRET, "https://keeper.example/cb");

impl TestApp {
    /// `grant_type=refresh_token` for a client (Basic auth).
    pub async fn refresh(
        &self,
        client: (&str, &str, &str),
        refresh_token: &str,
        scope: Option<&str>,
    ) -> Response {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        self.token(&form, Some((client.0, client.1))).await
    }

    /// Where `/authorize` for the Web App sends a browser holding only this session cookie.
    pub async fn authorize_with_session(&self, session: &str) -> String {
        let r = self
            .backend()
            .get(self.url("/authorize"))
            .query(&web_params())
            .header("cookie", format!("portcullis_session={session}"))
            .send()
            .await
            .unwrap();
        location(&r)
    }

    /// The test clock, in unix seconds.
    pub fn clock_now(&self) -> i64 {
        use portcullis_server::state::Clock;
        self.clock.now().unix_timestamp()
    }

    /// `GET /userinfo` with this access token as a Bearer token.
    async fn userinfo_response(&self, access_token: &str) -> Response {
        self.backend()
            .get(self.url("/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }

    /// The `/userinfo` document for this access token.
    pub async fn userinfo(&self, access_token: &str) -> Value {
        self.userinfo_response(access_token)
            .await
            .json()
            .await
            .unwrap()
    }

    /// Status of `/userinfo` with this access token.
    pub async fn userinfo_status(&self, access_token: &str) -> StatusCode {
        self.userinfo_response(access_token).await.status()
    }

    /// Tenant log codes recorded so far, oldest first.
    pub async fn log_codes(&self) -> Vec<String> {
        self.state.logs.flush().await;
        let mut logs = self.state.store.recent_logs(1000).await.unwrap();
        logs.reverse();
        logs.iter().map(|l| l.log_type.code().to_owned()).collect()
    }
}

/// Signs Alice in at the Web App and returns the code.
pub async fn code_for_alice(app: &TestApp) -> String {
    let browser = app.browser();
    let callback = browser.sign_in(&web_params(), ALICE).await;
    query(&callback).remove("code").expect("a code")
}
