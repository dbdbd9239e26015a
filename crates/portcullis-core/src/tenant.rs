//! The tenant file: Auth0 Deploy CLI's `tenant.yaml` (`clients`, `resourceServers`) plus
//! our `users` extension, parsed and validated into records the store can apply.
//!
//! Supported fields are validated strictly and an error names the entry and the field;
//! fields we do not support yet are reported once each as a warning and ignored
//! (DESIGN §2 "Configuration"). Nothing here touches the store: applying is all or
//! nothing, in one transaction, elsewhere.

use serde::de::DeserializeOwned;
use serde_yaml_ng::Mapping;
pub use serde_yaml_ng::Value;

use crate::client::{
    AppType, ClientCredential, JwtConfiguration, SigningAlg, TokenEndpointAuthMethod, grant_type,
};
use crate::redirect_uri::RedirectUri;
use crate::refresh::{ExpirationType, RefreshTokenPolicy, RotationType};
use crate::resource_server::{ApiScope, ResourceServer};
use crate::secret::ClientSecret;
use crate::user::User;

/// A tenant-file error: which entry, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TenantError(pub String);

/// A client as declared in the file.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// Display name; the match key when no `client_id` is given.
    pub name: String,
    /// A fixed client id, when the file gives one.
    pub client_id: Option<String>,
    /// A fixed secret, when the file gives one.
    pub client_secret: Option<ClientSecret>,
    /// Application type.
    pub app_type: AppType,
    /// First-party flag.
    pub is_first_party: bool,
    /// Allowed callback URLs.
    pub callbacks: Vec<RedirectUri>,
    /// Allowed logout URLs.
    pub allowed_logout_urls: Vec<String>,
    /// Allowed web origins.
    pub web_origins: Vec<String>,
    /// Enabled grant types.
    pub grant_types: Vec<String>,
    /// Token-endpoint authentication method.
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// ID-token settings.
    pub jwt_configuration: JwtConfiguration,
    /// Refresh-token policy.
    pub refresh_token: RefreshTokenPolicy,
    /// `private_key_jwt` public keys.
    pub credentials: Vec<ClientCredential>,
}

/// How a user's password is given.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordSpec {
    /// Clear text, to be hashed with Argon2id before storing.
    Plain(String),
    /// An Argon2 PHC string, stored as is.
    Hash(String),
}

impl std::fmt::Debug for PasswordSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Plain(_) => f.write_str("Plain(<redacted>)"),
            Self::Hash(_) => f.write_str("Hash(<redacted>)"),
        }
    }
}

/// A user as declared in the file (our extension), matched by email.
#[derive(Debug, Clone)]
pub struct UserSpec {
    /// Login email, the match key.
    pub email: String,
    /// Fixed user id (the part after `auth0|`), e.g. from an Auth0 export.
    pub user_id: Option<String>,
    /// Password or hash; `None` keeps an existing user's password.
    pub password: Option<PasswordSpec>,
    /// Email verified flag.
    pub email_verified: bool,
    /// Full name.
    pub name: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Nickname.
    pub nickname: Option<String>,
    /// Picture URL.
    pub picture: Option<String>,
    /// Blocked flag.
    pub blocked: bool,
    /// OIDC address object.
    pub address: Option<serde_json::Map<String, serde_json::Value>>,
    /// Phone number.
    pub phone_number: Option<String>,
    /// Phone number verified flag.
    pub phone_number_verified: bool,
}

/// A client grant as declared in the file (Auth0 `clientGrants`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientGrantSpec {
    /// The client, by `client_id` or by name (Deploy CLI files use names).
    pub client: String,
    /// The API identifier.
    pub audience: String,
    /// Granted scopes.
    pub scope: crate::scope::Scope,
}

/// A parsed tenant file.
#[derive(Debug, Clone, Default)]
pub struct TenantFile {
    /// Client grants.
    pub client_grants: Vec<ClientGrantSpec>,
    /// Applications.
    pub clients: Vec<ClientSpec>,
    /// APIs.
    pub resource_servers: Vec<ResourceServer>,
    /// Users.
    pub users: Vec<UserSpec>,
    /// One line per ignored, unsupported field or section.
    pub warnings: Vec<String>,
}

const CLIENT_FIELDS: [&str; 13] = [
    "refresh_token",
    "client_authentication_methods",
    "name",
    "client_id",
    "client_secret",
    "app_type",
    "is_first_party",
    "callbacks",
    "allowed_logout_urls",
    "web_origins",
    "grant_types",
    "token_endpoint_auth_method",
    "jwt_configuration",
];
const REFRESH_FIELDS: [&str; 7] = [
    "rotation_type",
    "expiration_type",
    "leeway",
    "token_lifetime",
    "infinite_token_lifetime",
    "idle_token_lifetime",
    "infinite_idle_token_lifetime",
];
const API_FIELDS: [&str; 7] = [
    "name",
    "identifier",
    "scopes",
    "allow_offline_access",
    "token_lifetime",
    "signing_alg",
    "skip_consent_for_verifiable_first_party_clients",
];
const USER_FIELDS: [&str; 14] = [
    "address",
    "phone_number",
    "phone_number_verified",
    "email",
    "user_id",
    "password",
    "password_hash",
    "email_verified",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "picture",
    "blocked",
];

/// One mapping entry of a list, with the path used in messages.
struct Entry<'a> {
    map: &'a Mapping,
    path: String,
}

impl Entry<'_> {
    fn get<T: DeserializeOwned>(&self, field: &str) -> Result<Option<T>, TenantError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_yaml_ng::from_value(v.clone())
                .map(Some)
                .map_err(|e| self.error(field, &e.to_string())),
        }
    }

    fn required<T: DeserializeOwned>(&self, field: &str) -> Result<T, TenantError> {
        self.get(field)?
            .ok_or_else(|| self.error(field, "is required"))
    }

    fn error(&self, field: &str, msg: &str) -> TenantError {
        TenantError(format!("{}.{field}: {msg}", self.path))
    }

    fn warn_unknown(&self, known: &[&str], warnings: &mut Vec<String>) {
        for key in self.map.keys() {
            let name = key.as_str().unwrap_or("?");
            if !known.contains(&name) {
                warnings.push(format!("{}.{name}: not supported yet, ignored", self.path));
            }
        }
    }
}

fn entries<'a>(root: &'a Mapping, section: &str) -> Result<Vec<Entry<'a>>, TenantError> {
    match root.get(section) {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Sequence(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let label = item
                    .get("name")
                    .or_else(|| item.get("email"))
                    .and_then(Value::as_str)
                    .map(|n| format!("{section}[{i}] ({n:?})"))
                    .unwrap_or_else(|| format!("{section}[{i}]"));
                match item {
                    Value::Mapping(map) => Ok(Entry { map, path: label }),
                    _ => Err(TenantError(format!("{label}: must be a mapping"))),
                }
            })
            .collect(),
        Some(_) => Err(TenantError(format!("{section}: must be a list"))),
    }
}

/// Validates one client object (a tenant-file entry or a Management API body) whose
/// messages start with `label`. Unsupported fields are returned as warnings.
pub fn client_from_value(
    label: &str,
    value: &Value,
) -> Result<(ClientSpec, Vec<String>), TenantError> {
    let Value::Mapping(map) = value else {
        return Err(TenantError(format!("{label}: must be an object")));
    };
    let entry = Entry {
        map,
        path: label.to_owned(),
    };
    let mut warnings = Vec::new();
    entry.warn_unknown(&CLIENT_FIELDS, &mut warnings);
    Ok((client(&entry)?, warnings))
}

/// Validates one API object (a tenant-file entry or a Management API body).
pub fn resource_server_from_value(
    label: &str,
    value: &Value,
) -> Result<(ResourceServer, Vec<String>), TenantError> {
    let Value::Mapping(map) = value else {
        return Err(TenantError(format!("{label}: must be an object")));
    };
    let entry = Entry {
        map,
        path: label.to_owned(),
    };
    let mut warnings = Vec::new();
    entry.warn_unknown(&API_FIELDS, &mut warnings);
    Ok((resource_server(&entry)?, warnings))
}

/// Validates one user object (a tenant-file entry or a Management API body).
pub fn user_from_value(label: &str, value: &Value) -> Result<UserSpec, TenantError> {
    let Value::Mapping(map) = value else {
        return Err(TenantError(format!("{label}: must be an object")));
    };
    user(&Entry {
        map,
        path: label.to_owned(),
    })
}

/// Whether a string anywhere in `value` (keys included) holds a NUL character.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Sequence(items) => items.iter().any(has_nul),
        Value::Mapping(map) => map.iter().any(|(k, v)| has_nul(k) || has_nul(v)),
        Value::Tagged(tagged) => has_nul(&tagged.value),
        _ => false,
    }
}

/// Parses and validates a tenant file.
pub fn parse(text: &str) -> Result<TenantFile, TenantError> {
    let root: Value =
        serde_yaml_ng::from_str(text).map_err(|e| TenantError(format!("not valid YAML: {e}")))?;
    if has_nul(&root) {
        // No field needs one, and PostgreSQL cannot store it in text.
        return Err(TenantError(
            "strings must not contain the NUL character".into(),
        ));
    }
    let root = match root {
        Value::Mapping(m) => m,
        Value::Null => Mapping::new(),
        _ => {
            return Err(TenantError(
                "the tenant file must be a mapping at the top level".into(),
            ));
        }
    };
    let mut file = TenantFile::default();
    for key in root.keys() {
        let name = key.as_str().unwrap_or("?");
        if !["clients", "resourceServers", "users", "clientGrants"].contains(&name) {
            file.warnings
                .push(format!("{name}: section not supported yet, ignored"));
        }
    }
    for entry in entries(&root, "clients")? {
        entry.warn_unknown(&CLIENT_FIELDS, &mut file.warnings);
        file.clients.push(client(&entry)?);
    }
    for entry in entries(&root, "resourceServers")? {
        entry.warn_unknown(&API_FIELDS, &mut file.warnings);
        file.resource_servers.push(resource_server(&entry)?);
    }
    for entry in entries(&root, "clientGrants")? {
        entry.warn_unknown(&["client_id", "audience", "scope"], &mut file.warnings);
        let client = non_empty(&entry, "client_id")?;
        let audience = non_empty(&entry, "audience")?;
        let scopes: Vec<String> = entry.get("scope")?.unwrap_or_default();
        let mut scope = crate::scope::Scope::default();
        for (i, s) in scopes.iter().enumerate() {
            match crate::scope::Scope::parse(s) {
                Ok(p) if p.len() == 1 => scope.insert(s),
                _ => {
                    return Err(entry.error(&format!("scope[{i}]"), "must be a single scope token"));
                }
            }
        }
        file.client_grants.push(ClientGrantSpec {
            client,
            audience,
            scope,
        });
    }
    for entry in entries(&root, "users")? {
        entry.warn_unknown(&USER_FIELDS, &mut file.warnings);
        file.users.push(user(&entry)?);
    }
    check_unique(
        file.clients.iter().map(|c| c.name.as_str()),
        "clients",
        "name",
    )?;
    check_unique(
        file.clients.iter().filter_map(|c| c.client_id.as_deref()),
        "clients",
        "client_id",
    )?;
    check_unique(
        file.resource_servers.iter().map(|r| r.identifier.as_str()),
        "resourceServers",
        "identifier",
    )?;
    let grant_keys: Vec<String> = file
        .client_grants
        .iter()
        .map(|g| format!("{} -> {}", g.client, g.audience))
        .collect();
    check_unique(
        grant_keys.iter().map(String::as_str),
        "clientGrants",
        "client and audience",
    )?;
    let emails: Vec<String> = file
        .users
        .iter()
        .map(|u| User::normalize_email(&u.email))
        .collect();
    check_unique(emails.iter().map(String::as_str), "users", "email")?;
    Ok(file)
}

fn check_unique<'a>(
    values: impl Iterator<Item = &'a str>,
    section: &str,
    field: &str,
) -> Result<(), TenantError> {
    let mut seen = std::collections::HashSet::new();
    for v in values {
        if !seen.insert(v) {
            return Err(TenantError(format!(
                "{section}: two entries share the {field} {v:?}"
            )));
        }
    }
    Ok(())
}

fn non_empty(entry: &Entry<'_>, field: &str) -> Result<String, TenantError> {
    let value: String = entry.required(field)?;
    if value.trim().is_empty() {
        return Err(entry.error(field, "must not be empty"));
    }
    Ok(value)
}

fn enum_field<T: DeserializeOwned>(
    entry: &Entry<'_>,
    field: &str,
    allowed: &str,
) -> Result<Option<T>, TenantError> {
    entry
        .get::<T>(field)
        .map_err(|_| entry.error(field, &format!("must be one of {allowed}")))
}

fn client(entry: &Entry<'_>) -> Result<ClientSpec, TenantError> {
    let name = non_empty(entry, "name")?;
    let app_type = enum_field(
        entry,
        "app_type",
        "regular_web, spa, native, non_interactive",
    )?
    .unwrap_or(AppType::RegularWeb);
    let callbacks: Vec<String> = entry.get("callbacks")?.unwrap_or_default();
    let callbacks = callbacks
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            RedirectUri::parse(raw)
                .and_then(|r| r.check_registrable().map(|()| r))
                .map_err(|e| entry.error(&format!("callbacks[{i}]"), &e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let allowed_logout_urls = urls(entry, "allowed_logout_urls")?;
    let web_origins = urls(entry, "web_origins")?;
    let grant_types: Vec<String> = entry
        .get("grant_types")?
        .unwrap_or_else(|| crate::client::Client::default_grant_types(app_type));
    for (i, g) in grant_types.iter().enumerate() {
        if !grant_type::KNOWN.contains(&g.as_str()) {
            return Err(entry.error(
                &format!("grant_types[{i}]"),
                &format!("unknown grant type {g:?}"),
            ));
        }
    }
    let public_default = matches!(app_type, AppType::Spa | AppType::Native);
    let token_endpoint_auth_method = enum_field(
        entry,
        "token_endpoint_auth_method",
        "none, client_secret_post, client_secret_basic, private_key_jwt",
    )?
    .unwrap_or(if public_default {
        TokenEndpointAuthMethod::None
    } else {
        TokenEndpointAuthMethod::ClientSecretPost
    });
    let client_secret = match entry.get::<String>("client_secret")? {
        None => None,
        Some(raw) => Some(ClientSecret::new(&raw).map_err(|m| entry.error("client_secret", &m))?),
    };
    if client_secret.is_some() && token_endpoint_auth_method == TokenEndpointAuthMethod::None {
        return Err(entry.error(
            "client_secret",
            "a client with token_endpoint_auth_method none has no secret",
        ));
    }
    let client_id: Option<String> = entry.get("client_id")?;
    if let Some(id) = &client_id {
        let ok = !id.is_empty()
            && id.len() <= 128
            && id.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        if !ok {
            return Err(entry.error(
                "client_id",
                "must be 1 to 128 visible ASCII characters without ':'",
            ));
        }
    }
    let jwt_configuration = match entry.map.get("jwt_configuration") {
        None | Some(Value::Null) => JwtConfiguration::default(),
        Some(Value::Mapping(map)) => {
            let sub = Entry {
                map,
                path: format!("{}.jwt_configuration", entry.path),
            };
            let lifetime: i64 = sub
                .get("lifetime_in_seconds")?
                .unwrap_or(JwtConfiguration::default().lifetime_in_seconds);
            if !(1..=2_592_000).contains(&lifetime) {
                return Err(sub.error("lifetime_in_seconds", "must be between 1 and 2592000"));
            }
            let alg = signing_alg(&sub, "alg")?;
            let mut unknown = Vec::new();
            // `secret_encoded` and `scopes` are Auth0 fields that do not apply to asymmetric keys.
            sub.warn_unknown(
                &["lifetime_in_seconds", "alg", "secret_encoded", "scopes"],
                &mut unknown,
            );
            if let Some(first) = unknown.first() {
                return Err(TenantError(
                    first.replace("not supported yet, ignored", "unknown field"),
                ));
            }
            JwtConfiguration {
                lifetime_in_seconds: lifetime,
                alg,
            }
        }
        Some(_) => return Err(entry.error("jwt_configuration", "must be a mapping")),
    };
    let refresh_token = refresh_policy(entry, app_type)?;
    let credentials = private_key_jwt_credentials(entry)?;
    let token_endpoint_auth_method = match (
        credentials.is_empty(),
        token_endpoint_auth_method,
        entry.map.contains_key("token_endpoint_auth_method"),
    ) {
        (false, TokenEndpointAuthMethod::PrivateKeyJwt, _) | (false, _, false) => {
            TokenEndpointAuthMethod::PrivateKeyJwt
        }
        (false, _, true) => {
            return Err(entry.error(
                "token_endpoint_auth_method",
                "must be private_key_jwt for a client with private_key_jwt credentials",
            ));
        }
        (true, TokenEndpointAuthMethod::PrivateKeyJwt, _) => {
            return Err(entry.error(
                "client_authentication_methods",
                "private_key_jwt needs at least one credential",
            ));
        }
        (true, method, _) => method,
    };
    if token_endpoint_auth_method == TokenEndpointAuthMethod::PrivateKeyJwt
        && client_secret.is_some()
    {
        return Err(entry.error("client_secret", "a private_key_jwt client has no secret"));
    }
    Ok(ClientSpec {
        credentials,
        refresh_token,
        name,
        client_id,
        client_secret,
        app_type,
        is_first_party: entry.get("is_first_party")?.unwrap_or(true),
        callbacks,
        allowed_logout_urls,
        web_origins,
        grant_types,
        token_endpoint_auth_method,
        jwt_configuration,
    })
}

/// Auth0 `client_authentication_methods.private_key_jwt.credentials`: `{name,
/// credential_type: public_key, pem, alg, kid}`, or `jwk` (an object) instead of `pem`.
fn private_key_jwt_credentials(entry: &Entry<'_>) -> Result<Vec<ClientCredential>, TenantError> {
    let Some(methods) = entry.map.get("client_authentication_methods") else {
        return Ok(vec![]);
    };
    let path = format!(
        "{}.client_authentication_methods.private_key_jwt.credentials",
        entry.path
    );
    let list = methods
        .get("private_key_jwt")
        .and_then(|p| p.get("credentials"));
    let Some(Value::Sequence(items)) = list else {
        return Err(TenantError(format!("{path}: must be a list")));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Mapping(map) = item else {
            return Err(TenantError(format!("{path}[{i}]: must be a mapping")));
        };
        let cred = Entry {
            map,
            path: format!("{path}[{i}]"),
        };
        let kind: Option<String> = cred.get("credential_type")?;
        if kind.as_deref().is_some_and(|k| k != "public_key") {
            return Err(cred.error("credential_type", "must be public_key"));
        }
        let alg: Option<String> = cred.get("alg")?;
        if let Some(a) = &alg
            && !crate::client::ASSERTION_ALGS.contains(&a.as_str())
        {
            return Err(cred.error(
                "alg",
                "must be one of RS256, RS384, PS256, PS384, ES256, ES384",
            ));
        }
        let public_key = match (cred.get::<String>("pem")?, map.get("jwk")) {
            (Some(pem), None)
                if pem.contains("-----BEGIN PUBLIC KEY-----")
                    || pem.contains("-----BEGIN RSA PUBLIC KEY-----") =>
            {
                pem
            }
            (Some(_), None) => {
                return Err(cred.error(
                    "pem",
                    "must be a PEM public key (-----BEGIN PUBLIC KEY-----)",
                ));
            }
            (None, Some(jwk @ Value::Mapping(_))) => {
                let json: serde_json::Value = serde_yaml_ng::from_value(jwk.clone())
                    .map_err(|e| cred.error("jwk", &e.to_string()))?;
                if json.get("d").is_some() {
                    return Err(cred.error("jwk", "must be a public key (it has a private part)"));
                }
                json.to_string()
            }
            _ => return Err(cred.error("pem", "give pem or jwk")),
        };
        out.push(ClientCredential {
            id: cred.get("id")?.unwrap_or_else(|| format!("cred_{i}")),
            name: cred.get("name")?.unwrap_or_default(),
            kid: cred.get("kid")?,
            alg,
            public_key,
        });
    }
    Ok(out)
}

fn refresh_policy(entry: &Entry<'_>, app_type: AppType) -> Result<RefreshTokenPolicy, TenantError> {
    let defaults = RefreshTokenPolicy::default_for(app_type);
    let map = match entry.map.get("refresh_token") {
        None | Some(Value::Null) => return Ok(defaults),
        Some(Value::Mapping(map)) => map,
        Some(_) => return Err(entry.error("refresh_token", "must be a mapping")),
    };
    let sub = Entry {
        map,
        path: format!("{}.refresh_token", entry.path),
    };
    let mut unknown = Vec::new();
    sub.warn_unknown(&REFRESH_FIELDS, &mut unknown);
    if let Some(first) = unknown.first() {
        return Err(TenantError(
            first.replace("not supported yet, ignored", "unknown field"),
        ));
    }
    let expiration_type =
        enum_field::<ExpirationType>(&sub, "expiration_type", "expiring, non-expiring")?
            .unwrap_or(defaults.expiration_type);
    // Asking for expiring tokens means the lifetimes apply unless said otherwise.
    let infinite_by_default = expiration_type == ExpirationType::NonExpiring;
    let policy = RefreshTokenPolicy {
        rotation_type: enum_field::<RotationType>(&sub, "rotation_type", "rotating, non-rotating")?
            .unwrap_or(defaults.rotation_type),
        expiration_type,
        leeway: sub.get("leeway")?.unwrap_or(defaults.leeway),
        token_lifetime: sub
            .get("token_lifetime")?
            .unwrap_or(defaults.token_lifetime),
        infinite_token_lifetime: sub
            .get("infinite_token_lifetime")?
            .unwrap_or(infinite_by_default),
        idle_token_lifetime: sub
            .get("idle_token_lifetime")?
            .unwrap_or(defaults.idle_token_lifetime),
        infinite_idle_token_lifetime: sub
            .get("infinite_idle_token_lifetime")?
            .unwrap_or(infinite_by_default),
    };
    policy
        .validate()
        .map_err(|m| TenantError(format!("{}: {m}", sub.path)))?;
    Ok(policy)
}

fn signing_alg(entry: &Entry<'_>, field: &str) -> Result<SigningAlg, TenantError> {
    Ok(enum_field(entry, field, "RS256, PS256, ES256, EdDSA")?.unwrap_or(SigningAlg::RS256))
}

fn urls(entry: &Entry<'_>, field: &str) -> Result<Vec<String>, TenantError> {
    let list: Vec<String> = entry.get(field)?.unwrap_or_default();
    for (i, raw) in list.iter().enumerate() {
        if let Err(e) = RedirectUri::parse(raw) {
            return Err(entry.error(&format!("{field}[{i}]"), &e.to_string()));
        }
    }
    Ok(list)
}

fn resource_server(entry: &Entry<'_>) -> Result<ResourceServer, TenantError> {
    let name = non_empty(entry, "name")?;
    let identifier = non_empty(entry, "identifier")?;
    let scopes: Vec<ApiScope> = entry.get("scopes")?.unwrap_or_default();
    for (i, s) in scopes.iter().enumerate() {
        let valid =
            !s.value.is_empty() && crate::scope::Scope::parse(&s.value).is_ok_and(|p| p.len() == 1);
        if !valid {
            return Err(entry.error(
                &format!("scopes[{i}].value"),
                "must be a single scope token",
            ));
        }
    }
    check_unique(
        scopes.iter().map(|s| s.value.as_str()),
        &entry.path,
        "scope value",
    )?;
    let token_lifetime: i64 = entry
        .get("token_lifetime")?
        .unwrap_or(ResourceServer::DEFAULT_TOKEN_LIFETIME);
    if !(1..=ResourceServer::MAX_TOKEN_LIFETIME).contains(&token_lifetime) {
        return Err(entry.error("token_lifetime", "must be between 1 and 2592000"));
    }
    Ok(ResourceServer {
        name,
        identifier,
        scopes,
        allow_offline_access: entry.get("allow_offline_access")?.unwrap_or(false),
        token_lifetime,
        signing_alg: signing_alg(entry, "signing_alg")?,
        skip_consent_for_verifiable_first_party_clients: entry
            .get("skip_consent_for_verifiable_first_party_clients")?
            .unwrap_or(true),
    })
}

fn user(entry: &Entry<'_>) -> Result<UserSpec, TenantError> {
    let email = non_empty(entry, "email")?;
    if !User::is_valid_email(&email) {
        return Err(entry.error("email", "is not a valid email address"));
    }
    let password = match (
        entry.get::<String>("password")?,
        entry.get::<String>("password_hash")?,
    ) {
        (Some(_), Some(_)) => {
            return Err(entry.error(
                "password",
                "give either password or password_hash, not both",
            ));
        }
        (Some(p), None) if p.chars().count() < 8 => {
            return Err(entry.error("password", "must be at least 8 characters"));
        }
        (Some(p), None) => Some(PasswordSpec::Plain(p)),
        (None, Some(h)) if h.starts_with("$argon2id$") || h.starts_with("$argon2i$") => {
            Some(PasswordSpec::Hash(h))
        }
        (None, Some(_)) => {
            return Err(entry.error(
                "password_hash",
                "must be an Argon2 PHC string ($argon2id$...)",
            ));
        }
        (None, None) => None,
    };
    let user_id: Option<String> = entry.get("user_id")?;
    let user_id = match user_id {
        None => None,
        Some(raw) => {
            let id = User::id_from_sub(&raw).unwrap_or(&raw).to_owned();
            if id.is_empty()
                || id.len() > 128
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(entry.error(
                    "user_id",
                    "must be 1 to 128 characters of [A-Za-z0-9_-], optionally prefixed with auth0|",
                ));
            }
            Some(id)
        }
    };
    Ok(UserSpec {
        email,
        user_id,
        password,
        email_verified: entry.get("email_verified")?.unwrap_or(false),
        name: entry.get("name")?,
        given_name: entry.get("given_name")?,
        family_name: entry.get("family_name")?,
        nickname: entry.get("nickname")?,
        picture: entry.get("picture")?,
        blocked: entry.get("blocked")?.unwrap_or(false),
        address: match entry.get::<serde_json::Map<String, serde_json::Value>>("address")? {
            None => None,
            Some(a) => {
                crate::user::check_address(&a).map_err(|e| entry.error("address", &e))?;
                Some(a)
            }
        },
        phone_number: entry.get("phone_number")?,
        phone_number_verified: entry.get("phone_number_verified")?.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
clients:
  - name: Web
    app_type: regular_web
    callbacks: [https://app.example/callback]
    jwt_configuration: { lifetime_in_seconds: 3600, alg: RS256 }
    logo_uri: https://x.example/logo.png
resourceServers:
  - name: API
    identifier: https://api.example
    scopes: [{ value: "read:x", description: Read X }]
users:
  - email: a@b.example
    password: correct horse
rules: []
"#;

    #[test]
    fn parses_a_good_file_with_warnings_for_unsupported_fields() {
        let f = parse(GOOD);
        let f = f.as_ref().map_err(|e| e.0.clone());
        assert!(f.is_ok(), "{f:?}");
        let Ok(f) = f else { return };
        assert_eq!(f.clients.len(), 1);
        assert_eq!(f.clients[0].jwt_configuration.lifetime_in_seconds, 3600);
        assert_eq!(f.resource_servers[0].scopes[0].value, "read:x");
        assert!(f.warnings.iter().any(|w| w.contains("logo_uri")));
        assert!(f.warnings.iter().any(|w| w.starts_with("rules")));
    }

    #[test]
    fn a_nul_character_anywhere_is_refused() {
        for text in [
            "clients: [{name: \"a\\0b\"}]\n",
            "users: [{email: a@example.com, name: \"x\\0\"}]\n",
            "\"k\\0\": 1\n",
        ] {
            let e = parse(text).map(|_| ()).map_err(|e| e.to_string());
            assert!(matches!(&e, Err(m) if m.contains("NUL")), "{text}: {e:?}");
        }
    }

    #[test]
    fn errors_name_the_entry_and_field() {
        let cases = [
            (
                "clients: [{name: W, callbacks: ['https://a.example/cb#x']}]",
                "clients[0] (\"W\").callbacks[0]",
            ),
            (
                "clients: [{name: W, app_type: tv}]",
                "clients[0] (\"W\").app_type",
            ),
            (
                "clients: [{name: W, callbacks: ['http://app.example/cb']}]",
                "clients[0] (\"W\").callbacks[0]: must use https",
            ),
            (
                "clients: [{name: W, client_secret: short}]",
                "clients[0] (\"W\").client_secret",
            ),
            (
                "clients: [{name: W, jwt_configuration: {alg: HS256}}]",
                "jwt_configuration.alg",
            ),
            (
                "resourceServers: [{name: A}]",
                "resourceServers[0] (\"A\").identifier",
            ),
            (
                "resourceServers: [{name: A, identifier: x, token_lifetime: 0}]",
                "token_lifetime",
            ),
            ("users: [{email: nope}]", "users[0] (\"nope\").email"),
            (
                "users: [{email: a@b.c, address: {street: x}}]",
                "users[0] (\"a@b.c\").address: address.street is not an address member",
            ),
            (
                "users: [{email: a@b.c, address: {country: 1}}]",
                "address.country must be a string",
            ),
            (
                "users: [{email: a@b.c, address: x}]",
                "users[0] (\"a@b.c\").address",
            ),
            (
                "users: [{email: a@b.c, password: x}]",
                "users[0] (\"a@b.c\").password",
            ),
            (
                "clients: [{name: W}, {name: W}]",
                "clients: two entries share the name",
            ),
            ("clients: {name: W}", "clients: must be a list"),
            (
                "clients: [{name: W, refresh_token: {rotation_type: sometimes}}]",
                "refresh_token.rotation_type",
            ),
            (
                "clients: [{name: W, refresh_token: {leeway: 600}}]",
                "refresh_token: leeway",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).err().map(|e| e.0).unwrap_or_default();
            assert!(err.contains(expected), "{text}: got {err:?}");
        }
    }
}
