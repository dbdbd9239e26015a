//! `private_key_jwt` (RFC 7523, OIDC Core §9): verifies a client assertion's signature with
//! one of the client's registered public keys, then its claims (`core::client_assertion`),
//! then records its `jti` so it is accepted once. Every failure is the same
//! `invalid_client`; the reason is logged at debug level only.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use portcullis_core::client::{ASSERTION_ALGS, Client, ClientCredential};
use portcullis_core::client_assertion;
use portcullis_core::proto::paths;
use serde_json::{Map, Value};

use super::TokenError;
use crate::state::AppState;

fn refused(reason: &str) -> TokenError {
    tracing::debug!(reason, "client assertion refused");
    TokenError::OAuth {
        error: portcullis_core::proto::OAuthError::new(
            portcullis_core::proto::OAuthErrorCode::InvalidClient,
            "Client authentication failed",
        ),
        used_basic: false,
    }
}

/// A decoding key for `alg` from a registered credential, if the key is of the family the
/// algorithm needs (an RSA key never verifies ES256, and nothing verifies HMAC).
fn decoding_key(credential: &ClientCredential, alg: Algorithm) -> Option<DecodingKey> {
    let text = credential.public_key.trim();
    if text.starts_with('{') {
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_str(text).ok()?;
        return DecodingKey::from_jwk(&jwk).ok();
    }
    match alg {
        Algorithm::RS256 | Algorithm::RS384 | Algorithm::PS256 | Algorithm::PS384 => {
            DecodingKey::from_rsa_pem(text.as_bytes()).ok()
        }
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(text.as_bytes()).ok(),
        _ => None,
    }
}

/// The claims of an assertion whose signature one of the client's registered keys
/// verifies, with an allowed algorithm of that key's family. No claim is checked here.
pub fn verified_claims(
    client: &Client,
    assertion: &str,
) -> Result<Map<String, Value>, &'static str> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| "malformed header")?;
    let alg_name = format!("{:?}", header.alg);
    if !ASSERTION_ALGS.contains(&alg_name.as_str()) {
        return Err("algorithm not allowed");
    }
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    client
        .credentials
        .iter()
        .filter(|c| c.alg.as_deref().is_none_or(|a| a == alg_name))
        .filter(|c| match (&header.kid, &c.kid) {
            (Some(presented), Some(registered)) => presented == registered,
            _ => true,
        })
        .filter_map(|c| decoding_key(c, header.alg))
        .find_map(|key| {
            jsonwebtoken::decode::<Map<String, Value>>(assertion, &key, &validation).ok()
        })
        .map(|data| data.claims)
        .ok_or("no registered key verifies the signature")
}

/// Verifies the assertion for `client` and consumes its `jti`.
pub async fn verify(state: &AppState, client: &Client, assertion: &str) -> Result<(), TokenError> {
    let claims = verified_claims(client, assertion).map_err(refused)?;
    let token_endpoint = state.url(paths::TOKEN);
    let audiences = [&*state.issuer, token_endpoint.as_str()];
    let accepted = client_assertion::check(&claims, &client.client_id, &audiences, state.now())
        .map_err(refused)?;
    if !state
        .store
        .use_assertion_jti(&client.client_id, &accepted.jti, accepted.expires_at)
        .await?
    {
        return Err(refused("jti replayed"));
    }
    Ok(())
}

/// Whether a registered credential's key material parses as a verification key.
pub fn credential_parses(credential: &ClientCredential) -> bool {
    let text = credential.public_key.trim();
    if text.starts_with('{') {
        return serde_json::from_str::<jsonwebtoken::jwk::Jwk>(text)
            .is_ok_and(|j| DecodingKey::from_jwk(&j).is_ok());
    }
    DecodingKey::from_rsa_pem(text.as_bytes()).is_ok()
        || DecodingKey::from_ec_pem(text.as_bytes()).is_ok()
}
