//! Applications (OAuth clients) as Auth0 models them.

use serde::{Deserialize, Serialize};

use crate::redirect_uri::{self, RedirectUri};
use crate::secret::TokenHash;

/// Auth0 `app_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppType {
    /// A server-side web application: confidential.
    RegularWeb,
    /// A single-page application: public.
    Spa,
    /// A native or mobile application: public.
    Native,
    /// A machine-to-machine application.
    NonInteractive,
}

impl AppType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RegularWeb => "regular_web",
            Self::Spa => "spa",
            Self::Native => "native",
            Self::NonInteractive => "non_interactive",
        }
    }
}

/// Auth0 `token_endpoint_auth_method` (OIDC Registration §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    /// A public client: no secret, PKCE required.
    None,
    /// Secret in the request body.
    ClientSecretPost,
    /// Secret by HTTP Basic.
    ClientSecretBasic,
    /// A JWT signed with the client's private key (RFC 7523, OIDC Core §9).
    PrivateKeyJwt,
}

impl TokenEndpointAuthMethod {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

/// JWS algorithms the server signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (Auth0's default).
    RS256,
    /// RSASSA-PSS with SHA-256 (Auth0 offers it too).
    PS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl SigningAlg {
    /// Every algorithm, the default first.
    pub const ALL: [SigningAlg; 4] = [Self::RS256, Self::PS256, Self::ES256, Self::EdDSA];

    /// The `alg` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// The algorithm named by an `alg` value.
    pub fn parse(alg: &str) -> Option<SigningAlg> {
        Self::ALL.into_iter().find(|a| a.as_str() == alg)
    }

    /// Whether a signature costs hundreds of microseconds (RSA) rather than tens (elliptic
    /// curves; docs/performance.md has the figures).
    pub fn is_rsa(self) -> bool {
        matches!(self, Self::RS256 | Self::PS256)
    }
}

/// Auth0 `jwt_configuration`: how ID tokens for this client are minted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtConfiguration {
    /// ID-token lifetime (Auth0 default 36 000 s).
    pub lifetime_in_seconds: i64,
    /// ID-token signing algorithm.
    pub alg: SigningAlg,
}

impl Default for JwtConfiguration {
    fn default() -> Self {
        Self {
            lifetime_in_seconds: 36_000,
            alg: SigningAlg::RS256,
        }
    }
}

/// Grant types a client may use, by their wire names.
pub mod grant_type {
    /// RFC 6749 §4.1.
    pub const AUTHORIZATION_CODE: &str = "authorization_code";
    /// RFC 6749 §6.
    pub const REFRESH_TOKEN: &str = "refresh_token";
    /// RFC 6749 §4.4.
    pub const CLIENT_CREDENTIALS: &str = "client_credentials";
    /// Grant types Auth0 lets a client list; only some are served by Portcullis.
    pub const KNOWN: [&str; 8] = [
        "authorization_code",
        "implicit",
        "refresh_token",
        "client_credentials",
        "password",
        "http://auth0.com/oauth/grant-type/password-realm",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ];
}

/// A registered application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The public identifier.
    pub client_id: String,
    /// Display name, shown on the consent page.
    pub name: String,
    /// Application type.
    pub app_type: AppType,
    /// First-party apps may skip consent where the API allows it.
    pub is_first_party: bool,
    /// Allowed callback (redirect) URIs.
    pub callbacks: Vec<RedirectUri>,
    /// Allowed `returnTo` URLs after logout.
    pub allowed_logout_urls: Vec<String>,
    /// Allowed web origins (CORS, silent auth).
    pub web_origins: Vec<String>,
    /// Grant types enabled for this client.
    pub grant_types: Vec<String>,
    /// How the client authenticates at the token endpoint.
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// SHA-256 of the client secret; `None` for public clients.
    pub secret_hash: Option<TokenHash>,
    /// ID-token settings.
    pub jwt_configuration: JwtConfiguration,
    /// Refresh-token rotation and lifetimes (Auth0 `refresh_token`).
    pub refresh_token: crate::refresh::RefreshTokenPolicy,
    /// Public keys for `private_key_jwt` (Auth0
    /// `client_authentication_methods.private_key_jwt.credentials`).
    pub credentials: Vec<ClientCredential>,
}

/// A public key a client signs its assertions with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCredential {
    /// Stable id (`cred_…`).
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Key id: when set, an assertion naming another `kid` skips this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The only algorithm this key may verify, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// The key: a PEM (`-----BEGIN PUBLIC KEY-----`) or a JWK (JSON text).
    pub public_key: String,
}

/// Algorithms a client assertion may use (Auth0's list). Never `none`, never HMAC: a
/// public key is no shared secret.
pub const ASSERTION_ALGS: [&str; 6] = ["RS256", "RS384", "PS256", "PS384", "ES256", "ES384"];

impl Client {
    /// A public client (RFC 6749 §2.1) cannot keep a secret and must use PKCE.
    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == TokenEndpointAuthMethod::None
    }

    /// Whether the client authenticates with a signed assertion (and with nothing else).
    pub fn uses_private_key_jwt(&self) -> bool {
        self.token_endpoint_auth_method == TokenEndpointAuthMethod::PrivateKeyJwt
    }

    /// Whether the client has the grant type enabled.
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    /// RFC 9700 §4.1.3: exact match, with RFC 8252 §7.3 loopback ports for native apps.
    pub fn find_callback(&self, requested: &str) -> Option<&RedirectUri> {
        redirect_uri::find_match(&self.callbacks, requested, self.app_type == AppType::Native)
    }

    /// Auth0's default grant types for a new application of this type.
    pub fn default_grant_types(app_type: AppType) -> Vec<String> {
        let grants: &[&str] = match app_type {
            AppType::RegularWeb => &[
                "authorization_code",
                "implicit",
                "refresh_token",
                "client_credentials",
            ],
            AppType::Spa | AppType::Native => &["authorization_code", "implicit", "refresh_token"],
            AppType::NonInteractive => &["client_credentials"],
        };
        grants.iter().map(|g| (*g).to_owned()).collect()
    }
}
