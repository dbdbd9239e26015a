//! The token request, as a form or as a JSON object, with client authentication.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::client_auth;
use portcullis_core::params::Params;
use portcullis_core::token::TokenRequest;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    let params = if mode % 2 == 0 {
        Params::parse_urlencoded(body).ok()
    } else {
        // The JSON body as the server reads it: a flat object of strings and numbers.
        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body).ok().and_then(|object| {
            let pairs = object
                .into_iter()
                .filter_map(|(k, v)| match v {
                    serde_json::Value::String(s) => Some((k, s)),
                    serde_json::Value::Number(n) => Some((k, n.to_string())),
                    _ => None,
                })
                .collect();
            Params::from_checked_pairs(pairs).ok()
        })
    };
    let Some(params) = params else { return };
    let _ = TokenRequest::parse(&params);
    let basic = (mode % 3 == 0).then(|| Ok(("c1".to_owned(), "secret".to_owned())));
    let _ = client_auth::presented(basic, &params);
});
