//! Client assertions (RFC 7523 §3, OIDC Core §9 `private_key_jwt`): the claim rules, after
//! the signature was verified. Every failure is the same `invalid_client`, with no detail
//! that would help an attacker; the reason goes to the logs.

use serde_json::{Map, Value};
use time::OffsetDateTime;

/// RFC 7523 §2.2 `client_assertion_type`.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Longest accepted assertion lifetime from now: an assertion is short-lived by design,
/// and a far-future `exp` would make its `jti` a long-term replay record.
pub const MAX_LIFETIME_SECONDS: i64 = 600;

/// Allowed clock difference for `nbf` and `iat`.
pub const SKEW_SECONDS: i64 = 30;

/// What a valid assertion yields: its `jti` and `exp`, for the single-use record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The assertion id.
    pub jti: String,
    /// Its expiry.
    pub expires_at: OffsetDateTime,
}

/// Checks the claims of a signature-verified assertion for `client_id`. `audiences` are
/// the values `aud` may take (the issuer and the token endpoint URL); `aud` must be one
/// string, not an array.
pub fn check(
    claims: &Map<String, Value>,
    client_id: &str,
    audiences: &[&str],
    now: OffsetDateTime,
) -> Result<Accepted, &'static str> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    // RFC 7519 §2: a NumericDate may have a fraction; whole seconds are what count here.
    let number = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_f64)
            .map(|n| n.floor() as i64)
    };
    if text("iss") != Some(client_id) || text("sub") != Some(client_id) {
        return Err("iss and sub must be the client_id");
    }
    match claims.get("aud") {
        Some(Value::String(aud)) if audiences.contains(&aud.as_str()) => {}
        _ => return Err("aud must be the issuer or the token endpoint, as one string"),
    }
    let now_s = now.unix_timestamp();
    let exp = number("exp").ok_or("exp is required")?;
    if exp <= now_s {
        return Err("expired");
    }
    if exp > now_s + MAX_LIFETIME_SECONDS {
        return Err("exp too far in the future");
    }
    if number("nbf").is_some_and(|nbf| nbf > now_s + SKEW_SECONDS) {
        return Err("not yet valid");
    }
    if number("iat").is_some_and(|iat| iat > now_s + SKEW_SECONDS) {
        return Err("issued in the future");
    }
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or("jti is required")?;
    let expires_at = OffsetDateTime::from_unix_timestamp(exp).map_err(|_| "exp out of range")?;
    Ok(Accepted {
        jti: jti.to_owned(),
        expires_at,
    })
}

/// The client an assertion claims to come from (`sub`, before any verification), to find
/// its keys. Only a lookup key: `check` decides.
pub fn claimed_client(assertion: &str) -> Option<String> {
    use base64::Engine;
    let payload = assertion.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub").and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(overrides: Value) -> Map<String, Value> {
        let mut base =
            json!({"iss": "c", "sub": "c", "aud": "https://i.example/", "exp": 1100, "jti": "j1"});
        if let (Some(b), Some(o)) = (base.as_object_mut(), overrides.as_object()) {
            for (k, v) in o {
                if v.is_null() {
                    b.remove(k);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        base.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn table() {
        let now = OffsetDateTime::from_unix_timestamp(1000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let auds = ["https://i.example/", "https://i.example/oauth/token"];
        let ok = |o: Value| check(&claims(o), "c", &auds, now).is_ok();
        assert!(ok(json!({})));
        assert!(ok(json!({"aud": "https://i.example/oauth/token"})));
        for (name, o) in [
            ("other iss", json!({"iss": "x"})),
            ("other sub", json!({"sub": "x"})),
            ("no sub", json!({"sub": null})),
            ("array aud", json!({"aud": ["https://i.example/"]})),
            ("other aud", json!({"aud": "https://evil.example/"})),
            ("no exp", json!({"exp": null})),
            ("expired", json!({"exp": 1000})),
            (
                "far future",
                json!({"exp": 1000 + MAX_LIFETIME_SECONDS + 1}),
            ),
            ("nbf ahead", json!({"nbf": 1031})),
            ("iat ahead", json!({"iat": 1031})),
            ("no jti", json!({"jti": null})),
            ("empty jti", json!({"jti": ""})),
        ] {
            assert!(!ok(o), "{name}");
        }
    }
}
