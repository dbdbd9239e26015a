//! Administration from the command line: Management API calls made in-process (the same
//! handlers, validation and shapes as over HTTP, with a short-lived token for the
//! bootstrap client holding every scope), and `tenant export`, the inverse of import.

use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use portcullis_core::claims::AccessTokenClaims;
use portcullis_core::client::TokenEndpointAuthMethod;
use portcullis_core::scope::Scope;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::crypto;
use crate::management;
use crate::state::AppState;

/// Calls the Management API in-process; `path` is below `/api/v2/`.
pub async fn call(
    state: &AppState,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<(StatusCode, Value)> {
    let scope: Scope = management::SCOPES
        .iter()
        .map(|(s, _)| (*s).to_owned())
        .collect();
    let audience = management::audience(&state.issuer);
    let sub = portcullis_core::client_grant::subject(management::CLI_CLIENT_ID);
    let jti = crypto::random_id::<16>();
    let claims = AccessTokenClaims {
        issuer: &state.issuer,
        sub: &sub,
        audience: Some(&audience),
        client_id: management::CLI_CLIENT_ID,
        scope: &scope,
        iat: state.now(),
        lifetime: 60,
        jti: &jti,
        gty: Some("client-credentials"),
    }
    .to_json();
    let token = state
        .keys
        .sign(portcullis_core::client::SigningAlg::RS256, &claims)?;
    let request = Request::builder()
        .method(method)
        .uri(format!("/api/v2/{}", path.trim_start_matches('/')))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))?;
    let response = crate::http::router(state.clone()).oneshot(request).await?;
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 16 << 20).await?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// The tenant as an Auth0 Deploy CLI `tenant.yaml` that `tenant import` reads back:
/// clients (without secrets, which are stored hashed: importing into another database
/// generates new ones), APIs and client grants (without the Management API itself), and
/// users with their password hashes.
pub async fn export(state: &AppState) -> anyhow::Result<String> {
    let system = management::audience(&state.issuer);
    let page = 100;
    let mut clients = Vec::new();
    for offset in (0..).step_by(page as usize) {
        let (batch, total) = state.store.list_clients(offset, page).await?;
        for c in batch
            .into_iter()
            .filter(|c| c.client_id != management::CLI_CLIENT_ID)
        {
            let mut v = json!({
                "name": c.name, "client_id": c.client_id, "app_type": c.app_type.as_str(), "is_first_party": c.is_first_party,
                "callbacks": c.callbacks.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                "allowed_logout_urls": c.allowed_logout_urls, "web_origins": c.web_origins, "grant_types": c.grant_types,
                "token_endpoint_auth_method": c.token_endpoint_auth_method.as_str(),
                "jwt_configuration": {"lifetime_in_seconds": c.jwt_configuration.lifetime_in_seconds, "alg": c.jwt_configuration.alg.as_str()},
                "refresh_token": c.refresh_token,
            });
            if c.token_endpoint_auth_method == TokenEndpointAuthMethod::PrivateKeyJwt {
                let creds: Vec<Value> = c
                    .credentials
                    .iter()
                    .map(|k| {
                        let key = if k.public_key.trim_start().starts_with('{') {
                            json!({"jwk": serde_json::from_str::<Value>(&k.public_key).unwrap_or(Value::Null)})
                        } else {
                            json!({"pem": k.public_key})
                        };
                        let mut cred = json!({"id": k.id, "name": k.name, "credential_type": "public_key", "alg": k.alg, "kid": k.kid});
                        if let (Some(o), Some(extra)) = (cred.as_object_mut(), key.as_object()) {
                            o.extend(extra.clone());
                            o.retain(|_, v| !v.is_null());
                        }
                        cred
                    })
                    .collect();
                v["client_authentication_methods"] =
                    json!({"private_key_jwt": {"credentials": creds}});
            }
            clients.push(v);
        }
        if offset + page >= total {
            break;
        }
    }
    let (apis, _) = state.store.list_resource_servers(0, i64::MAX).await?;
    let resource_servers: Vec<Value> = apis
        .iter()
        .filter(|(_, a)| a.identifier != system)
        .map(|(_, a)| {
            json!({
                "name": a.name, "identifier": a.identifier, "scopes": a.scopes, "allow_offline_access": a.allow_offline_access,
                "token_lifetime": a.token_lifetime, "signing_alg": a.signing_alg.as_str(),
                "skip_consent_for_verifiable_first_party_clients": a.skip_consent_for_verifiable_first_party_clients,
            })
        })
        .collect();
    let (grants, _) = state
        .store
        .list_client_grants(None, None, 0, i64::MAX)
        .await?;
    let client_grants: Vec<Value> = grants
        .iter()
        .filter(|g| g.audience != system)
        .map(|g| json!({"client_id": g.client_id, "audience": g.audience, "scope": g.scope.iter().collect::<Vec<_>>()}))
        .collect();
    let (users, _) = state.store.list_users(None, 0, i64::MAX).await?;
    let users: Vec<Value> = users
        .iter()
        .map(|v| {
            let u = &v.user;
            let mut o = json!({
                "email": u.email, "user_id": u.id, "email_verified": u.email_verified, "blocked": u.blocked,
                "name": u.name, "given_name": u.given_name, "family_name": u.family_name, "nickname": u.nickname, "picture": u.picture,
                "address": u.address, "phone_number": u.phone_number,
                "phone_number_verified": u.phone_number.as_ref().map(|_| u.phone_number_verified),
                "password_hash": u.password_hash,
            });
            if let Some(m) = o.as_object_mut() {
                m.retain(|_, v| !v.is_null());
            }
            o
        })
        .collect();
    let tenant = json!({"clients": clients, "resourceServers": resource_servers, "clientGrants": client_grants, "users": users});
    Ok(serde_yaml_ng::to_string(&tenant)?)
}
