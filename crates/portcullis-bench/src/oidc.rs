//! The relying party's side of the protocol, as pure functions: the provider's endpoints
//! from discovery, PKCE, the callback's parameters and the checks on token responses.
//! Nothing here sends a request; `agent` does.

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::form::FormReader;
use crate::target::{Login, Target};

/// What the discovery document says (OIDC Discovery §3), the fields used here.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    /// The authorization endpoint.
    pub authorization_endpoint: url::Url,
    /// The token endpoint.
    pub token_endpoint: url::Url,
    /// The UserInfo endpoint, if the provider has one.
    pub userinfo_endpoint: Option<url::Url>,
    /// The JWK Set document.
    pub jwks_uri: url::Url,
}

/// Everything a worker needs to know about the provider, shared by all workers.
#[derive(Debug)]
pub struct Provider {
    /// The target file.
    pub target: Target,
    /// The endpoints.
    pub discovery: Discovery,
    /// The origins a walk may follow redirects to: the issuer's and the endpoints'.
    pub origins: Vec<url::Origin>,
    /// The HTML form reader.
    pub forms: FormReader,
}

impl Provider {
    /// Puts a target and its discovery document together.
    pub fn new(target: Target, discovery: Discovery) -> anyhow::Result<Provider> {
        let mut origins = Vec::new();
        for url in [
            &target.issuer,
            &discovery.authorization_endpoint,
            &discovery.token_endpoint,
        ] {
            if !origins.contains(&url.origin()) {
                origins.push(url.origin());
            }
        }
        Ok(Provider {
            target,
            discovery,
            origins,
            forms: FormReader::new()?,
        })
    }
}

/// 32 random bytes, base64url without padding: 43 characters, enough for a PKCE code
/// verifier (RFC 7636 §4.1), a `state` or a `nonce`.
pub fn random_token(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 code challenge of a verifier (RFC 7636 §4.2).
pub fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// `Authorization: Basic` for a client (RFC 6749 §2.3.1: id and secret form-urlencoded first).
pub fn basic_authorization(client_id: &str, client_secret: &str) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(client_id), encode(client_secret));
    format!("Basic {}", STANDARD.encode(pair))
}

/// What one authorization request sent, to check the answer against.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    /// The URL to open.
    pub url: url::Url,
    /// `state`.
    pub state: String,
    /// `nonce`.
    pub nonce: String,
    /// The PKCE code verifier.
    pub code_verifier: String,
}

/// Which audience an authorization request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The target's `audience` and `resource`, when present.
    Target,
    /// Neither: an access token for the UserInfo endpoint only.
    UserInfo,
}

/// Builds an authorization request (response_type=code, PKCE S256, state, nonce).
pub fn authorization_request(
    provider: &Provider,
    login: &Login,
    scope: &str,
    audience: Audience,
    rng: &mut impl RngCore,
) -> AuthorizationRequest {
    let state = random_token(rng);
    let nonce = random_token(rng);
    let code_verifier = random_token(rng);
    let target = &provider.target;
    let mut url = provider.discovery.authorization_endpoint.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &login.client.id)
            .append_pair("redirect_uri", &login.redirect_uri)
            .append_pair("scope", scope)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &code_challenge(&code_verifier))
            .append_pair("code_challenge_method", "S256");
        if audience == Audience::Target {
            if let Some(a) = &target.audience {
                q.append_pair("audience", a);
            }
            if let Some(r) = &target.resource {
                q.append_pair("resource", r);
            }
        }
        for (k, v) in &target.extra_authorize_params {
            q.append_pair(k, v);
        }
    }
    AuthorizationRequest {
        url,
        state,
        nonce,
        code_verifier,
    }
}

/// Whether a redirect goes to the client's callback: its URL starts with `redirect_uri`,
/// followed by nothing, a query or a fragment.
pub fn is_callback(location: &url::Url, redirect_uri: &str) -> bool {
    let at_boundary = |rest: &str| rest.is_empty() || rest.starts_with(['?', '#', '&']);
    let raw = location.as_str();
    if raw.strip_prefix(redirect_uri).is_some_and(at_boundary) {
        return true;
    }
    // `http://host:1` is serialized `http://host:1/`: compare the normalized forms too.
    url::Url::parse(redirect_uri)
        .ok()
        .and_then(|r| raw.strip_prefix(r.as_str()).map(at_boundary))
        .unwrap_or(false)
}

/// The authorization code from a callback URL, after the checks of RFC 6749 §4.1.2: no
/// `error`, the `state` sent, a `code`. Parameters are read from the query, or from the
/// fragment when the query has none.
pub fn code_from_callback(callback: &url::Url, state: &str) -> anyhow::Result<String> {
    let mut params: Vec<(String, String)> = callback.query_pairs().into_owned().collect();
    if params.is_empty()
        && let Some(fragment) = callback.fragment()
    {
        params = url::form_urlencoded::parse(fragment.as_bytes())
            .into_owned()
            .collect();
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(error) = get("error") {
        bail!(
            "the callback carries error={error}: {}",
            get("error_description").unwrap_or_default()
        );
    }
    if get("state") != Some(state) {
        bail!("the callback's state is not the one sent");
    }
    match get("code") {
        Some(code) if !code.is_empty() => Ok(code.to_owned()),
        _ => bail!("the callback has no code"),
    }
}

/// A token endpoint's successful response (RFC 6749 §5.1), the fields checked.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: Option<String>,
    /// The ID token (OIDC Core §3.1.3.3).
    pub id_token: Option<String>,
    /// A refresh token, if one was issued.
    pub refresh_token: Option<String>,
}

impl TokenResponse {
    /// The access token, or an error saying it is missing.
    pub fn access_token(&self) -> anyhow::Result<&str> {
        match self.access_token.as_deref() {
            Some(t) if !t.is_empty() => Ok(t),
            _ => bail!("the token response has no access_token"),
        }
    }

    /// The checks on a code exchange: an access token and an ID token whose `nonce` is the
    /// one sent (OIDC Core §3.1.3.7, rule 11). The signature is not verified: this is a
    /// load generator, not a relying party library.
    pub fn check_code_exchange(&self, nonce: &str) -> anyhow::Result<()> {
        self.access_token()?;
        let id_token = self
            .id_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .context("the token response has no id_token")?;
        let payload = id_token
            .split('.')
            .nth(1)
            .context("the id_token is not a JWS")?;
        let claims: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(payload)
                .context("the id_token's payload is not base64url")?,
        )
        .context("the id_token's payload is not JSON")?;
        if claims.get("nonce").and_then(|n| n.as_str()) != Some(nonce) {
            bail!("the id_token's nonce is not the one sent");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_s256_challenge_is_rfc_7636_appendix_b() {
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let token = random_token(&mut rand::thread_rng());
        assert_eq!(token.len(), 43);
    }

    #[test]
    fn basic_credentials_are_form_urlencoded_before_base64() {
        // "a b:c" / "p&q" → "a+b%3Ac:p%26q"
        assert_eq!(
            basic_authorization("a b:c", "p&q"),
            format!("Basic {}", STANDARD.encode("a+b%3Ac:p%26q"))
        );
    }

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn a_callback_is_the_redirect_uri_followed_by_a_query_or_fragment() {
        let cb = "http://127.0.0.1:8976/callback";
        assert!(is_callback(
            &url("http://127.0.0.1:8976/callback?code=1"),
            cb
        ));
        assert!(is_callback(
            &url("http://127.0.0.1:8976/callback#code=1"),
            cb
        ));
        assert!(!is_callback(
            &url("http://127.0.0.1:8976/callbacks?code=1"),
            cb
        ));
        assert!(!is_callback(&url("http://127.0.0.1:8080/u/login"), cb));
        assert!(is_callback(
            &url("http://127.0.0.1:8976/?code=1"),
            "http://127.0.0.1:8976"
        ));
    }

    #[test]
    fn the_callback_must_carry_the_state_sent_and_a_code_and_no_error() {
        let code = code_from_callback(&url("http://c/cb?code=abc&state=s1&iss=x"), "s1");
        assert_eq!(code.unwrap(), "abc");
        let code = code_from_callback(&url("http://c/cb#state=s1&code=f"), "s1");
        assert_eq!(code.unwrap(), "f");
        let e = code_from_callback(&url("http://c/cb?code=abc&state=s2"), "s1").unwrap_err();
        assert!(e.to_string().contains("state"), "{e}");
        let e = code_from_callback(&url("http://c/cb?state=s1"), "s1").unwrap_err();
        assert!(e.to_string().contains("no code"), "{e}");
        let e = code_from_callback(
            &url("http://c/cb?error=access_denied&error_description=no&state=s1"),
            "s1",
        )
        .unwrap_err();
        assert!(e.to_string().contains("access_denied"), "{e}");
    }

    fn jwt(claims: &str) -> String {
        format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(claims))
    }

    #[test]
    fn a_code_exchange_needs_both_tokens_and_the_nonce_sent() {
        let ok = TokenResponse {
            access_token: Some("at".into()),
            id_token: Some(jwt(r#"{"sub":"u","nonce":"n1"}"#)),
            refresh_token: None,
        };
        ok.check_code_exchange("n1").unwrap();
        let e = ok.check_code_exchange("n2").unwrap_err();
        assert!(e.to_string().contains("nonce"), "{e}");
        let no_id = TokenResponse {
            id_token: None,
            ..ok.clone()
        };
        assert!(no_id.check_code_exchange("n1").is_err());
        let no_access = TokenResponse {
            access_token: Some(String::new()),
            ..ok
        };
        assert!(no_access.check_code_exchange("n1").is_err());
    }
}
