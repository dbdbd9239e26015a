//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1) and what to do next.
//!
//! Validation is two-staged because of RFC 6749 §4.1.2.1: until the client and its
//! redirect URI are trusted, errors are shown to the user and never redirected
//! ([`AuthorizeError::Page`]); afterwards they go back to the client
//! ([`AuthorizeError::Redirect`]). The type makes the wrong choice impossible.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::client::{Client, grant_type};
use crate::consent;
use crate::params::Params;
use crate::pkce::CodeChallenge;
use crate::proto::{OAuthError, OAuthErrorCode};
use crate::redirect_uri::RedirectUri;
use crate::resource_server::ResourceServer;
use crate::scope::Scope;
use crate::session::Session;

/// How the authorization response reaches the client (OAuth 2.0 Multiple Response Types,
/// OAuth 2.0 Form Post Response Mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// Parameters in the redirect URI's query (the default for `code`).
    Query,
    /// An auto-submitting HTML form POSTed to the redirect URI.
    FormPost,
}

/// Where and how an authorization response is delivered, once the redirect URI is trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectTarget {
    /// The trusted redirect URI, exactly as requested.
    pub redirect_uri: RedirectUri,
    /// Query or form post.
    pub response_mode: ResponseMode,
    /// The client's `state`, echoed byte for byte.
    pub state: Option<String>,
}

/// An authorization error, typed by whether it may be redirected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Found before the client and redirect URI were trusted: render, never redirect.
    Page(OAuthError),
    /// Found afterwards: send back to the client.
    Redirect(RedirectTarget, OAuthError),
}

/// `prompt` values (OIDC Core §3.1.2.1), as a set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// No UI may be shown.
    pub none: bool,
    /// Re-authenticate even with a session.
    pub login: bool,
    /// Ask for consent even if remembered.
    pub consent: bool,
    /// Account chooser (treated as a request to show the login page).
    pub select_account: bool,
}

impl Prompt {
    fn parse(raw: Option<&str>) -> Result<Self, &'static str> {
        let mut p = Prompt::default();
        for value in raw.unwrap_or_default().split(' ').filter(|v| !v.is_empty()) {
            match value {
                "none" => p.none = true,
                "login" => p.login = true,
                "consent" => p.consent = true,
                "select_account" => p.select_account = true,
                _ => return Err("Unsupported prompt value"),
            }
        }
        if p.none && (p.login || p.consent || p.select_account) {
            return Err("prompt=none must not be combined with other values");
        }
        Ok(p)
    }
}

/// A validated authorization request: everything later steps need, nothing raw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The requesting client.
    pub client_id: String,
    /// Where to respond.
    pub target: RedirectTarget,
    /// Whether `redirect_uri` was in the request (RFC 6749 §4.1.3: then the token
    /// request must repeat it).
    pub redirect_uri_sent: bool,
    /// Requested scope.
    pub scope: Scope,
    /// Requested API (`audience`, or RFC 8707 `resource`).
    pub audience: Option<String>,
    /// OIDC `nonce`, copied into the ID token.
    pub nonce: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<CodeChallenge>,
    /// `prompt` values.
    pub prompt: Prompt,
    /// `max_age` in seconds.
    pub max_age: Option<i64>,
    /// `login_hint`: prefills the login form.
    pub login_hint: Option<String>,
    /// The `sub` of a verified `id_token_hint`: only that user's session counts.
    #[serde(default)]
    pub hinted_sub: Option<String>,
}

/// Stage 1: decides whether the client and redirect URI can be trusted.
///
/// `client` is the client named by `client_id`, looked up by the caller. Every error
/// here is a [`AuthorizeError::Page`] error.
pub fn trust(params: &Params, client: Option<&Client>) -> Result<RedirectTarget, OAuthError> {
    let page = |msg: &str| OAuthError::new(OAuthErrorCode::InvalidRequest, msg);
    for name in ["client_id", "redirect_uri"] {
        if params.is_repeated(name) {
            return Err(page(&format!(
                "Parameter {name} must not be provided more than once"
            )));
        }
    }
    if params.get("client_id").is_none() {
        return Err(page("Missing required parameter: client_id"));
    }
    let Some(client) = client else {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidRequest,
            "Unknown client",
        ));
    };
    let redirect_uri = match params.get("redirect_uri") {
        Some(requested) => client.find_callback(requested).map(|_| requested),
        // RFC 6749 §3.1.2.3: may be omitted when exactly one URI is registered.
        None if client.callbacks.len() == 1 => client.callbacks.first().map(RedirectUri::as_str),
        None => return Err(page("Missing required parameter: redirect_uri")),
    };
    let Some(redirect_uri) = redirect_uri.and_then(|r| RedirectUri::parse(r).ok()) else {
        return Err(page(
            "Callback URL mismatch. The provided redirect_uri is not in the list of allowed callback URLs.",
        ));
    };
    let response_mode = match params.get("response_mode") {
        Some("form_post") => ResponseMode::FormPost,
        _ => ResponseMode::Query,
    };
    Ok(RedirectTarget {
        redirect_uri,
        response_mode,
        state: params.get("state").map(str::to_owned),
    })
}

/// Stage 2: validates the rest of the request. Every error goes back to the client.
///
/// `api` is the resource server named by `audience` (or `resource`), if any, looked up
/// by the caller.
pub fn validate(
    params: &Params,
    client: &Client,
    target: RedirectTarget,
    api: Option<&ResourceServer>,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let fail =
        |code, msg: &str| AuthorizeError::Redirect(target.clone(), OAuthError::new(code, msg));
    use OAuthErrorCode::*;
    if let Some(name) = params.first_repeated() {
        return Err(fail(
            InvalidRequest,
            &format!("Parameter {name} must not be provided more than once"),
        ));
    }
    if params
        .get("response_mode")
        .is_some_and(|m| m != "query" && m != "form_post")
    {
        return Err(fail(InvalidRequest, "Unsupported response_mode"));
    }
    if params.has("request") {
        return Err(fail(
            RequestNotSupported,
            "The request parameter is not supported",
        ));
    }
    if params.has("request_uri") {
        return Err(fail(
            RequestUriNotSupported,
            "The request_uri parameter is not supported",
        ));
    }
    match params.get("response_type") {
        None => {
            return Err(fail(
                InvalidRequest,
                "Missing required parameter: response_type",
            ));
        }
        Some("code") => {}
        Some(other) => {
            return Err(fail(
                UnsupportedResponseType,
                &format!("Unsupported response type: {other}"),
            ));
        }
    }
    if !client.allows_grant(grant_type::AUTHORIZATION_CODE) {
        return Err(fail(
            UnauthorizedClient,
            "Grant type 'authorization_code' not allowed for the client.",
        ));
    }
    let scope = Scope::parse(params.get("scope").unwrap_or_default())
        .map_err(|e| fail(InvalidScope, &e.to_string()))?;
    let audience = params.get("audience").or_else(|| params.get("resource"));
    if let Some(audience) = audience
        && api.is_none_or(|a| a.identifier != audience)
    {
        return Err(fail(
            AccessDenied,
            &format!("Service not found: {audience}"),
        ));
    }
    let code_challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (Some(challenge), method) => Some(
            CodeChallenge::parse(challenge, method)
                .map_err(|e| fail(InvalidRequest, &e.to_string()))?,
        ),
        (None, Some(_)) => {
            return Err(fail(
                InvalidRequest,
                "code_challenge_method given without code_challenge",
            ));
        }
        (None, None) if client.is_public() => {
            return Err(fail(
                InvalidRequest,
                "PKCE is required for public clients: send code_challenge with code_challenge_method=S256",
            ));
        }
        (None, None) => None,
    };
    let prompt = Prompt::parse(params.get("prompt")).map_err(|m| fail(InvalidRequest, m))?;
    let max_age = match params.get("max_age") {
        None => None,
        Some(raw) => Some(
            raw.parse::<u32>()
                .map(i64::from)
                .map_err(|_| fail(InvalidRequest, "max_age must be a non-negative integer"))?,
        ),
    };
    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri_sent: params.has("redirect_uri"),
        scope,
        audience: audience.map(str::to_owned),
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge,
        prompt,
        max_age,
        login_hint: params.get("login_hint").map(str::to_owned),
        hinted_sub: None,
        target,
    })
}

/// What the authorization endpoint does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Show the login page.
    Login,
    /// Show the consent page.
    Consent,
    /// Issue the authorization code.
    IssueCode,
}

/// The facts [`next_step`] decides on.
#[derive(Debug, Clone, Copy)]
pub struct Situation<'a> {
    /// The validated request.
    pub request: &'a AuthorizationRequest,
    /// The client.
    pub client: &'a Client,
    /// The requested API.
    pub api: Option<&'a ResourceServer>,
    /// The browser's SSO session, if active.
    pub session: Option<&'a Session>,
    /// Whether the user authenticated within this login transaction.
    pub authenticated_in_transaction: bool,
    /// Whether the user accepted the consent page within this transaction.
    pub consented_in_transaction: bool,
    /// Scope the user granted this client for this API earlier.
    pub remembered_grant: Option<&'a Scope>,
    /// The current time.
    pub now: OffsetDateTime,
}

/// OIDC Core §3.1.2.3–4 and Auth0's consent rules: login, consent, or a code.
/// With `prompt=none` any needed interaction becomes `login_required` / `consent_required`.
pub fn next_step(s: Situation<'_>) -> Result<Step, OAuthError> {
    let req = s.request;
    // OIDC Core §3.1.2.1: with an id_token_hint, a session of another user does not count.
    let hinted_other_user = |session: &Session| {
        req.hinted_sub
            .as_ref()
            .is_some_and(|sub| *sub != crate::user::subject(&session.user_id))
    };
    let session = s.session.filter(|session| !hinted_other_user(session));
    let login_needed = !s.authenticated_in_transaction
        && match session {
            None => true,
            Some(session) => {
                req.prompt.login
                    || req.prompt.select_account
                    || req.max_age.is_some_and(|max| {
                        (s.now - session.auth_time).whole_seconds() > max || max == 0
                    })
            }
        };
    if login_needed {
        return if req.prompt.none {
            Err(OAuthError::new(
                OAuthErrorCode::LoginRequired,
                "Login required",
            ))
        } else {
            Ok(Step::Login)
        };
    }
    if s.consented_in_transaction {
        return Ok(Step::IssueCode);
    }
    let granted = consent::granted_scope(&req.scope, s.api);
    let consent_needed = req.prompt.consent
        || (!consent::may_skip(s.client, s.api, &req.target.redirect_uri)
            && !s.remembered_grant.is_some_and(|r| granted.is_subset_of(r)));
    if consent_needed {
        return if req.prompt.none {
            Err(OAuthError::new(
                OAuthErrorCode::ConsentRequired,
                "Consent required",
            ))
        } else {
            Ok(Step::Consent)
        };
    }
    Ok(Step::IssueCode)
}

#[cfg(test)]
mod tests;
