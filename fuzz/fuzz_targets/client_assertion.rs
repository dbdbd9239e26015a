//! Client assertions: signature verification with the registered keys (the server's
//! `verified_claims`: header, algorithm allow-list, key family, kid) and the claim rules,
//! on any input. Random inputs never carry a valid signature; what is fuzzed is everything
//! around it, which must refuse and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::client::{AppType, Client, ClientCredential, JwtConfiguration, TokenEndpointAuthMethod};
use portcullis_core::client_assertion;
use portcullis_core::refresh::RefreshTokenPolicy;
use portcullis_server::flows::token::verified_claims;

const RSA_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAvoSCZKxWCPfNBajqCsb0\nCJu19gnigsNOiwxhA5iw14ud2h+oKnDWtoxHip/OXtIh1zO/yrodx7tYVltHl/DR\nnQGe/oZC3ZdxitgOm1LY5ByzNsyYoocYWmy6tWcSXUc1NwpqRc3tZwUJDQf0WHLw\nByzv7IMoyRgGRywj5R7yFkhCGMl5Tw96DUbQtP7FymDuef1IjqonipBfU8m7o+S2\nNRlubhlaUTQ9XC3/E0n30OEJyEkZsJ00hPpEWyUGqk21KbxgqTHxIxXIZUvQlYDU\nX95ABRGEQq/rgKBUTKVWOs2fO06r3X6ymRQctvRf8aueD8zaah1CjA0kmU4vwrtn\n5wIDAQAB\n-----END PUBLIC KEY-----";
const EC_JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"EdVU5CeCMLKTVmseAOsSu6HaE4KqI8NnQju60ryIJtc","y":"45Xozh9JziNtbkxbKKlMGloqodCJ6j_jx7SJV_-RY2g"}"#;

fn client() -> Client {
    let credential = |id: &str, alg: &str, key: &str| ClientCredential {
        id: id.into(),
        name: id.into(),
        kid: Some(id.into()),
        alg: Some(alg.into()),
        public_key: key.into(),
    };
    Client {
        client_id: "c1".into(),
        name: "Signed".into(),
        app_type: AppType::NonInteractive,
        is_first_party: true,
        callbacks: vec![],
        allowed_logout_urls: vec![],
        web_origins: vec![],
        grant_types: vec!["client_credentials".into()],
        token_endpoint_auth_method: TokenEndpointAuthMethod::PrivateKeyJwt,
        secret_hash: None,
        jwt_configuration: JwtConfiguration::default(),
        refresh_token: RefreshTokenPolicy::default_for(AppType::NonInteractive),
        credentials: vec![credential("rsa", "RS256", RSA_PUBLIC_KEY), credential("ec", "ES256", EC_JWK)],
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = client_assertion::claimed_client(text);
    let _ = verified_claims(&client(), text);
    if let Ok(claims) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
        let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let audiences = ["https://id.example/", "https://id.example/oauth/token"];
        if let Ok(accepted) = client_assertion::check(&claims, "c1", &audiences, now) {
            // Whatever was accepted is bounded in time and names a jti.
            assert!(accepted.expires_at > now && !accepted.jti.is_empty());
        }
    }
});
