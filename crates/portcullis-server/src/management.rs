//! The Management API's own registration: its audience (`{issuer}api/v2/`), the scopes
//! that gate each call (Auth0's names), and, on first start, a machine-to-machine client
//! holding all of them, whose credentials are printed once.

use portcullis_core::client::{AppType, Client, JwtConfiguration, TokenEndpointAuthMethod};
use portcullis_core::refresh::RefreshTokenPolicy;
use portcullis_core::resource_server::{ApiScope, ResourceServer};
use portcullis_core::secret::ClientSecret;

use portcullis_store::{ClientGrantUpsert, ClientUpsert, TenantImport};

use crate::crypto;
use crate::state::AppState;

/// The Management API scopes this server knows, with what each allows.
pub const SCOPES: [(&str, &str); 28] = [
    ("create:signing_keys", "Rotate signing keys"),
    ("update:signing_keys", "Rotate signing keys"),
    ("read:client_credentials", "Read applications' public keys"),
    ("create:client_credentials", "Add applications' public keys"),
    (
        "delete:client_credentials",
        "Remove applications' public keys",
    ),
    ("read:signing_keys", "Read signing keys"),
    ("read:users", "Read users"),
    ("create:users", "Create users"),
    ("update:users", "Update users"),
    ("delete:users", "Delete users"),
    ("read:refresh_tokens", "Read users' refresh tokens"),
    ("delete:refresh_tokens", "Revoke users' refresh tokens"),
    ("read:sessions", "Read users' sessions"),
    ("delete:sessions", "End users' sessions"),
    ("read:logs", "Read tenant logs"),
    ("read:clients", "Read applications"),
    ("create:clients", "Create applications"),
    ("update:clients", "Update applications"),
    ("delete:clients", "Delete applications"),
    ("update:client_keys", "Rotate application secrets"),
    ("read:resource_servers", "Read APIs"),
    ("create:resource_servers", "Create APIs"),
    ("update:resource_servers", "Update APIs"),
    ("delete:resource_servers", "Delete APIs"),
    ("read:client_grants", "Read client grants"),
    ("create:client_grants", "Create client grants"),
    ("update:client_grants", "Update client grants"),
    ("delete:client_grants", "Delete client grants"),
];

/// The bootstrap client's id.
pub const CLI_CLIENT_ID: &str = "portcullis-cli";

/// The Management API's audience for this issuer.
pub fn audience(issuer: &str) -> String {
    format!("{issuer}api/v2/")
}

/// Makes sure the Management API exists for this issuer and the CLI client holds every
/// scope for it. Returns the CLI client's secret when the client was created now.
pub async fn bootstrap(state: &AppState) -> anyhow::Result<Option<String>> {
    let now = state.now();
    let identifier = audience(&state.issuer);
    let api = ResourceServer {
        identifier: identifier.clone(),
        name: "Portcullis Management API".into(),
        scopes: SCOPES
            .iter()
            .map(|(v, d)| ApiScope {
                value: (*v).into(),
                description: (*d).into(),
            })
            .collect(),
        allow_offline_access: false,
        token_lifetime: ResourceServer::DEFAULT_TOKEN_LIFETIME,
        signing_alg: portcullis_core::client::SigningAlg::RS256,
        skip_consent_for_verifiable_first_party_clients: false,
    };
    let secret = ClientSecret::from_random(&crypto::random());
    let client = Client {
        client_id: CLI_CLIENT_ID.into(),
        name: "Portcullis CLI (Management API)".into(),
        app_type: AppType::NonInteractive,
        is_first_party: true,
        callbacks: vec![],
        allowed_logout_urls: vec![],
        web_origins: vec![],
        grant_types: vec!["client_credentials".into()],
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretPost,
        secret_hash: Some(secret.hash()),
        jwt_configuration: JwtConfiguration::default(),
        refresh_token: RefreshTokenPolicy::default_for(AppType::NonInteractive),
        credentials: vec![],
    };
    // One import: nodes starting at once apply it one after another, so exactly one of
    // them creates the client (and prints its secret); an existing client keeps its secret.
    let import = TenantImport {
        resource_servers: vec![api],
        clients: vec![ClientUpsert {
            client,
            match_on_client_id: true,
            secret_given: false,
        }],
        client_grants: vec![ClientGrantUpsert {
            id: format!("cgr_{}", crypto::random_id::<12>()),
            client: CLI_CLIENT_ID.into(),
            audience: identifier,
            scope: SCOPES.iter().map(|(s, _)| (*s).to_owned()).collect(),
        }],
        users: vec![],
    };
    let outcomes = state.store.import_tenant(&import, now).await?;
    let created = outcomes.iter().any(|o| o.kind == "client" && o.created);
    Ok(created.then(|| secret.expose().to_owned()))
}
