use time::Duration;

use super::*;
use crate::client::{AppType, JwtConfiguration, TokenEndpointAuthMethod};
use crate::resource_server::ApiScope;

const CB: &str = "https://app.example/callback";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn client(public: bool, first_party: bool, callbacks: &[&str]) -> Client {
    Client {
        client_id: "c1".into(),
        name: "App".into(),
        app_type: if public {
            AppType::Spa
        } else {
            AppType::RegularWeb
        },
        is_first_party: first_party,
        callbacks: callbacks
            .iter()
            .filter_map(|c| RedirectUri::parse(c).ok())
            .collect(),
        allowed_logout_urls: vec![],
        web_origins: vec![],
        grant_types: vec!["authorization_code".into()],
        token_endpoint_auth_method: if public {
            TokenEndpointAuthMethod::None
        } else {
            TokenEndpointAuthMethod::ClientSecretPost
        },
        secret_hash: None,
        jwt_configuration: JwtConfiguration::default(),
        refresh_token: crate::refresh::RefreshTokenPolicy::default_for(AppType::RegularWeb),
        credentials: vec![],
    }
}

fn api(skip: bool) -> ResourceServer {
    ResourceServer {
        identifier: "https://api.example".into(),
        name: "API".into(),
        scopes: vec![ApiScope {
            value: "read:x".into(),
            description: "Read X".into(),
        }],
        allow_offline_access: false,
        token_lifetime: 86_400,
        signing_alg: crate::client::SigningAlg::RS256,
        skip_consent_for_verifiable_first_party_clients: skip,
    }
}

fn params(extra: &[(&str, &str)]) -> Params {
    let base = [
        ("client_id", "c1"),
        ("redirect_uri", CB),
        ("response_type", "code"),
        ("state", "s t+é"),
    ];
    let mut pairs: Vec<(&str, &str)> = base
        .into_iter()
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .collect();
    pairs.extend(extra.iter().copied().filter(|(_, v)| *v != "<absent>"));
    Params::from_pairs(pairs)
}

fn run(
    extra: &[(&str, &str)],
    c: &Client,
    api: Option<&ResourceServer>,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let p = params(extra);
    let target = trust(&p, Some(c)).map_err(AuthorizeError::Page)?;
    validate(&p, c, target, api)
}

fn code_of(r: Result<AuthorizationRequest, AuthorizeError>) -> Option<(bool, OAuthErrorCode)> {
    match r {
        Ok(_) => None,
        Err(AuthorizeError::Page(e)) => Some((false, e.error)),
        Err(AuthorizeError::Redirect(_, e)) => Some((true, e.error)),
    }
}

#[test]
fn errors_before_trust_are_pages_and_after_are_redirects() {
    use OAuthErrorCode::*;
    let c = client(false, true, &[CB, "https://app.example/other"]);
    let a = api(true);
    type Case<'a> = (
        &'a str,
        Vec<(&'a str, &'a str)>,
        Option<(bool, OAuthErrorCode)>,
    );
    let cases: Vec<Case<'_>> = vec![
        ("happy", vec![], None),
        (
            "unregistered redirect",
            vec![("redirect_uri", "https://evil.example/cb")],
            Some((false, InvalidRequest)),
        ),
        (
            "missing redirect with two registered",
            vec![("redirect_uri", "<absent>")],
            Some((false, InvalidRequest)),
        ),
        (
            "missing client_id",
            vec![("client_id", "<absent>")],
            Some((false, InvalidRequest)),
        ),
        (
            "missing response_type",
            vec![("response_type", "<absent>")],
            Some((true, InvalidRequest)),
        ),
        (
            "token response_type",
            vec![("response_type", "token")],
            Some((true, UnsupportedResponseType)),
        ),
        (
            "bad scope",
            vec![("scope", "a\"b")],
            Some((true, InvalidScope)),
        ),
        (
            "unknown audience",
            vec![("audience", "https://nope.example")],
            Some((true, AccessDenied)),
        ),
        (
            "known audience",
            vec![("audience", "https://api.example")],
            None,
        ),
        (
            "plain pkce",
            vec![
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "plain"),
            ],
            Some((true, InvalidRequest)),
        ),
        (
            "s256 pkce",
            vec![
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
            None,
        ),
        (
            "method without challenge",
            vec![("code_challenge_method", "S256")],
            Some((true, InvalidRequest)),
        ),
        (
            "bad prompt",
            vec![("prompt", "sometimes")],
            Some((true, InvalidRequest)),
        ),
        (
            "none+login",
            vec![("prompt", "none login")],
            Some((true, InvalidRequest)),
        ),
        (
            "negative max_age",
            vec![("max_age", "-1")],
            Some((true, InvalidRequest)),
        ),
        (
            "request object",
            vec![("request", "eyJ")],
            Some((true, RequestNotSupported)),
        ),
        (
            "request_uri",
            vec![("request_uri", "urn:x")],
            Some((true, RequestUriNotSupported)),
        ),
        (
            "bad response_mode",
            vec![("response_mode", "fragment")],
            Some((true, InvalidRequest)),
        ),
        ("unknown parameter ignored", vec![("extra", "foobar")], None),
    ];
    for (name, extra, expected) in cases {
        assert_eq!(code_of(run(&extra, &c, Some(&a))), expected, "{name}");
    }
}

#[test]
fn repeated_parameters_are_refused() {
    let c = client(false, true, &[CB]);
    let p = Params::from_pairs([
        ("client_id", "c1"),
        ("redirect_uri", CB),
        ("response_type", "code"),
        ("scope", "a"),
        ("scope", "b"),
    ]);
    let target = trust(&p, Some(&c));
    assert!(target.is_ok());
    let r = target
        .map_err(AuthorizeError::Page)
        .and_then(|t| validate(&p, &c, t, None));
    assert_eq!(code_of(r), Some((true, OAuthErrorCode::InvalidRequest)));
    let twice = Params::from_pairs([
        ("client_id", "c1"),
        ("redirect_uri", CB),
        ("redirect_uri", CB),
    ]);
    assert!(trust(&twice, Some(&c)).is_err());
}

#[test]
fn public_clients_must_use_pkce() {
    let c = client(true, true, &[CB]);
    assert_eq!(
        code_of(run(&[], &c, None)),
        Some((true, OAuthErrorCode::InvalidRequest))
    );
    let with = [
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    assert_eq!(code_of(run(&with, &c, None)), None);
}

#[test]
fn redirect_uri_may_be_omitted_with_one_registered_and_state_is_kept_verbatim() {
    let c = client(false, true, &[CB]);
    let r = run(&[("redirect_uri", "<absent>")], &c, None);
    assert!(
        matches!(&r, Ok(req) if !req.redirect_uri_sent && req.target.redirect_uri.as_str() == CB)
    );
    assert!(matches!(&r, Ok(req) if req.target.state.as_deref() == Some("s t+é")));
}

fn session(auth_age: i64, now: OffsetDateTime) -> Session {
    Session {
        id: "sid".into(),
        user_id: "u".into(),
        auth_time: now - Duration::seconds(auth_age),
        last_seen_at: now,
        expires_at: now + Duration::days(1),
        initial_ip: None,
        user_agent: None,
    }
}

#[test]
fn next_step_table() {
    let now = OffsetDateTime::UNIX_EPOCH + Duration::days(100);
    let fp = client(false, true, &[CB, "http://localhost:3000/cb"]);
    let tp = client(false, false, &[CB]);
    let skip = api(true);
    let noskip = api(false);
    let s = session(100, now);
    let granted = Scope::parse("openid read:x").unwrap_or_default();
    struct Case<'a> {
        name: &'a str,
        extra: Vec<(&'a str, &'a str)>,
        client: &'a Client,
        api: Option<&'a ResourceServer>,
        session: Option<&'a Session>,
        authed: bool,
        remembered: Option<&'a Scope>,
        expect: Result<Step, OAuthErrorCode>,
    }
    let aud = ("audience", "https://api.example");
    let sc = ("scope", "openid read:x");
    let cases = vec![
        Case {
            name: "no session",
            extra: vec![],
            client: &fp,
            api: None,
            session: None,
            authed: false,
            remembered: None,
            expect: Ok(Step::Login),
        },
        Case {
            name: "no session, prompt=none",
            extra: vec![("prompt", "none")],
            client: &fp,
            api: None,
            session: None,
            authed: false,
            remembered: None,
            expect: Err(OAuthErrorCode::LoginRequired),
        },
        Case {
            name: "sso, first party, skip allowed",
            extra: vec![aud, sc],
            client: &fp,
            api: Some(&skip),
            session: Some(&s),
            authed: false,
            remembered: None,
            expect: Ok(Step::IssueCode),
        },
        Case {
            name: "sso, first party, api forbids skip",
            extra: vec![aud, sc],
            client: &fp,
            api: Some(&noskip),
            session: Some(&s),
            authed: false,
            remembered: None,
            expect: Ok(Step::Consent),
        },
        Case {
            name: "first party but localhost redirect",
            extra: vec![aud, sc, ("redirect_uri", "http://localhost:3000/cb")],
            client: &fp,
            api: Some(&skip),
            session: Some(&s),
            authed: false,
            remembered: None,
            expect: Ok(Step::Consent),
        },
        Case {
            name: "third party always asks",
            extra: vec![aud, sc],
            client: &tp,
            api: Some(&skip),
            session: Some(&s),
            authed: false,
            remembered: None,
            expect: Ok(Step::Consent),
        },
        Case {
            name: "third party, remembered grant",
            extra: vec![aud, sc],
            client: &tp,
            api: Some(&skip),
            session: Some(&s),
            authed: false,
            remembered: Some(&granted),
            expect: Ok(Step::IssueCode),
        },
        Case {
            name: "prompt=consent overrides memory",
            extra: vec![aud, sc, ("prompt", "consent")],
            client: &tp,
            api: Some(&skip),
            session: Some(&s),
            authed: false,
            remembered: Some(&granted),
            expect: Ok(Step::Consent),
        },
        Case {
            name: "third party, prompt=none, no grant",
            extra: vec![aud, sc, ("prompt", "none")],
            client: &tp,
            api: Some(&skip),
            session: Some(&s),
            authed: false,
            remembered: None,
            expect: Err(OAuthErrorCode::ConsentRequired),
        },
        Case {
            name: "prompt=login with session",
            extra: vec![("prompt", "login")],
            client: &fp,
            api: None,
            session: Some(&s),
            authed: false,
            remembered: None,
            expect: Ok(Step::Login),
        },
        Case {
            name: "prompt=login after login in tx",
            extra: vec![("prompt", "login")],
            client: &fp,
            api: None,
            session: Some(&s),
            authed: true,
            remembered: None,
            expect: Ok(Step::IssueCode),
        },
        Case {
            name: "max_age exceeded",
            extra: vec![("max_age", "60")],
            client: &fp,
            api: None,
            session: Some(&s),
            authed: false,
            remembered: None,
            expect: Ok(Step::Login),
        },
        Case {
            name: "max_age respected",
            extra: vec![("max_age", "1000")],
            client: &fp,
            api: None,
            session: Some(&s),
            authed: false,
            remembered: None,
            expect: Ok(Step::IssueCode),
        },
        Case {
            name: "max_age=0",
            extra: vec![("max_age", "0")],
            client: &fp,
            api: None,
            session: Some(&s),
            authed: false,
            remembered: None,
            expect: Ok(Step::Login),
        },
    ];
    for case in cases {
        let req = run(&case.extra, case.client, case.api);
        let Ok(req) = req else {
            panic!("{}: request invalid: {req:?}", case.name);
        };
        let got = next_step(Situation {
            request: &req,
            client: case.client,
            api: case.api,
            session: case.session,
            authenticated_in_transaction: case.authed,
            consented_in_transaction: false,
            remembered_grant: case.remembered,
            now,
        })
        .map_err(|e| e.error);
        assert_eq!(got, case.expect, "{}", case.name);
    }
}
