//! One worker's HTTP side: a browser that walks the provider's pages with a cookie jar it is
//! handed, and a relying party that calls the token, UserInfo and JWKS endpoints.
//!
//! One `reqwest::Client` per agent (keep-alive pool, redirects off); redirects are followed
//! here, by hand, so that each hop's cookies land in the jar and the walk can stop at the
//! client's callback, where nothing listens. Transport errors lose their URL (it carries a
//! fresh `state` each time), so one failure reads the same in every error sample.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::{Method as HttpMethod, StatusCode};

use crate::cookie::CookieJar;
use crate::form::{Method, Page, Submission};
use crate::oidc::{self, Audience, Provider, TokenResponse};
use crate::target::{ClientCredentials, Login, TokenAuth};

/// Redirects followed in a row before giving up.
const MAX_REDIRECTS: usize = 10;
/// Pages (login, consent, …) answered in one walk before giving up.
const MAX_PAGES: usize = 5;

/// The wall clock, for cookie expiry only (the jar takes it as an argument).
#[allow(clippy::disallowed_methods)] // the one place the load generator reads the wall clock
fn wall_clock() -> SystemTime {
    SystemTime::now()
}

/// Where a navigation ended.
enum Outcome {
    /// A redirect to the client's callback.
    Callback(url::Url),
    /// A response that is not a redirect.
    Page {
        url: url::Url,
        status: StatusCode,
        html: String,
    },
}

/// Tokens from a completed login.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// The access token.
    pub access_token: String,
    /// The refresh token, if one was issued.
    pub refresh_token: Option<String>,
}

/// One worker's client.
pub struct Agent {
    http: reqwest::Client,
    provider: Arc<Provider>,
    rng: StdRng,
}

impl Agent {
    /// A client with its own connection pool and a per-request `timeout`.
    pub fn new(provider: Arc<Provider>, timeout: Duration) -> anyhow::Result<Agent> {
        Ok(Agent {
            http: http_client(timeout)?,
            provider,
            rng: StdRng::from_entropy(),
        })
    }

    /// Logs in (or rides the session in `jar`) and exchanges the code: authorize, answer the
    /// login page with the target's user (only when `may_log_in`) and one consent page,
    /// check the callback, then the token response.
    pub async fn login(
        &mut self,
        jar: &mut CookieJar,
        login: &Login,
        scope: &str,
        audience: Audience,
        may_log_in: bool,
    ) -> anyhow::Result<Tokens> {
        let request =
            oidc::authorization_request(&self.provider, login, scope, audience, &mut self.rng);
        let callback = self.walk(jar, request.url, login, may_log_in).await?;
        let code = oidc::code_from_callback(&callback, &request.state)?;
        let mut params = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", login.redirect_uri.clone()),
            ("code_verifier", request.code_verifier),
        ];
        if audience == Audience::Target
            && let Some(r) = &self.provider.target.resource
        {
            params.push(("resource", r.clone()));
        }
        let response = self.token(&login.client, params).await?;
        response.check_code_exchange(&request.nonce)?;
        Ok(Tokens {
            access_token: response.access_token()?.to_owned(),
            refresh_token: response.refresh_token,
        })
    }

    /// grant_type=refresh_token; returns the new access token and the refresh token to use
    /// next (the new one when the provider rotates, else the same).
    pub async fn refresh(&self, login: &Login, refresh_token: &str) -> anyhow::Result<Tokens> {
        let mut params = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token.to_owned()),
        ];
        if let Some(r) = &self.provider.target.resource {
            params.push(("resource", r.clone()));
        }
        let response = self.token(&login.client, params).await?;
        Ok(Tokens {
            access_token: response.access_token()?.to_owned(),
            refresh_token: Some(
                response
                    .refresh_token
                    .unwrap_or_else(|| refresh_token.to_owned()),
            ),
        })
    }

    /// grant_type=client_credentials, with `audience` and the target's `resource` if given.
    pub async fn client_credentials(
        &self,
        client: &ClientCredentials,
        audience: Option<&str>,
    ) -> anyhow::Result<()> {
        let mut params = vec![("grant_type", "client_credentials".to_owned())];
        if let Some(a) = audience {
            params.push(("audience", a.to_owned()));
        }
        if let Some(r) = &self.provider.target.resource {
            params.push(("resource", r.clone()));
        }
        self.token(client, params).await?.access_token()?;
        Ok(())
    }

    /// GET UserInfo with the access token (OIDC Core §5.3): 200 and a JSON object with `sub`.
    pub async fn userinfo(&self, access_token: &str) -> anyhow::Result<()> {
        let url = self
            .provider
            .discovery
            .userinfo_endpoint
            .as_ref()
            .context("the discovery document has no userinfo_endpoint")?;
        let claims: UserinfoClaims = self
            .get_json(url, Some(&format!("Bearer {access_token}")), "userinfo")
            .await?;
        match claims.sub {
            Some(sub) if !sub.is_empty() => Ok(()),
            _ => bail!("the userinfo response has no sub"),
        }
    }

    /// GET the JWK Set: 200 and a non-empty `keys` array.
    pub async fn jwks(&self) -> anyhow::Result<()> {
        let set: JwkSet = self
            .get_json(&self.provider.discovery.jwks_uri, None, "jwks_uri")
            .await?;
        match set.keys {
            Some(keys) if !keys.is_empty() => Ok(()),
            _ => bail!("the JWK Set has no keys"),
        }
    }

    /// From the authorization URL to the callback, answering at most one login and one
    /// consent page on the way.
    async fn walk(
        &self,
        jar: &mut CookieJar,
        start: url::Url,
        login: &Login,
        may_log_in: bool,
    ) -> anyhow::Result<url::Url> {
        let mut outcome = self
            .navigate(jar, HttpMethod::GET, start, Vec::new(), None, login)
            .await?;
        let (mut logged_in, mut consented) = (false, false);
        for _ in 0..MAX_PAGES {
            let (url, status, html) = match outcome {
                Outcome::Callback(url) => return Ok(url),
                Outcome::Page { url, status, html } => (url, status, html),
            };
            let page = self.provider.forms.read(&html, &url);
            // A provider may answer wrong credentials with the login page and a 4xx.
            if logged_in && let Ok(Page::Login { alert, .. }) = &page {
                bail!(
                    "the login page came back ({status}) after the credentials were sent: {}",
                    alert.as_deref().unwrap_or_default()
                );
            }
            if status != StatusCode::OK {
                let alert = match page {
                    Ok(Page::Login { alert, .. } | Page::NoForm { alert }) => alert,
                    _ => None,
                };
                bail!(
                    "{status} at {}: {}",
                    url.path(),
                    alert.unwrap_or_else(|| snippet(&html))
                );
            }
            let submission = match page? {
                Page::Login { form, .. } => {
                    if !may_log_in {
                        bail!("the provider asked to log in again at {}", url.path());
                    }
                    logged_in = true;
                    form.fill(&login.username, &login.password)
                }
                Page::Consent(submission) => {
                    if consented {
                        bail!("a second consent page at {}", url.path());
                    }
                    consented = true;
                    submission
                }
                Page::NoForm { alert } => bail!(
                    "a page without a form to submit at {}: {}",
                    url.path(),
                    alert.unwrap_or_else(|| snippet(&html))
                ),
            };
            outcome = self.submit(jar, submission, &url, login).await?;
        }
        bail!("no callback after {MAX_PAGES} pages")
    }

    async fn submit(
        &self,
        jar: &mut CookieJar,
        submission: Submission,
        page: &url::Url,
        login: &Login,
    ) -> anyhow::Result<Outcome> {
        let method = match submission.method {
            Method::Get => HttpMethod::GET,
            Method::Post => HttpMethod::POST,
        };
        // What a browser sends with a form POST: the page's origin.
        let origin = (method == HttpMethod::POST).then(|| page.origin().ascii_serialization());
        self.navigate(
            jar,
            method,
            submission.url,
            submission.fields,
            origin,
            login,
        )
        .await
    }

    /// Sends a request and follows redirects on the provider's origins, stopping at the
    /// client's callback. 301/302/303 turn into a GET; 307/308 repeat the method and body.
    async fn navigate(
        &self,
        jar: &mut CookieJar,
        mut method: HttpMethod,
        mut url: url::Url,
        mut fields: Vec<(String, String)>,
        mut origin: Option<String>,
        login: &Login,
    ) -> anyhow::Result<Outcome> {
        for hop in 0..=MAX_REDIRECTS {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(ACCEPT, "text/html,application/xhtml+xml");
            if let Some(cookie) = jar.header(&url) {
                request = request.header(COOKIE, cookie);
            }
            if let Some(o) = &origin {
                request = request.header(ORIGIN, o);
            }
            if method == HttpMethod::POST {
                request = request.form(&fields);
            }
            let response = request
                .send()
                .await
                .map_err(reqwest::Error::without_url)
                .with_context(|| format!("{method} {}", url.path()))?;
            jar.store(
                &url,
                response
                    .headers()
                    .get_all(SET_COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
                wall_clock(),
            );
            let status = response.status();
            if !status.is_redirection() {
                let html = response
                    .text()
                    .await
                    .map_err(reqwest::Error::without_url)
                    .with_context(|| format!("reading {}", url.path()))?;
                return Ok(Outcome::Page { url, status, html });
            }
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .with_context(|| format!("{status} without a Location at {}", url.path()))?;
            let next = url
                .join(location)
                .with_context(|| format!("a bad Location from {}", url.path()))?;
            if oidc::is_callback(&next, &login.redirect_uri) {
                return Ok(Outcome::Callback(next));
            }
            if !self.provider.origins.contains(&next.origin()) {
                bail!(
                    "a redirect from {} leaves the provider for {}",
                    url.path(),
                    next.origin().ascii_serialization()
                );
            }
            if hop == MAX_REDIRECTS {
                break;
            }
            if !matches!(
                status,
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
            ) {
                method = HttpMethod::GET;
                fields.clear();
                origin = None;
            }
            url = next;
        }
        bail!(
            "more than {MAX_REDIRECTS} redirects, the last at {}",
            url.path()
        )
    }

    /// POST the token endpoint with the client's authentication; 200 and JSON, else an error
    /// naming the grant, the status and the OAuth error. No `Origin` header: a provider may
    /// treat a request with one as coming from a browser (no refresh token).
    async fn token(
        &self,
        client: &ClientCredentials,
        mut params: Vec<(&str, String)>,
    ) -> anyhow::Result<TokenResponse> {
        let grant = params.first().map(|(_, g)| g.clone()).unwrap_or_default();
        let mut request = self
            .http
            .post(self.provider.discovery.token_endpoint.clone())
            .header(ACCEPT, "application/json");
        match client.auth {
            TokenAuth::ClientSecretBasic => {
                request = request.header(
                    AUTHORIZATION,
                    oidc::basic_authorization(&client.id, &client.secret),
                );
            }
            TokenAuth::ClientSecretPost => {
                params.push(("client_id", client.id.clone()));
                params.push(("client_secret", client.secret.clone()));
            }
        }
        let response = request
            .form(&params)
            .send()
            .await
            .map_err(reqwest::Error::without_url)
            .with_context(|| format!("token request ({grant})"))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(reqwest::Error::without_url)
            .with_context(|| format!("reading the token response ({grant})"))?;
        if status != StatusCode::OK {
            bail!(
                "the token endpoint answered {status} to {grant}: {}",
                oauth_error(&body)
            );
        }
        serde_json::from_slice(&body)
            .with_context(|| format!("the token response ({grant}) is not JSON"))
    }

    /// GET a JSON document: 200, a JSON content type, and a body that reads as `T` (which
    /// names only the members a check needs: the rest is skipped, not built).
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &url::Url,
        authorization: Option<&str>,
        what: &str,
    ) -> anyhow::Result<T> {
        let mut request = self
            .http
            .get(url.clone())
            .header(ACCEPT, "application/json");
        if let Some(a) = authorization {
            request = request.header(AUTHORIZATION, a);
        }
        let response = request
            .send()
            .await
            .map_err(reqwest::Error::without_url)
            .with_context(|| format!("GET {what}"))?;
        let status = response.status();
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let body = response
            .bytes()
            .await
            .map_err(reqwest::Error::without_url)
            .with_context(|| format!("reading {what}"))?;
        if status != StatusCode::OK {
            bail!("{what} answered {status}: {}", oauth_error(&body));
        }
        if !is_json {
            bail!("{what} did not answer JSON");
        }
        serde_json::from_slice(&body).with_context(|| format!("{what} is not valid JSON"))
    }
}

/// What the userinfo check reads of the response: `sub` (a JSON object is required).
#[derive(serde::Deserialize)]
struct UserinfoClaims {
    sub: Option<String>,
}

/// What the JWKS check reads of the response: how many keys there are (their members are
/// skipped).
#[derive(serde::Deserialize)]
struct JwkSet {
    keys: Option<Vec<serde::de::IgnoredAny>>,
}

/// A client for one worker: keep-alive, no redirects, no cookie store (jars are ours).
pub fn http_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .user_agent(concat!("portcullis-bench/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// Fetches the discovery document.
pub async fn discover(http: &reqwest::Client, url: &url::Url) -> anyhow::Result<oidc::Discovery> {
    let response = http
        .get(url.clone())
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    if status != StatusCode::OK {
        bail!("GET {url} answered {status}");
    }
    response
        .json()
        .await
        .with_context(|| format!("the discovery document at {url}"))
}

/// `error: error_description` from an OAuth error body, else the start of the body.
fn oauth_error(body: &[u8]) -> String {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|j| j.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    match field("error") {
        Some(error) => match field("error_description") {
            Some(d) => format!("{error}: {d}"),
            None => error,
        },
        None => snippet(&String::from_utf8_lossy(body)),
    }
}

/// The first 160 characters of a text, whitespace collapsed.
fn snippet(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(160).collect()
}
