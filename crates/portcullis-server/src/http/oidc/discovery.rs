//! `GET /.well-known/openid-configuration` (OIDC Discovery §4) and its RFC 8414 alias:
//! exactly what this server supports, nothing it does not.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::claims;
use portcullis_core::proto::discovery::ProviderMetadata;
use portcullis_core::proto::paths;

use crate::state::AppState;

/// Client authentication methods of the token and revocation endpoints.
const AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

/// The metadata document.
pub fn metadata(state: &AppState) -> ProviderMetadata {
    let list = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    ProviderMetadata {
        issuer: state.issuer.to_string(),
        authorization_endpoint: state.url(paths::AUTHORIZE),
        token_endpoint: state.url(paths::TOKEN),
        userinfo_endpoint: state.url(paths::USERINFO),
        jwks_uri: state.url(paths::JWKS),
        revocation_endpoint: state.url(paths::REVOKE),
        end_session_endpoint: state.url(paths::OIDC_LOGOUT),
        response_types_supported: list(&["code"]),
        response_modes_supported: list(&["query", "form_post"]),
        grant_types_supported: list(&["authorization_code", "refresh_token", "client_credentials"]),
        subject_types_supported: list(&["public"]),
        id_token_signing_alg_values_supported: portcullis_core::client::SigningAlg::ALL
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
        token_endpoint_auth_methods_supported: list(&AUTH_METHODS),
        token_endpoint_auth_signing_alg_values_supported: list(
            &portcullis_core::client::ASSERTION_ALGS,
        ),
        revocation_endpoint_auth_methods_supported: list(&AUTH_METHODS),
        // RFC 8414 §2: required when private_key_jwt is listed for the endpoint.
        revocation_endpoint_auth_signing_alg_values_supported: list(
            &portcullis_core::client::ASSERTION_ALGS,
        ),
        scopes_supported: list(&portcullis_core::scope::OIDC_SCOPES),
        claims_supported: list(&claims::SUPPORTED),
        code_challenge_methods_supported: list(&["S256"]),
        prompt_values_supported: list(&["none", "login", "consent", "select_account"]),
        authorization_response_iss_parameter_supported: true,
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
        claims_parameter_supported: false,
    }
}

pub async fn get(State(state): State<AppState>) -> Response {
    let mut response = Json(metadata(&state)).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
