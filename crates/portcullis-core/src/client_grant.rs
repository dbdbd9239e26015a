//! Client grants (Auth0 `clientGrants`): which APIs a machine-to-machine client may get
//! access tokens for, with which scopes (RFC 6749 §4.4, client credentials).

use crate::proto::{OAuthError, OAuthErrorCode};
use crate::resource_server::ResourceServer;
use crate::scope::Scope;

/// Permission for a client to use `client_credentials` for an API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientGrant {
    /// Stable id (`cgr_…`).
    pub id: String,
    /// The client.
    pub client_id: String,
    /// The API identifier.
    pub audience: String,
    /// The scopes the client may receive.
    pub scope: Scope,
}

/// The scope of a client-credentials token: what was requested (all of the grant when
/// nothing was), limited to what the API still defines. Asking beyond the grant is
/// `invalid_scope`.
pub fn token_scope(
    requested: Option<&Scope>,
    grant: &ClientGrant,
    api: &ResourceServer,
) -> Result<Scope, OAuthError> {
    let wanted = match requested {
        Some(r) if !r.is_subset_of(&grant.scope) => {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidScope,
                "The requested scope is not granted to this client for this API",
            ));
        }
        Some(r) => r.clone(),
        None => grant.scope.clone(),
    };
    Ok(wanted.filter(|s| api.scope(s).is_some()))
}

/// The `sub` of a client-credentials token (Auth0's shape).
pub fn subject(client_id: &str) -> String {
    format!("{client_id}@clients")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::SigningAlg;
    use crate::resource_server::ApiScope;

    #[test]
    fn scope_is_the_grant_or_a_subset_and_only_what_the_api_defines() {
        let api = ResourceServer {
            identifier: "a".into(),
            name: "A".into(),
            scopes: vec![ApiScope {
                value: "read".into(),
                description: String::new(),
            }],
            allow_offline_access: false,
            token_lifetime: 60,
            signing_alg: SigningAlg::RS256,
            skip_consent_for_verifiable_first_party_clients: true,
        };
        let grant = ClientGrant {
            id: "g".into(),
            client_id: "c".into(),
            audience: "a".into(),
            scope: Scope::parse("read gone").unwrap_or_default(),
        };
        assert_eq!(
            token_scope(None, &grant, &api).map(|s| s.to_string()),
            Ok("read".into())
        );
        let read = Scope::parse("read").unwrap_or_default();
        assert_eq!(
            token_scope(Some(&read), &grant, &api).map(|s| s.to_string()),
            Ok("read".into())
        );
        let more = Scope::parse("read write").unwrap_or_default();
        assert_eq!(
            token_scope(Some(&more), &grant, &api).map_err(|e| e.error),
            Err(OAuthErrorCode::InvalidScope)
        );
    }
}
