//! Claims of the tokens the server mints and of the UserInfo response
//! (OIDC Core §2, §5.1, §5.4; Auth0's access-token profile; DESIGN §2 "Tokens").

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::scope::{OPENID, Scope};
use crate::user::User;

/// The `{issuer}userinfo` audience Auth0 adds to access tokens when `openid` was granted.
pub fn userinfo_audience(issuer: &str) -> String {
    format!("{issuer}userinfo")
}

/// Inputs for an access token.
#[derive(Debug, Clone)]
pub struct AccessTokenClaims<'a> {
    /// Issuer, with trailing slash.
    pub issuer: &'a str,
    /// Subject.
    pub sub: &'a str,
    /// The API identifier, when `audience` was requested.
    pub audience: Option<&'a str>,
    /// The client (`azp`).
    pub client_id: &'a str,
    /// Granted scope.
    pub scope: &'a Scope,
    /// Issued at.
    pub iat: OffsetDateTime,
    /// Lifetime in seconds.
    pub lifetime: i64,
    /// Unique token id.
    pub jti: &'a str,
    /// Auth0 `gty` (grant type), for grants other than the authorization code.
    pub gty: Option<&'a str>,
}

impl AccessTokenClaims<'_> {
    /// The claim set. `aud` is the API identifier, plus `{issuer}userinfo` when `openid`
    /// was granted; a single audience is a string, several an array (Auth0's shape).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut aud: Vec<String> = self.audience.map(str::to_owned).into_iter().collect();
        if (self.scope.contains(OPENID) || aud.is_empty()) && self.gty != Some("client-credentials")
        {
            aud.push(userinfo_audience(self.issuer));
        }
        let aud = match aud.as_slice() {
            [one] => json!(one),
            _ => json!(aud),
        };
        let mut m = Map::new();
        m.insert("iss".into(), json!(self.issuer));
        m.insert("sub".into(), json!(self.sub));
        m.insert("aud".into(), aud);
        m.insert("iat".into(), json!(self.iat.unix_timestamp()));
        m.insert(
            "exp".into(),
            json!(self.iat.unix_timestamp() + self.lifetime),
        );
        m.insert("scope".into(), json!(self.scope.to_string()));
        m.insert("jti".into(), json!(self.jti));
        m.insert("azp".into(), json!(self.client_id));
        if let Some(gty) = self.gty {
            m.insert("gty".into(), json!(gty));
        }
        m
    }
}

/// Inputs for an ID token.
#[derive(Debug, Clone)]
pub struct IdTokenClaims<'a> {
    /// Issuer, with trailing slash.
    pub issuer: &'a str,
    /// The user.
    pub user: &'a User,
    /// The client: `aud` and `azp`.
    pub client_id: &'a str,
    /// Granted scope: decides the profile claims.
    pub scope: &'a Scope,
    /// The request's nonce, echoed exactly.
    pub nonce: Option<&'a str>,
    /// When the user authenticated.
    pub auth_time: OffsetDateTime,
    /// SSO session id.
    pub sid: &'a str,
    /// The access token issued alongside (for `at_hash`).
    pub access_token: &'a str,
    /// Issued at.
    pub iat: OffsetDateTime,
    /// Lifetime in seconds.
    pub lifetime: i64,
}

impl IdTokenClaims<'_> {
    /// The claim set (OIDC Core §2, §3.1.3.6).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("iss".into(), json!(self.issuer));
        m.insert("sub".into(), json!(self.user.sub()));
        m.insert("aud".into(), json!(self.client_id));
        m.insert("azp".into(), json!(self.client_id));
        m.insert("iat".into(), json!(self.iat.unix_timestamp()));
        m.insert(
            "exp".into(),
            json!(self.iat.unix_timestamp() + self.lifetime),
        );
        m.insert("auth_time".into(), json!(self.auth_time.unix_timestamp()));
        m.insert("sid".into(), json!(self.sid));
        m.insert("at_hash".into(), json!(at_hash(self.access_token)));
        if let Some(nonce) = self.nonce {
            m.insert("nonce".into(), json!(nonce));
        }
        m.extend(profile_claims(self.user, self.scope));
        m
    }
}

/// OIDC Core §3.1.3.6 `at_hash` for RS256: base64url of the left half of SHA-256.
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// The claims of `user` that `scope` releases (OIDC Core §5.4). Absent values are
/// omitted, never null (§5.3.2).
pub fn profile_claims(user: &User, scope: &Scope) -> Map<String, Value> {
    let mut m = Map::new();
    if scope.contains("profile") {
        let fields = [
            ("name", &user.name),
            ("given_name", &user.given_name),
            ("family_name", &user.family_name),
            ("nickname", &user.nickname),
            ("picture", &user.picture),
        ];
        for (name, value) in fields {
            if let Some(v) = value {
                m.insert(name.into(), json!(v));
            }
        }
        m.insert("updated_at".into(), json!(user.updated_at.unix_timestamp()));
    }
    if scope.contains("email") {
        m.insert("email".into(), json!(user.email));
        m.insert("email_verified".into(), json!(user.email_verified));
    }
    if scope.contains("address")
        && let Some(address) = &user.address
    {
        m.insert("address".into(), json!(address));
    }
    if scope.contains("phone")
        && let Some(phone) = &user.phone_number
    {
        m.insert("phone_number".into(), json!(phone));
        m.insert(
            "phone_number_verified".into(),
            json!(user.phone_number_verified),
        );
    }
    m
}

/// The UserInfo response (OIDC Core §5.3.2): `sub` plus the claims the scope releases.
pub fn userinfo(user: &User, scope: &Scope) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("sub".into(), json!(user.sub()));
    m.extend(profile_claims(user, scope));
    m
}

/// The claim names the server can release (discovery `claims_supported`).
pub const SUPPORTED: [&str; 21] = [
    "address",
    "phone_number",
    "phone_number_verified",
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "azp",
    "at_hash",
    "sid",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "picture",
    "updated_at",
    "email",
    "email_verified",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_oidc_example() {
        // OIDC Core A.3 example access token and at_hash.
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn access_token_audience_shapes() {
        let scope = Scope::parse("openid read").unwrap_or_default();
        let base = AccessTokenClaims {
            issuer: "https://i.example/",
            sub: "auth0|1",
            audience: Some("https://api.example"),
            client_id: "c",
            scope: &scope,
            iat: OffsetDateTime::UNIX_EPOCH,
            lifetime: 10,
            jti: "j",
            gty: None,
        };
        assert_eq!(
            base.to_json()["aud"],
            json!(["https://api.example", "https://i.example/userinfo"])
        );
        let no_openid = Scope::parse("read").unwrap_or_default();
        let api_only = AccessTokenClaims {
            scope: &no_openid,
            ..base.clone()
        };
        assert_eq!(api_only.to_json()["aud"], json!("https://api.example"));
        let userinfo_only = AccessTokenClaims {
            audience: None,
            ..base
        };
        assert_eq!(
            userinfo_only.to_json()["aud"],
            json!("https://i.example/userinfo")
        );
    }
}
