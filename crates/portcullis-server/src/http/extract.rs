//! Extractors and request readers: parameters from a query, a form or a JSON body
//! (with RFC 6749's rejections), HTTP Basic client credentials, bearer tokens, cookies.

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use portcullis_core::params::Params;
use portcullis_core::proto::{OAuthError, OAuthErrorCode};

/// The client's IP address: the TCP peer, or, when the peer is one of the configured
/// `trusted_proxies`, the address they forwarded (`core::forwarded`). Absent for in-process
/// calls.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl axum::extract::FromRequestParts<crate::state::AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::state::AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Ok(ClientIp(peer.map(|peer| {
            portcullis_core::forwarded::client_ip(peer, forwarded, &state.settings.trusted_proxies)
        })))
    }
}

/// A back-channel request to the token or revocation endpoint: its parameters (form or
/// JSON), its Basic credentials, and the facts about the caller.
pub struct BackChannel {
    /// Body parameters.
    pub params: Params,
    /// `Authorization: Basic`, decoded.
    pub basic: Option<Result<(String, String), ()>>,
    /// Origin header and client IP.
    pub context: crate::flows::token::RequestContext,
}

/// Reads a back-channel request; a bad body is `invalid_request` (RFC 6749 §5.2).
pub fn back_channel(
    headers: &HeaderMap,
    body: &Bytes,
    ip: Option<std::net::IpAddr>,
) -> Result<BackChannel, OAuthError> {
    Ok(BackChannel {
        params: body_params(headers, body, true)?,
        basic: basic_credentials(headers),
        context: crate::flows::token::RequestContext {
            has_origin: headers.contains_key(header::ORIGIN),
            ip,
        },
    })
}

/// Parameters from a URL query string, decoded strictly (`invalid_request` otherwise).
pub fn query_params(query: Option<&str>) -> Result<Params, OAuthError> {
    Params::parse_urlencoded(query.unwrap_or_default().as_bytes()).map_err(param_error)
}

fn param_error(e: portcullis_core::params::ParamError) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidRequest, e.to_string())
}

/// Parameters from a request body. `application/x-www-form-urlencoded` always; with
/// `allow_json`, also a flat `application/json` object of strings (Auth0's SDKs send
/// JSON to `/oauth/token`). Any other content type is `invalid_request`.
pub fn body_params(
    headers: &HeaderMap,
    body: &Bytes,
    allow_json: bool,
) -> Result<Params, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match content_type.as_str() {
        "application/x-www-form-urlencoded" => Params::parse_urlencoded(body).map_err(param_error),
        "application/json" if allow_json => {
            let invalid = || {
                OAuthError::new(
                    OAuthErrorCode::InvalidRequest,
                    "The body must be a JSON object of string values",
                )
            };
            let object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(body).map_err(|_| invalid())?;
            let mut pairs = Vec::with_capacity(object.len());
            for (k, v) in object {
                match v {
                    serde_json::Value::String(s) => pairs.push((k, s)),
                    serde_json::Value::Number(n) => pairs.push((k, n.to_string())),
                    serde_json::Value::Null => {}
                    _ => return Err(invalid()),
                }
            }
            Params::from_checked_pairs(pairs).map_err(param_error)
        }
        _ => Err(OAuthError::new(
            OAuthErrorCode::InvalidRequest,
            if allow_json {
                "Content-Type must be application/x-www-form-urlencoded or application/json"
            } else {
                "Content-Type must be application/x-www-form-urlencoded"
            },
        )),
    }
}

/// The `Authorization: Basic` client credentials (RFC 6749 §2.3.1: id and secret are
/// form-url-encoded before base64). `None` without such a header, `Some(Err)` when it is
/// malformed.
pub fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).map_err(|_| ());
    Some(decoded.and_then(|bytes| {
        let text = String::from_utf8(bytes).map_err(|_| ())?;
        let (id, secret) = text.split_once(':').ok_or(())?;
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .ok_or(())
        };
        Ok((decode(id)?, decode(secret)?))
    }))
}

/// A bearer token from `Authorization: Bearer` (the scheme is case-insensitive).
/// `Some(Err)` when an Authorization header of another shape was sent.
pub fn bearer_token(headers: &HeaderMap) -> Option<Result<String, ()>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let parsed = value.to_str().ok().and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
    });
    Some(parsed.ok_or(()))
}

/// The value of a cookie.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn basic_credentials_are_form_url_decoded() {
        let mut h = HeaderMap::new();
        let raw = STANDARD.encode("my%20client:p%3Ass+word");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {raw}")).unwrap_or(HeaderValue::from_static("")),
        );
        assert_eq!(
            basic_credentials(&h),
            Some(Ok(("my client".into(), "p:ss word".into())))
        );
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic_credentials(&h), Some(Err(())));
    }

    #[test]
    fn content_type_is_strict() {
        let mut h = HeaderMap::new();
        let body = Bytes::from_static(b"a=1");
        assert!(body_params(&h, &body, true).is_err());
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(body_params(&h, &body, true).is_err());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"),
        );
        assert_eq!(
            body_params(&h, &body, true)
                .ok()
                .and_then(|p| p.get("a").map(str::to_owned)),
            Some("1".into())
        );
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert!(body_params(&h, &Bytes::from_static(b"{\"a\":{}}"), true).is_err());
        assert!(body_params(&h, &Bytes::from_static(b"{\"a\":\"1\"}"), false).is_err());
    }
}
