//! Client assertions: the unverified client lookup and the claim rules, on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::client_assertion;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = client_assertion::claimed_client(text);
    if let Ok(claims) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
        let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let audiences = ["https://id.example/", "https://id.example/oauth/token"];
        if let Ok(accepted) = client_assertion::check(&claims, "c1", &audiences, now) {
            // Whatever was accepted is bounded in time and names a jti.
            assert!(accepted.expires_at > now && !accepted.jti.is_empty());
        }
    }
});
