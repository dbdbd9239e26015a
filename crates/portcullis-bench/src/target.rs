//! The target description: which provider to drive, with which client and user. Read from a
//! small TOML file (`--target`); every field a scenario needs is checked before any worker
//! starts, so a missing `password` is one clear message rather than a run full of errors.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;

/// How the client authenticates at the token endpoint (OIDC Core §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuth {
    /// HTTP Basic with the form-urlencoded id and secret (RFC 6749 §2.3.1).
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the request body.
    ClientSecretPost,
}

/// The target file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The issuer; discovery is at `{issuer}.well-known/openid-configuration` (a `/` is
    /// inserted when the issuer does not end with one).
    pub issuer: url::Url,
    /// The client of the login scenarios.
    pub client_id: Option<String>,
    /// Its secret.
    pub client_secret: Option<String>,
    /// How it authenticates at the token endpoint.
    #[serde(default)]
    pub token_auth: TokenAuth,
    /// A registered callback. Nothing needs to listen there: the walk stops at the redirect.
    pub redirect_uri: Option<String>,
    /// The user who logs in.
    pub username: Option<String>,
    /// Their password.
    pub password: Option<String>,
    /// Sent as `audience` (Auth0) when present.
    pub audience: Option<String>,
    /// Sent as `resource` (RFC 8707) when present.
    pub resource: Option<String>,
    /// The scope of the login scenarios. Default `openid`.
    pub scope: Option<String>,
    /// The scope used to obtain a refresh token. Default: `scope` plus `offline_access`.
    pub refresh_scope: Option<String>,
    /// Extra query parameters for the authorization request, e.g. `{ prompt = "consent" }`.
    #[serde(default)]
    pub extra_authorize_params: BTreeMap<String, String>,
    /// The client of the client-credentials scenario. Default: `client_id`.
    pub cc_client_id: Option<String>,
    /// Its secret. Default: `client_secret`.
    pub cc_client_secret: Option<String>,
    /// Its `audience`. Default: `audience`.
    pub cc_audience: Option<String>,
}

/// A client's credentials and how it presents them.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    /// `client_id`.
    pub id: String,
    /// `client_secret`.
    pub secret: String,
    /// Basic or post.
    pub auth: TokenAuth,
}

/// What the login scenarios need, all present.
#[derive(Debug, Clone)]
pub struct Login {
    /// The client that asks for the code and exchanges it.
    pub client: ClientCredentials,
    /// The callback the walk stops at.
    pub redirect_uri: String,
    /// The user's login.
    pub username: String,
    /// The user's password.
    pub password: String,
}

impl Target {
    /// Reads and parses a target file.
    pub fn load(path: &Path) -> anyhow::Result<Target> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the target file {}", path.display()))?;
        Target::parse(&text).with_context(|| format!("in the target file {}", path.display()))
    }

    /// Parses a target file's text.
    pub fn parse(text: &str) -> anyhow::Result<Target> {
        let target: Target = toml::from_str(text)?;
        if !matches!(target.issuer.scheme(), "http" | "https") {
            bail!("issuer must be an http(s) URL");
        }
        Ok(target)
    }

    /// The discovery document's URL (OIDC Discovery §4).
    pub fn discovery_url(&self) -> anyhow::Result<url::Url> {
        let issuer = self.issuer.as_str();
        let slash = if issuer.ends_with('/') { "" } else { "/" };
        Ok(url::Url::parse(&format!(
            "{issuer}{slash}.well-known/openid-configuration"
        ))?)
    }

    /// The scope of the login scenarios.
    pub fn scope(&self) -> String {
        self.scope.clone().unwrap_or_else(|| "openid".to_owned())
    }

    /// The scope that obtains a refresh token.
    pub fn refresh_scope(&self) -> String {
        if let Some(scope) = &self.refresh_scope {
            return scope.clone();
        }
        let scope = self.scope();
        if scope.split(' ').any(|s| s == "offline_access") {
            scope
        } else {
            format!("{scope} offline_access")
        }
    }

    /// The login scenarios' settings, or a message naming the first missing field.
    pub fn login(&self) -> anyhow::Result<Login> {
        Ok(Login {
            client: ClientCredentials {
                id: need(&self.client_id, "client_id")?,
                secret: need(&self.client_secret, "client_secret")?,
                auth: self.token_auth,
            },
            redirect_uri: need(&self.redirect_uri, "redirect_uri")?,
            username: need(&self.username, "username")?,
            password: need(&self.password, "password")?,
        })
    }

    /// The client-credentials scenario's client and audience.
    pub fn client_credentials(&self) -> anyhow::Result<(ClientCredentials, Option<String>)> {
        let id = self.cc_client_id.clone().or_else(|| self.client_id.clone());
        let secret = self
            .cc_client_secret
            .clone()
            .or_else(|| self.client_secret.clone());
        let client = ClientCredentials {
            id: need(&id, "cc_client_id (or client_id)")?,
            secret: need(&secret, "cc_client_secret (or client_secret)")?,
            auth: self.token_auth,
        };
        Ok((
            client,
            self.cc_audience.clone().or_else(|| self.audience.clone()),
        ))
    }
}

fn need(value: &Option<String>, field: &str) -> anyhow::Result<String> {
    match value {
        Some(v) if !v.is_empty() => Ok(v.clone()),
        _ => bail!("the target file has no `{field}`, which this scenario needs"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
issuer = "http://127.0.0.1:8080/"
client_id = "app"
client_secret = "secret"
token_auth = "client_secret_post"
redirect_uri = "http://127.0.0.1:8976/callback"
username = "alice@example.com"
password = "pw"
audience = "https://api.example/"
scope = "openid profile"
extra_authorize_params = { prompt = "consent" }
cc_client_id = "m2m"
"#;

    #[test]
    fn a_full_target_file_parses_with_its_defaults() {
        let t = Target::parse(FULL).unwrap();
        assert_eq!(t.token_auth, TokenAuth::ClientSecretPost);
        assert_eq!(t.refresh_scope(), "openid profile offline_access");
        assert_eq!(t.extra_authorize_params["prompt"], "consent");
        let (cc, audience) = t.client_credentials().unwrap();
        assert_eq!((cc.id.as_str(), cc.secret.as_str()), ("m2m", "secret"));
        assert_eq!(audience.as_deref(), Some("https://api.example/"));
        assert_eq!(
            t.discovery_url().unwrap().as_str(),
            "http://127.0.0.1:8080/.well-known/openid-configuration"
        );
    }

    #[test]
    fn an_issuer_without_a_trailing_slash_gets_one_before_well_known() {
        let t = Target::parse("issuer = \"http://localhost:3000\"").unwrap();
        assert_eq!(
            t.discovery_url().unwrap().as_str(),
            "http://localhost:3000/.well-known/openid-configuration"
        );
        assert_eq!(t.token_auth, TokenAuth::ClientSecretBasic);
        assert_eq!(t.refresh_scope(), "openid offline_access");
    }

    #[test]
    fn a_missing_field_is_named_and_unknown_fields_are_refused() {
        let t = Target::parse("issuer = \"http://localhost:3000/\"\nclient_id = \"a\"").unwrap();
        let e = t.login().unwrap_err().to_string();
        assert!(e.contains("client_secret"), "{e}");
        let e = Target::parse("issuer = \"http://x/\"\nusername_typo = \"a\"").unwrap_err();
        assert!(format!("{e:#}").contains("username_typo"), "{e:#}");
    }
}
