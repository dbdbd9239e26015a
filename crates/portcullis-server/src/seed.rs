//! The demo tenant: seeded into an empty database when `demo` is on, so a newcomer can
//! click through a real login at once. Its client secret is kept sealed in the database
//! so the playground (the demo app's back end) can authenticate at the token endpoint.

use portcullis_core::client::{AppType, JwtConfiguration, TokenEndpointAuthMethod};
use portcullis_core::proto::paths;
use portcullis_core::redirect_uri::RedirectUri;
use portcullis_core::refresh::{ExpirationType, RefreshTokenPolicy, RotationType};
use portcullis_core::resource_server::{ApiScope, ResourceServer};
use portcullis_core::secret::ClientSecret;
use portcullis_core::tenant::{ClientSpec, PasswordSpec, TenantFile, UserSpec};

use crate::crypto::{self, MasterKey};
use crate::state::AppState;
use crate::tenant;

/// The demo application's fixed client id.
pub const DEMO_CLIENT_ID: &str = "demo-app";
/// The demo API's identifier (its `audience`).
pub const DEMO_AUDIENCE: &str = "https://demo-api.portcullis.test/";
/// The demo user's email.
pub const DEMO_EMAIL: &str = "demo@example.com";
const SECRET_NAME: &str = "demo client secret";

/// What the playground needs of the demo app.
pub struct DemoApp {
    /// Its client id.
    pub client_id: String,
    /// Its secret.
    pub client_secret: ClientSecret,
}

/// Credentials shown once, after seeding.
pub struct Seeded {
    /// The demo user's password.
    pub user_password: String,
    /// The demo app's secret.
    pub client_secret: String,
}

/// Seeds the demo tenant into an empty database. Returns the credentials to print.
pub async fn seed(state: &AppState, master: &MasterKey) -> anyhow::Result<Seeded> {
    let client_secret = ClientSecret::from_random(&crypto::random());
    let user_password = crypto::random_id::<12>();
    let callback = RedirectUri::parse(&state.url(paths::PLAYGROUND_CALLBACK))?;
    let file = TenantFile {
        clients: vec![ClientSpec {
            name: "Demo App".into(),
            client_id: Some(DEMO_CLIENT_ID.into()),
            client_secret: Some(client_secret.clone()),
            app_type: AppType::RegularWeb,
            is_first_party: true,
            callbacks: vec![callback],
            allowed_logout_urls: vec![state.url("/")],
            web_origins: vec![],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            jwt_configuration: JwtConfiguration::default(),
            credentials: vec![],
            refresh_token: RefreshTokenPolicy {
                rotation_type: RotationType::Rotating,
                expiration_type: ExpirationType::Expiring,
                ..RefreshTokenPolicy::default_for(AppType::Spa)
            },
        }],
        resource_servers: vec![ResourceServer {
            identifier: DEMO_AUDIENCE.into(),
            name: "Demo API".into(),
            scopes: vec![
                ApiScope {
                    value: "read:messages".into(),
                    description: "Read your messages".into(),
                },
                ApiScope {
                    value: "write:messages".into(),
                    description: "Send messages as you".into(),
                },
            ],
            allow_offline_access: true,
            token_lifetime: ResourceServer::DEFAULT_TOKEN_LIFETIME,
            signing_alg: portcullis_core::client::SigningAlg::RS256,
            skip_consent_for_verifiable_first_party_clients: true,
        }],
        users: vec![UserSpec {
            email: DEMO_EMAIL.into(),
            user_id: None,
            password: Some(PasswordSpec::Plain(user_password.clone())),
            email_verified: true,
            name: Some("Demo User".into()),
            given_name: Some("Demo".into()),
            family_name: Some("User".into()),
            nickname: Some("demo".into()),
            picture: None,
            blocked: false,
            address: None,
            phone_number: None,
            phone_number_verified: false,
        }],
        warnings: vec![],
        client_grants: vec![],
    };
    tenant::apply(state, &file).await?;
    let sealed = master.seal(SECRET_NAME, client_secret.expose().as_bytes());
    state
        .store
        .node_secret(SECRET_NAME, &sealed, state.now())
        .await?;
    Ok(Seeded {
        user_password,
        client_secret: client_secret.expose().to_owned(),
    })
}

/// The demo app, if the demo tenant is present: its secret is kept and its client still
/// exists. Adds the current playground callback (the public URL may have changed).
pub async fn load(state: &AppState, master: &MasterKey) -> anyhow::Result<Option<DemoApp>> {
    if state.store.find_client(DEMO_CLIENT_ID).await?.is_none() {
        return Ok(None);
    }
    let Some(sealed) = state.store.find_node_secret(SECRET_NAME).await? else {
        return Ok(None);
    };
    let secret = String::from_utf8(master.open(SECRET_NAME, &sealed)?)?;
    state
        .store
        .add_client_callback(
            DEMO_CLIENT_ID,
            &state.url(paths::PLAYGROUND_CALLBACK),
            state.now(),
        )
        .await?;
    Ok(Some(DemoApp {
        client_id: DEMO_CLIENT_ID.into(),
        client_secret: ClientSecret::new(&secret).map_err(anyhow::Error::msg)?,
    }))
}
