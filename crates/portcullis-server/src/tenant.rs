//! Applying a tenant file: hash passwords, choose ids and secrets for new entries, then
//! hand everything to the store in one transaction (all or nothing).

use portcullis_core::client::{Client, TokenEndpointAuthMethod};
use portcullis_core::secret::ClientSecret;
use portcullis_core::tenant::{PasswordSpec, TenantFile};
use portcullis_core::user::User;
use portcullis_store::{ClientGrantUpsert, ClientUpsert, ImportOutcome, TenantImport, UserUpsert};

use crate::crypto;
use crate::state::AppState;

/// What an import did, and the secrets it generated (shown once).
pub struct Applied {
    /// One line per entry.
    pub outcomes: Vec<ImportOutcome>,
    /// `(client name, client_id, secret)` for clients created without a given secret.
    pub generated_secrets: Vec<(String, String, String)>,
}

/// Applies a parsed tenant file.
pub async fn apply(state: &AppState, file: &TenantFile) -> anyhow::Result<Applied> {
    let mut import = TenantImport {
        resource_servers: file.resource_servers.clone(),
        ..Default::default()
    };
    let mut generated = Vec::new();
    for spec in &file.clients {
        if let Some(bad) = spec
            .credentials
            .iter()
            .find(|c| !crate::flows::token::credential_parses(c))
        {
            anyhow::bail!(
                "clients ({:?}): credential {:?} is not a valid public key",
                spec.name,
                bad.name
            );
        }
        let client_id = spec
            .client_id
            .clone()
            .unwrap_or_else(|| crypto::random_alphanumeric(32));
        // Secrets are for the secret methods; public and private_key_jwt clients hold none.
        let confidential = matches!(
            spec.token_endpoint_auth_method,
            TokenEndpointAuthMethod::ClientSecretPost | TokenEndpointAuthMethod::ClientSecretBasic
        );
        let secret = match (&spec.client_secret, confidential) {
            (Some(s), _) => Some(s.clone()),
            (None, true) => {
                let s = ClientSecret::from_random(&crypto::random());
                generated.push((spec.name.clone(), client_id.clone(), s.expose().to_owned()));
                Some(s)
            }
            (None, false) => None,
        };
        import.clients.push(ClientUpsert {
            client: Client {
                client_id,
                name: spec.name.clone(),
                app_type: spec.app_type,
                is_first_party: spec.is_first_party,
                callbacks: spec.callbacks.clone(),
                allowed_logout_urls: spec.allowed_logout_urls.clone(),
                web_origins: spec.web_origins.clone(),
                grant_types: spec.grant_types.clone(),
                token_endpoint_auth_method: spec.token_endpoint_auth_method,
                secret_hash: secret.as_ref().map(ClientSecret::hash),
                jwt_configuration: spec.jwt_configuration,
                refresh_token: spec.refresh_token,
                credentials: spec.credentials.clone(),
            },
            match_on_client_id: spec.client_id.is_some(),
            secret_given: spec.client_secret.is_some(),
        });
    }
    for spec in &file.users {
        let password_hash = match &spec.password {
            Some(PasswordSpec::Plain(p)) => Some(state.passwords.hash(p.clone()).await?),
            Some(PasswordSpec::Hash(h)) => Some(h.clone()),
            None => None,
        };
        let nickname = spec
            .nickname
            .clone()
            .or_else(|| spec.email.split('@').next().map(str::to_owned));
        import.users.push(UserUpsert {
            user: User {
                id: spec
                    .user_id
                    .clone()
                    .unwrap_or_else(|| hex_id(&crypto::random::<12>())),
                email: User::normalize_email(&spec.email),
                email_verified: spec.email_verified,
                name: spec.name.clone().or_else(|| Some(spec.email.clone())),
                given_name: spec.given_name.clone(),
                family_name: spec.family_name.clone(),
                nickname,
                picture: spec.picture.clone(),
                password_hash,
                blocked: spec.blocked,
                updated_at: state.now(),
                app_metadata: Default::default(),
                user_metadata: Default::default(),
                address: spec.address.clone(),
                phone_number: spec.phone_number.clone(),
                phone_number_verified: spec.phone_number_verified,
            },
            password_given: spec.password.is_some(),
        });
    }
    for g in &file.client_grants {
        import.client_grants.push(ClientGrantUpsert {
            id: format!("cgr_{}", crypto::random_id::<12>()),
            client: g.client.clone(),
            audience: g.audience.clone(),
            scope: g.scope.clone(),
        });
    }
    let outcomes = state.store.import_tenant(&import, state.now()).await?;
    state.tenant_cache.clear();
    // A generated secret only matters for a client that was created by this import.
    generated.retain(|(name, _, _)| {
        outcomes
            .iter()
            .any(|o| o.kind == "client" && o.key == *name && o.created)
    });
    Ok(Applied {
        outcomes,
        generated_secrets: generated,
    })
}

/// Auth0-style user id: 24 hex characters.
fn hex_id(bytes: &[u8; 12]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
