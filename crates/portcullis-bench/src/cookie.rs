//! A cookie jar for one simulated browser: name → value per host, nothing more.
//!
//! Jars come and go (`full-login` starts every iteration with an empty one) while each
//! worker keeps one `reqwest::Client` and its connection pool, so the jar cannot be the
//! client's own cookie store. It honours what login flows need (a `Set-Cookie` name and
//! value, deletion by `Max-Age` ≤ 0 or a past `Expires`) and ignores `Domain`, `Path` and
//! `Secure`: every cookie goes back to the host that set it, whatever the path. That is
//! enough for a provider on one host and is not a general browser cookie model.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

/// Cookies by host, then by name.
#[derive(Debug, Default, Clone)]
pub struct CookieJar {
    hosts: HashMap<String, BTreeMap<String, String>>,
}

impl CookieJar {
    /// Applies a response's `Set-Cookie` header values, received from `url` at `now`.
    pub fn store<'a>(
        &mut self,
        url: &url::Url,
        set_cookies: impl IntoIterator<Item = &'a str>,
        now: SystemTime,
    ) {
        let Some(host) = url.host_str() else { return };
        for line in set_cookies {
            let mut parts = line.split(';');
            let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
                continue;
            };
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            let cookies = self.hosts.entry(host.to_owned()).or_default();
            if expired(parts, now) {
                cookies.remove(name);
            } else {
                cookies.insert(name.to_owned(), value.trim().to_owned());
            }
        }
    }

    /// The `Cookie` header for a request to `url`, if the jar has cookies for its host.
    pub fn header(&self, url: &url::Url) -> Option<String> {
        let cookies = self.hosts.get(url.host_str()?)?;
        if cookies.is_empty() {
            return None;
        }
        let pairs: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Some(pairs.join("; "))
    }
}

/// Whether a cookie's attributes delete it: `Max-Age` ≤ 0, or else an `Expires` in the past
/// (RFC 6265 §5.3: Max-Age wins over Expires). An unreadable date deletes nothing.
fn expired<'a>(attributes: impl Iterator<Item = &'a str>, now: SystemTime) -> bool {
    let mut expires = None;
    for attribute in attributes {
        let (key, value) = attribute.split_once('=').unwrap_or((attribute, ""));
        let key = key.trim();
        let value = value.trim();
        if key.eq_ignore_ascii_case("max-age") {
            if let Ok(seconds) = value.parse::<i64>() {
                return seconds <= 0;
            }
        } else if key.eq_ignore_ascii_case("expires") {
            // The Netscape form (`01-Jan-1970`) is the HTTP-date form with dashes.
            expires = httpdate::parse_http_date(&value.replace('-', " ")).ok();
        }
    }
    expires.is_some_and(|at| at <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    /// 2023-11-14: any fixed instant after 1970.
    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000)
    }

    #[test]
    fn cookies_go_back_to_their_host_only() {
        let mut jar = CookieJar::default();
        let now = now();
        jar.store(
            &url("http://idp.test/u/login"),
            ["sid=abc; Path=/; HttpOnly", "csrf=x=y; SameSite=Lax"],
            now,
        );
        assert_eq!(
            jar.header(&url("http://idp.test/authorize")).as_deref(),
            Some("csrf=x=y; sid=abc")
        );
        assert_eq!(jar.header(&url("http://other.test/")), None);
    }

    #[test]
    fn max_age_zero_and_past_expires_delete_and_max_age_wins() {
        let mut jar = CookieJar::default();
        let now = now();
        let u = url("http://idp.test/");
        jar.store(&u, ["a=1", "b=2", "c=3", "d=4", "e=5"], now);
        jar.store(
            &u,
            [
                "a=; Max-Age=0",
                "b=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/",
                "c=; Expires=Thu, 01-Jan-1970 00:00:01 GMT",
                "d=new; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
                "e=6; Expires=not a date",
            ],
            now,
        );
        assert_eq!(jar.header(&u).as_deref(), Some("d=new; e=6"));
        jar.store(&u, ["d=; Max-Age=-1", "e=; Max-Age=0"], now);
        assert_eq!(jar.header(&u), None);
    }

    #[test]
    fn a_line_without_a_name_is_ignored() {
        let mut jar = CookieJar::default();
        let u = url("http://idp.test/");
        jar.store(&u, ["novalue", "=x", " ok = 1 ; Path=/"], now());
        assert_eq!(jar.header(&u).as_deref(), Some("ok=1"));
    }
}
