//! Redirect URIs: what may be registered, and how a requested one is matched.
//!
//! RFC 9700 §2.1 / §4.1.3: the requested URI must equal a registered one, compared as
//! strings (RFC 3986 §6.2.1), never by prefix, pattern or normalisation. The only
//! exception is RFC 8252 §7.3: for native apps a loopback IP literal may use any port.

use serde::{Deserialize, Serialize};

/// Why a redirect URI cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRedirectUri {
    /// Not an absolute URI.
    #[error("must be an absolute URL")]
    NotAbsolute,
    /// RFC 6749 §3.1.2: "The endpoint URI MUST NOT include a fragment component."
    #[error("must not contain a fragment")]
    Fragment,
    /// A scheme a browser would execute or read locally (`javascript:`, `data:`, ...).
    #[error("uses a forbidden scheme")]
    ForbiddenScheme,
    /// Only printable ASCII without spaces: what is registered is what is compared.
    #[error("must contain only printable ASCII characters without spaces")]
    Characters,
    /// RFC 9700 §2.6: no `http` except on the loopback interface.
    #[error("must use https (http only for localhost, 127.0.0.1 or [::1])")]
    InsecureHttp,
    /// Userinfo (`user@host`) invites parser differentials and is never needed.
    #[error("must not contain user information")]
    UserInfo,
}

/// A syntactically valid redirect URI, kept byte for byte as registered or requested.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Validates a URI for registration or for use in a request.
    pub fn parse(raw: &str) -> Result<Self, InvalidRedirectUri> {
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidRedirectUri::Characters);
        }
        let url = url::Url::parse(raw).map_err(|_| InvalidRedirectUri::NotAbsolute)?;
        if raw.contains('#') || url.fragment().is_some() {
            return Err(InvalidRedirectUri::Fragment);
        }
        let scheme = url.scheme().to_ascii_lowercase();
        if matches!(
            scheme.as_str(),
            "javascript" | "data" | "vbscript" | "file" | "blob" | "about"
        ) {
            return Err(InvalidRedirectUri::ForbiddenScheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InvalidRedirectUri::UserInfo);
        }
        if matches!(scheme.as_str(), "http" | "https") && url.host().is_none() {
            return Err(InvalidRedirectUri::NotAbsolute);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The URI exactly as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// RFC 9700 §2.6 for registration: authorization responses never travel unencrypted,
    /// so `http` is accepted only for the loopback interface.
    pub fn check_registrable(&self) -> Result<(), InvalidRedirectUri> {
        let plain_http = self
            .0
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
        if plain_http && !self.is_localhost() {
            return Err(InvalidRedirectUri::InsecureHttp);
        }
        Ok(())
    }

    /// True when the host is `localhost` or a loopback IP literal. Auth0 treats such
    /// redirect URIs as unverifiable: a first-party client still gets a consent page.
    pub fn is_localhost(&self) -> bool {
        let Ok(url) = url::Url::parse(&self.0) else {
            return false;
        };
        match url.host() {
            Some(url::Host::Domain(d)) => {
                d.eq_ignore_ascii_case("localhost")
                    || d.to_ascii_lowercase().ends_with(".localhost")
            }
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = InvalidRedirectUri;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        RedirectUri::parse(&raw)
    }
}

impl From<RedirectUri> for String {
    fn from(r: RedirectUri) -> String {
        r.0
    }
}

impl std::fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Finds the registered URI that `requested` matches.
///
/// Byte-exact comparison; when `allow_loopback_port` (native apps, RFC 8252 §7.3) a
/// registered `http` loopback IP literal also matches the same URI with any port.
pub fn find_match<'a>(
    registered: &'a [RedirectUri],
    requested: &str,
    allow_loopback_port: bool,
) -> Option<&'a RedirectUri> {
    if let Some(exact) = registered.iter().find(|r| r.as_str() == requested) {
        return Some(exact);
    }
    if !allow_loopback_port {
        return None;
    }
    let requested = without_loopback_port(requested)?;
    registered
        .iter()
        .find(|r| without_loopback_port(r.as_str()).as_deref() == Some(requested.as_str()))
}

/// For an `http` URI whose host is a loopback IP literal and that is already in
/// normalised form, the URI with its port removed; otherwise `None`.
fn without_loopback_port(raw: &str) -> Option<String> {
    let mut url = url::Url::parse(raw).ok()?;
    // Only a URI that is already in canonical form takes part, so that the comparison
    // stays a string comparison apart from the port.
    if url.as_str() != raw && format!("{raw}/") != url.as_str() {
        return None;
    }
    if url.scheme() != "http" {
        return None;
    }
    let loopback_ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    if !loopback_ip {
        return None;
    }
    url.set_port(None).ok()?;
    Some(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reg(list: &[&str]) -> Vec<RedirectUri> {
        list.iter()
            .filter_map(|r| RedirectUri::parse(r).ok())
            .collect()
    }

    #[test]
    fn registration_rejects_dangerous_and_malformed_uris() {
        let cases = [
            ("javascript:alert(1)", InvalidRedirectUri::ForbiddenScheme),
            ("JavaScript:alert(1)", InvalidRedirectUri::ForbiddenScheme),
            ("data:text/html,x", InvalidRedirectUri::ForbiddenScheme),
            ("https://a.example/cb#frag", InvalidRedirectUri::Fragment),
            ("https://a.example/cb#", InvalidRedirectUri::Fragment),
            ("/relative", InvalidRedirectUri::NotAbsolute),
            ("https://user@a.example/cb", InvalidRedirectUri::UserInfo),
        ];
        for (raw, err) in cases {
            assert_eq!(RedirectUri::parse(raw), Err(err), "{raw}");
        }
        assert!(RedirectUri::parse("com.example.app:/callback").is_ok());
        let registrable = |raw: &str| RedirectUri::parse(raw).and_then(|r| r.check_registrable());
        assert_eq!(
            registrable("http://app.example/cb"),
            Err(InvalidRedirectUri::InsecureHttp)
        );
        assert_eq!(
            registrable("HTTP://app.example/cb"),
            Err(InvalidRedirectUri::InsecureHttp)
        );
        for ok in [
            "http://localhost:3000/cb",
            "http://127.0.0.1/cb",
            "http://[::1]:8080/cb",
            "https://app.example/cb",
            "com.example.app:/cb",
        ] {
            assert_eq!(registrable(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn matching_is_exact() {
        let r = reg(&["https://app.example/callback"]);
        for attempt in [
            "https://app.example/CALLBACK",
            "https://APP.example/callback",
            "https://app.example/callback/",
            "https://app.example/callback?x=1",
            "https://app.example/callback/../callback",
            "https://app.example/callback%2F..",
            "https://app.example.evil.test/callback",
            "https://app.example:443/callback",
            "http://app.example/callback",
            "https://app.example/callbackx",
            "https://app.example/callback#frag",
            "https://app.example/callback/..;/callback",
            "https://app.example/x/..;/callback",
            "https://app.example/%2e%2e/callback",
            "https://app.example/x/%2e%2e/callback",
            "https://app.example%2Fcallback",
            "https://app.example/callback%2f",
            "https://app.example@evil.test/callback",
            "https://evil.test@app.example/callback",
            "https://app.example/callback@evil.test",
            "https://app.example\\@evil.test/callback",
        ] {
            assert!(find_match(&r, attempt, true).is_none(), "{attempt}");
        }
        assert!(find_match(&r, "https://app.example/callback", false).is_some());
    }

    #[test]
    fn loopback_port_may_vary_only_when_allowed_and_only_the_port() {
        let r = reg(&["http://127.0.0.1/cb", "http://localhost/cb"]);
        assert!(find_match(&r, "http://127.0.0.1:51004/cb", true).is_some());
        assert!(find_match(&r, "http://127.0.0.1:51004/cb", false).is_none());
        assert!(find_match(&r, "http://127.0.0.1:51004/cb?x=1", true).is_none());
        assert!(find_match(&r, "http://127.0.0.1:51004/other", true).is_none());
        // "localhost" is a name, not a loopback literal (RFC 8252 §8.3).
        assert!(find_match(&r, "http://localhost:51004/cb", true).is_none());
    }

    #[test]
    fn localhost_detection_parses_the_host() {
        let yes = [
            "http://localhost:3000/cb",
            "http://127.0.0.1/cb",
            "http://[::1]/cb",
        ];
        let no = ["https://localhost.evil.test/cb", "https://app.example/cb"];
        for raw in yes {
            assert!(
                RedirectUri::parse(raw)
                    .map(|r| r.is_localhost())
                    .unwrap_or(false),
                "{raw}"
            );
        }
        for raw in no {
            assert!(
                !RedirectUri::parse(raw)
                    .map(|r| r.is_localhost())
                    .unwrap_or(true),
                "{raw}"
            );
        }
    }

    proptest! {
        #[test]
        fn a_uri_that_differs_never_matches(suffix in "[a-zA-Z0-9/._~%-]{1,12}") {
            let r = reg(&["https://app.example/cb"]);
            let attempt = format!("https://app.example/cb{suffix}");
            prop_assert!(find_match(&r, &attempt, true).is_none());
        }

        #[test]
        fn parse_never_panics(raw in ".{0,80}") {
            let _ = RedirectUri::parse(&raw);
        }
    }
}
