//! Consent: which scopes a request can be granted, and when a client may skip asking
//! (Auth0: first-party applications, where the API allows it and the redirect URI is
//! verifiable — not localhost; third-party applications always ask).

use crate::client::Client;
use crate::redirect_uri::RedirectUri;
use crate::resource_server::ResourceServer;
use crate::scope::{self, Scope};

/// The OIDC scopes, with what they mean to a user on the consent page.
pub const OIDC_SCOPE_DESCRIPTIONS: [(&str, &str); 6] = [
    ("openid", "Sign you in and know who you are"),
    ("profile", "Read your name and profile picture"),
    ("email", "Read your email address"),
    ("address", "Read your postal address"),
    ("phone", "Read your phone number"),
    (
        "offline_access",
        "Stay signed in and access your data while you are away",
    ),
];

/// The part of `requested` that can be granted: the OIDC scopes (`offline_access` only
/// when the API allows offline access) and the permissions the API defines. Anything
/// else is dropped silently, as Auth0 does.
pub fn granted_scope(requested: &Scope, api: Option<&ResourceServer>) -> Scope {
    requested.filter(|s| {
        if s == scope::OFFLINE_ACCESS {
            return api.is_some_and(|a| a.allow_offline_access);
        }
        scope::OIDC_SCOPES.contains(&s) || api.is_some_and(|a| a.scope(s).is_some())
    })
}

/// Whether consent may be skipped for this client, API and redirect URI.
pub fn may_skip(client: &Client, api: Option<&ResourceServer>, redirect_uri: &RedirectUri) -> bool {
    client.is_first_party
        && !redirect_uri.is_localhost()
        && api.is_none_or(|a| a.skip_consent_for_verifiable_first_party_clients)
}

/// A scope with the text the consent page shows for it.
pub fn describe<'a>(scope: &'a str, api: Option<&'a ResourceServer>) -> &'a str {
    OIDC_SCOPE_DESCRIPTIONS
        .iter()
        .find(|(name, _)| *name == scope)
        .map(|(_, d)| *d)
        .or_else(|| {
            api.and_then(|a| a.scope(scope))
                .map(|s| s.description.as_str())
        })
        .filter(|d| !d.is_empty())
        .unwrap_or(scope)
}
