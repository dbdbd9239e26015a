//! The authorization request: strict decoding, then both validation stages, on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::authorize::{self, AuthorizeError};
use portcullis_core::client::{AppType, Client, JwtConfiguration, TokenEndpointAuthMethod};
use portcullis_core::params::Params;
use portcullis_core::redirect_uri::RedirectUri;
use portcullis_core::refresh::RefreshTokenPolicy;

fn client(public: bool) -> Client {
    Client {
        client_id: "c1".into(),
        name: "App".into(),
        app_type: if public { AppType::Native } else { AppType::RegularWeb },
        is_first_party: true,
        callbacks: ["https://app.example/cb", "http://127.0.0.1/cb", "com.example.app:/cb"]
            .iter()
            .filter_map(|c| RedirectUri::parse(c).ok())
            .collect(),
        allowed_logout_urls: vec![],
        web_origins: vec![],
        grant_types: vec!["authorization_code".into()],
        token_endpoint_auth_method: if public { TokenEndpointAuthMethod::None } else { TokenEndpointAuthMethod::ClientSecretPost },
        secret_hash: None,
        jwt_configuration: JwtConfiguration::default(),
        refresh_token: RefreshTokenPolicy::default_for(AppType::RegularWeb),
        credentials: vec![],
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(params) = Params::parse_urlencoded(data) else { return };
    for public in [false, true] {
        let client = client(public);
        let Ok(target) = authorize::trust(&params, Some(&client)) else { continue };
        // A registered, exactly matching URI is all a trusted target may be.
        assert!(client.find_callback(target.redirect_uri.as_str()).is_some());
        match authorize::validate(&params, &client, target, None) {
            Ok(request) => assert!(!public || request.code_challenge.is_some(), "public clients need PKCE"),
            Err(AuthorizeError::Redirect(target, _)) => assert!(client.find_callback(target.redirect_uri.as_str()).is_some()),
            Err(AuthorizeError::Page(_)) => {}
        }
    }
});
