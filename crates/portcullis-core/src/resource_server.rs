//! APIs (resource servers) as Auth0 models them: an identifier used as `audience`, the
//! permissions (scopes) it defines, and its token policy.

use serde::{Deserialize, Serialize};

use crate::client::SigningAlg;

/// A permission an API defines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiScope {
    /// The scope value, e.g. `read:messages`.
    pub value: String,
    /// What granting it allows, shown on the consent page.
    #[serde(default)]
    pub description: String,
}

/// A registered API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceServer {
    /// Stable identifier, the `audience` value (usually a URL).
    pub identifier: String,
    /// Display name.
    pub name: String,
    /// Permissions the API defines.
    pub scopes: Vec<ApiScope>,
    /// Whether refresh tokens may be issued for this API.
    pub allow_offline_access: bool,
    /// Access-token lifetime in seconds (Auth0 default 86 400).
    pub token_lifetime: i64,
    /// Access-token signing algorithm.
    pub signing_alg: SigningAlg,
    /// Auth0 "Allow Skipping User Consent" for first-party applications.
    pub skip_consent_for_verifiable_first_party_clients: bool,
}

impl ResourceServer {
    /// Auth0's default access-token lifetime.
    pub const DEFAULT_TOKEN_LIFETIME: i64 = 86_400;
    /// Auth0's maximum access-token lifetime (30 days).
    pub const MAX_TOKEN_LIFETIME: i64 = 2_592_000;

    /// The permission named `value`, if the API defines it.
    pub fn scope(&self, value: &str) -> Option<&ApiScope> {
        self.scopes.iter().find(|s| s.value == value)
    }
}
